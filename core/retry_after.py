"""The one `Retry-After` reader, for ARM calls and notification deliveries alike."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def requested_wait(headers: Mapping[str, str] | None) -> float | None:
    """The wait a response asked for: `retry-after-ms` / `x-ms-retry-after-ms` (Azure's
    millisecond forms) first, then `Retry-After`; None when it asked for none."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms") or headers.get("x-ms-retry-after-ms")
    if millis:
        try:
            seconds = float(millis) / 1000
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return parse_retry_after(headers.get("Retry-After"))
