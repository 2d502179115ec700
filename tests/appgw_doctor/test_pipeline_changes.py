"""The pipeline and "what changed?" (issue 14): a healthy diagnosis stores the path's configuration
as the gateway's last healthy one, a later one's report carries the diff as top-level `changes`, and
the Activity Log's events of the bot's own writes are labelled `appgw-doctor`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from appgw_doctor.pipeline import SWEEP, Outcome, Report, WorkItem
from diagnostics.changes import attach
from diagnostics.diagnosis import diagnose
from model.changes import ACTIVITY_LOG, APPGW_DOCTOR, LAST_HEALTHY_DIFF, PathChange
from model.remediation import AuditEntry
from state.last_healthy import LastHealthyStore
from state.remediation import RemediationLedger
from tests.appgw_doctor import test_pipeline as base
from tests.appgw_doctor.test_pipeline import GATEWAY, NSG, alert_item, break_infra_ports

# the pipeline tests' fixtures: a simulator of the healthy world, pipelines on a SQLite state store
world, make_pipeline = base.world, base.make_pipeline

RULE = f"{NSG}/securityRules/AllowGatewayManager"


def sweep(sweep_id: str) -> WorkItem:
    return WorkItem(kind=SWEEP, gateway_id=GATEWAY, sweep_id=sweep_id)


def test_a_healthy_diagnosis_is_kept_and_a_later_incident_reports_what_changed_since(make_pipeline, world):
    pipeline = make_pipeline()
    first = pipeline.process(sweep("s1"))
    assert first.outcome is Outcome.DIAGNOSED and first.diagnosis is not None and first.diagnosis.healthy
    stored = LastHealthyStore.for_store(pipeline.store).get(GATEWAY)
    assert stored is not None and stored["resources"][0]["kind"] == "gateway"

    break_infra_ports(world)  # AllowGatewayManager turned into a Deny
    report = pipeline.process(alert_item())
    assert report.outcome is Outcome.DIAGNOSED
    document = report.to_dict()
    diffs = [c for c in document["changes"] if c["source"] == LAST_HEALTHY_DIFF]
    assert [c["summary"] for c in diffs] == [
        "access of security rule AllowGatewayManager changed Allow -> Deny"
    ]
    (access,) = diffs
    assert access["resource"] == RULE and access["since"]
    assert access["undo"] == (
        "az network nsg rule update -g rg-contoso-web --nsg-name nsg-contoso-appgw -n AllowGatewayManager "
        "--access Allow"
    )
    blocking = next(f for f in document["findings"] if f["code"] == "NSG_BLOCKS_INFRA_PORTS")
    assert access in blocking["changes"]
    # the unhealthy diagnosis did not replace the last healthy configuration
    assert LastHealthyStore.for_store(pipeline.store).get(GATEWAY) == stored
    # the record of the incident keeps the changes too
    incident = pipeline.store.get_incident(GATEWAY, report.incident_id)
    assert incident.report["changes"] == document["changes"]
    assert Report.from_record(incident.report).changes == document["changes"]


def test_the_bots_own_write_is_labelled_appgw_doctor(make_pipeline):
    written = datetime(2026, 11, 23, 10, 20, tzinfo=timezone.utc)
    ours = PathChange(
        time=written + timedelta(seconds=20), resource=RULE,
        operation="Microsoft.Network/networkSecurityGroups/securityRules/write", caller="app 1234",
        status="Succeeded", source=ACTIVITY_LOG, summary="security rule written by app 1234",
    )  # fmt: skip
    theirs = replace(ours, time=written - timedelta(hours=1), caller="alice@contoso.com", summary="alice's")

    def with_changes(gateway_id: str, **options):
        diagnosis = diagnose(gateway_id, **options)
        changes = [ours, theirs]
        return replace(diagnosis, changes=changes, findings=attach(diagnosis.findings, changes))

    pipeline = make_pipeline(diagnose=with_changes)
    RemediationLedger.for_store(pipeline.store).audit(
        AuditEntry(
            id="e1", at=written, gateway_id=GATEWAY, incident_id=None, finding="NSG_BLOCKS_INFRA_PORTS",
            action="nsg-allow-infra-ports", mode="auto", step="apply", outcome="applied", resource=RULE,
        )
    )  # fmt: skip
    report = pipeline.process(sweep("s2"))
    assert [(c["caller"], c["source"]) for c in report.changes] == [
        ("app 1234", APPGW_DOCTOR),
        ("alice@contoso.com", ACTIVITY_LOG),
    ]
