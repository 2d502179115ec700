"""`appgw-doctor serve`: the app's HTTP routes on a local server, for trying mode `approve` end to end.

    appgw-doctor serve [--port N] [--world FILE] [--state PATH] [--outbox DIR]

- `POST /api/alerts`: the alert webhook, through the same intake as the Functions app
  (`AlertWebhook.from_settings`); each gateway's work item then runs through the local pipeline at
  once (no queue), and the answer is 202 with each report's outcome, incident id and remediation (the
  approval links among it). Bad input is 4xx with the function's one-line JSON error.
- `GET/POST /api/approvals/{id}`: the approval page and the decision (`appgw_doctor.http_routes`,
  the same handlers as function_app.py).

It listens on 127.0.0.1 only. With `--world`, a simulator serves that world and the state is SQLite
at `--state` (else a throw-away file); ALLOWED_SUBSCRIPTIONS defaults to the world's subscription.
Without `--world` it works against Azure (`az login`) with the state under the user's data dir.
APPROVAL_BASE_URL defaults to this server (`http://127.0.0.1:PORT`); without APPROVAL_SIGNING_KEY a
random key is made for this run (links die with it). With `--outbox DIR`, the Teams card and email
of each message are written there instead of sent. Ctrl-C (or SIGTERM) stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import secrets
import signal
import sys
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError, port_number
from appgw_doctor.http_routes import Response, approval_route
from appgw_doctor.local import local_settings, open_estate
from appgw_doctor.notify import approval_follow_up
from appgw_doctor.pipeline import Pipeline, Report
from appgw_doctor.wiring import approval_desk, build_pipeline, notify_stage
from core.settings import Settings
from intake.errors import IntakeError
from intake.webhook import AlertWebhook
from notifications.delivery import Notifier
from remediation.desk import ApprovalDesk
from state.sqlite import default_state_path

log = logging.getLogger("appgw_doctor.serve")

HOST = "127.0.0.1"
MAX_REQUEST_BYTES = 4 * 1024 * 1024
_JSON = "application/json"
_APPROVAL_PATH = re.compile(r"/api/approvals/([^/]+)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="Serve the app's HTTP routes (alert webhook, approval pages) on 127.0.0.1."
    )
    parser.add_argument(
        "--port", type=port_number, default=7071, help="Port to listen on (default 7071; 0: any)."
    )
    parser.add_argument("--world", type=Path, help="Work against a simulator serving this world file.")
    parser.add_argument("--state", type=Path, help=f"SQLite state file (default: {default_state_path()}).")
    parser.add_argument(
        "--outbox",
        type=Path,
        help="Write the Teams card (JSON) and the email (.eml) here instead of sending.",
    )
    parser.set_defaults(func=run)


class LocalApp:
    """The app's HTTP routes over one pipeline and one approval desk:
    `handle(method, target, body, headers) -> Response`."""

    def __init__(
        self, webhook: AlertWebhook, pipeline: Pipeline, desk: ApprovalDesk, simulator: Any = None
    ) -> None:
        self.webhook = webhook
        self.pipeline = pipeline
        self.desk = desk
        self.simulator = simulator  # the simulator.Simulator serving --world, if any

    def handle(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> Response:
        parts = urllib.parse.urlsplit(target)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
        match = _APPROVAL_PATH.fullmatch(parts.path)
        if match:
            approval_id = urllib.parse.unquote(match.group(1))
            return approval_route(
                self.desk, method=method, approval_id=approval_id, query=query, body=body, headers=headers
            )
        if parts.path == "/api/alerts":
            if method != "POST":
                return _json(405, _error_body("method_not_allowed", "POST an alert here"), Allow="POST")
            return self.alerts(body, headers)
        return _json(404, _error_body("not_found", f"no route {parts.path[:200]}"))

    def alerts(self, body: bytes, headers: Mapping[str, str]) -> Response:
        try:
            alerts = self.webhook.accept(body, headers)
        except IntakeError as error:
            log.warning("alert refused: %s: %s", error.code, error.message)
            return _json(error.status, error.to_body())
        reports = [self.pipeline.process(item) for item in Pipeline.alert_items(alerts)]
        return _json(202, {"status": "accepted", "reports": [_summary(report) for report in reports]})


def _summary(report: Report) -> dict[str, Any]:
    return {
        "gatewayId": report.item.gateway_id,
        "outcome": report.outcome.value if report.outcome else None,
        "incidentId": report.incident_id,
        "remediation": report.remediation,
    }


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _json(status: int, body: dict[str, Any], **headers: str) -> Response:
    return Response(status, _JSON, json.dumps(body), {"Cache-Control": "no-store", **headers})


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    app: LocalApp | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self._send(
                _json(413 if length > 0 else 400, _error_body("bad_length", "unusable Content-Length"))
            )
            return
        body = self.rfile.read(length) if length else b""
        app = self.server.app
        if app is None:
            self._send(_json(503, _error_body("starting", "the server is starting")))
            return
        try:
            response = app.handle(self.command, self.path, body, dict(self.headers.items()))
        except Exception:
            log.exception("%s %s failed", self.command, urllib.parse.urlsplit(self.path).path)
            response = _json(500, _error_body("internal_error", "the request failed; see the server's log"))
        self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def do_HEAD(self) -> None:
        self._serve()

    def _send(self, response: Response) -> None:
        payload = response.body.encode("utf-8")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        # The request line carries the approval token (?t=...): logged without the query.
        path = urllib.parse.urlsplit(self.path).path if hasattr(self, "path") else "-"
        status = args[1] if len(args) > 1 else ""
        log.info("%s %s %s", getattr(self, "command", "-"), path, status)


@dataclass(frozen=True)
class Served:
    server: LocalServer
    app: LocalApp
    settings: Settings
    ephemeral_key: bool

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.contextmanager
def local_server(
    *,
    port: int = 0,
    world: Path | dict[str, Any] | None = None,
    state: Path | None = None,
    outbox: Path | None = None,
    settings: Settings | None = None,
) -> Iterator[Served]:
    """A bound (not yet serving) server on 127.0.0.1:`port` with its app: the pipeline and the desk
    on one state store, against a simulator of `world` or Azure. `serve_forever()` it (in a thread,
    or the main one); leaving the context closes everything."""
    settings = settings or local_settings()
    try:
        server = LocalServer((HOST, port), _Handler)
    except OSError as error:
        raise UsageError(f"cannot listen on {HOST}:{port}: {error.strerror or error}") from None
    with contextlib.ExitStack() as stack:
        stack.callback(server.server_close)
        key = settings.approval_signing_key
        settings = replace(
            settings,
            approval_base_url=settings.approval_base_url or server.url,
            approval_signing_key=key or secrets.token_urlsafe(48),
        )
        estate = stack.enter_context(open_estate(world, state=state))
        sim, store, clients_for = estate.simulator, estate.store, estate.clients_for
        dns_servers = estate.dns_servers
        if sim is not None and not settings.allowed_subscriptions:
            settings = replace(settings, allowed_subscriptions=(sim.subscription_id.lower(),))
        pipeline = build_pipeline(
            settings,
            store=store,
            clients_for=clients_for,
            notify=notify_stage(settings, outbox_dir=outbox),
            dns_servers=dns_servers,
            enforce_allow_list=False,
            wait_for_claims=False,
        )
        follow_up = approval_follow_up(
            Notifier(settings.notifications, outbox_dir=outbox),
            store,
            record_url_template=settings.incident_url_template,
        )
        desk = approval_desk(
            settings, store=store, clients_for=clients_for, notify=follow_up, dns_servers=dns_servers
        )
        app = LocalApp(AlertWebhook.from_settings(settings), pipeline, desk, sim)
        server.app = app
        yield Served(server, app, settings, ephemeral_key=key is None)


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    with local_server(port=args.port, world=args.world, state=args.state, outbox=args.outbox) as served:
        if served.ephemeral_key:
            print(
                "appgw-doctor serve: APPROVAL_SIGNING_KEY is not set: using a random key for this run "
                "(ephemeral: approval links stop working when the server stops)",
                file=sys.stderr,
                flush=True,
            )
        if not served.settings.allowed_subscriptions:
            print(
                "appgw-doctor serve: ALLOWED_SUBSCRIPTIONS is not set: every alert is refused",
                file=sys.stderr,
                flush=True,
            )
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        thread = threading.Thread(target=served.server.serve_forever, name="serve", daemon=True)
        thread.start()
        try:
            print(f"appgw-doctor serve: listening on {served.url} (Ctrl-C stops)", flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            served.server.shutdown()
            thread.join()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return EXIT_OK
