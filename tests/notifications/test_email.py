"""The email: multipart/alternative with the same content in both parts, sent to a real SMTP server."""

from __future__ import annotations

import email
import html
import re
import ssl
from email.policy import default as default_policy

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from notifications.content import ActionStatus, build_message, build_resolution_message
from notifications.email import SmtpSecurityError, SmtpSettings, build_email, render_text, send_email

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
GATEWAY_ID = f"{RG}/applicationGateways/agw-contoso"


def parts(raw: bytes) -> tuple[email.message.EmailMessage, str, str]:
    """The parsed message, its plain text, and its HTML reduced to visible text."""
    parsed = email.message_from_bytes(raw, policy=default_policy)
    plain = parsed.get_body(preferencelist=("plain",)).get_content()
    markup = parsed.get_body(preferencelist=("html",)).get_content()
    visible = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())
    return parsed, plain, visible


@pytest.fixture
def message(findings, checks, alert_data):
    return build_message(
        GATEWAY_ID,
        incident_id="inc-20261123-1027",
        findings=findings,
        checks=checks,
        alert=alert_data,
        actions=[ActionStatus("add-nsg-allow-rule", "nsg-agw", "verified")],
        record_url="https://records.example/incidents/inc-20261123-1027",
    )


def test_both_parts_carry_every_title_command_and_unrun_check(message, findings) -> None:
    built = build_email(
        message, sender="doctor@contoso.com", recipients=["oncall@contoso.com", "net@contoso.com"]
    )
    parsed, plain, visible = parts(built.as_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == message.subject
    assert parsed["Subject"].startswith(
        "[CRITICAL] agw-contoso: 3 causes of 502s — NSG blocks infrastructure ports"
    )
    assert parsed["To"] == "oncall@contoso.com, net@contoso.com"
    assert parsed["X-AppGW-Doctor-Incident"] == "inc-20261123-1027"
    for text in (plain, visible):
        for finding in findings:
            assert finding.title in text
            assert finding.resource in text
            if finding.fix.command:
                assert finding.fix.command in text
        assert "backend-health" in text and "throttled past retries (HTTP 429)" in text
        assert "VERIFIED" in text and "add-nsg-allow-rule on nsg-agw" in text
        assert "Incident record" in text and "Open in portal" in text
    assert "Incident record: https://records.example/incidents/inc-20261123-1027" in plain
    html_part = parsed.get_body(preferencelist=("html",)).get_content()
    assert '<a href="https://records.example/incidents/inc-20261123-1027">Incident record</a>' in html_part


def test_plain_text_lists_findings_worst_first(message) -> None:
    text = render_text(message)
    positions = [text.index(f.title) for f in message.findings]
    assert positions == sorted(positions)
    assert "Incident record: https://records.example/incidents/inc-20261123-1027" in text


def test_html_escapes_what_azure_returns(findings) -> None:
    from diagnostics.findings import Finding, Severity

    odd = Finding("X", Severity.CRITICAL, "<script>alert(1)</script> rule", GATEWAY_ID)
    markup = build_email(
        build_message(GATEWAY_ID, incident_id="i", findings=[odd]), sender="a@b", recipients=["c@d"]
    )
    html_part = markup.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html_part and "&lt;script&gt;" in html_part


def test_sends_to_a_real_smtp_server(message, smtp_server) -> None:
    settings = SmtpSettings(host=smtp_server.host, port=smtp_server.port, sender="doctor@contoso.com")
    send_email(build_email(message, sender=settings.sender, recipients=["oncall@contoso.com"]), settings)
    [(mail_from, rcpt_tos, raw)] = smtp_server.handler.messages
    assert (mail_from, rcpt_tos) == ("doctor@contoso.com", ["oncall@contoso.com"])
    _, plain, visible = parts(raw)
    assert message.findings[0].fix_command in plain and message.findings[0].fix_command in visible


def test_starttls_and_auth_as_exchange_online_and_acs_expect(message, smtp_factory) -> None:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    server = smtp_factory(
        tls_context=server_tls, require_starttls=True, authenticator=authenticator, auth_require_tls=True
    )
    settings = SmtpSettings(
        host=server.host, port=server.port, sender="doctor@contoso.com", username="doctor", password="s3cret"
    )
    send_email(
        build_email(message, sender=settings.sender, recipients=["a@contoso.com"]),
        settings,
        ssl_context=client_tls,
    )
    assert logins == [(b"doctor", b"s3cret")]
    assert len(server.handler.messages) == 1
    assert "s3cret" not in repr(settings)


def test_starttls_always_refuses_a_server_without_it(message, smtp_server) -> None:
    settings = SmtpSettings(host=smtp_server.host, port=smtp_server.port, sender="a@b", starttls="always")
    with pytest.raises(SmtpSecurityError, match="does not offer STARTTLS"):
        send_email(build_email(message, sender="a@b", recipients=["c@d"]), settings)
    assert smtp_server.handler.messages == []


def test_resolution_email_is_short(alert_data) -> None:
    resolved = build_resolution_message(
        GATEWAY_ID, incident_id="inc-1", alert=alert_data, resolved_at="10:52Z"
    )
    text = render_text(resolved)
    assert text.startswith("[RESOLVED] agw-contoso: Alert appgw-5xx resolved")
    assert "FINDINGS" not in text and len(text.splitlines()) < 16
