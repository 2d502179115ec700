"""Who writes: the principal behind the SDK clients' credential, for the audit trail.

An Entra ID access token is a JWT whose claims name the caller: `upn` / `unique_name` for a user
(`az login`), `appid` (or `azp`) for a service principal or managed identity, `oid` always. The
token is only decoded, never verified (ARM verifies it); a credential that cannot give one (or the
simulator's static token) is named by what it is.
"""

from __future__ import annotations

import base64
import json
from typing import Any

ARM_SCOPE = "https://management.azure.com/.default"


def claims_of(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def principal_of(credential: Any) -> str:
    """`alice@contoso.com`, `app 00000000-...` (service principal / managed identity), `object <oid>`,
    or a description when the token says nothing (e.g. `static token (simulator)`)."""
    if credential is None:
        return "unknown"
    try:
        token = credential.get_token(ARM_SCOPE).token
    except Exception as error:  # the write would fail the same way; the audit says why
        return f"unknown (no token: {type(error).__name__})"
    claims = claims_of(token)
    if claims is None:
        return f"{type(credential).__name__} (not a JWT: a simulator's static token)"
    for name in ("upn", "unique_name", "preferred_username"):
        if claims.get(name):
            return str(claims[name])
    app = claims.get("appid") or claims.get("azp")
    if app:
        return f"app {app}"
    return f"object {claims.get('oid', 'unknown')}"
