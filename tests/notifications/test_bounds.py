"""Messages stay within their channel's limits at any size (issue 11): the Teams post within
PAYLOAD_BUDGET bytes, each email part within PART_BUDGET, whatever the number of findings, checks,
actions, members and however long and hostile their texts; what is left out is counted, and the
findings themselves are never cut (the incident record keeps them whole)."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.findings import CheckResult, CheckStatus, Finding, Fix, Severity
from model.remediation import ACTION_STATUSES, ActionResult, Change
from notifications.bounds import listed
from notifications.content import build_message
from notifications.email import PART_BUDGET, render_html, render_text
from notifications.teams import PAYLOAD_BUDGET, _finding_block, build_payload, serialize

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network"
GATEWAY_ID = f"{RG}/applicationGateways/agw"
# What grows most once escaped and serialized: a backslash is 4 bytes in a card's markdown field, a
# quote 6 in HTML, an astral character 4 in UTF-8.
WORST = '\\"&<\U0001f525'


def nsg_finding(i: int, members: int, text: str = "") -> Finding:
    """NSG_BLOCKS_BACKEND as the check words it, with `members` blocked servers."""
    nsg = f"{RG}/networkSecurityGroups/nsg-{i}{text}"
    return Finding(
        "NSG_BLOCKS_BACKEND",
        [Severity.CRITICAL, Severity.WARNING, Severity.INFO][i % 3],
        f"NSG nsg-{i} rule Deny{text} blocks the gateway from {members} servers",
        f"{nsg}/securityRules/Deny",
        {
            "nsg": nsg,
            "decidingRule": {"name": f"Deny{text}", "priority": 100},
            "blocked": [
                {"address": f"10.{i % 250}.{n // 250}.{n % 250}", "port": 8080} for n in range(members)
            ],
            "direction": "Inbound",
            "source": "10.0.0.0/24",
        },
        Fix(
            f"Allow TCP 8080{text}",
            command="az network nsg rule create " + " ".join(f"10.1.0.{n}" for n in range(members)),
        ),
    )


def sizes(message) -> tuple[int, int, int]:
    return (
        len(serialize(build_payload(message))),
        len(render_text(message).encode()),
        len(render_html(message).encode()),
    )


def test_three_hundred_findings_show_the_worst_in_full_lists_the_next_and_counts_the_rest() -> None:
    found = [nsg_finding(i, members=1_000) for i in range(300)]
    message = build_message(
        GATEWAY_ID, incident_id="inc-1", findings=found, record_url="https://ops.example/i/1"
    )
    card, text, html = sizes(message)
    assert card <= PAYLOAD_BUDGET and text <= PART_BUDGET and html <= PART_BUDGET
    plain = render_text(message)
    # Evidence lists are cut to their first items within a finding.
    assert "10.0.0.0:8080, 10.0.0.1:8080, 10.0.0.2:8080, 10.0.0.3:8080 and 996 more" in plain
    more = re.search(
        r"and (\d+) more findings not shown \((\d+) critical, (\d+) warning, (\d+) info\)", plain
    )
    assert more and int(more.group(1)) == sum(map(int, more.groups()[1:]))
    assert "the full list is in the incident record (https://ops.example/i/1)." in plain
    numbered = re.findall(r"^(\d+)\. \[", plain, flags=re.MULTILINE)
    assert [int(n) for n in numbered] == list(range(1, len(numbered) + 1))  # worst first, none skipped
    assert len(numbered) + int(more.group(1)) == 300


def test_without_the_budget_the_same_card_would_not_fit() -> None:
    """The cap is what keeps it small: every finding in full would be far over Teams' limit."""
    found = [nsg_finding(i, members=1_000) for i in range(60)]
    message = build_message(GATEWAY_ID, incident_id="inc-1", findings=found)
    every_finding_in_full = sum(len(serialize(_finding_block(f))) for f in message.findings)
    assert every_finding_in_full > 2 * PAYLOAD_BUDGET
    assert len(serialize(build_payload(message))) <= PAYLOAD_BUDGET


def test_rendering_never_touches_the_findings() -> None:
    found = [nsg_finding(i, members=500, text=WORST * 50) for i in range(40)]
    before = [f.to_dict() for f in found]
    message = build_message(GATEWAY_ID, incident_id="inc-1", findings=found)
    build_payload(message), render_text(message), render_html(message)
    assert [f.to_dict() for f in found] == before


def test_the_worst_texts_everywhere_still_fit() -> None:
    """Every outside field at its most expensive and far too long: the frame alone stays well inside
    the budget (build_payload and email_selection refuse a frame that does not fit)."""
    long = WORST * 4_000
    gateway = (
        f"/subscriptions/{SUB}/resourceGroups/{long}/providers/Microsoft.Network/applicationGateways/{long}"
    )
    alert = {
        "essentials": {"alertRule": long, "severity": long, "firedDateTime": long, "monitorCondition": long},
        "alertContext": {
            "condition": {"allOf": [{"metricName": long, "metricValue": long, "threshold": long}]}
        },
    }
    checks = [CheckResult(long + str(i), status, long) for i in range(300) for status in CheckStatus]
    actions = [
        ActionResult(
            long,
            long,
            long,
            status,
            long,
            change=Change(long, {long: long}, {long: long}, long),
            command=long,
            undo=long,
            verification=long,
        )
        for _ in range(43)
        for status in ACTION_STATUSES
    ]
    found = [nsg_finding(i, members=2_000, text=long) for i in range(500)]
    message = build_message(
        gateway,
        incident_id=long,
        findings=found,
        checks=checks,
        alert=alert,
        actions=actions,
        remediation_mode=long,
        remediation_note=long,
        record_url="https://r/" + long,
    )
    card, text, html = sizes(message)
    assert card <= PAYLOAD_BUDGET and text <= PART_BUDGET and html <= PART_BUDGET
    assert "more findings not shown" in render_text(message)


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=2_000) | st.sampled_from(
    WORST
).map(lambda c: c * 3_000)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    count=st.integers(0, 3_000),
    members=st.integers(0, 3_000),
    name=text,
    reasons=st.lists(text, max_size=60),
    actions=st.lists(text, max_size=60),
    record=st.booleans(),
)
def test_any_number_of_findings_of_any_size_fits_and_is_counted(
    count, members, name, reasons, actions, record
) -> None:
    found = [nsg_finding(i, members=members if i < 20 else 2, text=name) for i in range(count)]
    checks = [CheckResult(f"check-{i}", CheckStatus.ERROR, reason) for i, reason in enumerate(reasons)]
    statuses = [ActionResult(a or "a", a, a, "skipped", a) for a in actions]
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-" + name[:50],
        findings=found,
        checks=checks,
        actions=statuses,
        record_url="https://r.example/i" if record else None,
    )
    card, text_bytes, html_bytes = sizes(message)
    assert card <= PAYLOAD_BUDGET
    assert text_bytes <= PART_BUDGET and html_bytes <= PART_BUDGET
    plain = render_text(message)
    shown = len(re.findall(r"^\d+\. \[", plain, flags=re.MULTILINE))
    more = re.search(r"and (\d+) more findings? not shown", plain)
    assert shown + (int(more.group(1)) if more else 0) == count  # every finding shown or counted


def test_listed_names_the_first_and_counts_the_rest() -> None:
    assert listed(["a", "b"], 3) == "a, b"
    assert listed(["a", "b", "c", "d", "e"], 3) == "a, b, c and 2 more"
    assert listed(["a", "b", "c"], 2, separator="; ") == "a; b and 1 more"


def test_when_the_record_could_not_keep_every_finding_the_message_does_not_promise_it() -> None:
    found = [nsg_finding(i, members=1_000) for i in range(300)]
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-1",
        findings=found,
        record_url="https://ops.example/i/1",
        findings_not_recorded=120,
    )
    for rendered in (render_text(message), render_html(message), serialize(build_payload(message)).decode()):
        assert "the full list is in the incident record" not in rendered
        assert "the incident record keeps the most severe (120 did not fit its size limit)" in rendered
        assert f"diagnose --gateway {GATEWAY_ID}` lists every finding" in rendered


def action(i: int, status: str, text: str) -> ActionResult:
    settings_id = f"{GATEWAY_ID}/backendHttpSettingsCollection/s{i}{text}"
    return ActionResult(
        "raise-request-timeout",
        f"CODE_{i:02d}{text}",
        settings_id,
        status,
        "" if status == "verified" else f"why {text}",
        change=Change(settings_id, {"requestTimeout": 20}, {"requestTimeout": 60}, f"20 s -> 60 s {text}"),
        command=f"az network application-gateway http-settings update --timeout 60 {text}",
        undo=f"az network application-gateway http-settings update --timeout 20 {text}",
        verification=f"seen {text}",
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    statuses=st.lists(st.sampled_from(ACTION_STATUSES), min_size=50, max_size=50),
    texts=st.lists(text, min_size=50, max_size=50),
    findings=st.integers(0, 300),
    note=st.one_of(st.none(), text),
)
def test_fifty_actions_of_any_size_fit_and_are_shown_as_a_prefix_or_counted(
    statuses, texts, findings, note
) -> None:
    """50 actions (each status, any text) beside any number of findings: both channels stay within
    their budgets, show the first actions in order and count the rest."""
    actions = [action(i, status, t) for i, (status, t) in enumerate(zip(statuses, texts, strict=True))]
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-1",
        findings=[nsg_finding(i, members=50) for i in range(findings)],
        actions=actions,
        remediation_mode="auto",
        remediation_note=note,
        record_url="https://r.example/i",
    )
    card, text_bytes, html_bytes = sizes(message)
    assert card <= PAYLOAD_BUDGET and text_bytes <= PART_BUDGET and html_bytes <= PART_BUDGET
    plain = render_text(message)
    shown = [
        int(n) for n in re.findall(r"^  [A-Z ,()-]+ — raise-request-timeout for CODE_(\d\d)", plain, re.M)
    ]
    assert shown == list(range(len(shown)))  # a prefix, in order
    more = re.search(r"and (\d+) more remediation statuses not shown", plain)
    assert len(shown) + (int(more.group(1)) if more else 0) == 50
    posted = serialize(build_payload(message)).decode()
    card_more = re.search(r"and (\d+) more remediation statuses not shown", posted)
    card_shown = len(re.findall(r'"text":"raise-request-timeout for CODE_', posted))
    assert card_more and card_shown + int(card_more.group(1)) == 50  # the card shows 10 at most
