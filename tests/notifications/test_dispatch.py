"""Delivery against a real local webhook receiver and a real SMTP server: retries, Retry-After,
bounded time, independent channels, results for the incident record, and the outbox."""

from __future__ import annotations

import email
import json
from email.policy import default as default_policy

import pytest
from aiosmtpd.smtp import AuthResult

from model.findings import Severity
from notifications.content import build_message, build_resolution_message
from notifications.dispatch import DeliveryResult, RetryPolicy, notify, redact
from notifications.email import SmtpSettings
from notifications.routing import EmailTarget, TeamsTarget

SUB = "00000000-0000-0000-0000-000000000001"
GATEWAY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/agw-contoso"
)


class RecordedSleep:
    """Stands in for time.sleep so tests check the waits asked for without spending them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def policy(sleep: RecordedSleep) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=4, initial_wait=0.5, max_wait=8, total_seconds=60, http_timeout=5, sleep=sleep
    )


@pytest.fixture
def message(findings, checks, alert_data):
    return build_message(
        GATEWAY_ID, incident_id="inc/2026-11-23 10:27", findings=findings, checks=checks, alert=alert_data
    )


def email_target(server, **changes) -> EmailTarget:
    smtp = SmtpSettings(host=server.host, port=server.port, sender="doctor@contoso.com", timeout=5)
    return EmailTarget(("oncall@contoso.com",), smtp, **changes)


def test_posts_the_card_and_sends_the_email(message, webhook, smtp_server, policy) -> None:
    results = notify(
        message, [TeamsTarget(webhook.url + "?sig=SECRET"), email_target(smtp_server)], retry=policy
    )
    assert results == [
        DeliveryResult("teams", webhook.url, ok=True, attempts=1),
        DeliveryResult("email", "oncall@contoso.com", ok=True, attempts=1),
    ]
    [posted] = webhook.posts
    payload = json.loads(posted)
    assert payload["type"] == "message"
    assert payload["attachments"][0]["content"]["type"] == "AdaptiveCard"
    [(_, _, raw)] = smtp_server.handler.messages
    assert email.message_from_bytes(raw, policy=default_policy)["Subject"] == message.subject


def test_retries_429_honouring_retry_after_then_5xx_with_backoff(message, webhook, policy, sleep) -> None:
    webhook.script = [(429, {"Retry-After": "3"}), (503, {}), (500, {})]
    [result] = notify(message, [TeamsTarget(webhook.url)], retry=policy)
    assert result.ok and result.attempts == 4
    assert len(webhook.posts) == 4 and len(set(webhook.posts)) == 1  # the same card each time
    assert sleep.waits[0] == 3  # as the server asked
    assert sleep.waits[1:] == sorted(sleep.waits[1:]) and all(
        0 < w <= policy.max_wait for w in sleep.waits[1:]
    )


def test_gives_up_after_max_attempts_and_reports_why(message, webhook, policy) -> None:
    webhook.script = [(500, {})] * 10
    [result] = notify(message, [TeamsTarget(webhook.url)], retry=policy)
    assert not result.ok and result.attempts == policy.max_attempts == len(webhook.posts)
    assert result.error.startswith("HTTP 500: ") and result.error.endswith("gave up after 4 attempts")


def test_retry_after_beyond_the_time_budget_gives_up_at_once(message, webhook, policy, sleep) -> None:
    webhook.script = [(429, {"Retry-After": "3600"})]
    [result] = notify(message, [TeamsTarget(webhook.url)], retry=policy)
    assert not result.ok and result.attempts == 1 and sleep.waits == []
    assert "(Retry-After 3600s)" in result.error


def test_permanent_client_errors_are_not_retried(message, webhook, policy) -> None:
    webhook.script = [(400, {}), (202, {})]
    [result] = notify(message, [TeamsTarget(webhook.url)], retry=policy)
    assert not result.ok and result.attempts == 1 and len(webhook.posts) == 1
    assert "HTTP 400" in result.error and "scripted 400" in result.error


def test_smtp_down_does_not_block_teams(message, webhook, policy, closed_port) -> None:
    dead = EmailTarget(
        ("oncall@contoso.com",), SmtpSettings(host="127.0.0.1", port=closed_port, sender="a@b")
    )
    teams, mail = notify(message, [TeamsTarget(webhook.url), dead], retry=policy)
    assert teams.ok and len(webhook.posts) == 1
    assert not mail.ok and mail.attempts == policy.max_attempts
    assert "ConnectionRefusedError" in mail.error


def test_teams_failing_does_not_block_email(message, webhook, smtp_server, policy) -> None:
    webhook.script = [(500, {})] * 10
    teams, mail = notify(message, [TeamsTarget(webhook.url), email_target(smtp_server)], retry=policy)
    assert not teams.ok and mail.ok
    assert len(smtp_server.handler.messages) == 1


def test_smtp_permanent_refusal_is_not_retried(message, smtp_factory, recording_handler, policy) -> None:
    class RefusingRecipients(recording_handler):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
            return "550 5.1.1 mailbox unavailable"

    refusing = smtp_factory(RefusingRecipients())
    [result] = notify(message, [email_target(refusing)], retry=policy)
    assert not result.ok and result.attempts == 1
    assert result.error == "recipients refused: oncall@contoso.com"


def test_smtp_transient_refusal_is_retried(message, smtp_factory, recording_handler, policy) -> None:
    class BusyOnce(recording_handler):
        refused = False

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
            if not self.refused:
                self.refused = True
                return "451 4.3.0 try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    busy = smtp_factory(BusyOnce())
    [result] = notify(message, [email_target(busy)], retry=policy)
    assert result.ok and result.attempts == 2 and len(busy.handler.messages) == 1


def test_threshold_filters_channels(message, webhook, smtp_server, policy) -> None:
    info_only = build_message(GATEWAY_ID, incident_id="sweep", findings=[])
    targets = [
        TeamsTarget(webhook.url, Severity.WARNING),
        email_target(smtp_server, min_severity=Severity.INFO),
    ]
    results = notify(info_only, targets, retry=policy)
    assert [r.channel for r in results] == ["email"] and webhook.posts == []


def test_outbox_writes_card_and_eml_instead_of_sending(message, webhook, tmp_path, card_validator) -> None:
    results = notify(message, [TeamsTarget(webhook.url)], outbox_dir=tmp_path / "outbox")
    assert webhook.posts == []
    card_file, eml_file = (
        (tmp_path / "outbox" / "inc_2026-11-23_10_27-teams.json"),
        (tmp_path / "outbox" / "inc_2026-11-23_10_27-email.eml"),
    )
    assert [r.target for r in results] == [str(card_file), str(eml_file)] and all(r.ok for r in results)
    card_validator.validate(json.loads(card_file.read_bytes())["attachments"][0]["content"])
    parsed = email.message_from_bytes(eml_file.read_bytes(), policy=default_policy)
    assert parsed["Subject"] == message.subject and parsed["To"] == "on-call@localhost"
    resolved = build_resolution_message(
        GATEWAY_ID, incident_id="inc/2026-11-23 10:27", incident_level=Severity.CRITICAL
    )
    notify(resolved, [], outbox_dir=tmp_path / "outbox")
    assert (tmp_path / "outbox" / "inc_2026-11-23_10_27-resolved-teams.json").exists()


def test_a_connection_error_never_carries_the_webhook_signature(message, policy, closed_port) -> None:
    url = (
        f"http://127.0.0.1:{closed_port}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SECRET"
    )
    [result] = notify(message, [TeamsTarget(url)], retry=policy)
    assert not result.ok and "ConnectionError" in result.error
    assert "SECRET" not in result.error and "api-version" not in result.error
    assert "/workflows/abc/triggers/manual/paths/invoke?[query redacted]" in result.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Max retries exceeded with url: /paths/invoke?api-version=2016-06-01&sig=S3CR3T (Caused by X)",
            "Max retries exceeded with url: /paths/invoke?[query redacted] (Caused by X)",
        ),
        ("Invalid URL 'https://h/p?sig=S3CR3T&x=1'", "Invalid URL 'https://h/p?[query redacted]'"),
        ("signature in a body: sig=S3CR3T&sv=1", "signature in a body: sig=[redacted]&sv=1"),
        ("url-encoded: %3Fsig%3DS3CR3T", "url-encoded: %3Fsig%3D[redacted]"),
        ("HTTP 500: is it down? yes", "HTTP 500: is it down? yes"),
    ],
)
def test_redact_removes_query_strings_and_signatures(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("username", "starttls", "reason"),
    [
        ("u", "auto", "not sending the SMTP password in clear text (set SMTP_STARTTLS=never to allow it)"),
        (None, "always", "does not offer STARTTLS (SMTP_STARTTLS=always)"),
    ],
)
def test_a_server_without_tls_when_tls_is_needed_is_a_permanent_failure(
    message, smtp_factory, policy, username, starttls, reason
) -> None:
    server = smtp_factory(authenticator=lambda *args: AuthResult(success=True), auth_require_tls=False)
    smtp = SmtpSettings(
        host=server.host, port=server.port, sender="a@b", username=username, password="p", starttls=starttls
    )
    [result] = notify(message, [EmailTarget(("oncall@contoso.com",), smtp)], retry=policy)
    assert not result.ok and result.attempts == 1
    assert result.error.endswith(reason)
    assert server.handler.messages == []
