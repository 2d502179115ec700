"""The Teams rendering of a message: an Adaptive Card (schema 1.5) posted to a Workflows webhook.

Readable at 3 a.m.: a colored headline, the gateway's facts, one block per finding, the top cause
first (severity, title, resource, whether it is a cause or a symptom, its evidence as a few facts, the
fix and its `az` command in monospace), remediation statuses and links to the portal and the incident
record.

Teams rejects a post larger than about 28 KB, so `build_payload` keeps the whole serialized message
within `PAYLOAD_BUDGET` bytes: every field has a length cap, and findings that do not fit are
replaced by one "N more findings" line pointing at the full report (the incident record when there is
a link to it, else the email).

Outside text is text (see notifications.text). What comes from Azure, an alert or a diagnosis goes
into `TextRun`s, which Teams never reads as markdown, so a `*` in an NSG rule or an `_` in a name
shows as typed; each run is one line, so a newline cannot forge another line. The fields Teams does
read as markdown (`Fact.title`, `Fact.value`, `fallbackText`) are escaped with `text.markdown`: an
alert rule named `[click](https://…)` shows as typed, not as a link. Section headings are bold runs
too: the card has no TextBlock. Its links (`Action.OpenUrl`: the portal, the incident record) are the
bot's own.
"""

from __future__ import annotations

import json
from typing import Any

from model.findings import Severity
from notifications.content import ActionStatus, CheckLine, FindingLine, IncidentMessage
from notifications.text import markdown, one_line

SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
PAYLOAD_BUDGET = 27_000  # bytes of the serialized message; Teams' limit is about 28 KB

_TITLE_MAX = 300
_EVIDENCE_VALUE_MAX = 300  # a fact's value: room for a probe log message
_FIX_MAX = 600
_COMMAND_MAX = 1_500
_REASON_MAX = 240
_CHECKS_MAX = 12
_URL_MAX = 2_048  # a longer link is dropped rather than cut: a cut link opens the wrong page

# Teams' warning and good text colors are pale yellow and green, unreadable on white: a level shows as a
# colored pill (a styled Column) with dark text, and only red is used as a text color.
_LEVEL_STYLE = {Severity.CRITICAL: "attention", Severity.WARNING: "warning", Severity.INFO: "accent"}


def build_payload(message: IncidentMessage, *, budget: int = PAYLOAD_BUDGET) -> dict[str, Any]:
    """The webhook body for `message`, at most `budget` bytes once serialized by `serialize`.

    Shows as many findings (worst first) and unrun checks as fit; the rest are counted, not dropped
    silently.
    """
    shown_checks = min(len(message.checks_not_run), _CHECKS_MAX)
    full = _envelope(build_card(message, max_findings=len(message.findings), max_checks=shown_checks))
    if payload_size(full) <= budget:
        return full
    # Binary search for the most findings that fit: the payload shrinks as findings are left out.
    low, high = 0, len(message.findings) - 1
    best: dict[str, Any] | None = None
    while low <= high:
        middle = (low + high) // 2
        candidate = _envelope(build_card(message, max_findings=middle, max_checks=shown_checks))
        if payload_size(candidate) <= budget:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    if best is not None:
        return best
    return _envelope(build_card(message, max_findings=0, max_checks=0))


def serialize(payload: dict[str, Any]) -> bytes:
    """The bytes posted to the webhook (compact JSON, UTF-8; a lone surrogate, which the card's text
    never holds, would be sent as `?` rather than fail the post)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")


def payload_size(payload: dict[str, Any]) -> int:
    return len(serialize(payload))


def build_card(message: IncidentMessage, *, max_findings: int, max_checks: int) -> dict[str, Any]:
    """The Adaptive Card alone, showing at most `max_findings` findings and `max_checks` unrun checks."""
    body: list[dict[str, Any]] = [_header(message), _facts(message)]
    if message.kind == "incident":
        body += _findings_section(message, max_findings)
        body += _actions_section(message.actions)
        body += _checks_section(message, max_checks)
    card: dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": _markdown(message.subject, _TITLE_MAX),
        "body": body,
    }
    links = _links(message)
    if links:
        card["actions"] = links
    return card


def _envelope(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _header(message: IncidentMessage) -> dict[str, Any]:
    if message.kind == "resolved":
        tag, style = "RESOLVED", "good"
    else:
        tag, style = message.level.value.upper(), _LEVEL_STYLE[message.level]
    color = "Attention" if style == "attention" else None
    return {
        "type": "Container",
        "style": style,
        "bleed": True,
        "items": [
            _rich(
                [
                    _run(f"{tag}  ", color=color, weight="Bolder", size="Large"),
                    _run(_cut(message.gateway.name, _TITLE_MAX), weight="Bolder", size="Large"),
                ]
            ),
            _rich(
                [_run(_cut(message.headline, _TITLE_MAX), weight="Bolder", size="Medium")], spacing="Small"
            ),
            _rich([_run(_cut(message.summary, _TITLE_MAX), subtle=True)], spacing="Small"),
        ],
    }


def _facts(message: IncidentMessage) -> dict[str, Any]:
    return {
        "type": "FactSet",
        "spacing": "Medium",
        "facts": [
            {"title": _markdown(title, _TITLE_MAX), "value": _markdown(value, _TITLE_MAX)}
            for title, value in message.facts()
        ],
    }


def _findings_section(message: IncidentMessage, max_findings: int) -> list[dict[str, Any]]:
    if message.diagnosis_error is not None:
        reason = _cut(message.diagnosis_error, _REASON_MAX * 2)
        return [_heading("Could not diagnose the gateway"), _rich([_run(reason)], spacing="Small")]
    if not message.findings:
        return [_heading("No cause found")]
    shown = message.findings[:max_findings]
    section = [_heading(f"Findings ({message.findings_tally})")]
    section += [_finding_block(finding) for finding in shown]
    hidden = message.findings[len(shown) :]
    if hidden:
        counts = ", ".join(
            f"{sum(1 for f in hidden if f.severity is s)} {s.value}"
            for s in Severity
            if any(f.severity is s for f in hidden)
        )
        where = (
            "the incident record has the full report" if message.record_url else "the email has every finding"
        )
        noun = "finding" if len(hidden) == 1 else "findings"
        line = f"{len(hidden)} more {noun} not shown ({counts}) — {where}."
        section.append(_rich([_run(line, weight="Bolder")], separator=True))
    return section


def _finding_block(finding: FindingLine) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "type": "ColumnSet",
            "columns": [
                {
                    "type": "Column",
                    "width": "auto",
                    "style": _LEVEL_STYLE[finding.severity],
                    "verticalContentAlignment": "Center",
                    "items": [_rich([_run(finding.severity.value.upper(), weight="Bolder", size="Small")])],
                },
                {
                    "type": "Column",
                    "width": "stretch",
                    "verticalContentAlignment": "Center",
                    "items": [
                        _rich([_run(_cut(finding.title, _TITLE_MAX), weight="Bolder")]),
                        _rich(
                            [
                                _run(
                                    f"{_cut(finding.resource_label, _TITLE_MAX)} · "
                                    f"{_cut(finding.code, _TITLE_MAX)} · {finding.role.value}",
                                    subtle=True,
                                    size="Small",
                                )
                            ],
                            spacing="None",
                        ),
                    ],
                },
            ],
        },
    ]
    if finding.evidence:
        # A few facts (notifications.evidence); Teams reads Fact titles and values as markdown.
        items.append(
            {
                "type": "FactSet",
                "spacing": "Small",
                "facts": [
                    {
                        "title": _markdown(label, _EVIDENCE_VALUE_MAX),
                        "value": _markdown(value, _EVIDENCE_VALUE_MAX),
                    }
                    for label, value in finding.evidence
                ],
            }
        )
    if finding.fix_summary:
        items.append(
            _rich(
                [_run("Fix: ", weight="Bolder"), _run(_cut(finding.fix_summary, _FIX_MAX))], spacing="Small"
            )
        )
    if finding.fix_command:
        items.append(
            {
                "type": "Container",
                "style": "emphasis",
                "spacing": "Small",
                "items": [
                    _rich([_run(_cut(finding.fix_command, _COMMAND_MAX), font="Monospace", size="Small")])
                ],
            }
        )
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _actions_section(actions: tuple[ActionStatus, ...]) -> list[dict[str, Any]]:
    if not actions:
        return []
    section = [_heading("Remediation")]
    for action in actions:
        runs = [
            _run(
                f"{action.status.upper()}  ",
                color="Attention" if action.status == "rolled-back" else None,
                weight="Bolder",
            ),
            _run(f"{_cut(action.action, _TITLE_MAX)} on {_cut(action.target, _TITLE_MAX)}"),
        ]
        if action.reason:
            runs.append(_run(f" — {_cut(action.reason, _REASON_MAX)}", subtle=True))
        section.append(_rich(runs, spacing="Small"))
    return section


def _checks_section(message: IncidentMessage, max_checks: int) -> list[dict[str, Any]]:
    not_run = message.checks_not_run
    section: list[dict[str, Any]] = []
    if not message.findings and message.checks_run:
        names = ", ".join(c.name for c in message.checks_run)
        section.append(
            _rich(
                [
                    _run("Checks that ran and found nothing: ", weight="Bolder"),
                    _run(_cut(names, _FIX_MAX), subtle=True),
                ],
                separator=True,
            )
        )
    if not_run:
        section += _not_run_section(not_run, max_checks)
    not_applicable = message.checks_not_applicable
    if not_applicable:
        names = ", ".join(c.name for c in not_applicable)
        section.append(
            _rich(
                [
                    _run(
                        f"Not applicable to this gateway ({len(not_applicable)}): ", size="Small", subtle=True
                    ),
                    _run(_cut(names, _FIX_MAX), size="Small", subtle=True),
                ],
                separator=True,
            )
        )
    return section


def _not_run_section(not_run: tuple[CheckLine, ...], max_checks: int) -> list[dict[str, Any]]:
    section = [_heading("Checks that could not run")]
    for check in not_run[:max_checks]:
        section.append(
            _rich(
                [
                    _run(f"{_cut(check.name, _TITLE_MAX)}: ", weight="Bolder"),
                    _run(_cut(check.reason or "error", _REASON_MAX)),
                ],
                spacing="Small",
            )
        )
    if len(not_run) > max_checks:
        section.append(
            _rich([_run(f"{len(not_run) - max_checks} more not shown.", subtle=True)], spacing="Small")
        )
    return section


def _links(message: IncidentMessage) -> list[dict[str, Any]]:
    return [
        {"type": "Action.OpenUrl", "title": title, "url": url}
        for title, url in message.links()
        if len(url) <= _URL_MAX
    ]


def _heading(text: str) -> dict[str, Any]:
    """A section heading: a bold run, not a TextBlock (whose text Teams reads as markdown)."""
    return _rich([_run(text, weight="Bolder", size="Medium")], spacing="Large", separator=True)


def _rich(
    inlines: list[dict[str, Any]], *, spacing: str | None = None, separator: bool = False
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "RichTextBlock", "inlines": inlines}
    if spacing:
        block["spacing"] = spacing
    if separator:
        block["separator"] = True
    return block


def _run(
    text: str,
    *,
    color: str | None = None,
    weight: str | None = None,
    size: str | None = None,
    subtle: bool = False,
    font: str | None = None,
) -> dict[str, Any]:
    run: dict[str, Any] = {"type": "TextRun", "text": one_line(text)}
    for key, value in (("color", color), ("weight", weight), ("size", size), ("fontType", font)):
        if value:
            run[key] = value
    if subtle:
        run["isSubtle"] = True
    return run


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _markdown(text: str, limit: int) -> str:
    """Outside text for a field Teams reads as markdown: one line, cut, then escaped (so a cut never
    splits an escape)."""
    return markdown(_cut(one_line(text).strip(), limit))
