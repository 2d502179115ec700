"""The notify stage inside the real pipeline: an alert diagnosed against the simulator reaches a real
local Teams webhook receiver and a real SMTP server; a failing channel is recorded on the incident and
does not block the other; a resolved alert sends the short resolution message."""

from __future__ import annotations

import email
import json
from email.policy import default as default_policy
from pathlib import Path

import pytest

from appgw_doctor.pipeline import Outcome, Pipeline, Report, Stage, StageResult
from appgw_doctor.wiring import clients_for_target, notify_stage
from core.azure_clients import ArmTarget
from core.settings import Settings
from intake.alerts import parse_alert_document
from model.remediation import ActionResult, Change, RemediationResult
from notifications.dispatch import RetryPolicy
from notifications.email import incident_message_id
from simulator import FaultRule
from state import StateStore
from state.sqlite import SqliteBackend

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "nsg-infra-ports-v2"


@pytest.fixture
def alert_document() -> dict:
    return json.loads((SCENARIO / "alert.json").read_text())


@pytest.fixture
def pipeline_with(simulator, tmp_path):
    stores: list[StateStore] = []

    def make(
        settings: dict[str, str], *, scenario: Path = SCENARIO, faults: tuple = (), **stages: Stage
    ) -> Pipeline:
        sim = simulator(scenario / "world.json", faults=list(faults))
        store = StateStore(SqliteBackend(tmp_path / "state.db"))
        stores.append(store)
        retry = RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.01, total_seconds=2)
        return Pipeline(
            store=store,
            clients_for=clients_for_target(ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=0.05),
            notify=notify_stage(Settings.from_env(settings), retry=retry),
            **stages,
        )

    yield make
    for store in stores:
        store.close()


def channels(webhook, smtp) -> dict[str, str]:
    return {
        "TEAMS_WEBHOOK_URL": webhook.url,
        "NOTIFY_EMAIL_TO": "oncall@contoso.com",
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_FROM": "appgw-doctor@contoso.com",
        "SMTP_STARTTLS": "never",
    }


def test_an_alert_reaches_teams_and_email_with_the_findings(
    pipeline_with, alert_document, webhook, smtp_server, card_validator
):
    pipeline = pipeline_with(channels(webhook, smtp_server))
    [item] = Pipeline.alert_items(parse_alert_document(alert_document, allowed_subscriptions=None))

    report = pipeline.process(item)

    assert report.outcome == Outcome.DIAGNOSED
    notify = next(stage for stage in report.stages if stage.name == "notify")
    assert notify.status == "ok", notify.detail
    [post] = webhook.posts
    payload = json.loads(post)
    card = payload["attachments"][0]["content"]
    card_validator.validate(card)
    titles = [finding["title"] for finding in report.findings]
    assert titles and all(title in post.decode() for title in titles)
    [(_, recipients, raw)] = smtp_server.handler.messages
    assert recipients == ["oncall@contoso.com"]
    message = email.message_from_bytes(raw, policy=default_policy)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "NSG_BLOCKS_INFRA_PORTS" in text or titles[0] in text
    assert "57" in text  # the alert's metric value


def test_a_failing_teams_webhook_is_recorded_and_email_still_goes(
    pipeline_with, alert_document, webhook, smtp_server
):
    webhook.script = [(500, {})] * 5
    pipeline = pipeline_with(channels(webhook, smtp_server))
    [item] = Pipeline.alert_items(parse_alert_document(alert_document, allowed_subscriptions=None))

    report = pipeline.process(item)

    notify = next(stage for stage in report.stages if stage.name == "notify")
    assert notify.status == "error"
    assert "teams: FAILED" in notify.detail and "email: delivered" in notify.detail
    assert len(smtp_server.handler.messages) == 1
    incident = pipeline.store.get_incident(item.gateway_id, report.incident_id)
    recorded = {stage["name"]: stage for stage in incident.report["stages"]}
    assert recorded["notify"]["status"] == "error" and "teams: FAILED" in recorded["notify"]["detail"]


def test_a_resolved_alert_sends_the_resolution(pipeline_with, alert_document, webhook, smtp_server):
    pipeline = pipeline_with(channels(webhook, smtp_server))
    [fired] = Pipeline.alert_items(parse_alert_document(alert_document, allowed_subscriptions=None))
    pipeline.process(fired)
    alert_document["data"]["essentials"]["monitorCondition"] = "Resolved"
    alert_document["data"]["essentials"]["resolvedDateTime"] = "2026-11-23T10:52:00Z"
    [resolved] = Pipeline.alert_items(parse_alert_document(alert_document, allowed_subscriptions=None))

    report = pipeline.process(resolved)

    assert report.outcome == Outcome.CLOSED
    assert len(webhook.posts) == 2
    assert "resolved" in webhook.posts[1].decode().lower()
    incident, resolution = (
        email.message_from_bytes(raw, policy=default_policy) for _, _, raw in smtp_server.handler.messages
    )
    assert resolution["Subject"].startswith("[RESOLVED]")
    # Mail clients thread the resolution under the incident email.
    assert incident["Message-ID"] == incident_message_id(report.incident_id)
    assert resolution["In-Reply-To"] == resolution["References"] == incident["Message-ID"]
    assert resolution["Message-ID"] != incident["Message-ID"]


def test_no_channel_configured_skips_with_a_reason(pipeline_with, alert_document):
    pipeline = pipeline_with({})
    [item] = Pipeline.alert_items(parse_alert_document(alert_document, allowed_subscriptions=None))

    report = pipeline.process(item)

    notify = next(stage for stage in report.stages if stage.name == "notify")
    assert (notify.status, notify.detail) == ("skipped", "no Teams webhook or email recipients configured")


def test_a_webhook_signature_stays_out_of_the_incident_record(pipeline_with, alert_document, closed_port):
    secret_url = (
        f"http://127.0.0.1:{closed_port}/workflows/abc/triggers/manual/paths/invoke"
        "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=TOPSECRETSIGNATURE"
    )
    pipeline = pipeline_with({"TEAMS_WEBHOOK_URL": secret_url})
    [item] = Pipeline.alert_items(parse_alert_document(alert_document, allowed_subscriptions=None))

    report = pipeline.process(item)

    notify = next(stage for stage in report.stages if stage.name == "notify")
    assert notify.status == "error" and "teams: FAILED" in notify.detail
    incident = pipeline.store.get_incident(item.gateway_id, report.incident_id)
    assert "TOPSECRETSIGNATURE" not in json.dumps(incident.report)
    assert "TOPSECRETSIGNATURE" not in json.dumps(report.to_dict())


def test_a_healthy_gateway_separates_checks_that_did_not_apply(pipeline_with, webhook, smtp_server):
    """The healthy scenario has no route table, no HTTPS settings, no FQDN members: those checks do not
    apply; they are not checks that could not run."""
    pipeline = pipeline_with(channels(webhook, smtp_server), scenario=ROOT / "scenarios" / "healthy")
    document = json.loads((ROOT / "scenarios" / "healthy" / "alert.json").read_text())
    [item] = Pipeline.alert_items(parse_alert_document(document, allowed_subscriptions=None))

    report = pipeline.process(item)

    assert any(check["status"] == "skipped" for check in report.checks)
    [(_, _, raw)] = smtp_server.handler.messages
    sent = email.message_from_bytes(raw, policy=default_policy)
    assert sent["Subject"] == "[WARNING] agw-contoso: no cause of 502s found"
    text = sent.get_body(preferencelist=("plain",)).get_content()
    assert "could not run" not in text
    assert "Not applicable to this gateway:" in text and "the gateway subnet has no route table" in text
    assert "Not applicable to this gateway" in webhook.posts[0].decode()


def test_a_gateway_that_cannot_be_read_is_reported_as_not_diagnosed(pipeline_with, alert_document, webhook):
    denied = FaultRule(
        operation="applicationGateways.get", kind="error", status=403, code="AuthorizationFailed"
    )
    pipeline = pipeline_with({"TEAMS_WEBHOOK_URL": webhook.url}, faults=[denied])
    [item] = Pipeline.alert_items(parse_alert_document(alert_document, allowed_subscriptions=None))

    report = pipeline.process(item)

    assert report.outcome == Outcome.FAILED
    [post] = webhook.posts
    card = json.loads(post)["attachments"][0]["content"]
    assert "could not be diagnosed — GatewayUnavailable" in card["fallbackText"]
    assert "AuthorizationFailed" in post.decode() and "Could not diagnose the gateway" in post.decode()
    assert "no cause" not in post.decode().lower()


def test_what_the_remediate_stage_did_reaches_the_card_and_the_email(
    pipeline_with, alert_document, webhook, smtp_server, card_validator
):
    """The remediate stage's result (Report.remediation) is in both channels: a verified fix and a
    rolled-back one, each with its status, change, command, verification and reason; the rollback
    makes the message critical and opens its headline."""

    def remediate(report: Report) -> StageResult:
        [finding] = [f for f in report.findings if f["code"] == "NSG_BLOCKS_INFRA_PORTS"][:1]
        nsg = finding["resource"].split("/securityRules/")[0]
        rule = Change(
            f"{nsg}/securityRules/allow-gm", None, {"priority": 90}, "add rule allow-gm (priority 90)"
        )
        report.remediation = RemediationResult(
            "auto",
            (
                ActionResult(
                    "add-nsg-allow-rule",
                    "NSG_BLOCKS_INFRA_PORTS",
                    nsg,
                    "rolled-back",
                    "NSG_BLOCKS_INFRA_PORTS still found after the change",
                    change=rule,
                    command="az network nsg rule create -n allow-gm --priority 90",
                    undo="az network nsg rule delete -n allow-gm",
                    verification="rule allow-gm deleted",
                ),
            ),
            "gateway tag appgw-doctor-remediation=auto",
        ).to_dict()
        return StageResult("remediate", "ok", "1 rolled back")

    pipeline = pipeline_with(channels(webhook, smtp_server), remediate=remediate)
    [item] = Pipeline.alert_items(parse_alert_document(alert_document, allowed_subscriptions=None))

    report = pipeline.process(item)

    notify = next(stage for stage in report.stages if stage.name == "notify")
    assert notify.status == "ok", notify.detail
    [post] = webhook.posts
    card = json.loads(post)["attachments"][0]["content"]
    card_validator.validate(card)
    posted = post.decode()
    assert card["body"][0]["style"] == "attention"
    for text in (
        "Rolled back",
        "add rule allow-gm (priority 90)",
        "az network nsg rule delete -n allow-gm",
        "rule allow-gm deleted",
        "Remediation: auto",
        "gateway tag appgw-doctor-remediation=auto",
    ):
        assert text in posted, text
    [(_, _, raw)] = smtp_server.handler.messages
    message = email.message_from_bytes(raw, policy=default_policy)
    assert " ".join(message["Subject"].split()).startswith(
        "[CRITICAL] agw-contoso: Fix rolled back on agw-contoso:"
    )
    lines = message.get_body(preferencelist=("plain",)).get_content().splitlines()
    assert "  ROLLED BACK — add-nsg-allow-rule for NSG_BLOCKS_INFRA_PORTS" in lines
    assert "    Undone with:      az network nsg rule delete -n allow-gm" in lines
