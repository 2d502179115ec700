"""The approval pages (mode `approve`), once for the Functions app (function_app.py) and `appgw-doctor
serve`: plain functions from what a request carries (method, route id, query, form body, headers) to
a `Response` (status, content type, body, headers), around an `ApprovalDesk`.

- `GET /api/approvals/{id}?t=TOKEN[&decision=approve|reject]`: what the fix would change, who asked,
  until when, who is looking, and Approve / Reject buttons in a form that POSTs back; or why the link
  cannot be used (404 unknown, 403 invalid token or not allowed, 410 expired, 409 decided already).
  GET never changes anything (`ApprovalDesk.view`).
- `POST /api/approvals/{id}` (form-encoded `t`, `decision`): the decision, taken once
  (`ApprovalDesk.decide`), and a page saying what was done.

Who decides comes from App Service authentication (Easy Auth) when it sits in front of the app:
`X-MS-CLIENT-PRINCIPAL-NAME` (the user), `X-MS-CLIENT-PRINCIPAL` (base64 JSON; its `groups` claims
are matched against APPROVERS). Without it the approver is recorded as anonymous. The signed token in
the link is the credential either way; APPROVERS only narrows who may use it. (Those headers are only
trustworthy behind Easy Auth, which strips them from what a client sends.)

Every value shown is HTML-escaped; pages are self-contained (inline CSS, no script, no external
asset) and sent with `no-store`, `nosniff`, a `default-src 'none'` CSP and `no-referrer` (the token is
in the URL).

`appgw_doctor.notify.approval_follow_up` is the desk's `notify`: the follow-up message after a
decision, delivered by the same `Notifier` (and gateway tags) as the incident's own message.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appgw_doctor.notify import approval_follow_up
from appgw_doctor.wiring import approval_desk, clients_for_target, state_store_from_settings
from core.arm_ids import gateway_names, name_of
from core.azure_clients import ArmTarget
from core.iso8601 import format_time
from core.settings import Settings
from model.remediation import (
    APPLIED,
    CANCELLED,
    EXPIRED,
    FAILED,
    REFUSED,
    REJECTED,
    ROLLED_BACK,
    SUPERSEDED,
    VERIFIED,
    Approval,
)
from notifications.delivery import Notifier
from remediation.desk import (
    ALREADY,
    APPROVE_DECISION,
    DONE,
    EXPIRED_LINK,
    GONE,
    INVALID,
    NOT_ALLOWED,
    REJECT_DECISION,
    REPLANNED,
    UNKNOWN,
    ApprovalDesk,
    Decision,
)

log = logging.getLogger("appgw_doctor.http_routes")

HTML = "text/html; charset=utf-8"
# The token is in the URL: never cached, never sent on as a Referer; nothing loads but inline CSS.
PAGE_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
}
MAX_FORM_BYTES = 16 * 1024
PRINCIPAL_NAME = "X-MS-CLIENT-PRINCIPAL-NAME"
PRINCIPAL = "X-MS-CLIENT-PRINCIPAL"
_GROUP_CLAIMS = ("groups", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups")
_MAX_PRINCIPAL_HEADER = 64 * 1024
# A problem (a View's or a Decision's outcome) -> HTTP status.
_STATUS = {UNKNOWN: 404, INVALID: 403, NOT_ALLOWED: 403, EXPIRED_LINK: 410, ALREADY: 409}
_DECISIONS = (APPROVE_DECISION, REJECT_DECISION)


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: str
    headers: Mapping[str, str] = field(default_factory=lambda: dict(PAGE_HEADERS))


@dataclass(frozen=True)
class Viewer:
    """Who is looking, as App Service authentication says (name None: not signed in)."""

    name: str | None
    groups: frozenset[str] = frozenset()


def viewer_from(headers: Mapping[str, str]) -> Viewer:
    """The signed-in user (X-MS-CLIENT-PRINCIPAL-NAME) and their group object ids (the `groups`
    claims of the base64 JSON X-MS-CLIENT-PRINCIPAL); a malformed principal header gives no groups."""
    name = (header(headers, PRINCIPAL_NAME) or "").strip() or None
    encoded = (header(headers, PRINCIPAL) or "").strip()
    groups: set[str] = set()
    if encoded and len(encoded) <= _MAX_PRINCIPAL_HEADER:
        try:
            principal = json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
        except (binascii.Error, ValueError, RecursionError):
            principal = None
        claims = principal.get("claims") if isinstance(principal, dict) else None
        for claim in claims if isinstance(claims, list) else []:
            if (
                isinstance(claim, dict)
                and claim.get("typ") in _GROUP_CLAIMS
                and isinstance(claim.get("val"), str)
            ):
                groups.add(claim["val"].strip().lower())
    return Viewer(name, frozenset(g for g in groups if g))


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, by case-insensitive name."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def approval_route(
    desk: ApprovalDesk,
    *,
    method: str,
    approval_id: str,
    query: Mapping[str, str],
    body: bytes,
    headers: Mapping[str, str],
) -> Response:
    """`/api/approvals/{approval_id}`: GET shows the page, POST takes the decision; else 405."""
    if method.upper() in ("GET", "HEAD"):
        return approval_page(desk, approval_id, query, headers)
    if method.upper() == "POST":
        return approval_decision(desk, approval_id, body, headers)
    page = _page(
        "Method not allowed", "error", [_p("Open the link from the message (GET), or use its buttons.")]
    )
    return Response(405, HTML, page, {**PAGE_HEADERS, "Allow": "GET, POST"})


def approval_page(
    desk: ApprovalDesk, approval_id: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> Response:
    """GET: the approval and the buttons, or why the link cannot be used. Changes nothing."""
    token = query.get("t") or ""
    view = desk.view(approval_id, token)
    if view.problem is not None or view.approval is None:
        outcome = view.outcome or UNKNOWN
        return _problem(outcome, view.problem or "the link cannot be used", view.approval)
    approval = view.approval
    viewer = viewer_from(headers)
    preselected = query.get("decision") if query.get("decision") in _DECISIONS else None
    allowed = desk.allowed(viewer.name, viewer.groups)
    parts = [_details(approval), _who(viewer, allowed)]
    if allowed:
        parts.append(_form(approval.id, token, preselected))
    status = 200 if allowed else 403
    return Response(status, HTML, _page(f"Approve a fix on {_gateway_name(approval)}?", "pending", parts))


def approval_decision(
    desk: ApprovalDesk, approval_id: str, body: bytes, headers: Mapping[str, str]
) -> Response:
    """POST: the decision (form-encoded `t`, `decision`), taken once, and what came of it."""
    content_type = (header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        return _error(415, "Unsupported form", "send the form as application/x-www-form-urlencoded")
    if len(body) > MAX_FORM_BYTES:
        return _error(413, "Form too large", f"the form is over {MAX_FORM_BYTES} bytes")
    try:
        form = urllib.parse.parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return _error(400, "Unreadable form", "the form is not form-encoded UTF-8")
    decision = (form.get("decision") or [""])[0]
    if decision not in _DECISIONS:
        return _error(400, "No decision", "the form must say decision=approve or decision=reject")
    viewer = viewer_from(headers)
    taken = desk.decide(
        approval_id,
        decision,
        approver=viewer.name,
        token=(form.get("t") or [""])[0],
        from_link=True,
        groups=viewer.groups,
    )
    return _decision_page(taken)


def desk_from_settings(settings: Settings) -> ApprovalDesk:
    """The Functions app's desk: Table Storage state, SDK clients for the configured ARM endpoint, the
    follow-up message through the configured channels."""
    store = state_store_from_settings(settings)
    target = ArmTarget(settings.arm_endpoint, settings.arm_ca_bundle)
    return approval_desk(
        settings,
        store=store,
        clients_for=clients_for_target(target, polling_interval=settings.arm_polling_interval),
        notify=approval_follow_up(
            Notifier(settings.notifications), store, record_url_template=settings.incident_url_template
        ),
    )


def error_page(status: int, title: str, reason: str) -> Response:
    """A page for what went wrong before any approval was looked at (e.g. the app's configuration)."""
    return _error(status, title, reason)


# --- pages ---


def _decision_page(taken: Decision) -> Response:
    approval = taken.approval
    if taken.outcome in _STATUS:
        return _problem(taken.outcome, taken.message, approval)
    if taken.outcome == REPLANNED:
        parts = [_p(taken.message)]
        link = taken.new_link
        if link is not None and link.url:
            parts.append(
                f'<p><a class="button" href="{_e(link.url)}">Review the new plan</a> '
                f"(until {_e(link.expires_at)})</p>"
            )
        elif link is not None:
            parts.append(_p(f"Approve it from a terminal: appgw-doctor approve {link.id}"))
        return Response(200, HTML, _page("Re-planned: the gateway changed", "warn", _with(parts, approval)))
    if taken.outcome == GONE:
        return Response(
            200, HTML, _page("Cancelled: the problem is gone", "ok", _with([_p(taken.message)], approval))
        )
    result = taken.result
    status = result.status if result is not None else None
    if taken.outcome == DONE and approval is not None and approval.state == REJECTED:
        title, tone = "Rejected: nothing was changed", "ok"
    else:
        title, tone = {
            VERIFIED: ("Approved: the fix was applied and verified", "ok"),
            APPLIED: ("Approved: the fix was applied, not yet verified", "warn"),
            ROLLED_BACK: ("Approved, but the fix was rolled back", "error"),
            FAILED: ("Approved, but applying the fix failed", "error"),
            REFUSED: ("Approved, but a guard refused the fix", "warn"),
        }.get(status or "", ("Approved, but the fix was not applied", "warn"))
    parts = [_p(taken.message)]
    if result is not None and result.verification:
        parts.append(_dl([("Verification", _e(result.verification))]))
    return Response(200, HTML, _page(title, tone, _with(parts, approval)))


def _problem(outcome: str, reason: str, approval: Approval | None) -> Response:
    status = _STATUS.get(outcome, 400)
    title = {
        UNKNOWN: "No such approval",
        INVALID: "This link is not valid",
        NOT_ALLOWED: "You may not decide this approval",
        EXPIRED_LINK: "This link has expired",
        ALREADY: "Already decided",
    }.get(outcome, "This link cannot be used")
    if outcome == ALREADY and approval is not None:
        if approval.state == CANCELLED:
            title = "Cancelled: no decision is needed"
        elif approval.state == EXPIRED:
            status, title = 410, "This approval has expired"
        elif approval.state == SUPERSEDED:
            title = "Re-planned: this plan was replaced"
    parts = [_p(_sentence(reason))]
    # Only a link that checks out shows what the approval was about; a bad token learns nothing more.
    if approval is not None and outcome in (ALREADY, EXPIRED_LINK, NOT_ALLOWED):
        parts.append(_details(approval))
    return Response(status, HTML, _page(title, "error" if status in (403, 404) else "warn", parts))


def _error(status: int, title: str, reason: str) -> Response:
    return Response(status, HTML, _page(title, "error", [_p(_sentence(reason))]))


def _with(parts: list[str], approval: Approval | None) -> list[str]:
    return parts + ([_details(approval)] if approval is not None else [])


def _details(approval: Approval) -> str:
    finding = approval.finding or {}
    change = approval.change
    rows = [
        ("Gateway", _e(_gateway_label(approval.gateway_id))),
        ("Finding", f"<code>{_e(finding.get('code') or '')}</code> {_e(finding.get('title') or '')}"),
        ("Change", _e(change.summary or approval.action)),
        ("Before", f"<code>{_e(_values(change.before))}</code>"),
        ("After", f"<code>{_e(_values(change.after))}</code>"),
        ("Command", f"<pre>{_e(approval.command)}</pre>"),
        ("Undo", f"<pre>{_e(approval.undo)}</pre>"),
        ("Requested by", _e(approval.requested_by or "-")),
        ("Expires", _e(format_time(approval.expires_at))),
    ]
    if approval.incident_id:
        rows.insert(1, ("Incident", f"<code>{_e(approval.incident_id)}</code>"))
    if approval.decided_by:
        rows.append(("Decided by", _e(approval.decided_by)))
    return _dl(rows)


def _who(viewer: Viewer, allowed: bool) -> str:
    if viewer.name is None:
        who = "You are not signed in: your decision will be recorded as <strong>anonymous</strong>."
    else:
        who = (
            f"You are signed in as <strong>{_e(viewer.name)}</strong>; "
            "your decision is recorded under that name."
        )
    if not allowed:
        person = _e(viewer.name) if viewer.name else "an anonymous visitor"
        who += (
            f' <span class="refused">{person} is not on the approvers\' list (APPROVERS): '
            "you cannot approve or reject this fix.</span>"
        )
    return f'<p class="who">{who}</p>'


def _form(approval_id: str, token: str, preselected: str | None) -> str:
    action = urllib.parse.quote(approval_id, safe="")
    hint = ""
    if preselected:
        hint = (
            f"<p>You chose <strong>{_e(preselected.capitalize())}</strong> in the message: confirm below.</p>"
        )
    buttons = []
    for value, label, css in (
        (APPROVE_DECISION, "Approve", "approve"),
        (REJECT_DECISION, "Reject", "reject"),
    ):
        focus = " autofocus" if value == preselected else ""
        buttons.append(
            f'<button type="submit" name="decision" value="{value}" class="{css}"{focus}>{label}</button>'
        )
    return (
        f'{hint}<form method="post" action="{_e(action)}">'
        f'<input type="hidden" name="t" value="{_e(token)}">'
        + " ".join(buttons)
        + '</form><p class="small">Approving re-checks the gateway first: if it changed since the plan, '
        "the fix is planned again and shown again instead of applied.</p>"
    )


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#1f2328}
main{max-width:46rem;margin:2rem auto;background:#fff;border-radius:8px;padding:1.5rem 2rem;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.35rem;margin:0 0 1rem;padding-left:.6rem;border-left:6px solid #888}
h1.ok{border-color:#1a7f37}h1.warn{border-color:#bf8700}h1.error{border-color:#cf222e}h1.pending{border-color:#0969da}
dl{display:grid;grid-template-columns:9rem 1fr;gap:.35rem 1rem;margin:1rem 0}dt{font-weight:600;color:#57606a}
dd{margin:0;overflow-wrap:anywhere}pre{margin:0;white-space:pre-wrap;word-break:break-all;background:#f6f8fa;
padding:.4rem .6rem;border-radius:4px;font-size:13px}code{font-size:13px}
button,a.button{font:inherit;font-weight:600;padding:.55rem 1.4rem;border-radius:6px;border:1px solid #888;
cursor:pointer;text-decoration:none;display:inline-block;margin-right:.6rem}
button.approve{background:#1a7f37;border-color:#1a7f37;color:#fff}button.reject{background:#fff;color:#cf222e;
border-color:#cf222e}a.button{background:#0969da;border-color:#0969da;color:#fff}
.who{background:#f6f8fa;padding:.6rem .8rem;border-radius:6px}.refused{color:#cf222e;font-weight:600}
.small{font-size:13px;color:#57606a}footer{margin-top:1.5rem;font-size:12px;color:#57606a}
"""


def _page(title: str, tone: str, parts: list[str]) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{_e(title)} — appgw-doctor</title><style>{_CSS}</style></head><body><main>"
        f'<h1 class="{_e(tone)}">{_e(title)}</h1>'
        + "".join(parts)
        + "<footer>appgw-doctor: Application Gateway 502 diagnosis and guarded fixes</footer>"
        + "</main></body></html>"
    )


def _dl(rows: list[tuple[str, str]]) -> str:
    """A definition list; the values are HTML already (escaped by the caller)."""
    return "<dl>" + "".join(f"<dt>{_e(name)}</dt><dd>{value}</dd>" for name, value in rows) + "</dl>"


def _p(text: str) -> str:
    return f"<p>{_e(text)}</p>"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]) if text else text


def _values(values: Mapping[str, Any] | None) -> str:
    if not values:
        return "(none)"
    return ", ".join(f"{name}: {json.dumps(value)}" for name, value in values.items())


def _gateway_name(approval: Approval) -> str:
    return name_of(approval.gateway_id) or approval.gateway_id


def _gateway_label(gateway_id: str) -> str:
    try:
        group, name = gateway_names(gateway_id)
    except ValueError:
        return gateway_id
    return f"{name} (resource group {group})"
