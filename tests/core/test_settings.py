"""App settings: parsed once into Settings; a bad value is a one-line ConfigError naming the setting."""

from __future__ import annotations

import logging
import sys

import pytest

from core.azure_clients import ARM_ENDPOINT
from core.settings import ConfigError, Settings, configure_telemetry

SUB_A = "00000000-0000-0000-0000-00000000000A"
SUB_B = "00000000-0000-0000-0000-00000000000b"


ENV = {
    "ALLOWED_SUBSCRIPTIONS": f"{SUB_A}, {SUB_B};{SUB_A}",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "SECURE_WEBHOOK_TENANT_ID": "t",
    "SECURE_WEBHOOK_AUDIENCE": "api://a",
    "ARM_ENDPOINT": "https://127.0.0.1:8443/",
    "DNS_SERVER_MAP": "10.1.2.4=127.0.0.1:5353, 10.1.2.5=localhost:53",
}


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.allowed_subscriptions == ()
    assert settings.arm_endpoint == ARM_ENDPOINT
    assert settings.table_prefix == "appgwdoctor"
    assert settings.lease_seconds == 600
    assert settings.incident_join_hours == 6
    assert settings.state_retention_days == 90
    assert not settings.secure_webhook_enabled
    assert settings.storage_connection_string is None and settings.table_endpoint is None


def test_values_are_parsed() -> None:
    settings = Settings.from_env({**ENV, "LEASE_SECONDS": "400", "INCIDENT_JOIN_HOURS": "2.5"})
    assert settings.allowed_subscriptions == (SUB_A.lower(), SUB_B.lower())
    assert settings.sweep_subscriptions == settings.allowed_subscriptions
    assert Settings.from_env({**ENV, "SWEEP_SUBSCRIPTIONS": SUB_B}).sweep_subscriptions == (SUB_B.lower(),)
    assert settings.secure_webhook_enabled
    assert settings.arm_endpoint == "https://127.0.0.1:8443"
    assert settings.dns_server_map == (("10.1.2.4", "127.0.0.1", 5353), ("10.1.2.5", "localhost", 53))
    assert settings.lease_seconds == 400 and settings.incident_join_hours == 2.5
    assert Settings.from_env({**ENV, "STATE_RETENTION_DAYS": "30"}).state_retention_days == 30
    assert hash(settings) == hash(
        Settings.from_env({"LEASE_SECONDS": "400", "INCIDENT_JOIN_HOURS": "2.5", **ENV})
    )  # cache key


def test_identity_based_storage_uses_the_table_endpoint() -> None:
    assert (
        Settings.from_env({"AzureWebJobsStorage__accountName": "stappgw"}).table_endpoint
        == "https://stappgw.table.core.windows.net"
    )
    assert Settings.from_env({"STATE_TABLE_ENDPOINT": "https://x.table.core.windows.net"}).table_endpoint


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"ALLOWED_SUBSCRIPTIONS": "prod-subscription"}, "ALLOWED_SUBSCRIPTIONS"),
        ({"ALLOWED_SUBSCRIPTIONS": SUB_A, "SWEEP_SUBSCRIPTIONS": SUB_B}, "SWEEP_SUBSCRIPTIONS"),
        ({"SECURE_WEBHOOK_TENANT_ID": "t"}, "SECURE_WEBHOOK_AUDIENCE"),
        ({"SECURE_WEBHOOK_AUDIENCE": "a"}, "SECURE_WEBHOOK_TENANT_ID"),
        ({"STATE_TABLE_PREFIX": "app-gw"}, "STATE_TABLE_PREFIX"),
        ({"STATE_TABLE_PREFIX": "1abc"}, "STATE_TABLE_PREFIX"),
        ({"LEASE_SECONDS": "ten"}, "LEASE_SECONDS"),
        ({"LEASE_SECONDS": "5"}, "LEASE_SECONDS"),
        ({"LEASE_SECONDS": "120"}, "LEASE_SECONDS"),  # shorter than a notification may retry
        ({"INCIDENT_JOIN_HOURS": "0"}, "INCIDENT_JOIN_HOURS"),
        ({"INCIDENT_JOIN_HOURS": "forever"}, "INCIDENT_JOIN_HOURS"),
        ({"STATE_RETENTION_DAYS": "0"}, "STATE_RETENTION_DAYS"),
        ({"STATE_RETENTION_DAYS": "1.5"}, "STATE_RETENTION_DAYS"),
        ({"STATE_RETENTION_DAYS": "forever"}, "STATE_RETENTION_DAYS"),
        ({"ARM_POLLING_INTERVAL": "0"}, "ARM_POLLING_INTERVAL"),
        ({"DNS_SERVER_MAP": "10.1.2.4"}, "DNS_SERVER_MAP"),
        ({"DNS_SERVER_MAP": "10.1.2.4=host:port"}, "DNS_SERVER_MAP"),
        ({"MAX_ALERT_TARGETS": "0"}, "MAX_ALERT_TARGETS"),
        ({"MAX_ALERT_TARGETS": "2.5"}, "MAX_ALERT_TARGETS"),
        ({"MAX_ALERT_TARGETS": "1001"}, "MAX_ALERT_TARGETS"),
        ({"MAX_EVENT_TARGETS": "-1"}, "MAX_EVENT_TARGETS"),
        ({"MAX_SWEEP_GATEWAYS": "all"}, "MAX_SWEEP_GATEWAYS"),
        ({"AzureWebJobsStorage": "not a connection string"}, "AzureWebJobsStorage"),
        ({"AzureWebJobsStorage": "AccountName=a;AccountKey=c2VjcmV0;AccountName=b"}, "AzureWebJobsStorage"),
        ({"STATE_STORAGE_CONNECTION": "AccountName=a;AccountKey=not*base64"}, "STATE_STORAGE_CONNECTION"),
        ({"STATE_STORAGE_CONNECTION": "AccountName=a"}, "STATE_STORAGE_CONNECTION"),
        ({"STATE_STORAGE_CONNECTION": "SharedAccessSignature=sig"}, "STATE_STORAGE_CONNECTION"),
        (
            {"STATE_STORAGE_CONNECTION": "AccountName=a;AccountKey=c2VjcmV0;TableEndpoint=ftp://x"},
            "STATE_STORAGE_CONNECTION",
        ),
        (
            {
                "STATE_STORAGE_CONNECTION": "AccountName=a;AccountKey=c2VjcmV0;TableSecondaryEndpoint=https://x"
            },
            "STATE_STORAGE_CONNECTION",
        ),
    ],
)
def test_bad_values_name_the_setting(env, setting) -> None:
    with pytest.raises(ConfigError, match=setting):
        Settings.from_env(env)


def test_work_caps_default_and_parse() -> None:
    defaults = Settings.from_env({})
    assert (defaults.max_alert_targets, defaults.max_event_targets, defaults.max_sweep_gateways) == (
        50,
        50,
        500,
    )
    settings = Settings.from_env(
        {"MAX_ALERT_TARGETS": "7", "MAX_EVENT_TARGETS": "3", "MAX_SWEEP_GATEWAYS": "10000"}
    )
    assert (settings.max_alert_targets, settings.max_event_targets, settings.max_sweep_gateways) == (
        7,
        3,
        10000,
    )


@pytest.mark.parametrize(
    "value",
    [
        "UseDevelopmentStorage=true",
        "DefaultEndpointsProtocol=https;AccountName=stappgw;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;"
        "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
        "TableEndpoint=https://stappgw.table.core.windows.net/;SharedAccessSignature=sv=2024-01-01&sig=abc%3D",
    ],
)
def test_storage_connection_strings_the_sdk_takes_are_accepted(value) -> None:
    assert Settings.from_env({"STATE_STORAGE_CONNECTION": value}).storage_connection_string == value


def test_a_malformed_connection_string_is_named_but_never_repeated() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"AzureWebJobsStorage": "AccountName=a;AccountKey=c2VjcmV0!!"})
    assert "AzureWebJobsStorage" in str(caught.value) and "c2VjcmV0" not in str(caught.value)


def test_telemetry_without_the_exporter_installed_logs_a_warning_once(caplog, monkeypatch) -> None:
    import core.settings as config

    monkeypatch.setattr(config, "_telemetry_configured", False)
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", None)  # as if not installed
    settings = Settings(app_insights_connection_string="InstrumentationKey=0;IngestionEndpoint=https://x")
    with caplog.at_level(logging.WARNING, logger="appgw_doctor"):
        configure_telemetry(settings)
        configure_telemetry(settings)
    (record,) = caplog.records
    assert "azure-monitor-opentelemetry is not installed" in record.getMessage()


def test_telemetry_handlers_cover_every_app_logger_not_just_appgw_doctor() -> None:
    from core.settings import APP_LOGGERS, share_handlers

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.INFO)
            self.names: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.names.append(record.name)

    exporter = Keep()  # stands in for the handler configure_azure_monitor attaches to one logger
    source = logging.getLogger(APP_LOGGERS[0])
    source.addHandler(exporter)
    try:
        share_handlers(APP_LOGGERS[0], APP_LOGGERS[1:])
        share_handlers(APP_LOGGERS[0], APP_LOGGERS[1:])  # idempotent: no duplicate records
        for name in ("appgw_doctor.pipeline", "notifications.dispatch", "intake.webhook"):
            logging.getLogger(name).warning("x")
        logging.getLogger("azure.core").warning("not ours")
        assert exporter.names == ["appgw_doctor.pipeline", "notifications.dispatch", "intake.webhook"]
    finally:
        for name in APP_LOGGERS:
            logging.getLogger(name).removeHandler(exporter)


def test_local_settings_example_lists_every_setting_the_code_reads() -> None:
    import json
    from pathlib import Path

    from tests.infra.test_infra import settings_read_by_code

    root = Path(__file__).resolve().parents[2]
    listed = set(json.loads((root / "local.settings.example.json").read_text())["Values"])
    optional_forms = {
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__tableServiceUri",
        "DNS_RESOLVE_CUSTOM",
        "WEBSITE_HOSTNAME",
    }  # fmt: skip  (WEBSITE_*: set by the host)
    names, _ = settings_read_by_code()
    assert names - optional_forms - listed == set()
