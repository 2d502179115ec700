"""Mode `approve` in messages: a fix awaiting a person's approval reads "Awaiting your approval" with
its change, command, expiry and Approve/Reject links (card buttons, email links, text URLs, or the CLI
commands without a public URL); the headline counts pending approvals; the follow-up after a decision
(approved and verified, rolled back, rejected, re-planned) is an ordinary message rendered by the same
renderers, within the same budgets."""

from __future__ import annotations

import email
import html
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from email.policy import default as default_policy

import pytest

from model.findings import Severity
from model.remediation import ActionResult, Approval, ApprovalLink, Change
from notifications.content import (
    AWAITING_APPROVAL,
    STATUS_WORDS,
    build_approval_message,
    build_message,
    message_level,
)
from notifications.dispatch import write_outbox
from notifications.email import PART_BUDGET, build_email, incident_message_id, render_html, render_text
from notifications.routing import route, should_send
from notifications.teams import LIMITS, PAYLOAD_BUDGET, build_payload, payload_size, serialize

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
GATEWAY_ID = f"{RG}/applicationGateways/agw-contoso"
SETTINGS_ID = f"{GATEWAY_ID}/backendHttpSettingsCollection/web-settings"
PAGE = "https://appgw-doctor.azurewebsites.net/api/approvals/ap-7f3c?t=eyJhIjoiYXAtN2YzYyJ9.c2ln"
LINK = ApprovalLink("ap-7f3c", PAGE, "2026-11-25T11:27:00+00:00")
CHANGE = Change(
    SETTINGS_ID,
    {"requestTimeout": 20},
    {"requestTimeout": 30},
    "requestTimeout 20 s -> 30 s on settings web-settings",
)
COMMAND = (
    "az network application-gateway http-settings update -g rg-contoso-web --gateway-name agw-contoso "
    "-n web-settings --timeout 30"
)
UNDO = COMMAND.replace("--timeout 30", "--timeout 20")
FINDING = {
    "code": "REQUEST_TIMEOUT_TOO_LOW",
    "severity": "critical",
    "title": "Backend responses take 19.2 s against a 20 s request timeout on web-settings",
    "resource": SETTINGS_ID,
    "evidence": {},
    "fix": {"summary": "Raise the request timeout.", "command": COMMAND},
}


def pending(link: ApprovalLink | None = LINK, **changes: object) -> ActionResult:
    """A planned fix awaiting approval, as the remediate stage reports it in mode `approve`."""
    action = ActionResult(
        "raise-request-timeout",
        "REQUEST_TIMEOUT_TOO_LOW",
        SETTINGS_ID,
        "planned",
        "awaiting approval until 11:27 UTC",
        change=CHANGE,
        command=COMMAND,
        undo=UNDO,
        approval=link,
    )
    return replace(action, **changes)  # type: ignore[arg-type]


def approval(**changes: object) -> Approval:
    record = Approval(
        id="ap-7f3c",
        gateway_id=GATEWAY_ID,
        incident_id="inc-20261125-1027",
        finding=FINDING,
        action="raise-request-timeout",
        resource=SETTINGS_ID,
        change=CHANGE,
        command=COMMAND,
        undo=UNDO,
        etag='W/"1"',
        digest="d" * 64,
        requested_by="appgw-doctor, alert appgw-5xx (incident inc-20261125-1027)",
        created_at=datetime(2026, 11, 25, 10, 27, tzinfo=UTC),
        expires_at=datetime(2026, 11, 25, 11, 27, tzinfo=UTC),
        state="approved",
        decided_by="alice@contoso.com",
        decided_at=datetime(2026, 11, 25, 10, 41, tzinfo=UTC),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def applied(status: str, **changes: object) -> ActionResult:
    """What applying the approved fix did."""
    result = ActionResult(
        "raise-request-timeout",
        "REQUEST_TIMEOUT_TOO_LOW",
        SETTINGS_ID,
        status,
        "" if status == "verified" else "REQUEST_TIMEOUT_TOO_LOW was still found after the change",
        change=CHANGE,
        command=COMMAND,
        undo=UNDO,
        verification="REQUEST_TIMEOUT_TOO_LOW is gone and no new critical finding appeared"
        if status == "verified"
        else "requestTimeout is 20 s again",
    )
    return replace(result, **changes)  # type: ignore[arg-type]


def incident(actions: list[ActionResult], **options: object) -> object:
    return build_message(
        GATEWAY_ID,
        incident_id="inc-20261125-1027",
        findings=[],
        actions=actions,
        remediation_mode="approve",
        record_url="https://records.example/incidents/inc-20261125-1027",
        **options,  # type: ignore[arg-type]
    )


def card_of(payload: dict) -> dict:
    [attachment] = payload["attachments"]
    return attachment["content"]


def texts(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("text", "title", "value"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for value in node.values():
            found += texts(value)
    elif isinstance(node, list):
        for item in node:
            found += texts(item)
    return found


def action_blocks(card: dict) -> list[dict]:
    """The remediation blocks: Containers whose first run is a status in words."""
    words = {f"{word}  " for word in (*STATUS_WORDS.values(), AWAITING_APPROVAL)}
    return [
        block
        for block in card["body"]
        if block.get("type") == "Container"
        and block["items"][0].get("inlines")
        and block["items"][0]["inlines"][0]["text"] in words
    ]


def block_runs(node: object) -> list[dict]:
    if isinstance(node, dict):
        own = [node] if node.get("type") == "TextRun" else []
        return own + [run for value in node.values() for run in block_runs(value)]
    if isinstance(node, list):
        return [run for item in node for run in block_runs(item)]
    return []


def open_urls(node: object) -> list[dict]:
    if isinstance(node, dict):
        own = [node] if node.get("type") == "Action.OpenUrl" else []
        return own + [action for value in node.values() for action in open_urls(value)]
    if isinstance(node, list):
        return [action for item in node for action in open_urls(item)]
    return []


def email_parts(message) -> tuple[email.message.EmailMessage, str, str]:
    raw = build_email(message, sender="doctor@contoso.com", recipients=["oncall@contoso.com"]).as_bytes()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    plain = parsed.get_body(preferencelist=("plain",)).get_content()
    markup = parsed.get_body(preferencelist=("html",)).get_content()
    return parsed, plain, markup


# --- content ---------------------------------------------------------------------------------------


def test_a_pending_approval_reads_as_awaiting_and_the_headline_counts_it() -> None:
    message = incident([pending()], alert=None)
    assert message.headline.endswith("; 1 fix awaits approval")
    assert "awaits your approval until 2026-11-25 11:27 UTC" in message.summary
    assert message.pending_approvals == (pending(),)
    two = incident([pending(), pending(finding="OTHER"), applied("verified")])
    assert two.headline.endswith("; 2 fixes await approval")
    assert "; fixed: requestTimeout 20 s -> 30 s" in two.headline  # a verified fix is still named
    dry_run = incident([pending(link=None, reason="dry-run: nothing was changed")])
    assert "approval" not in dry_run.headline
    plain = render_text(dry_run)
    assert "WOULD DO (DRY-RUN)" in plain and "AWAITING" not in plain


def test_a_pending_approval_does_not_raise_the_level_on_its_own() -> None:
    assert message_level([], [], alerted=False, actions=[pending()]) is Severity.INFO


def test_approved_and_verified_follow_up() -> None:
    message = build_approval_message(
        approval(),
        decision="approved",
        approver="alice@contoso.com",
        result=applied("verified"),
        note=None,
        new_link=None,
        record_url="https://records.example/incidents/inc-20261125-1027",
    )
    assert message.kind == "approval" and message.decision == "approved"
    assert message.headline == (
        "Approved by alice@contoso.com: requestTimeout 20 s -> 30 s on settings web-settings — "
        "fixed and verified"
    )
    assert message.subject.startswith("[CRITICAL] agw-contoso: Approved by alice@contoso.com")
    assert message.incident_id == "inc-20261125-1027" and message.message_id == "ap-7f3c"
    facts = dict(message.facts())
    assert facts["Incident"] == "inc-20261125-1027" and facts["Gateway"] == "agw-contoso"
    assert facts["Approval"] == "ap-7f3c"
    assert facts["Approved by"] == "alice@contoso.com at 2026-11-25 10:41 UTC"
    assert message.actions == (applied("verified"),)
    # The level the request had (its critical finding): the follow-up reaches the same channels.
    assert message.level is Severity.CRITICAL


def test_approved_but_rolled_back_follow_up_is_critical() -> None:
    low = {**FINDING, "severity": "warning"}
    message = build_approval_message(
        approval(finding=low),
        decision="approve",
        approver="alice@contoso.com",
        result=applied("rolled-back"),
        note=None,
        new_link=None,
    )
    assert message.headline.startswith(
        "Approved by alice@contoso.com but rolled back: requestTimeout 20 s -> 30 s on settings web-settings"
    )
    assert "REQUEST_TIMEOUT_TOO_LOW was still found after the change" in message.headline
    assert message.level is Severity.CRITICAL
    assert (
        build_approval_message(
            approval(finding=low),
            decision="approved",
            approver="alice@contoso.com",
            result=applied("verified"),
            note=None,
            new_link=None,
        ).level
        is Severity.WARNING
    )


def test_rejected_follow_up_says_nothing_changed_and_keeps_the_note() -> None:
    message = build_approval_message(
        approval(state="rejected", decided_by="bob@contoso.com"),
        decision="rejected",
        approver="bob@contoso.com",
        result=None,
        note="not during the sale; we will raise it tonight",
        new_link=None,
    )
    assert message.headline == (
        "Rejected by bob@contoso.com: requestTimeout 20 s -> 30 s on settings web-settings — "
        "nothing was changed"
    )
    facts = dict(message.facts())
    assert facts["Rejected by"].startswith("bob@contoso.com")
    assert facts["Note"] == "not during the sale; we will raise it tonight"
    [shown] = message.actions
    assert shown.status == "skipped" and "rejected by bob@contoso.com" in shown.reason
    assert message.level is Severity.CRITICAL  # as the request was


def test_re_planned_follow_up_shows_the_new_approve_and_reject() -> None:
    new = ApprovalLink("ap-8a1d", PAGE.replace("ap-7f3c", "ap-8a1d"), "2026-11-25T12:41:00+00:00")
    message = build_approval_message(
        approval(state="superseded", replaced_by="ap-8a1d"),
        decision="re-planned",
        approver="alice@contoso.com",
        result=None,
        note=None,
        new_link=new,
    )
    assert message.headline == "Re-planned: the gateway changed since the plan; approve the new plan"
    assert "awaits your approval until 2026-11-25 12:41 UTC" in message.summary
    [shown] = message.actions
    assert shown.approval == new and shown.status == "planned"
    assert message.pending_approvals == (shown,)
    plain = render_text(message)
    assert f"      {new.url}&decision=approve" in plain.splitlines()
    assert f"      {new.url}&decision=reject" in plain.splitlines()
    assert PAGE not in plain  # never the superseded approval's link


def test_an_unknown_decision_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown decision"):
        build_approval_message(
            approval(), decision="maybe", approver="a", result=None, note=None, new_link=None
        )


def test_the_follow_up_routes_like_any_message() -> None:
    settings = {
        "TEAMS_WEBHOOK_URL": "https://prod.example/workflows/x?sig=s",
        "TEAMS_MIN_SEVERITY": "critical",
        "NOTIFY_EMAIL_TO": "oncall@contoso.com",
        "SMTP_HOST": "smtp.example",
        "SMTP_FROM": "doctor@contoso.com",
        "EMAIL_MIN_SEVERITY": "critical",
    }
    targets = route(settings).targets
    assert len(targets) == 2
    message = build_approval_message(
        approval(), decision="rejected", approver="bob@contoso.com", result=None, note=None, new_link=None
    )
    assert all(should_send(message, target) for target in targets)


# --- Teams -----------------------------------------------------------------------------------------


def test_the_card_has_approve_and_reject_buttons_with_the_block(card_validator) -> None:
    message = incident([applied("verified"), pending()])
    card = card_of(build_payload(message))
    card_validator.validate(card)
    verified, waiting = action_blocks(card)
    assert open_urls(verified) == []
    shown = texts(waiting)
    assert shown[0] == "Awaiting your approval  "
    assert shown[shown.index("Change: ") + 1] == CHANGE.summary
    assert "Approving runs: " in shown and COMMAND in shown
    assert shown[shown.index("Link expires: ") + 1] == "2026-11-25 11:27 UTC"
    [action_set] = [item for item in waiting["items"] if item["type"] == "ActionSet"]
    assert waiting["items"][-1] is action_set  # the buttons close the action's own block
    assert action_set["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Approve",
            "url": PAGE + "&decision=approve",
            "style": "positive",
        },
        {
            "type": "Action.OpenUrl",
            "title": "Reject",
            "url": PAGE + "&decision=reject",
            "style": "destructive",
        },
    ]
    # The card's own links are unchanged.
    assert [a["title"] for a in card["actions"]] == ["Open in portal", "Incident record"]
    header = card["body"][0]["items"][1]["inlines"][0]["text"]
    assert header.endswith("; 1 fix awaits approval")


def test_without_a_public_url_the_card_gives_the_commands(card_validator) -> None:
    message = incident([pending(link=ApprovalLink("ap-7f3c", None, "2026-11-25T11:27:00Z"))])
    card = card_of(build_payload(message))
    card_validator.validate(card)
    [block] = action_blocks(card)
    assert open_urls(block) == []
    shown = texts(block)
    assert "Approve from a terminal: " in shown and "appgw-doctor approve ap-7f3c" in shown
    assert "Reject: " in shown and "appgw-doctor reject ap-7f3c" in shown


def test_hostile_change_summaries_stay_inert_beside_the_buttons(card_validator) -> None:
    evil = '**x** [approve](https://evil.example/steal) <a href="https://evil.example">y</a>\n# h'
    hostile = pending(change=Change(SETTINGS_ID, None, None, evil), command=evil, reason=evil)
    message = incident([hostile])
    card = card_of(build_payload(message))
    card_validator.validate(card)
    [block] = action_blocks(card)
    assert [a["url"] for a in open_urls(card)] == [
        PAGE + "&decision=approve",
        PAGE + "&decision=reject",
        message.gateway.portal_url,
        "https://records.example/incidents/inc-20261125-1027",
    ]
    assert "evil.example" not in json.dumps([a["url"] for a in open_urls(card)])
    one = evil.replace("\n", " ")
    [run] = [run for run in block_runs(block) if run["text"] == one and run.get("fontType") is None][:1]
    assert run["type"] == "TextRun"  # as typed, never markdown, on one line
    assert '"TextBlock"' not in json.dumps(card)


def test_the_follow_up_card_is_valid_and_shows_the_result_block(card_validator) -> None:
    message = build_approval_message(
        approval(),
        decision="approved",
        approver="alice@contoso.com",
        result=applied("rolled-back"),
        note="go",
        new_link=None,
        record_url="https://records.example/incidents/inc-20261125-1027",
    )
    card = card_of(build_payload(message))
    card_validator.validate(card)
    assert card["body"][0]["style"] == "attention"
    [block] = action_blocks(card)
    assert texts(block)[0] == "Rolled back  " and UNDO in texts(block)
    facts = {fact["title"]: fact["value"] for fact in card["body"][1]["facts"]}
    assert facts["Incident"] == "inc\\-20261125\\-1027" and facts["Approval"] == "ap\\-7f3c"


def test_many_pending_approvals_keep_the_card_within_budget(card_validator) -> None:
    long = 'x\\"<\U0001f525' * 300
    many = [
        pending(
            link=ApprovalLink(
                f"ap-{i:03d}", PAGE.replace("ap-7f3c", f"ap-{i:03d}") + "x" * 1500, LINK.expires_at
            ),
            finding=f"CODE_{i:02d}",
            change=Change(SETTINGS_ID, None, None, long),
            command="az " + long,
            reason=long,
        )
        for i in range(60)
    ]
    message = incident(many)
    payload = build_payload(message)
    assert payload_size(payload) <= PAYLOAD_BUDGET
    card = card_of(payload)
    card_validator.validate(card)
    blocks = action_blocks(card)
    assert 0 < len(blocks) <= LIMITS.actions
    for i, block in enumerate(blocks):  # every block shown has both of its buttons
        assert [a["title"] for a in open_urls(block)] == ["Approve", "Reject"]
        assert open_urls(block)[0]["url"].split("?")[0].endswith(f"ap-{i:03d}")
    hidden = 60 - len(blocks)
    [more] = [text for text in texts(card) if "more remediation statuses not shown" in text]
    assert more.startswith(f"and {hidden} more remediation statuses not shown ({hidden} await approval")
    _, plain, markup = email_parts(message)
    assert len(plain.encode()) <= PART_BUDGET and len(markup.encode()) <= PART_BUDGET


# --- email -----------------------------------------------------------------------------------------


def test_the_email_has_approve_and_reject_in_both_parts() -> None:
    message = incident([pending()])
    parsed, plain, markup = email_parts(message)
    assert "1 fix awaits approval" in parsed["Subject"]
    lines = plain.splitlines()
    assert "  AWAITING YOUR APPROVAL — raise-request-timeout for REQUEST_TIMEOUT_TOO_LOW" in lines
    assert f"    Change:           {CHANGE.summary}" in lines
    assert f"    Approving runs:   {COMMAND}" in lines
    assert "    Link expires:     2026-11-25 11:27 UTC" in lines
    approve, reject = lines.index("    Approve:"), lines.index("    Reject:")
    assert lines[approve + 1] == f"      {PAGE}&decision=approve"
    assert lines[reject + 1] == f"      {PAGE}&decision=reject"
    buttons = re.findall(r'<a href="([^"]+)" style="([^"]+)">(Approve|Reject)</a>', markup)
    assert [(html.unescape(url), title) for url, _, title in buttons] == [
        (PAGE + "&decision=approve", "Approve"),
        (PAGE + "&decision=reject", "Reject"),
    ]
    assert all("background:" in style and "padding" in style for _, style, _ in buttons)
    assert "Awaiting your approval" in markup and html.escape(CHANGE.summary) in markup


def test_the_email_gives_the_commands_without_a_public_url() -> None:
    message = incident([pending(link=ApprovalLink("ap-7f3c", None, "2026-11-25T11:27:00+00:00"))])
    _, plain, markup = email_parts(message)
    assert "    Approve from a terminal: appgw-doctor approve ap-7f3c" in plain.splitlines()
    assert "    Reject: appgw-doctor reject ap-7f3c" in plain.splitlines()
    assert "<a href" not in markup.split("Remediation", 1)[1].split('<p style="margin-top:16px">')[0]
    assert "appgw-doctor approve ap-7f3c" in markup and "appgw-doctor reject ap-7f3c" in markup


def test_hostile_change_summaries_are_escaped_in_the_email() -> None:
    evil = '<a href="https://evil.example">Approve</a>\r\nApprove: https://evil.example'
    message = incident([pending(change=Change(SETTINGS_ID, None, None, evil))])
    _, plain, markup = email_parts(message)
    assert 'evil.example">Approve</a>' not in markup and html.escape(evil.split("\r")[0]) in markup
    assert len(re.findall(r"<a href=", markup)) == 4  # Approve, Reject, portal, record
    assert "\nApprove: https://evil.example" not in plain  # stays on its Change line


def test_the_follow_up_email_threads_under_the_incident() -> None:
    message = build_approval_message(
        approval(),
        decision="approved",
        approver="alice@contoso.com",
        result=applied("verified"),
        note=None,
        new_link=None,
    )
    parsed, plain, markup = email_parts(message)
    assert parsed["Subject"].startswith("[CRITICAL] agw-contoso: Approved by alice@contoso.com")
    assert parsed["In-Reply-To"] == parsed["References"] == incident_message_id("inc-20261125-1027")
    assert parsed["Message-ID"] == "<approval.ap-7f3c.approved@appgw-doctor>"
    assert parsed["X-AppGW-Doctor-Approval"] == "ap-7f3c"
    assert parsed["X-AppGW-Doctor-Incident"] == "inc-20261125-1027"
    assert "  FIXED AND VERIFIED — raise-request-timeout for REQUEST_TIMEOUT_TOO_LOW" in plain.splitlines()
    assert "Incident:       inc-20261125-1027" in plain.splitlines()
    assert "Fixed and verified" in markup
    assert render_text(message) == plain and render_html(message).strip() == markup.strip()


def test_the_follow_up_goes_to_its_own_outbox_files(tmp_path) -> None:
    message = build_approval_message(
        approval(), decision="rejected", approver="bob@contoso.com", result=None, note=None, new_link=None
    )
    results = write_outbox(message, [], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "approval-ap-7f3c-rejected-email.eml",
        "approval-ap-7f3c-rejected-teams.json",
    ]
    assert all(result.ok for result in results)
    posted = json.loads((tmp_path / "approval-ap-7f3c-rejected-teams.json").read_text())
    assert "Rejected by bob@contoso.com" in serialize(posted).decode()


def test_approved_but_not_applied_says_why_from_the_note() -> None:
    """The desk passes no result when nothing was applied (the finding is gone, the gateway could not
    be diagnosed again) and says why in the note."""
    why = "approved by alice@contoso.com, but REQUEST_TIMEOUT_TOO_LOW is no longer found; nothing was changed"
    message = build_approval_message(
        approval(state="cancelled"),
        decision="approve",
        approver="alice@contoso.com",
        result=None,
        note=why,
        new_link=None,
    )
    assert message.headline == (
        "Approved by alice@contoso.com but not applied: requestTimeout 20 s -> 30 s on settings "
        "web-settings — nothing was changed"
    )
    assert message.summary.endswith(why + ".") and message.actions == ()
    assert dict(message.facts())["Note"] == why


def test_a_rejection_shows_the_skipped_plan_it_is_given() -> None:
    skipped = ActionResult(
        "raise-request-timeout",
        "REQUEST_TIMEOUT_TOO_LOW",
        SETTINGS_ID,
        "skipped",
        "rejected by bob@contoso.com; nothing was changed",
        CHANGE,
        COMMAND,
    )
    message = build_approval_message(
        approval(state="rejected"),
        decision="reject",
        approver="bob@contoso.com",
        result=skipped,
        note=None,
        new_link=None,
    )
    assert message.decision == "rejected" and message.actions == (skipped,)
    assert "    Why:              rejected by bob@contoso.com; nothing was changed" in render_text(message)
