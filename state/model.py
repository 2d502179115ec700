"""What the state store keeps, as plain data (JSON-friendly via to_dict/from_dict)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class IncidentStatus(str, Enum):
    DIAGNOSING = "diagnosing"  # a worker holds the gateway's lease and is diagnosing
    OPEN = "open"  # diagnosed; later alerts for the gateway join it until it is resolved
    CLOSED = "closed"  # the alert resolved


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "gatewayId": self.gateway_id,
            "status": self.status.value,
            "openedAt": self.opened_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "closedAt": self.closed_at.isoformat() if self.closed_at else None,
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        return cls(
            id=data["id"],
            gateway_id=data["gatewayId"],
            status=IncidentStatus(data["status"]),
            opened_at=datetime.fromisoformat(data["openedAt"]),
            updated_at=datetime.fromisoformat(data["updatedAt"]),
            closed_at=datetime.fromisoformat(data["closedAt"]) if data.get("closedAt") else None,
            report=data.get("report"),
        )


@dataclass(frozen=True)
class DiagnosisRecord:
    """One diagnosis of one gateway: why it ran, what it found, and which resources it depends on
    (the gateway subnet and its NSG and route table), so a write to one of them can trigger the next."""

    id: str
    gateway_id: str
    trigger: str  # "alert" | "change" | "sweep"
    started_at: datetime
    finished_at: datetime
    findings: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    watched_resources: list[str] = field(default_factory=list)
    incident_id: str | None = None

    @property
    def finding_keys(self) -> set[tuple[str, str]]:
        """What makes a finding "the same" across diagnoses: its code and the resource at fault."""
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
        )


def finding_key(finding: dict[str, Any]) -> tuple[str, str]:
    return (str(finding.get("code")), str(finding.get("resource") or "").lower())
