"""What remediation did, as plain data: the per-action results a report and a message carry, the audit
entries the state store keeps, and the intent recorded before a write (so a crash between apply and
verify is finished by the next run).

Statuses (`ACTION_STATUSES`):
- `planned`: dry-run, or awaiting a person's approval (`approval` holds the link); what would be
  done (`change`, `command`).
- `applied`: written, not (yet) verified.
- `verified`: written, and the motivating finding is gone with no new critical finding.
- `rolled-back`: written, did not heal (or broke something), and the previous state was restored.
- `refused`: a guard or a precondition said no (the reason says which); nothing written.
- `skipped`: not attempted (mode off, not on the allow-list, not critical, one action per incident).
- `failed`: attempted, and ARM refused or the rollback could not complete (the reason says what is left).
`reason` is set for every status but `verified`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PLANNED, APPLIED, VERIFIED, ROLLED_BACK, REFUSED, SKIPPED, FAILED = (
    "planned",
    "applied",
    "verified",
    "rolled-back",
    "refused",
    "skipped",
    "failed",
)
ACTION_STATUSES = (PLANNED, APPLIED, VERIFIED, ROLLED_BACK, REFUSED, SKIPPED, FAILED)
MODES = ("off", "dry-run", "approve", "auto")
ACTION_IDS = ("add-nsg-allow-rule", "raise-request-timeout", "reattach-probe")


@dataclass(frozen=True)
class Change:
    """One resource's change: the changed properties before and after (None: absent), and a line a
    person reads, e.g. `requestTimeout 20 s -> 60 s on settings app-settings`."""

    resource: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "before": self.before,
            "after": self.after,
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(
            data.get("resource") or "", data.get("before"), data.get("after"), data.get("summary") or ""
        )


@dataclass(frozen=True)
class ApprovalLink:
    """Where a person approves or rejects a planned fix (mode `approve`): the approval's id, the page
    (`GET /api/approvals/{id}?t=TOKEN`; GET never changes anything), and when the link expires."""

    id: str
    url: str | None  # None when no public base URL is configured: `appgw-doctor approve ID` still works
    expires_at: str  # ISO 8601, UTC

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "expiresAt": self.expires_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApprovalLink:
        return cls(data["id"], data.get("url"), data.get("expiresAt") or "")


@dataclass(frozen=True)
class ActionResult:
    """Where one action stands for one finding. `command` is the `az` command that makes the change
    (what a person would run for a plan); `undo` the one that reverts it; `verification` what the
    check after applying (or after rolling back) saw."""

    action: str
    finding: str  # the finding's code
    resource: str  # the ARM id the action writes (or would write)
    status: str
    reason: str = ""
    change: Change | None = None
    command: str | None = None
    undo: str | None = None
    verification: str | None = None
    approval: ApprovalLink | None = None

    def __post_init__(self) -> None:
        if self.status not in ACTION_STATUSES:
            raise ValueError(
                f"unknown action status {self.status!r}; expected one of {', '.join(ACTION_STATUSES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "finding": self.finding,
            "resource": self.resource,
            "status": self.status,
            "reason": self.reason or None,
            "change": self.change.to_dict() if self.change else None,
            "command": self.command,
            "undo": self.undo,
            "verification": self.verification,
            "approval": self.approval.to_dict() if self.approval else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionResult:
        return cls(
            action=data["action"],
            finding=data.get("finding") or "",
            resource=data.get("resource") or "",
            status=data["status"],
            reason=data.get("reason") or "",
            change=Change.from_dict(data["change"]) if data.get("change") else None,
            command=data.get("command"),
            undo=data.get("undo"),
            verification=data.get("verification"),
            approval=ApprovalLink.from_dict(data["approval"]) if data.get("approval") else None,
        )


@dataclass(frozen=True)
class RemediationResult:
    """The remediate stage's answer for one report: the mode it ran in, why (e.g. the tag value it
    did not understand), and each action's result."""

    mode: str
    actions: tuple[ActionResult, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "note": self.note, "actions": [a.to_dict() for a in self.actions]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemediationResult:
        return cls(
            mode=data.get("mode") or "off",
            actions=tuple(ActionResult.from_dict(a) for a in data.get("actions") or []),
            note=data.get("note"),
        )


@dataclass(frozen=True)
class AuditEntry:
    """One step of remediation (plan, refusal, apply, verify, rollback), as the audit keeps it."""

    id: str
    at: datetime  # aware UTC
    gateway_id: str
    incident_id: str | None
    finding: str
    action: str
    mode: str  # dry-run | auto | manual (a person with `appgw-doctor remediate`)
    step: str  # plan | refuse | skip | apply | verify | rollback | fail
    outcome: str  # an ACTION_STATUSES value
    resource: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    identity: str | None = None  # who wrote (the credential's principal), when known
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "gatewayId": self.gateway_id,
            "incidentId": self.incident_id,
            "finding": self.finding,
            "action": self.action,
            "mode": self.mode,
            "step": self.step,
            "outcome": self.outcome,
            "resource": self.resource,
            "before": self.before,
            "after": self.after,
            "identity": self.identity,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEntry:
        return cls(
            id=data["id"],
            at=datetime.fromisoformat(data["at"]),
            gateway_id=data["gatewayId"],
            incident_id=data.get("incidentId"),
            finding=data.get("finding") or "",
            action=data.get("action") or "",
            mode=data.get("mode") or "",
            step=data.get("step") or "",
            outcome=data.get("outcome") or "",
            resource=data.get("resource") or "",
            before=data.get("before"),
            after=data.get("after"),
            identity=data.get("identity"),
            reason=data.get("reason") or "",
        )


@dataclass(frozen=True)
class Intent:
    """A write about to be made, recorded before it is sent: enough to verify it or put the previous
    state back if the worker dies before verifying. `state`: `applying` (recorded, write maybe sent),
    `applied` (ARM accepted it), then removed (or `settled`) once verified or rolled back."""

    id: str
    gateway_id: str
    incident_id: str | None
    finding: str
    action: str
    resource: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime
    state: str = "applying"
    details: dict[str, Any] = field(default_factory=dict)  # action-specific (e.g. the rule's name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "gatewayId": self.gateway_id,
            "incidentId": self.incident_id,
            "finding": self.finding,
            "action": self.action,
            "resource": self.resource,
            "before": self.before,
            "after": self.after,
            "createdAt": self.created_at.isoformat(),
            "state": self.state,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Intent:
        return cls(
            id=data["id"],
            gateway_id=data["gatewayId"],
            incident_id=data.get("incidentId"),
            finding=data.get("finding") or "",
            action=data.get("action") or "",
            resource=data.get("resource") or "",
            before=data.get("before"),
            after=data.get("after"),
            created_at=datetime.fromisoformat(data["createdAt"]),
            state=data.get("state") or "applying",
            details=dict(data.get("details") or {}),
        )


# States of an approval (mode `approve`): pending until a person decides, it expires, or it is
# cancelled (its incident resolved, or a newer diagnosis no longer shows its finding); an approval
# whose resource changed before it was applied is superseded by a new one (shown again).
PENDING, APPROVED, REJECTED, EXPIRED, CANCELLED, SUPERSEDED = (
    "pending",
    "approved",
    "rejected",
    "expired",
    "cancelled",
    "superseded",
)
APPROVAL_STATES = (PENDING, APPROVED, REJECTED, EXPIRED, CANCELLED, SUPERSEDED)


@dataclass(frozen=True)
class Approval:
    """A planned fix waiting for a person: exactly what will change (`change`, `command`), what it
    answers (`finding`, the Finding as a dict), the etag it was planned on, and its decision."""

    id: str
    gateway_id: str
    incident_id: str | None
    finding: dict[str, Any]
    action: str
    resource: str
    change: Change
    command: str
    undo: str
    etag: str
    digest: str  # sha256 over what will change: a token is bound to it
    requested_by: str  # e.g. "appgw-doctor, alert appgw-5xx (incident ...)"
    created_at: datetime
    expires_at: datetime
    state: str = PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str = ""
    result: dict[str, Any] | None = None  # ActionResult.to_dict() once applied (or refused)
    replaced_by: str | None = None  # SUPERSEDED: the new approval's id
    incident_time: datetime | None = None  # the planning diagnosis' incident time (re-validated at it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "gatewayId": self.gateway_id,
            "incidentId": self.incident_id,
            "finding": self.finding,
            "action": self.action,
            "resource": self.resource,
            "change": self.change.to_dict(),
            "command": self.command,
            "undo": self.undo,
            "etag": self.etag,
            "digest": self.digest,
            "requestedBy": self.requested_by,
            "createdAt": self.created_at.isoformat(),
            "expiresAt": self.expires_at.isoformat(),
            "state": self.state,
            "decidedBy": self.decided_by,
            "decidedAt": self.decided_at.isoformat() if self.decided_at else None,
            "reason": self.reason,
            "result": self.result,
            "replacedBy": self.replaced_by,
            "incidentTime": self.incident_time.isoformat() if self.incident_time else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Approval:
        return cls(
            id=data["id"],
            gateway_id=data["gatewayId"],
            incident_id=data.get("incidentId"),
            finding=dict(data.get("finding") or {}),
            action=data["action"],
            resource=data.get("resource") or "",
            change=Change.from_dict(data.get("change") or {}),
            command=data.get("command") or "",
            undo=data.get("undo") or "",
            etag=data.get("etag") or "",
            digest=data.get("digest") or "",
            requested_by=data.get("requestedBy") or "",
            created_at=datetime.fromisoformat(data["createdAt"]),
            expires_at=datetime.fromisoformat(data["expiresAt"]),
            state=data.get("state") or PENDING,
            decided_by=data.get("decidedBy"),
            decided_at=datetime.fromisoformat(data["decidedAt"]) if data.get("decidedAt") else None,
            reason=data.get("reason") or "",
            result=data.get("result"),
            replaced_by=data.get("replacedBy"),
            incident_time=datetime.fromisoformat(data["incidentTime"]) if data.get("incidentTime") else None,
        )
