"""POST /api/alerts: valid alerts are answered 202 and queued; anything else gets a 4xx JSON error,
one log line, and nothing queued. Fuzzed: no input produces a 5xx or an exception."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appgw_doctor.pipeline import WorkItem
from tests.entra import AUDIENCE, TENANT_ID
from tests.functions.harness import post_alert

ROOT = Path(__file__).resolve().parents[2]
ALERT = (ROOT / "scenarios/healthy/alert.json").read_bytes()
VM = "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg/providers/microsoft.compute/vms/v"
GATEWAY = json.loads(ALERT)["data"]["essentials"]["alertTargetIDs"][0]


def alert_with(**essentials) -> bytes:
    document = json.loads(ALERT)
    document["data"]["essentials"].update(essentials)
    return json.dumps(document).encode()


def test_valid_alert_is_accepted_and_queued(app_env, functions) -> None:
    response, messages = post_alert(functions, ALERT)
    assert response.status_code == 202
    assert json.loads(response.get_body()) == {"status": "accepted", "gateways": [GATEWAY]}
    (item,) = [WorkItem.from_message(m) for m in messages]
    assert item.kind == "alert" and item.gateway_id == GATEWAY
    assert item.alert.monitor_condition == "Fired"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"", 400, "malformed_json"),
        (json.dumps({"schemaId": "other", "data": {}}).encode(), 400, "wrong_schema"),
        (json.dumps({"schemaId": "azureMonitorCommonAlertSchema"}).encode(), 400, "missing_field"),
        (alert_with(alertTargetIDs=[VM]), 422, "not_application_gateway"),
        (alert_with(alertTargetIDs=[GATEWAY.replace("00000000-0000-0000-0000-000000000001",
                                                    "22222222-2222-2222-2222-222222222222")]),
         403, "subscription_not_allowed"),
        (b" " * (1024 * 1024 + 1), 413, "body_too_large"),
        (alert_with(alertTargetIDs=[GATEWAY + "\n"]), 422, "not_application_gateway"),
        (alert_with(alertTargetIDs=[GATEWAY + "\u0000"]), 422, "not_application_gateway"),
        (alert_with(firedDateTime="0001-01-01T00:00:00Z"), 400, "invalid_field"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_4xx_json_error_one_log_line_and_nothing_queued(
    app_env, functions, caplog, body, status, code
) -> None:
    with caplog.at_level(logging.INFO, logger="appgw_doctor"):
        response, messages = post_alert(functions, body)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = json.loads(response.get_body())["error"]
    assert error["code"] == code and error["message"]
    assert messages is None
    assert [r.getMessage() for r in caplog.records] == [f"alert refused: {code}: {error['message']}"]


def test_empty_allow_list_refuses_every_alert(app_env, functions) -> None:
    app_env.set("ALLOWED_SUBSCRIPTIONS", "")
    response, messages = post_alert(functions, ALERT)
    assert response.status_code == 403 and messages is None


def test_misconfiguration_is_a_500_with_a_clear_message(app_env, functions) -> None:
    app_env.set("ALLOWED_SUBSCRIPTIONS", "not-a-guid")
    response, messages = post_alert(functions, ALERT)
    assert response.status_code == 500
    assert json.loads(response.get_body())["error"]["code"] == "configuration_error"
    assert "ALLOWED_SUBSCRIPTIONS" in json.loads(response.get_body())["error"]["message"]


@pytest.fixture
def secure(app_env, entra_tenant):
    app_env.set("SECURE_WEBHOOK_TENANT_ID", TENANT_ID)
    app_env.set("SECURE_WEBHOOK_AUDIENCE", AUDIENCE)
    app_env.set("SECURE_WEBHOOK_JWKS_URL", entra_tenant.jwks_url)
    return entra_tenant


def test_secure_webhook_accepts_an_action_groups_token(secure, functions) -> None:
    response, messages = post_alert(functions, ALERT, {"Authorization": f"Bearer {secure.token()}"})
    assert response.status_code == 202 and len(messages) == 1


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer nonsense", 401), ("wrong-audience", 401), ("no-role", 403)],
)
def test_secure_webhook_refuses_bad_tokens_before_reading_the_body(secure, functions, header, status) -> None:
    headers = {}
    if header == "wrong-audience":
        headers["Authorization"] = f"Bearer {secure.token(aud='api://other')}"
    elif header == "no-role":
        headers["Authorization"] = f"Bearer {secure.token(roles=['Reader'])}"
    elif header:
        headers["Authorization"] = header
    response, messages = post_alert(functions, b"{not even json", headers)
    assert response.status_code == status and messages is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=16,
)
_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(body=st.binary(max_size=4096))
def test_fuzz_bytes_never_produce_a_5xx(app_env, functions, body) -> None:
    response, _ = post_alert(functions, body)
    assert 200 <= response.status_code < 500


@_FUZZ
@given(document=json_values)
def test_fuzz_json_never_produces_a_5xx(app_env, functions, document) -> None:
    response, _ = post_alert(functions, json.dumps(document).encode())
    assert 200 <= response.status_code < 500


@_FUZZ
@given(
    essentials=st.dictionaries(
        st.sampled_from(
            [
                "alertId",
                "monitorCondition",
                "signalType",
                "alertTargetIDs",
                "firedDateTime",
                "severity",
                "alertRule",
            ]
        ),
        json_values,
        max_size=4,
    )
)
def test_fuzz_essentials_never_produce_a_5xx(app_env, functions, essentials) -> None:
    response, messages = post_alert(functions, alert_with(**essentials))
    assert 200 <= response.status_code < 500
    if response.status_code == 202:
        assert all(WorkItem.from_message(m).alert is not None for m in messages)


@_FUZZ
@given(token=st.text(max_size=300))
def test_fuzz_tokens_never_produce_a_5xx(secure, functions, token) -> None:
    response, messages = post_alert(functions, ALERT, {"Authorization": f"Bearer {token}"})
    assert response.status_code in (401, 403) and messages is None


def test_signing_keys_that_are_not_json_answer_503_with_a_json_body(secure, functions, app_env) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Html(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Length", "17")
            self.end_headers()
            self.wfile.write(b"<html>oops</html>")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Html)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        app_env.set("SECURE_WEBHOOK_JWKS_URL", f"http://127.0.0.1:{server.server_address[1]}/keys")
        response, messages = post_alert(functions, ALERT, {"Authorization": f"Bearer {secure.token()}"})
    finally:
        server.shutdown()
    assert response.status_code == 503 and messages is None
    assert json.loads(response.get_body())["error"]["code"] == "signing_keys_unavailable"
