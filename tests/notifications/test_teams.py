"""The Teams payload: a valid Adaptive Card 1.5 in a Workflows message, always within Teams' size limit."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.findings import CheckResult, CheckStatus, Finding, Fix, Severity
from model.remediation import ActionResult, Change
from notifications.content import STATUS_WORDS, build_message, build_resolution_message
from notifications.teams import LIMITS, PAYLOAD_BUDGET, build_payload, payload_size, serialize

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
GATEWAY_ID = f"{RG}/applicationGateways/agw-contoso"


def card_of(payload: dict) -> dict:
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    return attachment["content"]


def texts(node: object) -> list[str]:
    """Every piece of visible text in a card: TextBlock text, TextRun text, fact titles and values."""
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


def many_findings(count: int, evidence_chars: int) -> list[Finding]:
    severities = [Severity.CRITICAL, Severity.WARNING, Severity.INFO]
    return [
        Finding(
            code=f"CODE_{i:03d}",
            severity=severities[i % 3],
            title=f"Finding number {i} on backend pool pool-{i}",
            resource=f"{GATEWAY_ID}/backendAddressPools/pool-{i}",
            evidence={"log": "x" * evidence_chars, "servers": [f"10.0.{i % 250}.{n}" for n in range(40)]},
            fix=Fix(
                summary="Do the thing " * 30, command="az network something --long " + "y" * evidence_chars
            ),
        )
        for i in range(count)
    ]


def test_incident_card_is_valid_adaptive_card_1_5(
    findings, checks, alert_data, actions, card_validator
) -> None:
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-1",
        findings=findings,
        checks=checks,
        alert=alert_data,
        actions=[actions["planned"]],
        remediation_mode="dry-run",
        record_url="https://records.example/incidents/inc-1",
    )
    card = card_of(build_payload(message))
    card_validator.validate(card)
    assert card["version"] == "1.5"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    shown = texts(card)
    for finding in findings:
        assert any(finding.title in text for text in shown), finding.title
        if finding.fix.command:
            assert finding.fix.command in shown
    assert "Would do (dry-run)  " in shown and "Remediation: dry-run (nothing was changed)" in shown
    assert [a["title"] for a in card["actions"]] == ["Open in portal", "Incident record"]
    assert card["actions"][0]["url"] == f"https://portal.azure.com/#@/resource{GATEWAY_ID}/overview"


def test_critical_headline_is_colored_attention(findings, card_validator) -> None:
    card = card_of(build_payload(build_message(GATEWAY_ID, incident_id="i", findings=findings)))
    header = card["body"][0]
    assert header["style"] == "attention"
    assert header["items"][0]["inlines"][0] == {
        "type": "TextRun",
        "text": "CRITICAL  ",
        "color": "Attention",
        "weight": "Bolder",
        "size": "Large",
    }


def test_no_cause_card_lists_checks_that_ran_and_could_not(alert_data, card_validator) -> None:
    checks = [
        CheckResult("nsg", CheckStatus.PASSED),
        CheckResult("backend-health", CheckStatus.ERROR, "throttled past retries (HTTP 429)"),
    ]
    message = build_message(GATEWAY_ID, incident_id="i", findings=[], checks=checks, alert=alert_data)
    card = card_of(build_payload(message))
    card_validator.validate(card)
    shown = texts(card)
    assert "No cause found" in shown
    assert "nsg" in shown and "backend-health: " in shown
    assert "throttled past retries (HTTP 429)" in shown
    assert card["body"][0]["style"] == "warning"


def test_resolution_card_is_short_valid_and_green(alert_data, card_validator) -> None:
    message = build_resolution_message(
        GATEWAY_ID,
        incident_id="i",
        incident_level=Severity.WARNING,
        alert=alert_data,
        resolved_at="2026-11-23T11:00Z",
    )
    card = card_of(build_payload(message))
    card_validator.validate(card)
    assert card["body"][0]["style"] == "good"
    assert len(card["body"]) == 2  # headline and facts, nothing else
    assert payload_size(build_payload(message)) < 3_000


def test_schema_rejects_what_teams_would_reject(findings, card_validator) -> None:
    """The schema check is not vacuous: a card with an unknown style or property fails it."""
    card = card_of(build_payload(build_message(GATEWAY_ID, incident_id="i", findings=findings)))
    bad_style = copy.deepcopy(card)
    bad_style["body"][0]["style"] = "danger"
    extra = copy.deepcopy(card)
    extra["body"][1]["colour"] = "red"
    assert not card_validator.is_valid(bad_style)
    assert not card_validator.is_valid(extra)


def test_two_hundred_long_findings_fit_the_budget_in_tiers_with_an_overflow_line(card_validator) -> None:
    found = many_findings(200, evidence_chars=2_000)
    message = build_message(
        GATEWAY_ID, incident_id="inc-big", findings=found, record_url="https://r.example/i"
    )
    payload = build_payload(message)
    assert payload_size(payload) <= PAYLOAD_BUDGET
    card = card_of(payload)
    card_validator.validate(card)
    full = [block for block in card["body"] if block.get("type") == "Container" and block.get("separator")]
    assert 0 < len(full) <= LIMITS.full
    # The findings in full are the worst ones, in order; the next ones follow as one line each.
    full_titles = [block["items"][0]["columns"][1]["items"][0]["inlines"][0]["text"] for block in full]
    assert [block["items"][0]["columns"][0]["style"] for block in full[:2]] == ["attention", "attention"]
    assert full_titles == [f.title for f in message.findings[: len(full)]]
    lines = [
        block
        for block in card["body"]
        if block.get("type") == "RichTextBlock"
        and block["inlines"][0]["text"].rstrip() in ("CRITICAL", "WARNING")
    ]
    assert 0 < len(lines) <= LIMITS.lines
    assert [b["inlines"][1]["text"] for b in lines] == [
        f.title for f in message.findings[len(full) : len(full) + len(lines)]
    ]
    hidden = message.findings[len(full) + len(lines) :]
    counts = {s: sum(1 for f in hidden if f.severity is s) for s in Severity}
    [line] = [text for text in texts(card) if text.startswith(f"and {len(hidden)} more findings not shown (")]
    assert f"{counts[Severity.CRITICAL]} critical" in line
    assert "the full list is in the incident record (the Incident record link below)" in line


def test_payload_bytes_are_what_is_measured(findings) -> None:
    payload = build_payload(build_message(GATEWAY_ID, incident_id="i", findings=findings))
    body = serialize(payload)
    assert json.loads(body) == payload and len(body) == payload_size(payload)


def test_text_from_azure_is_never_read_as_markdown(card_validator) -> None:
    """Titles, names and commands go into TextRuns (no markdown in Teams), so `*` and `_` show as typed."""
    odd = Finding(
        "NSG_BLOCKS_BACKEND",
        Severity.CRITICAL,
        "Rule **deny_all_in** blocks [backend](http://evil) on *",
        f"{RG}/networkSecurityGroups/nsg_web/securityRules/deny_all_in",
        fix=Fix("Remove rule deny_all_in", command="az network nsg rule delete -n deny_all_in --source '*'"),
    )
    card = card_of(build_payload(build_message(GATEWAY_ID, incident_id="i", findings=[odd])))
    card_validator.validate(card)

    def blocks_holding(node: object, needle: str) -> list[dict]:
        if isinstance(node, dict):
            own = (
                [node]
                if node.get("type") in ("TextBlock", "RichTextBlock") and needle in json.dumps(node)
                else []
            )
            return own + [b for v in node.values() for b in blocks_holding(v, needle)]
        if isinstance(node, list):
            return [b for v in node for b in blocks_holding(v, needle)]
        return []

    for needle in ("**deny_all_in**", "--source '*'", "deny_all_in (NSG rule in nsg_web)"):
        holders = blocks_holding(card, needle)
        assert holders and all(b["type"] == "RichTextBlock" for b in holders), needle


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3_000)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    titles=st.lists(text, max_size=40),
    evidence=text,
    incident_id=text,
    record_url=st.one_of(st.none(), text.map(lambda t: "https://r.example/" + t)),
    reasons=st.lists(text, max_size=30),
)
def test_any_message_stays_within_budget_and_valid(
    titles, evidence, incident_id, record_url, reasons, card_validator
) -> None:
    found = [
        Finding(
            "CODE",
            Severity.CRITICAL,
            title or "t",
            f"{GATEWAY_ID}/probes/p{i}",
            {"e": evidence},
            Fix(title, title),
        )
        for i, title in enumerate(titles)
    ]
    checks = [CheckResult(f"check-{i}", CheckStatus.ERROR, reason) for i, reason in enumerate(reasons)]
    message = build_message(
        GATEWAY_ID, incident_id=incident_id or "i", findings=found, checks=checks, record_url=record_url
    )
    payload = build_payload(message)
    assert payload_size(payload) <= PAYLOAD_BUDGET
    card_validator.validate(card_of(payload))


def test_overflow_without_a_record_link_points_at_the_recorded_incident_and_the_command(
    card_validator,
) -> None:
    message = build_message(
        GATEWAY_ID, incident_id="inc-big", findings=many_findings(200, evidence_chars=2_000)
    )
    card = card_of(build_payload(message))
    card_validator.validate(card)
    [line] = [text for text in texts(card) if " more findings not shown (" in text]
    assert line.endswith(
        f"the full list is recorded with incident inc-big; `appgw-doctor diagnose --gateway {GATEWAY_ID}` "
        "lists every finding."
    )


def test_the_card_separates_checks_that_did_not_apply_and_says_why_a_diagnosis_failed(
    alert_data, card_validator
) -> None:
    checks = [
        CheckResult("nsg-infra-ports", CheckStatus.PASSED),
        CheckResult("udr-default-route", CheckStatus.SKIPPED, "the gateway subnet has no route table"),
    ]
    quiet = card_of(
        build_payload(
            build_message(GATEWAY_ID, incident_id="i", findings=[], checks=checks, alert=alert_data)
        )
    )
    card_validator.validate(quiet)
    shown = texts(quiet)
    assert "Checks that could not run" not in shown
    assert "Not applicable to this gateway (1): " in shown and "udr-default-route" in shown
    failed = card_of(
        build_payload(
            build_message(
                GATEWAY_ID,
                incident_id="i",
                findings=[],
                alert=alert_data,
                diagnosis_error="HttpResponseError: 403",
            )
        )
    )
    card_validator.validate(failed)
    assert "Could not diagnose the gateway" in texts(failed) and "HttpResponseError: 403" in texts(failed)
    assert "No cause found" not in texts(failed)


def test_the_card_leads_with_the_root_cause_and_shows_its_evidence_as_facts(kit, card_validator) -> None:
    message = build_message(
        GATEWAY_ID, incident_id="i", findings=[kit.unhealthy_pool(), kit.nsg_blocks_backend()]
    )
    card = card_of(build_payload(message))
    card_validator.validate(card)
    header_runs = [run["text"] for block in card["body"][0]["items"] for run in block["inlines"]]
    assert header_runs[2] == f"scheduled check: 1 cause of 502s — {kit.nsg_blocks_backend().title}"
    blocks = [item for item in card["body"] if item.get("type") == "Container" and item.get("separator")]
    first, second = (texts(block) for block in blocks)
    assert kit.nsg_blocks_backend().title in first and kit.unhealthy_pool().title in second
    assert any(text.endswith("· NSG_BLOCKS_BACKEND · cause") for text in first)
    assert any(text.endswith("· ALL_BACKENDS_UNHEALTHY · symptom") for text in second)
    [facts] = [item["facts"] for item in blocks[0]["items"] if item["type"] == "FactSet"]
    # Fact titles and values are markdown in Teams: escaped as every outside text there.
    assert facts == [
        {"title": "NSG", "value": "nsg\\-backend"},
        {"title": "Rule", "value": "DenyAppGateway \\(priority 100\\)"},
        {"title": "Blocked", "value": "10\\.1.1.4:8080, 10.1.1.5:8080"},  # not an ordered list
        {"title": "Traffic", "value": "Inbound from 10.1.0.0/24"},
    ]
    assert not any("{" in text or '"address"' in text for text in first + second)  # no JSON
    assert "Findings (1 cause, 1 symptom)" in texts(card)


def test_a_card_with_only_symptoms_says_no_cause_was_found(kit, card_validator) -> None:
    message = build_message(GATEWAY_ID, incident_id="i", findings=[kit.unhealthy_pool()])
    card = card_of(build_payload(message))
    card_validator.validate(card)
    assert card["fallbackText"].endswith("no cause found — see the probe log")
    assert "Findings (1 symptom)" in texts(card)


# --- remediation ----------------------------------------------------------------------------------


def action_blocks(card: dict) -> list[dict]:
    """The card's remediation blocks: the Containers opening with a status word."""
    words = tuple(f"{word}  " for word in STATUS_WORDS.values())
    return [
        block
        for block in card["body"]
        if block.get("type") == "Container"
        and block["items"][0].get("type") == "RichTextBlock"
        and block["items"][0]["inlines"][0]["text"] in words
    ]


def runs(node: object) -> list[dict]:
    if isinstance(node, dict):
        own = [node] if node.get("type") == "TextRun" else []
        return own + [run for value in node.values() for run in runs(value)]
    if isinstance(node, list):
        return [run for item in node for run in runs(item)]
    return []


@pytest.mark.parametrize(
    "status", ["planned", "applied", "verified", "rolled-back", "refused", "skipped", "failed"]
)
def test_each_action_shows_its_status_change_command_verification_and_reason(
    actions, status, card_validator
) -> None:
    action = actions[status]
    message = build_message(
        GATEWAY_ID, incident_id="i", findings=[], actions=[action], remediation_mode="auto"
    )
    card = card_of(build_payload(message))
    card_validator.validate(card)
    [block] = action_blocks(card)
    shown = texts(block)
    assert shown[0] == f"{STATUS_WORDS[status]}  "
    assert f"{action.action} for {action.finding}" in shown
    if action.change:
        assert shown[shown.index("Change: ") + 1] == action.change.summary
    label, command = {
        "planned": ("To apply", action.command),
        "applied": ("To undo", action.undo),
        "verified": ("To undo", action.undo),
        "rolled-back": ("Undone with", action.undo),
        "refused": ("To apply by hand", action.command),
        "failed": ("To undo", action.undo),
        "skipped": (None, None),
    }[status]
    if label:
        [run] = [run for run in runs(block) if run["text"] == command]
        assert run["fontType"] == "Monospace"  # as the findings' fix commands
        assert f"{label}: " in shown
    else:
        assert not [run for run in runs(block) if run.get("fontType") == "Monospace"]
    if action.verification:
        assert shown[shown.index("Verification: ") + 1] == action.verification
    if status == "verified":
        assert "Why: " not in shown
    else:
        assert shown[shown.index("Why: ") + 1] == action.reason
    alarming = status in ("rolled-back", "failed")
    assert (block["items"][0]["inlines"][0].get("color") == "Attention") is alarming
    assert "Remediation: auto" in texts(card)


def test_a_card_with_a_rollback_is_critical_and_says_so_first(actions, card_validator) -> None:
    note = Finding("CUSTOM_DNS_UNVERIFIED", Severity.INFO, "Custom DNS servers not checked", GATEWAY_ID)
    message = build_message(
        GATEWAY_ID, diagnosis_id="d", findings=[note], actions=[actions["verified"], actions["rolled-back"]]
    )
    card = card_of(build_payload(message))
    card_validator.validate(card)
    header = card["body"][0]
    assert header["style"] == "attention"
    assert header["items"][1]["inlines"][0]["text"].startswith("Fix rolled back on agw-contoso: add rule")
    assert [texts(block)[0] for block in action_blocks(card)] == ["Fixed and verified  ", "Rolled back  "]


def test_the_mode_note_is_shown_even_without_actions(card_validator) -> None:
    note = (
        "tag appgw-doctor-remediation value 'yes' is not understood (off | dry-run | auto): "
        "remediation is off"
    )
    message = build_message(
        GATEWAY_ID, incident_id="i", findings=[], remediation_mode="off", remediation_note=note
    )
    card = card_of(build_payload(message))
    card_validator.validate(card)
    shown = texts(card)
    assert "Remediation: off" in shown and note in shown


def test_hostile_change_summaries_and_commands_stay_plain_text(card_validator) -> None:
    """What an action carries comes from ARM names: it goes into TextRuns (never markdown in Teams),
    on one line, and adds no element."""
    evil = "**x** [a](https://evil.example) <b>y</b>\n# h\r\nVerification: forged"
    action = ActionResult(
        evil,
        evil,
        f"{GATEWAY_ID}/backendHttpSettingsCollection/{evil}",
        "rolled-back",
        evil,
        change=Change(evil, {evil: evil}, {evil: evil}, evil),
        command=evil,
        undo=evil,
        verification=evil,
    )
    message = build_message(
        GATEWAY_ID,
        incident_id="i",
        findings=[],
        actions=[action],
        remediation_mode=evil,
        remediation_note=evil,
    )
    card = card_of(build_payload(message))
    card_validator.validate(card)
    [block] = action_blocks(card)
    assert all("\n" not in run["text"] and "\r" not in run["text"] for run in runs(card))
    assert '"type": "TextBlock"' not in json.dumps(block) and '"FactSet"' not in json.dumps(block)
    one = evil.replace("\r", " ").replace("\n", " ")
    assert {run["text"] for run in runs(block)} >= {one, f"{one} for {one}"}
    markdown_fields = [card["fallbackText"]] + [
        fact[key] for fact in card["body"][1]["facts"] for key in ("title", "value")
    ]
    assert not any("[a](" in field or "**x**" in field for field in markdown_fields)


def test_fifty_actions_fit_the_budget_shown_as_far_as_they_fit_and_the_rest_counted(card_validator) -> None:
    long = 'x\\"<\U0001f525' * 400
    settings_id = f"{GATEWAY_ID}/backendHttpSettingsCollection/web_settings"
    many = [
        ActionResult(
            "raise-request-timeout",
            f"CODE_{i:02d}",
            settings_id,
            ["verified", "rolled-back", "planned", "failed", "refused"][i % 5],
            long,
            change=Change(settings_id, {"requestTimeout": 20}, {"requestTimeout": 60}, long),
            command="az " + long,
            undo="az " + long,
            verification=long,
        )
        for i in range(50)
    ]
    message = build_message(GATEWAY_ID, incident_id="i", findings=[], actions=many, remediation_note=long)
    payload = build_payload(message)
    assert payload_size(payload) <= PAYLOAD_BUDGET
    card = card_of(payload)
    card_validator.validate(card)
    shown = len(action_blocks(card))
    assert 0 < shown <= LIMITS.actions
    more = [text for text in texts(card) if "more remediation statuses not shown" in text]
    assert more == [f"and {50 - shown} more remediation statuses not shown."]
    # What is shown is a prefix, in order.
    assert [texts(b)[1] for b in action_blocks(card)] == [
        f"raise-request-timeout for CODE_{i:02d}" for i in range(shown)
    ]
