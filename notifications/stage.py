"""The pipeline's notify stage: turn a pipeline Report into the incident message, route it by app
settings and gateway tags, deliver it, and say how that went in the stage result that the pipeline
records on the incident (a failed channel is recorded, never raised)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from diagnostics.findings import CheckResult, CheckStatus, Finding, Severity
from notifications.content import IncidentMessage, build_message, build_resolution_message
from notifications.dispatch import DeliveryResult, RetryPolicy, notify
from notifications.routing import targets_for

if TYPE_CHECKING:
    from appgw_doctor.pipeline import Report, StageResult

RECORD_URL_SETTING = "INCIDENT_URL_TEMPLATE"  # e.g. https://ops.contoso.com/incidents/{incident_id}


class NotifyStage:
    """`Stage` for appgw_doctor.pipeline.Pipeline. `settings` are the app settings (os.environ);
    with `outbox_dir` messages are written there instead of sent (CLI `--outbox`, the demo)."""

    def __init__(
        self,
        settings: Mapping[str, str],
        *,
        outbox_dir: str | Path | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = dict(settings)
        self._outbox_dir = outbox_dir
        self._retry = retry

    def __call__(self, report: Report) -> StageResult:
        from appgw_doctor.pipeline import StageResult

        message = message_for(report, record_url_template=self._settings.get(RECORD_URL_SETTING))
        targets = targets_for(self._settings, report.gateway_tags)
        if not targets and self._outbox_dir is None:
            return StageResult("notify", "skipped", "no Teams webhook or email recipients configured")
        results = notify(message, targets, outbox_dir=self._outbox_dir, retry=self._retry)
        if not results:
            level = message.level.value
            return StageResult("notify", "skipped", f"a {level} message is below every channel's threshold")
        failed = [result for result in results if not result.ok]
        verb = "written to" if self._outbox_dir is not None else "delivered to"
        detail = "; ".join(_describe(result, verb) for result in results)
        return StageResult("notify", "error" if failed else "ok", detail)


def message_for(report: Report, *, record_url_template: str | None = None) -> IncidentMessage:
    """The message a report calls for: a resolution, or the incident with what is new to tell."""
    from appgw_doctor.pipeline import Outcome

    alert = report.item.alert
    incident_id = report.incident_id or f"{report.item.kind}-check"
    record_url = record_url_template.format(incident_id=incident_id) if record_url_template else None
    alert_data = alert.common_schema_data() if alert is not None else None
    if report.outcome == Outcome.CLOSED:
        severities = [Severity(f["severity"]) for f in report.findings]
        return build_resolution_message(
            report.item.gateway_id,
            incident_id=incident_id,
            alert=alert_data,
            resolved_at=alert.resolved_at if alert is not None else None,
            incident_level=min(severities, key=lambda s: s.rank) if severities else Severity.CRITICAL,
            record_url=record_url,
        )
    checks = [CheckResult.from_dict(check) for check in report.checks]
    if report.outcome == Outcome.FAILED:  # say that the diagnosis itself could not run, and why
        reason = next((stage.detail for stage in report.stages if stage.name == "diagnose"), "")
        checks.append(CheckResult(name="diagnosis", status=CheckStatus.ERROR, reason=reason))
    return build_message(
        report.item.gateway_id,
        incident_id=incident_id,
        findings=[Finding.from_dict(finding) for finding in report.reported],
        checks=checks,
        alert=alert_data,
        record_url=record_url,
    )


def _describe(result: DeliveryResult, verb: str) -> str:
    if result.ok:
        return f"{result.channel}: {verb} {result.target}"
    return f"{result.channel}: FAILED after {result.attempts} attempt(s) to {result.target}: {result.error}"
