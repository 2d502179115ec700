"""The alert webhook's intake: size limit, then (when configured) the secure-webhook token, then the
alert itself. Authentication comes before parsing so an unauthenticated caller learns nothing about
what a valid body looks like."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.settings import DEFAULT_MAX_ALERT_TARGETS, Settings
from intake.alerts import MAX_BODY_BYTES, Alert, parse_alert_body
from intake.errors import IntakeError
from intake.secure_webhook import SecureWebhookValidator


class AlertWebhook:
    def __init__(
        self,
        *,
        allowed_subscriptions: Iterable[str] | None,
        validator: SecureWebhookValidator | None = None,
        max_targets: int = DEFAULT_MAX_ALERT_TARGETS,
    ) -> None:
        self._allowed = None if allowed_subscriptions is None else tuple(allowed_subscriptions)
        self._validator = validator
        self._max_targets = max_targets

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertWebhook:
        validator = None
        if settings.secure_webhook_enabled:
            assert settings.webhook_tenant_id and settings.webhook_audience
            validator = SecureWebhookValidator(
                tenant_id=settings.webhook_tenant_id,
                audience=settings.webhook_audience,
                jwks_url=settings.webhook_jwks_url,
            )
        return cls(
            allowed_subscriptions=settings.allowed_subscriptions or (),
            validator=validator,
            max_targets=settings.max_alert_targets,
        )

    def accept(self, body: bytes, headers: Mapping[str, str]) -> list[Alert]:
        """The alerts in a request (one per targeted gateway), or IntakeError."""
        if len(body) > MAX_BODY_BYTES:
            raise IntakeError(
                413, "body_too_large", f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}"
            )
        if self._validator is not None:
            self._validator.validate(_header(headers, "Authorization"))
        return parse_alert_body(body, allowed_subscriptions=self._allowed, max_targets=self._max_targets)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
