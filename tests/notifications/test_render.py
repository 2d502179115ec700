"""The card as a person sees it: rendered by the Adaptive Cards JS renderer in headless Chromium.

Screenshots are left in the test's tmp_path (`<name>.png`) for a human look; the assertions read the
rendered DOM and the renderer's own parse and validation events.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from model.changes import PathChange
from model.findings import CheckResult, CheckStatus, Finding, Fix, Severity
from model.remediation import ApprovalLink
from notifications.content import ChangeFacts, build_message, build_resolution_message
from notifications.teams import build_payload

SUB = "00000000-0000-0000-0000-000000000001"
GATEWAY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network/applicationGateways/agw"
)


def visible_text(dom: str) -> str:
    """The text of the rendered card, tags stripped, entities decoded, whitespace collapsed."""
    card = dom.split('<div id="card">', 1)[1].split('<pre id="events">', 1)[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", card)).split())


def test_incident_card_renders_every_finding_title_and_command(
    findings, checks, alert_data, actions, render_card
) -> None:
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-20261123-1027",
        findings=findings,
        checks=checks,
        alert=alert_data,
        actions=[actions["applied"], actions["skipped"]],
        record_url="https://records.example/incidents/inc-20261123-1027",
    )
    rendered = render_card(build_payload(message), "incident")
    assert rendered.events == []
    text = visible_text(rendered.dom)
    for finding in findings:
        assert finding.title in text
        if finding.fix.command:
            assert finding.fix.command in text
    assert "Open in portal" in text and "Incident record" in text
    assert "throttled past retries (HTTP 429)" in text
    assert "Applied, not yet verified" in text and "reattach-probe is not on the gateway's allow-list" in text
    assert rendered.screenshot.stat().st_size > 10_000


def test_a_card_with_a_verified_and_a_rolled_back_fix_renders_each_block(
    findings, alert_data, actions, render_card
) -> None:
    verified, rolled_back = actions["verified"], actions["rolled-back"]
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-fix",
        findings=findings,
        alert=alert_data,
        actions=[verified, rolled_back],
        remediation_mode="auto",
        remediation_note="gateway tag appgw-doctor-remediation=auto",
        record_url="https://records.example/incidents/inc-fix",
    )
    rendered = render_card(build_payload(message), "remediation", height=2600)
    assert rendered.events == []
    text = visible_text(rendered.dom)
    assert "CRITICAL agw" in text and "Fix rolled back on agw: add rule allow-gateway-manager" in text
    assert "Remediation: auto gateway tag appgw-doctor-remediation=auto" in text
    fixed = text.index("Fixed and verified raise-request-timeout")
    undone = text.index("Rolled back add-nsg-allow-rule")
    assert fixed < undone  # in the order the stage reported them
    for action in (verified, rolled_back):
        assert f"{action.action} for {action.finding}" in text
        assert f"Change: {action.change.summary}" in text
        assert action.undo in text and f"Verification: {action.verification}" in text
    assert "To undo: " + verified.undo in text and "Undone with: " + rolled_back.undo in text
    assert f"Why: {rolled_back.reason}" in text
    # The commands are in the renderer's monospace font, as the findings' fix commands are.
    card = rendered.dom.split('<div id="card">', 1)[1].split('<pre id="events">', 1)[0]
    for command in (verified.undo, rolled_back.undo):
        escaped = html.escape(command, quote=False)
        [span] = re.findall(rf"<span[^>]*>{re.escape(escaped)}</span>", card)
        assert "monospace" in span.lower() or "Consolas" in span or "font-family" in span
    assert "<a " not in card
    assert rendered.screenshot.stat().st_size > 10_000


def test_overflowing_card_renders_with_the_more_findings_line(render_card) -> None:
    found = [
        Finding(
            f"CODE_{i:03d}",
            Severity.CRITICAL if i % 2 else Severity.WARNING,
            f"Backend pool pool-{i} has no healthy server",
            f"{GATEWAY_ID}/backendAddressPools/pool-{i}",
            {"log": "Received invalid status code: 502 in the backend server's HTTP response. " * 20},
            Fix(
                "Check the backend servers of pool-" + str(i),
                command=f"az network application-gateway show-backend-health -g rg -n agw --query '[{i}]'",
            ),
        )
        for i in range(200)
    ]
    payload = build_payload(
        build_message(GATEWAY_ID, incident_id="inc-big", findings=found, record_url="https://r/i")
    )
    rendered = render_card(payload, "overflow", height=4000)
    assert rendered.events == []
    text = visible_text(rendered.dom)
    more = re.search(r"(\d+) more findings not shown", text)
    assert more and 0 < int(more.group(1)) < 200
    assert found[1].title in text  # a critical one, shown first


def test_resolution_card_renders(alert_data, render_card) -> None:
    message = build_resolution_message(
        GATEWAY_ID,
        incident_id="inc-1",
        incident_level=Severity.WARNING,
        alert=alert_data,
        resolved_at="2026-11-23T10:52Z",
    )
    rendered = render_card(build_payload(message), "resolved", height=500)
    assert rendered.events == []
    assert "RESOLVED" in visible_text(rendered.dom)


def test_change_and_failed_diagnosis_cards_render(render_card) -> None:
    nsg = GATEWAY_ID.replace("applicationGateways/agw", "networkSecurityGroups/nsg")
    change = ChangeFacts(
        nsg, "Microsoft.Network/networkSecurityGroups/securityRules/write", "2026-11-25T03:02:11+00:00"
    )
    finding = Finding(
        "NSG_BLOCKS_INFRA_PORTS",
        Severity.CRITICAL,
        "NSG nsg blocks GatewayManager on 65200-65535 (rule DenyGatewayManager, priority 100)",
        f"{nsg}/securityRules/DenyGatewayManager",
        {"requiredPorts": "65200-65535", "decidingRule": "DenyGatewayManager"},
        Fix("Allow inbound TCP 65200-65535 from GatewayManager ahead of rule DenyGatewayManager."),
    )
    checks = [
        CheckResult("nsg-infra-ports", CheckStatus.FAILED),
        CheckResult("udr-default-route", CheckStatus.SKIPPED, "the gateway subnet has no route table"),
        CheckResult("tls-hostname", CheckStatus.SKIPPED, "no backend settings use HTTPS"),
    ]
    changed = build_message(
        GATEWAY_ID, diagnosis_id="d-1", findings=[finding], checks=checks, change=change, new_only=True
    )
    rendered = render_card(build_payload(changed), "change", height=900)
    assert rendered.events == []
    text = visible_text(rendered.dom)
    assert "NSG nsg was changed: 1 new cause of 502s" in text and "Not applicable to this gateway (2)" in text

    failed = build_message(
        GATEWAY_ID,
        incident_id="inc-2",
        findings=[],
        diagnosis_error="GatewayUnavailable: (AuthorizationFailed) The client does not have authorization",
    )
    rendered = render_card(build_payload(failed), "failed", height=700)
    assert rendered.events == []
    assert "could not be diagnosed — GatewayUnavailable" in visible_text(rendered.dom)


def test_hostile_outside_text_renders_as_text(alert_data, render_card) -> None:
    """An alert rule name and a finding title carrying markdown, HTML and line breaks: the card still
    renders cleanly, shows them as typed, and has no link but its own two buttons."""
    alert_data["essentials"]["alertRule"] = "[click](https://evil.example/login)\r\n<b>urgent</b> **now**"
    finding = Finding(
        "PROBE_FAILING",
        Severity.CRITICAL,
        "Probe says <img src=x onerror=alert(1)> [re-auth](https://evil.example)\nFix: run rm -rf",
        f"{GATEWAY_ID}/probes/p_1",
        {"message": "# heading\n- item\u2028> quote"},
        Fix("Check the probe."),
    )
    message = build_message(
        GATEWAY_ID, incident_id="inc-x", findings=[finding], alert=alert_data, record_url="https://r/i"
    )
    rendered = render_card(build_payload(message), "hostile", height=900)
    assert rendered.events == []
    card = rendered.dom.split('<div id="card">', 1)[1].split('<pre id="events">', 1)[0]
    assert "<a " not in card and "<img" not in card and "<b>" not in card
    text = visible_text(rendered.dom)
    assert "Probe says <img src=x onerror=alert(1)> [re-auth](https://evil.example) Fix: run rm -rf" in text
    assert "Alert [click](https://evil.example/login) <b>urgent</b> **now** fired" in text
    assert "Open in portal" in text and "Incident record" in text


def test_root_cause_card_renders_the_cause_first_and_its_facts(kit, alert_data, render_card) -> None:
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-3",
        findings=[kit.unhealthy_pool(), kit.connect_failed(), kit.nsg_blocks_backend()],
        alert=alert_data,
    )
    rendered = render_card(build_payload(message), "root-cause", height=1400)
    assert rendered.events == []
    text = visible_text(rendered.dom)
    assert "2 causes of 502s — NSG nsg-backend rule DenyAppGateway" in text
    nsg, connect, pool = (
        text.index(kit.nsg_blocks_backend().title),
        text.index(kit.connect_failed().title),
        text.index(kit.unhealthy_pool().title),
    )
    assert nsg < connect < pool  # the root cause, what the probe saw, then the symptom
    # This harness has no markdown processor: fact values show with their escapes.
    assert "Rule DenyAppGateway \\(priority 100\\)" in text and "Port 8080" in text
    assert "{" not in text  # facts, not JSON
    assert rendered.screenshot.stat().st_size > 10_000


def test_an_awaiting_approval_card_renders_both_buttons_with_its_block(
    findings, alert_data, actions, render_card
) -> None:
    """Mode `approve`: the planned fix reads "Awaiting your approval" with its change, command and
    expiry, and its own Approve and Reject buttons (an ActionSet in the block), which the renderer
    draws as buttons without a parse or validation event."""
    page = "https://appgw-doctor.azurewebsites.net/api/approvals/ap-7f3c?t=eyJhIjoiYXAtN2YzYyJ9.c2ln"
    waiting = replace(
        actions["planned"],
        reason="awaiting approval until 11:27 UTC",
        approval=ApprovalLink("ap-7f3c", page, "2026-11-25T11:27:00+00:00"),
    )
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-approve",
        findings=findings,
        alert=alert_data,
        actions=[waiting, actions["skipped"]],
        remediation_mode="approve",
        record_url="https://records.example/incidents/inc-approve",
    )
    rendered = render_card(build_payload(message), "approval", height=2600)
    assert rendered.events == []
    text = visible_text(rendered.dom)
    assert "1 fix awaits approval" in text
    block = text.index("Awaiting your approval add-nsg-allow-rule for NSG_BLOCKS_INFRA_PORTS")
    approve, reject = text.index("Approve", block + 30), text.index("Reject", block)
    skipped = text.index("Skipped reattach-probe")
    assert block < approve < reject < skipped  # the buttons are with their block, before the next one
    assert f"Change: {waiting.change.summary}" in text and f"Approving runs: {waiting.command}" in text
    assert "Link expires: 2026-11-25 11:27 UTC" in text
    card = rendered.dom.split('<div id="card">', 1)[1].split('<pre id="events">', 1)[0]
    buttons = re.findall(r"<button[^>]*>.*?</button>", card, re.S)
    titles = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", b)).split()) for b in buttons]
    assert titles == ["Approve", "Reject", "Open in portal", "Incident record"]
    assert "<a " not in card  # OpenUrl actions are buttons; no text became a link
    assert rendered.screenshot.stat().st_size > 10_000


def test_a_card_whose_top_cause_has_a_change_leads_with_it(render_card) -> None:
    """What changed renders first under the headline — the change, when, who, with what — then the
    undo command in monospace; the finding lists its changes (three, then "and N more"); a hostile
    caller shows as typed, never as a link or markup."""
    nsg = GATEWAY_ID.replace("applicationGateways/agw", "networkSecurityGroups/nsg-web")
    rule = f"{nsg}/securityRules/DenyAllInbound"
    fired = datetime(2026, 11, 23, 10, 27, tzinfo=UTC)
    undo = "az network nsg rule delete -g rg-contoso-web --nsg-name nsg-web -n DenyAllInbound"

    def logged(minutes: int, caller: str | None, summary: str, source: str = "activity-log") -> PathChange:
        return PathChange(
            fired - timedelta(minutes=minutes),
            rule,
            "Microsoft.Network/networkSecurityGroups/securityRules/write",
            caller,
            "Succeeded",
            source,
            summary,
            undo=undo if minutes == 6 else None,
            client="Azure CLI" if caller else None,
        )

    changes = (
        logged(6, "alice@contoso.com", "Rule DenyAllInbound added to NSG nsg-web (priority 100)"),
        logged(60 * 5, "[click](https://evil.example) <b>x</b>", "Rule AllowGM priority 200 -> 4000"),
        logged(60 * 30, None, "Rule allow-gm added by the bot", source="appgw-doctor"),
        logged(60 * 50, None, "older"),
        logged(60 * 60, None, "oldest"),
    )
    finding = Finding(
        "NSG_BLOCKS_INFRA_PORTS",
        Severity.CRITICAL,
        "NSG nsg-web blocks infrastructure ports 65200-65535 from GatewayManager",
        rule,
        {"requiredPorts": "65200-65535", "decidingRule": "DenyAllInbound"},
        Fix("Allow inbound TCP 65200-65535 from GatewayManager above rule DenyAllInbound."),
        changes=changes,
    )
    alert = {"essentials": {"alertRule": "appgw-5xx", "severity": "Sev1", "firedDateTime": fired.isoformat()}}
    message = build_message(
        GATEWAY_ID, incident_id="inc-changed", findings=[finding], alert=alert, record_url="https://r/i"
    )
    rendered = render_card(build_payload(message), "culprit", height=1400)
    assert rendered.events == []
    text = visible_text(rendered.dom)
    culprit = (
        "Rule DenyAllInbound added to NSG nsg-web (priority 100), 6 min before the alert by "
        "alice@contoso.com (Azure CLI): NSG nsg-web blocks infrastructure ports 65200-65535 from "
        "GatewayManager"
    )
    assert f"1 cause of 502s — {culprit}" in text  # the headline
    block = text.index(f"What changed: {culprit}")
    assert (
        block < text.index(f"To undo (for a person): {undo}") < text.index("Gateway agw")
    )  # before the facts
    assert "Changes (newest first)" in text and "and 2 more changes (the incident record lists them)" in text
    assert "5 h before the alert (05:27 UTC), by [click](https://evil.example) <b>x</b> (Azure CLI)" in text
    assert "30 h before the alert (2026-11-22 04:27 UTC), by appgw-doctor (the bot's own change)" in text
    card = rendered.dom.split('<div id="card">', 1)[1].split('<pre id="events">', 1)[0]
    assert "<a " not in card and "<b>" not in card
    escaped = html.escape(undo, quote=False)
    [span] = re.findall(rf"<span[^>]*>{re.escape(escaped)}</span>", card)
    assert "monospace" in span.lower() or "Consolas" in span or "font-family" in span
    assert rendered.screenshot.stat().st_size > 10_000
