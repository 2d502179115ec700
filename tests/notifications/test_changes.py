"""What changed (model.changes.PathChange on Finding.changes): the message leads with the top cause's
newest change — what, when (relative to the alert, else to this check; a diff: since the last
healthy check), who (an unknown caller; the bot's own change labelled so) and with what — and its undo
command; each finding lists its changes (at most three, then "and N more"); a change-triggered message
says whose edit it was. Callers and summaries are outside text: every channel shows them as typed."""

from __future__ import annotations

import email
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from html.parser import HTMLParser

import pytest

from model.changes import ACTIVITY_LOG, APPGW_DOCTOR, LAST_HEALTHY_DIFF, PathChange
from model.findings import CheckResult, CheckStatus, Finding, Fix, Severity
from notifications.bounds import cut
from notifications.content import (
    BOT_CALLER,
    UNDO_LABEL,
    UNKNOWN_CALLER,
    ChangeFacts,
    build_message,
    clock,
    duration,
    relative,
)
from notifications.email import PART_BUDGET, build_email, render_html, render_text
from notifications.teams import PAYLOAD_BUDGET, build_payload, serialize
from notifications.text import markdown

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
GATEWAY_ID = f"{RG}/applicationGateways/agw-contoso"
NSG_ID = f"{RG}/networkSecurityGroups/nsg-web"
RULE_ID = f"{NSG_ID}/securityRules/DenyAllInbound"
FIRED = datetime(2026, 11, 23, 10, 27, tzinfo=UTC)
ALERT = {
    "essentials": {"alertRule": "appgw-5xx", "severity": "Sev1", "firedDateTime": "2026-11-23T10:27:00Z"}
}
UNDO = "az network nsg rule delete -g rg-contoso-web --nsg-name nsg-web -n DenyAllInbound"
ADDED = "Rule DenyAllInbound added to NSG nsg-web (priority 100: deny all inbound)"
TITLE = "NSG nsg-web blocks infrastructure ports 65200-65535 from GatewayManager"
HOSTILE_CALLER = "[click](https://evil.example)\r\nBcc: x@evil.example <b>boss</b> **now** \u202e`rm`"


def logged(
    minutes: float = 6,
    *,
    caller: str | None = "alice@contoso.com",
    client: str | None = "Azure CLI",
    summary: str = ADDED,
    source: str = ACTIVITY_LOG,
    undo: str | None = UNDO,
    status: str = "Succeeded",
) -> PathChange:
    return PathChange(
        time=FIRED - timedelta(minutes=minutes),
        resource=RULE_ID,
        operation="Microsoft.Network/networkSecurityGroups/securityRules/write",
        caller=caller,
        status=status,
        source=source,
        summary=summary,
        undo=undo,
        client=client,
    )


def diffed(summary: str = "NSG nsg-web: rule DenyAllInbound added") -> PathChange:
    return PathChange(
        time=None,
        resource=NSG_ID,
        operation="added",
        caller=None,
        status="changed",
        source=LAST_HEALTHY_DIFF,
        summary=summary,
        since=datetime(2026, 11, 23, 9, 10, tzinfo=UTC),
    )


def nsg_cause(*changes: PathChange, severity: Severity = Severity.CRITICAL) -> Finding:
    return Finding(
        "NSG_BLOCKS_INFRA_PORTS",
        severity,
        TITLE,
        RULE_ID,
        {"requiredPorts": "65200-65535", "decidingRule": "DenyAllInbound"},
        Fix(
            "Allow inbound TCP 65200-65535 from GatewayManager above rule DenyAllInbound.",
            command="az network nsg rule create -g rg-contoso-web --nsg-name nsg-web -n allow-gm",
        ),
        changes=changes,
    )


def timeout_cause(*changes: PathChange) -> Finding:
    return Finding(
        "REQUEST_TIMEOUT_TOO_LOW",
        Severity.WARNING,
        "Backend responses take 19.2 s against a 20 s request timeout on web_settings",
        f"{GATEWAY_ID}/backendHttpSettingsCollection/web_settings",
        {"settings": "web_settings"},
        Fix("Raise the request timeout."),
        changes=changes,
    )


def message(*findings: Finding, **options):
    options.setdefault("alert", ALERT)
    return build_message(GATEWAY_ID, incident_id="inc-1", findings=list(findings), **options)


# --- the message --------------------------------------------------------------------------------------


def test_an_activity_log_change_leads_the_headline_with_what_when_who_and_the_client() -> None:
    built = message(nsg_cause(logged(6)))
    sentence = f"{ADDED}, 6 min before the alert by alice@contoso.com (Azure CLI)"
    assert built.headline == f"1 cause of 502s — {sentence}: {TITLE}"
    assert built.culprit is not None and built.culprit.text == f"{sentence}: {TITLE}"
    assert built.culprit.undo == UNDO and not built.culprit.change.own
    assert built.summary.endswith("What changed is from the Activity Log.")
    assert built.subject.startswith("[CRITICAL] agw-contoso: 1 cause of 502s — Rule DenyAllInbound added")


def test_a_diff_against_the_last_healthy_configuration_says_since_when() -> None:
    built = message(nsg_cause(diffed()))
    assert built.headline == (
        "1 cause of 502s — NSG nsg-web: rule DenyAllInbound added, since the last healthy check at "
        f"09:10 UTC by {UNKNOWN_CALLER}: {TITLE}"
    )
    assert "a diff against the gateway's last healthy configuration" in built.summary


def test_the_bots_own_change_is_labelled_as_its_own_whoever_the_log_names() -> None:
    own = logged(12, caller="app 11111111-2222-3333-4444-555555555555", client=None, source=APPGW_DOCTOR)
    built = message(nsg_cause(own))
    assert f"12 min before the alert by {BOT_CALLER}: {TITLE}" in built.headline
    assert BOT_CALLER == "appgw-doctor (the bot's own change)"
    assert "11111111" not in built.headline
    assert built.culprit is not None and built.culprit.change.own
    assert "appgw-doctor's own record" in built.summary


@pytest.mark.parametrize("caller", [None, "", "   "])
def test_an_unknown_caller_is_said_so(caller) -> None:
    built = message(nsg_cause(logged(6, caller=caller, client=None)))
    assert f"6 min before the alert by an unknown caller: {TITLE}" in built.headline


@pytest.mark.parametrize(
    ("minutes", "said"),
    [
        (0.5, "less than a minute before the alert"),
        (6, "6 min before the alert"),
        (59, "59 min before the alert"),
        (80, "1 h 20 min before the alert"),
        (120, "2 h before the alert"),
        (200, "3 h before the alert"),
        (60 * 47, "47 h before the alert"),
        (60 * 24 * 3 + 5, "3 days before the alert"),
        (-4, "4 min after the alert"),
    ],
)
def test_times_read_relative_to_the_alert(minutes, said) -> None:
    assert f", {said} by alice" in message(nsg_cause(logged(minutes))).headline


def test_without_an_alert_times_read_relative_to_this_check() -> None:
    checked = FIRED + timedelta(hours=2, minutes=6)
    built = message(nsg_cause(logged(0)), alert=None, checked_at=checked)
    assert "2 h 6 min before this check by alice@contoso.com" in built.headline
    built = message(nsg_cause(logged(0)), alert=None, checked_at=(FIRED + timedelta(hours=2)).isoformat())
    assert "2 h before this check" in built.headline
    # An alert without a usable fired time is no reference: the check is.
    unusable = {"essentials": {"alertRule": "appgw-5xx", "firedDateTime": "yesterday"}}
    assert (
        "6 min before this check" in message(nsg_cause(logged(6)), alert=unusable, checked_at=FIRED).headline
    )


def test_wording_helpers() -> None:
    assert duration(timedelta(seconds=59)) == "less than a minute"
    assert duration(timedelta(hours=2, minutes=59)) == "2 h 59 min"
    assert duration(timedelta(days=9)) == "9 days"
    assert relative(FIRED, FIRED + timedelta(minutes=1), "this check") == "1 min before this check"
    assert clock("2026-11-23T10:21:30+02:00") == "08:21 UTC"
    assert clock(FIRED - timedelta(days=1), FIRED) == "2026-11-22 10:27 UTC"
    assert clock("not a time") == "not a time"


def test_only_the_top_causes_changes_lead() -> None:
    # The NSG cause is read first (critical); its changes lead, not the timeout's.
    built = message(timeout_cause(logged(3, summary="requestTimeout 60 s -> 20 s")), nsg_cause(logged(30)))
    assert "30 min before the alert" in built.headline and "requestTimeout" not in built.headline
    # The top cause has no change: no culprit, whatever the others have.
    quiet = message(nsg_cause(), timeout_cause(logged(3)))
    assert quiet.culprit is None and quiet.headline == f"2 causes of 502s — {TITLE}"
    # A symptom's change is not a culprit.
    symptom = Finding(
        "ALL_BACKENDS_UNHEALTHY", Severity.CRITICAL, "Every server is unhealthy", RULE_ID, changes=(logged(),)
    )
    assert message(symptom).culprit is None
    # A failed diagnosis has no culprit.
    failed = message(nsg_cause(logged()), diagnosis_error="GatewayUnavailable: 403")
    assert failed.culprit is None and "could not be diagnosed" in failed.headline


def test_a_finding_words_its_newest_three_changes_and_counts_the_rest() -> None:
    changes = [logged(6), diffed(), logged(60 * 26, source=APPGW_DOCTOR, caller=None, client=None)]
    changes += [logged(60 * 24 * d, summary=f"old change {d}") for d in range(3, 10)]
    built = message(nsg_cause(*changes))
    [finding] = built.findings
    assert [c.summary for c in finding.changes] == [ADDED, diffed().summary, ADDED]
    assert finding.changes_not_shown == 7
    assert finding.more_changes == "and 7 more changes (the incident record lists them)"
    assert [c.line for c in finding.changes] == [
        f"{ADDED} — 6 min before the alert (10:21 UTC), by alice@contoso.com (Azure CLI)",
        "NSG nsg-web: rule DenyAllInbound added — since the last healthy check at 09:10 UTC, by "
        + UNKNOWN_CALLER,
        f"{ADDED} — 26 h before the alert (2026-11-22 08:27 UTC), by {BOT_CALLER}",
    ]
    assert message(nsg_cause(logged(), logged())).findings[0].more_changes is None


def test_a_change_that_did_not_succeed_says_its_status_and_one_without_a_summary_is_named() -> None:
    built = message(nsg_cause(logged(status="Failed"), logged(summary="  ")))
    first, second = built.findings[0].changes
    assert first.line.endswith("(status: Failed)")
    assert second.summary == "networkSecurityGroups/securityRules/write on DenyAllInbound"


def test_long_callers_and_summaries_are_cut_and_kept_on_one_line() -> None:
    built = message(nsg_cause(logged(caller="a\r\nb" + "c" * 5_000, summary="s\n" * 5_000, client="x" * 500)))
    line = built.findings[0].changes[0]
    assert "\n" not in line.line and "\r" not in line.line
    assert len(line.summary) <= 240 and len(line.who) <= 120 + 60 + 3


def test_a_change_triggered_message_says_whose_edit_made_the_new_cause() -> None:
    change = ChangeFacts(
        NSG_ID,
        "Microsoft.Network/networkSecurityGroups/securityRules/write",
        "2026-11-23T10:21:00+00:00",
        caller="alice@contoso.com",
    )
    built = message(nsg_cause(), alert=None, change=change, new_only=True)
    assert built.headline == (
        f"alice@contoso.com's edit of NSG nsg-web at 10:21 UTC: {TITLE} — 502s will follow"
    )
    assert built.summary.startswith(
        "NSG nsg-web was changed at 2026-11-23T10:21:00+00:00 by alice@contoso.com"
    )
    assert ("Changed by", "alice@contoso.com") in built.facts()
    more = message(nsg_cause(), timeout_cause(), alert=None, change=change, new_only=True)
    assert more.headline.endswith("— 502s will follow (and 1 more new cause)")
    warning = message(timeout_cause(), alert=None, change=change, new_only=True)
    assert warning.headline.endswith("— 502s may follow")
    deleted = replace(change, operation="Microsoft.Network/networkSecurityGroups/delete")
    assert message(nsg_cause(), alert=None, change=deleted, new_only=True).headline.startswith(
        "alice@contoso.com's deletion of NSG nsg-web at 10:21 UTC: "
    )
    # Without a caller, or without a new cause, the headline is as before.
    anonymous = replace(change, caller=None)
    assert message(nsg_cause(), alert=None, change=anonymous, new_only=True).headline == (
        f"NSG nsg-web was changed: 1 new cause of 502s — {TITLE}"
    )
    nothing = message(alert=None, change=change, new_only=True)
    assert nothing.headline == "NSG nsg-web was changed: no cause of 502s found"


# --- the card -----------------------------------------------------------------------------------------


def texts_of(node) -> list[tuple[str, dict]]:
    """(text, run) of every TextRun, in order."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "TextRun":
            found.append((node["text"], node))
        for value in node.values():
            found += texts_of(value)
    elif isinstance(node, list):
        for item in node:
            found += texts_of(item)
    return found


def test_the_card_leads_with_what_changed_and_its_undo_in_monospace(card_validator) -> None:
    built = message(nsg_cause(logged(6), diffed(), logged(90), logged(100), logged(110)))
    card = build_payload(built)["attachments"][0]["content"]
    card_validator.validate(card)
    first = card["body"][1]  # under the header, before the facts
    assert card["body"][2]["type"] == "FactSet"
    runs = texts_of(first)
    assert runs[0][0] == "What changed: " and runs[1][0] == built.culprit.text
    [(undo, run)] = [(text, run) for text, run in runs if text == UNDO]
    assert run["fontType"] == "Monospace"
    assert f"{UNDO_LABEL}: " in [text for text, _ in runs]
    everything = [text for text, _ in texts_of(card)]
    assert "Changes (newest first)" in everything
    assert f"• {built.findings[0].changes[0].line}" in everything
    assert "and 2 more changes (the incident record lists them)" in everything


def test_the_bots_own_change_is_flagged_in_the_card_and_the_email() -> None:
    built = message(nsg_cause(logged(source=APPGW_DOCTOR)))
    card = build_payload(built)["attachments"][0]["content"]
    assert "This change was made by appgw-doctor itself." in [text for text, _ in texts_of(card["body"][1])]
    assert "(This change was made by appgw-doctor itself.)" in render_text(built)
    assert "This change was made by appgw-doctor itself." in render_html(built)


def test_a_hostile_caller_is_text_in_every_channel(card_validator) -> None:
    change = ChangeFacts(NSG_ID, "Microsoft.Network/networkSecurityGroups/write", None, caller=HOSTILE_CALLER)
    built = message(
        nsg_cause(
            logged(caller=HOSTILE_CALLER, client="<i>x</i>", summary="*bold* <script>alert(1)</script>")
        ),
        alert=None,
        change=change,
        checked_at=FIRED,
    )
    payload = build_payload(built)
    card = payload["attachments"][0]["content"]
    card_validator.validate(card)
    # In TextRuns (never markdown) on one line; in the one markdown field, escaped and defanged.
    holders = [(text, run) for text, run in texts_of(card) if "boss" in text]
    assert holders and all("\n" not in text and "\r" not in text for text, _ in holders)
    [by] = [fact["value"] for fact in card["body"][2]["facts"] if fact["title"] == "Changed by"]
    assert by == markdown(" ".join(HOSTILE_CALLER.split())) and "https://" not in by
    assert "\\[click\\]" in by and "\\<b\\>" in by and "\\*\\*now\\*\\*" in by
    # The email: the HTML part has no tag from the caller; the text part no forged line.
    built_email = build_email(built, sender="doctor@contoso.com", recipients=["oncall@contoso.com"])
    parsed = email.message_from_bytes(built_email.as_bytes(), policy=default_policy)
    assert parsed["Bcc"] is None
    html = parsed.get_body(preferencelist=("html",)).get_content()
    tags = TagNames()
    tags.feed(html)
    assert "script" not in tags.names and "i" not in tags.names
    assert tags.names.count("a") == len(built.links())  # the bot's own links only
    assert "&lt;b&gt;boss&lt;/b&gt;" in html and "&lt;script&gt;" in html and "&lt;i&gt;x&lt;/i&gt;" in html
    plain = parsed.get_body(preferencelist=("plain",)).get_content()
    assert not any(line.startswith("Bcc:") for line in plain.splitlines())
    assert "[click](https://evil.example) Bcc: x@evil.example <b>boss</b>" in plain


class TagNames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.names.append(tag)


# --- the email ----------------------------------------------------------------------------------------


def test_the_email_leads_with_what_changed_in_both_parts() -> None:
    built = message(nsg_cause(logged(6), *(logged(60 + m) for m in range(5))))
    plain = render_text(built).splitlines()
    assert plain[0] == f"[CRITICAL] agw-contoso: {built.headline}"
    assert plain[2] == f"WHAT CHANGED: {built.culprit.text}"
    assert plain[3] == f"  {UNDO_LABEL}: {UNDO}"
    assert plain[5] == built.summary
    text = "\n".join(plain)
    assert "   Changes (newest first):\n     - " + built.findings[0].changes[0].line in text
    assert "     and 3 more changes (the incident record lists them)" in text
    html = render_html(built)
    culprit, table = html.index("What changed:"), html.index("<table")
    assert culprit < table  # before the facts
    assert f"<b>{UNDO_LABEL}:</b>" in html and re.search(rf"<pre[^>]*>{re.escape(UNDO)}</pre>", html)
    assert "Changes (newest first):" in html and "and 3 more changes" in html


def test_a_message_without_changes_renders_as_before() -> None:
    built = message(nsg_cause())
    assert built.culprit is None
    assert "What changed" not in render_html(built) and "WHAT CHANGED" not in render_text(built)
    assert "Changes (newest first)" not in serialize(build_payload(built)).decode()


# --- bounds -------------------------------------------------------------------------------------------

WORST = '\\"&<\U0001f525'


def test_many_changes_per_finding_of_any_length_stay_within_the_budgets() -> None:
    long = WORST * 4_000
    changes = tuple(
        PathChange(
            FIRED - timedelta(minutes=i),
            RULE_ID + long,
            long,
            long,
            long,
            (ACTIVITY_LOG, LAST_HEALTHY_DIFF, APPGW_DOCTOR)[i % 3],
            long,
            since=FIRED - timedelta(days=1),
            undo=long,
            client=long,
        )
        for i in range(1_000)
    )
    found = [replace(nsg_cause(), title=f"{TITLE} {i} {long}", changes=changes) for i in range(300)]
    checks = [CheckResult(f"c{i}{long}", CheckStatus.ERROR, long) for i in range(50)]
    built = message(*found, checks=checks, record_url="https://r.example/i")
    assert built.culprit is not None
    card = serialize(build_payload(built))
    assert len(card) <= PAYLOAD_BUDGET
    assert len(render_text(built).encode()) <= PART_BUDGET and len(render_html(built).encode()) <= PART_BUDGET
    # Every finding shown in full lists three changes and counts the 997 others.
    assert card.decode().count("and 997 more changes") >= 1
    plain = render_text(built)
    shown = len(re.findall(r"^\d+\. \[", plain, flags=re.MULTILINE))
    assert plain.count("and 997 more changes") == shown
    more = re.search(r"and (\d+) more findings not shown", plain)
    assert more and shown + int(more.group(1)) == 300


def test_a_finding_with_changes_costs_more_but_the_top_ones_still_show_in_full() -> None:
    plain = [replace(nsg_cause(), code=f"NSG_{i:03d}") for i in range(60)]
    changed = [replace(f, changes=tuple(logged(m) for m in range(10))) for f in plain]
    for found in (plain, changed):
        built = message(*found)
        assert len(serialize(build_payload(built))) <= PAYLOAD_BUDGET
        card = serialize(build_payload(built)).decode()
        assert "NSG_000" in card and cut(TITLE, 300) in card
