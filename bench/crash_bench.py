"""The crash matrix: a worker process SIGKILLed at each pipeline step, on each state backend, then the
queue's redelivery handled by a fresh worker process; prints, per step and backend, the messages sent
(Teams posts / emails, for the incident and its resolution), whether the incident ended closed, and
how long the redelivery took (it waits out the dead worker's claim and lease: 2 s here).

    .venv/bin/python bench/crash_bench.py

Real parts: worker processes (tests/appgw_doctor/crash_worker.py) running the real pipeline, the ARM
simulator, a local Teams webhook receiver, an aiosmtpd relay, Azurite (node_modules) or SQLite.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402

from appgw_doctor.pipeline import ALERT, WorkItem  # noqa: E402
from intake.alerts import RESOLVED, parse_alert_body  # noqa: E402
from simulator import Simulator  # noqa: E402
from state import IncidentStatus, StateStore  # noqa: E402
from state.sqlite import SqliteBackend  # noqa: E402
from state.tables import TableBackend  # noqa: E402
from tests.azurite import _SHARED as AZURITE  # noqa: E402

SCENARIO = ROOT / "scenarios" / "request-timeout"
WORKER = ROOT / "tests" / "appgw_doctor" / "crash_worker.py"
LEASE_SECONDS = 2
FIRED_STEPS = ["claimed", "diagnosed", "recorded", "delivered", "notified"]
RESOLVED_STEPS = ["closed", "delivered", "notified"]


class Relay:
    """Counts accepted messages; slow to answer EHLO so a kill after the Teams post hits mid-notify."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        await asyncio.sleep(1.0)
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.count += 1
        return "250 OK"


def teams_receiver() -> tuple[ThreadingHTTPServer, list[int]]:
    posts: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            posts.append(1)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, posts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(config: dict, item: WorkItem, crash_at: str | None) -> tuple[int, float]:
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, str(WORKER), json.dumps({**config, "item": item.to_message(), "crashAt": crash_at})],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip
    if crash_at is None and process.returncode != 0:
        raise SystemExit(f"worker failed: {process.stderr[-2000:]}")
    if crash_at is not None and process.returncode != -signal.SIGKILL:
        raise SystemExit(f"worker was not killed at {crash_at}: {process.stderr[-2000:]}")
    return process.returncode, time.monotonic() - started


def main() -> int:
    (alert,) = parse_alert_body((SCENARIO / "alert.json").read_bytes(), allowed_subscriptions=None)
    fired = WorkItem(kind=ALERT, gateway_id=alert.gateway_id, alert=alert)
    resolved = WorkItem(
        kind=ALERT,
        gateway_id=alert.gateway_id,
        alert=replace(alert, monitor_condition=RESOLVED, resolved_at=alert.incident_time),
    )
    azurite = AZURITE.acquire()
    rows = []
    try:
        for backend in ("sqlite", "azurite"):
            for message, steps in (("fired", FIRED_STEPS), ("resolved", RESOLVED_STEPS)):
                for step in steps:
                    rows.append(one(backend, message, step, fired, resolved, azurite))
                    print(rows[-1], flush=True)
    finally:
        AZURITE.release()
    bad = [row for row in rows if "ok" not in row]
    print(f"\ncrash matrix: {len(rows) - len(bad)}/{len(rows)} cases sent every message exactly once "
          "and closed the incident")  # fmt: skip
    return 1 if bad else 0


def one(backend, message, step, fired, resolved, azurite) -> str:
    with tempfile.TemporaryDirectory() as scratch, Simulator(SCENARIO / "world.json") as sim:
        if backend == "sqlite":
            state = {"sqlite": str(Path(scratch) / "state.db")}
            store = StateStore(SqliteBackend(state["sqlite"]))
        else:
            prefix = azurite.unique_prefix()
            state = {"tables": azurite.connection_string, "prefix": prefix}
            store = StateStore(TableBackend.from_connection_string(azurite.connection_string, prefix=prefix))
        server, posts = teams_receiver()
        relay = Relay()
        smtp_port = free_port()
        smtp = Controller(relay, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        try:
            config = {
                "state": state,
                "arm": {"endpoint": sim.endpoint, "caCert": sim.ca_cert},
                "notifications": {
                    "TEAMS_WEBHOOK_URL": f"http://127.0.0.1:{server.server_address[1]}/invoke?sig=s",
                    "NOTIFY_EMAIL_TO": "oncall@contoso.com",
                    "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(smtp_port),
                    "SMTP_FROM": "doctor@contoso.com",
                    "SMTP_STARTTLS": "never",
                },
                "leaseSeconds": LEASE_SECONDS,
            }
            if message == "fired":
                run(config, fired, step)
                _, took = run(config, fired, None)
                run(config, resolved, None)
            else:
                run(config, fired, None)
                run(config, resolved, step)
                _, took = run(config, resolved, None)
            incidents = store.list_incidents(fired.gateway_id)
            closed = bool(incidents) and all(i.status is IncidentStatus.CLOSED for i in incidents)
            exact = len(posts) == 2 and relay.count == 2
        finally:
            smtp.stop()
            server.shutdown()
            store.close()
    verdict = "ok" if exact and closed else "WRONG"
    return (f"{backend:8} {message:9} killed at {step:10} -> Teams {len(posts)}, email {relay.count} "
            f"(incident + resolution), incident {'closed' if closed else 'OPEN'}, "
            f"redelivery {took:4.1f} s  {verdict}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
