"""Rendering a Diagnosis: JSON is exactly `to_dict()`, text and Markdown show every finding and say
which checks could not run."""

from __future__ import annotations

import json
import string
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from core.iso8601 import parse_duration, parse_time
from diagnostics.diagnosis import Diagnosis, incident_window
from diagnostics.report import evidence_lines, in_reading_order, render, render_markdown, render_text
from model.changes import ACTIVITY_LOG, APPGW_DOCTOR, LAST_HEALTHY_DIFF, PathChange
from model.findings import CheckResult, CheckStatus, Finding, Fix, Severity
from model.plans import ProbeReattach, RequestTimeoutRaise

RG = "/subscriptions/s/resourceGroups/rg-web/providers/Microsoft.Network"
GATEWAY = f"{RG}/applicationGateways/agw-one"
WORDS = st.text(alphabet=string.ascii_letters + string.digits + " -_.:/", min_size=1, max_size=40).map(
    str.strip
)
NAMES = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=8,
)

findings = st.builds(
    Finding,
    code=st.sampled_from(
        [
            "NSG_BLOCKS_BACKEND",
            "PROBE_TIMEOUT",
            "REQUEST_TIMEOUT_TOO_LOW",
            "PROBE_DETACHED",
            "ALL_BACKENDS_UNHEALTHY",
        ]
    ),
    severity=st.sampled_from(list(Severity)),
    title=WORDS.filter(bool),
    resource=NAMES.map(lambda name: f"{RG}/networkSecurityGroups/{name}"),
    evidence=st.dictionaries(NAMES, JSON_VALUES, max_size=4),
    fix=st.builds(
        Fix,
        summary=WORDS,
        command=st.none() | WORDS,
        plan=st.none()
        | st.builds(ProbeReattach, probe_id=NAMES, settings_ids=st.tuples(NAMES))
        | st.builds(
            RequestTimeoutRaise,
            settings_id=NAMES,
            settings_name=NAMES,
            from_seconds=st.integers(1, 86400),
            to_seconds=st.integers(1, 86400),
        ),  # fmt: skip
    ),
)
checks = st.builds(
    CheckResult,
    name=NAMES,
    status=st.sampled_from(list(CheckStatus)),
    reason=WORDS,
)


def diagnosis_of(found: list[Finding], ran: list[CheckResult]) -> Diagnosis:
    return Diagnosis(
        gateway=GATEWAY,
        incident_time=datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc),
        findings=found,
        checks=ran,
        duration_seconds=1.25,
        arm_calls=17,
    )


@given(st.lists(findings, max_size=4), st.lists(checks, max_size=6))
def test_json_is_exactly_the_diagnosis_document(found, ran):
    document = json.loads(render(diagnosis_of(found, ran), "json"))
    assert document == json.loads(json.dumps(diagnosis_of(found, ran).to_dict()))
    # (The diagnosis' own changes, and why some are unknown, are its collection's: not this report's.)
    shown = [key for key in document if key not in ("changes", "changesUnknown")]
    assert shown == ["gateway", "incidentTime", "findings", "checks", "durationSeconds", "armCalls"]
    assert document["incidentTime"] == "2026-11-23T10:27:00Z"
    assert [f["code"] for f in document["findings"]] == [f.code for f in found]
    assert [c["status"] for c in document["checks"]] == [c.status.value for c in ran]


@given(st.lists(findings, max_size=4), st.lists(checks, max_size=6))
def test_text_shows_each_finding_in_reading_order_and_every_check_that_could_not_run(found, ran):
    text = render_text(diagnosis_of(found, ran))
    lines = text.splitlines()

    assert lines[0] == "Application Gateway agw-one (resource group rg-web)"
    finding_lines = [line for line in lines if line.split("  ")[0].strip() in ("CRITICAL", "WARNING", "INFO")]
    assert len(finding_lines) == len(found)
    for line, finding in zip(finding_lines, in_reading_order(found), strict=True):
        assert line.startswith(finding.severity.value.upper())
        assert f"  {finding.code}  " in line
        assert finding.resource.rsplit("/", 1)[1] in line and line.endswith(finding.title)
    for check in ran:
        if check.status is CheckStatus.ERROR:
            assert any(f"error   {check.name}:" in line for line in lines)
    errors = [c for c in ran if c.status is CheckStatus.ERROR]
    # the verdict line, not the words anywhere (a finding's own title may say them)
    verdict = [line for line in lines if line.startswith("No cause found")]
    assert bool(verdict) == (not found)
    if not found and errors:
        assert "could not run" in verdict[0]
    if not found and not errors:
        assert "none found a problem" in text


@given(st.lists(findings, min_size=1, max_size=3), st.lists(checks, max_size=4))
def test_compact_text_leaves_out_evidence_and_keeps_one_line_per_check(found, ran):
    text = render_text(diagnosis_of(found, ran), compact=True)
    assert "evidence:" not in text
    errors = [c for c in ran if c.status is CheckStatus.ERROR]
    assert sum(1 for line in text.splitlines() if line.startswith("  error ")) == len(errors)


@given(st.lists(findings, max_size=3), st.lists(checks, max_size=6))
def test_markdown_has_a_section_per_finding_and_a_row_per_check(found, ran):
    markdown = render_markdown(diagnosis_of(found, ran))
    assert markdown.startswith("# Application Gateway diagnosis: agw-one\n")
    assert markdown.count("\n### ") == len(found)
    table = markdown.split("| check | status | reason |\n|---|---|---|\n", 1)[1]
    assert len(table.strip().splitlines()) == len(ran)


def test_evidence_lines_name_resources_and_stay_within_the_width():
    lines = evidence_lines(
        {
            "nsg": f"{RG}/networkSecurityGroups/nsg-backend",
            "blocked": [{"address": f"10.1.1.{n}", "port": 8080} for n in range(40)],
        }
    )
    assert lines[0] == "      nsg: nsg-backend"
    assert lines[1].startswith('      blocked: [{"address":"10.1.1.0","port":8080}')
    assert lines[1].endswith("…") and len(lines[1]) <= 110


def test_incident_window_is_thirty_minutes_or_the_alerts_window_if_longer():
    fired = parse_time("2026-11-23T10:27:00Z")
    assert incident_window(fired) == (fired - timedelta(minutes=30), fired)
    assert incident_window(fired, parse_duration("PT5M")) == (fired - timedelta(minutes=30), fired)
    assert incident_window(fired, parse_duration("PT1H")) == (fired - timedelta(hours=1), fired)
    assert parse_time("2026-11-23T10:27:00") == fired  # naive times are UTC
    assert parse_duration("P1DT2H") == timedelta(days=1, hours=2)


def test_a_check_that_passed_with_a_note_says_what_it_left_out():
    note = "app.contoso.com:443: not resolved; NSGs at a private address of the name were not checked"
    ran = [
        CheckResult("nsg-backend", CheckStatus.PASSED, reason=note),
        CheckResult("nsg-infra-ports", CheckStatus.PASSED),
    ]
    for compact in (False, True):
        text = render_text(diagnosis_of([], ran), compact=compact)
        assert "Read the notes of nsg-backend below" in text
        assert "passed  nsg-backend: app.contoso.com:443" in text
        assert "nsg-infra-ports" not in text


def test_the_root_cause_leads_and_causes_are_counted_apart_from_symptoms():
    symptom = Finding(
        "ALL_BACKENDS_UNHEALTHY",
        Severity.CRITICAL,
        "Every server of backend pool web-pool is unhealthy",
        f"{GATEWAY}/backendAddressPools/web-pool",
    )
    cause = Finding(
        "PROBE_DETACHED",
        Severity.WARNING,
        "Custom probe web-probe is attached to no settings",
        f"{GATEWAY}/probes/web-probe",
    )
    note = Finding("CUSTOM_DNS_UNVERIFIED", Severity.INFO, "DNS unverified", f"{GATEWAY}/x/y")
    diagnosis = diagnosis_of([symptom, cause, note], [])
    text = render_text(diagnosis)
    assert "3 findings: 1 cause of 502s, 1 symptom, 1 note (1 critical, 1 warning, 1 info):" in text
    assert text.index(cause.title) < text.index(symptom.title) < text.index(note.title)
    markdown = render_markdown(diagnosis)
    assert "**1 cause of 502s, 1 symptom, 1 note.**" in markdown
    assert markdown.index(cause.title) < markdown.index(symptom.title)
    only_symptom = render_text(diagnosis_of([symptom], []))
    assert "1 finding: no cause of 502s, 1 symptom (1 critical):" in only_symptom


# --- what changed -------------------------------------------------------------------------------------

NSG = f"{RG}/networkSecurityGroups/nsg-web"
RULE = f"{NSG}/securityRules/DenyAllInbound"
AT = datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)
UNDO = "az network nsg rule delete -g rg-web --nsg-name nsg-web -n DenyAllInbound"
ADDED = "Rule DenyAllInbound added to NSG nsg-web"
HOSTILE = "[x](https://evil.example)\x1b[2J\r\n<b>*boss*</b> `tick` www.evil.example"


def logged(minutes: int, caller: str | None = "alice@contoso.com", **fields) -> PathChange:
    values = {
        "time": AT - timedelta(minutes=minutes),
        "resource": RULE,
        "operation": "Microsoft.Network/networkSecurityGroups/securityRules/write",
        "caller": caller,
        "status": "Succeeded",
        "source": ACTIVITY_LOG,
        "summary": ADDED,
        "undo": UNDO,
        "client": "Azure CLI",
    } | fields
    return PathChange(**values)


def blocked(*changes: PathChange) -> Finding:
    return Finding(
        "NSG_BLOCKS_INFRA_PORTS",
        Severity.CRITICAL,
        "NSG nsg-web blocks infrastructure ports",
        RULE,
        {"requiredPorts": "65200-65535"},
        Fix("Allow GatewayManager.", command="az network nsg rule create ..."),
        changes=changes,
    )


def test_text_leads_with_what_changed_and_its_undo_then_lists_each_findings_changes():
    diff = logged(0, None, source=LAST_HEALTHY_DIFF, time=None, since=AT - timedelta(hours=1, minutes=17),
                  summary="NSG nsg-web: 1 rule added", undo=None, client=None)  # fmt: skip
    own = logged(60 * 30, None, source=APPGW_DOCTOR, client=None, summary="Rule allow-gm deleted")
    older = [logged(60 * 24 * d, summary=f"old {d}") for d in (3, 4)]
    diagnosis = diagnosis_of([blocked(logged(6), diff, own, *older)], [])
    lines = render_text(diagnosis).splitlines()
    wrapped = " ".join(line.strip() for line in lines[3:5])
    assert wrapped == (
        f"What changed: {ADDED}, 6 min before the incident time by alice@contoso.com (Azure CLI): NSG "
        "nsg-web blocks infrastructure ports"
    )
    assert lines[2] == "" and lines[5] == f"  To undo (for a person): {UNDO}"
    text = "\n".join(lines)
    assert text.index("What changed") < text.index("1 finding: 1 cause of 502s")
    assert "    changes (newest first):" in text
    flat = " ".join(text.split())  # wrapped at the report's width
    assert f"- {ADDED} — 6 min before the incident time (10:21 UTC), by alice@contoso.com (Azure CLI)" in flat
    assert "since the last healthy check at 09:10 UTC, by an unknown caller" in flat
    assert "30 h before the incident time (2026-11-22 04:27 UTC), by appgw-doctor (the bot's own" in flat
    assert "      and 2 more changes (the JSON report lists them)" in text
    assert "old 3" not in text


def test_markdown_leads_with_what_changed_and_escapes_what_the_activity_log_claims():
    diagnosis = diagnosis_of([blocked(logged(125, HOSTILE, client="<i>Portal</i>"))], [])
    markdown = render_markdown(diagnosis)
    assert markdown.index("**What changed:**") < markdown.index("## Findings")
    assert "2 h 5 min before the incident time by" in markdown
    assert "To undo (for a person):\n\n```sh\naz network nsg rule delete" in markdown
    rendered = MarkdownIt("commonmark").render(markdown)
    assert "<a " not in rendered and "<b>" not in rendered and "<i>" not in rendered
    assert "<em>" not in rendered and "<strong>boss" not in rendered
    assert "https://evil" not in rendered and "www.evil" not in rendered
    assert "&lt;b&gt;*boss*&lt;/b&gt;" in rendered  # shown as typed
    assert "\x1b" not in markdown and "\r" not in markdown


def test_a_hostile_caller_cannot_forge_lines_or_terminal_escapes_in_text():
    diagnosis = diagnosis_of([blocked(logged(6, HOSTILE + "x" * 500))], [])
    text = render_text(diagnosis)
    assert "\x1b" not in text and "\r" not in text
    assert not any(line.startswith("<b>") for line in text.splitlines())
    assert "[x](https://evil.example) [2J <b>*boss*</b> `tick`" in text
    assert "x" * 200 not in text  # the caller is cut


def test_an_undo_with_backticks_stays_inside_its_fence():
    diagnosis = diagnosis_of([blocked(logged(6, undo="echo ```\n# not a heading"))], [])
    rendered = MarkdownIt("commonmark").render(render_markdown(diagnosis))
    assert "<h1>not a heading" not in rendered and "echo ``` # not a heading\n</code></pre>" in rendered


def test_without_a_change_on_the_top_cause_nothing_leads():
    timeout = Finding(
        "REQUEST_TIMEOUT_TOO_LOW", Severity.WARNING, "Timeout close", f"{GATEWAY}/x/s", changes=(logged(3),)
    )
    diagnosis = diagnosis_of([blocked(), timeout], [])
    assert "What changed" not in render_text(diagnosis) and "What changed" not in render_markdown(diagnosis)
    assert "changes (newest first)" in render_text(diagnosis)  # the warning still lists its own
