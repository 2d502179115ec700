"""The message model: resource ids read as names, findings sorted worst first, honest wording."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.findings import SYMPTOM_CODES, CheckResult, CheckStatus, Finding, Fix, Severity
from model.remediation import ACTION_STATUSES, ActionResult, Change
from notifications.content import (
    STATUS_WORDS,
    AlertFacts,
    ChangeFacts,
    MessageError,
    ResourceRef,
    action_command,
    action_target,
    action_title,
    build_message,
    build_resolution_message,
    change_text,
    message_level,
    remediation_heading,
)
from notifications.evidence import evidence_facts

# The codes of docs/FINDINGS.md with a fact recipe, and the keys their checks' evidence uses.
_KNOWN_CODES = [
    "ALL_BACKENDS_UNHEALTHY", "BACKEND_HEALTH_UNKNOWN", "NSG_BLOCKS_INFRA_PORTS", "NSG_BLOCKS_BACKEND",
    "UDR_DEFAULT_ROUTE_NOT_INTERNET", "UDR_DIVERTS_BACKEND_TRAFFIC", "BGP_DEFAULT_ROUTE",
    "CUSTOM_DNS_CANNOT_RESOLVE", "DEFAULT_PROBE_FAILING", "PROBE_DETACHED", "PROBE_REFERENCE_BROKEN",
    "PROBE_STATUS_MISMATCH", "PROBE_TIMEOUT", "BACKEND_CONNECT_FAILED", "REQUEST_TIMEOUT_TOO_LOW",
    "TLS_HOSTNAME_MISMATCH", "GATEWAY_NOT_RUNNING", "BACKEND_POOL_EMPTY", "PROBE_LOG_UNRECOGNISED",
]  # fmt: skip
_EVIDENCE_KEYS = [
    "servers", "pairs", "pool", "settings", "nsg", "decidingRule", "decidingRules", "blocked", "direction",
    "source", "destination", "requiredPorts", "blockedPorts", "route", "addressPrefix", "nextHopType",
    "nextHopIpAddress", "backends", "members", "expected", "received", "receivedCodes", "observedMs",
    "requestTimeoutSeconds", "ratio", "threshold", "metric", "port", "probeTimeoutSeconds", "hosts",
    "operationalState", "provisioningState", "backendAddresses", "backendIPConfigurations", "host", "path",
]  # fmt: skip

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
GATEWAY_ID = f"{RG}/applicationGateways/agw-contoso"


def test_gateway_id_becomes_name_group_subscription_and_portal_link() -> None:
    ref = ResourceRef.parse(GATEWAY_ID)
    assert (ref.name, ref.resource_group, ref.subscription) == ("agw-contoso", "rg-contoso-web", SUB)
    assert ref.kind == "application gateway"
    assert ref.portal_url == f"https://portal.azure.com/#@/resource{GATEWAY_ID}/overview"
    assert ref.label == "agw-contoso (application gateway)"


def test_lowercase_alert_target_ids_parse_like_arm_ids() -> None:
    lowered = GATEWAY_ID.replace("resourceGroups", "resourcegroups").replace(
        "Microsoft.Network", "microsoft.network"
    )
    assert ResourceRef.parse(lowered).name == "agw-contoso"


def test_child_resource_reads_as_name_kind_and_parent_and_links_to_parent_blade() -> None:
    ref = ResourceRef.parse(f"{GATEWAY_ID}/backendHttpSettingsCollection/web-settings")
    assert ref.label == "web-settings (backend settings in agw-contoso)"
    assert ref.portal_url.endswith("/applicationGateways/agw-contoso/overview")
    nested = ResourceRef.parse(
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/agw"
    )
    assert nested.label == "agw (subnet in vnet)"


@pytest.mark.parametrize(
    "bad",
    ["", "agw-contoso", "/subscriptions/x/resourceGroups/rg", f"{GATEWAY_ID}/probes", "/foo/a/bar/b/c/d/e/f"],
)
def test_malformed_gateway_id_is_a_one_line_error(bad: str) -> None:
    with pytest.raises(MessageError, match="not an ARM resource id"):
        build_message(bad, incident_id="i", findings=[])


def test_findings_sorted_worst_first_and_headline_names_the_worst(findings, checks, alert_data) -> None:
    message = build_message(
        GATEWAY_ID, incident_id="inc-1", findings=findings, checks=checks, alert=alert_data
    )
    assert [f.severity for f in message.findings] == [
        Severity.CRITICAL,
        Severity.CRITICAL,
        Severity.WARNING,
        Severity.INFO,
    ]
    assert message.level is Severity.CRITICAL
    # Two causes; Unknown health is their symptom and the info one is context: neither is counted.
    assert [f.role.value for f in message.findings] == ["cause", "cause", "symptom", "note"]
    assert message.subject.startswith(
        "[CRITICAL] agw-contoso: 2 causes of 502s — "
        "NSG blocks infrastructure ports 65200-65535 from GatewayManager"
    )
    assert "could not run" not in message.headline  # the causes lead; the summary counts the rest
    assert (
        message.summary == "Alert appgw-5xx fired; the doctor ran 3 checks, 1 could not run, 1 did not apply."
    )


def test_finding_line_carries_resource_label_evidence_and_fix(findings) -> None:
    message = build_message(GATEWAY_ID, incident_id="inc-1", findings=findings)
    nsg = next(f for f in message.findings if f.code == "NSG_BLOCKS_INFRA_PORTS")
    assert nsg.resource_label == "deny-all-inbound (NSG rule in nsg-agw)"
    assert nsg.evidence == (
        ("NSG", "nsg-agw"),
        ("Rule", "deny-all-inbound (priority 100)"),
        ("Traffic", "Inbound Tcp from GatewayManager to 10.1.0.0/24"),
        ("Ports", "65200-65535 blocked (needs 65200-65535)"),
    )
    assert nsg.fix_command and nsg.fix_command.startswith("az network nsg rule create")
    assert nsg.fix_action == "add-nsg-allow-rule"


def test_alert_essentials_from_common_alert_schema(alert_data) -> None:
    facts = AlertFacts.from_common_schema(alert_data)
    assert (facts.rule, facts.severity, facts.condition) == ("appgw-5xx", "Sev1", "Fired")
    assert facts.fired_at == "2026-11-23T10:27:00Z"
    assert (facts.metric, facts.metric_value) == ("ResponseStatus", "57 (alert when > 10)")


def test_alert_without_metric_criteria_reads_without_metric() -> None:
    facts = AlertFacts.from_common_schema({"essentials": {"alertRule": "agw-activity", "severity": "Sev3"}})
    assert (facts.rule, facts.metric, facts.metric_value) == ("agw-activity", None, None)


def test_no_cause_found_says_which_checks_ran_and_which_could_not(alert_data) -> None:
    checks = [
        CheckResult("nsg", CheckStatus.PASSED),
        CheckResult("routes", CheckStatus.PASSED),
        CheckResult("backend-health", CheckStatus.ERROR, "throttled past retries"),
    ]
    message = build_message(GATEWAY_ID, incident_id="inc-2", findings=[], checks=checks, alert=alert_data)
    assert message.headline == "no cause of 502s found (1 check could not run)"
    assert [c.name for c in message.checks_run] == ["nsg", "routes"]
    assert [(c.name, c.reason) for c in message.checks_not_run] == [
        ("backend-health", "throttled past retries")
    ]
    # An alert nobody can explain still needs a person.
    assert message.level is Severity.WARNING


def test_summary_does_not_count_checks_it_was_not_given(findings) -> None:
    assert build_message(GATEWAY_ID, incident_id="i", findings=findings).summary == "A scheduled check ran."


def test_sweep_with_only_info_and_every_check_passing_is_info() -> None:
    note = Finding("CUSTOM_DNS_UNVERIFIED", Severity.INFO, "DNS unverified", GATEWAY_ID)
    message = build_message(
        GATEWAY_ID, incident_id="s", findings=[note], checks=[CheckResult("dns", "passed")]
    )
    assert message.level is Severity.INFO
    assert message.headline == "scheduled check: no cause of 502s found; 1 note"
    assert message.summary == "A scheduled check ran; the doctor ran 1 check."


def test_finding_with_an_unparseable_resource_keeps_the_raw_id() -> None:
    odd = Finding(
        "GATEWAY_NOT_RUNNING", Severity.CRITICAL, "Gateway stopped", "not-an-id", fix=Fix("Start it")
    )
    line = build_message(GATEWAY_ID, incident_id="i", findings=[odd]).findings[0]
    assert line.resource is None and line.resource_label == "not-an-id"


def test_actions_are_model_action_results_and_accept_only_known_statuses(actions) -> None:
    message = build_message(GATEWAY_ID, incident_id="i", findings=[], actions=actions.values())
    assert message.actions == tuple(actions.values())
    assert all(isinstance(action, ActionResult) for action in message.actions)
    with pytest.raises(ValueError, match="unknown action status 'done'"):
        ActionResult("add-nsg-allow-rule", "NSG_BLOCKS_INFRA_PORTS", "nsg-agw", "done")


NOTE_FINDING = Finding(
    "CUSTOM_DNS_UNVERIFIED", Severity.INFO, "Custom DNS servers could not be checked", GATEWAY_ID
)
TIMEOUT_FINDING = Finding(
    "REQUEST_TIMEOUT_TOO_LOW",
    Severity.CRITICAL,
    "Backend responses take 19.2 s against a 20 s request timeout on web_settings",
    f"{GATEWAY_ID}/backendHttpSettingsCollection/web_settings",
)


@pytest.mark.parametrize("status", ["rolled-back", "failed"])
def test_a_rolled_back_or_failed_fix_makes_a_quiet_message_critical(actions, status) -> None:
    """A sweep that found only a note would be info; a fix that did not hold is never quiet."""
    quiet = build_message(GATEWAY_ID, diagnosis_id="d", findings=[NOTE_FINDING])
    loud = build_message(GATEWAY_ID, diagnosis_id="d", findings=[NOTE_FINDING], actions=[actions[status]])
    assert quiet.level is Severity.INFO
    assert loud.level is Severity.CRITICAL and loud.subject.startswith("[CRITICAL] agw-contoso: Fix ")
    assert message_level([NOTE_FINDING], [], alerted=False, actions=[actions[status]]) is Severity.CRITICAL


def test_a_rollback_opens_the_headline_and_the_summary_says_why(actions) -> None:
    message = build_message(
        GATEWAY_ID, incident_id="i", findings=[NOTE_FINDING], actions=[actions["rolled-back"]]
    )
    assert message.headline == (
        "Fix rolled back on agw-contoso: add rule allow-gateway-manager (priority 90: allow TCP "
        "65200-65535 from GatewayManager) to NSG nsg-agw; scheduled check: no cause of 502s found; 1 note"
    )
    assert message.summary == (
        "A scheduled check ran. The fix add-nsg-allow-rule for NSG_BLOCKS_INFRA_PORTS was rolled back: "
        "NSG_BLOCKS_INFRA_PORTS was still found after the change."
    )


def test_a_failure_is_named_before_a_rollback_and_the_others_are_counted(actions) -> None:
    message = build_message(
        GATEWAY_ID,
        incident_id="i",
        findings=[TIMEOUT_FINDING],
        actions=[actions["verified"], actions["rolled-back"], actions["failed"]],
    )
    assert message.level is Severity.CRITICAL
    assert message.headline.startswith(
        "Fix failed on agw-contoso: requestTimeout 20 s -> 60 s on settings web_settings "
        "(and 1 more fix rolled back or failed); scheduled check: 1 cause of 502s — Backend responses"
    )
    assert "fixed:" not in message.headline  # a verified fix is not the news when another failed
    assert message.summary.endswith(
        "The fix raise-request-timeout for REQUEST_TIMEOUT_TOO_LOW failed: ARM refused the rollback "
        "(409 Conflict): requestTimeout is still 60 s."
    )


def test_a_verified_fix_shows_in_the_headline_and_the_summary(actions, alert_data) -> None:
    message = build_message(
        GATEWAY_ID,
        incident_id="i",
        findings=[TIMEOUT_FINDING],
        alert=alert_data,
        actions=[actions["verified"], actions["skipped"]],
    )
    assert message.level is Severity.CRITICAL  # the finding's severity; the fix does not lower it
    assert message.headline == (
        "1 cause of 502s — Backend responses take 19.2 s against a 20 s request timeout on web_settings; "
        "fixed: requestTimeout 20 s -> 60 s on settings web_settings"
    )
    assert message.summary.endswith(
        "The fix raise-request-timeout for REQUEST_TIMEOUT_TOO_LOW is verified: REQUEST_TIMEOUT_TOO_LOW is "
        "gone and no new critical finding appeared."
    )


@pytest.mark.parametrize("status", ["planned", "applied", "refused", "skipped"])
def test_other_statuses_leave_the_level_and_the_wording_alone(actions, status) -> None:
    plain = build_message(GATEWAY_ID, diagnosis_id="d", findings=[NOTE_FINDING])
    message = build_message(GATEWAY_ID, diagnosis_id="d", findings=[NOTE_FINDING], actions=[actions[status]])
    assert (message.level, message.headline, message.summary) == (plain.level, plain.headline, plain.summary)


def test_each_status_has_words_and_the_command_a_person_needs(actions) -> None:
    assert set(STATUS_WORDS) == set(ACTION_STATUSES)
    assert STATUS_WORDS["verified"] == "Fixed and verified"
    assert STATUS_WORDS["planned"] == "Would do (dry-run)"
    commands = {status: action_command(action) for status, action in actions.items()}
    assert commands["verified"] == ("To undo", actions["verified"].undo)
    assert commands["applied"] == ("To undo", actions["applied"].undo)
    assert commands["rolled-back"] == ("Undone with", actions["rolled-back"].undo)
    assert commands["planned"] == ("To apply", actions["planned"].command)
    assert commands["refused"] == ("To apply by hand", actions["refused"].command)
    assert commands["failed"] == ("To undo", actions["failed"].undo)  # what may be left to revert
    assert commands["skipped"] is None
    tried = ActionResult("a", "F", "", "failed", "ARM said 400", command="az x")
    assert action_command(tried) == ("Tried", "az x")
    assert action_title(actions["verified"]) == "raise-request-timeout for REQUEST_TIMEOUT_TOO_LOW"
    assert action_target(actions["verified"]) == "web_settings (backend settings in agw-contoso)"
    assert action_target(ActionResult("a", "F", "not-an-id", "skipped", "r")) == "not-an-id"


def test_a_change_reads_as_its_summary_else_as_its_properties_before_and_after() -> None:
    def with_change(change: Change | None) -> ActionResult:
        return ActionResult("raise-request-timeout", "F", "", "planned", "dry-run", change=change)

    assert change_text(with_change(Change("r", {"a": 1}, {"a": 2}, "a 1 -> 2"))) == "a 1 -> 2"
    compact = change_text(with_change(Change("r", {"requestTimeout": 20}, {"requestTimeout": 60.0}, "")))
    assert compact == "{requestTimeout: 20} -> {requestTimeout: 60}"
    assert change_text(with_change(Change("r", None, {"priority": 90}, ""))) == "(none) -> {priority: 90}"
    assert change_text(with_change(Change("r", None, None, ""))) is None
    assert change_text(with_change(None)) is None


def test_the_remediation_section_carries_the_mode_and_its_note(actions) -> None:
    note = (
        "tag appgw-doctor-remediation value 'yes' is not understood (off | dry-run | auto): "
        "remediation is off"
    )
    message = build_message(
        GATEWAY_ID, incident_id="i", findings=[], remediation_mode="off", remediation_note=note
    )
    assert message.shows_remediation and message.remediation_note == note
    assert remediation_heading(message) == "Remediation: off"
    dry = build_message(
        GATEWAY_ID, incident_id="i", findings=[], actions=[actions["planned"]], remediation_mode="dry-run"
    )
    assert remediation_heading(dry) == "Remediation: dry-run (nothing was changed)"
    quiet = build_message(GATEWAY_ID, incident_id="i", findings=[], remediation_mode="auto")
    assert not quiet.shows_remediation  # a mode alone, nothing done and nothing to note


def test_resolution_message_is_short_and_follows_the_incident_level(alert_data) -> None:
    message = build_resolution_message(
        GATEWAY_ID,
        incident_id="inc-1",
        alert=alert_data,
        resolved_at="2026-11-23T10:52:00Z",
        incident_level=Severity.WARNING,
    )
    assert message.kind == "resolved"
    assert message.subject == "[RESOLVED] agw-contoso: Alert appgw-5xx resolved"
    assert message.summary == "Alert appgw-5xx on agw-contoso resolved at 2026-11-23T10:52:00Z."
    assert message.level is Severity.WARNING
    assert message.findings == () and ("Resolved", "2026-11-23T10:52:00Z") in message.facts()


def test_links_are_portal_then_record() -> None:
    with_record = build_message(GATEWAY_ID, incident_id="i", findings=[], record_url="https://x/inc/i")
    assert [title for title, _ in with_record.links()] == ["Open in portal", "Incident record"]
    assert [title for title, _ in build_message(GATEWAY_ID, incident_id="i", findings=[]).links()] == [
        "Open in portal"
    ]


severities = st.sampled_from(list(Severity))
finding_strategy = st.builds(
    Finding,
    code=st.sampled_from(["A_CODE", "B_CODE", "C_CODE"]),
    severity=severities,
    title=st.text(min_size=1, max_size=20),
    resource=st.just(f"{GATEWAY_ID}/probes/p"),
)

symptom_strategy = st.builds(
    Finding,
    code=st.sampled_from(sorted(SYMPTOM_CODES)),
    severity=st.sampled_from([Severity.CRITICAL, Severity.WARNING]),
    title=st.text(min_size=1, max_size=20),
    resource=st.just(f"{GATEWAY_ID}/backendAddressPools/p"),
)


@given(st.lists(finding_strategy, max_size=12))
def test_any_findings_sort_worst_first_and_set_the_level(found: list[Finding]) -> None:
    message = build_message(GATEWAY_ID, incident_id="i", findings=found)
    ranks = [f.severity.rank for f in message.findings]
    assert ranks == sorted(ranks)
    assert len(message.findings) == len(found)
    if found:
        assert message.level.rank == min(f.severity.rank for f in found)
    causes = [f for f in found if f.severity is not Severity.INFO]
    assert len(message.causes) == len(causes)


def test_an_alert_that_fired_is_at_least_a_warning_whatever_was_found(alert_data) -> None:
    note = Finding(
        "CUSTOM_DNS_UNVERIFIED", Severity.INFO, "Custom DNS servers could not be checked", GATEWAY_ID
    )
    with_note = build_message(GATEWAY_ID, incident_id="i", findings=[note], alert=alert_data)
    without = build_message(GATEWAY_ID, incident_id="i", findings=[], alert=alert_data)
    assert with_note.level is without.level is Severity.WARNING
    assert with_note.subject.startswith("[WARNING] agw-contoso: no cause of 502s found; 1 note")


@given(st.lists(finding_strategy, max_size=6), st.lists(st.sampled_from(list(CheckStatus)), max_size=4))
def test_message_level_floor(found: list[Finding], statuses: list[CheckStatus]) -> None:
    checks = [CheckResult(f"c{i}", status) for i, status in enumerate(statuses)]
    alerted = build_message(GATEWAY_ID, incident_id="i", findings=found, checks=checks, alert={})
    sweep = build_message(GATEWAY_ID, incident_id="i", findings=found, checks=checks)
    worst = min((f.severity.rank for f in found), default=Severity.INFO.rank)
    assert alerted.level.rank == min(worst, Severity.WARNING.rank)
    partial = CheckStatus.ERROR in statuses
    assert sweep.level.rank == (min(worst, Severity.WARNING.rank) if partial else worst)


def test_checks_that_did_not_apply_are_not_checks_that_could_not_run() -> None:
    checks = [
        CheckResult("nsg-infra-ports", CheckStatus.PASSED),
        CheckResult("udr-default-route", CheckStatus.SKIPPED, "the gateway subnet has no route table"),
        CheckResult("tls-hostname", CheckStatus.SKIPPED, "no backend settings use HTTPS"),
    ]
    message = build_message(GATEWAY_ID, incident_id="i", findings=[], checks=checks)
    assert message.checks_not_run == ()
    assert [c.name for c in message.checks_not_applicable] == ["udr-default-route", "tls-hostname"]
    assert message.headline == "scheduled check: no cause of 502s found"
    assert message.summary == "A scheduled check ran; the doctor ran 1 check, 2 did not apply."
    assert message.level is Severity.INFO  # nothing found, nothing missed


def test_a_failed_diagnosis_leads_with_why(alert_data) -> None:
    message = build_message(
        GATEWAY_ID,
        incident_id="i",
        findings=[],
        alert=alert_data,
        diagnosis_error="GatewayUnavailable: 403 AuthorizationFailed\ndetails on the next line",
    )
    assert message.headline == "could not be diagnosed — GatewayUnavailable: 403 AuthorizationFailed"
    assert (
        message.summary
        == "Alert appgw-5xx fired; the doctor could not diagnose the gateway (the reason is below)."
    )
    swept = build_message(GATEWAY_ID, findings=[], diagnosis_error="boom")
    assert (
        swept.level is Severity.WARNING and swept.headline == "scheduled check: could not be diagnosed — boom"
    )


@pytest.mark.parametrize(
    ("resource", "operation", "sentence"),
    [
        (
            f"{RG}/networkSecurityGroups/nsg-agw",
            "Microsoft.Network/networkSecurityGroups/securityRules/delete",
            "NSG nsg-agw was changed at 2026-11-25T03:00:00+00:00",
        ),
        (
            f"{RG}/routeTables/rt-agw",
            "Microsoft.Network/routeTables/delete",
            "route table rt-agw was deleted at 2026-11-25T03:00:00+00:00",
        ),
        (
            f"{RG}/virtualNetworks/vnet/subnets/agw-subnet",
            "Microsoft.Network/virtualNetworks/subnets/write",
            "subnet agw-subnet in vnet was changed at 2026-11-25T03:00:00+00:00",
        ),
    ],
)
def test_a_change_is_worded_as_what_changed(resource: str, operation: str, sentence: str) -> None:
    change = ChangeFacts(resource, operation, "2026-11-25T03:00:00+00:00")
    note = Finding("NSG_BLOCKS_INFRA_PORTS", Severity.CRITICAL, "NSG blocks GatewayManager", GATEWAY_ID)
    message = build_message(GATEWAY_ID, diagnosis_id="d-1", findings=[note], change=change, new_only=True)
    assert change.sentence == sentence
    assert message.summary == sentence[0].upper() + sentence[1:] + "."
    assert (
        message.headline
        == f"{change.what} was {change.verb}: 1 new cause of 502s — NSG blocks GatewayManager"
    )
    facts = message.facts()
    assert ("Diagnosis", "d-1") in facts and ("Changed at", "2026-11-25T03:00:00+00:00") in facts
    assert ("Changed", f"{change.what} ({operation})") in facts


def test_a_message_without_an_incident_or_a_diagnosis_id_gets_a_fresh_id() -> None:
    first = build_message(GATEWAY_ID, findings=[])
    second = build_message(GATEWAY_ID, findings=[])
    assert first.message_id and first.message_id != second.message_id and first.incident_id is None


# --- the root cause leads -------------------------------------------------------------------------

CONNECT_LOG = (
    "Application Gateway could not connect to the backend. Check that the backend responds on the port "
    "used for the probe."
)


def test_the_headline_and_the_first_finding_are_the_root_cause_not_the_symptom(alert_data, kit) -> None:
    unhealthy_pool, nsg_blocks_backend = kit.unhealthy_pool, kit.nsg_blocks_backend
    message = build_message(
        GATEWAY_ID, incident_id="i", findings=[unhealthy_pool(), nsg_blocks_backend()], alert=alert_data
    )
    assert [f.code for f in message.findings] == ["NSG_BLOCKS_BACKEND", "ALL_BACKENDS_UNHEALTHY"]
    assert [f.role.value for f in message.findings] == ["cause", "symptom"]
    assert message.headline == f"1 cause of 502s — {nsg_blocks_backend().title}"
    assert message.subject.startswith("[CRITICAL] agw-contoso: 1 cause of 502s — NSG nsg-backend rule")
    assert [f.code for f in message.causes] == ["NSG_BLOCKS_BACKEND"]
    assert [f.code for f in message.symptoms] == ["ALL_BACKENDS_UNHEALTHY"]
    assert message.findings_tally == "1 cause, 1 symptom"


def test_the_configuration_at_fault_leads_what_the_probe_saw(kit) -> None:
    """The probe log's "could not connect" is a cause too, but the NSG rule explains it: it leads."""
    message = build_message(
        GATEWAY_ID,
        incident_id="i",
        findings=[kit.connect_failed(), kit.unhealthy_pool(), kit.nsg_blocks_backend()],
    )
    assert [f.code for f in message.findings] == [
        "NSG_BLOCKS_BACKEND",
        "BACKEND_CONNECT_FAILED",
        "ALL_BACKENDS_UNHEALTHY",
    ]
    assert message.headline.startswith(
        "scheduled check: 2 causes of 502s — NSG nsg-backend rule DenyAppGateway"
    )


def test_only_symptoms_say_so_honestly(alert_data, kit) -> None:
    unhealthy_pool = kit.unhealthy_pool
    message = build_message(GATEWAY_ID, incident_id="i", findings=[unhealthy_pool()], alert=alert_data)
    assert message.headline == (
        "Every server of backend pool web-pool is unhealthy (2 for settings web-settings); "
        "no cause found — see the probe log"
    )
    assert message.causes == () and message.level is Severity.CRITICAL  # still loud: nothing is served
    two = build_message(
        GATEWAY_ID,
        incident_id="i",
        findings=[unhealthy_pool("api-pool"), unhealthy_pool()],
        checks=[CheckResult("nsg-backend", CheckStatus.ERROR, "throttled")],
    )
    assert two.headline == (
        "scheduled check: Every server of backend pool api-pool is unhealthy (2 for settings web-settings) "
        "(and 1 more symptom); no cause found — see the probe log (1 check could not run)"
    )
    assert "cause of 502s —" not in two.headline and two.findings_tally == "2 symptoms"


@given(st.lists(finding_strategy | symptom_strategy, max_size=10))
def test_causes_are_counted_apart_from_symptoms_and_lead(found: list[Finding]) -> None:
    message = build_message(GATEWAY_ID, incident_id="i", findings=found)
    causes = [f for f in found if f.severity is not Severity.INFO and f.code not in SYMPTOM_CODES]
    assert len(message.causes) == len(causes)
    ranks = [{"cause": 0, "symptom": 1, "note": 2}[f.role.value] for f in message.findings]
    assert ranks == sorted(ranks)
    if causes:
        noun = "cause" if len(causes) == 1 else "causes"
        assert message.headline.startswith(f"scheduled check: {len(causes)} {noun} of 502s — ")
        assert message.headline.endswith(message.findings[0].title)
    else:
        assert "no cause" in message.headline


# --- evidence as facts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "evidence", "facts"),
    [
        (
            "NSG_BLOCKS_BACKEND",
            "nsg_blocks_backend",
            [
                ("NSG", "nsg-backend"),
                ("Rule", "DenyAppGateway (priority 100)"),
                ("Blocked", "10.1.1.4:8080, 10.1.1.5:8080"),
                ("Traffic", "Inbound from 10.1.0.0/24"),
            ],
        ),
        (
            "ALL_BACKENDS_UNHEALTHY",
            "unhealthy_pool",
            [
                ("Pool", "web-pool"),
                ("Settings", "web-settings"),
                ("Servers", "10.1.1.4, 10.1.1.5 (unhealthy)"),
                ("Probe log", CONNECT_LOG),
            ],
        ),
        (
            "BACKEND_CONNECT_FAILED",
            "connect_failed",
            [
                ("Servers", "10.1.1.4, 10.1.1.5 (unhealthy)"),
                ("Port", "8080"),
                ("Probe log", CONNECT_LOG),
                ("Settings", "web-settings"),
            ],
        ),
        (
            "PROBE_STATUS_MISMATCH",
            {
                "servers": [
                    {
                        "pool": "web-pool",
                        "settings": "web-settings",
                        "address": "10.1.1.4",
                        "health": "unhealthy",
                        "healthProbeLog": "Status code mismatch. Expected:200-399 Received:404",
                    },
                ],
                "expected": ["200-399"],
                "received": "404",
                "receivedCodes": ["404"],
            },
            [
                ("Servers", "10.1.1.4 (unhealthy)"),
                ("Status", "received 404, expected 200-399"),
                ("Probe log", "Status code mismatch. Expected:200-399 Received:404"),
                ("Settings", "web-settings"),
            ],
        ),
        (
            "REQUEST_TIMEOUT_TOO_LOW",
            {
                "settings": "web-settings",
                "metric": "BackendLastByteResponseTime",
                "aggregation": "maximum",
                "observedMs": 25100.0,
                "requestTimeoutSeconds": 20,
                "ratio": 1.255,
                "threshold": 0.8,
                "pools": [],
            },
            [
                ("Settings", "web-settings"),
                ("Observed vs limit", "25.1 s against the 20 s request time-out (125%)"),
                ("Metric", "BackendLastByteResponseTime (maximum); flagged from 80% of the time-out"),
            ],
        ),
        (
            "UDR_DIVERTS_BACKEND_TRAFFIC",
            {
                "routeTable": f"{RG}/routeTables/rt-agw",
                "route": "drop-backend",
                "addressPrefix": "10.1.1.0/24",
                "nextHopType": "None",
                "nextHopIpAddress": None,
                "source": "User",
                "backends": [
                    {"address": "10.1.1.4", "pool": "web-pool"},
                    {"address": "10.1.1.5", "pool": "web-pool"},
                ],
                "backendsHealthy": False,
            },
            [
                ("Route table", "rt-agw"),
                ("Route", "drop-backend (10.1.1.0/24)"),
                ("Next hop", "None"),
                ("Backends", "10.1.1.4, 10.1.1.5"),
            ],
        ),
        (
            "GATEWAY_NOT_RUNNING",
            {"operationalState": "Stopped", "provisioningState": "Succeeded"},
            [("State", "Stopped (provisioning Succeeded)")],
        ),
        (
            "A_CODE_NOBODY_KNOWS",  # any other code: the first items, readable
            {
                "dnsServers": ["10.0.0.4"],
                "nested": {"a": 1, "b": [1, 2]},
                "rows": [{"address": "1.2.3.4", "port": 80}],
                "ok": True,
            },
            [
                ("DNS servers", "10.0.0.4"),
                ("Nested", "a 1, b 1, 2"),
                ("Rows", "address 1.2.3.4, port 80"),
                ("Ok", "yes"),
            ],
        ),
    ],
)
def test_evidence_is_a_few_readable_facts(code: str, evidence: dict | str, facts: list, kit) -> None:
    if isinstance(evidence, str):  # a finding as its check words it (conftest)
        evidence = getattr(kit, evidence)().evidence
    line = build_message(
        GATEWAY_ID, incident_id="i", findings=[Finding(code, Severity.CRITICAL, "t", GATEWAY_ID, evidence)]
    ).findings[0]
    assert list(line.evidence) == facts


def test_evidence_in_another_shape_still_reads_and_many_items_are_counted() -> None:
    # A known code with evidence the recipe does not know: its items, readable.
    assert evidence_facts("NSG_BLOCKS_INFRA_PORTS", {"priority": 100}) == (("Priority", "100"),)
    many = evidence_facts("X", {f"k{n}": "v" for n in range(9)})
    assert many == (("K0", "v"), ("K1", "v"), ("K2", "v"), ("…", "6 more evidence items not shown"))
    assert evidence_facts("X", {}) == () and evidence_facts("X", {"empty": "", "none": None}) == ()


json_text = st.text(alphabet="abc -_.:/0123456789", max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=12,
)


@given(
    st.sampled_from([*_KNOWN_CODES, "NOT_A_CODE"]),
    st.dictionaries(st.sampled_from(_EVIDENCE_KEYS) | json_text, json_values, max_size=8),
)
def test_any_evidence_becomes_at_most_four_facts_without_json(code: str, evidence: dict) -> None:
    facts = evidence_facts(code, evidence)
    assert len(facts) <= 4
    for label, value in facts:
        assert not set("{}[]\"'") & set(label + value), (label, value)
        assert len(value) <= 400
