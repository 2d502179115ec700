"""ISO-8601 times and durations as Azure writes them: one parser for alerts, the CLI, the diagnosis
window and the simulator's metrics queries."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_FRACTION = re.compile(r"(\.\d{1,6})\d*")  # Azure writes up to 7 fractional digits
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


def as_utc(moment: datetime) -> datetime:
    """Naive times are taken as UTC, as Azure writes them."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def parse_time(text: str) -> datetime:
    """`2026-11-23T10:27:00Z`, `...:12.1234567Z`, `...+01:00` -> aware UTC datetime; ValueError otherwise."""
    normalized = _FRACTION.sub(r"\1", text.strip().replace("Z", "+00:00").replace("z", "+00:00"), count=1)
    try:
        return as_utc(datetime.fromisoformat(normalized))
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {text!r}") from None


def format_time(moment: datetime) -> str:
    """`2026-11-23T10:00:00Z`, as ARM and Azure Monitor write times."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> timedelta:
    """`PT5M`, `PT1H`, `P1D`, `P1W`, `PT0.5S` -> timedelta; ValueError for anything else (also `P`, `PT`)."""
    stripped = text.strip()
    match = _DURATION.match(stripped)
    if not match or not any(match.groupdict().values()) or stripped.upper().endswith("T"):
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    return timedelta(**{unit: float(value) for unit, value in match.groupdict().items() if value})


def format_duration(delta: timedelta) -> str:
    """`PT1M`, `PT1H`, `P1D`: the way Azure echoes an interval."""
    seconds = int(delta.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = "P" + (f"{days}D" if days else "")
    clock = (
        (f"{hours}H" if hours else "")
        + (f"{minutes}M" if minutes else "")
        + (f"{seconds}S" if seconds else "")
    )
    if clock or not days:
        text += "T" + (clock or "0S")
    return text


def spoken_duration(delta: timedelta) -> str:
    """`less than a minute`, `6 min`, `1 h 20 min`, `5 h`, `3 days`: how long, as a person says it."""
    minutes = int(abs(delta).total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 3 and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
