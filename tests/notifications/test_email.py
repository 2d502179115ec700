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

from model.findings import Finding, Fix, Severity
from model.remediation import ActionResult, Change
from notifications.content import STATUS_WORDS, build_message, build_resolution_message
from notifications.email import (
    PART_BUDGET,
    SmtpSecurityError,
    SmtpSettings,
    build_email,
    incident_message_id,
    render_html,
    render_text,
    send_email,
)

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
def message(findings, checks, alert_data, actions):
    return build_message(
        GATEWAY_ID,
        incident_id="inc-20261123-1027",
        findings=findings,
        checks=checks,
        alert=alert_data,
        actions=[actions["verified"]],
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
        "[CRITICAL] agw-contoso: 2 causes of 502s — NSG blocks infrastructure ports"
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
        assert "raise-request-timeout for REQUEST_TIMEOUT_TOO_LOW" in text
        assert "requestTimeout 20 s -> 60 s on settings web_settings" in text
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
    from model.findings import Finding, Severity

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
        GATEWAY_ID,
        incident_id="inc-1",
        incident_level=Severity.WARNING,
        alert=alert_data,
        resolved_at="10:52Z",
    )
    text = render_text(resolved)
    assert text.startswith("[RESOLVED] agw-contoso: Alert appgw-5xx resolved")
    assert "FINDINGS" not in text and len(text.splitlines()) < 16


@pytest.fixture
def plain_auth_server(smtp_factory):
    """A server that offers AUTH but no STARTTLS, recording every login it is sent."""
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    server = smtp_factory(authenticator=authenticator, auth_require_tls=False)
    return server, logins


def test_auto_never_sends_the_password_without_tls(message, plain_auth_server) -> None:
    server, logins = plain_auth_server
    settings = SmtpSettings(
        host=server.host, port=server.port, sender="a@b", username="doctor", password="s3cret"
    )
    with pytest.raises(SmtpSecurityError, match="not sending the SMTP password in clear text") as raised:
        send_email(build_email(message, sender="a@b", recipients=["c@d"]), settings)
    assert "SMTP_STARTTLS=never" in str(raised.value)
    assert logins == [] and server.handler.messages == []


def test_starttls_never_is_the_explicit_way_to_allow_auth_in_clear(message, plain_auth_server) -> None:
    server, logins = plain_auth_server
    settings = SmtpSettings(
        host=server.host,
        port=server.port,
        sender="a@b",
        username="doctor",
        password="s3cret",
        starttls="never",
    )
    send_email(build_email(message, sender="a@b", recipients=["c@d"]), settings)
    assert logins == [(b"doctor", b"s3cret")] and len(server.handler.messages) == 1


def test_auto_without_credentials_still_sends_without_tls(message, smtp_server) -> None:
    settings = SmtpSettings(host=smtp_server.host, port=smtp_server.port, sender="a@b")
    send_email(build_email(message, sender="a@b", recipients=["c@d"]), settings)
    assert len(smtp_server.handler.messages) == 1


def test_the_resolution_email_threads_under_the_incident_email(message, alert_data) -> None:
    incident = build_email(message, sender="a@b", recipients=["c@d"])
    resolved = build_email(
        build_resolution_message(
            GATEWAY_ID, incident_id=message.incident_id, incident_level=message.level, alert=alert_data
        ),
        sender="a@b",
        recipients=["c@d"],
    )
    assert (
        incident["Message-ID"]
        == incident_message_id("inc-20261123-1027")
        == "<incident.inc-20261123-1027@appgw-doctor>"
    )
    assert incident["In-Reply-To"] is None
    assert resolved["In-Reply-To"] == resolved["References"] == incident["Message-ID"]
    assert resolved["Message-ID"] not in (None, incident["Message-ID"])


def test_a_huge_report_stays_within_the_part_budget_and_counts_what_it_leaves_out() -> None:
    def huge(i: int) -> Finding:
        return Finding(
            code=f"CODE_{i}",
            severity=[Severity.INFO, Severity.WARNING, Severity.CRITICAL][i % 3],
            title=f"Finding {i} " + "日本語" * 80,
            resource=f"{RG}/networkSecurityGroups/nsg/securityRules/r{i}",
            evidence={f"k{j}": "€" * 500 for j in range(60)},
            fix=Fix(summary="Do the thing " + "x" * 5_000, command="az network " + "y" * 20_000),
        )

    found = [huge(i) for i in range(150)]
    message = build_message(GATEWAY_ID, incident_id="inc-big", findings=found)
    raw = build_email(message, sender="a@b", recipients=["c@d"]).as_bytes()

    assert len(raw) < 2 * PART_BUDGET * 1.4 + 10_000  # two parts, base64 at worst, and the headers
    assert len(render_text(message).encode()) <= PART_BUDGET
    assert len(render_html(message).encode()) <= PART_BUDGET
    _, plain, visible = parts(raw)
    for text in (plain, visible):
        more = re.search(
            r"and (\d+) more findings not shown \((\d+) critical, (\d+) warning, (\d+) info\)", text
        )
        assert more and int(more.group(1)) == sum(int(n) for n in more.groups()[1:])
        assert "the full list is recorded with incident inc-big; `appgw-doctor diagnose --gateway" in text
        assert "57 more evidence items not shown" in text  # 3 of 60 shown, the rest counted
        assert message.findings[0].title[:400] in text  # the worst finding is always shown
    shown = len(re.findall(r"^\d+\. \[", plain, flags=re.MULTILINE))
    assert shown + int(more.group(1)) == 150  # every finding is shown or counted


def test_the_email_leads_with_the_root_cause_and_reads_its_evidence_as_facts(kit) -> None:
    message = build_message(
        GATEWAY_ID,
        incident_id="inc-1",
        findings=[kit.unhealthy_pool(), kit.connect_failed(), kit.nsg_blocks_backend()],
    )
    built = build_email(message, sender="a@b", recipients=["c@d"])
    parsed, plain, visible = parts(built.as_bytes())
    subject = " ".join(parsed["Subject"].split())  # as folded: the fold before "—" reads as two spaces
    assert subject.startswith("[CRITICAL] agw-contoso: scheduled check: 2 causes of 502s — NSG nsg-backend")
    assert "FINDINGS (2 causes, 1 symptom)" in plain and "Findings (2 causes, 1 symptom)" in visible
    order = [plain.index(f"{n}. [CRITICAL] ") for n in (1, 2, 3)]
    assert order == sorted(order)
    first = plain[order[0] : order[1]]
    assert "NSG_BLOCKS_BACKEND (cause)" in first
    assert "     Rule: DenyAppGateway (priority 100)\n" in first
    assert "     Blocked: 10.1.1.4:8080, 10.1.1.5:8080\n" in first
    assert "ALL_BACKENDS_UNHEALTHY (symptom)" in plain[order[2] :]
    assert "     Probe log: Application Gateway could not connect to the backend." in plain
    assert "Rule DenyAppGateway (priority 100) Blocked 10.1.1.4:8080, 10.1.1.5:8080" in visible  # table rows
    for text in (plain, visible):
        assert "{" not in text and '"address"' not in text  # facts, not JSON


# --- remediation ----------------------------------------------------------------------------------

COMMANDS = {
    "planned": ("To apply", "command"),
    "applied": ("To undo", "undo"),
    "verified": ("To undo", "undo"),
    "rolled-back": ("Undone with", "undo"),
    "refused": ("To apply by hand", "command"),
    "failed": ("To undo", "undo"),
    "skipped": None,
}


def action_text(plain: str) -> str:
    """The plain-text part's remediation section."""
    return plain.split("\nREMEDIATION", 1)[1].split("\nOpen in portal", 1)[0]


@pytest.mark.parametrize("status", list(COMMANDS))
def test_both_parts_show_each_action_status_change_command_verification_and_reason(actions, status) -> None:
    action = actions[status]
    message = build_message(
        GATEWAY_ID, incident_id="i", findings=[], actions=[action], remediation_mode="auto"
    )
    built = build_email(message, sender="a@b", recipients=["c@d"])
    _, plain, visible = parts(built.as_bytes())
    section = action_text(plain)
    lines = section.splitlines()
    assert lines[0] == ": auto"
    assert f"  {STATUS_WORDS[status].upper()} — {action.action} for {action.finding}" in lines
    assert STATUS_WORDS[status] in visible and f"{action.action} for {action.finding}" in visible
    if action.change:
        assert f"    Change:           {action.change.summary}" in lines
        assert f"Change: {action.change.summary}" in visible
    if COMMANDS[status]:
        label, field = COMMANDS[status]
        command = getattr(action, field)
        assert f"    {label + ':':<18}{command}" in lines
        assert f"{label}: {command}" in visible
    else:
        assert "az " not in section and "<pre" not in built.get_body(preferencelist=("html",)).get_content()
    if action.verification:
        assert f"    Verification:     {action.verification}" in lines
        assert f"Verification: {action.verification}" in visible
    if status == "verified":
        assert "Why:" not in section and "Why:" not in visible
    else:
        assert f"    Why:              {action.reason}" in lines
        assert f"Why: {action.reason}" in visible
    if COMMANDS[status]:
        markup = built.get_body(preferencelist=("html",)).get_content()
        assert (
            f'font-family:Consolas,Courier New,monospace;font-size:12px">{html.escape(command)}</pre>'
            in markup
        )


def test_the_mode_and_its_note_head_the_remediation_section(actions) -> None:
    note = (
        "tag appgw-doctor-remediation value 'yes' is not understood (off | dry-run | auto): "
        "remediation is off"
    )
    message = build_message(
        GATEWAY_ID,
        incident_id="i",
        findings=[],
        actions=[actions["skipped"]],
        remediation_mode="off",
        remediation_note=note,
    )
    _, plain, visible = parts(build_email(message, sender="a@b", recipients=["c@d"]).as_bytes())
    assert f"\nREMEDIATION: off\n  {note}\n\n  SKIPPED — reattach-probe for PROBE_DETACHED\n" in plain
    assert f"Remediation: off {note} Skipped reattach-probe for PROBE_DETACHED" in visible


def test_a_rollback_email_is_critical_and_its_subject_says_so(actions) -> None:
    note = Finding("CUSTOM_DNS_UNVERIFIED", Severity.INFO, "Custom DNS servers not checked", GATEWAY_ID)
    message = build_message(GATEWAY_ID, diagnosis_id="d", findings=[note], actions=[actions["rolled-back"]])
    parsed, plain, _ = parts(build_email(message, sender="a@b", recipients=["c@d"]).as_bytes())
    subject = " ".join(parsed["Subject"].split())
    assert subject.startswith(
        "[CRITICAL] agw-contoso: Fix rolled back on agw-contoso: add rule allow-gateway-manager"
    )
    assert "was rolled back: NSG_BLOCKS_INFRA_PORTS was still found after the change." in plain


def test_hostile_action_texts_are_escaped_in_html_and_stay_on_their_line_in_text() -> None:
    evil = '<img src=x onerror=alert(1)>"&\nWhy: forged\u2028<script>'
    action = ActionResult(
        evil,
        evil,
        evil,
        "rolled-back",
        evil,
        change=Change(evil, {evil: evil}, None, evil),
        command=evil,
        undo=evil,
        verification=evil,
    )
    message = build_message(
        GATEWAY_ID,
        incident_id="i",
        findings=[],
        actions=[action],
        remediation_mode=evil,
        remediation_note=evil,
    )
    built = build_email(message, sender="a@b", recipients=["c@d"])
    markup = built.get_body(preferencelist=("html",)).get_content()
    assert "<img" not in markup and "<script>" not in markup
    assert html.escape(evil.replace("\n", " ").replace("\u2028", " ")) in markup
    plain = built.get_body(preferencelist=("plain",)).get_content()
    assert not any(line.startswith("Why: forged") for line in plain.splitlines())
    assert sum(1 for line in plain.splitlines() if line.lstrip().startswith("Why:")) == 1


def test_fifty_actions_fit_both_parts_and_the_rest_are_counted() -> None:
    long = '€<"' * 1_500
    settings_id = f"{GATEWAY_ID}/backendHttpSettingsCollection/web_settings"
    many = [
        ActionResult(
            "raise-request-timeout",
            f"CODE_{i:02d}",
            settings_id,
            ["verified", "rolled-back", "planned", "failed", "refused"][i % 5],
            long,
            change=Change(settings_id, {"requestTimeout": 20}, {"requestTimeout": 60}, long),
            command="az " + long,
            undo="az " + long,
            verification=long,
        )
        for i in range(50)
    ]
    message = build_message(GATEWAY_ID, incident_id="i", findings=[], actions=many, remediation_note=long)
    plain, markup = render_text(message), render_html(message)
    assert len(plain.encode()) <= PART_BUDGET and len(markup.encode()) <= PART_BUDGET
    shown = re.findall(r"^  [A-Z ,()-]+ — raise-request-timeout for CODE_(\d\d)$", plain, flags=re.MULTILINE)
    assert 0 < len(shown) < 50 and [int(n) for n in shown] == list(range(len(shown)))
    counted = f"and {50 - len(shown)} more remediation statuses not shown."
    assert counted in plain and counted in markup
    assert markup.count("<b>raise-request-timeout for CODE_") == len(shown)  # both parts show the same
