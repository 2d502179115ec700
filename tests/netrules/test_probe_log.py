"""Probe log wording: classification, status-code details, and the messages the simulator emits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netrules.probes import ProbeLogKind, classify_probe_log, parse_status_mismatch, probe_log_message

ROOT = Path(__file__).resolve().parents[2]
K = ProbeLogKind

# Wordings Azure has used (docs, portal, older v1 gateways), beyond the ones probe_log_message emits.
KNOWN_WORDINGS = [
    ("Success. Received 200 status code", K.HEALTHY),
    ("Success. Received 302 status code", K.HEALTHY),
    (
        "Time taken by the backend to respond to application gateway\u2019s health probe is more than the "
        "time-out threshold in the probe setting.",
        K.PROBE_TIMEOUT,
    ),
    ("Unable to resolve the FQDN of the backend server.", K.DNS),
    ("Cannot connect to backend server. Check whether any NSG/UDR/Firewall is blocking access.", K.CONNECT),
    ("Received invalid status code: 401 in the backend server's HTTP response.", K.STATUS_MISMATCH),
    (
        "Body of the backend's HTTP response did not match the probe setting. Received response body does "
        "not contain healthy.",
        K.BODY_MISMATCH,
    ),
    (
        "The Common Name (CN) of the backend certificate doesn't match the host header of the probe.",
        K.CN_MISMATCH,
    ),
    ("The Common Name (CN) of the backend certificate doesn\u2019t match the host header.", K.CN_MISMATCH),
    (
        "Backend certificate is invalid. Current date is not within the \u201cValid from\u201d and "
        "\u201cValid to\u201d date range on the certificate.",
        K.CERT_EXPIRED,
    ),
    ("The Leaf certificate is missing from the certificate chain presented by the backend server.", K.CHAIN),
    (
        "Leaf certificate is not the topmost certificate in the chain presented by the backend server.",
        K.CHAIN,
    ),
    ("The validity of the backend certificate could not be verified.", K.CHAIN),
    ("", K.OTHER),
    (None, K.OTHER),
    ("Something unexpected happened.", K.OTHER),
]


@pytest.mark.parametrize("text, kind", KNOWN_WORDINGS)
def test_classifies_known_wordings(text, kind):
    assert classify_probe_log(text) is kind


def test_classification_ignores_case_and_spacing():
    text = "APPLICATION GATEWAY   could not CONNECT to the backend."
    assert classify_probe_log(text) is K.CONNECT


def test_unknown_message_is_not_read_as_dns():
    # The UNKNOWN text mentions FQDN resolution and NSG/UDR blocking.
    assert classify_probe_log(probe_log_message(K.UNKNOWN)) is K.UNKNOWN
    assert "resolved" in probe_log_message(K.UNKNOWN)


def scenario_logs():
    logs = []
    for world_path in sorted((ROOT / "scenarios").glob("*/world.json")):
        world = json.loads(world_path.read_text())
        for health in world.get("backendHealth", {}).values():
            for pool in health.get("backendAddressPools", []):
                for settings in pool.get("backendHttpSettingsCollection", []):
                    for server in settings.get("servers", []):
                        logs.append(
                            (world_path.parent.name, server.get("health"), server.get("healthProbeLog"))
                        )
    return logs


SCENARIO_KINDS = {
    "custom-dns": K.DNS,
    "default-probe": K.STATUS_MISMATCH,
    "healthy": K.HEALTHY,
    "nsg-backend-subnet": K.CONNECT,
    "nsg-infra-ports-v2": K.UNKNOWN,
    "pool-empty": K.HEALTHY,
    "probe-timeout": K.PROBE_TIMEOUT,
    "request-timeout": K.HEALTHY,
    "tls-cn-mismatch": K.CN_MISMATCH,
    "udr-blackhole": K.CONNECT,
}


def test_scenario_logs_classify_as_their_scenario_says():
    logs = scenario_logs()
    assert {name for name, _, _ in logs} >= set(SCENARIO_KINDS)
    for name, _, text in logs:
        if name in SCENARIO_KINDS:
            assert classify_probe_log(text) is SCENARIO_KINDS[name], (name, text)


def test_scenario_logs_are_what_probe_log_message_emits():
    emitted = {probe_log_message(kind, **SAMPLE_DETAILS.get(kind, {})) for kind in K}
    emitted.add(probe_log_message(K.STATUS_MISMATCH, expected=["200-399"], received=404))
    for name, _, text in scenario_logs():
        assert text in emitted, (name, text)


# --- status mismatch details ---

STATUS_PREFIX = "Status code of the backend's HTTP response did not match the probe setting."


@pytest.mark.parametrize(
    "text, expected, received",
    [
        (
            f"{STATUS_PREFIX} Expected:200-399 Received:404",
            ["200-399"],
            "404",
        ),
        (
            f"{STATUS_PREFIX} Expected:{{200-399}} Received:{{404}}.",
            ["200-399"],
            "404",
        ),
        (
            f"{STATUS_PREFIX} Expected:200,301-302 Received:500",
            ["200", "301-302"],
            "500",
        ),
        (
            "Received invalid status code: 401 in the backend server\u2019s HTTP response. As per the health "
            "probe configuration, 200-399 is the acceptable status code. Either update the probe "
            "configuration with the HTTP status code or change the backend server's response code.",
            ["200-399"],
            "401",
        ),
        ("Received invalid status code: 503", None, "503"),
        ("Success. Received 200 status code", None, None),
        (probe_log_message(K.PROBE_TIMEOUT), None, None),
        (None, None, None),
    ],
)
def test_parse_status_mismatch(text, expected, received):
    assert parse_status_mismatch(text) == (expected, received)


@given(
    st.lists(st.tuples(st.integers(100, 599), st.integers(0, 99)), min_size=1, max_size=3),
    st.integers(100, 599),
)
def test_status_mismatch_round_trip(ranges, received):
    codes = [f"{low}-{low + width}" if width else str(low) for low, width in ranges]
    text = probe_log_message(K.STATUS_MISMATCH, expected=codes, received=received)
    assert parse_status_mismatch(text) == (codes, str(received))


# --- emitted wording ---

SAMPLE_DETAILS = {
    K.STATUS_MISMATCH: {"expected": ["200-399"], "received": 404},
    K.BODY_MISMATCH: {"body": "healthy"},
}


@pytest.mark.parametrize("kind", list(K))
def test_round_trip_every_kind(kind):
    assert classify_probe_log(probe_log_message(kind, **SAMPLE_DETAILS.get(kind, {}))) is kind


@pytest.mark.parametrize("chain", ["missing-intermediate", "untrusted-root", "unknown-ca"])
def test_chain_variants_classify_as_chain(chain):
    assert classify_probe_log(probe_log_message(K.CHAIN, chain=chain)) is K.CHAIN


def test_exact_wordings():
    assert probe_log_message(K.HEALTHY) == "Success. Received 200 status code"
    assert probe_log_message(K.PROBE_TIMEOUT) == (
        "Time taken by the backend to respond to application gateway's health probe is more than the "
        "time-out threshold in the probe setting."
    )
    assert probe_log_message(K.DNS) == (
        "Application Gateway could not create a probe for this backend. This usually happens when the FQDN "
        "of the backend has not been entered correctly."
    )
    assert probe_log_message(K.CONNECT).startswith("Application Gateway could not connect to the backend. ")
    assert probe_log_message(K.STATUS_MISMATCH, expected="200-399", received=404).endswith(
        "Expected:200-399 Received:404"
    )
    assert probe_log_message(K.BODY_MISMATCH, body="ok").endswith(
        "Received response body does not contain ok."
    )
    assert "Valid from" in probe_log_message(K.CERT_EXPIRED)
    assert probe_log_message(K.OTHER, text="Custom text") == "Custom text"


@pytest.mark.parametrize(
    "kind, details, message",
    [
        (K.STATUS_MISMATCH, {}, "needs the detail 'received'"),
        (K.BODY_MISMATCH, {}, "needs the detail 'body'"),
        (K.PROBE_TIMEOUT, {"seconds": 3}, "takes no detail 'seconds'"),
        (K.CHAIN, {"chain": "broken"}, "unknown certificate chain problem"),
    ],
)
def test_bad_details_raise(kind, details, message):
    with pytest.raises(ValueError, match=message):
        probe_log_message(kind, **details)


# --- the wording table ---

from netrules.probes import WORDINGS  # noqa: E402

# Realistic values for the placeholders Azure fills in.
FILLED = {
    "status": "200",
    "expected": "200-399",
    "received": "401",
    "body": '"status":"ok"',
    "errorCode": "20",
}


def filled(wording):
    return wording.text.format(**{name: FILLED[name] for name in wording.placeholders})


@pytest.mark.parametrize("wording", WORDINGS, ids=lambda w: f"{w.kind.name}:{w.text[:50]}")
def test_every_table_wording_classifies_as_its_kind(wording):
    assert wording.source
    assert classify_probe_log(filled(wording)) is wording.kind
    # Tolerant of case, spacing, typographic quotes and a missing final period.
    loose = " ".join(filled(wording).upper().split()).rstrip(".").replace("'", "\u2019")
    assert classify_probe_log(loose) is wording.kind


@pytest.mark.parametrize("wording", WORDINGS, ids=lambda w: f"{w.kind.name}:{w.text[:50]}")
def test_every_key_names_the_failure_specifically(wording):
    # A key is a sentence, not a catch-all: enough literal words, and it matches no wording of another kind.
    literal = [w for w in wording.match_key.split() if not w.startswith("{")]
    assert len(literal) >= 4, wording.match_key
    for other in WORDINGS:
        if other.kind is not wording.kind:
            assert classify_probe_log(filled(other)) is not wording.kind or other.kind is wording.kind


def test_table_texts_are_unique_and_every_kind_but_other_has_one():
    texts = [w.text for w in WORDINGS]
    assert len(texts) == len(set(texts))
    assert {w.kind for w in WORDINGS} == set(K) - {K.OTHER}


def test_every_emitted_message_is_a_table_wording():
    texts = {filled(w).replace("**", "") for w in WORDINGS}
    for kind in K:
        if kind is K.OTHER:
            continue
        details = {"received": 401} if kind is K.STATUS_MISMATCH else {}
        details |= {"body": '"status":"ok"'} if kind is K.BODY_MISMATCH else {}
        assert probe_log_message(kind, **details) in texts, kind


# Full messages as Azure returns them (REST API / portal), with real values filled in.
REAL_MESSAGES = [
    (
        "Time taken by the backend to respond to application gateway's health probe is more than the "
        "time-out threshold in the probe configuration. Either increase the time-out threshold in the probe "
        "configuration or resolve the backend issues. Note: for default probe, the http timeout is 30s. To "
        "learn more visit - https://aka.ms/ProbeTimeOut.",
        K.PROBE_TIMEOUT,
    ),
    (
        "Received invalid status code: 401 in the backend server\u2019s HTTP response. As per the health "
        "probe configuration, 200-399 is the acceptable status code. Either modify probe configuration or "
        "resolve backend issues. Learn more",
        K.STATUS_MISMATCH,
    ),
    (
        "Status code of the backend's HTTP response did not match the probe setting. Expected:{200-399} "
        "Received:{503}.",
        K.STATUS_MISMATCH,
    ),
    ("Probe status code mismatch: Received 403", K.STATUS_MISMATCH),
    (
        "Cannot connect to backend server. Check whether any NSG/UDR/Firewall is blocking access to the "
        "server. Check if application is running on correct port. To learn more visit - "
        "https://aka.ms/servernotreachable.",
        K.CONNECT,
    ),
    (
        "The Common Name (CN) of the backend server certificate does not match the host header entered in "
        "the health probe configuration (v2 SKU) or the FQDN in the backend pool (v1 SKU). Verify if the "
        "hostname matches with the CN of the backend server certificate. To learn more visit - "
        "https://aka.ms/backendcertcnmismatch.",
        K.CN_MISMATCH,
    ),
    (
        "(For V1) The Common Name (CN) of the backend certificate doesn\u2019t match.",
        K.CN_MISMATCH,
    ),
    (
        "Backend server certificate is not whitelisted with Application Gateway. Make sure that the "
        "certificate uploaded to Application Gateway matches with the certificate configured in your backend "
        "server. To learn more visit - https://aka.ms/authcertificatemismatch",
        K.CHAIN,
    ),
    (
        "The validity of the backend certificate could not be verified. To find out the reason, check "
        "OpenSSL diagnostics for the message associated with error code 20",
        K.CHAIN,
    ),
    (
        'Backend certificate is invalid. Current date isn\'t within the "Valid from" and "Valid to" date '
        "range on the certificate.",
        K.CERT_EXPIRED,
    ),
    (
        "Body of the backend's HTTP response did not match the probe setting. Received response body doesn't "
        'contain "status":"ok".',
        K.BODY_MISMATCH,
    ),
    (
        "Application Gateway could not create a probe for this backend. This usually happens when the FQDN "
        "of the backend is not entered correctly.",
        K.DNS,
    ),
    (
        "The backend health status could not be retrieved. This happens when an NSG/UDR/Firewall on the "
        "application gateway subnet is blocking traffic on ports 65503-65534 (v1 SKU) and ports 65200-65535 "
        "(v2 SKU). This error can also occur if the FQDN configured in the backend pool could not be "
        "resolved to an IP address. To learn more visit - https://aka.ms/UnknownBackendHealth.",
        K.UNKNOWN,
    ),
    (
        "Verify that the backend server is set up to accept the Proxy protocol header sent by the probes.",
        K.PROXY_PROTOCOL,
    ),
]


@pytest.mark.parametrize("text, kind", REAL_MESSAGES)
def test_real_full_messages(text, kind):
    assert classify_probe_log(text) is kind


@pytest.mark.parametrize(
    "text",
    [
        "The backend server closed the connection during the TLS handshake (error 0x80090326).",
        "The certificate was not found.",  # a fragment shared by many wordings names no failure by itself
        "Backend certificate is invalid.",
        "Success.",
        "Received response body",
        "The Common Name (CN) of the backend",
        "Unable to resolve",
    ],
)
def test_partial_or_unknown_wordings_are_not_guessed(text):
    assert classify_probe_log(text) is K.OTHER


def test_status_details_from_table_wordings():
    assert parse_status_mismatch("Probe status code mismatch: Received 403") == (None, "403")
    assert parse_status_mismatch(REAL_MESSAGES[1][0]) == (["200-399"], "401")
