"""Pipeline semantics (dedupe, leases, joins, takeovers, preventive reports, stage failures) with the
real diagnosis against the simulator and SQLite state; notifications collected by a plain Stage."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.mgmt.network import models

from appgw_doctor.azure_clients import ArmTarget
from appgw_doctor.pipeline import (
    ALERT,
    CHANGE,
    SWEEP,
    Outcome,
    Pipeline,
    Report,
    StageResult,
    WorkItem,
    clients_for_target,
)
from intake.alerts import parse_alert_body
from intake.events import ResourceChange
from state import DiagnosisRecord, Incident, IncidentStatus, StateStore
from state.sqlite import SqliteBackend

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = ROOT / "scenarios/healthy"
GATEWAY = json.loads((HEALTHY / "expected.json").read_text())["gateway"]
NSG = GATEWAY.split("/providers/")[0] + "/providers/Microsoft.Network/networkSecurityGroups/nsg-contoso-appgw"


class Collect:
    """A notify stage that keeps what it was given."""

    def __init__(self) -> None:
        self.reports: list[Report] = []

    def __call__(self, report: Report) -> StageResult:
        self.reports.append(report)
        return StageResult("notify", "ok", f"{len(report.reported)} findings sent")


@pytest.fixture
def world(simulator):
    return simulator(HEALTHY / "world.json")


@pytest.fixture
def make_pipeline(world, tmp_path):
    made: list[StateStore] = []

    def make(**options) -> Pipeline:
        store = StateStore(SqliteBackend(tmp_path / "state.db"))
        made.append(store)
        clients_for = clients_for_target(ArmTarget(world.endpoint, world.ca_cert), polling_interval=0.05)
        return Pipeline(store=store, clients_for=clients_for, **options)

    yield make
    for store in made:
        store.close()


def alert_item(**essentials) -> WorkItem:
    document = json.loads((HEALTHY / "alert.json").read_text())
    document["data"]["essentials"].update(essentials)
    (alert,) = parse_alert_body(json.dumps(document).encode(), allowed_subscriptions=None)
    return WorkItem(kind=ALERT, gateway_id=alert.gateway_id, alert=alert)


def change_item(event_id: str, when: datetime) -> WorkItem:
    change = ResourceChange(
        event_id, NSG, "Microsoft.Network/networkSecurityGroups/securityRules/write", when
    )
    return WorkItem(kind=CHANGE, gateway_id=GATEWAY, change=change)


def break_infra_ports(world) -> None:
    from appgw_doctor.azure_clients import make_clients

    azure = make_clients(
        world.subscription_id, target=ArmTarget(world.endpoint, world.ca_cert), polling_interval=0.05
    )
    rule = models.SecurityRule(
        protocol="Tcp", source_port_range="*", destination_port_range="65200-65535",
        source_address_prefix="GatewayManager", destination_address_prefix="*",
        access="Deny", priority=100, direction="Inbound",
    )  # fmt: skip
    azure.network.security_rules.begin_create_or_update(
        "rg-contoso-web", "nsg-contoso-appgw", "AllowGatewayManager", rule
    ).result()
    azure.close()


def test_alert_report_carries_alert_findings_and_every_stage(make_pipeline) -> None:
    notify = Collect()
    report = make_pipeline(notify=notify).process(alert_item())
    assert report.outcome is Outcome.DIAGNOSED and report.incident_id
    assert [s.name for s in report.stages] == ["dedupe", "diagnose", "remediate", "notify", "record"]
    assert notify.reports == [report] and report.reported == report.findings
    document = report.to_dict()
    assert document["alert"]["alertRule"] == "appgw-5xx" and document["incidentId"] == report.incident_id


def test_duplicate_delivery_names_the_incident_it_belongs_to(make_pipeline) -> None:
    pipeline = make_pipeline()
    first = pipeline.process(alert_item())
    again = pipeline.process(alert_item())
    assert again.outcome is Outcome.DUPLICATE and again.incident_id == first.incident_id
    assert len(pipeline.store.list_diagnoses()) == 1


def test_alert_joins_the_incident_whose_diagnosis_is_in_progress(make_pipeline) -> None:
    pipeline = make_pipeline()
    now = datetime.now(timezone.utc)
    lease = pipeline.store.acquire_lease(
        GATEWAY, holder="incident:running", now=now, ttl=timedelta(minutes=5)
    )
    report = pipeline.process(alert_item())
    assert (report.outcome, report.incident_id) == (Outcome.JOINED, "running")
    assert pipeline.store.incident_alerts("running")[0]["alertRule"] == "appgw-5xx"
    assert pipeline.store.list_diagnoses() == []
    pipeline.store.release_lease(lease)


def test_a_dead_workers_incident_is_superseded_with_its_alerts(make_pipeline) -> None:
    pipeline = make_pipeline()
    long_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    pipeline.store.acquire_lease(GATEWAY, holder="incident:dead", now=long_ago, ttl=timedelta(minutes=5))
    pipeline.store.create_incident(
        Incident("dead", GATEWAY, IncidentStatus.DIAGNOSING, opened_at=long_ago, updated_at=long_ago)
    )
    earlier = alert_item(alertId="earlier-alert")
    pipeline.store.attach_alert("dead", key=earlier.dedupe_key, alert=earlier.alert.to_dict(), at=long_ago)

    report = pipeline.process(alert_item())
    assert report.outcome is Outcome.DIAGNOSED and report.incident_id != "dead"
    assert pipeline.store.get_incident(GATEWAY, "dead").status is IncidentStatus.CLOSED
    moved = [a["alertId"] for a in pipeline.store.incident_alerts(report.incident_id)]
    assert moved[0] == "earlier-alert" and len(moved) == 2


def test_change_reports_only_findings_new_since_the_last_diagnosis(make_pipeline, world) -> None:
    notify = Collect()
    pipeline = make_pipeline(notify=notify)
    baseline = pipeline.process(WorkItem(kind=SWEEP, gateway_id=GATEWAY, sweep_id="s1"))
    assert baseline.outcome is Outcome.DIAGNOSED

    break_infra_ports(world)
    report = pipeline.process(change_item("e1", datetime.now(timezone.utc)))
    assert report.outcome is Outcome.DIAGNOSED
    known = {(f["code"], f["resource"].lower()) for f in baseline.findings}
    assert report.reported == [f for f in report.findings if (f["code"], f["resource"].lower()) not in known]
    assert "NSG_BLOCKS_INFRA_PORTS" in {f["code"] for f in report.reported}

    unchanged = pipeline.process(WorkItem(kind=SWEEP, gateway_id=GATEWAY, sweep_id="s2"))
    assert unchanged.outcome is Outcome.DIAGNOSED and unchanged.reported == []
    assert unchanged.stages[-2] == StageResult(
        "notify", "skipped", "no new findings since the last diagnosis"
    )
    assert notify.reports[-1] is report


def test_change_older_than_the_last_diagnosis_is_already_covered(make_pipeline) -> None:
    pipeline = make_pipeline()
    pipeline.process(WorkItem(kind=SWEEP, gateway_id=GATEWAY, sweep_id="s1"))
    report = pipeline.process(change_item("old", datetime.now(timezone.utc) - timedelta(minutes=5)))
    assert report.outcome is Outcome.COVERED
    assert len(pipeline.store.list_diagnoses()) == 1


def test_change_seen_by_the_diagnosis_in_progress_is_not_diagnosed_again(make_pipeline) -> None:
    pipeline = make_pipeline()
    changed_at = datetime.now(timezone.utc)
    lease = pipeline.store.acquire_lease(
        GATEWAY, holder="incident:x", now=changed_at, ttl=timedelta(minutes=5)
    )

    def finish_diagnosis() -> None:  # the worker holding the lease records a diagnosis begun after the change
        record = DiagnosisRecord("d", GATEWAY, "alert", started_at=changed_at + timedelta(seconds=1),
                                 finished_at=changed_at + timedelta(seconds=2))  # fmt: skip
        pipeline.store.record_diagnosis(record)
        pipeline.store.release_lease(lease)

    threading.Timer(0.3, finish_diagnosis).start()
    report = pipeline.process(change_item("e1", changed_at))
    assert report.outcome is Outcome.COVERED
    assert [r.id for r in pipeline.store.list_diagnoses()] == ["d"]


def test_diagnosis_that_cannot_run_is_reported_and_not_retried(make_pipeline) -> None:
    notify = Collect()
    pipeline = make_pipeline(notify=notify)
    missing = GATEWAY.replace("agw-contoso", "agw-gone")
    item = alert_item(alertTargetIDs=[missing.lower()])
    report = pipeline.process(item)
    assert report.outcome is Outcome.FAILED
    diagnose = next(s for s in report.stages if s.name == "diagnose")
    assert diagnose.status == "error" and diagnose.detail
    assert notify.reports == [report]
    assert pipeline.store.get_incident(missing, report.incident_id).report["outcome"] == "failed"
    assert pipeline.store.list_diagnoses() == []  # a failed run does not become the baseline
    assert pipeline.process(item).outcome is Outcome.DUPLICATE


def test_failing_stages_are_recorded_and_do_not_lose_the_record(make_pipeline) -> None:
    def broken(report: Report) -> StageResult:
        raise RuntimeError("webhook down")

    report = make_pipeline(remediate=broken, notify=broken).process(alert_item())
    stages = {s.name: s for s in report.stages}
    assert stages["remediate"].status == stages["notify"].status == "error"
    assert "webhook down" in stages["notify"].detail
    assert stages["record"].status == "ok"


class FailingOnce(SqliteBackend):
    """SQLite whose first write to one table fails, as a storage outage mid-way would."""

    def __init__(self, path, table: str) -> None:
        super().__init__(path)
        self.table = table

    def insert(self, table, partition, row, data):
        if table == self.table:
            self.table = ""
            raise OSError("storage unavailable")
        return super().insert(table, partition, row, data)


def test_processing_that_breaks_midway_is_retried_on_redelivery(world, tmp_path) -> None:
    store = StateStore(FailingOnce(tmp_path / "state.db", "diagnoses"))
    clients_for = clients_for_target(ArmTarget(world.endpoint, world.ca_cert), polling_interval=0.05)
    pipeline = Pipeline(store=store, clients_for=clients_for)
    with pytest.raises(OSError):
        pipeline.process(alert_item())
    assert store.current_lease(GATEWAY, now=datetime.now(timezone.utc)) is None
    retried = pipeline.process(alert_item())
    assert retried.outcome is Outcome.DIAGNOSED
    assert len(store.list_diagnoses()) == 1
    store.close()


def test_work_item_messages_round_trip_and_reject_strangers() -> None:
    for item in (
        alert_item(),
        change_item("e1", datetime(2026, 11, 23, 10, 40, tzinfo=timezone.utc)),
        WorkItem(kind=SWEEP, gateway_id=GATEWAY, sweep_id="s"),
    ):
        assert WorkItem.from_message(item.to_message()) == item
    for text in ("", "[]", '{"kind": "alert", "gatewayId": "' + GATEWAY + '"}', '{"kind": "x"}'):
        with pytest.raises(ValueError):
            WorkItem.from_message(text)
    assert replace(alert_item(), gateway_id=GATEWAY.upper()).dedupe_key == alert_item().dedupe_key


def hold_lease_then_release(store: StateStore, holder: str, after_seconds: float) -> threading.Event:
    """Another worker holds the gateway's lease for a moment; the event is set when it lets go."""
    lease = store.acquire_lease(
        GATEWAY, holder=holder, now=datetime.now(timezone.utc), ttl=timedelta(minutes=5)
    )
    released = threading.Event()

    def release() -> None:
        store.release_lease(lease)
        released.set()

    threading.Timer(after_seconds, release).start()
    return released


def test_resolved_waits_for_the_diagnosis_in_progress_then_closes(make_pipeline) -> None:
    pipeline = make_pipeline()
    now = datetime.now(timezone.utc)
    pipeline.store.create_incident(Incident("x", GATEWAY, IncidentStatus.OPEN, opened_at=now, updated_at=now))
    released = hold_lease_then_release(pipeline.store, "incident:x", 0.3)
    report = pipeline.process(alert_item(monitorCondition="Resolved"))
    assert released.is_set()
    assert (report.outcome, report.incident_id) == (Outcome.CLOSED, "x")
    assert pipeline.store.get_incident(GATEWAY, "x").status is IncidentStatus.CLOSED


def test_alert_waits_for_a_preventive_check_instead_of_joining_it(make_pipeline) -> None:
    pipeline = make_pipeline()
    released = hold_lease_then_release(pipeline.store, "check:sweep", 0.3)
    report = pipeline.process(alert_item())
    assert released.is_set()
    assert report.outcome is Outcome.DIAGNOSED


def test_resolved_without_an_open_incident_is_acknowledged(make_pipeline) -> None:
    report = make_pipeline().process(alert_item(monitorCondition="Resolved"))
    assert report.outcome is Outcome.NO_OPEN_INCIDENT and report.incident_id is None
