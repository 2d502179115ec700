"""ARM throttling seen by any diagnosis, per subscription: what slows every sweep item down.

`ThrottleWatch` is an Azure SDK pipeline policy (installed on the SDK clients by `appgw_doctor.wiring`,
after the SDK's retry policy, so it sees every attempt): each `429` answer notes "ARM throttles this
subscription until now + Retry-After" (Azure's millisecond headers first, like `core.arm`; 1 s when
the answer names no wait). The pipeline reads these notes before it starts a sweep item, and records
them in the state store as they come (`listen`: called on the SDK's thread, at most once per
`RECORD_GAP_SECONDS` of extension per subscription), so that the other instances see them while the
throttling lasts: a sweep item waits until the subscription is no longer throttled, or is deferred.
Alerts never wait for it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy

from core.retry_after import requested_wait

log = logging.getLogger("appgw_doctor.throttle")

_SUBSCRIPTION = re.compile(r"/subscriptions/([0-9a-fA-F-]{36})(?:/|$|\?)")
DEFAULT_THROTTLE_SECONDS = 1.0  # a 429 that names no wait
RECORD_GAP_SECONDS = 1.0  # a note is recorded when it extends the last recorded one by more than this


class ThrottleWatch(SansIOHTTPPolicy):
    """Notes, per subscription, until when ARM asked us to back off (thread-safe)."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, datetime] = {}
        self._saved: dict[str, datetime] = {}
        self._listeners: list[Callable[[], None]] = []
        self.throttled = 0  # 429 answers seen

    def listen(self, record: Callable[[], None]) -> None:
        """Call `record` (which records `unsaved()` and marks it `saved`) when a note extends the last
        recorded one by more than RECORD_GAP_SECONDS; its failures are logged, never raised."""
        self._listeners.append(record)

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        http = response.http_response
        if http.status_code != 429:
            return
        match = _SUBSCRIPTION.search(request.http_request.url)
        wait = requested_wait(http.headers)
        self.note(
            match.group(1) if match else "",
            self._clock() + timedelta(seconds=DEFAULT_THROTTLE_SECONDS if wait is None else wait),
        )

    def note(self, subscription: str, until: datetime) -> None:
        with self._lock:
            self.throttled += 1
            key = subscription.lower()
            if key not in self._until or self._until[key] < until:
                self._until[key] = until
            saved = self._saved.get(key)
            due = bool(key) and (saved is None or (until - saved).total_seconds() > RECORD_GAP_SECONDS)
        for record in self._listeners if due else []:
            try:
                record()
            except Exception:  # the ARM call goes on; the next 429 tries again
                log.exception("could not record ARM throttling of subscription %s", key)

    def until(self, subscription: str) -> datetime | None:
        """The latest back-off time seen for the subscription (ids without one count for all)."""
        with self._lock:
            times = [t for t in (self._until.get(subscription.lower()), self._until.get("")) if t]
        return max(times) if times else None

    def unsaved(self) -> dict[str, datetime]:
        """Notes later than the ones last marked saved (to record in the state store)."""
        with self._lock:
            saved = self._saved
            return {s: t for s, t in self._until.items() if s and (s not in saved or saved[s] < t)}

    def saved(self, subscription: str, until: datetime) -> None:
        with self._lock:
            if subscription not in self._saved or self._saved[subscription] < until:
                self._saved[subscription] = until
