"""Entra ID "secure webhook" tokens from Azure Monitor action groups.

When configured, every alert request must carry `Authorization: Bearer <JWT>` that is signed by one
of the tenant's keys (JWKS), is for our audience (the app's identifier URI or client id), was issued
by the tenant, to the Action Groups app, with the `ActionGroupsSecureWebhook` role.
"""

from __future__ import annotations

from typing import Any

import jwt

from intake.errors import IntakeError

ACTION_GROUPS_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"
SECURE_WEBHOOK_ROLE = "ActionGroupsSecureWebhook"
_LEEWAY_SECONDS = 120  # clock skew between Entra ID and us


def default_jwks_url(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/discovery/v2.0/keys"


class SecureWebhookValidator:
    """Checks one Authorization header; signing keys are fetched once and cached (refetched on an
    unknown key id, which is how Entra ID key rollover shows up)."""

    def __init__(self, *, tenant_id: str, audience: str, jwks_url: str | None = None) -> None:
        self._audience = audience
        self._issuers = [
            f"https://sts.windows.net/{tenant_id}/",
            f"https://login.microsoftonline.com/{tenant_id}/v2.0",
        ]
        self._keys = _TenantKeys(jwks_url or default_jwks_url(tenant_id), cache_keys=True, timeout=10)

    def validate(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, or IntakeError 401 (no/invalid token), 403 (wrong app or role),
        503 (signing keys unreachable: not the caller's fault, so the action group retries)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise IntakeError(401, "missing_token", "an Entra ID bearer token is required")
        token = token.strip()
        try:
            signing_key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuers,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError):
            raise IntakeError(
                503, "signing_keys_unavailable", "could not fetch the tenant's signing keys"
            ) from None
        except jwt.PyJWTError as error:
            raise IntakeError(401, "invalid_token", f"token rejected: {_one_line(error)}") from None
        if claims.get("appid", claims.get("azp")) != ACTION_GROUPS_APP_ID:
            raise IntakeError(
                403, "wrong_client", "token was not issued to the Azure Monitor Action Groups app"
            )
        roles = claims.get("roles")
        if not isinstance(roles, list) or SECURE_WEBHOOK_ROLE not in roles:
            raise IntakeError(403, "missing_role", f"token lacks the {SECURE_WEBHOOK_ROLE} role")
        return claims


class _TenantKeys(jwt.PyJWKClient):
    """PyJWKClient that reports a key endpoint answering with something other than a key set (an
    HTML error page, not JSON, no signing keys) as unreachable keys: the caller is not at fault."""

    def fetch_data(self) -> Any:
        try:
            data = super().fetch_data()
        except jwt.PyJWKClientConnectionError:
            raise
        except (ValueError, jwt.PyJWKClientError) as error:  # JSONDecodeError is a ValueError
            raise jwt.PyJWKClientConnectionError(f"signing keys unusable: {_one_line(error)}") from None
        keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(keys, list) or not any(isinstance(k, dict) and k.get("kid") for k in keys):
            raise jwt.PyJWKClientConnectionError("signing keys unusable: no keys with a key id")
        return data


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__
