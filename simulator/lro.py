"""Long-running operations as ARM runs them: started by a request, polled until they settle.

An operation is `InProgress` until its deadline; the first request after the deadline settles it
(callers call `settle_due` before serving anything), which runs its completion against the world:
a PUT's resource becomes `Succeeded`, a DELETE removes, a POST computes its result. A failed
operation runs its rollback instead and reports its ARM error.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# What a finished operation answers when its Location is polled: (HTTP status, JSON body or None).
Outcome = tuple[int, Any]


@dataclass
class ArmFailure:
    status: int
    code: str
    message: str

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass
class Operation:
    """One long-running operation. `complete` runs when it succeeds; `rollback` when it fails."""

    id: str
    started: float
    deadline: float
    complete: Callable[[], Outcome]
    rollback: Callable[[], None] | None = None
    failure: ArmFailure | None = None
    outcome: Outcome | None = None
    settled: bool = False
    started_at: str = ""
    ended_at: str = ""
    location: str = "global"  # the Azure region in the status URLs, as ARM gives them

    @property
    def status(self) -> str:
        if not self.settled:
            return "InProgress"
        return "Failed" if self.failure is not None else "Succeeded"


class OperationRegistry:
    """The operations started so far, by id. `settle_due` must be called with the world locked."""

    def __init__(self, utc_now: Callable[[], str]) -> None:
        self._operations: dict[str, Operation] = {}
        self._lock = threading.Lock()
        self._utc_now = utc_now

    def start(
        self,
        *,
        seconds: float,
        complete: Callable[[], Outcome],
        rollback: Callable[[], None] | None = None,
        failure: ArmFailure | None = None,
        location: str = "global",
    ) -> Operation:
        now = time.monotonic()
        operation = Operation(
            id=str(uuid.uuid4()),
            started=now,
            deadline=now + seconds,
            complete=complete,
            rollback=rollback,
            failure=failure,
            started_at=self._utc_now(),
            location=location,
        )
        with self._lock:
            self._operations[operation.id] = operation
        return operation

    def find(self, operation_id: str) -> Operation | None:
        with self._lock:
            return self._operations.get(operation_id.lower())

    def settle_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [op for op in self._operations.values() if not op.settled and op.deadline <= now]
        for operation in sorted(due, key=lambda op: op.deadline):
            self._settle(operation)

    def _settle(self, operation: Operation) -> None:
        if operation.failure is None:
            try:
                operation.outcome = operation.complete()
            except Exception as error:  # a bug in a derivation must fail the operation, not the server
                traceback.print_exc(file=sys.stderr)
                operation.failure = ArmFailure(500, "InternalServerError", f"Simulator error: {error}")
        if operation.failure is not None:
            if operation.rollback is not None:
                operation.rollback()
            operation.outcome = (operation.failure.status, operation.failure.envelope())
        operation.settled = True
        operation.ended_at = self._utc_now()
