"""The Teams rendering of a message: an Adaptive Card (schema 1.5) posted to a Workflows webhook.

Readable at 3 a.m.: a colored headline, the gateway's facts, one block per finding, the top cause
first (severity, title, resource, whether it is a cause or a symptom, its evidence as a few facts, the
fix and its `az` command in monospace), one block per remediation action (what happened in words —
"Fixed and verified", "Would do (dry-run)", "Rolled back" —, the action and the finding it answers,
the change `before -> after`, the `az` command that undoes or would make it in monospace, the
verification and the reason) and links to the portal and the incident record.

Teams Workflows refuses a post of about 28 KB, so `build_payload` keeps the serialized message within
`PAYLOAD_BUDGET` bytes whatever the diagnosis found (notifications.bounds): every text has a length
cap, the worst findings are shown in full, the next ones in one line each, and the rest are counted
in one line that says where the full list is (the incident record). Checks that could not run and
remediation statuses are shown as far as they fit and counted the same way.

Outside text is text (see notifications.text). What comes from Azure, an alert or a diagnosis goes
into `TextRun`s, which Teams never reads as markdown, so a `*` in an NSG rule or an `_` in a name
shows as typed; each run is one line, so a newline cannot forge another line. The fields Teams does
read as markdown (`Fact.title`, `Fact.value`, `fallbackText`) are escaped with `text.markdown`: an
alert rule named `[click](https://…)` shows as typed, not as a link. Section headings are bold runs
too: the card has no TextBlock. Its links (`Action.OpenUrl`: the portal, the incident record) are the
bot's own.

What changed leads: when the top cause has a change (`IncidentMessage.culprit`), the first block
under the headline says it ("What changed: <what, when, by whom>: <the cause>") with the `az` command
that would undo it in monospace ("To undo (for a person): ..."); it is part of the measured frame.
Each finding block lists its changes (newest first, at most three, then `and N more`) in TextRuns:
the callers and summaries are Activity Log claims, outside text like any other.

A fix awaiting approval (mode `approve`) carries its own two buttons, in an `ActionSet` at the end of
its block: **Approve** and **Reject** (`Action.OpenUrl`, the approval page with `decision=approve` or
`decision=reject`; the page asks to confirm with a POST, since link scanners open every link), or,
when the app has no public URL, the `appgw-doctor approve|reject <id>` commands. The buttons are part
of the block's measured cost, so they count against the budget like any other text.
"""

from __future__ import annotations

import json
from typing import Any

from model.findings import Severity
from model.remediation import ActionResult
from notifications.bounds import (
    LINK_MAX,
    Costs,
    Limits,
    Selection,
    cut,
    listed,
    more_findings,
    more_items,
    select,
)
from notifications.content import (
    ALARMING,
    UNDO_LABEL,
    ChangeLine,
    CheckLine,
    FindingLine,
    IncidentMessage,
    action_command,
    action_target,
    action_title,
    approval_commands,
    approval_expiry,
    approval_links,
    awaits_approval,
    change_text,
    more_actions,
    remediation_heading,
    status_word,
)
from notifications.text import markdown, one_line

SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
PAYLOAD_BUDGET = 27_000  # bytes of the serialized message; Teams' limit is about 28 KB

LIMITS = Limits(full=5, lines=20, checks=8, actions=10)  # the most a card shows, budget permitting

_TITLE_MAX = 300
_FACT_MAX = 200  # a fact's value (markdown: up to 4 bytes a character once escaped and serialized)
_LINE_TITLE_MAX = 200  # a finding shown in one line
_MORE_MAX = 700  # the "N more findings" line, with the command that lists them all
_NAMES_LISTED = 12  # check names listed before "and N more"
_EVIDENCE_VALUE_MAX = 300  # a fact's value: room for a probe log message
_FIX_MAX = 600
_COMMAND_MAX = 1_500
_REASON_MAX = 240
_CULPRIT_MAX = 500  # the "What changed" line under the headline
_UNDO_MAX = 800  # its undo command (an `az` command is far shorter; the email has room for more)
_CHANGE_MAX = 300  # one change a finding lists

# Teams' warning and good text colors are pale yellow and green, unreadable on white: a level shows as a
# colored pill (a styled Column) with dark text, and only red is used as a text color.
_LEVEL_STYLE = {Severity.CRITICAL: "attention", Severity.WARNING: "warning", Severity.INFO: "accent"}


def build_payload(message: IncidentMessage, *, budget: int = PAYLOAD_BUDGET) -> dict[str, Any]:
    """The webhook body for `message`: at most `budget` bytes once serialized by `serialize`, however
    many findings, checks and actions it has and however long their texts (notifications.bounds).

    The frame (the card with every list counted, none shown) is measured first; what the budget has
    left is spent on the findings in full, the checks that could not run, the remediation statuses
    and the findings in one line, each at the exact bytes its block adds.
    """
    frame = payload_size(_envelope(build_card(message, Selection.nothing(message))))
    if frame > budget:  # the frame's fields are capped: only a budget far below Teams' limit gets here
        raise ValueError(f"a budget of {budget} bytes cannot hold the card's frame of {frame} bytes")
    selection = select(message, budget - frame, LIMITS, _COSTS)
    return _envelope(build_card(message, selection))


def serialize(payload: dict[str, Any]) -> bytes:
    """The bytes posted to the webhook (compact JSON, UTF-8; a lone surrogate, which the card's text
    never holds, would be sent as `?` rather than fail the post)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")


def payload_size(payload: dict[str, Any]) -> int:
    return len(serialize(payload))


def build_card(message: IncidentMessage, selection: Selection) -> dict[str, Any]:
    """The Adaptive Card alone, showing what `selection` shows of the findings, actions and unrun
    checks and counting the rest."""
    body: list[dict[str, Any]] = [_header(message), *_culprit_section(message), _facts(message)]
    if message.kind == "incident":
        body += _findings_section(message, selection)
        body += _actions_section(message, selection)
        body += _checks_section(message, selection)
    elif message.kind == "approval":  # a decision's follow-up: the fix as it stands now
        body += _actions_section(message, selection)
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
                    _run(cut(message.gateway.name, _TITLE_MAX), weight="Bolder", size="Large"),
                ]
            ),
            _rich([_run(cut(message.headline, _TITLE_MAX), weight="Bolder", size="Medium")], spacing="Small"),
            _rich([_run(cut(message.summary, _TITLE_MAX), subtle=True)], spacing="Small"),
        ],
    }


def _culprit_section(message: IncidentMessage) -> list[dict[str, Any]]:
    """What changed on the top cause's path, first: the change and the cause, then its undo command."""
    culprit = message.culprit
    if culprit is None or message.kind != "incident":
        return []
    items: list[dict[str, Any]] = [
        _rich([_run("What changed: ", weight="Bolder"), _run(cut(culprit.text, _CULPRIT_MAX))])
    ]
    if culprit.change.own:
        items.append(
            _rich([_run("This change was made by appgw-doctor itself.", color="Attention")], spacing="None")
        )
    if culprit.undo:
        items.append(_command(f"{UNDO_LABEL}: ", cut(culprit.undo, _UNDO_MAX)))
    return [{"type": "Container", "spacing": "Medium", "items": items}]


def _command(label: str, command: str) -> dict[str, Any]:
    """A labelled `az` command in monospace, on the emphasis background."""
    return {
        "type": "Container",
        "style": "emphasis",
        "spacing": "Small",
        "items": [
            _rich(
                [
                    _run(label, weight="Bolder", size="Small"),
                    _run(command, font="Monospace", size="Small"),
                ]
            )
        ],
    }


def _facts(message: IncidentMessage) -> dict[str, Any]:
    return {
        "type": "FactSet",
        "spacing": "Medium",
        "facts": [
            {"title": _markdown(title, _TITLE_MAX), "value": _markdown(value, _FACT_MAX)}
            for title, value in message.facts()
        ],
    }


def _findings_section(message: IncidentMessage, selection: Selection) -> list[dict[str, Any]]:
    if message.diagnosis_error is not None:
        reason = cut(message.diagnosis_error, _REASON_MAX * 2)
        return [_heading("Could not diagnose the gateway"), _rich([_run(reason)], spacing="Small")]
    if not message.findings:
        return [_heading("No cause found")]
    section = [_heading(f"Findings ({message.findings_tally})")]
    section += [_finding_block(finding) for finding in selection.full]
    section += [_finding_line(finding) for finding in selection.lines]
    if selection.hidden:
        line = more_findings(message, selection.hidden, record_link_apart=_record_link_shown(message))
        section.append(_rich([_run(cut(line, _MORE_MAX), weight="Bolder")], separator=True))
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
                        _rich([_run(cut(finding.title, _TITLE_MAX), weight="Bolder")]),
                        _rich(
                            [
                                _run(
                                    f"{cut(finding.resource_label, _TITLE_MAX)} · "
                                    f"{cut(finding.code, _TITLE_MAX)} · {finding.role.value}",
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
    items += _change_lines(finding)
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
            _rich([_run("Fix: ", weight="Bolder"), _run(cut(finding.fix_summary, _FIX_MAX))], spacing="Small")
        )
    if finding.fix_command:
        items.append(
            {
                "type": "Container",
                "style": "emphasis",
                "spacing": "Small",
                "items": [
                    _rich([_run(cut(finding.fix_command, _COMMAND_MAX), font="Monospace", size="Small")])
                ],
            }
        )
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _change_lines(finding: FindingLine) -> list[dict[str, Any]]:
    """The finding's changes, newest first (at most three), then how many more."""
    if not finding.changes:
        return []
    lines = [_rich([_run("Changes (newest first)", weight="Bolder", size="Small")], spacing="Small")]
    lines += [_change_line(change) for change in finding.changes]
    more = finding.more_changes
    if more:
        lines.append(_rich([_run(more, subtle=True, size="Small")], spacing="None"))
    return lines


def _change_line(change: ChangeLine) -> dict[str, Any]:
    return _rich([_run(f"• {cut(change.line, _CHANGE_MAX)}", size="Small")], spacing="None")


def _finding_line(finding: FindingLine) -> dict[str, Any]:
    """A finding after those shown in full: its severity, title and resource on one line."""
    color = "Attention" if finding.severity is Severity.CRITICAL else None
    return _rich(
        [
            _run(f"{finding.severity.value.upper()}  ", color=color, weight="Bolder", size="Small"),
            _run(cut(finding.title, _LINE_TITLE_MAX), size="Small"),
            _run(f" · {cut(finding.resource_label, _LINE_TITLE_MAX)}", subtle=True, size="Small"),
        ],
        spacing="Small",
    )


def _actions_section(message: IncidentMessage, selection: Selection) -> list[dict[str, Any]]:
    if not message.shows_remediation:
        return []
    section = [_heading(remediation_heading(message))]
    if message.remediation_note:
        section.append(
            _rich([_run(cut(message.remediation_note, _REASON_MAX * 2), subtle=True)], spacing="Small")
        )
    section += [_action_block(action) for action in selection.actions]
    if selection.hidden_actions:
        section.append(_more_line(more_actions(selection.hidden_actions)))
    return section


def _action_block(action: ActionResult) -> dict[str, Any]:
    """One action: what happened in words, the action and the finding it answers, the resource, the
    change, the command (monospace), the verification and the reason."""
    alarming = action.status in ALARMING
    items: list[dict[str, Any]] = [
        _rich(
            [
                _run(f"{status_word(action)}  ", color="Attention" if alarming else None, weight="Bolder"),
                _run(cut(action_title(action), _TITLE_MAX), weight="Bolder"),
            ]
        )
    ]
    target = action_target(action)
    if target:
        items.append(_rich([_run(cut(target, _TITLE_MAX), subtle=True, size="Small")], spacing="None"))
    change = change_text(action)
    if change:
        items.append(_rich([_run("Change: ", weight="Bolder"), _run(cut(change, _FIX_MAX))], spacing="Small"))
    command = action_command(action)
    if command:
        label, text = command
        items.append(
            {
                "type": "Container",
                "style": "emphasis",
                "spacing": "Small",
                "items": [
                    _rich(
                        [
                            _run(f"{label}: ", weight="Bolder", size="Small"),
                            _run(cut(text, _COMMAND_MAX), font="Monospace", size="Small"),
                        ]
                    )
                ],
            }
        )
    if action.verification:
        items.append(
            _rich(
                [_run("Verification: ", weight="Bolder"), _run(cut(action.verification, _REASON_MAX))],
                spacing="Small",
            )
        )
    if action.reason:
        items.append(
            _rich(
                [
                    _run("Why: ", weight="Bolder"),
                    _run(cut(action.reason, _REASON_MAX), color="Attention" if alarming else None),
                ],
                spacing="Small",
            )
        )
    items += _approval_items(action)
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _approval_items(action: ActionResult) -> list[dict[str, Any]]:
    """For a fix awaiting approval: when its link expires, then its Approve and Reject buttons (the
    approval page, decision preselected), or the CLI commands when there is no page to link to."""
    if not awaits_approval(action):
        return []
    expiry = approval_expiry(action)
    items: list[dict[str, Any]] = []
    if expiry:
        items.append(_rich([_run("Link expires: ", weight="Bolder"), _run(expiry)], spacing="Small"))
    links = approval_links(action)
    if links:
        styles = {"Approve": "positive", "Reject": "destructive"}
        items.append(
            {
                "type": "ActionSet",
                "spacing": "Small",
                "actions": [
                    {"type": "Action.OpenUrl", "title": title, "url": url, "style": styles[title]}
                    for title, url in links
                ],
            }
        )
    for label, command in approval_commands(action):
        items.append(
            _rich(
                [
                    _run(f"{label}: ", weight="Bolder", size="Small"),
                    _run(command, font="Monospace", size="Small"),
                ],
                spacing="Small",
            )
        )
    return items


def _checks_section(message: IncidentMessage, selection: Selection) -> list[dict[str, Any]]:
    section: list[dict[str, Any]] = []
    if not message.findings and message.checks_run:
        names = listed([c.name for c in message.checks_run], _NAMES_LISTED)
        section.append(
            _rich(
                [
                    _run("Checks that ran and found nothing: ", weight="Bolder"),
                    _run(cut(names, _FIX_MAX), subtle=True),
                ],
                separator=True,
            )
        )
    if message.checks_not_run:
        section.append(_heading("Checks that could not run"))
        section += [_check_line(check) for check in selection.checks]
        if selection.hidden_checks:
            section.append(_more_line(more_items(len(selection.hidden_checks), "checks that could not run")))
    not_applicable = message.checks_not_applicable
    if not_applicable:
        names = listed([c.name for c in not_applicable], _NAMES_LISTED)
        section.append(
            _rich(
                [
                    _run(
                        f"Not applicable to this gateway ({len(not_applicable)}): ", size="Small", subtle=True
                    ),
                    _run(cut(names, _FIX_MAX), size="Small", subtle=True),
                ],
                separator=True,
            )
        )
    return section


def _check_line(check: CheckLine) -> dict[str, Any]:
    return _rich(
        [
            _run(f"{cut(check.name, _TITLE_MAX)}: ", weight="Bolder"),
            _run(cut(check.reason or "error", _REASON_MAX)),
        ],
        spacing="Small",
    )


def _more_line(text: str) -> dict[str, Any]:
    return _rich([_run(text, subtle=True)], spacing="Small")


def _record_link_shown(message: IncidentMessage) -> bool:
    return any(link["title"] == "Incident record" for link in _links(message))


def _block_cost(block: dict[str, Any]) -> int:
    """The bytes `block` adds to the card's body: its serialized form and the comma before it."""
    return len(serialize(block)) + 1


_COSTS = Costs(
    full=lambda finding: _block_cost(_finding_block(finding)),
    line=lambda finding: _block_cost(_finding_line(finding)),
    check=lambda check: _block_cost(_check_line(check)),
    action=lambda action: _block_cost(_action_block(action)),
)


def _links(message: IncidentMessage) -> list[dict[str, Any]]:
    return [
        {"type": "Action.OpenUrl", "title": title, "url": url}
        for title, url in message.links()
        if len(url) <= LINK_MAX
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


def _markdown(text: str, limit: int) -> str:
    """Outside text for a field Teams reads as markdown: one line, cut, then escaped (so a cut never
    splits an escape)."""
    return markdown(cut(one_line(text).strip(), limit))
