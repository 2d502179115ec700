"""A Diagnosis as text (for a person at 3 a.m.), JSON (for machines) or Markdown (for a ticket).

Text leads with what is wrong: the causes, most severe first, then the symptoms they explain, then
notes (`model.findings.reading_order`, as the notifications read), one line per finding, then its
evidence and the fix; then what the checks did, including the ones that could not run and why. It
counts causes apart from symptoms, as the notifications do; when nothing was found, or only symptoms,
it says so plainly, and says which checks could not tell.

What changed leads (`model.changes.PathChange`, on `Finding.changes`, newest first): when the top cause
has changes, both text and Markdown open with its newest one — what, when (relative to the incident
time; a diff: since the last healthy check), who (`an unknown caller` when the log does not say; the
bot's own change labelled so) and with what — and the `az` command that would undo it ("To undo (for
a person)"); each finding lists its changes (at most three, then `and N more`). Callers and summaries
come from outside (Activity Log claims): control characters become spaces, and Markdown escapes them.
"""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from core.arm_ids import name_of, resource_group_of
from core.iso8601 import as_utc, spoken_duration
from diagnostics.diagnosis import Diagnosis
from model.changes import APPGW_DOCTOR, LAST_HEALTHY_DIFF, PathChange
from model.findings import CheckResult, CheckStatus, Finding, Role, reading_order

FORMATS = ("text", "json", "markdown")
WIDTH = 110
VALUE_LENGTH = 200
REASON_LENGTH = 320
STATUS_ORDER = (CheckStatus.FAILED, CheckStatus.ERROR, CheckStatus.SKIPPED, CheckStatus.PASSED)
CHANGES_SHOWN = 3  # a finding's changes listed, newest first; the rest counted
UNDO_LABEL = "To undo (for a person)"
REFERENCE = "the incident time"  # what a change's time is told against
CHANGE_LENGTH = 240  # a change's summary
CALLER_LENGTH = 120
COMMAND_LENGTH = 2_000
_NOT_IN_A_LINE = ("Cc", "Cf", "Cs", "Zl", "Zp")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()<>#+\-!|~&])")
_AUTOLINK = re.compile(r"(?i)(://)|(www)\.")


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


def _plain(text: str, length: int | None = None) -> str:
    """Outside text on one line: control and format characters (an ESC sequence for the terminal, a
    bidi override, a line break) and lone surrogates become spaces, whitespace collapses; cut to
    `length`."""
    chars = (" " if unicodedata.category(char) in _NOT_IN_A_LINE else char for char in text)
    line = " ".join("".join(chars).split())
    return line if length is None or len(line) <= length else line[: length - 1] + "…"


def _md_text(text: str) -> str:
    """Outside text for Markdown, shown as typed: every markdown character backslash-escaped, and a
    URL or `www.` defanged (`https[:]//…`) so no renderer links it."""
    defanged = _AUTOLINK.sub(lambda m: "[:]//" if m.group(1) else f"{m.group(2)}[.]", text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", defanged)


def _fenced(command: str, indent: str = "  ") -> list[str]:
    """A fenced code block holding `command` (one line), its fence longer than any backtick run in it."""
    longest = max((len(run) for run in re.findall(r"`+", command)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{indent}{fence}sh", f"{indent}{command}", f"{indent}{fence}"]


def _clock(when: datetime, reference: datetime) -> str:
    """`10:21 UTC`, with the date when it is not the reference's day."""
    when, reference = as_utc(when), as_utc(reference)
    return f"{when:%H:%M} UTC" if when.date() == reference.date() else f"{when:%Y-%m-%d %H:%M} UTC"


def change_when(change: PathChange, reference: datetime) -> str:
    """`6 min before the incident time`, `since the last healthy check at 09:10 UTC`, `at an unknown
    time`."""
    if change.source == LAST_HEALTHY_DIFF:
        since = f" at {_clock(change.since, reference)}" if change.since is not None else ""
        return f"since the last healthy check{since}"
    if change.time is None:
        return "at an unknown time"
    delta = as_utc(reference) - as_utc(change.time)
    side = "before" if delta >= timedelta(0) else "after"
    return f"{spoken_duration(delta)} {side} {REFERENCE}"


def change_who(change: PathChange) -> str:
    """`alice@contoso.com (Azure CLI)`, `an unknown caller`, `appgw-doctor (the bot's own change)`."""
    if change.source == APPGW_DOCTOR:
        who = "appgw-doctor (the bot's own change)"
    else:
        who = _plain(change.caller or "", CALLER_LENGTH) or "an unknown caller"
    client = _plain(change.client or "", 60)
    return f"{who} ({client})" if client else who


def _change_summary(change: PathChange) -> str:
    return _plain(change.summary, CHANGE_LENGTH) or _plain(
        f"{change.operation} on {name_of(change.resource)}"
    )


def change_sentence(change: PathChange, reference: datetime) -> str:
    """`Rule DenyAll added to NSG nsg-agw, 6 min before the incident time by alice@contoso.com (Azure
    CLI)`: the change, when, who."""
    return f"{_change_summary(change)}, {change_when(change, reference)} by {change_who(change)}"


def change_line(change: PathChange, reference: datetime) -> str:
    """The compact form a finding lists: `<summary> — 6 min before the incident time (10:21 UTC), by
    <who>`."""
    at = f" ({_clock(change.time, reference)})" if change.time is not None else ""
    return f"{_change_summary(change)} — {change_when(change, reference)}{at}, by {change_who(change)}"


def culprit_of(findings: list[Finding]) -> tuple[Finding, PathChange] | None:
    """The top cause (in reading order) and its newest change, when it has one."""
    top = next((f for f in in_reading_order(findings) if f.role is Role.CAUSE), None)
    if top is None or not top.changes:
        return None
    return top, top.changes[0]


def _changes_listed(finding: Finding, reference: datetime) -> tuple[list[str], int]:
    """The newest `CHANGES_SHOWN` changes as lines, and how many more there are."""
    shown = finding.changes[:CHANGES_SHOWN]
    return [change_line(change, reference) for change in shown], len(finding.changes) - len(shown)


def _more_changes(hidden: int) -> str:
    return f"and {hidden} more change{'s' if hidden != 1 else ''} (the JSON report lists them)"


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
    culprit = culprit_of(diagnosis.findings)
    if culprit is not None:
        top, change = culprit
        sentence = f"{change_sentence(change, diagnosis.incident_time)}: {_plain(top.title)}"
        lines.extend(_wrap("What changed", sentence, indent=""))
        undo = _plain(change.undo or "", COMMAND_LENGTH)
        if undo:
            lines.append(f"  {UNDO_LABEL}: {undo}")
        lines.append("")
    errors = diagnosis.checks_with(CheckStatus.ERROR)
    if diagnosis.findings:
        count = len(diagnosis.findings)
        lines.append(
            f"{count} finding{'s' if count != 1 else ''}: {_role_tally(diagnosis.findings)} "
            f"({_severity_tally(diagnosis.findings)}):"
        )
        for finding in in_reading_order(diagnosis.findings):
            lines.append(finding_line(finding))
            changed, hidden = _changes_listed(finding, diagnosis.incident_time)
            if changed:
                lines.append("    changes (newest first):")
                for line in changed:
                    lines.extend(
                        textwrap.wrap(
                            line,
                            width=WIDTH,
                            initial_indent="      - ",
                            subsequent_indent="        ",
                            break_long_words=False,
                        )
                    )
                if hidden:
                    lines.append(f"      {_more_changes(hidden)}")
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
    ]
    culprit = culprit_of(diagnosis.findings)
    if culprit is not None:
        top, change = culprit
        sentence = f"{change_sentence(change, diagnosis.incident_time)}: {_plain(top.title)}"
        lines += [f"**What changed:** {_md_text(sentence)}", ""]
        undo = _plain(change.undo or "", COMMAND_LENGTH)
        if undo:
            lines += [f"{UNDO_LABEL}:", "", *_fenced(undo, indent=""), ""]
    lines += ["## Findings", ""]
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
        changed, hidden = _changes_listed(finding, diagnosis.incident_time)
        if changed:
            lines.append("- **Changes (newest first):**")
            lines += [f"  - {_md_text(line)}" for line in changed]
            if hidden:
                lines.append(f"  - {_md_text(_more_changes(hidden))}")
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
