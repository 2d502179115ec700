"""The finding model: what a diagnosis reports, as plain immutable data.

Codes and their meaning are fixed by FINDINGS.md (copied to docs/FINDINGS.md); notifications,
remediation, the audit log and tests all key on `code`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from model.changes import PathChange
from model.plans import FixPlan, plan_from_dict


class Severity(str, Enum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Sort key: critical first."""
        return {"critical": 0, "warning": 1, "info": 2}[self.value]


class Role(str, Enum):
    """What a finding is to the person reading about 502s: a cause (fix it and the 502s stop), a
    symptom (*that* backends fail, not why: the causes say why) or a note (info: worth knowing)."""

    CAUSE = "cause"
    SYMPTOM = "symptom"
    NOTE = "note"


# The one place findings are classified (docs/FINDINGS.md codes). Only the codes that are not plain
# causes are listed: any other code, including one added after this table, is a cause when it is
# critical or warning and a note when it is info, so a new check is never hidden behind symptoms.
SYMPTOM_CODES = frozenset({"ALL_BACKENDS_UNHEALTHY", "BACKEND_HEALTH_UNKNOWN"})
# Causes read from what the health probe saw: its log (a refused connection, a 404, a time-out, a
# message the doctor does not recognise) or the default probe failing. A cause found in the
# configuration (an NSG rule, a route, DNS, a certificate) usually explains them, so within a severity
# it is read first.
PROBE_RESULT_CODES = frozenset(
    {
        "DEFAULT_PROBE_FAILING",
        "BACKEND_CONNECT_FAILED",
        "PROBE_STATUS_MISMATCH",
        "PROBE_BODY_MISMATCH",
        "PROBE_TIMEOUT",
        "PROBE_LOG_UNRECOGNISED",
    }
)
_ROLE_RANK = {Role.CAUSE: 0, Role.SYMPTOM: 1, Role.NOTE: 2}


def role_of(code: str, severity: Severity | str) -> Role:
    """Symptom for the codes in `SYMPTOM_CODES`; otherwise a note when info, else a cause."""
    if code in SYMPTOM_CODES:
        return Role.SYMPTOM
    return Role.NOTE if Severity(severity) is Severity.INFO else Role.CAUSE


def reading_order(code: str, severity: Severity | str) -> tuple[int, int, bool, str]:
    """Sort key for findings as a person reads them: causes first, worst first (within a severity,
    configuration before what the probe saw), then symptoms, then notes; then by code."""
    return (_ROLE_RANK[role_of(code, severity)], Severity(severity).rank, code in PROBE_RESULT_CODES, code)


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
    # The changes to the resource at fault or its parents (newest first): what likely caused it.
    changes: tuple[PathChange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "title": self.title,
            "resource": self.resource,
            "evidence": self.evidence,
            "fix": self.fix.to_dict(),
            "changes": [change.to_dict() for change in self.changes],
        }

    @property
    def role(self) -> Role:
        """Cause, symptom or note: see `role_of`."""
        return role_of(self.code, self.severity)

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
            changes=tuple(PathChange.from_dict(c) for c in data.get("changes") or []),
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
