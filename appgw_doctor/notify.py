"""The pipeline's notify stage: turn a pipeline Report into its message (`message_for`) and hand it to
the notifications package, which routes it by the notification settings and the gateway's tags and
delivers it; the outcome becomes the stage result the pipeline records on the incident.

`approval_message_for` is the follow-up once a person decided about a planned fix (mode `approve`):
the same `IncidentMessage`, delivered by the same `Notifier` with the gateway's tags, so it reaches
the channels that got the request."""

from __future__ import annotations

import logging

from appgw_doctor.pipeline import ALERT, Outcome, Report, StageResult
from model.findings import CheckResult, Finding
from model.remediation import ActionResult, Approval, ApprovalLink, RemediationResult
from notifications.content import (
    ChangeFacts,
    IncidentMessage,
    build_approval_message,
    build_message,
    build_resolution_message,
    message_level,
)
from notifications.delivery import Notifier
from remediation.desk import Notify
from state import StateStore
from state.bounds import bounded_findings

log = logging.getLogger("appgw_doctor.notify")


class NotifyStage:
    """`Stage` for the pipeline: the report's message, delivered by `notifier`; `record_url_template`
    (INCIDENT_URL_TEMPLATE) links the message to the incident record."""

    def __init__(self, notifier: Notifier, *, record_url_template: str | None = None) -> None:
        self._notifier = notifier
        self._record_url_template = record_url_template

    def __call__(self, report: Report) -> StageResult:
        message = message_for(report, record_url_template=self._record_url_template)
        delivery = self._notifier.deliver(
            message, report.gateway_tags, skip=report.delivered, on_delivered=report.on_delivered
        )
        return StageResult("notify", delivery.status, delivery.detail)


def message_for(report: Report, *, record_url_template: str | None = None) -> IncidentMessage:
    """The message a report calls for: a resolution, or the incident (or preventive finding) with what
    is new to tell. It is named by the incident, else by the diagnosis that produced it; only an
    incident has a record to link to. The change that started a change item names who made it
    (`ResourceChange.caller` -> `ChangeFacts.caller`); a finding's changes are timed against the
    alert, else the diagnosis' incident time. What the remediate stage did (`report.remediation`, a
    `RemediationResult.to_dict()`) is shown action by action, with its mode and note; a fix rolled
    back or failed makes the message critical."""
    item = report.item
    alert = item.alert
    incident_id = report.incident_id
    record_url = (
        record_url_template.format(incident_id=incident_id) if record_url_template and incident_id else None
    )
    alert_data = alert.common_schema_data() if alert is not None else None
    findings = [Finding.from_dict(finding) for finding in report.findings]
    checks = [CheckResult.from_dict(check) for check in report.checks]
    remediation = RemediationResult.from_dict(report.remediation) if report.remediation else None
    actions = remediation.actions if remediation else ()
    if report.outcome == Outcome.CLOSED and incident_id:
        return build_resolution_message(
            item.gateway_id,
            incident_id=incident_id,
            # The level the incident's own message had, so the resolution reaches the same channels.
            incident_level=message_level(findings, checks, alerted=True, actions=actions),
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
        diagnosis_id=report.diagnosis_id,
        findings=[Finding.from_dict(finding) for finding in report.reported],
        checks=checks,
        alert=alert_data,
        change=(
            ChangeFacts(
                change.resource_id,
                change.operation,
                change.event_time.isoformat() if change.event_time else None,
                caller=change.caller,
            )
            if change is not None
            else None
        ),
        new_only=item.kind != ALERT,
        diagnosis_error=diagnosis_error,
        actions=actions,
        remediation_mode=remediation.mode if remediation else None,
        remediation_note=remediation.note if remediation else None,
        record_url=record_url,
        findings_not_recorded=bounded_findings(report.findings)[1],  # as Report.to_record stores them
        # What a finding's changes are timed against when no alert fired ("2 h before this check").
        checked_at=report.diagnosis.incident_time if report.diagnosis is not None else None,
    )


def approval_message_for(
    approval: Approval,
    *,
    decision: str,
    approver: str,
    result: ActionResult | None = None,
    note: str | None = None,
    new_link: ApprovalLink | None = None,
    record_url_template: str | None = None,
) -> IncidentMessage:
    """The follow-up to a decision about `approval` (`notifications.content.build_approval_message`),
    linked to its incident's record by INCIDENT_URL_TEMPLATE like the incident's own message."""
    incident_id = approval.incident_id
    record_url = (
        record_url_template.format(incident_id=incident_id) if record_url_template and incident_id else None
    )
    return build_approval_message(
        approval,
        decision=decision,
        approver=approver,
        result=result,
        note=note,
        new_link=new_link,
        record_url=record_url,
    )


def approval_follow_up(
    notifier: Notifier, store: StateStore, *, record_url_template: str | None = None
) -> Notify:
    """The desk's `notify`: the follow-up message after a decision, routed by the gateway's tags as
    the incident's message recorded them, delivered (or written to the outbox) by `notifier`."""

    def send(
        approval: Approval,
        decision: str,
        who: str,
        result: ActionResult | None,
        message: str,
        new_link: ApprovalLink | None,
    ) -> None:
        kind = "re-planned" if new_link is not None else decision
        tags: dict[str, str] = {}
        if approval.incident_id:
            incident = store.get_incident(approval.gateway_id, approval.incident_id)
            tags = dict(((incident.report if incident else None) or {}).get("gatewayTags") or {})
        follow_up = approval_message_for(
            approval,
            decision=kind,
            approver=who,
            result=result,
            note=message if result is None else None,
            new_link=new_link,
            record_url_template=record_url_template,
        )
        delivery = notifier.deliver(follow_up, tags)
        log.info("approval %s follow-up: %s %s", approval.id, delivery.status, delivery.detail)

    return send
