"""The finding model: what a diagnosis reports, as plain immutable data.

Codes and their meaning are fixed by FINDINGS.md (copied to docs/FINDINGS.md); notifications,
remediation, the audit log and tests all key on `code`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from model.plans import FixPlan, plan_from_dict


class Severity(str, Enum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Sort key: critical first."""
        return {"critical": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Fix:
    """What a person should do, and, where a safe automatic fix exists, its typed `plan` (what the
    remediation action `action` would change)."""

    summary: str
    command: str | None = None
    plan: FixPlan | None = None

    @property
    def action(self) -> str | None:
        """The remediation action id (docs/FINDINGS.md) of the plan, if there is one."""
        return self.plan.action if self.plan is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "summary": self.summary,
            "command": self.command,
            "plan": self.plan.to_dict() if self.plan is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fix:
        return cls(
            summary=data.get("summary") or "",
            command=data.get("command"),
            plan=plan_from_dict(data.get("plan")),
        )


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    title: str
    resource: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: Fix = field(default_factory=lambda: Fix(summary=""))

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "title": self.title,
            "resource": self.resource,
            "evidence": self.evidence,
            "fix": self.fix.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The inverse of to_dict: findings travel as JSON through the pipeline's records."""
        return cls(
            code=data["code"],
            severity=Severity(data["severity"]),
            title=data["title"],
            resource=data["resource"],
            evidence=dict(data.get("evidence") or {}),
            fix=Fix.from_dict(data.get("fix") or {}),
        )


class CheckStatus(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    """How one check went. `failed` means it found something; `error` means it could not tell."""

    name: str
    status: CheckStatus
    reason: str = ""
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(name=data["name"], status=CheckStatus(data["status"]), reason=data.get("reason") or "")
