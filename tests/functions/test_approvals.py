"""The approval pages as Functions: GET and POST /api/approvals/{approval_id}, anonymous (the signed
token is the credential), called as the host calls them, with the state in Table Storage (Azurite)
and ARM served by the simulator. A gateway in mode `approve` gets an alert; its pending approval's
page is shown (changing nothing), approved (the fix applied and verified), and replayed (409)."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import azure.functions as func

from state.remediation import RemediationLedger
from tests.functions.harness import post_alert, run_queue
from tests.functions.test_bindings import bindings

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "request-timeout"
KEY = "functions-test-key-" + "k" * 32


def approval_request(method: str, link: str, *, form: dict[str, str] | None = None, headers=None):
    parts = urllib.parse.urlsplit(link)
    approval_id = parts.path.rsplit("/", 1)[1]
    params = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
    return func.HttpRequest(
        method=method,
        url=link if method == "GET" else f"{parts.scheme}://{parts.netloc}{parts.path}",
        params=params if method == "GET" else {},
        route_params={"approval_id": approval_id},
        body=urllib.parse.urlencode(form or {}).encode(),
        headers={
            **({"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}),
            **(headers or {}),
        },
    )


def requested_timeout(sim, gateway_id: str) -> int:
    stored = sim.world.get(gateway_id)
    (settings,) = [
        s for s in stored["properties"]["backendHttpSettingsCollection"] if s["name"] == "web-settings"
    ]
    return int(settings["properties"]["requestTimeout"])


def test_the_approval_routes_are_anonymous_get_and_post_on_the_same_route() -> None:
    all_bindings = bindings()
    page, decision = all_bindings["approval_page"]["req"], all_bindings["approval_decision"]["req"]
    assert page["route"] == decision["route"] == "approvals/{approval_id}"
    assert page["authLevel"] == decision["authLevel"] == "anonymous"
    assert [getattr(m, "value", m) for m in page["methods"]] == ["GET"]
    assert [getattr(m, "value", m) for m in decision["methods"]] == ["POST"]


def test_a_pending_approval_is_shown_approved_verified_and_replay_is_409(
    simulator, app_env, functions
) -> None:
    world = json.loads((SCENARIO / "world.json").read_text())
    gateway = next(r for r in world["resources"] if "/applicationgateways/" in r["id"].lower())
    gateway.setdefault("tags", {})["appgw-doctor-remediation"] = "approve"
    sim = simulator(world)
    app_env.point_at(sim)
    app_env.set("APPROVAL_SIGNING_KEY", KEY)
    app_env.set("APPROVAL_BASE_URL", "https://appgw-doctor.example")
    app_env.set("REMEDIATION_VERIFY_SECONDS", "5")

    response, messages = post_alert(functions, (SCENARIO / "alert.json").read_bytes())
    assert response.status_code == 202
    run_queue(functions, messages)
    store = app_env.store()
    (incident,) = store.list_incidents()
    (action,) = incident.report["remediation"]["actions"]
    link = action["approval"]["url"]
    assert action["status"] == "planned" and link.startswith("https://appgw-doctor.example/api/approvals/")
    ledger = RemediationLedger.for_store(store)
    before = ledger.approval(action["approval"]["id"])

    page = functions["approval_page"](approval_request("GET", link))
    text = page.get_body().decode()
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert "agw-contoso" in text and "REQUEST_TIMEOUT_TOO_LOW" in text and '<form method="post"' in text
    assert ledger.approval(action["approval"]["id"]) == before  # GET never changes anything
    assert requested_timeout(sim, gateway["id"]) == 20

    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]
    payload, signature = token.split(".")
    forged = (
        link.split("?")[0] + "?t=" + payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    )
    refused = functions["approval_page"](approval_request("GET", forged))
    assert refused.status_code == 403 and "<button" not in refused.get_body().decode()
    decided = functions["approval_decision"](
        approval_request(
            "POST",
            link,
            form={"t": token, "decision": "approve"},
            headers={"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com"},
        )
    )
    assert decided.status_code == 200, decided.get_body()
    assert "applied and verified" in decided.get_body().decode()
    assert requested_timeout(sim, gateway["id"]) == 30
    approval, _ = ledger.approval(action["approval"]["id"])
    assert approval.state == "approved" and approval.decided_by == "alice@contoso.com"

    replay = functions["approval_decision"](
        approval_request("POST", link, form={"t": token, "decision": "approve"})
    )
    assert replay.status_code == 409 and "Already decided" in replay.get_body().decode()
    reopened = functions["approval_page"](approval_request("GET", link))
    assert reopened.status_code == 409 and "<button" not in reopened.get_body().decode()
    steps = [e.step for e in ledger.audit_entries(gateway["id"])]
    assert steps.count("apply") == 1


def test_an_unknown_approval_is_404(app_env, functions) -> None:
    app_env.set("APPROVAL_SIGNING_KEY", KEY)
    page = functions["approval_page"](
        approval_request("GET", "https://appgw-doctor.example/api/approvals/nope?t=abc.def")
    )
    assert page.status_code == 404 and "No such approval" in page.get_body().decode()
    decided = functions["approval_decision"](
        approval_request(
            "POST", "https://appgw-doctor.example/api/approvals/nope", form={"t": "x", "decision": "approve"}
        )
    )
    assert decided.status_code == 404


def test_a_configuration_error_is_a_500_page(app_env, functions) -> None:
    app_env.set("APPROVAL_SIGNING_KEY", "too-short")
    page = functions["approval_page"](
        approval_request("GET", "https://appgw-doctor.example/api/approvals/x?t=y")
    )
    assert page.status_code == 500 and "not configured" in page.get_body().decode()
    assert "too-short" not in page.get_body().decode()
