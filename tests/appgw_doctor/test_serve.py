"""`appgw-doctor serve`: the command (listens, says where, stops cleanly on Ctrl-C, bad input is one
line and exit 2), its routes over HTTP without a browser, and the approval handlers as pure
functions (escaping, who is looking, the groups of App Service authentication)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from appgw_doctor.http_routes import PAGE_HEADERS, approval_route, viewer_from
from model.remediation import Approval, Change
from remediation.desk import View
from tests.browser.serving import (
    ROOT,
    SCENARIO,
    alert_body,
    approval_id,
    approve_world,
    pending_link,
    post_alert,
    record,
    request,
    request_timeout,
    running,
    token_of,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def decide(link: str, decision: str, token: str | None = None, **headers: str) -> tuple[int, str]:
    form = urllib.parse.urlencode({"t": token if token is not None else token_of(link), "decision": decision})
    target = link.split("?", 1)[0]
    status, _, body = request(target, data=form.encode(), headers={**FORM, **headers})
    return status, body


def test_alerts_are_diagnosed_inline_and_answer_with_the_reports(tmp_path) -> None:
    with running() as served:
        status, document = post_alert(served, alert_body())
        assert status == 202 and document["status"] == "accepted"
        (report,) = document["reports"]
        assert report["outcome"] == "diagnosed" and report["incidentId"]
        (action,) = report["remediation"]["actions"]
        assert action["status"] == "planned"
        assert action["approval"]["url"].startswith(
            f"{served.url}/api/approvals/{action['approval']['id']}?t="
        )


def test_the_decision_is_followed_up_in_the_channels_of_the_request(tmp_path) -> None:
    outbox = tmp_path / "outbox"
    with running(outbox=outbox, TEAMS_WEBHOOK_URL="https://teams.example/hook") as served:
        link = pending_link(served)
        assert decide(link, "approve", **{"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com"})[0] == 200
    names = sorted(p.name for p in outbox.iterdir())
    (card,) = [
        n for n in names if n.startswith(f"approval-{approval_id(link)}-") and n.endswith("-teams.json")
    ]
    text = (outbox / card).read_text()
    assert "Approved by alice@contoso.com" in text and "verified" in text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/api/alerts", b"{not json", 400, "malformed_json"),
        ("POST", "/api/alerts", b'{"schemaId": "other"}', 400, "wrong_schema"),
        ("GET", "/api/alerts", None, 405, "method_not_allowed"),
        ("GET", "/api/nothing", None, 404, "not_found"),
    ],
)
def test_bad_requests_get_a_one_line_json_error(method, path, body, status, code) -> None:
    with running() as served:
        answer, headers, text = request(served.url + path, data=body, method=method)
        assert answer == status and headers["Content-Type"] == "application/json"
        assert json.loads(text)["error"]["code"] == code and "\n" not in text


def test_an_alert_for_another_subscription_is_refused() -> None:
    other = (
        "/subscriptions/00000000-0000-0000-0000-000000000009/resourcegroups/rg/providers/"
        "microsoft.network/applicationgateways/agw"
    )
    with running() as served:
        status, document = post_alert(served, alert_body(alertTargetIDs=[other]))
        assert status == 403 and document["error"]["code"] == "subscription_not_allowed"


def test_approve_then_replay_over_plain_http() -> None:
    with running() as served:
        link = pending_link(served)
        status, headers, page = request(link)
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert all(headers[name] == value for name, value in PAGE_HEADERS.items())
        assert '<form method="post"' in page and 'name="decision" value="approve"' in page
        assert decide(link, "approve")[0] == 200 and request_timeout(served) == 30
        status, page = decide(link, "approve")
        assert status == 409 and "Already decided" in page and "<button" not in page


@pytest.mark.parametrize(
    ("form", "status"),
    [({"decision": "maybe"}, 400), ({}, 400)],
)
def test_a_form_without_a_decision_is_refused(form, status) -> None:
    with running() as served:
        link = pending_link(served)
        body = urllib.parse.urlencode({"t": token_of(link), **form}).encode()
        assert request(link.split("?")[0], data=body, headers=FORM)[0] == status
        assert record(served, link).state == "pending"


def test_unknown_and_tokenless_links() -> None:
    with running() as served:
        link = pending_link(served)
        status, _, page = request(f"{served.url}/api/approvals/no-such-id?t=x")
        assert status == 404 and "No such approval" in page
        assert request(link.split("?")[0])[0] == 403
        assert decide(link, "approve", token="")[0] == 403
        status, _, page = request(f"{served.url}/api/approvals/{approval_id(link)}", method="PUT", data=b"")
        assert status == 405
        assert record(served, link).state == "pending" and request_timeout(served) == 20


def principal(*groups: str) -> str:
    claims = [{"typ": "groups", "val": g} for g in groups] + [{"typ": "name", "val": "Alice"}]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()


def test_a_member_of_an_approving_group_may_decide() -> None:
    group = "6a4c9f0e-1111-2222-3333-444455556666"
    with running(APPROVERS=group) as served:
        link = pending_link(served)
        assert decide(link, "approve", **{"X-MS-CLIENT-PRINCIPAL-NAME": "bob@contoso.com"})[0] == 403
        status, page = decide(
            link,
            "reject",
            **{"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com", "X-MS-CLIENT-PRINCIPAL": principal(group)},
        )
        assert status == 200 and "Rejected" in page
        assert record(served, link).decided_by == "alice@contoso.com"


def test_viewer_from_app_service_authentication_headers() -> None:
    viewer = viewer_from(
        {"x-ms-client-principal-name": "Alice@Contoso.com", "X-MS-CLIENT-PRINCIPAL": principal("G1", "g2")}
    )
    assert viewer.name == "Alice@Contoso.com" and viewer.groups == {"g1", "g2"}
    for broken in ("%%%", base64.b64encode(b"[1, 2]").decode(), base64.b64encode(b'{"claims": 5}').decode()):
        assert viewer_from({"X-MS-CLIENT-PRINCIPAL": broken}).groups == frozenset()
    assert viewer_from({}).name is None


class _Desk:
    """What the page handler asks of a desk: a view, and whether the viewer may decide."""

    def __init__(self, approval: Approval) -> None:
        self.approval = approval
        self.decided: list[str] = []

    def view(self, approval_id: str, token: str | None) -> View:
        return View(self.approval)

    def allowed(self, approver: str | None, groups: frozenset[str] = frozenset()) -> bool:
        return True

    def decide(self, *args: object, **kwargs: object) -> None:
        self.decided.append("decide")


def test_every_value_on_the_page_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    now = datetime.now(timezone.utc)
    approval = Approval(
        id="a1",
        gateway_id="/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
        "Microsoft.Network/applicationGateways/agw",
        incident_id=evil,
        finding={"code": evil, "title": evil},
        action="raise-request-timeout",
        resource="r",
        change=Change("r", {"requestTimeout": evil}, {"requestTimeout": 30}, evil),
        command=f"az {evil}",
        undo=f"az {evil}",
        etag="e",
        digest="d",
        requested_by=evil,
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )
    desk = _Desk(approval)
    page = approval_route(
        desk,  # type: ignore[arg-type]
        method="GET",
        approval_id="a1",
        query={"t": '"><script>x</script>'},
        body=b"",
        headers={"X-MS-CLIENT-PRINCIPAL-NAME": evil},
    )
    assert page.status == 200 and "<script" not in page.body
    assert "&lt;script&gt;" in page.body and desk.decided == []  # GET never decides


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appgw_doctor.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "70000"], "outside 0-65535"),
        (["--port", "x"], "not a port number"),
        (["--port", "0", "--world", "no/such/world.json"], "no/such/world.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, says) -> None:
    result = run_cli("serve", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and says in result.stderr


def test_the_command_listens_says_where_and_stops_cleanly_on_ctrl_c(tmp_path) -> None:
    world = tmp_path / "world.json"
    world.write_text(json.dumps(approve_world()))
    state = tmp_path / "state.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPROVAL_", "APPROVERS", "ALLOWED_"))}
    env["REMEDIATION_VERIFY_SECONDS"] = "5"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appgw_doctor.cli",
            "serve",
            "--port",
            "0",
            "--world",
            str(world),
            "--state",
            str(state),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("appgw-doctor serve: listening on http://127.0.0.1:"), line
        url = line.split("listening on ", 1)[1].split()[0]
        body = (SCENARIO / "alert.json").read_bytes()
        status, _, text = request(
            url + "/api/alerts", data=body, headers={"Content-Type": "application/json"}
        )
        assert status == 202
        (action,) = json.loads(text)["reports"][0]["remediation"]["actions"]
        link = action["approval"]["url"]
        assert link.startswith(url + "/api/approvals/")  # APPROVAL_BASE_URL defaults to this server
        assert request(link)[0] == 200
        assert decide(link, "approve")[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "ephemeral" in err and "Traceback" not in err
    assert state.exists()


def test_help_lists_serve() -> None:
    result = run_cli("--help")
    assert "serve" in result.stdout
    assert Path(ROOT / "appgw_doctor" / "commands" / "serve.py").exists()
