"""The app layer's tests use the notification peers (a Teams webhook receiver, an SMTP server) and
the Functions harness' Azurite; importing the fixtures registers them here."""

from typing import Any

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


def web_settings_timeout(world: dict[str, Any]) -> int:
    """The requestTimeout of the gateway's `web-settings` in a world (scenarios/request-timeout's
    settings, which the raise-request-timeout fix changes)."""
    for resource in world["resources"]:
        if "/applicationGateways/" in resource["id"]:
            (settings,) = [
                s
                for s in resource["properties"]["backendHttpSettingsCollection"]
                if s["name"] == "web-settings"
            ]
            return int(settings["properties"]["requestTimeout"])
    raise AssertionError("no gateway")
