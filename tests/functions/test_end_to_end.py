"""Every trigger end to end: the function the host would call, the queue message it emits, the
worker function, the real diagnosis against the simulator, and the state left in Table Storage."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from appgw_doctor.notify import message_for
from appgw_doctor.pipeline import Outcome, Report, WorkItem
from state import IncidentStatus
from state.remediation import RemediationLedger
from tests.appgw_doctor.conftest import web_settings_timeout
from tests.appgw_doctor.test_pipeline import break_infra_ports
from tests.functions.harness import OutputBinding, post_alert, run_queue

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in ROOT.glob("scenarios/*/expected.json"))
HEALTHY = ROOT / "scenarios/healthy"
HEALTHY_GATEWAY = json.loads((HEALTHY / "expected.json").read_text())["gateway"]
# the gateway subnet's NSG, its rule that break_infra_ports flips, and the operation of that write
GATEWAY_NSG = (
    HEALTHY_GATEWAY.split("/providers/")[0]
    + "/providers/Microsoft.Network/networkSecurityGroups/nsg-contoso-appgw"
)
INFRA_RULE = GATEWAY_NSG + "/securityRules/AllowGatewayManager"
RULE_WRITE = "Microsoft.Network/networkSecurityGroups/securityRules/write"


def alert_body(scenario_dir: Path, **essentials) -> bytes:
    document = json.loads((scenario_dir / "alert.json").read_text())
    document["data"]["essentials"].update(essentials)
    return json.dumps(document).encode()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_alert_becomes_an_incident_with_the_expected_findings(
    scenario, simulator, app_env, functions
) -> None:
    directory = ROOT / "scenarios" / scenario
    expected = json.loads((directory / "expected.json").read_text())
    app_env.point_at(simulator(directory / "world.json"))

    response, messages = post_alert(functions, (directory / "alert.json").read_bytes())
    assert response.status_code == 202
    run_queue(functions, messages)

    store = app_env.store()
    (incident,) = store.list_incidents(expected["gateway"])
    assert incident.status is IncidentStatus.OPEN
    codes = {finding["code"] for finding in incident.report["findings"]}
    assert set(expected["must"]) <= codes, f"missing {set(expected['must']) - codes}"
    assert not codes & set(expected["must_not"])
    stages = {stage["name"]: stage["status"] for stage in incident.report["stages"]}
    opted_in = "appgw-doctor-remediation" in (directory / "world.json").read_text()  # the live-* scenarios
    assert stages == {
        "dedupe": "ok",
        "diagnose": "ok",
        "remediate": "ok" if opted_in else "skipped",
        "notify": "skipped",
        "record": "ok",
    }
    (record,) = store.list_diagnoses(expected["gateway"])
    assert record.incident_id == incident.id and record.trigger == "alert"


def test_repeated_delivery_is_acknowledged_without_a_second_diagnosis(simulator, app_env, functions) -> None:
    app_env.point_at(simulator(HEALTHY / "world.json"))
    body = (HEALTHY / "alert.json").read_bytes()
    for _ in range(3):
        response, messages = post_alert(functions, body)
        assert response.status_code == 202
        run_queue(functions, messages)
    store = app_env.store()
    assert len(store.list_diagnoses()) == 1
    (incident,) = store.list_incidents()
    assert len(store.incident_alerts(incident.id)) == 1


def test_another_alert_for_the_gateway_joins_the_open_incident(simulator, app_env, functions) -> None:
    app_env.point_at(simulator(HEALTHY / "world.json"))
    run_queue(functions, post_alert(functions, alert_body(HEALTHY))[1])
    run_queue(
        functions,
        post_alert(functions, alert_body(HEALTHY, alertId="second-alert", alertRule="unhealthy"))[1],
    )
    store = app_env.store()
    (incident,) = store.list_incidents()
    assert [a["alertRule"] for a in store.incident_alerts(incident.id)] == ["appgw-5xx", "unhealthy"]
    assert len(store.list_diagnoses()) == 1


def test_resolved_alert_closes_the_incident_without_diagnosing(simulator, app_env, functions) -> None:
    app_env.point_at(simulator(HEALTHY / "world.json"))
    run_queue(functions, post_alert(functions, alert_body(HEALTHY))[1])
    resolved = alert_body(HEALTHY, monitorCondition="Resolved", resolvedDateTime="2026-11-23T10:50:00Z")
    run_queue(functions, post_alert(functions, resolved)[1])
    store = app_env.store()
    (incident,) = store.list_incidents()
    assert incident.status is IncidentStatus.CLOSED and incident.closed_at is not None
    assert len(store.list_diagnoses()) == 1
    run_queue(functions, post_alert(functions, alert_body(HEALTHY, alertId="next-instance"))[1])
    assert [i.status for i in store.list_incidents()] == [IncidentStatus.CLOSED, IncidentStatus.OPEN]


def event(
    operation: str, resource_id: str, *, event_id: str, event_type="Microsoft.Resources.ResourceWriteSuccess"
):
    return func.EventGridEvent(
        id=event_id,
        data={"operationName": operation, "resourceUri": resource_id, "status": "Succeeded"},
        topic="/subscriptions/00000000-0000-0000-0000-000000000001",
        subject=resource_id,
        event_type=event_type,
        event_time=datetime.now(timezone.utc) + timedelta(seconds=1),
        data_version="2",
    )


def changes(functions, grid_event) -> list[WorkItem]:
    work = OutputBinding()
    functions["resource_changes"](grid_event, work)
    return [WorkItem.from_message(m) for m in work.get() or []]


def test_write_to_the_gateway_subnets_nsg_triggers_a_preventive_diagnosis(
    simulator, app_env, functions
) -> None:
    sim = simulator(HEALTHY / "world.json")
    app_env.point_at(sim)
    gateway, nsg, rule, write = HEALTHY_GATEWAY, GATEWAY_NSG, INFRA_RULE, RULE_WRITE

    assert changes(functions, event(write, rule, event_id="before")) == []  # nothing known about this NSG yet
    run_queue(functions, post_alert(functions, alert_body(HEALTHY))[1])  # the diagnosis records the NSG

    break_infra_ports(sim)  # someone flips the rule the gateway needs

    (item,) = changes(functions, event(write, rule, event_id="after"))
    assert item.kind == "change" and item.gateway_id.lower() == gateway.lower()
    assert item.change.resource_id.lower() == nsg.lower()
    run_queue(functions, [item.to_message(), item.to_message()])  # Event Grid delivers at least once

    records = app_env.store().list_diagnoses(gateway)
    assert [r.trigger for r in records] == ["alert", "change"]
    assert "NSG_BLOCKS_INFRA_PORTS" in {f["code"] for f in records[-1].findings}
    assert "NSG_BLOCKS_INFRA_PORTS" not in {f["code"] for f in records[0].findings}


def test_gateway_write_is_checked_and_unrelated_events_are_ignored(app_env, functions) -> None:
    gateway = json.loads((HEALTHY / "expected.json").read_text())["gateway"]
    (item,) = changes(functions, event("Microsoft.Network/applicationGateways/write", gateway, event_id="g1"))
    assert item.gateway_id == gateway
    assert changes(functions, event("Microsoft.Compute/virtualMachines/write", gateway, event_id="g2")) == []
    deleted = event("Microsoft.Network/applicationGateways/delete", gateway, event_id="g3",
                    event_type="Microsoft.Resources.ResourceDeleteSuccess")  # fmt: skip
    assert changes(functions, deleted) == []
    other_subscription = gateway.replace(
        "00000000-0000-0000-0000-000000000001", "33333333-3333-3333-3333-333333333333"
    )
    assert (
        changes(
            functions, event("Microsoft.Network/applicationGateways/write", other_subscription, event_id="x")
        )
        == []
    )


def test_timer_sweeps_every_gateway_of_the_allowed_subscriptions(simulator, app_env, functions) -> None:
    app_env.point_at(simulator(HEALTHY / "world.json"))
    app_env.set("SWEEP_SPREAD_MINUTES", "0")  # all at once through the binding (see test_sweep_spread.py)
    work = OutputBinding()
    functions["sweep"](TimerRequest(past_due=False), work)
    items = [WorkItem.from_message(m) for m in work.get()]
    gateway = json.loads((HEALTHY / "expected.json").read_text())["gateway"]
    assert [(i.kind, i.gateway_id.lower()) for i in items] == [("sweep", gateway.lower())]
    run_queue(functions, work.get())
    (record,) = app_env.store().list_diagnoses()
    assert record.trigger == "sweep" and record.incident_id is None


@pytest.mark.parametrize(
    "body", [b"not json", b"\xff\xfe", b'{"kind": "alert"}', b'{"kind": "sweep", "gatewayId": "x"}']
)
def test_malformed_work_message_is_dropped_with_a_log_line(app_env, functions, caplog, body) -> None:
    functions["process_work"](func.QueueMessage(id="bad", body=body))
    assert any("dropping malformed work message bad" in r.getMessage() for r in caplog.records)
    assert app_env.store().list_diagnoses() == []


def test_an_opted_in_gateway_is_fixed_verified_and_audited_in_table_storage(
    simulator, app_env, functions
) -> None:
    directory = ROOT / "scenarios" / "request-timeout"
    world = json.loads((directory / "world.json").read_text())
    gateway = next(r for r in world["resources"] if "/applicationgateways/" in r["id"].lower())
    gateway.setdefault("tags", {})["appgw-doctor-remediation"] = "auto"
    sim = simulator(world)
    app_env.point_at(sim)

    response, messages = post_alert(functions, (directory / "alert.json").read_bytes())
    assert response.status_code == 202
    run_queue(functions, messages)

    store = app_env.store()
    (incident,) = store.list_incidents()
    (action,) = incident.report["remediation"]["actions"]
    assert action["status"] == "verified" and action["action"] == "raise-request-timeout"
    assert web_settings_timeout(sim.dump()) == action["change"]["after"]["requestTimeout"]
    steps = [(e.step, e.outcome) for e in RemediationLedger.for_store(store).audit_entries(gateway["id"])]
    assert steps == [("apply", "applied"), ("verify", "verified")]


def test_a_change_event_names_who_made_the_change(simulator, app_env, functions) -> None:
    sim = simulator(HEALTHY / "world.json")
    app_env.point_at(sim)
    gateway, rule, write = HEALTHY_GATEWAY, INFRA_RULE, RULE_WRITE
    run_queue(functions, post_alert(functions, alert_body(HEALTHY))[1])  # the diagnosis records the NSG
    break_infra_ports(sim)

    grid_event = event(write, rule, event_id="by-alice")
    claims = {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "alice@contoso.com"}
    grid_event = func.EventGridEvent(
        id=grid_event.id, data={**grid_event.get_json(), "claims": claims}, topic=grid_event.topic,
        subject=grid_event.subject, event_type=grid_event.event_type, event_time=grid_event.event_time,
        data_version="2",
    )  # fmt: skip
    (item,) = changes(functions, grid_event)
    assert item.change.caller == "alice@contoso.com"
    run_queue(functions, [item.to_message()])
    record = app_env.store().list_diagnoses(gateway)[-1]
    assert record.trigger == "change"
    report = Report(item=item, outcome=Outcome.DIAGNOSED, findings=record.findings, reported=record.findings)
    headline = message_for(report).headline
    assert "alice@contoso.com's edit of NSG nsg-contoso-appgw" in headline, headline
    assert "502s will follow" in headline
