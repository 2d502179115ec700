"""The remediation ledger on the state store (`remediation.ledger.Ledger`): the audit trail, the
cooldowns per gateway and action, the fleet-wide change budget, the intents recorded before a
write and the approvals waiting for a person. Written over any RecordBackend (Table Storage in the
Functions app, SQLite locally), so the guards hold across restarts and instances, and both
backends behave the same.

Tables (created on first use, like the store's):
- `remediationaudit`: partition digest(gateway id), row `<UTC ISO time>Z_<entry id>`, so a
  gateway's entries sort by time; inserted, never replaced.
- `remediationcooldowns`: partition digest(gateway id), row digest(action): when the action last
  wrote to the gateway.
- `remediationbudget`: one record holding the times of the changes reserved within the window,
  replaced ETag-conditionally, so concurrent reservations never exceed the budget.
- `remediationintents`: partition digest(gateway id), row the intent id; deleted once settled.
- `remediationapprovals`: partition digest(approval id), row the approval id, so the approval a
  link names is one point read; its gateway id is in the record. Replaced ETag-conditionally, so of
  people deciding at once exactly one wins. Listed by reading the whole table (approvals are few).

Gateway ids compare case-insensitively (`digest` lower-cases them).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from datetime import datetime, timedelta
from typing import Any

from core.iso8601 import as_utc
from model.remediation import Approval, AuditEntry, Intent
from state.backend import RecordBackend, RecordChanged, RecordExists, StateError
from state.store import MAX_RECORD_CHARS, StateStore, digest

AUDIT = "remediationaudit"
COOLDOWNS = "remediationcooldowns"
BUDGET = "remediationbudget"
INTENTS = "remediationintents"
APPROVALS = "remediationapprovals"
REMEDIATION_TABLES = (AUDIT, COOLDOWNS, BUDGET, INTENTS, APPROVALS)

SETTLED = "settled"  # an Intent state: finished (settle_intent deletes it; recorded so, it is not open)
TEXT_LIMIT = 2_000  # characters an audit entry's text field keeps when the entry must be shrunk
_FLEET, _ONE = "fleet", "0"  # the budget's partition and row
_ATTEMPTS = 60  # conditional writes tried under contention before giving up
_BACKOFF = 0.005  # seconds; the first retry's upper bound, doubled per attempt up to _BACKOFF_MAX
_BACKOFF_MAX = 0.2
_SAFE_KEY = re.compile(r"[A-Za-z0-9._:-]{1,200}")  # kept as is in a key; anything else is hashed


class RemediationLedger:
    """`remediation.ledger.Ledger` over a record backend. Share the backend of the pipeline's
    StateStore (`RemediationLedger.for_store(store)`); closing the store closes it."""

    def __init__(self, backend: RecordBackend) -> None:
        self._backend = backend

    @classmethod
    def for_store(cls, store: StateStore) -> RemediationLedger:
        """The ledger on the same backend (and so the same tables' account or SQLite file) as `store`."""
        return cls(store._backend)

    def close(self) -> None:
        """Close the backend (only for a ledger that owns it; not one made with `for_store`)."""
        self._backend.close()

    # --- audit ---

    def audit(self, entry: AuditEntry) -> None:
        """Append one audit entry (never overwrites another). Writing the same entry again (a retry)
        is a no-op; a different entry under the same id and time is a StateError. An entry too large
        for a record keeps everything but its largest `before`/`after` (replaced by a note saying how
        large it was) and overlong text."""
        data = _fitting_entry(entry.to_dict() | {"at": _utc(entry.at)})
        row = f"{_utc_key(entry.at)}_{_key(entry.id)}"
        try:
            self._backend.insert(AUDIT, digest(entry.gateway_id), row, data)
        except RecordExists:
            existing = self._backend.get(AUDIT, digest(entry.gateway_id), row)
            if existing is None or _json(existing.data) != _json(data):
                raise StateError(f"another audit entry is recorded as {entry.id!r} at {data['at']}") from None

    def audit_entries(
        self, gateway_id: str | None = None, *, since: datetime | None = None
    ) -> list[AuditEntry]:
        """Entries, oldest first; of one gateway (case-insensitive id) and/or at or after `since`
        (a naive time is UTC). Without a gateway, every gateway's (the whole table)."""
        partition = digest(gateway_id) if gateway_id is not None else None
        records = self._backend.query(AUDIT, partition)
        entries = [(AuditEntry.from_dict(r.data), r.row) for r in records]
        if since is not None:
            start = as_utc(since)
            entries = [(entry, row) for entry, row in entries if as_utc(entry.at) >= start]
        entries.sort(key=lambda pair: (as_utc(pair[0].at), pair[1]))
        return [entry for entry, _ in entries]

    # --- guards ---

    def last_applied(self, gateway_id: str, action: str) -> datetime | None:
        """When `action` last wrote to `gateway_id` (its cooldown runs from then)."""
        record = self._backend.get(COOLDOWNS, digest(gateway_id), digest(action))
        return datetime.fromisoformat(record.data["at"]) if record else None

    def mark_applied(self, gateway_id: str, action: str, at: datetime) -> None:
        """Record that `action` wrote to `gateway_id` at `at`. Only ever moves forward: a later time
        already recorded (another instance's) stays."""
        partition, row = digest(gateway_id), digest(action)
        data = {"gatewayId": gateway_id, "action": action, "at": _utc(at)}
        for attempt in range(_ATTEMPTS):
            current = self._backend.get(COOLDOWNS, partition, row)
            if current is not None and datetime.fromisoformat(current.data["at"]) >= as_utc(at):
                return
            try:
                if current is None:
                    self._backend.insert(COOLDOWNS, partition, row, data)
                else:
                    self._backend.replace(COOLDOWNS, partition, row, data, etag=current.etag)
                return
            except (RecordExists, RecordChanged):
                _pause(attempt)  # another instance recorded meanwhile: compare with theirs
        raise StateError(f"could not record the cooldown of {action} after {_ATTEMPTS} attempts (contention)")

    def take_change(self, *, now: datetime, per_hour: int, window: timedelta = timedelta(hours=1)) -> bool:
        """Reserve one change of the fleet-wide budget: True (and recorded) when fewer than `per_hour`
        changes were reserved in the `window` before `now` (later than `now - window`; reservations
        stamped after `now`, by an instance whose clock runs ahead, count too), else False.

        Atomic across instances: the reservations are one record, rewritten conditional on its ETag
        (times that left the window are dropped), and a lost race reads it again. A StateError when
        the race is lost `_ATTEMPTS` times in a row (nothing reserved)."""
        if per_hour <= 0:
            return False
        moment = as_utc(now)
        start = moment - window
        for attempt in range(_ATTEMPTS):
            current = self._backend.get(BUDGET, _FLEET, _ONE)
            times = [datetime.fromisoformat(t) for t in (current.data.get("times") or [])] if current else []
            recent = sorted(t for t in times if t > start)
            if len(recent) >= per_hour:
                return False
            data = {"times": [_utc(t) for t in sorted([*recent, moment])]}
            try:
                if current is None:
                    self._backend.insert(BUDGET, _FLEET, _ONE, data)
                else:
                    self._backend.replace(BUDGET, _FLEET, _ONE, data, etag=current.etag)
                return True
            except (RecordExists, RecordChanged):
                _pause(attempt)
        raise StateError(f"could not reserve a change of the budget after {_ATTEMPTS} attempts (contention)")

    # --- intents ---

    def record_intent(self, intent: Intent) -> None:
        """Save (create or replace) the intent. Never shortened (its `before` is what a rollback
        restores): one too large for a record is a StateError, before anything is written."""
        data = _fitting(intent.to_dict() | {"createdAt": _utc(intent.created_at)})
        self._backend.replace(INTENTS, digest(intent.gateway_id), _key(intent.id), data, etag=None)

    def settle_intent(self, gateway_id: str, intent_id: str) -> None:
        """The intent is finished (verified or rolled back): deleted (a no-op if it is gone already)."""
        self._backend.delete(INTENTS, digest(gateway_id), _key(intent_id), etag=None)

    def open_intents(self, gateway_id: str) -> list[Intent]:
        """The gateway's intents not settled, oldest first (by when they were created, then id)."""
        intents = [Intent.from_dict(r.data) for r in self._backend.query(INTENTS, digest(gateway_id))]
        return sorted(
            (intent for intent in intents if intent.state != SETTLED),
            key=lambda intent: (as_utc(intent.created_at), intent.id),
        )

    # --- approvals ---

    def add_approval(self, approval: Approval) -> None:
        """Store a new approval. Never overwrites another: one already stored under its id is a
        StateError. Never shortened (its content is what a person approves): one too large for a
        record is a StateError, before anything is written."""
        data = _approval_data(approval)
        try:
            self._backend.insert(APPROVALS, digest(approval.id), _key(approval.id), data)
        except RecordExists:
            raise StateError(f"an approval is already stored as {approval.id!r}") from None

    def approval(self, approval_id: str) -> tuple[Approval, str] | None:
        """The approval and its record's ETag (for `save_approval`), or None for an unknown id."""
        record = self._backend.get(APPROVALS, digest(approval_id), _key(approval_id))
        if record is None:
            return None
        return Approval.from_dict(record.data), record.etag

    def save_approval(self, approval: Approval, etag: str) -> bool:
        """Replace the approval only if its record is unchanged since `etag` was read: True when
        written; False (nothing written) when someone else wrote it meanwhile or it is gone. Of
        racing savers holding the same ETag exactly one wins. Too large for a record: StateError."""
        data = _approval_data(approval)
        try:
            self._backend.replace(APPROVALS, digest(approval.id), _key(approval.id), data, etag=etag)
        except RecordChanged:
            return False
        return True

    def approvals(self, gateway_id: str | None = None) -> list[Approval]:
        """Approvals, newest first (by when they were created, then id); of one gateway
        (case-insensitive id) or, without one, all. Reads the whole table."""
        approvals = [Approval.from_dict(r.data) for r in self._backend.query(APPROVALS, None)]
        if gateway_id is not None:
            wanted = gateway_id.lower()
            approvals = [a for a in approvals if a.gateway_id.lower() == wanted]
        return sorted(approvals, key=lambda a: (as_utc(a.created_at), a.id), reverse=True)


def _approval_data(approval: Approval) -> dict[str, Any]:
    """The approval's record, its times in UTC; a StateError when it is too large for a record."""
    times = {"createdAt": _utc(approval.created_at), "expiresAt": _utc(approval.expires_at)}
    if approval.decided_at is not None:
        times["decidedAt"] = _utc(approval.decided_at)
    return _fitting(approval.to_dict() | times)


def _key(value: str) -> str:
    """`value` as a Table Storage key: as is when it is short and plain (ids), else its SHA-256."""
    if _SAFE_KEY.fullmatch(value):
        return value
    return "h" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _utc(moment: datetime) -> str:
    """ISO 8601 in UTC (a naive time is UTC)."""
    return as_utc(moment).isoformat()


def _utc_key(moment: datetime) -> str:
    """`2026-11-23T10:30:00.000000Z`: fixed width, so keys sort by time."""
    return as_utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _size(data: Any) -> int:
    return len(json.dumps(data, separators=(",", ":")))


def _fitting(data: dict[str, Any]) -> dict[str, Any]:
    length = _size(data)
    if length > MAX_RECORD_CHARS:
        raise StateError(f"record of {length} characters exceeds the {MAX_RECORD_CHARS} a record may hold")
    return data


def _fitting_entry(data: dict[str, Any]) -> dict[str, Any]:
    """An audit entry within MAX_RECORD_CHARS: its larger of `before`/`after`, then the other, is
    replaced by a note of its size until it fits; then overlong text is cut to TEXT_LIMIT."""
    if _size(data) <= MAX_RECORD_CHARS:
        return data
    shrunk = dict(data)
    for name in sorted(("before", "after"), key=lambda n: _size(shrunk.get(n)), reverse=True):
        if shrunk.get(name) is not None:
            shrunk[name] = {"truncated": f"{name} of {_size(shrunk[name])} characters not stored"}
            if _size(shrunk) <= MAX_RECORD_CHARS:
                return shrunk
    for name in ("reason", "resource", "finding", "identity"):
        value = shrunk.get(name)
        if isinstance(value, str) and len(value) > TEXT_LIMIT:
            shrunk[name] = value[:TEXT_LIMIT] + " [cut]"
    return _fitting(shrunk)


def _pause(attempt: int) -> None:
    """A random pause before retrying a lost conditional write (so racers spread out)."""
    time.sleep(random.uniform(0, min(_BACKOFF * 2**attempt, _BACKOFF_MAX)))
