"""The app layer's tests use the notification peers (a Teams webhook receiver, an SMTP server) and
the Functions harness' Azurite; importing the fixtures registers them here."""

from tests.azurite import azurite  # noqa: F401
from tests.notifications.conftest import (  # noqa: F401
    alert_data,
    card_validator,
    checks,
    closed_port,
    findings,
    smtp_factory,
    smtp_server,
    webhook,
)
