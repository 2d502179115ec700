"""The pipeline's remediate stage: the report's diagnosis -> `remediation.engine.Remediator` -> the
report's `remediation` (RemediationResult) and a stage result. The re-diagnosis that verifies a fix
is the same diagnosis, of the same gateway at the same incident time, run again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from appgw_doctor.pipeline import ALERT, ClientsFor, Report, StageResult
from core.arm_ids import subscription_of
from diagnostics.diagnosis import Diagnosis
from diagnostics.diagnosis import diagnose as diagnose_gateway
from model.findings import Finding
from model.remediation import ACTION_STATUSES
from remediation.engine import Remediator


class RemediateStage:
    def __init__(
        self,
        remediator: Remediator,
        clients_for: ClientsFor,
        *,
        diagnose: Callable[..., Diagnosis] = diagnose_gateway,
        diagnose_options: Mapping[str, Any] | None = None,
        requested: str | None = None,
        requested_actions: frozenset[str] | None = None,
    ) -> None:
        """`diagnose_options` (dns_servers, resolve_dns) as the pipeline diagnoses; `requested` and
        `requested_actions`: a person's explicit mode and actions (`appgw-doctor remediate`)."""
        self.remediator = remediator
        self._clients_for = clients_for
        self._diagnose = diagnose
        self._options = dict(diagnose_options or {})
        self._requested = requested
        self._requested_actions = requested_actions

    def __call__(self, report: Report) -> StageResult:
        diagnosis = report.diagnosis
        if diagnosis is None:
            return StageResult("remediate", "skipped", "no diagnosis to act on")
        gateway = report.item.gateway_id
        clients = self._clients_for(subscription_of(gateway))

        def rediagnose() -> list[Finding]:
            again = self._diagnose(
                gateway,
                clients=clients,
                incident_time=diagnosis.incident_time,
                **self._options,
            )
            return list(again.findings)

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
