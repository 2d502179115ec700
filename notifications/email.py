"""The email rendering of a message and its delivery over SMTP.

One `EmailMessage`, multipart/alternative: a plain-text part and an HTML part carrying the same
content (the findings, the top cause first, with their evidence as a few facts, fix and `az` command;
remediation: one block per action with what happened in words, the change `before -> after`, the `az`
command that undoes or would make it, the verification and the reason; checks that could not run or
did not apply, links). Each part stays within `PART_BUDGET` bytes whatever the diagnosis found
(notifications.bounds): every text is capped, the worst findings are shown in full, the next ones in
one line each, and the rest are counted in one line that says where the full list is (the incident
record); remediation actions are shown as far as they fit and the rest counted. Both parts show the
same findings and actions.

Outside text is text (see notifications.text): every line of the plain-text part is one line (an
alert rule name's `\n` cannot forge another), everything in the HTML part is `html.escape`d, and
headers (the Subject, the incident id) are one bounded line, which `email.message` encodes. Lone
surrogates become U+FFFD, so building an email never fails on what an alert or Azure sent.

What changed leads: when the top cause has a change (`IncidentMessage.culprit`), both parts say it
right under the subject line / the header box ("What changed: <what, when, by whom>: <the cause>"),
then the `az` command that would undo it ("To undo (for a person)", monospace in the HTML part).
Each finding lists its changes (newest first, at most three, then `and N more`); callers and
summaries are Activity Log claims, escaped like any other outside text.

A fix awaiting approval (mode `approve`) shows when its link expires and two links, **Approve** and
**Reject** (styled as buttons in the HTML part, each URL on its own line in the text part; the page
behind them asks to confirm), or the `appgw-doctor approve|reject <id>` commands when the app has no
public URL.

A resolution email threads under its incident's email: the incident email's Message-ID is derived
from the incident id, and the resolution refers to it (In-Reply-To, References); so does the
follow-up after an approval was decided (kind `approval`, its own Message-ID from the approval's id
and the decision, and an `X-AppGW-Doctor-Approval` header).

`send_email` speaks SMTP with `smtplib`: STARTTLS when the server offers it (or always, or never, as
configured) and AUTH LOGIN/PLAIN when a user name is set — never over a connection without TLS
unless STARTTLS is explicitly `never`, which is what Exchange Online
(smtp.office365.com:587), SendGrid (smtp.sendgrid.net:587) and Azure Communication Services' SMTP
relay (smtp.azurecomm.net:587) expect.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape as html_escape
from typing import Literal

from model.findings import Severity
from model.remediation import FAILED, PLANNED, ROLLED_BACK, VERIFIED, ActionResult
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
    change_text,
    more_actions,
    remediation_heading,
    status_word,
)
from notifications.text import header, one_line

StartTls = Literal["auto", "always", "never"]

_LEVEL_COLOR = {Severity.CRITICAL: "#c4314b", Severity.WARNING: "#c19c00", Severity.INFO: "#4f6bed"}
_RESOLVED_COLOR = "#237b4b"
_STATUS_COLOR = {VERIFIED: "#237b4b", ROLLED_BACK: "#c4314b", FAILED: "#c4314b", PLANNED: "#4f6bed"}
_STATUS_DEFAULT_COLOR = "#616161"
_APPROVE_COLOR, _REJECT_COLOR = "#237b4b", "#c4314b"
_LABEL_WIDTH = 18  # `To apply by hand:` and a space: the labels of an action's lines line up
_MSGID_DOMAIN = "appgw-doctor"

PART_BUDGET = 100_000  # UTF-8 bytes of each part (plain text, HTML) before transfer encoding
LIMITS = Limits(full=20, lines=200, checks=40, actions=40)  # the most an email shows, budget permitting

_TITLE_MAX = 500
_FACT_MAX = 300
_NAME_MAX = 100  # a check's name in a list of names
_NOTE_MAX = 150  # why a check did not apply
_CHECKS_LISTED = 12  # checks named before "and N more"
_EVIDENCE_VALUE_MAX = 2_000
_FIX_MAX = 2_000
_COMMAND_MAX = 4_000
_REASON_MAX = 1_000
_SUBJECT_MAX = 250  # characters; mail clients show less, and a relay may refuse a huge header
_HEADER_MAX = 200


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail. `password` is a secret: in Azure, a Key Vault reference."""

    host: str
    sender: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of logs and incident records
    starttls: StartTls = "auto"
    timeout: float = 20.0


class SmtpSecurityError(smtplib.SMTPException):
    """The connection cannot be made safe: STARTTLS is required (or credentials are set) and the server
    does not offer it."""


def build_email(
    message: IncidentMessage, *, sender: str, recipients: list[str] | tuple[str, ...]
) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = header(message.subject, _SUBJECT_MAX)
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Date"] = formatdate(localtime=False, usegmt=True)
    if message.kind == "approval":
        email["Message-ID"] = approval_message_id(message.message_id, message.decision or "decided")
        email["X-AppGW-Doctor-Approval"] = header(message.message_id, _HEADER_MAX)
        if message.incident_id:
            incident_msgid = incident_message_id(message.incident_id)
            email["In-Reply-To"] = incident_msgid
            email["References"] = incident_msgid
            email["X-AppGW-Doctor-Incident"] = header(message.incident_id, _HEADER_MAX)
    elif message.incident_id:
        incident_msgid = incident_message_id(message.incident_id)
        if message.kind == "resolved":
            email["Message-ID"] = incident_msgid.replace("@", ".resolved@", 1)
            email["In-Reply-To"] = incident_msgid
            email["References"] = incident_msgid
        else:
            email["Message-ID"] = incident_msgid
        email["X-AppGW-Doctor-Incident"] = header(message.incident_id, _HEADER_MAX)
    else:
        email["Message-ID"] = make_msgid(domain=_MSGID_DOMAIN)
        email["X-AppGW-Doctor-Diagnosis"] = header(message.message_id, _HEADER_MAX)
    email.set_content(render_text(message))
    email.add_alternative(render_html(message), subtype="html")
    return email


def incident_message_id(incident_id: str) -> str:
    """The Message-ID of an incident's email, derived from the incident id so the resolution (sent
    later, by another worker) can refer to it."""
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", incident_id).strip(".-") or "incident"
    return f"<incident.{safe}@{_MSGID_DOMAIN}>"


def approval_message_id(approval_id: str, decision: str) -> str:
    """The Message-ID of the follow-up to an approval's decision: one per approval and decision, so a
    retried delivery is the same message."""
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{approval_id}.{decision}").strip(".-") or "approval"
    return f"<approval.{safe}@{_MSGID_DOMAIN}>"


def send_email(
    email: EmailMessage, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Send one message; raises `smtplib.SMTPException`/`OSError` on failure (the caller retries).

    With `auto`, STARTTLS is used when offered; when it is not, the message is still sent without
    credentials, but a password is never sent in clear text: that needs SMTP_STARTTLS=never.
    """
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        smtp.ehlo()
        offered = smtp.has_extn("starttls")
        where = f"{settings.host}:{settings.port}"
        if settings.starttls == "always" and not offered:
            raise SmtpSecurityError(f"{where} does not offer STARTTLS (SMTP_STARTTLS=always)")
        if settings.starttls != "never" and offered:
            smtp.starttls(context=ssl_context or ssl.create_default_context())
            smtp.ehlo()
        elif settings.username and settings.starttls != "never":
            raise SmtpSecurityError(
                f"{where} does not offer STARTTLS; not sending the SMTP password in clear text "
                "(set SMTP_STARTTLS=never to allow it)"
            )
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(email)


def render_text(message: IncidentMessage, selection: Selection | None = None) -> str:
    """The plain-text part: what `email_selection` shows (by default), within `PART_BUDGET` bytes."""
    selection = selection or email_selection(message)
    return "\n".join(one_line(line) for line in _text_lines(message, selection)) + "\n"


def _text_lines(message: IncidentMessage, selection: Selection) -> list[str]:
    # Each item is one line once rendered: a line break inside one (outside text) would forge another.
    lines = [
        cut(message.subject, _TITLE_MAX),
        "",
        *_text_culprit(message),
        cut(message.summary, _TITLE_MAX),
        "",
    ]
    lines += [f"{title + ':':<16}{cut(value, _FACT_MAX)}" for title, value in message.facts()]
    if message.kind == "approval":
        lines += _text_remediation(message, selection)
    if message.kind == "incident":
        if message.diagnosis_error is not None:
            lines += ["", "COULD NOT DIAGNOSE THE GATEWAY", f"  {cut(message.diagnosis_error, _REASON_MAX)}"]
        elif message.findings:
            lines += ["", f"FINDINGS ({message.findings_tally})"]
        else:
            lines += ["", "NO CAUSE FOUND"]
        numbers = _numbers(message)
        for finding in selection.full:
            lines += _text_finding(finding, numbers[id(finding)])
        if selection.lines:
            lines.append("")
        for finding in selection.lines:
            lines += _text_finding_line(finding, numbers[id(finding)])
        if selection.hidden:
            lines += ["", more_findings(message, selection.hidden, record_link_apart=False)]
        lines += _text_remediation(message, selection)
        if not message.findings and message.checks_run:
            lines += ["", "Checks that ran and found nothing: " + _check_names(message.checks_run)]
        if message.checks_not_run:
            lines += ["", "CHECKS THAT COULD NOT RUN"]
            lines += [_text_check(check) for check in selection.checks]
            if selection.hidden_checks:
                lines.append("  " + more_items(len(selection.hidden_checks), "checks that could not run"))
        if message.checks_not_applicable:
            lines += ["", "Not applicable to this gateway:"]
            lines += [f"  {text}" for text in _not_applicable(message)]
    lines += ["", *(f"{title}: {url}" for title, url in _links(message))]
    return lines


def _text_culprit(message: IncidentMessage) -> list[str]:
    """What changed on the top cause's path, and how to undo it, then a blank line; none without."""
    culprit = message.culprit
    if culprit is None or message.kind != "incident":
        return []
    lines = [f"WHAT CHANGED: {cut(culprit.text, _TITLE_MAX * 2)}"]
    if culprit.change.own:
        lines.append("  (This change was made by appgw-doctor itself.)")
    if culprit.undo:
        lines.append(f"  {UNDO_LABEL}: {cut(culprit.undo, _COMMAND_MAX)}")
    return [*lines, ""]


def _text_changes(finding: FindingLine) -> list[str]:
    if not finding.changes:
        return []
    lines = ["   Changes (newest first):"]
    lines += [f"     - {_change_text(change)}" for change in finding.changes]
    if finding.more_changes:
        lines.append(f"     {finding.more_changes}")
    return lines


def _change_text(change: ChangeLine) -> str:
    return cut(change.line, _FACT_MAX * 2)


def _text_remediation(message: IncidentMessage, selection: Selection) -> list[str]:
    if not message.shows_remediation:
        return []
    heading = remediation_heading(message)  # `Remediation: dry-run (...)`, the word in capitals
    lines = ["", "REMEDIATION" + heading.removeprefix("Remediation")]
    if message.remediation_note:
        lines.append(f"  {cut(message.remediation_note, _REASON_MAX)}")
    for action in selection.actions:
        lines += _text_action(action)
    if selection.hidden_actions:
        lines += ["", "  " + more_actions(selection.hidden_actions)]
    return lines


def _text_finding(finding: FindingLine, number: int) -> list[str]:
    lines = ["", f"{number}. [{finding.severity.value.upper()}] {cut(finding.title, _TITLE_MAX)}"]
    lines.append(
        f"   Resource: {cut(finding.resource_label, _TITLE_MAX)} — {cut(finding.code, _TITLE_MAX)} "
        f"({finding.role.value})"
    )
    lines.append(f"   {cut(finding.resource_id, _TITLE_MAX)}")
    lines += _text_changes(finding)
    if finding.evidence:
        lines.append("   Evidence:")
        lines += [
            f"     {cut(key, _TITLE_MAX)}: {cut(value, _EVIDENCE_VALUE_MAX)}"
            for key, value in finding.evidence
        ]
    if finding.fix_summary:
        lines.append(f"   Fix: {cut(finding.fix_summary, _FIX_MAX)}")
    if finding.fix_command:
        lines.append(f"     {cut(finding.fix_command, _COMMAND_MAX)}")
    if finding.fix_action:
        lines.append(f"   Safe automatic fix: {cut(finding.fix_action, _TITLE_MAX)}")
    return lines


def _text_finding_line(finding: FindingLine, number: int) -> list[str]:
    return [
        f"{number}. [{finding.severity.value.upper()}] {cut(finding.title, _TITLE_MAX)} — "
        f"{cut(finding.resource_label, _TITLE_MAX)}"
    ]


def _text_action(action: ActionResult) -> list[str]:
    """One action, a blank line first: `  ROLLED BACK — raise-request-timeout for CODE`, then its
    resource, change, command, verification and reason on labelled lines."""
    lines = ["", f"  {status_word(action).upper()} — {cut(action_title(action), _TITLE_MAX)}"]

    def detail(label: str, text: str, limit: int) -> None:
        lines.append(f"    {label + ':':<{_LABEL_WIDTH}}{cut(text, limit)}")

    target = action_target(action)
    if target:
        detail("On", target, _TITLE_MAX)
    change = change_text(action)
    if change:
        detail("Change", change, _FIX_MAX)
    command = action_command(action)
    if command:
        detail(command[0], command[1], _COMMAND_MAX)
    if action.verification:
        detail("Verification", action.verification, _REASON_MAX)
    if action.reason:
        detail("Why", action.reason, _REASON_MAX)
    expiry = approval_expiry(action)
    if expiry:
        detail("Link expires", expiry, _TITLE_MAX)
    for title, url in approval_links(action):  # each URL on its own line, whole: mail clients link it
        lines += [f"    {title}:", f"      {url}"]
    for label, cli in approval_commands(action):  # longer than the labels: not lined up
        lines.append(f"    {label}: {cli}")
    return lines


def _text_check(check: CheckLine) -> str:
    return f"  {cut(check.name, _TITLE_MAX)}: {cut(check.reason or 'error', _REASON_MAX)}"


def render_html(message: IncidentMessage, selection: Selection | None = None) -> str:
    """The HTML part: what `email_selection` shows (by default), within `PART_BUDGET` bytes."""
    selection = selection or email_selection(message)
    color = _RESOLVED_COLOR if message.kind == "resolved" else _LEVEL_COLOR[message.level]
    tag = "RESOLVED" if message.kind == "resolved" else message.level.value.upper()
    parts = [
        '<!DOCTYPE html><html><body style="font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;'
        'color:#242424;max-width:760px">',
        f'<div style="border-left:6px solid {color};padding:8px 12px;background:#f5f5f5">'
        f'<div style="font-size:20px;font-weight:600"><span style="color:{color}">{tag}</span> '
        f"{escape(cut(message.gateway.name, _TITLE_MAX))}</div>"
        '<div style="font-size:16px;font-weight:600;margin-top:4px">'
        f"{escape(cut(message.headline, _TITLE_MAX))}</div>"
        f'<div style="color:#616161;margin-top:4px">{escape(cut(message.summary, _TITLE_MAX))}</div></div>',
        *_html_culprit(message),
        '<table style="margin-top:12px;border-collapse:collapse">',
        *(
            f'<tr><td style="padding:2px 16px 2px 0;font-weight:600">{escape(title)}</td>'
            f"<td>{escape(cut(value, _FACT_MAX))}</td></tr>"
            for title, value in message.facts()
        ),
        "</table>",
    ]
    if message.kind == "approval":
        parts += _html_remediation(message, selection)
    if message.kind == "incident":
        if message.diagnosis_error is not None:
            parts.append(_html_heading("Could not diagnose the gateway"))
            parts.append(f"<p>{escape(cut(message.diagnosis_error, _REASON_MAX))}</p>")
        else:
            heading = f"Findings ({message.findings_tally})" if message.findings else "No cause found"
            parts.append(_html_heading(heading))
        parts += [_html_finding(f) for f in selection.full]
        parts += [_html_finding_line(f) for f in selection.lines]
        if selection.hidden:
            more = more_findings(message, selection.hidden, record_link_apart=False)
            parts.append(f"<p><b>{escape(more)}</b></p>")
        parts += _html_remediation(message, selection)
        if not message.findings and message.checks_run:
            parts.append(
                f"<p><b>Checks that ran and found nothing:</b> {escape(_check_names(message.checks_run))}</p>"
            )
        if message.checks_not_run:
            parts.append(_html_heading("Checks that could not run"))
            parts.append("<ul>")
            parts += [_html_check(check) for check in selection.checks]
            if selection.hidden_checks:
                more = more_items(len(selection.hidden_checks), "checks that could not run")
                parts.append(f"<li>{escape(more)}</li>")
            parts.append("</ul>")
        if message.checks_not_applicable:
            parts.append('<p style="color:#616161;font-size:12px"><b>Not applicable to this gateway:</b> ')
            parts.append("; ".join(escape(text) for text in _not_applicable(message)) + "</p>")
    links = " · ".join(f'<a href="{escape(url)}">{escape(title)}</a>' for title, url in _links(message))
    parts.append(f'<p style="margin-top:16px">{links}</p></body></html>')
    return "\n".join(parts)


def _html_culprit(message: IncidentMessage) -> list[str]:
    """What changed on the top cause's path, under the header box, and the command that undoes it."""
    culprit = message.culprit
    if culprit is None or message.kind != "incident":
        return []
    html = (
        '<div style="margin-top:12px;padding:8px 12px;border:1px solid #e0e0e0;border-radius:4px">'
        f"<div><b>What changed:</b> {escape(cut(culprit.text, _TITLE_MAX * 2))}</div>"
    )
    if culprit.change.own:
        html += '<div style="color:#c4314b;margin-top:4px">This change was made by appgw-doctor itself.</div>'
    if culprit.undo:
        html += (
            f'<div style="margin-top:4px"><b>{escape(UNDO_LABEL)}:</b></div>'
            f"{_pre(cut(culprit.undo, _COMMAND_MAX))}"
        )
    return [html + "</div>"]


def _pre(text: str) -> str:
    """A command in monospace, wrapped."""
    return (
        '<pre style="background:#f0f0f0;padding:8px;margin:4px 0;white-space:pre-wrap;'
        'word-break:break-all;font-family:Consolas,Courier New,monospace;font-size:12px">'
        f"{escape(text)}</pre>"
    )


def _html_changes(finding: FindingLine) -> str:
    """The finding's changes, newest first (at most three), then how many more."""
    if not finding.changes:
        return ""
    items = "".join(f"<li>{escape(cut(change.line, _FACT_MAX * 2))}</li>" for change in finding.changes)
    if finding.more_changes:
        items += f'<li style="color:#616161">{escape(finding.more_changes)}</li>'
    return (
        '<div style="margin-top:4px;font-size:13px"><b>Changes (newest first):</b>'
        f'<ul style="margin:2px 0;padding-left:20px">{items}</ul></div>'
    )


def _html_remediation(message: IncidentMessage, selection: Selection) -> list[str]:
    if not message.shows_remediation:
        return []
    parts = [_html_heading(remediation_heading(message))]
    if message.remediation_note:
        parts.append(f'<p style="color:#616161">{escape(cut(message.remediation_note, _REASON_MAX))}</p>')
    parts += [_html_action(action) for action in selection.actions]
    if selection.hidden_actions:
        parts.append(f"<p>{escape(more_actions(selection.hidden_actions))}</p>")
    return parts


def email_selection(message: IncidentMessage) -> Selection:
    """What both parts show: the frame (every list counted) measured in each part, then what
    `PART_BUDGET` has left spent on each item at the larger of its two parts' bytes, so both parts
    fit and show the same findings."""
    nothing = Selection.nothing(message)
    frame = max(_size(render_text(message, nothing)), _size(render_html(message, nothing)))
    if frame > PART_BUDGET:  # the frame's fields are capped: this cannot happen
        raise ValueError(f"the email's frame of {frame} bytes exceeds its budget of {PART_BUDGET}")
    numbers = _numbers(message)

    def lines_cost(lines: list[str]) -> int:
        return sum(_size(one_line(line)) + 1 for line in lines)

    costs = Costs(
        full=lambda f: max(lines_cost(_text_finding(f, numbers[id(f)])), _size(_html_finding(f)) + 1),
        line=lambda f: max(
            lines_cost(_text_finding_line(f, numbers[id(f)])), _size(_html_finding_line(f)) + 1
        ),
        check=lambda c: max(lines_cost([_text_check(c)]), _size(_html_check(c)) + 1),
        action=lambda a: max(lines_cost(_text_action(a)), _size(_html_action(a)) + 1),
    )
    # The first one-line finding also brings the text part's blank line before the list.
    return select(message, PART_BUDGET - frame - 1, LIMITS, costs)


def _numbers(message: IncidentMessage) -> dict[int, int]:
    """Each finding's number in the list (1 for the worst), by identity."""
    return {id(finding): number for number, finding in enumerate(message.findings, start=1)}


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _check_names(checks: tuple[CheckLine, ...]) -> str:
    return cut(listed([cut(c.name, _NAME_MAX) for c in checks], _CHECKS_LISTED), _FIX_MAX)


def _not_applicable(message: IncidentMessage) -> list[str]:
    """`udr-default-route: the gateway subnet has no route table`, for the first few, the rest counted."""
    checks = message.checks_not_applicable
    texts = [
        cut(c.name, _NAME_MAX) + (f": {cut(c.reason, _NOTE_MAX)}" if c.reason else "")
        for c in checks[:_CHECKS_LISTED]
    ]
    if len(checks) > _CHECKS_LISTED:
        texts.append(f"and {len(checks) - _CHECKS_LISTED} more")
    return texts


def _links(message: IncidentMessage) -> list[tuple[str, str]]:
    """The message's links; one too long for a mail client is left out, not cut (a cut link opens the
    wrong page)."""
    return [(title, url) for title, url in message.links() if len(url) <= LINK_MAX]


def escape(text: str) -> str:
    """Text for HTML: one line (no control characters, no lone surrogates), then `html.escape`d."""
    return html_escape(one_line(text), quote=True)


def _html_heading(text: str) -> str:
    return f'<h3 style="margin:20px 0 8px;border-bottom:1px solid #e0e0e0">{escape(text)}</h3>'


def _html_finding(finding: FindingLine) -> str:
    color = _LEVEL_COLOR[finding.severity]
    rows = "".join(
        '<tr><td style="padding:1px 12px 1px 0;color:#616161;vertical-align:top">'
        f'{escape(cut(key, _TITLE_MAX))}</td><td style="word-break:break-word">'
        f"{escape(cut(value, _EVIDENCE_VALUE_MAX))}</td></tr>"
        for key, value in finding.evidence
    )
    html = (
        '<div style="margin:12px 0;padding-top:8px;border-top:1px solid #eeeeee">'
        f'<div><b style="color:{color}">{finding.severity.value.upper()}</b> '
        f"<b>{escape(cut(finding.title, _TITLE_MAX))}</b></div>"
        f'<div style="color:#616161;font-size:12px">{escape(cut(finding.resource_label, _TITLE_MAX))} · '
        f"{escape(cut(finding.code, _TITLE_MAX))} · {finding.role.value}<br>"
        f"{escape(cut(finding.resource_id, _TITLE_MAX))}</div>"
    )
    html += _html_changes(finding)
    if rows:
        html += f'<table style="font-size:13px;margin-top:4px">{rows}</table>'
    if finding.fix_summary:
        html += f'<div style="margin-top:4px"><b>Fix:</b> {escape(cut(finding.fix_summary, _FIX_MAX))}</div>'
    if finding.fix_command:
        html += (
            '<pre style="background:#f0f0f0;padding:8px;white-space:pre-wrap;word-break:break-all;'
            f'font-family:Consolas,Courier New,monospace;font-size:12px">'
            f"{escape(cut(finding.fix_command, _COMMAND_MAX))}</pre>"
        )
    if finding.fix_action:
        action = escape(cut(finding.fix_action, _TITLE_MAX))
        html += f'<div style="font-size:12px">Safe automatic fix: {action}</div>'
    return html + "</div>"


def _html_finding_line(finding: FindingLine) -> str:
    """A finding after those shown in full: severity, title and resource on one line."""
    color = _LEVEL_COLOR[finding.severity]
    return (
        f'<div style="margin:2px 0"><b style="color:{color}">{finding.severity.value.upper()}</b> '
        f"{escape(cut(finding.title, _TITLE_MAX))} "
        '<span style="color:#616161;font-size:12px">· '
        f"{escape(cut(finding.resource_label, _TITLE_MAX))}</span></div>"
    )


def _html_action(action: ActionResult) -> str:
    """One action: what happened in words (colored), the action and the finding it answers, the
    resource, the change, the command (monospace), the verification and the reason."""
    color = _STATUS_COLOR.get(action.status, _STATUS_DEFAULT_COLOR)
    html = (
        '<div style="margin:12px 0;padding-top:8px;border-top:1px solid #eeeeee">'
        f'<div><b style="color:{color}">{escape(status_word(action))}</b> '
        f"<b>{escape(cut(action_title(action), _TITLE_MAX))}</b></div>"
    )
    target = action_target(action)
    if target:
        html += f'<div style="color:#616161;font-size:12px">{escape(cut(target, _TITLE_MAX))}</div>'
    change = change_text(action)
    if change:
        html += f'<div style="margin-top:4px"><b>Change:</b> {escape(cut(change, _FIX_MAX))}</div>'
    command = action_command(action)
    if command:
        label, text = command
        html += (
            f'<div style="margin-top:4px"><b>{escape(label)}:</b></div>'
            '<pre style="background:#f0f0f0;padding:8px;margin:4px 0;white-space:pre-wrap;'
            'word-break:break-all;font-family:Consolas,Courier New,monospace;font-size:12px">'
            f"{escape(cut(text, _COMMAND_MAX))}</pre>"
        )
    if action.verification:
        verification = escape(cut(action.verification, _REASON_MAX))
        html += f'<div style="margin-top:4px"><b>Verification:</b> {verification}</div>'
    if action.reason:
        html += f'<div style="margin-top:4px"><b>Why:</b> {escape(cut(action.reason, _REASON_MAX))}</div>'
    return html + _html_approval(action) + "</div>"


def _html_approval(action: ActionResult) -> str:
    """For a fix awaiting approval: when the link expires, then Approve and Reject styled as buttons
    (or the CLI commands when there is no page to link to)."""
    html = ""
    expiry = approval_expiry(action)
    if expiry:
        html += f'<div style="margin-top:4px"><b>Link expires:</b> {escape(expiry)}</div>'
    links = approval_links(action)
    if links:
        colors = {"Approve": _APPROVE_COLOR, "Reject": _REJECT_COLOR}
        buttons = " ".join(
            f'<a href="{escape(url)}" style="display:inline-block;padding:6px 18px;margin-right:8px;'
            f"background:{colors[title]};color:#ffffff;font-weight:600;text-decoration:none;"
            f'border-radius:4px">{escape(title)}</a>'
            for title, url in links
        )
        html += f'<div style="margin:8px 0">{buttons}</div>'
    for label, command in approval_commands(action):
        html += (
            f'<div style="margin-top:4px"><b>{escape(label)}:</b> '
            f'<code style="font-family:Consolas,Courier New,monospace">{escape(command)}</code></div>'
        )
    return html


def _html_check(check: CheckLine) -> str:
    reason = escape(cut(check.reason or "error", _REASON_MAX))
    return f"<li><b>{escape(cut(check.name, _TITLE_MAX))}</b>: {reason}</li>"
