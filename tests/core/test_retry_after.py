"""core.retry_after: the one Retry-After reader for ARM calls and notification deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from core.retry_after import parse_retry_after, requested_wait

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def test_reads_delta_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(format_datetime(NOW + timedelta(seconds=30), usegmt=True), now=NOW) == 30
    assert parse_retry_after(format_datetime(NOW - timedelta(seconds=30), usegmt=True), now=NOW) == 0


def test_absent_or_nonsense_asks_for_no_particular_wait() -> None:
    for value in (None, "", "soon", "inf", "nan", "Mon, 99 Foo"):
        assert parse_retry_after(value) is None, value
    assert parse_retry_after("-3") == 0


def test_azure_millisecond_headers_win_over_retry_after() -> None:
    assert requested_wait({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert requested_wait({"x-ms-retry-after-ms": "1500"}) == 1.5
    assert requested_wait({"retry-after-ms": "junk", "Retry-After": "4"}) == 4
    assert requested_wait({}) is None and requested_wait(None) is None
