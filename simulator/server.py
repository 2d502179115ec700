"""The simulator's HTTPS server: stdlib `ThreadingHTTPServer` + TLS from a test CA made at start.

The CA (from `trustme`) is written to a temporary directory as a PEM file, which SDK clients take
as `connection_verify`; the server certificate covers 127.0.0.1 and localhost. Every request is
handed to an `ArmApi` and recorded in a `RequestLog`.
"""

from __future__ import annotations

import json
import shutil
import ssl
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

from simulator.arm import ArmApi, ArmRequest


@dataclass(frozen=True)
class ServedRequest:
    method: str
    operation: str
    path: str
    status: int


class RequestLog:
    """What the simulator has served, in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: list[ServedRequest] = []

    def add(self, served: ServedRequest) -> None:
        with self._lock:
            self._served.append(served)

    @property
    def served(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._served)

    def count(
        self, operation: str | None = None, *, method: str | None = None, status: int | None = None
    ) -> int:
        """How many requests matched (operation id compared case-insensitively)."""
        return sum(
            1
            for served in self.served
            if (operation is None or served.operation.lower() == operation.lower())
            and (method is None or served.method == method.upper())
            and (status is None or served.status == status)
        )

    def operations(self) -> list[str]:
        return [served.operation for served in self.served]

    def clear(self) -> None:
        with self._lock:
            self._served.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._served)


class _ArmHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog (socketserver's default is 5). A client opening 20 connections at once (a
    # diagnosis starting its reads and long-running operations) while the accepting thread waits for
    # the GIL would overflow 5: the kernel drops the handshake's last step and the client's
    # connection stalls for TCP's 1 s retransmission, as no ARM front door makes it.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], api: ArmApi, log: RequestLog, context: ssl.SSLContext
    ) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.log = log
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops the connection or fails the TLS handshake is not the server's error."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _ArmHttpServer
    protocol_version = "HTTP/1.1"
    server_version = "appgw-doctor-arm-simulator"
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms per request on Linux loopback).
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = ArmRequest.from_http(self.command, self.path, dict(self.headers.items()), body)
        operation, response = self.server.api.handle(request)
        payload = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        self.server.log.add(ServedRequest(request.method, operation, request.path, response.status))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: the request log records what was served."""


class HttpsServer:
    """Serves an `ArmApi` over HTTPS on `host:port` (0 = an ephemeral port) in a background thread."""

    def __init__(self, api: ArmApi, log: RequestLog, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._api = api
        self._log = log
        self._address = (host, port)
        self._server: _ArmHttpServer | None = None
        self._thread: threading.Thread | None = None
        self._directory: str | None = None
        self.ca_cert = ""
        self.endpoint = ""

    def start(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="arm-simulator-")
        authority = trustme.CA(organization_name="appgw-doctor simulator")
        self.ca_cert = str(Path(self._directory) / "ca.pem")
        authority.cert_pem.write_to_path(self.ca_cert)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server = _ArmHttpServer(self._address, self._api, self._log, context)
        self.endpoint = f"https://{self._address[0]}:{self._server.server_port}"
        self._api.base_url = self.endpoint
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="arm-simulator",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
