"""Backend health probe log messages: what Azure writes in `healthProbeLog`, and what it means.

The classifier matches stable fragments of Azure's wording (APPGW_FACTS.md), case-insensitively
and with typographic quotes folded, so v1 and v2 phrasings and small wording drifts still land
in the right kind. `probe_log_message` produces the exact wording, so the simulator emits what
Azure emits and the two stay consistent: `classify_probe_log(probe_log_message(k, ...)) is k`.
"""

from __future__ import annotations

import re
from enum import Enum
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
    UNKNOWN = "unknown"
    OTHER = "other"


# Checked in this order. UNKNOWN comes first: its text also mentions FQDN resolution and NSGs.
_FRAGMENTS: tuple[tuple[ProbeLogKind, tuple[str, ...]], ...] = (
    (ProbeLogKind.UNKNOWN, ("the backend health status could not be retrieved",)),
    (ProbeLogKind.HEALTHY, ("success. received",)),
    (
        ProbeLogKind.CN_MISMATCH,
        (
            "common name of the leaf certificate presented by the backend server does not match",
            "the common name (cn) of the backend certificate doesn",
        ),
    ),
    (ProbeLogKind.CERT_EXPIRED, ('current date is not within the "valid from" and "valid to" date range',)),
    (
        ProbeLogKind.CHAIN,
        (
            "intermediate certificate is missing",
            "leaf certificate is missing",
            "not signed by a well-known certificate authority",
            "root certificate of the server certificate used by the backend doesn't match the trusted root",
            "leaf certificate is not the topmost",
            "validity of the backend certificate could not be verified",
        ),
    ),
    (
        ProbeLogKind.PROBE_TIMEOUT,
        ("time taken by the backend to respond to application gateway's health probe",),
    ),
    (ProbeLogKind.DNS, ("could not create a probe for this backend", "unable to resolve")),
    (ProbeLogKind.CONNECT, ("could not connect to the backend", "cannot connect to backend server")),
    (
        ProbeLogKind.STATUS_MISMATCH,
        (
            "status code of the backend's http response did not match the probe setting",
            "received invalid status code",
        ),
    ),
    (ProbeLogKind.BODY_MISMATCH, ("body of the backend's http response did not match the probe setting",)),
)

_TYPOGRAPHIC = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def _normalised(text: str) -> str:
    return " ".join(text.translate(_TYPOGRAPHIC).lower().split())


def classify_probe_log(text: str | None) -> ProbeLogKind:
    """The kind of a `healthProbeLog` text; OTHER when it is empty or not recognised."""
    if not text:
        return ProbeLogKind.OTHER
    message = _normalised(text)
    for kind, fragments in _FRAGMENTS:
        if any(fragment in message for fragment in fragments):
            return kind
    return ProbeLogKind.OTHER


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


_CHAIN_MESSAGES = {
    "missing-intermediate": (
        "Intermediate certificate is missing from the certificate chain presented by the backend server. "
        "Ensure the certificate chain is complete and correctly ordered."
    ),
    "untrusted-root": (
        "The root certificate of the server certificate used by the backend doesn't match the trusted root "
        "certificate added to the application gateway. Ensure that you add the correct root certificate to "
        "allowlist the backend."
    ),
    "unknown-ca": (
        "The server certificate used by the backend is not signed by a well-known Certificate Authority "
        "(CA). Allowlist the backend on the application gateway by uploading the root certificate of "
        "the server certificate used by the backend."
    ),
}

_FIXED_MESSAGES = {
    ProbeLogKind.PROBE_TIMEOUT: (
        "Time taken by the backend to respond to application gateway's health probe is more than the "
        "time-out threshold in the probe setting."
    ),
    ProbeLogKind.DNS: (
        "Application Gateway could not create a probe for this backend. This usually happens when the FQDN "
        "of the backend has not been entered correctly."
    ),
    ProbeLogKind.CONNECT: (
        "Application Gateway could not connect to the backend. Check that the backend responds on the port "
        "used for the probe. Also check whether any NSG/UDR/Firewall is blocking access to the Ip and port "
        "of this backend."
    ),
    ProbeLogKind.CN_MISMATCH: (
        "The Common Name of the leaf certificate presented by the backend server does not match the Probe or "
        "Backend Setting hostname of the application gateway."
    ),
    ProbeLogKind.CERT_EXPIRED: (
        'Backend certificate is invalid. Current date is not within the "Valid from" and "Valid to" date '
        "range on the certificate."
    ),
    ProbeLogKind.UNKNOWN: (
        "The backend health status could not be retrieved. This happens when an NSG/UDR/Firewall on the "
        "application gateway subnet is blocking traffic on ports 65503-65534 in case of v1 SKU, and ports "
        "65200-65535 in case of the v2 SKU or if the FQDN configured in the backend pool could not be "
        "resolved to an IP address. To learn more visit - https://aka.ms/UnknownBackendHealth."
    ),
}

_OTHER_MESSAGE = "The backend server failed the health probe for a reason the probe log does not state."

# The keyword details each kind takes, with their defaults (None = required).
_DETAILS: dict[ProbeLogKind, dict[str, Any]] = {
    ProbeLogKind.HEALTHY: {"status": 200},
    ProbeLogKind.STATUS_MISMATCH: {"expected": ("200-399",), "received": None},
    ProbeLogKind.BODY_MISMATCH: {"body": None},
    ProbeLogKind.CHAIN: {"chain": "missing-intermediate"},
    ProbeLogKind.OTHER: {"text": _OTHER_MESSAGE},
}


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
    """Azure's `healthProbeLog` wording for `kind`.

    Details: HEALTHY `status` (200); STATUS_MISMATCH `expected` (codes, default 200-399) and
    `received`; BODY_MISMATCH `body`; CHAIN `chain` (`missing-intermediate`, `untrusted-root`,
    `unknown-ca`, as world files name them); OTHER `text`.
    """
    values = _details(kind, details)
    if kind in _FIXED_MESSAGES:
        return _FIXED_MESSAGES[kind]
    if kind is ProbeLogKind.HEALTHY:
        return f"Success. Received {values['status']} status code"
    if kind is ProbeLogKind.STATUS_MISMATCH:
        expected = values["expected"]
        codes = expected if isinstance(expected, str) else ",".join(str(code) for code in expected)
        return (
            "Status code of the backend's HTTP response did not match the probe setting. "
            f"Expected:{codes} Received:{values['received']}"
        )
    if kind is ProbeLogKind.BODY_MISMATCH:
        return (
            "Body of the backend's HTTP response did not match the probe setting. "
            f"Received response body does not contain {values['body']}."
        )
    if kind is ProbeLogKind.CHAIN:
        message = _CHAIN_MESSAGES.get(values["chain"])
        if message is None:
            raise ValueError(
                f"unknown certificate chain problem {values['chain']!r}; "
                f"expected one of {', '.join(sorted(_CHAIN_MESSAGES))}"
            )
        return message
    return str(values["text"])
