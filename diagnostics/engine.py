"""Runs the registered checks over one snapshot, each in isolation.

A check that cannot get its data reports `error` with the reason, one with nothing to look at
reports `skipped`, and a bug in one check is reported as that check's `error` — the diagnosis
goes on and never mistakes a check that did not run for "no problem found".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diagnostics.checks import CHECKS
from diagnostics.checks.base import Check, NotApplicable
from diagnostics.snapshot import MALFORMED, MissingData, Snapshot, key
from model.findings import SYMPTOM_CODES, CheckResult, CheckStatus, Finding


def run_check(check: Check, snapshot: Snapshot) -> CheckResult:
    try:
        findings = check.run(snapshot)
    except MissingData as missing:
        return CheckResult(check.name, CheckStatus.ERROR, reason=str(missing))
    except NotApplicable as not_applicable:
        return CheckResult(check.name, CheckStatus.SKIPPED, reason=str(not_applicable))
    except Exception as error:  # one broken check must not sink the diagnosis
        failure = f"{type(error).__name__}: {error}"
        if MALFORMED in snapshot.errors:  # what it tripped over is data ARM would not return
            return CheckResult(
                check.name, CheckStatus.ERROR, reason=f"{MALFORMED}: {snapshot.errors[MALFORMED]} ({failure})"
            )
        return CheckResult(check.name, CheckStatus.ERROR, reason=f"internal error: {failure}")
    note = getattr(findings, "note", "")
    if findings:
        return CheckResult(check.name, CheckStatus.FAILED, reason=note, findings=tuple(findings))
    return CheckResult(check.name, CheckStatus.PASSED, reason=note)


def run_checks(snapshot: Snapshot, checks: Sequence[Check] = CHECKS) -> list[CheckResult]:
    """One result per check, in registry order."""
    return [run_check(check, snapshot) for check in checks]


# Findings that say *that* backends fail, not why: within a severity they come after the causes, so
# the first line a person reads at 3 a.m. is the thing to fix.


def finding_order(finding: Finding) -> tuple[int, bool, str]:
    """Most severe first; within a severity, causes before symptoms; then by code."""
    return (finding.severity.rank, finding.code in SYMPTOM_CODES, finding.code)


def findings_of(results: Iterable[CheckResult]) -> list[Finding]:
    """All findings in `finding_order` (the report, JSON and notifications share it); one per
    (code, resource)."""
    unique: dict[tuple[str, str], Finding] = {}
    for result in results:
        for finding in result.findings:
            unique.setdefault((finding.code, key(finding.resource)), finding)
    return sorted(unique.values(), key=finding_order)
