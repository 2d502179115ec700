"""The email rendering of a message and its delivery over SMTP.

One `EmailMessage`, multipart/alternative: a plain-text part and an HTML part carrying the same
content (every finding, the top cause first, with its evidence as a few facts, its fix and `az`
command, remediation statuses, checks that could not run or did not apply, links). It is the
complete report (the evidence's full data is in the incident record), within bounds a mail relay
accepts: each evidence value, fix and command is capped, and findings beyond `FINDINGS_BUDGET` bytes
are counted instead of shown; whatever is cut says so.

Outside text is text (see notifications.text): every line of the plain-text part is one line (an
alert rule name's `\n` cannot forge another), everything in the HTML part is `html.escape`d, and
headers (the Subject, the incident id) are one bounded line, which `email.message` encodes. Lone
surrogates become U+FFFD, so building an email never fails on what an alert or Azure sent.

A resolution email threads under its incident's email: the incident email's Message-ID is derived
from the incident id, and the resolution refers to it (In-Reply-To, References).

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
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape as html_escape
from typing import Literal

from model.findings import Severity
from notifications.content import FindingLine, IncidentMessage
from notifications.text import header, one_line

StartTls = Literal["auto", "always", "never"]

_LEVEL_COLOR = {Severity.CRITICAL: "#c4314b", Severity.WARNING: "#c19c00", Severity.INFO: "#4f6bed"}
_RESOLVED_COLOR = "#237b4b"
_MSGID_DOMAIN = "appgw-doctor"

FINDINGS_BUDGET = 250_000  # UTF-8 bytes of findings text per part; keeps an email around 1 MB at most
_TITLE_MAX = 1_000
_EVIDENCE_ITEMS_MAX = 40
_EVIDENCE_VALUE_MAX = 2_000
_FIX_MAX = 4_000
_COMMAND_MAX = 8_000
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
    if message.incident_id:
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


def render_text(message: IncidentMessage) -> str:
    lines = [message.subject, "", message.summary, ""]
    lines += [f"{title + ':':<16}{_cut(value, _TITLE_MAX)}" for title, value in message.facts()]
    if message.kind == "incident":
        shown, hidden = bounded_findings(message)
        if message.diagnosis_error is not None:
            lines += ["", "COULD NOT DIAGNOSE THE GATEWAY", f"  {_cut(message.diagnosis_error, _REASON_MAX)}"]
        elif message.findings:
            lines += ["", f"FINDINGS ({message.findings_tally})"]
        else:
            lines += ["", "NO CAUSE FOUND"]
        for number, finding in enumerate(shown, start=1):
            lines += ["", f"{number}. [{finding.severity.value.upper()}] {finding.title}"]
            lines.append(f"   Resource: {finding.resource_label} — {finding.code} ({finding.role.value})")
            lines.append(f"   {finding.resource_id}")
            if finding.evidence:
                lines.append("   Evidence:")
                lines += [f"     {key}: {value}" for key, value in finding.evidence]
            if finding.fix_summary:
                lines.append(f"   Fix: {finding.fix_summary}")
            if finding.fix_command:
                lines.append(f"     {finding.fix_command}")
            if finding.fix_action:
                lines.append(f"   Safe automatic fix: {finding.fix_action}")
        if hidden:
            lines += ["", overflow_line(message, hidden)]
        if message.actions:
            lines += ["", "REMEDIATION"]
            lines += [
                f"  {a.status.upper():<12}{a.action} on {a.target}" + (f" — {a.reason}" if a.reason else "")
                for a in message.actions
            ]
        if not message.findings and message.checks_run:
            lines += [
                "",
                "Checks that ran and found nothing: " + ", ".join(c.name for c in message.checks_run),
            ]
        if message.checks_not_run:
            lines += ["", "CHECKS THAT COULD NOT RUN"]
            lines += [f"  {c.name}: {_cut(c.reason or 'error', _REASON_MAX)}" for c in message.checks_not_run]
        if message.checks_not_applicable:
            lines += ["", "Not applicable to this gateway:"]
            lines += [
                f"  {c.name}" + (f": {_cut(c.reason, _REASON_MAX)}" if c.reason else "")
                for c in message.checks_not_applicable
            ]
    lines += ["", *(f"{title}: {url}" for title, url in message.links())]
    # Each item is one line: a line break inside one (from outside text) would forge another line.
    return "\n".join(one_line(line) for line in lines) + "\n"


def render_html(message: IncidentMessage) -> str:
    color = _RESOLVED_COLOR if message.kind == "resolved" else _LEVEL_COLOR[message.level]
    tag = "RESOLVED" if message.kind == "resolved" else message.level.value.upper()
    parts = [
        '<!DOCTYPE html><html><body style="font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;'
        'color:#242424;max-width:760px">',
        f'<div style="border-left:6px solid {color};padding:8px 12px;background:#f5f5f5">'
        f'<div style="font-size:20px;font-weight:600"><span style="color:{color}">{tag}</span> '
        f"{escape(message.gateway.name)}</div>"
        f'<div style="font-size:16px;font-weight:600;margin-top:4px">{escape(message.headline)}</div>'
        f'<div style="color:#616161;margin-top:4px">{escape(message.summary)}</div></div>',
        '<table style="margin-top:12px;border-collapse:collapse">',
        *(
            f'<tr><td style="padding:2px 16px 2px 0;font-weight:600">{escape(title)}</td>'
            f"<td>{escape(_cut(value, _TITLE_MAX))}</td></tr>"
            for title, value in message.facts()
        ),
        "</table>",
    ]
    if message.kind == "incident":
        shown, hidden = bounded_findings(message)
        if message.diagnosis_error is not None:
            parts.append(_html_heading("Could not diagnose the gateway"))
            parts.append(f"<p>{escape(_cut(message.diagnosis_error, _REASON_MAX))}</p>")
        else:
            heading = f"Findings ({message.findings_tally})" if message.findings else "No cause found"
            parts.append(_html_heading(heading))
        parts += [_html_finding(f) for f in shown]
        if hidden:
            parts.append(f"<p><b>{escape(overflow_line(message, hidden))}</b></p>")
        if message.actions:
            parts.append(_html_heading("Remediation"))
            parts.append("<ul>")
            parts += [
                f"<li><b>{escape(a.status.upper())}</b> {escape(a.action)} on {escape(a.target)}"
                + (f" — {escape(a.reason)}" if a.reason else "")
                + "</li>"
                for a in message.actions
            ]
            parts.append("</ul>")
        if not message.findings and message.checks_run:
            names = ", ".join(c.name for c in message.checks_run)
            parts.append(f"<p><b>Checks that ran and found nothing:</b> {escape(names)}</p>")
        if message.checks_not_run:
            parts.append(_html_heading("Checks that could not run"))
            parts.append("<ul>")
            parts += [
                f"<li><b>{escape(c.name)}</b>: {escape(_cut(c.reason or 'error', _REASON_MAX))}</li>"
                for c in message.checks_not_run
            ]
            parts.append("</ul>")
        if message.checks_not_applicable:
            parts.append('<p style="color:#616161;font-size:12px"><b>Not applicable to this gateway:</b> ')
            parts.append(
                "; ".join(
                    escape(c.name) + (f" ({escape(_cut(c.reason, _REASON_MAX))})" if c.reason else "")
                    for c in message.checks_not_applicable
                )
                + "</p>"
            )
    links = " · ".join(f'<a href="{escape(url)}">{escape(title)}</a>' for title, url in message.links())
    parts.append(f'<p style="margin-top:16px">{links}</p></body></html>')
    return "\n".join(parts)


def bounded_findings(message: IncidentMessage) -> tuple[list[FindingLine], list[FindingLine]]:
    """(shown, hidden): every finding with its long fields capped, worst first, as many as fit in
    `FINDINGS_BUDGET` bytes; the rest are hidden and counted by `overflow_line`."""
    shown: list[FindingLine] = []
    used = 0
    for index, finding in enumerate(message.findings):
        capped = _capped(finding)
        used += _size(capped)
        if used > FINDINGS_BUDGET and shown:
            return shown, list(message.findings[index:])
        shown.append(capped)
    return shown, []


def overflow_line(message: IncidentMessage, hidden: list[FindingLine]) -> str:
    counts = ", ".join(
        f"{sum(1 for f in hidden if f.severity is s)} {s.value}"
        for s in Severity
        if any(f.severity is s for f in hidden)
    )
    record = "incident" if message.incident_id else "diagnosis"
    where = (
        f"the incident record has them: {message.record_url}"
        if message.record_url
        else f"they are recorded with {record} {message.message_id}"
    )
    noun = "finding" if len(hidden) == 1 else "findings"
    return f"{len(hidden)} more {noun} not shown, to keep this email deliverable ({counts}); {where}."


def _capped(finding: FindingLine) -> FindingLine:
    evidence = tuple((key, _cut(value, _EVIDENCE_VALUE_MAX)) for key, value in finding.evidence)
    if len(evidence) > _EVIDENCE_ITEMS_MAX:
        more = len(evidence) - _EVIDENCE_ITEMS_MAX
        evidence = (*evidence[:_EVIDENCE_ITEMS_MAX], ("…", f"{more} more evidence items not shown"))
    return replace(
        finding,
        title=_cut(finding.title, _TITLE_MAX),
        evidence=evidence,
        fix_summary=_cut(finding.fix_summary, _FIX_MAX),
        fix_command=_cut(finding.fix_command, _COMMAND_MAX) if finding.fix_command else None,
    )


def _size(finding: FindingLine) -> int:
    texts = [finding.title, finding.resource_id, finding.fix_summary, finding.fix_command or ""]
    texts += [key + value for key, value in finding.evidence]
    return sum(len(text.encode("utf-8", "replace")) for text in texts)


def _cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and a note of how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut; {len(text):,} characters in all]"


def escape(text: str) -> str:
    """Text for HTML: one line (no control characters, no lone surrogates), then `html.escape`d."""
    return html_escape(one_line(text), quote=True)


def _html_heading(text: str) -> str:
    return f'<h3 style="margin:20px 0 8px;border-bottom:1px solid #e0e0e0">{escape(text)}</h3>'


def _html_finding(finding: FindingLine) -> str:
    color = _LEVEL_COLOR[finding.severity]
    rows = "".join(
        f'<tr><td style="padding:1px 12px 1px 0;color:#616161;vertical-align:top">{escape(key)}</td>'
        f'<td style="word-break:break-word">{escape(value)}</td></tr>'
        for key, value in finding.evidence
    )
    html = (
        '<div style="margin:12px 0;padding-top:8px;border-top:1px solid #eeeeee">'
        f'<div><b style="color:{color}">{finding.severity.value.upper()}</b> '
        f"<b>{escape(finding.title)}</b></div>"
        f'<div style="color:#616161;font-size:12px">{escape(finding.resource_label)} · {escape(finding.code)}'
        f" · {finding.role.value}<br>{escape(finding.resource_id)}</div>"
    )
    if rows:
        html += f'<table style="font-size:13px;margin-top:4px">{rows}</table>'
    if finding.fix_summary:
        html += f'<div style="margin-top:4px"><b>Fix:</b> {escape(finding.fix_summary)}</div>'
    if finding.fix_command:
        html += (
            '<pre style="background:#f0f0f0;padding:8px;white-space:pre-wrap;word-break:break-all;'
            f'font-family:Consolas,Courier New,monospace;font-size:12px">{escape(finding.fix_command)}</pre>'
        )
    if finding.fix_action:
        html += f'<div style="font-size:12px">Safe automatic fix: {escape(finding.fix_action)}</div>'
    return html + "</div>"
