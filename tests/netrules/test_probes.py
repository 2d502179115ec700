"""Which probe runs for backend settings, custom probe validity, status codes, health values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.mgmt.network import models
from hypothesis import given
from hypothesis import strategies as st

from netrules.probes import effective_probe, health_state, probe_problems, status_matches

ROOT = Path(__file__).resolve().parents[2]
GW = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/agw"
PROBE_ID = f"{GW}/probes/web-probe"


def probe_body(**properties):
    base = {
        "protocol": "Http",
        "path": "/health",
        "interval": 30,
        "timeout": 30,
        "unhealthyThreshold": 3,
        "pickHostNameFromBackendHttpSettings": False,
        "host": "probe.contoso.com",
        "match": {"statusCodes": ["200-399"]},
    }
    base.update(properties)
    return {
        "id": PROBE_ID,
        "name": "web-probe",
        "properties": {k: v for k, v in base.items() if v is not None},
    }


def settings_body(probe_id=None, **properties):
    base = {"port": 8080, "protocol": "Http", "requestTimeout": 20, "pickHostNameFromBackendAddress": False}
    base.update(properties)
    if probe_id:
        base["probe"] = {"id": probe_id}
    return {"id": f"{GW}/backendHttpSettingsCollection/web", "name": "web", "properties": base}


def gateway(settings, probes=()):
    return models.ApplicationGateway(
        {
            "id": GW,
            "name": "agw",
            "properties": {"probes": list(probes), "backendHttpSettingsCollection": [settings]},
        }
    )


def resolve(settings, probes=(), address="10.1.1.4"):
    gw = gateway(settings, probes)
    return effective_probe(gw, gw.backend_http_settings_collection[0], address)


# --- default probe ---


def test_default_probe():
    spec = resolve(settings_body())
    assert (spec.protocol, spec.host, spec.path, spec.port) == ("Http", "127.0.0.1", "/", 8080)
    assert (spec.interval, spec.timeout, spec.unhealthy_threshold) == (30, 30, 3)
    assert spec.status_codes == ["200-399"] and spec.body is None
    assert spec.is_default and spec.probe_id is None and not spec.reference_broken
    assert spec.url == "http://127.0.0.1:8080/"


def test_default_probe_sends_settings_host_name():
    spec = resolve(settings_body(hostName="app.contoso.com", protocol="Https", port=443))
    assert (spec.protocol, spec.host, spec.port) == ("Https", "app.contoso.com", 443)


def test_default_probe_picks_backend_address():
    spec = resolve(settings_body(pickHostNameFromBackendAddress=True), address="app.azurewebsites.net")
    assert spec.host == "app.azurewebsites.net"


def test_scenario_default_probe():
    world = json.loads((ROOT / "scenarios/default-probe/world.json").read_text())
    body = next(r for r in world["resources"] if r["type"].endswith("applicationGateways"))
    gw = models.ApplicationGateway(body)
    settings = gw.backend_http_settings_collection[0]
    spec = effective_probe(gw, settings, "10.1.1.4")
    assert spec.is_default and spec.path == "/" and spec.port == settings.port


# --- custom probe ---


def test_custom_probe():
    spec = resolve(
        settings_body(PROBE_ID), [probe_body(match={"statusCodes": ["200", "301-302"], "body": "ok"})]
    )
    assert not spec.is_default and spec.probe_id == PROBE_ID
    assert (spec.protocol, spec.host, spec.path, spec.port) == ("Http", "probe.contoso.com", "/health", 8080)
    assert spec.status_codes == ["200", "301-302"] and spec.body == "ok"


def test_custom_probe_lookup_ignores_case():
    spec = resolve(settings_body(PROBE_ID.upper()), [probe_body()])
    assert spec.probe_id == PROBE_ID


def test_custom_probe_port_overrides_settings_port():
    assert resolve(settings_body(PROBE_ID), [probe_body(port=9000)]).port == 9000


def test_custom_probe_times_and_threshold():
    spec = resolve(settings_body(PROBE_ID), [probe_body(interval=10, timeout=5, unhealthyThreshold=2)])
    assert (spec.interval, spec.timeout, spec.unhealthy_threshold) == (10, 5, 2)


def test_custom_probe_without_match_uses_default_codes():
    spec = resolve(settings_body(PROBE_ID), [probe_body(match=None)])
    assert spec.status_codes == ["200-399"] and spec.body is None


@pytest.mark.parametrize(
    "settings_extra, address, host",
    [
        ({"hostName": "app.contoso.com"}, "10.1.1.4", "app.contoso.com"),
        ({"pickHostNameFromBackendAddress": True}, "app.azurewebsites.net", "app.azurewebsites.net"),
        ({}, "10.1.1.4", "127.0.0.1"),
    ],
)
def test_custom_probe_picks_host_from_settings(settings_extra, address, host):
    probe = probe_body(host=None, pickHostNameFromBackendHttpSettings=True)
    assert resolve(settings_body(PROBE_ID, **settings_extra), [probe], address=address).host == host


def test_broken_reference_falls_back_to_default_and_says_so():
    spec = resolve(settings_body(f"{GW}/probes/gone"), [probe_body()])
    assert spec.is_default and spec.reference_broken and spec.path == "/" and spec.probe_id is None


# --- probe problems ---


def probe(**properties):
    return models.ApplicationGatewayProbe(probe_body(**properties))


def test_valid_probe_has_no_problems():
    assert probe_problems(probe(), {"Http"}) == []
    assert probe_problems(probe(host=None, pickHostNameFromBackendHttpSettings=True), {"http"}) == []
    assert probe_problems(probe(interval=86400, timeout=1, unhealthyThreshold=20), set()) == []


@pytest.mark.parametrize(
    "properties, protocols, fragment",
    [
        ({"path": "health"}, {"Http"}, "does not start with '/'"),
        ({"path": None}, {"Http"}, "does not start with '/'"),
        ({"interval": 0, "timeout": 0}, {"Http"}, "Interval 0 s is outside 1-86400 s"),
        ({"interval": 86401}, {"Http"}, "Interval 86401 s is outside"),
        ({"timeout": 0}, {"Http"}, "Timeout 0 s is outside"),
        ({"unhealthyThreshold": 21}, {"Http"}, "Unhealthy threshold 21 is outside 1-20"),
        ({"unhealthyThreshold": 0}, {"Http"}, "Unhealthy threshold 0 is outside 1-20"),
        ({"timeout": 60, "interval": 30}, {"Http"}, "Timeout 60 s is greater than the interval 30 s"),
        ({"host": None}, {"Http"}, "No host is set"),
        ({}, {"Https"}, "Probe protocol Http differs from the Https protocol"),
    ],
)
def test_probe_problems(properties, protocols, fragment):
    problems = probe_problems(probe(**properties), protocols)
    assert any(fragment in p for p in problems), problems
    assert all(p.endswith(".") and "\n" not in p for p in problems)


def test_each_problem_reported_once():
    problems = probe_problems(
        probe(path="x", interval=0, timeout=100000, unhealthyThreshold=50, host=None), {"Http", "Https"}
    )
    # path, interval, timeout, threshold, timeout > interval, host, protocol
    assert len(problems) == 7


# --- read by wire names: the JSON ARM sends and the SDK's models alike ---

SPEC_CASES = [
    (settings_body(), ()),
    (settings_body(hostName="app.contoso.com", protocol="Https", port=443), ()),
    (settings_body(pickHostNameFromBackendAddress=True), ()),
    (settings_body(PROBE_ID), (probe_body(),)),
    (
        settings_body(PROBE_ID, hostName="h.contoso.com"),
        (probe_body(host=None, pickHostNameFromBackendHttpSettings=True),),
    ),
    (
        settings_body(PROBE_ID),
        (probe_body(port=8443, protocol="Https", match={"statusCodes": ["200"], "body": "ok"}),),
    ),
    (settings_body(PROBE_ID), (probe_body(timeout=None, interval=None, unhealthyThreshold=None, path=None),)),
    (settings_body(f"{GW}/probes/missing"), (probe_body(),)),
]


@pytest.mark.parametrize("settings, probes", SPEC_CASES)
def test_effective_probe_reads_json_as_the_models_do(settings, probes):
    as_json = {
        "id": GW,
        "name": "agw",
        "properties": {"probes": list(probes), "backendHttpSettingsCollection": [settings]},
    }
    from_models = resolve(settings, probes, address="10.1.1.9")
    from_json = effective_probe(as_json, settings, "10.1.1.9")
    assert from_json == from_models
    assert from_json.host != "" and from_json.status_codes


@pytest.mark.parametrize(
    "properties",
    [
        {},
        {"path": "x", "interval": 0, "timeout": 100000, "unhealthyThreshold": 50, "host": None},
        {"protocol": "Https"},
    ],
)
def test_probe_problems_read_json_as_the_models_do(properties):
    assert probe_problems(probe_body(**properties), {"Http"}) == probe_problems(probe(**properties), {"Http"})


# --- status codes ---


@pytest.mark.parametrize(
    "code, codes, expected",
    [
        (200, ["200-399"], True),
        (399, ["200-399"], True),
        (400, ["200-399"], False),
        (404, ["200-399", "404"], True),
        (199, ["200-399", "404"], False),
        (301, [" 301 - 302 "], True),
        (200, [], False),
    ],
)
def test_status_matches(code, codes, expected):
    assert status_matches(code, codes) is expected


@pytest.mark.parametrize("entry", ["ok", "399-200", "2000", "-"])
def test_status_matches_rejects_bad_entries(entry):
    with pytest.raises(ValueError, match="invalid status code match"):
        status_matches(200, [entry])


@given(st.integers(100, 999), st.integers(100, 999), st.integers(100, 999))
def test_status_range_is_inclusive(code, a, b):
    low, high = sorted((a, b))
    assert status_matches(code, [f"{low}-{high}"]) is (low <= code <= high)


# --- health values ---


@pytest.mark.parametrize(
    "value, state",
    [
        ("Healthy", "healthy"),
        ("Up", "healthy"),
        ("UP", "healthy"),
        ("Unhealthy", "unhealthy"),
        ("down", "unhealthy"),
        ("Unknown", "unknown"),
        ("Partial", "partial"),
        ("Draining", "draining"),
        (models.ApplicationGatewayBackendHealthServerHealth.UP, "healthy"),
        (models.ApplicationGatewayBackendHealthServerHealth.DOWN, "unhealthy"),
    ],
)
def test_health_state(value, state):
    assert health_state(value) == state


def test_health_state_from_scenario_models():
    seen = set()
    for world_path in sorted((ROOT / "scenarios").glob("*/world.json")):
        world = json.loads(world_path.read_text())
        for body in world.get("backendHealth", {}).values():
            health = models.ApplicationGatewayBackendHealth(body)
            for pool in health.backend_address_pools or []:
                for collection in pool.backend_http_settings_collection or []:
                    seen.update(health_state(server.health) for server in collection.servers or [])
    assert {"healthy", "unhealthy", "unknown"} <= seen


@pytest.mark.parametrize("value", ["", None, "Sick"])
def test_health_state_rejects_unknown_values(value):
    with pytest.raises(ValueError, match="unknown backend health value"):
        health_state(value)
