"""The one ISO-8601 parser: Azure's time stamps (7 fractional digits, `Z`) and durations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.iso8601 import format_duration, format_time, parse_duration, parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T10:27:00Z", datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)),
        ("2026-11-23T10:47:12.1234567Z", datetime(2026, 11, 23, 10, 47, 12, 123456, tzinfo=timezone.utc)),
        ("2026-11-23T11:27:00+01:00", datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)),
        ("2026-11-23T10:27:00", datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)),
    ],
)
def test_times_as_azure_writes_them(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "10:27"])
def test_not_a_time_is_a_value_error_naming_it(text):
    with pytest.raises(ValueError, match="not an ISO-8601 time"):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("PT5M", timedelta(minutes=5)), ("PT1H", timedelta(hours=1)), ("P1D", timedelta(days=1)),
     ("P1W", timedelta(weeks=1)), ("PT0.5S", timedelta(seconds=0.5)), ("pt15m", timedelta(minutes=15)),
     ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30))],
)  # fmt: skip
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "P1DT", "5 minutes", "PT-5M", "", "5M", "PT5X"])
def test_not_a_duration_is_a_value_error(text):
    with pytest.raises(ValueError, match="not an ISO-8601 duration"):
        parse_duration(text)


def test_format_duration_uses_azure_spelling():
    assert format_duration(timedelta(minutes=1)) == "PT1M"
    assert format_duration(timedelta(hours=1)) == "PT1H"
    assert format_duration(timedelta(days=1)) == "P1D"


@given(st.integers(min_value=1, max_value=10 * 86400))
def test_format_duration_round_trips_whole_seconds(seconds):
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_format_time_round_trips_to_the_second(moment):
    assert parse_time(format_time(moment)) == moment.replace(microsecond=0, tzinfo=timezone.utc)
