"""Backend health probe log messages: what Azure writes in `healthProbeLog`, and what it means.

Every wording the classifier knows is one entry of `WORDINGS`, written as Azure writes it (with
`{placeholders}` for the values it fills in) and with its source: which revision of Microsoft's
"Troubleshoot backend health issues in Application Gateway" article, which SKU, or which portal /
API text. An entry matches when its `key` (its first sentence unless set: the part that names the
failure) occurs in a message, compared word by word: case, typographic quotes, markdown emphasis,
punctuation, spacing, `n't`/` not`, hyphens inside words (`time-out`/`timeout`) and a leading
"The" do not matter, and a placeholder stands for one or more words (a status code, host name,
body, error code). A message no entry matches is `OTHER`: the checks report it verbatim
(PROBE_LOG_UNRECOGNISED) rather than guess.

`probe_log_message` produces the exact wording from the entries marked `emitted`, so the simulator
emits what Azure emits and the two stay consistent: `classify_probe_log(probe_log_message(k, ...))
is k`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cache, lru_cache
from typing import Any


class ProbeLogKind(Enum):
    """Why a probe succeeded or failed, as the probe log says."""

    HEALTHY = "healthy"
    PROBE_TIMEOUT = "probe-timeout"
    DNS = "dns"
    CONNECT = "connect"
    STATUS_MISMATCH = "status-mismatch"
    BODY_MISMATCH = "body-mismatch"
    CN_MISMATCH = "cn-mismatch"
    CERT_EXPIRED = "cert-expired"
    CHAIN = "chain"
    PROXY_PROTOCOL = "proxy-protocol"
    UNKNOWN = "unknown"
    OTHER = "other"


# What each kind means, in a few words, for finding texts.
KIND_LABELS: dict[ProbeLogKind, str] = {
    ProbeLogKind.HEALTHY: "probe succeeded",
    ProbeLogKind.PROBE_TIMEOUT: "probe time-out",
    ProbeLogKind.DNS: "backend name does not resolve",
    ProbeLogKind.CONNECT: "cannot connect to the backend",
    ProbeLogKind.STATUS_MISMATCH: "status code mismatch",
    ProbeLogKind.BODY_MISMATCH: "response body mismatch",
    ProbeLogKind.CN_MISMATCH: "certificate name mismatch",
    ProbeLogKind.CERT_EXPIRED: "certificate expired or not yet valid",
    ProbeLogKind.CHAIN: "certificate chain not trusted",
    ProbeLogKind.PROXY_PROTOCOL: "backend rejects the Proxy protocol header",
    ProbeLogKind.UNKNOWN: "health could not be retrieved",
    ProbeLogKind.OTHER: "unrecognised probe log",
}

# Sources, abbreviated in the table below.
ARTICLE = "Troubleshoot backend health issues in Application Gateway"
_A2019 = f"{ARTICLE}, 2019-08 revision"
_A2024 = f"{ARTICLE}, 2024-03 revision"
_A2025 = f"{ARTICLE}, 2025 revision (current)"
_ALL = f"{ARTICLE}, all revisions 2019-2025"


@dataclass(frozen=True)
class Wording:
    """One way Azure words a probe result: `text` as Azure writes it, `{name}` for filled-in values."""

    kind: ProbeLogKind
    text: str
    source: str
    key: str | None = None  # the part that names the failure; default: the first sentence
    emitted: str | None = None  # set on the wording probe_log_message emits (the CHAIN variant name, or "")

    @property
    def match_key(self) -> str:
        if self.key is not None:
            return self.key
        return re.split(r"(?<=[.!?])\s+(?=[A-Z*\"(])", self.text, maxsplit=1)[0]

    @property
    def placeholders(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.text)


K = ProbeLogKind

# Checked in this order; the first entry whose key occurs in a message decides its kind. UNKNOWN
# comes first: its text also mentions FQDN resolution and NSGs.
WORDINGS: tuple[Wording, ...] = (
    # --- Unknown: health could not be retrieved ---
    Wording(
        K.UNKNOWN,
        "The backend health status could not be retrieved. This happens when an NSG/UDR/Firewall on the "
        "application gateway subnet is blocking traffic on ports 65503-65534 in case of v1 SKU, and ports "
        "65200-65535 in case of the v2 SKU or if the FQDN configured in the backend pool could not be "
        "resolved to an IP address. To learn more visit - https://aka.ms/UnknownBackendHealth.",
        f"{ARTICLE}, 2023-2025 revisions ('Updates to the DNS entries of the backend pool'); REST API and "
        "portal, v1 and v2",
        emitted="",
    ),
    Wording(
        K.UNKNOWN,
        "The backend health status could not be retrieved. This happens when an NSG/UDR/Firewall on the "
        "application gateway subnet is blocking traffic on ports 65503-65534 (v1 SKU) and ports 65200-65535 "
        "(v2 SKU). This error can also occur if the FQDN configured in the backend pool could not be "
        "resolved to an IP address. To learn more visit - https://aka.ms/UnknownBackendHealth.",
        "Private Application Gateway deployment article (private-only v2 gateways)",
    ),
    # --- Healthy ---
    Wording(
        K.HEALTHY,
        "Success. Received {status} status code",
        "REST API backendHealth and portal Details column for a Healthy server, v1 and v2",
        key="Success. Received {status} status code",
        emitted="",
    ),
    # --- Common name mismatch (TLS_HOSTNAME_MISMATCH, tls.py) ---
    Wording(
        K.CN_MISMATCH,
        "The Common Name of the leaf certificate presented by the backend server does not match the Probe or "
        "Backend Setting hostname of the application gateway.",
        f"{ARTICLE}, 2024-2025 revisions, v2 SKU",
        emitted="",
    ),
    Wording(
        K.CN_MISMATCH,
        "The Common Name (CN) of the backend certificate doesn\u2019t match.",
        f"{ARTICLE}, 2024-2025 revisions, v1 SKU",
    ),
    Wording(
        K.CN_MISMATCH,
        "The Common Name (CN) of the backend certificate does not match the host header of the probe.",
        f"{ARTICLE}, 2019-2023 revisions ('Backend certificate invalid common name (CN)'), v2 SKU",
    ),
    Wording(
        K.CN_MISMATCH,
        "The Common Name (CN) of the backend certificate doesn\u2019t match the host header of the probe. "
        "Ensure that the CN of the certificate matches the host name.",
        "v1 (Standard) gateway backend health as recorded in tests/worlds/tls-v1-cn-mismatch-recorded",
    ),
    Wording(
        K.CN_MISMATCH,
        "The Common Name (CN) of the backend server certificate does not match the host header entered in "
        "the health probe configuration (v2 SKU) or the FQDN in the backend pool (v1 SKU). Verify if the "
        "hostname matches with the CN of the backend server certificate. To learn more visit - "
        "https://aka.ms/backendcertcnmismatch.",
        "portal / REST API text, v1 and v2 (aka.ms/backendcertcnmismatch)",
    ),
    # --- Certificate validity period (TLS_CERT_EXPIRED) ---
    Wording(
        K.CERT_EXPIRED,
        'Backend certificate is invalid. Current date is not within the "Valid from" and "Valid to" date '
        "range on the certificate.",
        f"{ARTICLE}, 2019-2024 revisions",
        key='Current date is not within the "Valid from" and "Valid to" date range',
        emitted="",
    ),
    Wording(
        K.CERT_EXPIRED,
        'Backend certificate is invalid. Current date isn\'t within the "Valid from" and "Valid to" date '
        "range on the certificate.",
        _A2025,
        key='Current date isn\'t within the "Valid from" and "Valid to" date range',
    ),
    # --- Certificate chain / trust (TLS_CHAIN_INVALID) ---
    Wording(
        K.CHAIN,
        "The **Intermediate certificate is missing** from the certificate chain presented by the backend "
        "server. Ensure the certificate chain is complete and correctly ordered on the backend server.",
        f"{ARTICLE}, 2024-2025 revisions, v2 SKU ('The intermediate certificate was not found')",
        emitted="missing-intermediate",
    ),
    Wording(
        K.CHAIN,
        "The **Leaf certificate is missing** from the certificate chain presented by the backend server. "
        "Ensure the chain is complete and correctly ordered on the backend server.",
        f"{ARTICLE}, 2024-2025 revisions, v2 SKU ('The leaf or server certificate was not found')",
    ),
    Wording(
        K.CHAIN,
        "The leaf certificate is missing from the certificate chain presented by the backend server. Please "
        "ensure that the certificate chain is complete and correctly ordered.",
        "portal text, v2 SKU (IncorrectBackendCertificateChainMissingLeafCertificate)",
    ),
    Wording(
        K.CHAIN,
        "The backend server is presenting an incomplete certificate chain, including only the leaf "
        "certificate. Please ensure that the certificate chain is fully configured with all necessary "
        "certificates in the correct order.",
        "portal text, v2 SKU (IncompleteBackendCertificateChainOnlyLeafCertificateIsPresent)",
    ),
    Wording(
        K.CHAIN,
        "The Leaf certificate is not the topmost certificate in the chain presented by the backend server. "
        "Ensure the certificate chain is correctly ordered on the backend server.",
        f"{ARTICLE}, 2024 revision, v2 SKU ('Leaf must be topmost in chain')",
    ),
    Wording(
        K.CHAIN,
        "The Leaf certificate isn't the topmost certificate in the chain presented by the backend server. "
        "Ensure the certificate chain is correctly ordered on the backend server.",
        f"{_A2025}, v2 SKU ('Leaf must be topmost in chain')",
    ),
    Wording(
        K.CHAIN,
        "The server certificate used by the backend is not signed by a well-known Certificate Authority "
        "(CA). Whitelist the backend on the application gateway by uploading the root certificate of the "
        "server certificate used by the backend.",
        f"{_A2019}, v2 SKU ('Backend Server Certificate Invalid CA')",
    ),
    Wording(
        K.CHAIN,
        "The server certificate used by the backend is not signed by a well-known Certificate Authority "
        "(CA). Allowlist the backend on the application gateway by uploading the root certificate of the "
        "server certificate used by the backend.",
        f"{ARTICLE}, 2020-2023 revisions (whitelist reworded to allowlist), v2 SKU",
    ),
    Wording(
        K.CHAIN,
        "The backend **Server certificate** is not signed by a well-known Certificate Authority (CA). To use "
        "unknown CA certificates, its Root certificate must be uploaded to the Backend Setting of the "
        "application gateway.",
        f"{_A2024}, v2 SKU ('Server certificate is not issued by a publicly known CA'); portal text",
        emitted="unknown-ca",
    ),
    Wording(
        K.CHAIN,
        "The backend **Server certificate** isn't signed by a well-known Certificate Authority (CA). To use "
        "unknown CA certificates, its Root certificate must be uploaded to the Backend Setting of the "
        "application gateway.",
        f"{_A2025}, v2 SKU",
    ),
    Wording(
        K.CHAIN,
        "The **Intermediate certificate** is not signed by a well-known Certificate Authority (CA). Ensure "
        "the certificate chain is complete and correctly ordered on the backend server.",
        f"{_A2024}, v2 SKU ('The Intermediate certificate is NOT signed by a publicly known CA'); "
        "portal text",
    ),
    Wording(
        K.CHAIN,
        "The **Intermediate certificate** isn't signed by a well-known Certificate Authority (CA). Ensure "
        "the certificate chain is complete and correctly ordered on the backend server.",
        f"{_A2025}, v2 SKU",
    ),
    Wording(
        K.CHAIN,
        "The Intermediate certificate not signed by any Root certificates uploaded to the application "
        "gateway. Ensure the certificate chain is complete and correctly ordered on the backend server.",
        f"{ARTICLE}, 2024-2025 revisions, v2 SKU ('Trusted root certificate mismatch (no Root certificate "
        "on the backend server)')",
    ),
    Wording(
        K.CHAIN,
        "The root certificate of the server certificate used by the backend does not match the trusted root "
        "certificate added to the application gateway. Ensure that you add the correct root certificate to "
        "whitelist the backend",
        f"{_A2019}, v2 SKU ('Trusted root certificate mismatch'); portal text of that time",
    ),
    Wording(
        K.CHAIN,
        "The root certificate of the server certificate used by the backend doesn't match the trusted root "
        "certificate added to the application gateway. Ensure that you add the correct root certificate to "
        "allowlist the backend.",
        f"{_A2024}, v2 SKU ('Trusted root certificate mismatch (Root certificate is available on the "
        "backend server)')",
        emitted="untrusted-root",
    ),
    Wording(
        K.CHAIN,
        "The root certificate of the server certificate used by the backend doesn't match the trusted root "
        "certificate added to the application gateway. Ensure that you add the correct root certificate to "
        "the allowlist for the backend.",
        f"{_A2025}, v2 SKU",
    ),
    Wording(
        K.CHAIN,
        "The validity of the backend certificate could not be verified. To find out the reason, check "
        "OpenSSL diagnostics for the message associated with error code {errorCode}",
        f"{ARTICLE}, 2020-2025 revisions ('Certificate verification failed')",
    ),
    Wording(
        K.CHAIN,
        "The validity of the backend certificate could not be verified. To find out the reason, check Open "
        "SSL diagnostics for the message associated with error code {errorCode}",
        f"{_A2019} ('Certificate verification failed')",
    ),
    Wording(
        K.CHAIN,
        "Backend server certificate is not whitelisted with Application Gateway. Make sure that the "
        "certificate uploaded to Application Gateway matches with the certificate configured in your "
        "backend server. To learn more visit - https://aka.ms/authcertificatemismatch",
        "portal / REST API text, v1 SKU (authentication certificate mismatch)",
    ),
    Wording(
        K.CHAIN,
        "Backend server certificate isn't allow-listed with Application Gateway.",
        "'Backend server certificate isn't allow-listed' troubleshooting article (ILB App Service "
        "Environment), v1 SKU",
    ),
    Wording(
        K.CHAIN,
        "Backend certificate has been marked invalid. Either the certificate is not within its validity "
        "period, or it has been revoked by the issuing authority, or there is a problem with the certificate "
        "chain.",
        "portal / REST API text, v1 SKU (certificate failed verification: validity, revocation or chain)",
    ),
    # --- Time-out (PROBE_TIMEOUT) ---
    Wording(
        K.PROBE_TIMEOUT,
        "Time taken by the backend to respond to application gateway's health probe is more than the "
        "time-out threshold in the probe setting.",
        f"{_A2019}; REST API, v1 and v2",
        emitted="",
    ),
    Wording(
        K.PROBE_TIMEOUT,
        "Time taken by the backend to respond to application gateway's health probe is more than the "
        "timeout threshold in the probe setting.",
        f"{ARTICLE}, 2024-2025 revisions",
    ),
    Wording(
        K.PROBE_TIMEOUT,
        "Time taken by the backend to respond to application gateway's health probe is more than the "
        "time-out threshold in the probe configuration. Either increase the time-out threshold in the probe "
        "configuration or resolve the backend issues. Note: for default probe, the http timeout is 30s. To "
        "learn more visit - https://aka.ms/ProbeTimeOut.",
        "portal / REST API text, v2 SKU (aka.ms/ProbeTimeOut)",
    ),
    # --- DNS (CUSTOM_DNS_CANNOT_RESOLVE, dns.py) ---
    Wording(
        K.DNS,
        "Application Gateway could not create a probe for this backend. This usually happens when the FQDN "
        "of the backend has not been entered correctly.",
        f"{ARTICLE}, 2019-2024 revisions ('DNS resolution error'); REST API",
        emitted="",
    ),
    Wording(
        K.DNS,
        "Application Gateway could not create a probe for this backend. This usually happens when the FQDN "
        "of the backend is not entered correctly.",
        f"{_A2025} ('DNS resolution error')",
    ),
    Wording(
        K.DNS,
        "Unable to resolve the FQDN of the backend server.",
        "older v1/v2 wording noted in docs/APPGW_FACTS.md ('Unable to resolve')",
        key="Unable to resolve the FQDN",
    ),
    # --- TCP connect (BACKEND_CONNECT_FAILED) ---
    Wording(
        K.CONNECT,
        "Application Gateway could not connect to the backend. Check that the backend responds on the port "
        "used for the probe. Also check whether any NSG/UDR/Firewall is blocking access to the Ip and port "
        "of this backend.",
        f"{ARTICLE}, 2020-2025 revisions ('TCP connect error'); REST API",
        emitted="",
    ),
    Wording(
        K.CONNECT,
        "Application gateway could not connect to the backend. Please check that the backend responds on the "
        "port used for the probe. Also check whether any NSG/UDR/Firewall is blocking access to the Ip and "
        "port of this backend",
        f"{_A2019} ('TCP connect error')",
    ),
    Wording(
        K.CONNECT,
        "Cannot connect to backend server. Check whether any NSG/UDR/Firewall is blocking access to the "
        "server. Check if application is running on correct port. To learn more visit - "
        "https://aka.ms/servernotreachable.",
        "portal / REST API text, v2 SKU (aka.ms/servernotreachable)",
    ),
    # --- Status code (PROBE_STATUS_MISMATCH) ---
    Wording(
        K.STATUS_MISMATCH,
        "Status code of the backend's HTTP response did not match the probe setting. "
        "Expected:{expected} Received:{received}",
        "REST API text as returned (no final period), v1 and v2",
        emitted="",
    ),
    Wording(
        K.STATUS_MISMATCH,
        "Status code of the backend's HTTP response did not match the probe setting. "
        "Expected:{expected} Received:{received}.",
        f"{_ALL} ('HTTP status code mismatch'; the article writes the codes as {{HTTPStatusCode0}} and "
        "{HTTPStatusCode1})",
    ),
    Wording(
        K.STATUS_MISMATCH,
        "Received invalid status code: {received} in the backend server\u2019s HTTP response. As per the "
        "health probe configuration, {expected} is the acceptable status code. Either modify probe "
        "configuration or resolve backend issues.",
        "portal text (Test probe / backend health), older v2 wording",
        key="Received invalid status code: {received}",
    ),
    Wording(
        K.STATUS_MISMATCH,
        "Received invalid status code: {received} in the backend server's HTTP response. As per the health "
        "probe configuration, {expected} is the acceptable status code.",
        "REST API text, older wording (recorded in tests/worlds/recorded-up-down-spelling)",
        key="Received invalid status code: {received}",
    ),
    Wording(
        K.STATUS_MISMATCH,
        "Probe status code mismatch: Received {received}",
        f"{_ALL} (the 'Error' column of the status code table)",
        key="Probe status code mismatch: Received {received}",
    ),
    # --- Response body (PROBE_BODY_MISMATCH) ---
    Wording(
        K.BODY_MISMATCH,
        "Body of the backend's HTTP response did not match the probe setting. Received response body does "
        "not contain {body}.",
        f"{_A2019} ('HTTP response body mismatch')",
        emitted="",
    ),
    Wording(
        K.BODY_MISMATCH,
        "Body of the backend's HTTP response did not match the probe setting. Received response body "
        "doesn't contain {body}.",
        f"{ARTICLE}, 2020-2025 revisions ('HTTP response body mismatch')",
    ),
    # --- Proxy protocol (no finding diagnoses it yet: reported as PROBE_LOG_UNRECOGNISED) ---
    Wording(
        K.PROXY_PROTOCOL,
        "Verify that the backend server is set up to accept the Proxy protocol header sent by the probes.",
        f"{_A2025} ('Proxy protocol unsupported'; TLS backend settings with client IP preservation)",
        emitted="",
    ),
)

_TYPOGRAPHIC = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-"})
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_VALUE = r"\S+(?: \S+)*?"  # a placeholder: one or more words, as few as will do


def _words(text: str) -> str:
    """`text` as lower-case words separated by single spaces (see the module docstring)."""
    text = text.translate(_TYPOGRAPHIC).lower().replace("n't", " not")
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", "", text)
    return " ".join(re.findall(r"[a-z0-9]+", text))


def _key_pattern(key: str) -> re.Pattern[str]:
    parts = []
    for index, piece in enumerate(_PLACEHOLDER.split(key)):
        if index % 2:
            parts.append(_VALUE)
        elif words := _words(piece):
            parts.append(" ".join(map(re.escape, words.split())))
    pattern = " ".join(parts)
    if pattern.startswith("the "):  # Azure sometimes drops the leading article
        pattern = "(?:the )?" + pattern[len("the ") :]
    return re.compile(r"(?:^| )" + pattern + r"(?= |$)")


@cache
def _patterns() -> tuple[tuple[ProbeLogKind, re.Pattern[str]], ...]:
    return tuple((wording.kind, _key_pattern(wording.match_key)) for wording in WORDINGS)


@lru_cache(maxsize=1024)
def matching_wording(text: str | None) -> Wording | None:
    """The first entry of `WORDINGS` whose key occurs in `text`, or None. Remembered for the last
    1,024 texts: a gateway's servers share a few texts, each matched against every wording once."""
    if not text:
        return None
    message = _words(text)
    for wording, (_, pattern) in zip(WORDINGS, _patterns(), strict=True):
        if pattern.search(message):
            return wording
    return None


def classify_probe_log(text: str | None) -> ProbeLogKind:
    """The kind of a `healthProbeLog` text; OTHER when it is empty or not recognised."""
    wording = matching_wording(text)
    return wording.kind if wording is not None else ProbeLogKind.OTHER


_CODES = r"\{?\s*(\d{3}(?:\s*-\s*\d{3})?(?:\s*,\s*\d{3}(?:\s*-\s*\d{3})?)*)\s*\}?"
_EXPECTED = re.compile(r"expected\s*:\s*" + _CODES, re.IGNORECASE)
_ACCEPTABLE = re.compile(r"configuration\s*,?\s*" + _CODES + r"\s+(?:is|are) the acceptable", re.IGNORECASE)
_RECEIVED = re.compile(r"received(?: invalid status code)?\s*:?\s*\{?\s*(\d{3})\s*\}?", re.IGNORECASE)


def parse_status_mismatch(text: str | None) -> tuple[list[str] | None, str | None]:
    """(expected codes, received code) from a status-mismatch log; None for a part not present.

    Handles `Expected:200-399 Received:404`, the documented `Expected:{200-399} Received:{404}`
    and the older `Received invalid status code: 404 ... As per the health probe configuration,
    200-399 is the acceptable status code`.
    """
    if not text or classify_probe_log(text) is not ProbeLogKind.STATUS_MISMATCH:
        return None, None
    message = text.translate(_TYPOGRAPHIC)
    expected_match = _EXPECTED.search(message) or _ACCEPTABLE.search(message)
    received_match = _RECEIVED.search(message)
    expected = None
    if expected_match:
        expected = [re.sub(r"\s+", "", code) for code in expected_match.group(1).split(",")]
    return expected, received_match.group(1) if received_match else None


_OTHER_MESSAGE = "The backend server failed the health probe for a reason the probe log does not state."

# The keyword details each kind takes, with their defaults (None = required).
_DETAILS: dict[ProbeLogKind, dict[str, Any]] = {
    ProbeLogKind.HEALTHY: {"status": 200},
    ProbeLogKind.STATUS_MISMATCH: {"expected": ("200-399",), "received": None},
    ProbeLogKind.BODY_MISMATCH: {"body": None},
    ProbeLogKind.CHAIN: {"chain": "missing-intermediate"},
    ProbeLogKind.OTHER: {"text": _OTHER_MESSAGE},
}

# kind -> {variant: the wording probe_log_message emits}; "" is the only variant of most kinds.
EMITTED: dict[ProbeLogKind, dict[str, Wording]] = {}
for _wording in WORDINGS:
    if _wording.emitted is not None:
        EMITTED.setdefault(_wording.kind, {})[_wording.emitted] = _wording


def _details(kind: ProbeLogKind, given: dict[str, Any]) -> dict[str, Any]:
    allowed = _DETAILS.get(kind, {})
    unexpected = sorted(set(given) - set(allowed))
    if unexpected:
        raise ValueError(f"probe_log_message({kind.name}) takes no detail {unexpected[0]!r}")
    details = allowed | given
    missing = sorted(name for name, value in details.items() if value is None)
    if missing:
        raise ValueError(f"probe_log_message({kind.name}) needs the detail {missing[0]!r}")
    return details


def probe_log_message(kind: ProbeLogKind, **details: Any) -> str:
    """Azure's `healthProbeLog` wording for `kind` (the `WORDINGS` entry marked `emitted`).

    Details: HEALTHY `status` (200); STATUS_MISMATCH `expected` (codes, default 200-399) and
    `received`; BODY_MISMATCH `body`; CHAIN `chain` (`missing-intermediate`, `untrusted-root`,
    `unknown-ca`, as world files name them); OTHER `text`.
    """
    values = _details(kind, details)
    if kind is ProbeLogKind.OTHER:
        return str(values["text"])
    variants = EMITTED.get(kind)
    if variants is None:
        raise ValueError(f"probe_log_message({kind.name}): the simulator emits no such message")
    variant = str(values.pop("chain", ""))
    wording = variants.get(variant)
    if wording is None:
        raise ValueError(
            f"unknown certificate chain problem {variant!r}; expected one of {', '.join(sorted(variants))}"
        )
    if kind is ProbeLogKind.STATUS_MISMATCH:
        expected = values["expected"]
        values["expected"] = expected if isinstance(expected, str) else ",".join(str(c) for c in expected)
    return wording.text.replace("**", "").format(**values)
