"""The pipeline's notify stage: turn a pipeline Report into its message, route it by app settings and
gateway tags, deliver it, and say how that went in the stage result that the pipeline records on the
incident. A failed or misconfigured channel is recorded, never raised, and never stops the others."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from diagnostics.findings import CheckResult, Finding
from notifications.content import (
    ChangeFacts,
    IncidentMessage,
    build_message,
    build_resolution_message,
    message_level,
)
from notifications.dispatch import DeliveryResult, RetryPolicy, notify, redact
from notifications.routing import ChannelProblem, route

if TYPE_CHECKING:
    from appgw_doctor.pipeline import Report, StageResult

log = logging.getLogger(__name__)

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

        try:
            return self._notify(report)
        except Exception as error:  # recorded on the incident, without any secret the text may hold
            log.exception("notify stage failed")
            return StageResult("notify", "error", redact(f"{type(error).__name__}: {error}")[:500])

    def _notify(self, report: Report) -> StageResult:
        from appgw_doctor.pipeline import StageResult

        message = message_for(report, record_url_template=self._settings.get(RECORD_URL_SETTING))
        routing = route(self._settings, report.gateway_tags)
        if not routing.targets and not routing.problems and self._outbox_dir is None:
            return StageResult("notify", "skipped", "no Teams webhook or email recipients configured")
        results = notify(message, routing.targets, outbox_dir=self._outbox_dir, retry=self._retry)
        results += [_unconfigured(problem) for problem in routing.problems]
        if not results:
            level = message.level.value
            return StageResult("notify", "skipped", f"a {level} message is below every channel's threshold")
        failed = [result for result in results if not result.ok]
        verb = "written to" if self._outbox_dir is not None else "delivered to"
        detail = "; ".join(_describe(result, verb) for result in results)
        return StageResult("notify", "error" if failed else "ok", detail)


def message_for(report: Report, *, record_url_template: str | None = None) -> IncidentMessage:
    """The message a report calls for: a resolution, or the incident (or preventive finding) with what
    is new to tell. It is named by the incident, else by the diagnosis that produced it; only an
    incident has a record to link to."""
    from appgw_doctor.pipeline import ALERT, Outcome

    item = report.item
    alert = item.alert
    incident_id = report.incident_id
    record_url = (
        record_url_template.format(incident_id=incident_id) if record_url_template and incident_id else None
    )
    alert_data = alert.common_schema_data() if alert is not None else None
    findings = [Finding.from_dict(finding) for finding in report.findings]
    checks = [CheckResult.from_dict(check) for check in report.checks]
    if report.outcome == Outcome.CLOSED and incident_id:
        return build_resolution_message(
            item.gateway_id,
            incident_id=incident_id,
            # The level the incident's own message had, so the resolution reaches the same channels.
            incident_level=message_level(findings, checks, alerted=True),
            alert=alert_data,
            resolved_at=alert.resolved_at if alert is not None else None,
            record_url=record_url,
        )
    diagnosis_error = None
    if report.outcome == Outcome.FAILED:
        diagnosis_error = (
            next(
                (
                    stage.detail
                    for stage in report.stages
                    if stage.name == "diagnose" and stage.status == "error"
                ),
                "",
            )
            or "the diagnosis failed without a reason"
        )
    change = item.change
    return build_message(
        item.gateway_id,
        incident_id=incident_id,
        diagnosis_id=getattr(report, "diagnosis_id", None),  # absent on older pipelines: a fresh id
        findings=[Finding.from_dict(finding) for finding in report.reported],
        checks=checks,
        alert=alert_data,
        change=(
            ChangeFacts(
                change.resource_id,
                change.operation,
                change.event_time.isoformat() if change.event_time else None,
            )
            if change is not None
            else None
        ),
        new_only=item.kind != ALERT,
        diagnosis_error=diagnosis_error,
        record_url=record_url,
    )


def _unconfigured(problem: ChannelProblem) -> DeliveryResult:
    return DeliveryResult(problem.channel, problem.target, ok=False, attempts=0, error=problem.reason)


def _describe(result: DeliveryResult, verb: str) -> str:
    if result.ok:
        return f"{result.channel}: {verb} {result.target}"
    if result.attempts == 0:
        return f"{result.channel}: FAILED (not configured) for {result.target}: {result.error}"
    return f"{result.channel}: FAILED after {result.attempts} attempt(s) to {result.target}: {result.error}"
