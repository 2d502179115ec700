"""The pipeline's remediate stage: the report's diagnosis -> `remediation.engine.Remediator` -> the
report's `remediation` (RemediationResult) and a stage result. The re-diagnosis that verifies a fix
(or re-validates an approved plan) is the same diagnosis of the same gateway at the same incident
time, run again (`rediagnose_with`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from appgw_doctor.pipeline import ALERT, ClientsFor, Report, StageResult
from core.arm_ids import subscription_of
from core.azure_clients import AzureClients
from diagnostics.diagnosis import diagnose
from model.findings import Finding
from model.remediation import ACTION_STATUSES
from remediation.engine import Rediagnose, Remediator

RediagnoseFor = Callable[[str, AzureClients, datetime | None], Rediagnose]


def rediagnose_with(
    dns_servers: Mapping[str, tuple[str, int]] | None, resolve_dns: bool | None
) -> RediagnoseFor:
    """`(gateway, clients, incident_time) -> findings()`: the gateway diagnosed now, its metrics at
    the incident time, as the pipeline diagnoses — without the Activity Log (only the findings
    decide whether a fix healed; the changes were read by the diagnosis that planned it)."""

    def rediagnose_for(gateway: str, clients: AzureClients, incident_time: datetime | None) -> Rediagnose:
        def findings() -> list[Finding]:
            diagnosis = diagnose(
                gateway,
                clients=clients,
                incident_time=incident_time,
                dns_servers=dns_servers,
                resolve_dns=resolve_dns,
                lookback=timedelta(0),
            )
            return list(diagnosis.findings)

        return findings

    return rediagnose_for


class RemediateStage:
    def __init__(
        self,
        remediator: Remediator,
        clients_for: ClientsFor,
        rediagnose_for: RediagnoseFor,
        *,
        requested: str | None = None,
        requested_actions: frozenset[str] | None = None,
    ) -> None:
        """`rediagnose_for`: see `rediagnose_with`; `requested` and `requested_actions`: a person's
        explicit mode and actions (`appgw-doctor remediate`)."""
        self.remediator = remediator
        self._clients_for = clients_for
        self._rediagnose_for = rediagnose_for
        self._requested = requested
        self._requested_actions = requested_actions

    def __call__(self, report: Report) -> StageResult:
        diagnosis = report.diagnosis
        if diagnosis is None:
            return StageResult("remediate", "skipped", "no diagnosis to act on")
        gateway = report.item.gateway_id
        clients = self._clients_for(subscription_of(gateway))
        rediagnose = self._rediagnose_for(gateway, clients, diagnosis.incident_time)
        result = self.remediator.run(
            gateway_id=gateway,
            incident_id=report.incident_id,
            findings=list(diagnosis.findings),
            tags=report.gateway_tags,
            clients=clients,
            rediagnose=rediagnose,
            alerted=report.item.kind == ALERT or self._requested is not None,
            requested=self._requested,
            requested_actions=self._requested_actions,
            manual=self._requested is not None,
            incident_time=diagnosis.incident_time,
        )
        report.remediation = result.to_dict()
        if result.mode == "off" and not result.actions:
            return StageResult(
                "remediate",
                "skipped",
                result.note or "the gateway has not opted in (tag appgw-doctor-remediation)",
            )
        counts = {status: sum(1 for a in result.actions if a.status == status) for status in ACTION_STATUSES}
        detail = f"mode {result.mode}: " + (
            ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "nothing to do"
        )
        return StageResult("remediate", "ok", detail)
