"""A local stand-in for the Functions work queue, for the sweep bench and tests.

`run_queue` processes work items like `function_app.process_work` does with the queue: each becomes
due at its `not_before` (the sweep's spread), at most `workers` run at once (the host's concurrency),
and an item the pipeline deferred (fleet-wide throttling, every sweep slot busy) goes back in for the
time the pipeline named, as the Functions app sends it again with a visibility timeout.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone

from appgw_doctor.pipeline import Outcome, Pipeline, Report, WorkItem


def run_queue(
    pipeline: Pipeline,
    items: Iterable[WorkItem],
    *,
    workers: int,
    on_report: Callable[[Report], None] | None = None,
) -> list[Report]:
    """Process `items` like the work queue would: each at its `not_before` (at once without), at most
    `workers` at a time; a deferred item goes back in for its `retry_at`. Returns every report
    (deferrals included), in the order they finished."""
    sequence = itertools.count()
    due: list[tuple[float, int, WorkItem]] = []

    def at(when: datetime | None) -> float:
        if when is None:
            return time.monotonic()
        return time.monotonic() + (when - datetime.now(timezone.utc)).total_seconds()

    for item in items:
        heapq.heappush(due, (at(item.not_before), next(sequence), item))
    lock = threading.Condition()
    in_flight = 0
    reports: list[Report] = []
    failures: list[BaseException] = []

    def worker() -> None:
        nonlocal in_flight
        while True:
            with lock:
                while True:
                    if failures or (not due and in_flight == 0):
                        lock.notify_all()
                        return
                    if due and due[0][0] <= time.monotonic():
                        _, _, item = heapq.heappop(due)
                        in_flight += 1
                        break
                    lock.wait(timeout=min(0.5, max(0.01, due[0][0] - time.monotonic())) if due else 0.5)
            try:
                report = pipeline.process(item)
            except BaseException as error:  # the queue would retry; here the run stops and says why
                with lock:
                    failures.append(error)
                    in_flight -= 1
                    lock.notify_all()
                return
            with lock:
                reports.append(report)
                if report.outcome is Outcome.DEFERRED and report.retry_at is not None:
                    again = replace(item, not_before=report.retry_at)
                    heapq.heappush(due, (at(report.retry_at), next(sequence), again))
                in_flight -= 1
                lock.notify_all()
            if on_report is not None:
                on_report(report)

    threads = [threading.Thread(target=worker, name=f"sweep-worker-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return reports
