"""The card as a person sees it: rendered by the Adaptive Cards JS renderer in headless Chromium.

Screenshots are left in the test's tmp_path (`<name>.png`) for a human look; the assertions read the
rendered DOM and the renderer's own parse and validation events.
"""

from __future__ import annotations

import html
import re

from diagnostics.findings import Finding, Fix, Severity
from notifications.content import ActionStatus, build_message, build_resolution_message
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
    findings, checks, alert_data, render_card
) -> None:
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-20261123-1027",
        findings=findings,
        checks=checks,
        alert=alert_data,
        actions=[
            ActionStatus("add-nsg-allow-rule", "nsg-agw", "applied"),
            ActionStatus("raise-request-timeout", "web_settings", "skipped", "policy allows dry-run only"),
        ],
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
        GATEWAY_ID, incident_id="inc-1", alert=alert_data, resolved_at="2026-11-23T10:52Z"
    )
    rendered = render_card(build_payload(message), "resolved", height=500)
    assert rendered.events == []
    assert "RESOLVED" in visible_text(rendered.dom)
