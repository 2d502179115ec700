"""The sweep's fleet side (issue 11, part 3) with the real pipeline, the real SDK against the simulator
(429s injected with FaultRule) and SQLite state: the spread, the fleet-wide backoff on ARM throttling
(sweep items wait or are deferred; alerts never), the sweep slots, and the incremental sweep."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.mgmt.network import models

from appgw_doctor.fleet import run_queue
from appgw_doctor.pipeline import ALERT, SWEEP, Outcome, Pipeline, WorkItem
from appgw_doctor.throttle import ThrottleWatch
from appgw_doctor.wiring import clients_for_target
from core.arm_ids import subscription_of
from core.azure_clients import ArmTarget, make_clients
from intake.alerts import parse_alert_body
from simulator import FaultRule
from state import StateStore
from state.sqlite import SqliteBackend
from tests.functions.storm import world_with_gateways

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = ROOT / "scenarios/healthy"
GATEWAY = json.loads((HEALTHY / "expected.json").read_text())["gateway"]
SUB = subscription_of(GATEWAY)


@pytest.fixture
def make_pipeline(tmp_path):
    made: list[StateStore] = []

    def make(sim, **options) -> Pipeline:
        store = StateStore(SqliteBackend(tmp_path / "state.db"))
        made.append(store)
        throttle = ThrottleWatch()
        clients_for = clients_for_target(
            ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=0.05, throttle=throttle
        )
        options.setdefault("sweep_full_every", timedelta(hours=24))
        return Pipeline(store=store, clients_for=clients_for, throttle=throttle, **options)

    yield make
    for store in made:
        store.close()


def sweep_item(sweep_id: str, gateway: str = GATEWAY) -> WorkItem:
    return WorkItem(kind=SWEEP, gateway_id=gateway, sweep_id=sweep_id)


def alert_item(alert_id: str) -> WorkItem:
    document = json.loads((HEALTHY / "alert.json").read_text())
    document["data"]["essentials"]["alertId"] = (
        f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/{alert_id}"
    )
    (alert,) = parse_alert_body(json.dumps(document).encode(), allowed_subscriptions=None)
    return WorkItem(kind=ALERT, gateway_id=alert.gateway_id, alert=alert)


def test_sweep_items_are_spread_evenly_and_carry_their_turn(simulator, make_pipeline) -> None:
    world, gateways = world_with_gateways(10)
    pipeline = make_pipeline(simulator(world))
    before = datetime.now(timezone.utc)
    items = pipeline.sweep_items([SUB], spread=timedelta(minutes=50))
    assert sorted(item.gateway_id.lower() for item in items) == sorted(g.lower() for g in gateways)
    turns = [item.not_before for item in items]
    assert before <= turns[0] <= datetime.now(timezone.utc)
    assert {round((b - a).total_seconds(), 3) for a, b in zip(turns, turns[1:], strict=False)} == {300.0}
    again = WorkItem.from_message(items[3].to_message())
    assert again == items[3]
    naive = json.loads(items[3].to_message())
    naive["notBefore"] = "2026-11-23T10:00:00"
    with pytest.raises(ValueError, match="not a work item message"):
        WorkItem.from_message(json.dumps(naive))
    assert all(item.not_before is None for item in pipeline.sweep_items([SUB]))  # no spread: as before


def test_an_early_sweep_item_is_deferred_to_its_turn_without_being_claimed(simulator, make_pipeline) -> None:
    pipeline = make_pipeline(simulator(HEALTHY / "world.json"), sweep_wait=timedelta(0))
    turn = datetime.now(timezone.utc) + timedelta(minutes=20)
    item = WorkItem(kind=SWEEP, gateway_id=GATEWAY, sweep_id="s1", not_before=turn)
    report = pipeline.process(item)
    assert (report.outcome, report.retry_at) == (Outcome.DEFERRED, turn)
    assert "its turn in the sweep's spread has not come" in report.stages[0].detail
    assert pipeline.store.delivery(item.dedupe_key) is None and pipeline.store.list_diagnoses() == []


def test_a_429_holds_back_sweep_items_fleet_wide_but_never_an_alert(simulator, make_pipeline) -> None:
    throttled = FaultRule("applicationGateways.get", "throttle", retry_after=3, times=1)
    sim = simulator(HEALTHY / "world.json", faults=[throttled])
    alerts = make_pipeline(sim)
    first = threading.Thread(target=alerts.process, args=(alert_item("a1"),))
    first.start()  # its gateway GET is answered 429 with Retry-After 3 s; it waits, then goes on
    give_up = time.monotonic() + 10
    while alerts.store.throttled_until(SUB) is None and time.monotonic() < give_up:
        time.sleep(0.05)
    until = alerts.store.throttled_until(SUB)  # recorded at once, for every instance
    assert until is not None and until > datetime.now(timezone.utc)

    # Another instance (it saw no 429 itself) defers its sweep item past the recorded time...
    other = make_pipeline(sim, sweep_wait=timedelta(0))
    deferred = other.process(sweep_item("s1"))
    assert deferred.outcome is Outcome.DEFERRED and deferred.retry_at >= until
    assert f"ARM throttles subscription {SUB}" in deferred.stages[0].detail
    # ...while an alert goes straight on (here it joins the incident being diagnosed).
    started = time.monotonic()
    assert other.process(alert_item("a2")).outcome is Outcome.JOINED
    assert time.monotonic() - started < 2 and datetime.now(timezone.utc) < until
    first.join()

    # With time to wait, a sweep item waits the throttling out instead.
    patient = make_pipeline(sim, sweep_wait=timedelta(seconds=10))
    assert patient.process(sweep_item("s1")).outcome is Outcome.UNCHANGED  # the alert's diagnosis is its base
    assert datetime.now(timezone.utc) >= until and sim.requests.count(status=429) == 1


def test_sweep_items_beyond_the_fleet_wide_slots_wait_then_are_deferred(simulator, make_pipeline) -> None:
    pipeline = make_pipeline(
        simulator(HEALTHY / "world.json"), sweep_slots=1, sweep_wait=timedelta(seconds=0.3)
    )
    now = datetime.now(timezone.utc)
    held = pipeline.store.acquire_slot("sweep", slots=1, holder="busy", now=now, ttl=timedelta(minutes=5))
    report = pipeline.process(sweep_item("s1"))
    assert report.outcome is Outcome.DEFERRED and "all 1 sweep slots are busy" in report.stages[0].detail
    assert now < report.retry_at <= datetime.now(timezone.utc) + timedelta(seconds=30)
    pipeline.store.release_lease(held)
    assert pipeline.process(sweep_item("s1")).outcome is Outcome.DIAGNOSED
    assert pipeline.store.acquire_slot("sweep", slots=1, holder="x", now=now, ttl=timedelta(minutes=5))


def test_an_unchanged_healthy_gateway_is_recorded_unchanged_without_a_full_collection(
    simulator, make_pipeline
) -> None:
    sim = simulator(HEALTHY / "world.json")
    pipeline = make_pipeline(sim)
    full = pipeline.process(sweep_item("s1"))
    assert full.outcome is Outcome.DIAGNOSED
    base = pipeline.store.last_diagnosis(GATEWAY)
    kinds = {kind for kind, _, _ in base.fingerprint["resources"]}
    assert base.fingerprint["allHealthy"] and {"gateway", "vnet", "nsg", "nic"} <= kinds
    full_requests = len(sim.requests.served)
    effective_routes = sim.requests.count("networkInterfaces.getEffectiveRouteTable")

    report = pipeline.process(sweep_item("s2"))
    assert report.outcome is Outcome.UNCHANGED
    light_requests = len(sim.requests.served) - full_requests
    assert light_requests < full_requests / 2
    assert sim.requests.count("networkInterfaces.getEffectiveRouteTable") == effective_routes
    record = pipeline.store.last_diagnosis(GATEWAY)
    assert record.id == report.diagnosis_id and record.unchanged_since == base.id
    assert (record.findings, record.checks, record.fingerprint) == (
        base.findings,
        base.checks,
        base.fingerprint,
    )
    assert report.stages[1].detail.startswith(f"unchanged since diagnosis {base.id}: ")
    assert report.to_dict()["outcome"] == "unchanged" and record.stages[-1]["status"] == "ok"

    # An NSG on the path is written: its etag changes, and the next sweep diagnoses in full.
    azure = make_clients(
        sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=0.05
    )
    rule = models.SecurityRule(
        protocol="Tcp", source_port_range="*", destination_port_range="8080", source_address_prefix="*",
        destination_address_prefix="*", access="Allow", priority=4000, direction="Inbound",
    )  # fmt: skip
    azure.network.security_rules.begin_create_or_update(
        "rg-contoso-web", "nsg-contoso-appgw", "bench-extra", rule
    ).result()
    azure.close()
    again = pipeline.process(sweep_item("s3"))
    assert again.outcome is Outcome.DIAGNOSED
    assert pipeline.store.last_diagnosis(GATEWAY).unchanged_since is None


def test_without_the_incremental_sweep_or_once_due_every_sweep_diagnoses_in_full(
    simulator, make_pipeline
) -> None:
    sim = simulator(HEALTHY / "world.json")
    off = make_pipeline(sim, sweep_full_every=None)
    off.process(sweep_item("s1"))
    assert off.store.last_diagnosis(GATEWAY).fingerprint is None
    assert off.process(sweep_item("s2")).outcome is Outcome.DIAGNOSED
    earlier = make_pipeline(sim, clock=lambda: datetime.now(timezone.utc) - timedelta(hours=2))
    earlier.process(sweep_item("s3"))  # a full diagnosis two hours ago
    assert make_pipeline(sim).process(sweep_item("s4")).outcome is Outcome.UNCHANGED  # within 24 h
    hourly = make_pipeline(sim, sweep_full_every=timedelta(hours=1))
    assert hourly.process(sweep_item("s5")).outcome is Outcome.DIAGNOSED  # due for a full one


def test_a_gateway_with_an_unhealthy_server_is_never_skipped(simulator, make_pipeline) -> None:
    world = json.loads((HEALTHY / "world.json").read_text())
    server = world["backendHealth"][GATEWAY]["backendAddressPools"][0]["backendHttpSettingsCollection"][0]
    server["servers"][0]["health"] = "Unhealthy"
    pipeline = make_pipeline(simulator(world))
    pipeline.process(sweep_item("s1"))
    assert pipeline.store.last_diagnosis(GATEWAY).fingerprint is None
    assert pipeline.process(sweep_item("s2")).outcome is Outcome.DIAGNOSED


def test_a_throttled_fleet_sweep_ends_without_errors_and_the_next_one_is_incremental(
    simulator, make_pipeline
) -> None:
    world, gateways = world_with_gateways(6)
    sim = simulator(world, faults=[FaultRule("*", "throttle", rate=0.3, retry_after=0.1)])
    pipeline = make_pipeline(sim, sweep_slots=3, defer_jitter=timedelta(seconds=0.5))
    for expected in (Outcome.DIAGNOSED, Outcome.UNCHANGED):
        reports = run_queue(pipeline, pipeline.sweep_items([SUB]), workers=3)
        finals = [r for r in reports if r.outcome is not Outcome.DEFERRED]
        assert sorted(r.item.gateway_id for r in finals) == sorted(gateways)
        assert {r.outcome for r in finals} == {expected}
        assert not [c for r in finals for c in r.checks if c["status"] == "error"]
    assert sim.requests.count(status=429) > 0
    assert pipeline.store.throttled_until(SUB) is not None
