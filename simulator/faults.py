"""Fault injection: make the simulator slow, throttled or failing the way Azure can be.

A `FaultRule` names the operations it applies to with a glob over operation ids
(`applicationGateways.get`, `applicationGateways.*`, `*`), a kind, and how often it fires:

- `latency`: wait `seconds` before answering; on a long-running operation (a PUT, a DELETE,
  backend health, effective routes/NSGs) the operation instead stays `InProgress` for
  `seconds` after it starts.
- `throttle`: answer 429 `TooManyRequests` with `Retry-After: retry_after` (default 1 s).
- `error`: answer `status` (500, 503, 403, ...) with an ARM error code (`code`, or the usual one
  for the status: 403 `AuthorizationFailed`, 503 `ServiceUnavailable`, ...). 429 and 503 always
  carry `Retry-After` (default 1 s); any other status carries it when the rule sets `retry_after`
  (Azure may send it with a 500 too).
- `lro-fail`: the long-running operation ends `Failed` with the error `code`.
- `concurrent-write`: just before a matching PUT is handled, `change` (a JSON merge patch) is
  applied to the stored resource as another writer would, giving it a new etag; a PUT sent
  with the old `If-Match` then gets 412.

`rate` (0..1) is the chance a rule fires on a matching request, drawn from `random.Random(seed)`
so a run repeats; `times` caps how often it fires. The status endpoints that long-running
operations are polled on are operations of their own (`operations.get`, `operationResults.get`), so
a rule can throttle the status polls alone, leaving the requests that start operations untouched:
`FaultRule("operations.get", "throttle", rate=0.5)` (`operation*.get` for both endpoints).

From the command line (`appgw-doctor simulate --faults SPEC`), SPEC is a JSON file path or an
inline JSON list of rule objects whose keys are the FaultRule fields, e.g.
`'[{"operation": "applicationGateways.get", "kind": "throttle", "rate": 0.5, "retry_after": 1}]'`.
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
import threading
from dataclasses import dataclass, fields
from http import HTTPStatus
from pathlib import Path
from typing import Any

KINDS = ("latency", "throttle", "error", "lro-fail", "concurrent-write")

# The ARM error code Azure sends with a status, where a fault rule does not name one.
_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def error_code_for(status: int) -> str:
    """The usual ARM error code for an HTTP status."""
    if status in _CODES:
        return _CODES[status]
    try:
        words = re.split(r"[^A-Za-z0-9]+", HTTPStatus(status).phrase)
    except ValueError:
        return f"Http{status}"
    return "".join(word[:1].upper() + word[1:] for word in words)


@dataclass(frozen=True)
class FaultRule:
    """One kind of trouble for the operations whose id matches `operation` (a glob)."""

    operation: str
    kind: str
    rate: float = 1.0
    seconds: float = 0.0
    status: int = 500
    retry_after: float | None = None  # None: 1 s on 429/503, no header on other statuses
    code: str | None = None
    change: dict[str, Any] | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.operation, str) or not self.operation:
            raise ValueError("a fault rule needs an operation glob")
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not 0.0 <= float(self.rate) <= 1.0:
            raise ValueError(f"fault rate must be within 0..1, got {self.rate}")
        if self.seconds < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("fault seconds and retry_after must not be negative")
        if not 400 <= int(self.status) <= 599:
            raise ValueError(f"fault status must be an HTTP error status, got {self.status}")
        if self.kind == "concurrent-write" and not isinstance(self.change, dict):
            raise ValueError("a concurrent-write fault needs a change (a JSON merge patch object)")
        if self.times is not None and self.times < 0:
            raise ValueError("fault times must not be negative")

    @property
    def error_code(self) -> str:
        return self.code or error_code_for(429 if self.kind == "throttle" else self.status)

    def retry_after_header(self, status: int) -> str | None:
        """The `Retry-After` an injected `status` answer carries, if any."""
        if status in (429, 503):
            return f"{1.0 if self.retry_after is None else self.retry_after:g}"
        return None if self.retry_after is None else f"{self.retry_after:g}"

    def matches(self, operation_id: str) -> bool:
        return fnmatch.fnmatchcase(operation_id.lower(), self.operation.lower())


class FaultPlan:
    """The rules in force and the seeded dice that decide when they fire; thread-safe."""

    def __init__(self, rules: list[FaultRule] | tuple[FaultRule, ...] = (), *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._rules: list[FaultRule] = []
        self._fired: list[int] = []
        self.replace(rules)

    def replace(self, rules: list[FaultRule] | tuple[FaultRule, ...]) -> None:
        """Put new rules in force (their fire counts start at zero)."""
        with self._lock:
            self._rules = list(rules)
            self._fired = [0] * len(self._rules)

    def draw(self, operation_id: str, kinds: set[str]) -> list[FaultRule]:
        """The rules that fire for one request of `operation_id`, among those of `kinds`."""
        fired = []
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.kind not in kinds or not rule.matches(operation_id):
                    continue
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                if rule.rate < 1.0 and self._random.random() >= rule.rate:
                    continue
                self._fired[index] += 1
                fired.append(rule)
        return fired


def parse_fault_spec(spec: str) -> list[FaultRule]:
    """Fault rules from a JSON file path or inline JSON list; ValueError with one line if bad."""
    text = spec.strip()
    if not text.startswith(("[", "{")):
        try:
            text = Path(spec).read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"faults: cannot read {spec}: {error.strerror or error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"faults: not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(document, list):
        raise ValueError("faults: must be a JSON list of rule objects")
    known = {field.name for field in fields(FaultRule)}
    rules = []
    for index, raw in enumerate(document):
        if not isinstance(raw, dict):
            raise ValueError(f"faults[{index}]: must be a JSON object")
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(
                f"faults[{index}]: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        try:
            rules.append(FaultRule(**raw))
        except (TypeError, ValueError) as error:
            raise ValueError(f"faults[{index}]: {error}") from None
    return rules
