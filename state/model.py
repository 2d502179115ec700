"""What the state store keeps, as plain data (JSON-friendly via to_dict/from_dict)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

PENDING, DONE = "pending", "done"  # states of an incident's outbox entry


class IncidentStatus(str, Enum):
    DIAGNOSING = "diagnosing"  # a worker holds the gateway's lease and is diagnosing
    OPEN = "open"  # diagnosed; later alerts join it while it is live, until its alerts resolve
    CLOSED = "closed"  # done: `close_reason` says why


class CloseReason(str, Enum):
    RESOLVED = "resolved"  # every alert attached to it resolved
    RESOLVED_BEFORE_FIRED = "resolved-before-fired"  # its alert's Resolved was processed first
    EXPIRED = "expired"  # open longer than the join window: the next alert starts a new incident
    DIAGNOSIS_FAILED = "diagnosis-failed"  # could not be diagnosed; the next alert tries again
    SUPERSEDED = "superseded"  # its worker died mid-diagnosis; another incident took its alerts


@dataclass(frozen=True)
class Lease:
    """Exclusive right to work on `key` until `expires_at`; `etag` makes release and takeover safe."""

    key: str
    holder: str
    expires_at: datetime
    etag: str


@dataclass(frozen=True)
class Incident:
    id: str
    gateway_id: str
    status: IncidentStatus
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    report: dict[str, Any] | None = None  # the pipeline's report of the diagnosis
    close_reason: str | None = None  # a CloseReason value once closed
    alert_time: datetime | None = None  # when the alert that opened it fired
    # The messages this incident owes, by kind ("incident", "resolution"): {"state": "pending" | "done",
    # "sent": [delivery keys]}. Written as pending before anything is sent and per channel as it is
    # delivered, so whoever takes over after a crash sends exactly what is still owed.
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)
    etag: str | None = field(default=None, compare=False)  # as read or written; saves are conditional on it

    def pending(self) -> list[str]:
        """The kinds of message still owed (written as pending, not marked done)."""
        return [kind for kind, entry in self.outbox.items() if entry.get("state") == PENDING]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "gatewayId": self.gateway_id,
            "status": self.status.value,
            "openedAt": self.opened_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "closedAt": self.closed_at.isoformat() if self.closed_at else None,
            "report": self.report,
            "closeReason": self.close_reason,
            "alertTime": self.alert_time.isoformat() if self.alert_time else None,
            "outbox": self.outbox,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], etag: str | None = None) -> Incident:
        return cls(
            id=data["id"],
            gateway_id=data["gatewayId"],
            status=IncidentStatus(data["status"]),
            opened_at=datetime.fromisoformat(data["openedAt"]),
            updated_at=datetime.fromisoformat(data["updatedAt"]),
            closed_at=datetime.fromisoformat(data["closedAt"]) if data.get("closedAt") else None,
            report=data.get("report"),
            close_reason=data.get("closeReason"),
            alert_time=datetime.fromisoformat(data["alertTime"]) if data.get("alertTime") else None,
            outbox=dict(data.get("outbox") or {}),
            etag=etag,
        )


@dataclass(frozen=True)
class DiagnosisRecord:
    """One diagnosis of one gateway: why it ran, what it found, and which resources it depends on
    (the gateway subnet, its VNet, NSG and route table), so a write to one of them can trigger the next.

    `findings` may be a bounded selection (the most severe; `findings_omitted` counts the rest), so
    `keys` keeps the (code, resource) of every finding: what "new since the last diagnosis" compares.
    `stages` are the pipeline's stage results (notify included).

    `fingerprint` (sweeps' incremental check): the etags of the path resources the diagnosis read and
    whether backend health was all healthy — `{"resources": [[kind, id, etag], ...], "allHealthy":
    bool, "fullId": id, "fullAt": ISO time}` of the full diagnosis it comes from — or None (nothing
    to compare a later sweep with). `unchanged_since` is set on a sweep's record that found every
    etag unchanged and every server healthy and so skipped the full collection: the id of the full
    diagnosis whose findings and checks it repeats."""

    id: str
    gateway_id: str
    trigger: str  # "alert" | "change" | "sweep"
    started_at: datetime
    finished_at: datetime
    findings: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    watched_resources: list[str] = field(default_factory=list)
    incident_id: str | None = None
    keys: list[tuple[str, str]] | None = None  # every finding's key; None = those of `findings`
    findings_omitted: int = 0
    stages: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: dict[str, Any] | None = None
    unchanged_since: str | None = None

    @property
    def finding_keys(self) -> set[tuple[str, str]]:
        """What makes a finding "the same" across diagnoses: its code and the resource at fault."""
        if self.keys is not None:
            return {(code, resource.lower()) for code, resource in self.keys}
        return {finding_key(f) for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "gatewayId": self.gateway_id,
            "trigger": self.trigger,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat(),
            "findings": self.findings,
            "checks": self.checks,
            "watchedResources": self.watched_resources,
            "incidentId": self.incident_id,
            "findingKeys": [list(key) for key in self.keys] if self.keys is not None else None,
            "findingsOmitted": self.findings_omitted,
            "stages": self.stages,
            "fingerprint": self.fingerprint,
            "unchangedSince": self.unchanged_since,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiagnosisRecord:
        return cls(
            id=data["id"],
            gateway_id=data["gatewayId"],
            trigger=data["trigger"],
            started_at=datetime.fromisoformat(data["startedAt"]),
            finished_at=datetime.fromisoformat(data["finishedAt"]),
            findings=list(data.get("findings") or []),
            checks=list(data.get("checks") or []),
            watched_resources=list(data.get("watchedResources") or []),
            incident_id=data.get("incidentId"),
            keys=[(str(c), str(r)) for c, r in data["findingKeys"]]
            if data.get("findingKeys") is not None
            else None,
            findings_omitted=int(data.get("findingsOmitted") or 0),
            stages=list(data.get("stages") or []),
            fingerprint=dict(data["fingerprint"]) if isinstance(data.get("fingerprint"), dict) else None,
            unchanged_since=data.get("unchangedSince"),
        )


def finding_key(finding: dict[str, Any]) -> tuple[str, str]:
    return (str(finding.get("code")), str(finding.get("resource") or "").lower())
