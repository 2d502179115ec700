"""Crash safety: a worker process is SIGKILLed at each step of the pipeline, on Table Storage (Azurite)
and on SQLite, and the queue's redelivery goes to a fresh worker process. Every Fired alert is notified
exactly once (one Teams post, one email), every Resolved closes its incident and sends one resolution,
and no worker waits much longer than the (short, 2 s) lease for the dead one.

Real parts only: worker processes running the real pipeline, the ARM simulator over HTTPS, a Teams
webhook receiver and an SMTP server on localhost, Azurite or an SQLite file for state.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from appgw_doctor.pipeline import ALERT, WorkItem
from intake.alerts import RESOLVED, parse_alert_body
from state import IncidentStatus, StateStore
from state.sqlite import SqliteBackend
from state.tables import TableBackend
from tests.notifications.conftest import RecordingHandler

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "request-timeout"
WORKER = Path(__file__).with_name("crash_worker.py")
LEASE_SECONDS = 2
FIRED_STEPS = ["claimed", "diagnosed", "recorded", "delivered", "notified"]
RESOLVED_STEPS = ["closed", "delivered", "notified"]


def fired_item() -> WorkItem:
    (alert,) = parse_alert_body((SCENARIO / "alert.json").read_bytes(), allowed_subscriptions=None)
    return WorkItem(kind=ALERT, gateway_id=alert.gateway_id, alert=alert)


def resolved_item(fired: WorkItem) -> WorkItem:
    assert fired.alert is not None
    alert = replace(fired.alert, monitor_condition=RESOLVED, resolved_at=fired.alert.incident_time)
    return WorkItem(kind=ALERT, gateway_id=fired.gateway_id, alert=alert)


@pytest.fixture(params=["tables", "sqlite"])
def state(request, tmp_path):
    """(worker config for the state store, a StateStore on the same state for the test to inspect)."""
    if request.param == "tables":
        azurite = request.getfixturevalue("azurite")
        prefix = azurite.unique_prefix()
        config = {"tables": azurite.connection_string, "prefix": prefix}
        backend = TableBackend.from_connection_string(azurite.connection_string, prefix=prefix)
    else:
        path = tmp_path / "state.db"
        config = {"sqlite": str(path)}
        backend = SqliteBackend(path)
    store = StateStore(backend)
    yield config, store
    store.close()


class SlowRelay(RecordingHandler):
    """An SMTP relay slow to answer EHLO, so the email is still on its way when the Teams post has
    been delivered and recorded: a kill at "delivered" lands in the middle of notifying, and the
    email it interrupts was never accepted (no DATA was sent)."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd hook
        await asyncio.sleep(1.0)
        session.host_name = hostname
        return responses


@pytest.fixture
def smtp_server(smtp_factory):
    return smtp_factory(SlowRelay())


@pytest.fixture
def worker(simulator, webhook, smtp_server, state):
    """run(item, crash_at) -> the finished worker process (killed when `crash_at` was reached)."""
    sim = simulator(SCENARIO / "world.json")
    base = {
        "state": state[0],
        "arm": {"endpoint": sim.endpoint, "caCert": sim.ca_cert},
        "notifications": {
            "TEAMS_WEBHOOK_URL": webhook.url + "?sig=secret",
            "NOTIFY_EMAIL_TO": "oncall@contoso.com",
            "SMTP_HOST": smtp_server.host,
            "SMTP_PORT": str(smtp_server.port),
            "SMTP_FROM": "doctor@contoso.com",
            "SMTP_STARTTLS": "never",
        },
        "leaseSeconds": LEASE_SECONDS,
    }

    def run(item: WorkItem, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        config = {**base, "item": item.to_message(), "crashAt": crash_at}
        return subprocess.run(
            [sys.executable, str(WORKER), json.dumps(config)],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip

    return run


def outcome(process: subprocess.CompletedProcess[str]) -> str:
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.strip().splitlines()[-1])["outcome"]


def killed(process: subprocess.CompletedProcess[str]) -> bool:
    return process.returncode == -signal.SIGKILL


def sent(webhook, smtp_server) -> tuple[int, int]:
    return len(webhook.posts), len(smtp_server.handler.messages)


@pytest.mark.parametrize("step", FIRED_STEPS)
def test_a_fired_alert_is_notified_exactly_once_whatever_step_its_worker_dies_at(
    step, worker, state, webhook, smtp_server
):
    store = state[1]
    fired = fired_item()
    assert killed(worker(fired, crash_at=step))

    # The queue redelivers at once: the dead worker's claim and lease are still held, and are waited for.
    assert outcome(worker(fired)) in {"diagnosed", "joined"}
    assert sent(webhook, smtp_server) == (1, 1)
    incident = store.open_incident(fired.gateway_id)
    assert incident is not None and incident.status is IncidentStatus.OPEN
    assert incident.pending() == [] and len(incident.outbox["incident"]["sent"]) == 2

    assert outcome(worker(fired)) == "duplicate"  # a later redelivery sends nothing
    assert outcome(worker(resolved_item(fired))) == "closed"
    assert sent(webhook, smtp_server) == (2, 2)  # the resolution, once
    assert store.open_incident(fired.gateway_id) is None
    assert store.get_incident(fired.gateway_id, incident.id).status is IncidentStatus.CLOSED


@pytest.mark.parametrize("step", RESOLVED_STEPS)
def test_a_resolution_is_sent_exactly_once_whatever_step_its_worker_dies_at(
    step, worker, state, webhook, smtp_server
):
    store = state[1]
    fired = fired_item()
    resolved = resolved_item(fired)
    assert outcome(worker(fired)) == "diagnosed"
    assert sent(webhook, smtp_server) == (1, 1)
    incident = store.open_incident(fired.gateway_id)

    assert killed(worker(resolved, crash_at=step))
    assert outcome(worker(resolved)) == "closed"
    assert sent(webhook, smtp_server) == (2, 2)
    closed = store.get_incident(fired.gateway_id, incident.id)
    assert closed.status is IncidentStatus.CLOSED and closed.pending() == []
    assert outcome(worker(resolved)) == "duplicate"
    assert sent(webhook, smtp_server) == (2, 2)


def test_a_resolved_waits_out_a_dead_workers_lease_instead_of_failing(worker, state, webhook, smtp_server):
    store = state[1]
    fired = fired_item()
    assert killed(worker(fired, crash_at="diagnosed"))  # dies holding the gateway's lease

    assert outcome(worker(resolved_item(fired))) == "closed"  # takes the lease over once it expires
    assert outcome(worker(fired)) == "diagnosed"  # the redelivered Fired: diagnosed, told, closed at once
    assert store.open_incident(fired.gateway_id) is None
    incidents = store.list_incidents(fired.gateway_id)
    assert all(incident.status is IncidentStatus.CLOSED for incident in incidents)
    assert webhook.posts and len(smtp_server.handler.messages) == len(webhook.posts)
