"""The notify stage on pipeline reports built by hand: each channel is routed on its own (a broken
email setting never silences Teams), secrets stay out of what is recorded, the resolution follows its
incident's level, and a failed diagnosis or a preventive check is worded for what it is."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email.policy import default as default_policy
from pathlib import Path
from types import SimpleNamespace

import pytest

from appgw_doctor.notify import approval_message_for, message_for
from appgw_doctor.pipeline import ALERT, CHANGE, SWEEP, Outcome, Report, StageResult, WorkItem
from appgw_doctor.wiring import notify_stage
from core.settings import Settings
from intake.alerts import parse_alert_document
from intake.events import ResourceChange
from model.remediation import ActionResult, Approval, ApprovalLink, Change, RemediationResult
from notifications.delivery import Notifier
from notifications.dispatch import RetryPolicy

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
GATEWAY_ID = f"{RG}/applicationGateways/agw-contoso"
NSG_ID = f"{RG}/networkSecurityGroups/nsg-agw"
RETRY = RetryPolicy(max_attempts=1, initial_wait=0.01, max_wait=0.01, total_seconds=2, http_timeout=5)
CRITICAL_FINDING = {
    "code": "NSG_BLOCKS_INFRA_PORTS",
    "severity": "critical",
    "title": "NSG nsg-agw blocks GatewayManager on 65200-65535",
    "resource": f"{NSG_ID}/securityRules/deny-all",
    "evidence": {"priority": 100},
    "fix": {"action": None, "summary": "Allow GatewayManager.", "command": None},
}
INFO_FINDING = {
    "code": "CUSTOM_DNS_UNVERIFIED",
    "severity": "info",
    "title": "Custom DNS servers could not be checked",
    "resource": GATEWAY_ID,
    "evidence": {},
    "fix": {"action": None, "summary": "Check the DNS servers.", "command": None},
}


def alert_report(outcome: Outcome = Outcome.DIAGNOSED, *, resolved: bool = False, **fields) -> Report:
    document = json.loads((ROOT / "scenarios" / "healthy" / "alert.json").read_text())
    if resolved:
        document["data"]["essentials"]["monitorCondition"] = "Resolved"
        document["data"]["essentials"]["resolvedDateTime"] = "2026-11-23T10:52:00Z"
    [alert] = parse_alert_document(document, allowed_subscriptions=None)
    item = WorkItem(kind=ALERT, gateway_id=alert.gateway_id, alert=alert)
    return Report(item=item, outcome=outcome, incident_id="inc-1", **fields)


def change_report(event_id: str = "ev-1") -> Report:
    change = ResourceChange(
        event_id=event_id,
        resource_id=NSG_ID,
        operation="Microsoft.Network/networkSecurityGroups/securityRules/write",
        event_time=None,
    )
    item = WorkItem(kind=CHANGE, gateway_id=GATEWAY_ID, change=change)
    finding = dict(CRITICAL_FINDING)
    return Report(item=item, outcome=Outcome.DIAGNOSED, findings=[finding], reported=[finding])


def smtp_channel(server) -> dict[str, str]:
    return {
        "NOTIFY_EMAIL_TO": "oncall@contoso.com",
        "SMTP_HOST": server.host,
        "SMTP_PORT": str(server.port),
        "SMTP_FROM": "doctor@contoso.com",
        "SMTP_STARTTLS": "never",
    }


@pytest.mark.parametrize(
    ("settings", "tags", "reason"),
    [
        ({"NOTIFY_EMAIL_TO": "a@contoso.com", "SMTP_HOST": "127.0.0.1"}, {}, "SMTP_FROM is not"),
        (
            {
                "NOTIFY_EMAIL_TO": "a@contoso.com",
                "SMTP_HOST": "h",
                "SMTP_FROM": "d@c",
                "EMAIL_MIN_SEVERITY": "warn",
            },
            {},
            "EMAIL_MIN_SEVERITY must be critical, warning or info, not 'warn'",
        ),
        ({}, {"appgw-doctor-email-to": "payments@contoso.com"}, "SMTP_HOST is not"),
    ],
)
def test_a_misconfigured_email_channel_does_not_cut_off_teams(webhook, settings, tags, reason) -> None:
    report = alert_report(findings=[CRITICAL_FINDING], reported=[CRITICAL_FINDING], gateway_tags=tags)

    result = stage_for({"TEAMS_WEBHOOK_URL": webhook.url, **settings}, retry=RETRY)(report)

    assert len(webhook.posts) == 1
    assert result.status == "error"
    assert f"teams: delivered to {webhook.url}" in result.detail
    assert "email: FAILED (not configured)" in result.detail and reason in result.detail


def test_a_misconfigured_teams_channel_does_not_cut_off_email(smtp_server) -> None:
    settings = {"TEAMS_WEBHOOK_URL": "https://x.example/hook?sig=S", "TEAMS_MIN_SEVERITY": "loud"}
    report = alert_report(findings=[CRITICAL_FINDING], reported=[CRITICAL_FINDING])

    result = stage_for({**settings, **smtp_channel(smtp_server)}, retry=RETRY)(report)

    assert len(smtp_server.handler.messages) == 1
    assert result.status == "error" and "email: delivered to oncall@contoso.com" in result.detail
    assert "teams: FAILED (not configured)" in result.detail and "TEAMS_MIN_SEVERITY" in result.detail
    assert "sig=S" not in result.detail


def test_a_webhook_signature_never_reaches_the_stage_detail(closed_port) -> None:
    url = (
        f"http://127.0.0.1:{closed_port}/workflows/abc/triggers/manual/paths/invoke"
        "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=TOPSECRETSIGNATURE"
    )
    report = alert_report(findings=[CRITICAL_FINDING], reported=[CRITICAL_FINDING])

    result = stage_for({"TEAMS_WEBHOOK_URL": url}, retry=RETRY)(report)

    assert result.status == "error" and "ConnectionError" in result.detail
    assert "TOPSECRETSIGNATURE" not in result.detail and "api-version" not in result.detail


@pytest.mark.parametrize(
    ("recorded", "teams_threshold", "posted"),
    [
        ([], "critical", False),  # the incident was a warning: the critical-only channel never got it
        ([], "warning", True),
        ([CRITICAL_FINDING], "critical", True),
        ([INFO_FINDING], "critical", False),
    ],
)
def test_the_resolution_reaches_the_channels_the_incident_reached(
    webhook, recorded, teams_threshold, posted
) -> None:
    incident = alert_report(findings=recorded, reported=recorded)
    resolution = alert_report(Outcome.CLOSED, resolved=True, findings=recorded)
    stage = stage_for({"TEAMS_WEBHOOK_URL": webhook.url, "TEAMS_MIN_SEVERITY": teams_threshold}, retry=RETRY)

    incident_result = stage(incident)
    resolution_result = stage(resolution)

    incident_posted = len(webhook.posts) >= 1
    assert incident_posted is posted, incident_result.detail
    assert len(webhook.posts) == (2 if posted else 0), resolution_result.detail
    if posted:
        assert "RESOLVED" in webhook.posts[1].decode()


def test_a_failed_diagnosis_says_the_gateway_could_not_be_diagnosed_and_why() -> None:
    reason = (
        "GatewayUnavailable: 403 AuthorizationFailed: The client 'x' does not have authorization to perform "
        "action 'Microsoft.Network/applicationGateways/read'"
    )
    report = alert_report(Outcome.FAILED)
    report.stages.append(StageResult("diagnose", "error", reason))

    message = message_for(report)

    assert message.headline.startswith("could not be diagnosed — GatewayUnavailable: 403 AuthorizationFailed")
    assert "no cause" not in message.headline and "no cause" not in message.summary
    assert message.diagnosis_error == reason
    assert message.level.value == "warning"


def test_a_change_is_announced_as_the_change_with_its_own_id_and_no_incident_link(tmp_path) -> None:
    first, second = change_report("ev-1"), change_report("ev-2")
    first.diagnosis_id = "diag-1"  # set by the pipeline before notify; a fresh id without it
    template = "https://ops.example.com/incidents/{incident_id}"

    message = message_for(first, record_url_template=template)

    assert message.subject.startswith(
        "[CRITICAL] agw-contoso: NSG nsg-agw was changed: 1 new cause of 502s — NSG nsg-agw blocks"
    )
    assert message.summary == "NSG nsg-agw was changed."
    assert ("Changed", "NSG nsg-agw (Microsoft.Network/networkSecurityGroups/securityRules/write)") in (
        message.facts()
    )
    assert (message.message_id, message.incident_id, message.record_url) == ("diag-1", None, None)
    assert ("Diagnosis", "diag-1") in message.facts() and "change-check" not in str(message.facts())
    stage = stage_for({}, outbox_dir=tmp_path)
    stage(first)
    stage(second)
    assert len(list(tmp_path.glob("*-email.eml"))) == 2  # one file per preventive message
    parsed = email.message_from_bytes((tmp_path / "diag-1-email.eml").read_bytes(), policy=default_policy)
    assert parsed["X-AppGW-Doctor-Diagnosis"] == "diag-1" and parsed["X-AppGW-Doctor-Incident"] is None


def test_a_sweep_says_it_was_a_scheduled_check_of_new_findings() -> None:
    report = Report(
        item=WorkItem(kind=SWEEP, gateway_id=GATEWAY_ID, sweep_id="s-1"),
        outcome=Outcome.DIAGNOSED,
        findings=[CRITICAL_FINDING],
        reported=[CRITICAL_FINDING],
    )
    message = message_for(report, record_url_template="https://ops.example.com/incidents/{incident_id}")
    assert message.headline.startswith("scheduled check: 1 new cause of 502s — ")
    assert message.summary == "A scheduled check ran."
    assert message.record_url is None and message.incident_id is None and message.message_id


def stage_for(settings: dict[str, str], **options):
    """The notify stage as the composition root builds it from these app settings."""
    return notify_stage(Settings.from_env(settings), **options)


SYMPTOM_FINDING = {
    "code": "ALL_BACKENDS_UNHEALTHY",
    "severity": "critical",
    "title": "Every server of backend pool web-pool is unhealthy (2 for settings web-settings)",
    "resource": f"{GATEWAY_ID}/backendAddressPools/web-pool",
    "evidence": {
        "pairs": [
            {
                "pool": "web-pool",
                "settings": "web-settings",
                "servers": [
                    {"address": "10.1.1.4", "health": "unhealthy", "healthProbeLog": "Cannot connect."}
                ],
            }
        ]
    },
    "fix": {"action": None, "summary": "The other findings say why.", "command": None},
}


def test_an_alert_names_the_root_cause_not_the_symptom_it_explains() -> None:
    recorded = [SYMPTOM_FINDING, CRITICAL_FINDING]  # as recorded: the symptom first
    message = message_for(alert_report(findings=recorded, reported=recorded))
    assert message.headline == "1 cause of 502s — NSG nsg-agw blocks GatewayManager on 65200-65535"
    assert [f.code for f in message.findings] == ["NSG_BLOCKS_INFRA_PORTS", "ALL_BACKENDS_UNHEALTHY"]
    assert message.findings[1].evidence == (
        ("Pool", "web-pool"),
        ("Settings", "web-settings"),
        ("Servers", "10.1.1.4 (unhealthy)"),
        ("Probe log", "Cannot connect."),
    )


def test_an_alert_with_only_a_symptom_says_no_cause_was_found() -> None:
    message = message_for(alert_report(findings=[SYMPTOM_FINDING], reported=[SYMPTOM_FINDING]))
    assert message.headline == (
        "Every server of backend pool web-pool is unhealthy (2 for settings web-settings); "
        "no cause found — see the probe log"
    )
    assert message.level.value == "critical" and message.causes == ()


SETTINGS_ID = f"{GATEWAY_ID}/backendHttpSettingsCollection/web_settings"
TIMEOUT_CHANGE = Change(
    SETTINGS_ID,
    {"requestTimeout": 20},
    {"requestTimeout": 60},
    "requestTimeout 20 s -> 60 s on settings web_settings",
)


def timeout_action(status: str, reason: str = "", verification: str | None = None) -> ActionResult:
    return ActionResult(
        "raise-request-timeout",
        "REQUEST_TIMEOUT_TOO_LOW",
        SETTINGS_ID,
        status,
        reason,
        change=TIMEOUT_CHANGE,
        command="az network application-gateway http-settings update -n web_settings --timeout 60",
        undo="az network application-gateway http-settings update -n web_settings --timeout 20",
        verification=verification,
    )


def test_the_remediation_on_the_report_becomes_the_messages_actions_mode_and_note() -> None:
    result = RemediationResult(
        "dry-run",
        (timeout_action("planned", "dry-run: the gateway asks for plans only"),),
        "gateway tag appgw-doctor-remediation=dry-run",
    )
    report = alert_report(
        findings=[CRITICAL_FINDING], reported=[CRITICAL_FINDING], remediation=result.to_dict()
    )

    message = message_for(report)

    assert message.actions == result.actions
    assert (message.remediation_mode, message.remediation_note) == ("dry-run", result.note)
    assert message_for(alert_report(findings=[CRITICAL_FINDING], reported=[CRITICAL_FINDING])).actions == ()


def test_a_rollback_on_the_report_is_a_critical_message_that_reaches_a_critical_only_channel(webhook) -> None:
    rolled_back = timeout_action(
        "rolled-back", "502s continued after the change", "requestTimeout is back to 20 s"
    )
    remediation = RemediationResult("auto", (rolled_back,)).to_dict()
    report = alert_report(findings=[INFO_FINDING], reported=[INFO_FINDING], remediation=remediation)

    message = message_for(report)

    assert message.level.value == "critical"
    assert message.headline.startswith(
        "Fix rolled back on agw-contoso: requestTimeout 20 s -> 60 s on settings web_settings; "
    )
    stage = stage_for({"TEAMS_WEBHOOK_URL": webhook.url, "TEAMS_MIN_SEVERITY": "critical"}, retry=RETRY)
    result = stage(report)
    [post] = webhook.posts
    assert result.status == "ok", result.detail
    assert "Rolled back" in post.decode() and "502s continued after the change" in post.decode()
    # Its resolution follows it to the critical-only channel.
    resolution = alert_report(Outcome.CLOSED, resolved=True, findings=[INFO_FINDING], remediation=remediation)
    assert message_for(resolution).level.value == "critical"


def test_a_verified_fix_is_named_in_the_headline() -> None:
    verified = timeout_action("verified", verification="REQUEST_TIMEOUT_TOO_LOW is gone")
    report = alert_report(
        findings=[CRITICAL_FINDING],
        reported=[CRITICAL_FINDING],
        remediation=RemediationResult("auto", (verified,)).to_dict(),
    )
    message = message_for(report)
    assert message.headline == (
        "1 cause of 502s — NSG nsg-agw blocks GatewayManager on 65200-65535; "
        "fixed: requestTimeout 20 s -> 60 s on settings web_settings"
    )
    assert message.summary.endswith(
        "The fix raise-request-timeout for REQUEST_TIMEOUT_TOO_LOW is verified: "
        "REQUEST_TIMEOUT_TOO_LOW is gone."
    )


def test_a_pending_approval_on_the_report_reads_as_awaiting_and_counts_in_the_headline() -> None:
    link = ApprovalLink("ap-1", "https://doctor.example/api/approvals/ap-1?t=tok", "2026-11-25T11:27:00Z")
    waiting = ActionResult(
        "raise-request-timeout",
        "REQUEST_TIMEOUT_TOO_LOW",
        SETTINGS_ID,
        "planned",
        "awaiting approval until 11:27 UTC",
        change=TIMEOUT_CHANGE,
        command="az network application-gateway http-settings update -n web_settings --timeout 60",
        approval=link,
    )
    report = alert_report(
        findings=[CRITICAL_FINDING],
        reported=[CRITICAL_FINDING],
        remediation=RemediationResult("approve", (waiting,)).to_dict(),
    )
    message = message_for(report)
    assert message.headline.endswith("; 1 fix awaits approval")
    assert message.actions == (waiting,) and message.remediation_mode == "approve"


def test_an_approval_follow_up_is_delivered_by_the_same_notifier_to_the_incidents_channels(webhook) -> None:
    approval = Approval(
        id="ap-1",
        gateway_id=GATEWAY_ID,
        incident_id="inc-1",
        finding=CRITICAL_FINDING,
        action="raise-request-timeout",
        resource=SETTINGS_ID,
        change=TIMEOUT_CHANGE,
        command="az network application-gateway http-settings update -n web_settings --timeout 60",
        undo="az network application-gateway http-settings update -n web_settings --timeout 20",
        etag="e",
        digest="d",
        requested_by="appgw-doctor, alert appgw-5xx (incident inc-1)",
        created_at=datetime(2026, 11, 25, 10, 27, tzinfo=UTC),
        expires_at=datetime(2026, 11, 25, 11, 27, tzinfo=UTC),
        state="approved",
        decided_by="alice@contoso.com",
        decided_at=datetime(2026, 11, 25, 10, 41, tzinfo=UTC),
    )
    message = approval_message_for(
        approval,
        decision="approved",
        approver="alice@contoso.com",
        result=timeout_action("verified", verification="REQUEST_TIMEOUT_TOO_LOW is gone"),
        record_url_template="https://records.example/incidents/{incident_id}",
    )
    assert message.headline == (
        "Approved by alice@contoso.com: requestTimeout 20 s -> 60 s on settings web_settings — "
        "fixed and verified"
    )
    assert message.record_url == "https://records.example/incidents/inc-1"
    settings = Settings.from_env({"TEAMS_WEBHOOK_URL": webhook.url, "TEAMS_MIN_SEVERITY": "critical"})
    delivery = Notifier(settings.notifications, retry=RETRY).deliver(message, {})
    assert delivery.status == "ok", delivery.detail
    [post] = webhook.posts
    assert "Approved by alice@contoso.com" in post.decode() and "Fixed and verified" in post.decode()


def test_a_change_event_names_who_made_it_and_the_message_says_whose_edit_it_was() -> None:
    report = change_report("ev-who")
    change = ResourceChange(
        event_id="ev-who",
        resource_id=NSG_ID,
        operation="Microsoft.Network/networkSecurityGroups/securityRules/write",
        event_time=datetime(2026, 11, 23, 10, 21, tzinfo=UTC),
        caller="alice@contoso.com",
    )
    report.item = WorkItem(kind=CHANGE, gateway_id=GATEWAY_ID, change=change)
    message = message_for(report)
    assert message.headline == (
        "alice@contoso.com's edit of NSG nsg-agw at 10:21 UTC: NSG nsg-agw blocks GatewayManager on "
        "65200-65535 — 502s will follow"
    )
    assert message.change is not None and message.change.caller == "alice@contoso.com"
    assert ("Changed by", "alice@contoso.com") in message.facts()
    assert message.summary == "NSG nsg-agw was changed at 2026-11-23T10:21:00+00:00 by alice@contoso.com."
    # The item's queue message carries the caller, so a worker that reads it back says the same.
    again = WorkItem.from_message(report.item.to_message())
    assert again.change == report.item.change


def test_the_top_causes_change_leads_and_is_timed_against_the_alert_or_the_diagnosis() -> None:
    change = {
        "time": "2026-11-23T10:21:00+00:00",
        "resource": f"{NSG_ID}/securityRules/deny-all",
        "operation": "Microsoft.Network/networkSecurityGroups/securityRules/write",
        "caller": "bob@contoso.com",
        "status": "Succeeded",
        "source": "activity-log",
        "summary": "Rule deny-all added to NSG nsg-agw",
        "undo": "az network nsg rule delete -g rg-contoso-web --nsg-name nsg-agw -n deny-all",
        "client": "Portal",
    }
    finding = dict(CRITICAL_FINDING, changes=[change])
    alerted = message_for(alert_report(findings=[finding], reported=[finding]))
    fired = alerted.alert.fired_at
    assert alerted.culprit is not None and alerted.culprit.undo == change["undo"]
    assert "Rule deny-all added to NSG nsg-agw, " in alerted.headline
    assert "the alert by bob@contoso.com (Portal): NSG nsg-agw blocks" in alerted.headline, fired
    assert alerted.culprit.change.when.endswith(" before the alert")
    # A change item: timed against the diagnosis' incident time, "this check".
    report = change_report("ev-2")
    report.reported = [finding]
    report.diagnosis = SimpleNamespace(incident_time=datetime(2026, 11, 23, 12, 21, tzinfo=UTC))
    checked = message_for(report)
    assert checked.culprit is not None
    assert checked.culprit.change.when == "2 h before this check"
