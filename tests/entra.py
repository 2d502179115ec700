"""A stand-in Entra ID tenant for secure-webhook tests: a generated RSA signing key whose public half
is served as a JWKS document by a real local HTTP server, and a way to issue tokens with it.

Conftests use it with `from tests.entra import entra_tenant  # noqa: F401`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from intake.secure_webhook import ACTION_GROUPS_APP_ID, SECURE_WEBHOOK_ROLE

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUDIENCE = "api://appgw-doctor"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class EntraTenant:
    def __init__(self) -> None:
        self.key = new_key()
        self.kid = uuid.uuid4().hex
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}
        self.requests = 0
        tenant = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                tenant.requests += 1
                body = json.dumps(tenant.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.jwks_url = f"http://127.0.0.1:{self._server.server_address[1]}/{TENANT_ID}/discovery/v2.0/keys"

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "aud": AUDIENCE,
            "iss": f"https://sts.windows.net/{TENANT_ID}/",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "appid": ACTION_GROUPS_APP_ID,
            "roles": [SECURE_WEBHOOK_ROLE],
            "sub": "action-groups",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None, **overrides: Any) -> str:
        return jwt.encode(
            self.claims(**overrides), key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def entra_tenant() -> Iterator[EntraTenant]:
    tenant = EntraTenant()
    yield tenant
    tenant.stop()
