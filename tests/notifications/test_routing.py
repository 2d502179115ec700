"""Routing: app settings give the default channels, gateway tags override them, thresholds filter."""

from __future__ import annotations

import logging

import pytest

from model.findings import Finding, Severity
from model.remediation import ActionResult
from notifications.content import build_message, build_resolution_message
from notifications.routing import (
    ChannelProblem,
    EmailTarget,
    RoutingError,
    TeamsTarget,
    parse_recipients,
    route,
    should_send,
    targets_for,
)

SUB = "00000000-0000-0000-0000-000000000001"
GATEWAY_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/agw"
DEFAULT_HOOK = (
    "https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=SECRET"
)
PAYMENTS_HOOK = (
    "https://prod-02.westeurope.logic.azure.com/workflows/def/triggers/manual/paths/invoke?sig=OTHER"
)
SETTINGS = {
    "TEAMS_WEBHOOK_URL": DEFAULT_HOOK,
    "TEAMS_WEBHOOK_URL_PAYMENTS_TEAM": PAYMENTS_HOOK,
    "NOTIFY_EMAIL_TO": "oncall@contoso.com; net@contoso.com,oncall@contoso.com",
    "SMTP_HOST": "smtp.office365.com",
    "SMTP_USERNAME": "doctor@contoso.com",
    "SMTP_PASSWORD": "pw",
    "SMTP_FROM": "doctor@contoso.com",
    "EMAIL_MIN_SEVERITY": "critical",
}


def message_at(severity: Severity):
    finding = Finding("CODE", severity, "title", GATEWAY_ID)
    return build_message(GATEWAY_ID, incident_id="i", findings=[finding])


def test_defaults_from_app_settings() -> None:
    teams, mail = targets_for(SETTINGS, {})
    assert teams == TeamsTarget(DEFAULT_HOOK, Severity.INFO)
    assert isinstance(mail, EmailTarget)
    assert mail.recipients == ("oncall@contoso.com", "net@contoso.com")
    assert mail.min_severity is Severity.CRITICAL
    assert (mail.smtp.host, mail.smtp.port, mail.smtp.starttls) == ("smtp.office365.com", 587, "auto")
    assert (mail.smtp.username, mail.smtp.password) == ("doctor@contoso.com", "pw")


def test_nothing_configured_means_no_channel() -> None:
    assert targets_for({}, {"appgw-doctor-email-to": "none"}) == []


def test_tags_pick_a_named_webhook_recipients_and_threshold() -> None:
    tags = {
        "AppGW-Doctor-Teams-Channel": "payments-team",  # Azure tag names are case-insensitive
        "appgw-doctor-email-to": "payments-oncall@contoso.com",
        "appgw-doctor-min-severity": "Warning",
    }
    teams, mail = targets_for(SETTINGS, tags)
    assert teams == TeamsTarget(PAYMENTS_HOOK, Severity.WARNING)
    assert mail.recipients == ("payments-oncall@contoso.com",) and mail.min_severity is Severity.WARNING


def test_tags_can_turn_a_channel_off() -> None:
    [mail] = targets_for(SETTINGS, {"appgw-doctor-teams-channel": "none"})
    assert isinstance(mail, EmailTarget)
    [teams] = targets_for(SETTINGS, {"appgw-doctor-email-to": "NONE"})
    assert isinstance(teams, TeamsTarget)


def test_a_bad_tag_falls_back_to_defaults_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="notifications.routing"):
        teams, mail = targets_for(
            SETTINGS, {"appgw-doctor-teams-channel": "nosuch", "appgw-doctor-min-severity": "sev1"}
        )
    assert teams == TeamsTarget(DEFAULT_HOOK, Severity.INFO)
    assert mail.min_severity is Severity.CRITICAL
    assert "names no TEAMS_WEBHOOK_URL_NOSUCH setting" in caplog.text
    assert "'sev1' is not critical, warning or info" in caplog.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"SMTP_HOST": ""}, "SMTP_HOST is not"),
        ({"SMTP_FROM": " "}, "SMTP_FROM is not"),
        ({"SMTP_PORT": "five"}, "SMTP_PORT must be a port number, not 'five'"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT must be a port number"),
        ({"SMTP_STARTTLS": "maybe"}, "SMTP_STARTTLS must be auto, always or never"),
        ({"TEAMS_MIN_SEVERITY": "loud"}, "TEAMS_MIN_SEVERITY must be critical, warning or info, not 'loud'"),
    ],
)
def test_malformed_settings_are_one_line_errors(change: dict[str, str], error: str) -> None:
    with pytest.raises(RoutingError, match=error):
        targets_for({**SETTINGS, **change}, {})


def test_starttls_setting_accepts_booleans() -> None:
    [_, mail] = targets_for({**SETTINGS, "SMTP_STARTTLS": "true", "SMTP_PORT": "2525"}, {})
    assert (mail.smtp.starttls, mail.smtp.port) == ("always", 2525)
    [_, mail] = targets_for({**SETTINGS, "SMTP_STARTTLS": "False"}, {})
    assert mail.smtp.starttls == "never"


@pytest.mark.parametrize(
    ("level", "threshold", "sent"),
    [
        (Severity.CRITICAL, Severity.CRITICAL, True),
        (Severity.WARNING, Severity.CRITICAL, False),
        (Severity.WARNING, Severity.WARNING, True),
        (Severity.INFO, Severity.WARNING, False),
        (Severity.INFO, Severity.INFO, True),
    ],
)
def test_threshold(level: Severity, threshold: Severity, sent: bool) -> None:
    assert should_send(message_at(level), TeamsTarget("https://x", threshold)) is sent


def test_resolution_follows_its_incident() -> None:
    target = TeamsTarget("https://x", Severity.CRITICAL)
    quiet = build_resolution_message(GATEWAY_ID, incident_id="i", incident_level=Severity.WARNING)
    loud = build_resolution_message(GATEWAY_ID, incident_id="i", incident_level=Severity.CRITICAL)
    assert not should_send(quiet, target) and should_send(loud, target)


@pytest.mark.parametrize("status", ["rolled-back", "failed"])
def test_a_fix_rolled_back_or_failed_reaches_critical_only_channels(status: str) -> None:
    """A sweep's info note alone goes nowhere a critical threshold guards; with a fix that did not
    hold it reaches every channel."""
    note = Finding("CUSTOM_DNS_UNVERIFIED", Severity.INFO, "DNS not checked", GATEWAY_ID)
    fix = ActionResult("raise-request-timeout", "REQUEST_TIMEOUT_TOO_LOW", GATEWAY_ID, status, "why")
    target = TeamsTarget("https://x", Severity.CRITICAL)
    quiet = build_message(GATEWAY_ID, diagnosis_id="d", findings=[note])
    loud = build_message(GATEWAY_ID, diagnosis_id="d", findings=[note], actions=[fix])
    assert not should_send(quiet, target) and should_send(loud, target)


def test_webhook_signature_stays_out_of_labels_and_reprs() -> None:
    target = TeamsTarget(DEFAULT_HOOK)
    assert "SECRET" not in target.label and "SECRET" not in repr(target)
    assert target.label.endswith("/triggers/manual/paths/invoke")


def test_parse_recipients() -> None:
    assert parse_recipients(" a@x ,b@x;  c@x a@x ") == ("a@x", "b@x", "c@x")
    assert parse_recipients("") == ()


def test_route_keeps_the_good_channel_and_reports_the_bad_one() -> None:
    routing = route({**SETTINGS, "SMTP_FROM": "", "TEAMS_MIN_SEVERITY": "warning"}, {})
    assert routing.targets == [TeamsTarget(DEFAULT_HOOK, Severity.WARNING)]
    assert routing.problems == [
        ChannelProblem(
            "email", "oncall@contoso.com, net@contoso.com", "email recipients are set but SMTP_FROM is not"
        )
    ]
    routing = route({**SETTINGS, "TEAMS_MIN_SEVERITY": "loud"}, {})
    assert [target.channel for target in routing.targets] == ["email"]
    [problem] = routing.problems
    assert (
        problem.channel == "teams"
        and "SECRET" not in problem.target
        and "TEAMS_MIN_SEVERITY" in problem.reason
    )


def test_an_email_tag_on_a_gateway_without_smtp_settings_is_an_email_problem_only() -> None:
    routing = route({"TEAMS_WEBHOOK_URL": DEFAULT_HOOK}, {"appgw-doctor-email-to": "payments@contoso.com"})
    assert routing.targets == [TeamsTarget(DEFAULT_HOOK)]
    assert [(p.channel, p.target) for p in routing.problems] == [("email", "payments@contoso.com")]


def test_an_email_tag_that_holds_no_address_falls_back_to_the_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="notifications.routing"):
        [_, mail] = targets_for(SETTINGS, {"appgw-doctor-email-to": "payments oncall"})
    assert mail.recipients == ("oncall@contoso.com", "net@contoso.com")
    assert "'payments', 'oncall', not an email address" in caplog.text


def test_settings_that_are_not_addresses_or_urls_are_channel_problems() -> None:
    routing = route(
        {**SETTINGS, "NOTIFY_EMAIL_TO": "oncall", "TEAMS_WEBHOOK_URL": "prod-01.logic.azure.com/x?sig=S"}
    )
    assert routing.targets == []
    reasons = {p.channel: p.reason for p in routing.problems}
    assert reasons["email"] == "NOTIFY_EMAIL_TO holds 'oncall', which is not an email address"
    assert (
        reasons["teams"].startswith("the Teams webhook must be an https:// URL")
        and "sig=S" not in reasons["teams"]
    )
