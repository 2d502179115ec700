"""App settings of the Functions app (environment variables), read once into a frozen Settings.

docs/CONFIGURATION.md documents each setting; local.settings.example.json lists them. A bad value
raises ConfigError with a one-line message naming the setting.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from appgw_doctor.azure_clients import ARM_ENDPOINT

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_log = logging.getLogger("appgw_doctor")
# A lease is renewed between stages, so it must outlast the longest one: a notification retries for
# up to 120 s, a diagnosis makes many ARM calls with their own retries.
MIN_LEASE_SECONDS = 300
# The top-level packages whose loggers the app's telemetry exports (not the Azure SDK's chatter).
APP_LOGGERS = ("appgw_doctor", "intake", "state", "diagnostics", "notifications", "remediation", "netrules")


class ConfigError(Exception):
    """An app setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    # Subscriptions whose gateways we accept alerts for and sweep. None = no allow-list (local CLI).
    allowed_subscriptions: tuple[str, ...] | None = None
    sweep_subscriptions: tuple[str, ...] = ()  # what the timer sweeps (default: the allowed ones)
    storage_connection_string: str | None = None
    table_endpoint: str | None = None  # identity-based access instead of a connection string
    table_prefix: str = "appgwdoctor"
    webhook_tenant_id: str | None = None
    webhook_audience: str | None = None
    webhook_jwks_url: str | None = None
    arm_endpoint: str = ARM_ENDPOINT
    arm_ca_bundle: str | None = None
    arm_polling_interval: float = 1.0
    dns_server_map: tuple[tuple[str, str, int], ...] = ()  # (server IP, host, port) to query instead
    lease_seconds: int = 600
    incident_join_hours: float = 6.0  # an open incident older than this is not joined (closed as expired)
    app_insights_connection_string: str | None = None

    @property
    def secure_webhook_enabled(self) -> bool:
        return bool(self.webhook_tenant_id and self.webhook_audience)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        tenant, audience = get("SECURE_WEBHOOK_TENANT_ID"), get("SECURE_WEBHOOK_AUDIENCE")
        if bool(tenant) != bool(audience):
            raise ConfigError("SECURE_WEBHOOK_TENANT_ID and SECURE_WEBHOOK_AUDIENCE must be set together")
        account = get("AzureWebJobsStorage__accountName")
        table_endpoint = get("STATE_TABLE_ENDPOINT") or (
            get("AzureWebJobsStorage__tableServiceUri")
            or (f"https://{account}.table.core.windows.net" if account else None)
        )
        prefix = get("STATE_TABLE_PREFIX") or "appgwdoctor"
        if not prefix.isalnum() or not prefix[0].isalpha() or len(prefix) > 40:
            raise ConfigError(
                "STATE_TABLE_PREFIX must be up to 40 letters and digits, starting with a letter"
            )
        allowed = parse_subscriptions(get("ALLOWED_SUBSCRIPTIONS") or "", "ALLOWED_SUBSCRIPTIONS")
        sweep = parse_subscriptions(get("SWEEP_SUBSCRIPTIONS") or "", "SWEEP_SUBSCRIPTIONS") or allowed
        outside = [s for s in sweep if s not in allowed]
        if outside:
            raise ConfigError(f"SWEEP_SUBSCRIPTIONS: {outside[0]} is not in ALLOWED_SUBSCRIPTIONS")
        return cls(
            allowed_subscriptions=allowed,
            sweep_subscriptions=sweep,
            storage_connection_string=get("STATE_STORAGE_CONNECTION") or get("AzureWebJobsStorage"),
            table_endpoint=table_endpoint,
            table_prefix=prefix,
            webhook_tenant_id=tenant,
            webhook_audience=audience,
            webhook_jwks_url=get("SECURE_WEBHOOK_JWKS_URL"),
            arm_endpoint=(get("ARM_ENDPOINT") or ARM_ENDPOINT).rstrip("/"),
            arm_ca_bundle=get("ARM_CA_BUNDLE"),
            arm_polling_interval=_number(get("ARM_POLLING_INTERVAL"), "ARM_POLLING_INTERVAL", 1.0, 0.01, 60),
            dns_server_map=parse_dns_server_map(get("DNS_SERVER_MAP") or ""),
            lease_seconds=int(_number(get("LEASE_SECONDS"), "LEASE_SECONDS", 600, MIN_LEASE_SECONDS, 3600)),
            incident_join_hours=_number(get("INCIDENT_JOIN_HOURS"), "INCIDENT_JOIN_HOURS", 6, 0.25, 168),
            app_insights_connection_string=get("APPLICATIONINSIGHTS_CONNECTION_STRING"),
        )


def parse_subscriptions(text: str, setting: str) -> tuple[str, ...]:
    """Comma- or space-separated subscription GUIDs, lower-cased."""
    items = [item for item in re.split(r"[,\s;]+", text) if item]
    bad = [item for item in items if not _GUID.match(item)]
    if bad:
        raise ConfigError(f"{setting}: {bad[0]!r} is not a subscription id")
    return tuple(dict.fromkeys(item.lower() for item in items))


def parse_dns_server_map(text: str) -> tuple[tuple[str, str, int], ...]:
    """`10.1.2.4=127.0.0.1:5353,...`: ask host:port whenever the VNet names that DNS server."""
    entries = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        server, _, target = item.partition("=")
        host, _, port = target.rpartition(":")
        if not server or not host or not port.isdigit():
            raise ConfigError(f"DNS_SERVER_MAP: {item!r} is not <server ip>=<host>:<port>")
        entries.append((server.strip(), host.strip(), int(port)))
    return tuple(entries)


def _number(text: str | None, name: str, default: float, low: float, high: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}")
    return value


_telemetry_lock = threading.Lock()
_telemetry_configured = False


def configure_telemetry(settings: Settings) -> None:
    """Export traces, logs and SDK calls to Application Insights via OpenTelemetry when a connection
    string is set. The exporter (`azure-monitor-opentelemetry`) is imported only then, so a run without
telemetry does not pay for it."""
    global _telemetry_configured
    if not settings.app_insights_connection_string:
        return
    with _telemetry_lock:
        if _telemetry_configured:
            return
        _telemetry_configured = True
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor
        except ImportError:
            _log.warning(
                "APPLICATIONINSIGHTS_CONNECTION_STRING is set but azure-monitor-opentelemetry is not "
                "installed; logs go to the Functions host only"
            )
            return
        configure_azure_monitor(
            connection_string=settings.app_insights_connection_string, logger_name=APP_LOGGERS[0]
        )
        share_handlers(APP_LOGGERS[0], APP_LOGGERS[1:])


def share_handlers(source: str, targets: tuple[str, ...]) -> None:
    """Give the other app loggers the handlers configured on `source` (the exporter attaches its
    handler to one named logger), so e.g. `notifications.*` records reach Application Insights too."""
    handlers = logging.getLogger(source).handlers
    for name in targets:
        logger = logging.getLogger(name)
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
