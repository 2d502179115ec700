"""What remediation keeps between runs, as an interface: the audit trail, the guards' memory
(cooldowns per gateway and action, the fleet-wide change budget), the intents recorded before a
write and the approvals waiting for a person. `state.remediation.RemediationLedger` implements it on
the state store (Table Storage in the Functions app, SQLite locally), so the guards hold across
restarts and instances."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from model.remediation import Approval, AuditEntry, Intent


class Ledger(Protocol):
    # --- audit ---
    def audit(self, entry: AuditEntry) -> None:
        """Append one audit entry (never overwrites another)."""
        ...

    def audit_entries(
        self, gateway_id: str | None = None, *, since: datetime | None = None
    ) -> list[AuditEntry]:
        """Entries, oldest first; of one gateway (case-insensitive id) and/or at or after `since`."""
        ...

    # --- guards ---
    def last_applied(self, gateway_id: str, action: str) -> datetime | None:
        """When `action` last wrote to `gateway_id` (its cooldown runs from then)."""
        ...

    def mark_applied(self, gateway_id: str, action: str, at: datetime) -> None: ...

    def take_change(self, *, now: datetime, per_hour: int, window: timedelta = timedelta(hours=1)) -> bool:
        """Reserve one change of the fleet-wide budget: True (and recorded) when fewer than `per_hour`
        changes were reserved in the `window` before `now`, else False. Atomic across instances."""
        ...

    # --- intents ---
    def record_intent(self, intent: Intent) -> None:
        """Save (create or replace) the intent, before its write is sent and as its state moves on."""
        ...

    def settle_intent(self, gateway_id: str, intent_id: str) -> None:
        """The intent is finished (verified or rolled back): no later run needs to look at it."""
        ...

    def open_intents(self, gateway_id: str) -> list[Intent]:
        """The gateway's intents not settled, oldest first."""
        ...

    # --- approvals (mode `approve`) ---
    def add_approval(self, approval: Approval) -> None:
        """Store a new approval (its id is new; never overwrites another)."""
        ...

    def approval(self, approval_id: str) -> tuple[Approval, str] | None:
        """The approval and its record etag, or None for an unknown id."""
        ...

    def save_approval(self, approval: Approval, etag: str) -> bool:
        """Replace the approval only if its record is unchanged since `etag` was read: True when
        written, False when someone else wrote it meanwhile (exactly one of two racing deciders wins)."""
        ...

    def approvals(self, gateway_id: str | None = None) -> list[Approval]:
        """Approvals, newest first; of one gateway (case-insensitive id) or all."""
        ...
