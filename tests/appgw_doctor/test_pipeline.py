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

from appgw_doctor.notify import message_for
from appgw_doctor.pipeline import (
    ALERT,
    CHANGE,
    SWEEP,
    Outcome,
    Pipeline,
    Report,
    StageResult,
    WorkItem,
)
from appgw_doctor.wiring import clients_for_target
from core.azure_clients import ArmTarget, make_clients
from diagnostics.diagnosis import diagnose
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
    """Turn the gateway subnet's AllowGatewayManager rule into a Deny, through the SDK (`world`: the
    simulator serving scenarios/healthy)."""
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
    fired = alert_item()
    pipeline.store.attach_alert("x", key=fired.dedupe_key, alert=fired.alert.to_dict(), at=now)
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


# --- incident lifecycle: expiry, early Resolved, failed diagnosis, which alerts a Resolved closes ---


def test_resolved_processed_before_its_fired_is_remembered(make_pipeline) -> None:
    notify = Collect()
    pipeline = make_pipeline(notify=notify)
    early = pipeline.process(alert_item(alertId="A", monitorCondition="Resolved"))
    assert early.outcome is Outcome.NO_OPEN_INCIDENT

    fired = pipeline.process(alert_item(alertId="A"))
    assert fired.outcome is Outcome.DIAGNOSED and notify.reports == [fired]  # diagnosed and reported
    incident = pipeline.store.get_incident(GATEWAY, fired.incident_id)
    assert (incident.status, incident.close_reason) == (IncidentStatus.CLOSED, "resolved-before-fired")
    assert "incident closed" in fired.stages[-1].detail

    later = pipeline.process(alert_item(alertId="B"))  # a new outage: not swallowed by A's incident
    assert later.outcome is Outcome.DIAGNOSED and later.incident_id != fired.incident_id


def test_an_open_incident_past_the_join_window_expires_and_a_new_one_is_diagnosed(make_pipeline) -> None:
    now = [datetime.now(timezone.utc)]
    pipeline = make_pipeline(join_window=timedelta(hours=3), clock=lambda: now[0])
    first = pipeline.process(alert_item(alertId="A"))  # its Resolved is lost
    soon = pipeline.process(alert_item(alertId="B"))
    assert (soon.outcome, soon.incident_id) == (Outcome.JOINED, first.incident_id)

    now[0] += timedelta(hours=4)
    later = pipeline.process(alert_item(alertId="C"))
    assert later.outcome is Outcome.DIAGNOSED and later.incident_id != first.incident_id
    expired = pipeline.store.get_incident(GATEWAY, first.incident_id)
    assert (expired.status, expired.close_reason) == (IncidentStatus.CLOSED, "expired")
    assert pipeline.store.open_incident(GATEWAY).id == later.incident_id


def test_an_alert_that_fired_long_after_the_open_incident_began_does_not_join_it(make_pipeline) -> None:
    pipeline = make_pipeline(join_window=timedelta(hours=3))
    first = pipeline.process(alert_item(alertId="A", firedDateTime="2026-11-01T10:00:00Z"))
    weeks_later = pipeline.process(alert_item(alertId="B", firedDateTime="2026-11-20T03:00:00Z"))
    assert weeks_later.outcome is Outcome.DIAGNOSED and weeks_later.incident_id != first.incident_id
    assert pipeline.store.get_incident(GATEWAY, first.incident_id).close_reason == "expired"


def test_a_failed_diagnosis_closes_its_incident_so_the_next_alert_diagnoses_again(
    world, make_pipeline
) -> None:
    from simulator import FaultRule

    notify = Collect()
    pipeline = make_pipeline(notify=notify)
    world.set_faults([FaultRule(operation="applicationGateways.get", kind="error", status=403)])
    failed = pipeline.process(alert_item(alertId="A"))
    assert failed.outcome is Outcome.FAILED and notify.reports == [failed]  # the report says why
    incident = pipeline.store.get_incident(GATEWAY, failed.incident_id)
    assert (incident.status, incident.close_reason) == (IncidentStatus.CLOSED, "diagnosis-failed")
    assert [s["name"] for s in incident.report["stages"]] == ["dedupe", "diagnose", "notify", "record"]

    world.set_faults([])
    again = pipeline.process(alert_item(alertId="B"))
    assert again.outcome is Outcome.DIAGNOSED and again.incident_id != failed.incident_id


def test_resolved_closes_only_the_incident_of_its_alert_once_every_alert_resolved(make_pipeline) -> None:
    notify = Collect()
    pipeline = make_pipeline(notify=notify)
    first = pipeline.process(alert_item(alertId="A", alertRule="appgw-5xx"))
    pipeline.process(alert_item(alertId="B", alertRule="unhealthy-hosts"))

    stranger = pipeline.process(alert_item(alertId="Z", monitorCondition="Resolved"))
    assert stranger.outcome is Outcome.NOT_ATTACHED and stranger.incident_id is None
    a_resolved = pipeline.process(alert_item(alertId="A", monitorCondition="Resolved"))
    assert (a_resolved.outcome, a_resolved.incident_id) == (Outcome.ALERT_RESOLVED, first.incident_id)
    assert pipeline.store.get_incident(GATEWAY, first.incident_id).status is IncidentStatus.OPEN

    b_resolved = pipeline.process(alert_item(alertId="B", monitorCondition="Resolved"))
    assert (b_resolved.outcome, b_resolved.incident_id) == (Outcome.CLOSED, first.incident_id)
    closed = pipeline.store.get_incident(GATEWAY, first.incident_id)
    assert (closed.status, closed.close_reason) == (IncidentStatus.CLOSED, "resolved")
    assert notify.reports[-1] is b_resolved and len(notify.reports) == 2  # diagnosis + resolution only


def test_an_early_resolved_of_a_joining_alert_counts_when_the_others_resolve(make_pipeline) -> None:
    pipeline = make_pipeline()
    first = pipeline.process(alert_item(alertId="A"))
    assert (
        pipeline.process(alert_item(alertId="B", monitorCondition="Resolved")).outcome is Outcome.NOT_ATTACHED
    )
    assert pipeline.process(alert_item(alertId="B")).outcome is Outcome.JOINED
    closing = pipeline.process(alert_item(alertId="A", monitorCondition="Resolved"))
    assert (closing.outcome, closing.incident_id) == (Outcome.CLOSED, first.incident_id)


# --- what is recorded: stages everywhere, bounded size, notify not repeated ---


def test_resolution_notify_result_is_recorded_on_the_closed_incident(make_pipeline) -> None:
    def refused(report: Report) -> StageResult:
        return StageResult("notify", "error", "teams: FAILED: HTTP 400")

    pipeline = make_pipeline(notify=refused)
    fired = pipeline.process(alert_item())
    pipeline.process(alert_item(monitorCondition="Resolved"))
    incident = pipeline.store.get_incident(GATEWAY, fired.incident_id)
    resolution = incident.report["resolution"]
    assert resolution["alert"]["monitorCondition"] == "Resolved"
    assert {"name": "notify", "status": "error", "detail": "teams: FAILED: HTTP 400"} in resolution["stages"]


def test_preventive_check_records_its_stages_and_names_the_diagnosis_it_notifies(
    make_pipeline, world
) -> None:
    notify = Collect()
    pipeline = make_pipeline(notify=notify)
    break_infra_ports(world)  # something new to report
    report = pipeline.process(WorkItem(kind=SWEEP, gateway_id=GATEWAY, sweep_id="s1"))
    record = pipeline.store.last_diagnosis(GATEWAY)
    assert report.diagnosis_id == record.id and notify.reports[0].diagnosis_id == record.id
    assert report.to_dict()["diagnosisId"] == record.id
    assert [s["name"] for s in record.stages] == ["dedupe", "diagnose", "remediate", "notify", "record"]
    assert record.stages[3] == {"name": "notify", "status": "ok", "detail": notify(report).detail}
    assert pipeline.store.list_diagnoses(GATEWAY)[0].stages == record.stages


def test_alert_diagnosis_id_is_set_before_notify(make_pipeline) -> None:
    seen: list[str | None] = []

    def notify(report: Report) -> StageResult:
        seen.append(report.diagnosis_id)
        return StageResult("notify", "ok", "sent")

    report = make_pipeline(notify=notify).process(alert_item())
    assert seen == [report.diagnosis_id] and report.diagnosis_id


def test_a_message_whose_delivery_could_not_be_recorded_is_sent_again_not_lost(world, tmp_path) -> None:
    """Storage fails right after the send: the outbox still says pending, so the redelivery sends
    again (at least once; exactly once needs the delivery recorded), and then it is done."""

    class FailingAfterNotify(SqliteBackend):
        """SQLite whose writes fail once the notification went out (a storage outage)."""

        broken = False

        def replace(self, table, partition, row, data, *, etag):
            if self.broken and table in ("incidents", "diagnoses", "deliveries"):
                raise OSError("storage unavailable")
            return super().replace(table, partition, row, data, etag=etag)

    backend = FailingAfterNotify(tmp_path / "state.db")
    store = StateStore(backend)
    sent: list[Report] = []

    def notify(report: Report) -> StageResult:
        sent.append(report)
        backend.broken = len(sent) == 1  # the first send only
        return StageResult("notify", "ok", "sent")

    clients_for = clients_for_target(ArmTarget(world.endpoint, world.ca_cert), polling_interval=0.05)
    pipeline = Pipeline(store=store, clients_for=clients_for, notify=notify)
    with pytest.raises(OSError):  # the delivery cannot be settled: the queue will redeliver
        pipeline.process(alert_item())
    assert len(sent) == 1
    backend.broken = False
    incident = store.open_incident(GATEWAY)
    assert incident.status is IncidentStatus.OPEN  # saved before the notification
    assert incident.pending() == ["incident"]
    redelivered = pipeline.process(alert_item())
    assert redelivered.outcome is Outcome.JOINED and len(sent) == 2
    assert sent[1].incident_id == incident.id and sent[1].findings == sent[0].findings
    assert store.open_incident(GATEWAY).pending() == []
    again = pipeline.process(alert_item())
    assert again.outcome is Outcome.DUPLICATE and len(sent) == 2
    store.close()


def test_a_notify_result_that_cannot_be_saved_is_reported_not_raised(world, tmp_path) -> None:
    class FailingUpdates(SqliteBackend):
        broken = False

        def replace(self, table, partition, row, data, *, etag):
            if self.broken and table in ("incidents", "diagnoses"):
                raise OSError("storage unavailable")
            return super().replace(table, partition, row, data, etag=etag)

    backend = FailingUpdates(tmp_path / "state.db")
    store = StateStore(backend)

    def notify(report: Report) -> StageResult:
        backend.broken = True
        return StageResult("notify", "ok", "sent")

    clients_for = clients_for_target(ArmTarget(world.endpoint, world.ca_cert), polling_interval=0.05)
    report = Pipeline(store=store, clients_for=clients_for, notify=notify).process(alert_item())
    assert report.outcome is Outcome.DIAGNOSED
    assert (report.stages[-1].name, report.stages[-1].status) == ("record", "error")
    assert "storage unavailable" in report.stages[-1].detail
    store.close()


# --- leases: renewed between stages; a worker whose lease was taken over stops before reporting ---


def test_a_worker_whose_lease_was_taken_over_stops_before_notifying(make_pipeline, world) -> None:

    notify = Collect()
    pipeline: Pipeline

    def slow_diagnose(gateway_id: str, **options):
        diagnosis = diagnose(gateway_id, **options)
        # meanwhile our lease expired and another worker took the gateway over (and our incident)
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        assert pipeline.store.acquire_lease(
            GATEWAY, holder="incident:other", now=later, ttl=timedelta(hours=2)
        )
        return diagnosis

    pipeline = make_pipeline(notify=notify, diagnose=slow_diagnose)
    report = pipeline.process(alert_item())
    assert report.outcome is Outcome.SUPERSEDED and notify.reports == []
    assert [s.name for s in report.stages] == ["dedupe", "diagnose", "record"]
    lease = pipeline.store.current_lease(GATEWAY, now=datetime.now(timezone.utc) + timedelta(hours=1))
    assert lease.holder == "incident:other"  # untouched: we did not release someone else's lease


def test_the_lease_is_renewed_between_stages(make_pipeline) -> None:
    ttl = timedelta(minutes=5)
    now = [datetime.now(timezone.utc)]
    leases: list[datetime] = []
    pipeline: Pipeline

    def notify(report: Report) -> StageResult:
        leases.append(pipeline.store.current_lease(GATEWAY, now=now[0]).expires_at)
        return StageResult("notify", "ok", "sent")

    def diagnose_for_four_minutes(gateway_id: str, **options):

        diagnosis = diagnose(gateway_id, **options)
        now[0] += timedelta(minutes=4)
        return diagnosis

    pipeline = make_pipeline(
        notify=notify, diagnose=diagnose_for_four_minutes, lease_ttl=ttl, clock=lambda: now[0]
    )
    started = now[0]
    report = pipeline.process(alert_item())
    assert report.outcome is Outcome.DIAGNOSED
    assert leases == [started + timedelta(minutes=4) + ttl]  # renewed after the diagnosis, not expired


def test_a_huge_report_is_stored_bounded_on_table_storage_and_notified_once(world, azurite) -> None:
    from dataclasses import replace as changed

    from model.findings import Finding, Fix, Severity
    from state.tables import TableBackend

    log = "The backend health status could not be retrieved. " * 6

    def with_many_findings(gateway_id: str, **options):
        diagnosis = diagnose(gateway_id, **options)
        many = [
            Finding(code="BACKEND_HEALTH_UNKNOWN", severity=Severity.WARNING if i else Severity.CRITICAL,
                    title=f"pool {i}", resource=f"{GATEWAY}/backendAddressPools/p{i}",
                    evidence={"pairs": [{"address": f"10.0.{i}.{j}", "log": log} for j in range(20)]},
                    fix=Fix(summary="x"))
            for i in range(60)
        ]  # fmt: skip
        return changed(diagnosis, findings=[*diagnosis.findings, *many])

    store = StateStore(
        TableBackend.from_connection_string(azurite.connection_string, prefix=azurite.unique_prefix())
    )
    notify = Collect()
    clients_for = clients_for_target(ArmTarget(world.endpoint, world.ca_cert), polling_interval=0.05)
    pipeline = Pipeline(store=store, clients_for=clients_for, diagnose=with_many_findings, notify=notify)
    report = pipeline.process(alert_item())
    assert report.outcome is Outcome.DIAGNOSED and len(notify.reports) == 1
    assert len(report.findings) >= 60 and report.stages[-1].status == "ok"

    stored = store.get_incident(GATEWAY, report.incident_id).report
    assert stored["truncated"] and stored["findingsOmitted"] > 0
    assert len(stored["findings"]) + stored["findingsOmitted"] == len(report.findings)
    assert stored["findings"][0]["severity"] == "critical" and "reportedFindings" not in stored
    # The message says the record keeps only the most severe instead of promising the full list.
    assert message_for(report).findings_not_recorded == stored["findingsOmitted"]
    record = store.last_diagnosis(GATEWAY)
    assert record.findings_omitted == stored["findingsOmitted"]
    assert record.finding_keys == {(f["code"], f["resource"].lower()) for f in report.findings}
    store.close()


def test_a_whole_vnet_write_queues_a_check_of_the_gateways_in_it(make_pipeline, world) -> None:
    pipeline = make_pipeline()
    pipeline.process(WorkItem(kind=SWEEP, gateway_id=GATEWAY, sweep_id="s1"))
    subnet = pipeline.store.last_diagnosis(GATEWAY).watched_resources[0]
    vnet = subnet[: subnet.lower().rindex("/subnets/")]
    change = ResourceChange("e-vnet", vnet.upper(), "Microsoft.Network/virtualNetworks/write", None)
    assert [item.gateway_id for item in pipeline.change_items(change)] == [GATEWAY]


def test_an_incident_whose_alert_resolved_first_stays_open_for_an_alert_that_joined_it(make_pipeline) -> None:
    pipeline: Pipeline
    joined: list[Report] = []

    def diagnose_while_b_arrives(gateway_id: str, **options):

        joined.append(pipeline.process(alert_item(alertId="B")))  # B arrives during A's diagnosis
        return diagnose(gateway_id, **options)

    pipeline = make_pipeline(diagnose=diagnose_while_b_arrives)
    pipeline.process(alert_item(alertId="A", monitorCondition="Resolved"))
    first = pipeline.process(alert_item(alertId="A"))
    assert (joined[0].outcome, joined[0].incident_id) == (Outcome.JOINED, first.incident_id)
    assert pipeline.store.get_incident(GATEWAY, first.incident_id).status is IncidentStatus.OPEN
    assert "incident closed" not in first.stages[-1].detail
    closing = pipeline.process(alert_item(alertId="B", monitorCondition="Resolved"))
    assert (closing.outcome, closing.incident_id) == (Outcome.CLOSED, first.incident_id)
