"""Approval link tokens: signed, expiring, bound to one approval and to exactly what it will change.

A token is `base64url(claims) . base64url(HMAC-SHA256(key, claims))`, claims `{"a": approval id,
"d": the approval's digest, "e": expiry (epoch seconds)}`. The key comes from the app setting
`APPROVAL_SIGNING_KEY` (a Key Vault reference in Azure). A token is checked in constant time;
single use is the approval record's job (its state leaves `pending` once, conditionally).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any

MIN_KEY_BYTES = 32


class TokenInvalid(Exception):
    """The link's token is not valid for this approval: `reason` says why (for the page)."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))


def plan_digest(plan: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of what a plan will change."""
    canonical = json.dumps(plan, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sign(approval_id: str, digest: str, expires_at: datetime, key: bytes) -> str:
    claims = {"a": approval_id, "d": digest, "e": int(expires_at.timestamp())}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    signature = _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def verify(token: str, *, approval_id: str, digest: str, key: bytes, now: datetime) -> None:
    """Raises TokenInvalid unless `token` was signed with `key` for this approval and plan and has
    not expired."""
    if not token or token.count(".") != 1 or len(token) > 1024:
        raise TokenInvalid("the link's token is missing or malformed")
    payload, signature = token.split(".")
    expected = _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise TokenInvalid("the link's token is not genuine (altered, or signed with another key)")
    try:
        claims = json.loads(_unb64(payload))
        bound_id, bound_digest, expires = str(claims["a"]), str(claims["d"]), int(claims["e"])
    except (ValueError, KeyError, TypeError):
        raise TokenInvalid("the link's token is malformed") from None
    if not hmac.compare_digest(bound_id, approval_id):
        raise TokenInvalid("the link's token belongs to another approval")
    if not hmac.compare_digest(bound_digest, digest):
        raise TokenInvalid("the link's token was issued for a different plan")
    if now.astimezone(timezone.utc).timestamp() >= expires:
        raise TokenInvalid("the link has expired", expired=True)
