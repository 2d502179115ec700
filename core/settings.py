"""App settings of the Functions app (environment variables), read once into a frozen Settings.

docs/CONFIGURATION.md documents each setting; local.settings.example.json lists them. A bad value
raises ConfigError with a one-line message naming the setting.
"""

from __future__ import annotations

import binascii
import logging
import os
import re
import threading
from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from azure.core.utils import parse_connection_string

from core.arm_ids import is_guid
from core.azure_clients import ARM_ENDPOINT
from core.log_safety import protect_handlers

_log = logging.getLogger("appgw_doctor")
# A lease is renewed between stages, so it must outlast the longest one: a notification retries for
# up to 120 s, a diagnosis makes many ARM calls with their own retries.
MIN_LEASE_SECONDS = 300
# The top-level packages whose loggers the app's telemetry exports (not the Azure SDK's chatter).
APP_LOGGERS = ("appgw_doctor", "intake", "state", "diagnostics", "notifications", "remediation", "netrules")


# App settings that configure notification channels (see notifications.routing).
NOTIFICATION_PREFIXES = ("TEAMS_", "NOTIFY_", "SMTP_", "EMAIL_")
REMEDIATION_MODES = ("tags", "dry-run", "off")
# How much work one trigger may queue (docs/CONFIGURATION.md, "Limits").
DEFAULT_MAX_ALERT_TARGETS = 50  # gateways one alert may name; more is refused (422)
DEFAULT_MAX_EVENT_TARGETS = 50  # gateways one Event Grid event may queue checks for
DEFAULT_MAX_SWEEP_GATEWAYS = 500  # gateways one hourly sweep may queue; the next sweeps cover the rest
# The hourly sweep (README "Configuration"): spread over this many minutes (the next sweep starts at
# 60), at most this many sweep items worked on at once fleet-wide, a full diagnosis at least this often.
DEFAULT_SWEEP_SPREAD_MINUTES = 50.0
DEFAULT_SWEEP_CONCURRENCY = 8
DEFAULT_SWEEP_FULL_EVERY_HOURS = 24.0
# "What changed?" (issue 14): how far before the incident a diagnosis reads the Activity Log.
DEFAULT_CHANGE_LOOKBACK_HOURS = 24.0


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
    state_retention_days: int = 90  # closed incidents, diagnoses, settled deliveries older are pruned
    app_insights_connection_string: str | None = None
    # Resolve FQDN backends through the VNet's custom DNS servers (needs VNet integration in Azure).
    dns_resolve_custom: bool = False
    # The notification settings as given (TEAMS_*, NOTIFY_*, SMTP_*, EMAIL_*): the notifications
    # package resolves each channel from them on its own, so a bad email setting never silences Teams.
    notification_settings: tuple[tuple[str, str], ...] = ()
    incident_url_template: str | None = None  # e.g. https://ops.example.com/incidents/{incident_id}
    # Guarded remediation (docs/CONFIGURATION.md): the fleet-wide mode and the guards' limits.
    remediation: str = "tags"  # tags | dry-run | off
    remediation_max_request_timeout: int = 120
    remediation_cooldown_minutes: float = 60.0
    remediation_max_changes_per_hour: int = 10
    remediation_verify_seconds: float = 300.0
    remediation_max_actions_per_incident: int = 1
    # Mode approve: the approval links' signing key (a Key Vault reference), how long a link lives,
    # where the app is reached from a browser, and who may decide (empty: anyone with a link).
    approval_signing_key: str | None = field(default=None, repr=False)
    approval_ttl_minutes: float = 60.0
    approval_base_url: str | None = None
    approvers: frozenset[str] | None = None
    # Caps on the work one trigger may queue.
    max_alert_targets: int = DEFAULT_MAX_ALERT_TARGETS
    max_event_targets: int = DEFAULT_MAX_EVENT_TARGETS
    max_sweep_gateways: int = DEFAULT_MAX_SWEEP_GATEWAYS
    # The sweep's pacing (README "Configuration").
    sweep_spread_minutes: float = DEFAULT_SWEEP_SPREAD_MINUTES
    sweep_concurrency: int = DEFAULT_SWEEP_CONCURRENCY
    sweep_full_every_hours: float = DEFAULT_SWEEP_FULL_EVERY_HOURS
    # The work queue's account (AzureWebJobsStorage, the queue bindings' connection), for messages
    # sent with a delay: a connection string, or the queue endpoint for identity-based access.
    work_queue_connection: str | None = None
    work_queue_endpoint: str | None = None
    # The Activity Log look-back of every diagnosis (hours before the incident; 0: not read).
    change_lookback_hours: float = DEFAULT_CHANGE_LOOKBACK_HOURS

    @property
    def notifications(self) -> dict[str, str]:
        return dict(self.notification_settings)

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
        queue_endpoint = f"https://{account}.queue.core.windows.net" if account else None
        return cls(
            allowed_subscriptions=allowed,
            sweep_subscriptions=sweep,
            storage_connection_string=_connection_string(
                get("STATE_STORAGE_CONNECTION"), "STATE_STORAGE_CONNECTION"
            )
            or _connection_string(get("AzureWebJobsStorage"), "AzureWebJobsStorage"),
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
            state_retention_days=_count(get("STATE_RETENTION_DAYS"), "STATE_RETENTION_DAYS", 90, 3650),
            app_insights_connection_string=get("APPLICATIONINSIGHTS_CONNECTION_STRING"),
            dns_resolve_custom=_flag(get("DNS_RESOLVE_CUSTOM"), "DNS_RESOLVE_CUSTOM"),
            notification_settings=tuple(
                sorted(
                    (name, value)
                    for name, value in env.items()
                    if name.upper().startswith(NOTIFICATION_PREFIXES) and value.strip()
                )
            ),
            incident_url_template=_url_template(get("INCIDENT_URL_TEMPLATE")),
            remediation=_choice(get("REMEDIATION"), "REMEDIATION", REMEDIATION_MODES),
            remediation_max_request_timeout=int(
                _number(
                    get("REMEDIATION_MAX_REQUEST_TIMEOUT"), "REMEDIATION_MAX_REQUEST_TIMEOUT", 120, 1, 86400
                )
            ),
            remediation_cooldown_minutes=_number(
                get("REMEDIATION_COOLDOWN_MINUTES"), "REMEDIATION_COOLDOWN_MINUTES", 60, 0, 10080
            ),
            remediation_max_changes_per_hour=int(
                _number(
                    get("REMEDIATION_MAX_CHANGES_PER_HOUR"), "REMEDIATION_MAX_CHANGES_PER_HOUR", 10, 0, 1000
                )
            ),
            remediation_verify_seconds=_number(
                get("REMEDIATION_VERIFY_SECONDS"), "REMEDIATION_VERIFY_SECONDS", 300, 1, 3600
            ),
            remediation_max_actions_per_incident=int(
                _number(
                    get("REMEDIATION_MAX_ACTIONS_PER_INCIDENT"),
                    "REMEDIATION_MAX_ACTIONS_PER_INCIDENT",
                    1,
                    0,
                    3,
                )
            ),
            approval_signing_key=_signing_key(get("APPROVAL_SIGNING_KEY")),
            approval_ttl_minutes=_number(get("APPROVAL_TTL_MINUTES"), "APPROVAL_TTL_MINUTES", 60, 1, 1440),
            approval_base_url=_base_url(get("APPROVAL_BASE_URL"), get("WEBSITE_HOSTNAME")),
            approvers=frozenset(a.strip().lower() for a in (get("APPROVERS") or "").split(",") if a.strip())
            or None,
            max_alert_targets=_count(
                get("MAX_ALERT_TARGETS"), "MAX_ALERT_TARGETS", DEFAULT_MAX_ALERT_TARGETS, 1000
            ),
            max_event_targets=_count(
                get("MAX_EVENT_TARGETS"), "MAX_EVENT_TARGETS", DEFAULT_MAX_EVENT_TARGETS, 1000
            ),
            max_sweep_gateways=_count(
                get("MAX_SWEEP_GATEWAYS"), "MAX_SWEEP_GATEWAYS", DEFAULT_MAX_SWEEP_GATEWAYS, 10000
            ),
            sweep_spread_minutes=_number(
                get("SWEEP_SPREAD_MINUTES"), "SWEEP_SPREAD_MINUTES", DEFAULT_SWEEP_SPREAD_MINUTES, 0, 59
            ),
            sweep_concurrency=_count(
                get("SWEEP_CONCURRENCY"), "SWEEP_CONCURRENCY", DEFAULT_SWEEP_CONCURRENCY, 1000
            ),
            sweep_full_every_hours=_number(
                get("SWEEP_FULL_EVERY_HOURS"),
                "SWEEP_FULL_EVERY_HOURS",
                DEFAULT_SWEEP_FULL_EVERY_HOURS,
                1,
                720,
            ),
            work_queue_connection=_connection_string(get("AzureWebJobsStorage"), "AzureWebJobsStorage"),
            work_queue_endpoint=queue_endpoint,
            change_lookback_hours=_number(
                get("CHANGE_LOOKBACK_HOURS"), "CHANGE_LOOKBACK_HOURS", DEFAULT_CHANGE_LOOKBACK_HOURS, 0, 2160
            ),
        )


def parse_subscriptions(text: str, setting: str) -> tuple[str, ...]:
    """Comma- or space-separated subscription GUIDs, lower-cased."""
    items = [item for item in re.split(r"[,\s;]+", text) if item]
    bad = [item for item in items if not is_guid(item)]
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


def _flag(text: str | None, name: str) -> bool:
    if text is None:
        return False
    value = text.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {text!r}")


def _choice(text: str | None, name: str, choices: tuple[str, ...]) -> str:
    if text is None:
        return choices[0]
    if text.lower() not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {text!r}")
    return text.lower()


def _signing_key(text: str | None) -> str | None:
    """APPROVAL_SIGNING_KEY: at least 32 characters of secret (e.g. `openssl rand -base64 48`)."""
    if text is None:
        return None
    if len(text) < 32:
        raise ConfigError(
            "APPROVAL_SIGNING_KEY must be at least 32 characters (e.g. openssl rand -base64 48)"
        )
    return text


def _base_url(text: str | None, hostname: str | None) -> str | None:
    """APPROVAL_BASE_URL (https://..., no path), else the Functions app's own https://WEBSITE_HOSTNAME."""
    if text is None:
        return f"https://{hostname}" if hostname else None
    parsed = urlsplit(text)
    local = parsed.hostname in ("127.0.0.1", "localhost")
    if (
        parsed.scheme not in ("https", "http")
        or (parsed.scheme == "http" and not local)
        or not parsed.hostname
    ):
        raise ConfigError(
            f"APPROVAL_BASE_URL must be an https:// URL (http only for localhost), not {text[:80]!r}"
        )
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise ConfigError("APPROVAL_BASE_URL must be the app's base URL, without a path, query or fragment")
    return f"{parsed.scheme}://{parsed.netloc}"


def _url_template(text: str | None) -> str | None:
    """INCIDENT_URL_TEMPLATE, where `{incident_id}` is the only placeholder. A malformed one is logged
    and dropped (messages go out without the link) rather than refusing every alert over a link."""
    if text is None:
        return None
    try:
        text.format(incident_id="x")
    except (KeyError, IndexError, ValueError):
        _log.warning("INCIDENT_URL_TEMPLATE ignored: it may hold only the placeholder {incident_id}")
        return None
    return text


def _count(text: str | None, name: str, default: int, high: int) -> int:
    """A whole number from 1 to `high`."""
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise ConfigError(f"{name} must be a whole number from 1 to {high}, not {text[:40]!r}")
    return int(text)


def _connection_string(text: str | None, name: str) -> str | None:
    """A storage connection string the Tables SDK can use: `UseDevelopmentStorage=true`, or
    `Name=value;...` pairs with AccountName and AccountKey (base64) or a SharedAccessSignature, and
    a table endpoint (TableEndpoint, else the account's). The message never repeats the value (a secret)."""
    if text is None or text.lower() == "usedevelopmentstorage=true":
        return text
    try:
        parts = parse_connection_string(text)
    except ValueError:
        raise ConfigError(
            f"{name} is not a storage connection string (Name=value pairs separated by ';')"
        ) from None
    if not (parts.get("accountname") and parts.get("accountkey")) and not parts.get("sharedaccesssignature"):
        raise ConfigError(f"{name} needs AccountName and AccountKey, or a SharedAccessSignature")
    if parts.get("accountkey"):
        try:
            b64decode(parts["accountkey"], validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{name}: AccountKey is not base64") from None
    endpoint = parts.get("tableendpoint")
    if endpoint is None and not parts.get("accountname"):
        raise ConfigError(f"{name} names no table endpoint (TableEndpoint or AccountName)")
    for key, label in (
        ("tableendpoint", "TableEndpoint"),
        ("tablesecondaryendpoint", "TableSecondaryEndpoint"),
    ):
        if key in parts:
            url = urlsplit(parts[key])
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ConfigError(f"{name}: {label} is not an http(s) URL")
    if "tablesecondaryendpoint" in parts and endpoint is None:
        raise ConfigError(f"{name} names a secondary table endpoint but no TableEndpoint")
    return text


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
    telemetry does not pay for it.

    Every handler logging goes through (the Functions host's, the exporter's) gets the log-safety
    filter (`core.log_safety`): secrets redacted, control characters escaped, third-party DEBUG records
    included. That runs on every call, so a handler added since is covered too."""
    global _telemetry_configured
    protect_handlers(APP_LOGGERS)
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
        protect_handlers(APP_LOGGERS)


def share_handlers(source: str, targets: tuple[str, ...]) -> None:
    """Give the other app loggers the handlers configured on `source` (the exporter attaches its
    handler to one named logger), so e.g. `notifications.*` records reach Application Insights too."""
    handlers = logging.getLogger(source).handlers
    for name in targets:
        logger = logging.getLogger(name)
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
