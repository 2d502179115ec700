"""Shared pieces for the notification tests: realistic findings, the Adaptive Card schema, a real
HTTP receiver standing in for a Teams Workflows webhook and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import html
import json
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
from aiosmtpd.controller import Controller

from model.findings import CheckResult, CheckStatus, Finding, Fix, Severity
from model.plans import AllowRule, RequestTimeoutRaise
from model.remediation import ACTION_STATUSES, ActionResult, Change

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
GATEWAY_ID = f"{RG}/applicationGateways/agw-contoso"
NSG_ID = f"{RG}/networkSecurityGroups/nsg-agw"
UNKNOWN_LOG = (
    "The backend health status could not be retrieved. This happens when an NSG/UDR/Firewall on the "
    "application gateway subnet is blocking traffic on ports 65200-65535."
)


def sample_findings() -> list[Finding]:
    """Findings worded as the diagnosis words them, deliberately out of severity order."""
    return [
        Finding(
            code="CUSTOM_DNS_UNVERIFIED",
            severity=Severity.INFO,
            title="Custom DNS servers could not be checked for backend FQDNs",
            resource=f"{RG}/virtualNetworks/vnet-contoso",
            evidence={"dnsServers": ["10.0.0.4"], "fqdns": ["api.contoso.internal"]},
            fix=Fix(summary="Check that 10.0.0.4 resolves api.contoso.internal."),
        ),
        Finding(
            code="BACKEND_HEALTH_UNKNOWN",
            severity=Severity.WARNING,
            title="Backend health is Unknown for 2 servers in web-pool",
            resource=f"{GATEWAY_ID}/backendAddressPools/web-pool",
            evidence={
                "unknownServers": ["10.1.2.4", "10.1.2.5"],
                "pairs": [
                    {
                        "pool": "web-pool",
                        "settings": "web_settings",
                        "servers": [
                            {"address": "10.1.2.4", "health": "unknown", "healthProbeLog": UNKNOWN_LOG},
                            {"address": "10.1.2.5", "health": "unknown", "healthProbeLog": UNKNOWN_LOG},
                        ],
                    }
                ],
            },
            fix=Fix(summary="Unknown usually follows a blocked infrastructure port; fix the NSG first."),
        ),
        Finding(
            code="NSG_BLOCKS_INFRA_PORTS",
            severity=Severity.CRITICAL,
            title="NSG blocks infrastructure ports 65200-65535 from GatewayManager",
            resource=f"{NSG_ID}/securityRules/deny-all-inbound",
            evidence={
                "nsg": NSG_ID,
                "direction": "Inbound",
                "source": "GatewayManager",
                "destination": "10.1.0.0/24",
                "protocol": "Tcp",
                "requiredPorts": "65200-65535",
                "blockedPorts": ["65200-65535"],
                "decidingRules": [
                    {
                        "name": "deny-all-inbound",
                        "id": f"{NSG_ID}/securityRules/deny-all-inbound",
                        "priority": 100,
                    }
                ],
                "sku": "v2",
            },
            fix=Fix(
                summary="Allow inbound TCP 65200-65535 from GatewayManager above rule deny-all-inbound.",
                command=(
                    "az network nsg rule create -g rg-contoso-web --nsg-name nsg-agw "
                    "-n allow-gateway-manager --priority 90 --direction Inbound --access Allow "
                    "--protocol Tcp "
                    "--source-address-prefixes GatewayManager --destination-port-ranges 65200-65535 "
                    "--destination-address-prefixes '*'"
                ),
                plan=AllowRule(
                    NSG_ID,
                    "allow-gateway-manager",
                    90,
                    "Inbound",
                    ("GatewayManager",),
                    ("*",),
                    ("65200-65535",),
                ),
            ),
        ),
        Finding(
            code="REQUEST_TIMEOUT_TOO_LOW",
            severity=Severity.CRITICAL,
            title="Backend responses take 19.2 s against a 20 s request timeout on web_settings",
            resource=f"{GATEWAY_ID}/backendHttpSettingsCollection/web_settings",
            evidence={
                "settings": "web_settings",
                "metric": "BackendLastByteResponseTime",
                "aggregation": "maximum",
                "observedMs": 19200.0,
                "requestTimeoutSeconds": 20,
                "ratio": 0.96,
                "threshold": 0.8,
            },
            fix=Fix(
                summary="Raise the request timeout of web_settings to 60 s.",
                command=(
                    "az network application-gateway http-settings update -g rg-contoso-web "
                    "--gateway-name agw-contoso -n web_settings --timeout 60"
                ),
                plan=RequestTimeoutRaise(
                    f"{GATEWAY_ID}/backendHttpSettingsCollection/web_settings", "web_settings", 20, 60
                ),
            ),
        ),
    ]


NSG_BACKEND = f"{RG}/networkSecurityGroups/nsg-backend"
CONNECT_LOG = (
    "Application Gateway could not connect to the backend. Check that the backend responds on the port "
    "used for the probe."
)


def unhealthy_pool(pool: str = "web-pool") -> Finding:
    """ALL_BACKENDS_UNHEALTHY as the backend-health check words it: a symptom."""
    servers = [
        {"address": address, "health": "unhealthy", "healthProbeLog": CONNECT_LOG}
        for address in ("10.1.1.4", "10.1.1.5")
    ]
    return Finding(
        "ALL_BACKENDS_UNHEALTHY",
        Severity.CRITICAL,
        f"Every server of backend pool {pool} is unhealthy (2 for settings web-settings)",
        f"{GATEWAY_ID}/backendAddressPools/{pool}",
        {"pairs": [{"pool": pool, "settings": "web-settings", "servers": servers}]},
        Fix("The gateway has no healthy server to send to; the other findings say why the probe fails."),
    )


def nsg_blocks_backend() -> Finding:
    """NSG_BLOCKS_BACKEND as the nsg-backend check words it: the root cause."""
    return Finding(
        "NSG_BLOCKS_BACKEND",
        Severity.CRITICAL,
        "NSG nsg-backend rule DenyAppGateway (priority 100) blocks the gateway from backend 10.1.1.4, "
        "10.1.1.5 on port 8080 (inbound)",
        f"{NSG_BACKEND}/securityRules/DenyAppGateway",
        {
            "nsg": NSG_BACKEND,
            "direction": "Inbound",
            "source": "10.1.0.0/24",
            "decidingRule": {
                "name": "DenyAppGateway",
                "id": f"{NSG_BACKEND}/securityRules/DenyAppGateway",
                "priority": 100,
                "access": "Deny",
                "default": False,
                "nsg": "nsg-backend",
            },
            "blocked": [
                {
                    "address": a,
                    "port": 8080,
                    "pool": "web-pool",
                    "settings": "web-settings",
                    "from": "10.1.0.0/24",
                }
                for a in ("10.1.1.4", "10.1.1.5")
            ],
        },
        Fix("Allow TCP 8080 from the gateway subnet ahead of rule DenyAppGateway."),
    )


def connect_failed() -> Finding:
    servers = [
        {
            "pool": "web-pool",
            "settings": "web-settings",
            "address": a,
            "health": "unhealthy",
            "healthProbeLog": CONNECT_LOG,
        }
        for a in ("10.1.1.4", "10.1.1.5")
    ]
    return Finding(
        "BACKEND_CONNECT_FAILED",
        Severity.CRITICAL,
        "Gateway cannot connect to 10.1.1.4, 10.1.1.5 on port 8080 (settings web-settings)",
        f"{GATEWAY_ID}/backendHttpSettingsCollection/web-settings",
        {"servers": servers, "port": 8080},
        Fix("Check that the backend listens on the port."),
    )


def sample_checks() -> list[CheckResult]:
    return [
        CheckResult("nsg", CheckStatus.FAILED),
        CheckResult("routes", CheckStatus.PASSED),
        CheckResult("probes", CheckStatus.PASSED),
        CheckResult("backend-health", CheckStatus.ERROR, "throttled past retries (HTTP 429)"),
        CheckResult("metrics", CheckStatus.SKIPPED, "permission denied on Microsoft.Insights/metrics"),
    ]


SETTINGS_ID = f"{GATEWAY_ID}/backendHttpSettingsCollection/web_settings"


def timeout_command(seconds: int) -> str:
    return (
        "az network application-gateway http-settings update -g rg-contoso-web --gateway-name agw-contoso "
        f"-n web_settings --timeout {seconds}"
    )


ALLOW_COMMAND = (
    "az network nsg rule create -g rg-contoso-web --nsg-name nsg-agw -n allow-gateway-manager --priority 90 "
    "--direction Inbound --access Allow --protocol Tcp --source-address-prefixes GatewayManager "
    "--destination-port-ranges 65200-65535 --destination-address-prefixes '*'"
)
ALLOW_UNDO = "az network nsg rule delete -g rg-contoso-web --nsg-name nsg-agw -n allow-gateway-manager"
TIMEOUT_CHANGE = Change(
    SETTINGS_ID,
    {"requestTimeout": 20},
    {"requestTimeout": 60},
    "requestTimeout 20 s -> 60 s on settings web_settings",
)
ALLOW_CHANGE = Change(
    f"{NSG_ID}/securityRules/allow-gateway-manager",
    None,
    {"priority": 90, "access": "Allow", "destinationPortRange": "65200-65535"},
    "add rule allow-gateway-manager (priority 90: allow TCP 65200-65535 from GatewayManager) to NSG nsg-agw",
)


def sample_actions() -> dict[str, ActionResult]:
    """One action result per status, as the remediate stage words them (model.remediation)."""
    timeout = {
        "action": "raise-request-timeout",
        "finding": "REQUEST_TIMEOUT_TOO_LOW",
        "resource": SETTINGS_ID,
        "change": TIMEOUT_CHANGE,
        "command": timeout_command(60),
    }
    allow = {
        "action": "add-nsg-allow-rule",
        "finding": "NSG_BLOCKS_INFRA_PORTS",
        "resource": NSG_ID,
        "change": ALLOW_CHANGE,
        "command": ALLOW_COMMAND,
    }
    actions = {
        "planned": ActionResult(
            **allow, status="planned", reason="dry-run: gateway tag appgw-doctor-remediation=dry-run"
        ),
        "applied": ActionResult(
            **timeout,
            status="applied",
            reason="written; the next diagnosis verifies it",
            undo=timeout_command(20),
            verification="not verified yet",
        ),
        "verified": ActionResult(
            **timeout,
            status="verified",
            undo=timeout_command(20),
            verification="REQUEST_TIMEOUT_TOO_LOW is gone and no new critical finding appeared",
        ),
        "rolled-back": ActionResult(
            **allow,
            status="rolled-back",
            reason="NSG_BLOCKS_INFRA_PORTS was still found after the change",
            undo=ALLOW_UNDO,
            verification="rule allow-gateway-manager deleted; NSG nsg-agw is as it was",
        ),
        "refused": ActionResult(
            **timeout,
            status="refused",
            reason="the proposed 60 s is above REMEDIATION_MAX_REQUEST_TIMEOUT (45 s)",
        ),
        "skipped": ActionResult(
            "reattach-probe",
            "PROBE_DETACHED",
            f"{GATEWAY_ID}/backendHttpSettingsCollection/api_settings",
            "skipped",
            "reattach-probe is not on the gateway's allow-list",
        ),
        "failed": ActionResult(
            **timeout,
            status="failed",
            reason="ARM refused the rollback (409 Conflict): requestTimeout is still 60 s",
            undo=timeout_command(20),
            verification="the gateway still shows requestTimeout 60 s",
        ),
    }
    assert set(actions) == set(ACTION_STATUSES)
    return actions


@pytest.fixture
def actions() -> dict[str, ActionResult]:
    return sample_actions()


@pytest.fixture
def kit() -> SimpleNamespace:
    """Findings as their checks word them, for test modules (conftest is not importable under importlib
    mode): a root cause, the symptom it explains, and what the probe log saw."""
    return SimpleNamespace(
        unhealthy_pool=unhealthy_pool, nsg_blocks_backend=nsg_blocks_backend, connect_failed=connect_failed
    )


@pytest.fixture
def findings() -> list[Finding]:
    return sample_findings()


@pytest.fixture
def checks() -> list[CheckResult]:
    return sample_checks()


@pytest.fixture
def alert_data() -> dict:
    payload = json.loads((ROOT / "scenarios" / "nsg-infra-ports-v2" / "alert.json").read_text())
    return payload["data"]


@pytest.fixture(scope="session")
def card_validator() -> jsonschema.Draft6Validator:
    """The official Adaptive Card 1.5 JSON schema (see data/README.md for where it comes from)."""
    schema = json.loads((DATA / "adaptive-card-1.5.schema.json").read_text())
    jsonschema.Draft6Validator.check_schema(schema)
    return jsonschema.Draft6Validator(schema)


@dataclass
class WebhookReceiver:
    """A local HTTP server that records posts and answers from a script, then 202 Accepted."""

    url: str
    posts: list[bytes] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches on
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                receiver.posts.append(body)
                status, headers = receiver.script.pop(0) if receiver.script else (202, {})
            reply = b"" if status < 300 else json.dumps({"error": f"scripted {status}"}).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/workflows/abc/triggers/manual/paths/invoke"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class RecordingHandler:
    """aiosmtpd handler keeping every accepted message (envelope sender, recipients, raw bytes)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


@pytest.fixture
def recording_handler() -> type[RecordingHandler]:
    """The handler class, for tests that subclass it to script SMTP replies."""
    return RecordingHandler


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler


@pytest.fixture
def smtp_factory() -> Iterator[Callable[..., SmtpServer]]:
    """Start real SMTP servers on 127.0.0.1 with `handler` (default: record every message); other keyword
    arguments go to aiosmtpd's SMTP class (TLS, AUTH)."""
    controllers: list[Controller] = []

    def start(handler: RecordingHandler | None = None, **smtp_options: object) -> SmtpServer:
        handler = handler or RecordingHandler()
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_options)
        controller.start()
        controllers.append(controller)
        return SmtpServer(controller.hostname, controller.port, handler)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(smtp_factory: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_factory()


@pytest.fixture
def closed_port() -> int:
    return free_port()


def free_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CHROMIUM = Path("/usr/bin/chromium")
ADAPTIVECARDS_JS = ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--allow-file-access-from-files",
]
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="{css}">
<style>
body {{ margin: 0; background: #ebebeb; }}
#card {{ width: 600px; margin: 16px; background: #fff; border-radius: 6px; overflow: hidden;
        box-shadow: 0 1px 4px rgba(0,0,0,.25); }}
</style>
<script src="{js}"></script>
</head><body><div id="card"></div><pre id="events"></pre>
<script>
const payload = {payload};
const card = new AdaptiveCards.AdaptiveCard();
card.hostConfig = new AdaptiveCards.HostConfig({host_config});
const context = new AdaptiveCards.SerializationContext();
card.parse(payload.attachments[0].content, context);
const events = [];
for (let i = 0; i < context.eventCount; i++) events.push("parse: " + context.getEventAt(i).message);
for (const event of card.validateProperties().validationEvents) events.push("validate: " + event.message);
document.getElementById("card").appendChild(card.render());
document.getElementById("events").textContent = JSON.stringify(events);
</script></body></html>
"""


@dataclass(frozen=True)
class RenderedCard:
    dom: str
    screenshot: Path
    events: list[str]


@pytest.fixture
def render_card(tmp_path: Path) -> Callable[[dict, str], RenderedCard]:
    """Render a Teams payload with the adaptivecards npm renderer (Teams light host config) in headless
    Chromium: a PNG screenshot in tmp_path, the rendered DOM, and the renderer's parse/validation events."""
    if not CHROMIUM.exists():
        pytest.skip(
            "headless rendering needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
        )
    if not ADAPTIVECARDS_JS.exists():
        pytest.skip("the adaptivecards renderer is missing: run `npm ci` at the repository root")

    def render(payload: dict, name: str, height: int = 1600) -> RenderedCard:
        def script_json(value: object) -> str:
            return json.dumps(value).replace("</", "<\\/")

        page = tmp_path / f"{name}.html"
        page.write_text(
            PAGE.format(
                css=(ADAPTIVECARDS_JS.parent / "adaptivecards.css").as_uri(),
                js=ADAPTIVECARDS_JS.as_uri(),
                payload=script_json(payload),
                host_config=(DATA / "teams-light.hostconfig.json").read_text(),
            ),
            encoding="utf-8",
        )
        screenshot = tmp_path / f"{name}.png"
        flags = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]
        subprocess.run(
            [*flags, f"--screenshot={screenshot}", f"--window-size=640,{height}", page.as_uri()],
            check=True,
            capture_output=True,
            timeout=120,
        )
        dumped = subprocess.run(
            [*flags, "--dump-dom", page.as_uri()], check=True, capture_output=True, timeout=120, text=True
        ).stdout
        events_text = dumped.split('<pre id="events">', 1)[1].split("</pre>", 1)[0]
        return RenderedCard(dom=dumped, screenshot=screenshot, events=json.loads(html.unescape(events_text)))

    return render
