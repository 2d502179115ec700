"""A Teams webhook's signature never reaches a log, whoever logs the URL: the app's log-safety filter
(core.log_safety) is on the handlers, and urllib3 and azure.core log real requests at DEBUG here, to
a real local receiver."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from azure.core import PipelineClient
from azure.core.pipeline.policies import HttpLoggingPolicy, NetworkTraceLoggingPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from core.log_safety import protect_handlers
from notifications.dispatch import post_teams

SIGNATURE = "Xq3vS1gn4tur3Secr3tValue0123456789abcdefAB"
QUERY = f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIGNATURE}"


class Keep(logging.Handler):
    """Keeps each record as the handler got it, and what its formatter wrote."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.stream = io.StringIO()
        self.writer = logging.StreamHandler(self.stream)
        self.writer.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.writer.emit(record)


@pytest.fixture
def root_handler() -> Iterator[Keep]:
    """A handler on the root logger (where the Functions host's sits) protected as the app protects its
    handlers, with urllib3 and azure.core logging at DEBUG."""
    handler = Keep()
    root = logging.getLogger()
    root.addHandler(handler)
    levels = {name: logging.getLogger(name).level for name in ("urllib3", "azure.core")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    protect_handlers()
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def everything_logged(handler: Keep) -> str:
    records = "\n".join(
        f"{record.getMessage()} {record.args!r} {vars(record)!r}" for record in handler.records
    )
    return records + "\n" + handler.stream.getvalue()


def test_urllib3_debug_lines_of_a_real_teams_post_carry_no_signature(webhook, root_handler) -> None:
    post_teams(b'{"type":"message"}', webhook.url + QUERY, timeout=10)
    assert len(webhook.posts) == 1  # the post really went out, with its signature
    request_lines = [
        r for r in root_handler.records if r.name.startswith("urllib3") and "/paths/invoke" in r.getMessage()
    ]
    assert request_lines, [r.getMessage() for r in root_handler.records]
    assert "sig=[redacted]" in request_lines[0].getMessage()
    assert "api-version=2016-06-01" in request_lines[0].getMessage()  # only the secret goes
    assert SIGNATURE not in everything_logged(root_handler)


def test_a_failed_post_logs_no_signature_either(closed_port, root_handler) -> None:
    url = f"http://127.0.0.1:{closed_port}/workflows/abc/triggers/manual/paths/invoke{QUERY}"
    logging.getLogger("notifications.dispatch").warning("posting to %s", url)
    with pytest.raises(Exception) as raised:
        post_teams(b"{}", url, timeout=5)
    logging.getLogger("notifications.dispatch").error("post failed: %s", raised.value, exc_info=raised.value)
    logged = everything_logged(root_handler)
    assert "post failed" in logged and "posting to" in logged
    assert SIGNATURE not in logged


def test_azure_core_network_trace_carries_no_signature(webhook, root_handler) -> None:
    """azure.core's network trace logs the full URL and headers at DEBUG."""
    client = PipelineClient(
        base_url=webhook.url,
        policies=[HttpLoggingPolicy(), NetworkTraceLoggingPolicy(logging_enable=True)],
        transport=RequestsTransport(),
    )
    with client:
        response = client.send_request(HttpRequest("POST", webhook.url + QUERY, json={"type": "message"}))
    assert response.status_code == 202 and len(webhook.posts) == 1
    traced = [r.getMessage() for r in root_handler.records if r.name.startswith("azure.core")]
    assert any("/paths/invoke" in line for line in traced), traced
    assert SIGNATURE not in everything_logged(root_handler)
