"""`appgw-doctor serve`'s server for the tests: the request-timeout scenario with its gateway opted in
to mode `approve`, served on 127.0.0.1 (an ephemeral port) in a thread, with helpers to post alerts
and look at what the approvals did (the simulated estate, the approval records, the audit)."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appgw_doctor.commands.serve import Served, local_server
from core.settings import Settings
from model.remediation import Approval

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "request-timeout"
KEY = "test-signing-key-" + "k" * 32
ENV = {"APPROVAL_SIGNING_KEY": KEY, "REMEDIATION_VERIFY_SECONDS": "5"}


def approve_world() -> dict[str, Any]:
    """The scenario's world, its gateway tagged `appgw-doctor-remediation: approve`."""
    world = json.loads((SCENARIO / "world.json").read_text())
    gateway_of(world).setdefault("tags", {})["appgw-doctor-remediation"] = "approve"
    return world


def gateway_of(world: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in world["resources"] if "/applicationgateways/" in r["id"].lower())


GATEWAY_ID = gateway_of(json.loads((SCENARIO / "world.json").read_text()))["id"]


def alert_body(**essentials: Any) -> bytes:
    document = json.loads((SCENARIO / "alert.json").read_text())
    document["data"]["essentials"].update(essentials)
    return json.dumps(document).encode()


def resolved_body() -> bytes:
    return alert_body(monitorCondition="Resolved", resolvedDateTime="2026-11-23T10:50:00Z")


@contextlib.contextmanager
def running(
    world: dict[str, Any] | None = None, *, outbox: Path | None = None, **env: str
) -> Iterator[Served]:
    """The serve server for `world` (default: `approve_world()`), serving in a thread; `env` adds
    app settings (e.g. APPROVERS) to ENV. The environment of the test run is not read."""
    settings = Settings.from_env({**ENV, **env})
    with local_server(world=world or approve_world(), settings=settings, outbox=outbox) as served:
        thread = threading.Thread(target=served.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield served
        finally:
            served.server.shutdown()
            thread.join(10)


def request(
    url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None
) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of one request; 4xx/5xx answers are returned, not raised."""
    call = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(call, timeout=120) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def post_alert(served: Served, body: bytes) -> tuple[int, dict[str, Any]]:
    status, _, text = request(
        served.url + "/api/alerts", data=body, headers={"Content-Type": "application/json"}
    )
    return status, json.loads(text)


def approval_link(document: dict[str, Any]) -> str:
    """The approval page link of the one fix waiting for approval in an /api/alerts answer."""
    (report,) = document["reports"]
    (link,) = [a["approval"]["url"] for a in report["remediation"]["actions"] if a.get("approval")]
    return str(link)


def pending_link(served: Served) -> str:
    """Post the scenario's alert; the link of the approval it created."""
    status, document = post_alert(served, alert_body())
    assert status == 202, document
    return approval_link(document)


def approval_id(link: str) -> str:
    return urllib.parse.urlsplit(link).path.rsplit("/", 1)[1]


def token_of(link: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]


def with_token(link: str, token: str) -> str:
    parts = urllib.parse.urlsplit(link)
    return parts._replace(query=urllib.parse.urlencode({"t": token})).geturl()


def tampered(link: str) -> str:
    """The link with its token's payload changed (signature kept)."""
    payload, signature = token_of(link).split(".")
    return with_token(link, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature)


def request_timeout(served: Served) -> int:
    """The simulated estate now: requestTimeout of the settings the fix raises."""
    gateway = served.app.simulator.world.get(GATEWAY_ID)
    (settings,) = [
        s for s in gateway["properties"]["backendHttpSettingsCollection"] if s["name"] == "web-settings"
    ]
    return int(settings["properties"]["requestTimeout"])


def record(served: Served, link: str) -> Approval:
    found = served.app.desk.ledger.approval(approval_id(link))
    assert found is not None
    return found[0]


def audit_steps(served: Served) -> list[tuple[str, str]]:
    return [(e.step, e.outcome) for e in served.app.desk.ledger.audit_entries(GATEWAY_ID)]
