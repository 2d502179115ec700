"""The hourly timer also prunes old state (STATE_RETENTION_DAYS), called the way the host calls it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from azure.functions.timer import TimerRequest

from state import Incident, IncidentStatus
from tests.functions.harness import OutputBinding

HEALTHY = Path(__file__).resolve().parents[2] / "scenarios/healthy"
GATEWAY = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
    "Microsoft.Network/applicationGateways/pruned"
)


def test_the_sweep_prunes_closed_incidents_older_than_the_retention(simulator, app_env, functions) -> None:
    app_env.point_at(simulator(HEALTHY / "world.json"))
    app_env.set("STATE_RETENTION_DAYS", "30")
    store = app_env.store()
    now = datetime.now(timezone.utc)
    for incident_id, opened, closed in (("old", 60, 45), ("recent", 20, 10), ("open", 90, None)):
        incident = store.create_incident(
            Incident(incident_id, GATEWAY, IncidentStatus.OPEN, opened_at=now - timedelta(days=opened),
                     updated_at=now - timedelta(days=opened))
        )  # fmt: skip
        store.attach_alert(incident_id, key=f"{incident_id}-alert", alert={"id": incident_id}, at=now)
        if closed is not None:
            store.close_incident(incident, now=now - timedelta(days=closed))

    work = OutputBinding()
    functions["sweep"](TimerRequest(past_due=False), work)

    assert work.get()  # the gateways were queued as before
    assert [i.id for i in store.list_incidents(GATEWAY)] == ["open", "recent"]
    assert store.incident_alerts("old") == []
    assert store.incident_alerts("recent") == [{"id": "recent"}]
    assert store.open_incident(GATEWAY).id == "open"
