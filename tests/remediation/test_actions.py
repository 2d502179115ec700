"""Each action heals its scenario through the simulator's own health derivation; modes and guards
that must not write leave the estate identical (etags included); a fix that does not heal is rolled
back to the exact previous state; the concurrent writer is never clobbered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.arm import Arm
from model.remediation import Intent
from remediation.actions import ACTIONS
from remediation.actions.base import Context
from remediation.engine import Limits, Remediator
from simulator.faults import FaultRule
from tests.remediation.conftest import (
    AUTO,
    GATEWAY,
    scenario_world,
    with_rule_priority,
)

SETTINGS = GATEWAY + "/backendHttpSettingsCollection/web-settings"


def _settings(estate, name="web-settings"):
    gateway = estate.resources()[GATEWAY.lower()]
    return next(s for s in gateway["properties"]["backendHttpSettingsCollection"] if s["name"] == name)


def _codes(findings):
    return {f.code for f in findings}


def test_raise_request_timeout_heals_and_is_verified(estate, ledger):
    world = estate("request-timeout")
    assert "REQUEST_TIMEOUT_TOO_LOW" in _codes(world.findings())
    result = world.remediate(ledger)
    (action,) = [a for a in result.actions if a.action == "raise-request-timeout"]
    assert action.status == "verified", action
    assert action.change.before == {"requestTimeout": 20} and action.change.after["requestTimeout"] > 20
    assert "--timeout 20" in action.undo
    assert _settings(world)["properties"]["requestTimeout"] == action.change.after["requestTimeout"]
    assert "REQUEST_TIMEOUT_TOO_LOW" not in _codes(world.findings())
    steps = [(e.step, e.outcome) for e in ledger.audit_entries(GATEWAY)]
    assert steps == [("apply", "applied"), ("verify", "verified")]
    assert ledger.open_intents(GATEWAY) == []


def test_reattach_probe_heals_after_a_healthy_preflight(estate, ledger):
    world = estate("default-probe")
    assert "DEFAULT_PROBE_FAILING" in _codes(world.findings())
    result = world.remediate(ledger)
    (action,) = [a for a in result.actions if a.finding == "DEFAULT_PROBE_FAILING"]
    assert action.status == "verified", action
    assert "pre-flight with probe web-probe" in action.verification
    assert _settings(world)["properties"]["probe"]["id"].endswith("/probes/web-probe")
    after = _codes(world.findings())
    assert "DEFAULT_PROBE_FAILING" not in after and "ALL_BACKENDS_UNHEALTHY" not in after


def test_add_nsg_allow_rule_heals_the_backend_block(estate, ledger):
    world = estate(with_rule_priority(scenario_world("nsg-backend-subnet"), "DenyAppGateway", 200))
    result = world.remediate(ledger)
    (action,) = [a for a in result.actions if a.action == "add-nsg-allow-rule"]
    assert action.status == "verified", action
    rule = action.change.after
    assert rule["priority"] == 199 and rule["access"] == "Allow"
    assert rule["sourceAddressPrefixes"] == ["10.1.0.0/24"]
    assert sorted(rule["destinationAddressPrefixes"]) == ["10.1.1.4", "10.1.1.5"]
    assert rule["destinationPortRanges"] == ["8080"]
    assert action.resource.endswith("/securityRules/appgw-doctor-AllowAppGatewayToBackend")
    after = _codes(world.findings())
    assert "NSG_BLOCKS_BACKEND" not in after and "ALL_BACKENDS_UNHEALTHY" not in after


def test_add_nsg_allow_rule_heals_the_infrastructure_ports(estate, ledger):
    world = estate(with_rule_priority(scenario_world("nsg-infra-ports-v2"), "DenyGatewayManager", 300))
    assert "NSG_BLOCKS_INFRA_PORTS" in _codes(world.findings())
    result = world.remediate(ledger)
    (action,) = [a for a in result.actions if a.action == "add-nsg-allow-rule"]
    assert action.status == "verified", action
    assert action.change.after["sourceAddressPrefixes"] == ["GatewayManager"]
    assert action.change.after["destinationPortRanges"] == ["65200-65535"]
    assert "NSG_BLOCKS_INFRA_PORTS" not in _codes(world.findings())


def test_no_free_priority_is_refused_in_auto_and_planned_with_the_move_in_dry_run(estate, ledger):
    world = estate("nsg-backend-subnet")  # the deny holds priority 100: only a move would make room
    before = world.resources()
    auto = world.remediate(ledger)
    (refused,) = [a for a in auto.actions if a.action == "add-nsg-allow-rule"]
    assert refused.status == "refused" and "never moves or edits anyone's rule" in refused.reason
    dry = world.remediate(ledger, tags={"appgw-doctor-remediation": "dry-run"})
    (planned,) = [a for a in dry.actions if a.action == "add-nsg-allow-rule"]
    assert planned.status == "planned" and "--priority 101" in planned.command
    assert world.resources() == before


def test_modes_that_must_not_write_leave_the_estate_identical(estate, ledger):
    world = estate("request-timeout")
    before = world.resources()
    cases = [
        ({"appgw-doctor-remediation": "dry-run"}, "tags", ["planned"], "dry-run"),
        ({}, "tags", [], ""),
        ({"appgw-doctor-remediation": "off"}, "tags", [], ""),
        ({"appgw-doctor-remediation": "yes please"}, "tags", [], "not understood"),
        (
            {"appgw-doctor-remediation": "auto", "appgw-doctor-actions": "reattach-probe"},
            "tags",
            ["skipped"],
            "allow-list",
        ),
        (AUTO, "off", [], "REMEDIATION=off"),
        (AUTO, "dry-run", ["planned"], "dry-run"),
    ]
    for tags, setting, statuses, words in cases:
        result = world.remediate(ledger, tags=tags, setting=setting)
        assert [a.status for a in result.actions] == statuses, (tags, setting, result)
        text = " ".join(a.reason for a in result.actions) + " " + (result.note or "")
        assert words in text, (tags, setting, text)
        assert world.resources() == before, (tags, setting)
    assert not any(e.step == "apply" for e in ledger.audit_entries(GATEWAY))


def test_a_fix_that_does_not_heal_is_rolled_back_to_the_exact_previous_state(estate, ledger):
    world = estate(with_rule_priority(scenario_world("nsg-backend-subnet"), "DenyAppGateway", 200))
    findings = world.findings()
    nsg_id = (
        GATEWAY.rsplit("/providers/", 1)[0]
        + "/providers/Microsoft.Network/networkSecurityGroups/nsg-contoso-backend"
    )
    before = world.resources()[nsg_id.lower()]["properties"]["securityRules"]
    # The verification sees the block still there (as when another NSG also denies): roll back.
    result = world.remediate(ledger, rediagnose=lambda: findings)
    (action,) = [a for a in result.actions if a.action == "add-nsg-allow-rule"]
    assert action.status == "rolled-back", action
    assert "NSG_BLOCKS_BACKEND is still reported" in action.reason
    after = world.resources()[nsg_id.lower()]["properties"]["securityRules"]
    strip = lambda rules: [{k: v for k, v in r.items() if k != "etag"} for r in rules]  # noqa: E731
    assert strip(after) == strip(before)
    steps = [e.step for e in ledger.audit_entries(GATEWAY)]
    assert steps == ["apply", "rollback"]
    assert ledger.open_intents(GATEWAY) == []


def test_timeout_rollback_restores_the_value(estate, ledger):
    world = estate("request-timeout")
    findings = world.findings()
    result = world.remediate(ledger, rediagnose=lambda: findings)
    (action,) = result.actions
    assert action.status == "rolled-back"
    assert _settings(world)["properties"]["requestTimeout"] == 20


def test_the_concurrent_writer_is_never_clobbered(estate, ledger):
    change = {"tags": {"owner": "someone-else"}}
    world = estate(
        "request-timeout",
        faults=[FaultRule("applicationGateways.createOrUpdate", "concurrent-write", change=change, times=1)],
    )
    result = world.remediate(ledger)
    (action,) = result.actions
    assert action.status == "verified", action
    gateway = world.resources()[GATEWAY.lower()]
    assert gateway["tags"]["owner"] == "someone-else"  # their write survived ours
    assert _settings(world)["properties"]["requestTimeout"] > 20
    assert any("re-planning" in e.reason for e in ledger.audit_entries(GATEWAY))


def test_a_writer_that_keeps_changing_the_gateway_aborts_the_fix(estate, ledger):
    world = estate(
        "request-timeout",
        faults=[
            FaultRule("applicationGateways.createOrUpdate", "concurrent-write", change={"tags": {"n": "x"}})
        ],
    )
    result = world.remediate(ledger)
    (action,) = result.actions
    assert action.status == "refused" and "changed again" in action.reason
    assert _settings(world)["properties"]["requestTimeout"] == 20


def test_request_timeout_above_the_maximum_is_refused(estate, ledger):
    world = estate("request-timeout")
    result = world.remediate(ledger, limits=Limits(max_request_timeout=25, verify_seconds=1))
    (action,) = result.actions
    assert action.status == "refused" and "REMEDIATION_MAX_REQUEST_TIMEOUT" in action.reason
    assert _settings(world)["properties"]["requestTimeout"] == 20


def test_cooldown_holds_during_an_alert_storm(estate, ledger):
    limits = Limits(verify_seconds=1, verify_interval=0.1)
    statuses = []
    for n in range(6):  # six incidents on one gateway within the hour: one fix, then the cooldown
        world = estate("request-timeout")
        statuses.append(world.remediate(ledger, limits=limits, incident_id=f"incident-{n}").actions[0])
    assert statuses[0].status == "verified"
    assert all(s.status == "refused" and "cooldown" in s.reason for s in statuses[1:]), statuses
    assert sum(1 for e in ledger.audit_entries(GATEWAY) if e.step == "apply") == 1


def test_the_fleet_wide_rate_limit_holds(estate, ledger):
    limits = Limits(verify_seconds=1, verify_interval=0.1, max_changes_per_hour=2, cooldown=timedelta(0))
    results = [
        estate(name).remediate(ledger, limits=limits, incident_id=f"incident-{n}").actions
        for n, name in enumerate(["request-timeout", "default-probe", "request-timeout"])
    ]
    assert results[0][0].status == "verified"
    assert [a.status for a in results[1] if a.finding == "DEFAULT_PROBE_FAILING"] == ["verified"]
    assert results[2][0].status == "refused" and "changes per hour" in results[2][0].reason


def test_one_applied_fix_per_incident(estate, ledger):
    world = estate("default-probe")
    first = world.remediate(ledger, incident_id="incident-9")
    assert [a.status for a in first.actions if a.finding == "DEFAULT_PROBE_FAILING"] == ["verified"]
    other = estate("request-timeout")
    again = other.remediate(ledger, incident_id="incident-9")
    assert again.actions[0].status == "skipped" and "per incident" in again.actions[0].reason


def test_a_change_a_crashed_run_left_unverified_is_finished_by_the_next_run(estate, ledger):
    world = estate("request-timeout")
    (finding,) = world.findings()
    ctx = Context(Arm(world.clients), GATEWAY, "incident-c", 120)
    action = ACTIONS["raise-request-timeout"]
    planned = action.plan(ctx, finding)
    ledger.record_intent(
        Intent(
            "i-1",
            GATEWAY,
            "incident-c",
            finding.code,
            action.id,
            planned.resource,
            planned.change.before,
            planned.change.after,
            world.incident_time,
            details={**planned.details, "findingKey": [finding.code, finding.resource]},
        )
    )
    action.apply(ctx, planned)  # ... and the worker died here, before verifying
    # The next run for the gateway (nothing left to fix) finds the open intent and verifies it.
    remediator = Remediator(ledger=ledger, limits=Limits(verify_seconds=1), sleep=lambda s: None)
    result = remediator.run(
        gateway_id=GATEWAY,
        incident_id="incident-d",
        findings=[],
        tags=AUTO,
        clients=world.clients,
        rediagnose=world.findings,
    )
    (recovered,) = result.actions
    assert recovered.status == "verified" and "left unverified" in recovered.verification
    assert ledger.open_intents(GATEWAY) == []


def test_a_crashed_change_that_did_not_heal_is_rolled_back_by_the_next_run(estate, ledger):
    world = estate("request-timeout")
    findings = world.findings()
    (finding,) = findings
    ctx = Context(Arm(world.clients), GATEWAY, "incident-c", 120)
    action = ACTIONS["raise-request-timeout"]
    planned = action.plan(ctx, finding)
    ledger.record_intent(
        Intent(
            "i-2",
            GATEWAY,
            "incident-c",
            finding.code,
            action.id,
            planned.resource,
            planned.change.before,
            planned.change.after,
            world.incident_time,
            details={**planned.details, "findingKey": [finding.code, finding.resource]},
        )
    )
    action.apply(ctx, planned)
    remediator = Remediator(
        ledger=ledger, limits=Limits(verify_seconds=0.5, verify_interval=0.1), sleep=lambda s: None
    )
    result = remediator.run(
        gateway_id=GATEWAY,
        incident_id="incident-d",
        findings=[],
        tags=AUTO,
        clients=world.clients,
        rediagnose=lambda: findings,
    )
    (recovered,) = result.actions
    assert recovered.status == "rolled-back", recovered
    assert _settings(world)["properties"]["requestTimeout"] == 20
    assert ledger.open_intents(GATEWAY) == []


def test_reattach_probe_is_refused_with_what_the_preflight_saw(estate, ledger):
    world_data = scenario_world("default-probe")
    for resource in world_data["resources"]:
        if "/applicationGateways/" in resource["id"]:
            resource["properties"]["probes"][0]["properties"]["path"] = (
                "/ready"  # the backends serve /healthz only
            )
    world = estate(world_data)
    before = world.resources()
    result = world.remediate(ledger)
    (action,) = [a for a in result.actions if a.finding == "DEFAULT_PROBE_FAILING"]
    assert action.status == "refused", action
    assert (
        action.reason.startswith("pre-flight with probe web-probe: 10.1.1.") and "Unhealthy" in action.reason
    )
    assert world.resources() == before


def test_a_plan_whose_precondition_no_longer_holds_is_dropped(estate, ledger):
    world = estate("request-timeout")
    findings = world.findings()
    network = world.clients.network  # someone raises it by hand after the diagnosis
    gateway = network.application_gateways.get("rg-contoso-web", "agw-contoso")
    next(s for s in gateway.backend_http_settings_collection if s.name == "web-settings").request_timeout = 25
    network.application_gateways.begin_create_or_update("rg-contoso-web", "agw-contoso", gateway).result()
    result = Remediator(ledger=ledger, limits=Limits(verify_seconds=1)).run(
        gateway_id=GATEWAY,
        incident_id="i",
        findings=findings,
        tags=AUTO,
        clients=world.clients,
        rediagnose=world.findings,
    )
    (action,) = result.actions
    assert action.status == "refused" and action.reason.startswith("plan dropped:"), action
    assert _settings(world)["properties"]["requestTimeout"] == 25


@pytest.mark.parametrize(
    ("scenario", "action", "status"),
    [
        ("live-infra-ports", "add-nsg-allow-rule", "verified"),
        ("live-slow-backend", "raise-request-timeout", "verified"),
        ("live-probe-host", "reattach-probe", "planned"),  # tagged dry-run
    ],
)
def test_the_bundled_live_scenarios_heal_as_their_tags_ask(estate, ledger, scenario, action, status):
    world_data = scenario_world(scenario)
    gateway = next(r for r in world_data["resources"] if "/applicationGateways/" in r["id"])
    world = estate(world_data)
    before = world.resources()
    result = world.remediate(ledger, tags=gateway["tags"])
    statuses = [a.status for a in result.actions if a.action == action and a.status != "skipped"]
    assert statuses == [status], result
    if status == "verified":
        codes = {f.code for f in world.findings()}
        assert result.actions[0].finding not in codes and "ALL_BACKENDS_UNHEALTHY" not in codes
    else:
        assert world.resources() == before
