"""Alert storm on Table Storage (Azurite): 500 deliveries of one alert plus one alert for each of 50
gateways, concurrently -> exactly one diagnosis per gateway and nothing lost."""

from __future__ import annotations

from collections import Counter

from state import IncidentStatus
from tests.functions.storm import storm, world_with_gateways

GATEWAYS = 50
REPEATS = 500


def test_storm_yields_exactly_one_diagnosis_per_gateway(simulator, app_env, functions) -> None:
    world, gateways = world_with_gateways(GATEWAYS)
    app_env.point_at(simulator(world))

    result = storm(functions, gateways, repeats=REPEATS, workers=16)

    assert result.statuses == [202] * (REPEATS + GATEWAYS)
    store = app_env.store()
    diagnoses = Counter(record.gateway_id.lower() for record in store.list_diagnoses())
    assert diagnoses == Counter({gw.lower(): 1 for gw in gateways})
    incidents = store.list_incidents()
    assert sorted(i.gateway_id.lower() for i in incidents) == sorted(gw.lower() for gw in gateways)
    assert all(i.status is IncidentStatus.OPEN and i.report["outcome"] == "diagnosed" for i in incidents)
    alerts = {i.gateway_id.lower(): len(store.incident_alerts(i.id)) for i in incidents}
    assert alerts[gateways[0].lower()] == 2  # the stormed alert and its gateway's own alert
    assert set(alerts.values()) - {2} == {1}
