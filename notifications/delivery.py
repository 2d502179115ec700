"""Deliver one message to the channels its gateway routes to, and say how that went.

`Notifier.deliver(message, tags)` routes by the notification settings and the gateway's tags, sends
(or writes to an outbox), and returns a `Delivery`: `ok`, `error` or `skipped` with a one-line detail
the pipeline records on the incident. A failed or misconfigured channel is reported, never raised,
and never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from notifications.content import IncidentMessage
from notifications.dispatch import DeliveryResult, RetryPolicy, delivery_key, notify, redact
from notifications.routing import ChannelProblem, route

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    status: str  # "ok" | "error" | "skipped"
    detail: str


class Notifier:
    """`settings` are the notification app settings (TEAMS_*, NOTIFY_EMAIL_TO, SMTP_*, *_MIN_SEVERITY;
    `Settings.notification_settings`); with `outbox_dir` messages are written there instead of sent."""

    def __init__(
        self,
        settings: Mapping[str, str],
        *,
        outbox_dir: str | Path | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = dict(settings)
        self._outbox_dir = outbox_dir
        self._retry = retry

    def deliver(
        self,
        message: IncidentMessage,
        tags: Mapping[str, str] | None = None,
        *,
        skip: Collection[str] = (),
        on_delivered: Callable[[str], None] | None = None,
    ) -> Delivery:
        """Route and send. Channels whose delivery key is in `skip` were delivered by an earlier
        attempt and are not sent again; `on_delivered(key)` is called as each channel succeeds."""
        try:
            return self._deliver(message, tags or {}, skip, on_delivered)
        except Exception as error:  # recorded on the incident, without any secret the text may hold
            log.exception("notification failed")
            return Delivery("error", redact(f"{type(error).__name__}: {error}")[:500])

    def _deliver(
        self,
        message: IncidentMessage,
        tags: Mapping[str, str],
        skip: Collection[str],
        on_delivered: Callable[[str], None] | None,
    ) -> Delivery:
        routing = route(self._settings, tags)
        if not routing.targets and not routing.problems and self._outbox_dir is None:
            return Delivery("skipped", "no Teams webhook or email recipients configured")

        def delivered(result: DeliveryResult) -> None:
            if result.ok and on_delivered is not None:
                on_delivered(result.key)

        results = notify(
            message,
            routing.targets,
            outbox_dir=self._outbox_dir,
            retry=self._retry,
            skip=skip,
            on_result=delivered,
        )
        already = [
            key for key in skip if any(key == delivery_key(t.channel, t.label) for t in routing.targets)
        ]
        results += [_unconfigured(problem) for problem in routing.problems]
        if not results and already:
            return Delivery("ok", "already delivered to " + ", ".join(sorted(already)))
        if not results:
            level = message.level.value
            return Delivery("skipped", f"a {level} message is below every channel's threshold")
        failed = [result for result in results if not result.ok]
        verb = "written to" if self._outbox_dir is not None else "delivered to"
        detail = "; ".join(
            [_describe(result, verb) for result in results]
            + [f"{key}: delivered earlier" for key in sorted(already)]
        )
        return Delivery("error" if failed else "ok", detail)


def _unconfigured(problem: ChannelProblem) -> DeliveryResult:
    return DeliveryResult(problem.channel, problem.target, ok=False, attempts=0, error=problem.reason)


def _describe(result: DeliveryResult, verb: str) -> str:
    if result.ok:
        return f"{result.channel}: {verb} {result.target}"
    if result.attempts == 0:
        return f"{result.channel}: FAILED (not configured) for {result.target}: {result.error}"
    return f"{result.channel}: FAILED after {result.attempts} attempt(s) to {result.target}: {result.error}"
