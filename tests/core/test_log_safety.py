"""Log safety: one record is one line, and no secret is written, by the app's handlers or the exporter."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from appgw_doctor.pipeline import SWEEP, Report, WorkItem, _log_outcome
from core.log_safety import (
    SafeLogFilter,
    escape_controls,
    protect_handlers,
    redact_secrets,
    safe_log_text,
)
from core.settings import APP_LOGGERS, Settings, configure_telemetry

FORGED = "gw\r\nINFO appgw_doctor.pipeline incident=forged outcome=resolved"
GATEWAY = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network"
SIGNED = "https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke"
SIGNED += "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S3cr3tSignatureValue"


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What a plain stream handler on the app's logger writes, with the app's protection installed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger(APP_LOGGERS[0])
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    protect_handlers(APP_LOGGERS)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_crlf_in_a_gateway_id_does_not_forge_a_second_outcome_line(written) -> None:
    item = WorkItem(kind=SWEEP, gateway_id=f"{GATEWAY}/applicationGateways/{FORGED}", sweep_id="s\n1")
    _log_outcome(Report(item=item))
    lines = written.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("INFO appgw_doctor.pipeline incident=- gateway=")
    assert "gw\\r\\nINFO appgw_doctor.pipeline incident=forged" in lines[0]


def test_extra_fields_are_escaped_too(written) -> None:
    """`extra` becomes custom dimensions in Application Insights: the same rules apply."""
    logging.getLogger("appgw_doctor.test").info("refused", extra={"alert_id": "a\r\nb\x1b[2J", "count": 3})
    [line] = written.getvalue().splitlines()
    assert line == "INFO appgw_doctor.test refused"


def test_the_exporter_gets_safe_bodies_dimensions_and_exceptions() -> None:
    """The real OpenTelemetry handler (what configure_azure_monitor attaches), exporting in memory."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger("notifications.test_export")
    logger.addHandler(handler)
    protect_handlers(["notifications.test_export"])
    try:
        logger.warning("alert %s refused", FORGED, extra={"webhook": SIGNED, "alert_id": FORGED})
        try:
            raise ConnectionError(f"Max retries exceeded with url: {SIGNED}")
        except ConnectionError:
            logger.exception("post failed")
    finally:
        logger.removeHandler(handler)
    first, second = (data.log_record for data in exporter.get_finished_logs())
    assert "\n" not in str(first.body) and "\r" not in str(first.body)
    assert first.attributes["alert_id"] == FORGED.replace("\r", "\\r").replace("\n", "\\n")
    assert "S3cr3t" not in first.attributes["webhook"] and "sig=[redacted]" in first.attributes["webhook"]
    exported = repr(second.body) + repr(dict(second.attributes))
    assert "S3cr3t" not in exported and "sig=[redacted]" in exported
    assert second.attributes["exception.type"] == "ConnectionError"


def test_control_characters_are_written_as_escapes() -> None:
    assert escape_controls("a\r\nb\tc\x00\x1b[31m\x85\u2028\u202e\ud800") == (
        "a\\r\\nb\\tc\\x00\\x1b[31m\\x85\\u2028\\u202e\\ud800"
    )
    assert escape_controls("plain text, é, 日本") == "plain text, é, 日本"


def test_secrets_are_redacted_and_the_rest_kept() -> None:
    assert redact_secrets(SIGNED).endswith(
        "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=[redacted]"
    )
    assert redact_secrets("POST /invoke?sig%3DabcDEF HTTP/1.1") == "POST /invoke?sig%3D[redacted] HTTP/1.1"
    assert redact_secrets("https://fn.azurewebsites.net/api/alerts?code=k3y==&x=1") == (
        "https://fn.azurewebsites.net/api/alerts?code=[redacted]&x=1"
    )
    assert redact_secrets("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc+/==;Suffix=x") == (
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=[redacted];Suffix=x"
    )
    assert redact_secrets("Authorization: Bearer eyJ0eXAi.eyJhbGci.sig") == "Authorization: Bearer [redacted]"
    assert redact_secrets("error code=500 in GET /subscriptions?api-version=2023-09-01") == (
        "error code=500 in GET /subscriptions?api-version=2023-09-01"
    )
    twice = safe_log_text(safe_log_text(SIGNED + "\r\n"))
    assert twice == safe_log_text(SIGNED + "\r\n")  # idempotent: every handler may run it


def test_a_record_whose_arguments_do_not_format_is_left_for_logging_to_report() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert SafeLogFilter().filter(record) is True
    assert record.msg == "%d items" and record.args == ("many",)


def test_configure_telemetry_protects_every_handler_even_without_a_connection_string() -> None:
    handler = logging.StreamHandler(io.StringIO())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        configure_telemetry(Settings())
        configure_telemetry(Settings())
        assert sum(isinstance(f, SafeLogFilter) for f in handler.filters) == 1
        assert protect_handlers(APP_LOGGERS) == 0  # idempotent
    finally:
        root.removeHandler(handler)
