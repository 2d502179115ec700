"""A Diagnosis as text (for a person at 3 a.m.), JSON (for machines) or Markdown (for a ticket).

Text leads with what is wrong: the causes, most severe first, then the symptoms they explain, then
notes (`model.findings.reading_order`, as the notifications read), one line per finding, then its
evidence and the fix; then what the checks did, including the ones that could not run and why. It
counts causes apart from symptoms, as the notifications do; when nothing was found, or only symptoms,
it says so plainly, and says which checks could not tell.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from core.arm_ids import name_of, resource_group_of
from core.iso8601 import as_utc
from diagnostics.diagnosis import Diagnosis
from model.findings import CheckResult, CheckStatus, Finding, Role, reading_order

FORMATS = ("text", "json", "markdown")
WIDTH = 110
VALUE_LENGTH = 200
REASON_LENGTH = 320
STATUS_ORDER = (CheckStatus.FAILED, CheckStatus.ERROR, CheckStatus.SKIPPED, CheckStatus.PASSED)


def render(diagnosis: Diagnosis, fmt: str = "text") -> str:
    if fmt == "json":
        return render_json(diagnosis)
    if fmt == "markdown":
        return render_markdown(diagnosis)
    if fmt == "text":
        return render_text(diagnosis)
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def render_json(diagnosis: Diagnosis) -> str:
    return json.dumps(diagnosis.to_dict(), indent=2, default=str)


def _when(diagnosis: Diagnosis) -> str:
    return as_utc(diagnosis.incident_time).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short_ids(value: Any) -> Any:
    """ARM ids shortened to their last segment: the name is what a person recognises."""
    if isinstance(value, str) and value.lower().startswith("/subscriptions/"):
        return name_of(value)
    if isinstance(value, dict):
        return {name: _short_ids(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_short_ids(item) for item in value]
    return value


def _value(value: Any, length: int = VALUE_LENGTH) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


def evidence_lines(evidence: dict[str, Any], indent: str = "      ") -> list[str]:
    """One line per evidence item, ARM ids as names, nested values as compact JSON cut to the width."""
    return [
        f"{indent}{name}: {_value(_short_ids(value), WIDTH - len(indent) - len(name) - 2)}"
        for name, value in evidence.items()
    ]


def _tally(diagnosis: Diagnosis) -> str:
    counts = {status: len(diagnosis.checks_with(status)) for status in STATUS_ORDER}
    order = (CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.ERROR, CheckStatus.SKIPPED)
    return ", ".join(f"{counts[status]} {status.value}" for status in order)


def _severity_tally(findings: list[Finding]) -> str:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
    return ", ".join(f"{count} {severity}" for severity, count in counts.items())


def in_reading_order(findings: list[Finding]) -> list[Finding]:
    """Causes first (worst first), then symptoms, then notes: the order the notifications use."""
    return sorted(findings, key=lambda finding: reading_order(finding.code, finding.severity))


def _role_tally(findings: list[Finding]) -> str:
    """`2 causes of 502s, 1 symptom, 1 note`, or `no cause of 502s, 1 symptom` when none is a cause."""
    counts = {role: sum(1 for finding in findings if finding.role is role) for role in Role}
    causes = counts[Role.CAUSE]
    parts = [f"{causes} cause{'s' if causes != 1 else ''} of 502s" if causes else "no cause of 502s"]
    parts += [
        f"{counts[role]} {role.value}{'s' if counts[role] != 1 else ''}"
        for role in (Role.SYMPTOM, Role.NOTE)
        if counts[role]
    ]
    return ", ".join(parts)


def finding_line(finding: Finding) -> str:
    return (
        f"{finding.severity.value.upper():<8}  {finding.code}  {name_of(finding.resource)}  {finding.title}"
    )


def _wrap(label: str, text: str, indent: str = "    ") -> list[str]:
    hanging = indent + " " * (len(label) + 2)
    return textwrap.wrap(
        f"{label}: {text}",
        width=WIDTH,
        initial_indent=indent,
        subsequent_indent=hanging,
        break_long_words=False,
    )


def render_text(diagnosis: Diagnosis, *, compact: bool = False) -> str:
    """The report a person reads; `compact` leaves out evidence and the per-check list."""
    group = resource_group_of(diagnosis.gateway) or "?"
    lines = [
        f"Application Gateway {name_of(diagnosis.gateway)} (resource group {group})",
        f"Incident time {_when(diagnosis)}",
        "",
    ]
    errors = diagnosis.checks_with(CheckStatus.ERROR)
    if diagnosis.findings:
        count = len(diagnosis.findings)
        lines.append(
            f"{count} finding{'s' if count != 1 else ''}: {_role_tally(diagnosis.findings)} "
            f"({_severity_tally(diagnosis.findings)}):"
        )
        for finding in in_reading_order(diagnosis.findings):
            lines.append(finding_line(finding))
            if finding.evidence and not compact:
                lines.append("    evidence:")
                lines.extend(evidence_lines(finding.evidence))
            if finding.fix.summary:
                lines.extend(_wrap("fix", finding.fix.summary))
            if finding.fix.command:
                lines.append(f"         {finding.fix.command}")
            if finding.fix.action:
                lines.append(f"         (safe automatic fix available: {finding.fix.action})")
    elif errors:
        lines.append(
            f"No cause found, but {len(errors)} check{'s' if len(errors) != 1 else ''} could not run, "
            "so the cause may be among what they would have examined:"
        )
    else:
        lines.append(f"No cause found: all {len(diagnosis.checks)} checks ran and none found a problem.")
        noted = [c.name for c in diagnosis.checks if c.status is CheckStatus.PASSED and c.reason]
        if noted:
            lines.append(f"Read the notes of {', '.join(noted)} below: what they could not examine, or why.")
    lines.append("")
    lines.append(f"Checks: {_tally(diagnosis)}")
    for check in _listed_checks(diagnosis, compact=compact):
        label = f"{check.status.value:<7} {check.name}"
        if compact:  # one line per check
            lines.append(f"  {label}: {_value(check.reason, WIDTH - len(label) - 4)}")
            continue
        reason = _value(check.reason, REASON_LENGTH) if check.reason else "(no reason given)"
        lines.extend(_wrap(label, reason, indent="  "))
    lines.append(f"Took {diagnosis.duration_seconds:.1f} s, {diagnosis.arm_calls} ARM calls.")
    return "\n".join(lines)


def _listed_checks(diagnosis: Diagnosis, *, compact: bool) -> list[CheckResult]:
    """Checks worth a line: the ones that could not run, and the ones that ran but say what they
    left out, always; skipped ones unless compact."""
    noted = [
        check
        for status in (CheckStatus.FAILED, CheckStatus.PASSED)
        for check in diagnosis.checks_with(status)
        if check.reason
    ]
    skipped = [] if compact else diagnosis.checks_with(CheckStatus.SKIPPED)
    return [*diagnosis.checks_with(CheckStatus.ERROR), *noted, *skipped]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(diagnosis: Diagnosis) -> str:
    gateway = name_of(diagnosis.gateway)
    lines = [
        f"# Application Gateway diagnosis: {gateway}",
        "",
        f"- **Resource group:** {resource_group_of(diagnosis.gateway) or '?'}",
        f"- **Gateway:** `{diagnosis.gateway}`",
        f"- **Incident time:** {_when(diagnosis)}",
        f"- **Checks:** {_tally(diagnosis)}",
        f"- **Took:** {diagnosis.duration_seconds:.1f} s, {diagnosis.arm_calls} ARM calls",
        "",
        "## Findings",
        "",
    ]
    errors = diagnosis.checks_with(CheckStatus.ERROR)
    if not diagnosis.findings:
        if errors:
            lines.append(f"**No cause found, but {len(errors)} check(s) could not run** (see below).")
        else:
            lines.append("**No cause found:** every check ran and none found a problem.")
        lines.append("")
    else:
        tally = _role_tally(diagnosis.findings)
        lines += [f"**{tally[0].upper()}{tally[1:]}.**", ""]
    for finding in in_reading_order(diagnosis.findings):
        lines += [
            f"### {finding.severity.value.upper()} `{finding.code}`: {finding.title}",
            "",
            f"- **Resource:** `{name_of(finding.resource)}` (`{finding.resource}`)",
        ]
        if finding.evidence:
            lines.append("- **Evidence:**")
            lines += [f"  - `{name}`: {_md(_value(value))}" for name, value in finding.evidence.items()]
        if finding.fix.summary:
            lines.append(f"- **Fix:** {finding.fix.summary}")
        if finding.fix.action:
            lines.append(f"- **Safe automatic fix:** `{finding.fix.action}`")
        if finding.fix.command:
            lines += ["", "  ```sh", f"  {finding.fix.command}", "  ```"]
        lines.append("")
    lines += ["## Checks", "", "| check | status | reason |", "|---|---|---|"]
    for status in STATUS_ORDER:
        for check in diagnosis.checks_with(status):
            lines.append(f"| {check.name} | {status.value} | {_md(check.reason)} |")
    return "\n".join(lines) + "\n"
