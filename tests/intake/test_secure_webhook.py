"""Secure-webhook tokens: checked against signing keys fetched from a real (local) JWKS endpoint."""

from __future__ import annotations

import socket
import threading
import time

import jwt
import pytest

from intake.errors import IntakeError
from intake.secure_webhook import SecureWebhookValidator
from tests.entra import AUDIENCE, TENANT_ID, EntraTenant, new_key


@pytest.fixture
def validator(entra_tenant: EntraTenant) -> SecureWebhookValidator:
    return SecureWebhookValidator(tenant_id=TENANT_ID, audience=AUDIENCE, jwks_url=entra_tenant.jwks_url)


def refusal(validator: SecureWebhookValidator, header: str | None) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        validator.validate(header)
    return caught.value


def test_action_groups_token_is_accepted(validator, entra_tenant) -> None:
    claims = validator.validate(f"Bearer {entra_tenant.token()}")
    assert claims["aud"] == AUDIENCE


def test_v2_token_with_azp_is_accepted(validator, entra_tenant) -> None:
    token = entra_tenant.token(
        iss=f"https://login.microsoftonline.com/{TENANT_ID}/v2.0",
        appid=None,
        azp="461e8683-5575-4561-ac7f-899cc907d62a",
    )
    assert validator.validate(f"bearer {token}")["azp"] == "461e8683-5575-4561-ac7f-899cc907d62a"


def test_signing_keys_are_fetched_once_and_cached(validator, entra_tenant) -> None:
    before = entra_tenant.requests
    for _ in range(3):
        validator.validate(f"Bearer {entra_tenant.token()}")
    assert entra_tenant.requests - before == 1


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "token-without-scheme"]
)
def test_missing_token_is_401(validator, header) -> None:
    error = refusal(validator, header)
    assert (error.status, error.code) == (401, "missing_token")


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"aud": "api://someone-else"}, 401, "invalid_token"),
        ({"iss": "https://sts.windows.net/11111111-1111-1111-1111-111111111111/"}, 401, "invalid_token"),
        ({"exp": int(time.time()) - 3600}, 401, "invalid_token"),
        ({"nbf": int(time.time()) + 3600}, 401, "invalid_token"),
        ({"exp": None}, 401, "invalid_token"),
        ({"appid": "00000000-0000-0000-0000-000000000000"}, 403, "wrong_client"),
        ({"appid": None}, 403, "wrong_client"),
        ({"roles": []}, 403, "missing_role"),
        ({"roles": None}, 403, "missing_role"),
        ({"roles": "ActionGroupsSecureWebhook"}, 403, "missing_role"),
    ],
)
def test_tokens_with_wrong_claims_are_refused(validator, entra_tenant, overrides, status, code) -> None:
    error = refusal(validator, f"Bearer {entra_tenant.token(**overrides)}")
    assert (error.status, error.code) == (status, code)


def test_token_signed_by_another_key_is_refused(validator, entra_tenant) -> None:
    forged = entra_tenant.token(key=new_key())  # right kid, wrong key
    assert refusal(validator, f"Bearer {forged}").code == "invalid_token"
    unknown_kid = entra_tenant.token(key=new_key(), kid="rotated-away")
    assert refusal(validator, f"Bearer {unknown_kid}").code == "invalid_token"


def test_unsigned_and_symmetric_tokens_are_refused(validator, entra_tenant) -> None:
    claims = entra_tenant.claims()
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": entra_tenant.kid})
    assert refusal(validator, f"Bearer {unsigned}").code == "invalid_token"
    hs256 = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": entra_tenant.kid})
    assert refusal(validator, f"Bearer {hs256}").code == "invalid_token"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"])
def test_garbage_tokens_are_refused(validator, token) -> None:
    assert refusal(validator, f"Bearer {token}").status == 401


def test_unreachable_signing_keys_answer_503(entra_tenant) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    validator = SecureWebhookValidator(
        tenant_id=TENANT_ID, audience=AUDIENCE, jwks_url=f"http://127.0.0.1:{port}/keys"
    )
    error = refusal(validator, f"Bearer {entra_tenant.token()}")
    assert (error.status, error.code) == (503, "signing_keys_unavailable")


class _KeyEndpoint:
    """A JWKS URL that answers 200 with a fixed body (what a proxy or a misconfigured URL may do)."""

    def __init__(self, body: bytes) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/keys"


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b"", b"[]", b'{"keys": []}', b'{"keys": "x"}', b'{"keys": [{"kty": "RSA"}]}'],
)
def test_signing_keys_endpoint_answering_something_else_is_503(entra_tenant, body) -> None:
    endpoint = _KeyEndpoint(body)
    try:
        validator = SecureWebhookValidator(tenant_id=TENANT_ID, audience=AUDIENCE, jwks_url=endpoint.url)
        error = refusal(validator, f"Bearer {entra_tenant.token()}")
        assert (error.status, error.code) == (503, "signing_keys_unavailable")
    finally:
        endpoint.server.shutdown()


def test_token_with_a_key_id_the_tenant_does_not_have_is_still_401(validator, entra_tenant) -> None:
    assert refusal(validator, f"Bearer {entra_tenant.token(kid='unknown')}").status == 401
