"""ALL_BACKENDS_UNHEALTHY and BACKEND_HEALTH_UNKNOWN."""

from __future__ import annotations

import pytest

from diagnostics.checks.backend_health import ALL_UNHEALTHY, UNKNOWN
from diagnostics.snapshot import MissingData
from model.findings import Severity
from simulator import FaultRule

POOL = "/backendAddressPools/web-pool"


def servers(world):
    [gateway_health] = world["backendHealth"].values()
    return gateway_health["backendAddressPools"][0]["backendHttpSettingsCollection"][0]["servers"]


@pytest.mark.parametrize("spelling", ["Unhealthy", "Down", "down"])
def test_every_server_unhealthy_is_critical_in_either_spelling(kit, spelling):
    world = kit.healthy_world()
    kit.set_health(world, spelling, "Application Gateway could not connect to the backend.")
    [finding] = ALL_UNHEALTHY.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("ALL_BACKENDS_UNHEALTHY", Severity.CRITICAL)
    assert finding.resource.endswith(POOL)
    [pair] = finding.evidence["pairs"]
    assert pair["settings"] == "web-settings"
    assert [s["address"] for s in pair["servers"]] == ["10.1.1.4", "10.1.1.5"]
    assert UNKNOWN.run(kit.snapshot(world)) == []


@pytest.mark.parametrize("other", ["Healthy", "Up", "Unknown", "Draining", "Partial"])
def test_one_server_not_unhealthy_means_not_all_unhealthy(kit, other):
    world = kit.healthy_world()
    servers(world)[0]["health"] = "Unhealthy"
    servers(world)[1]["health"] = other
    assert ALL_UNHEALTHY.run(kit.snapshot(world)) == []


def test_a_pair_with_no_servers_is_not_all_unhealthy(kit):
    world = kit.healthy_world()
    servers(world).clear()
    assert ALL_UNHEALTHY.run(kit.snapshot(world)) == []


def test_pairs_are_judged_separately(kit):
    world = kit.healthy_world()
    [gateway_health] = world["backendHealth"].values()
    collections = gateway_health["backendAddressPools"][0]["backendHttpSettingsCollection"]
    broken = {
        "backendHttpSettings": {
            "id": collections[0]["backendHttpSettings"]["id"].replace("web-settings", "api")
        },
        "servers": [{"address": "10.1.1.4", "health": "Down", "healthProbeLog": "x"}],
    }
    collections.append(broken)
    [finding] = ALL_UNHEALTHY.run(kit.snapshot(world))
    assert [p["settings"] for p in finding.evidence["pairs"]] == ["api"]


def test_unknown_servers_are_a_warning(kit):
    world = kit.healthy_world()
    servers(world)[0]["health"] = "Unknown"
    [finding] = UNKNOWN.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("BACKEND_HEALTH_UNKNOWN", Severity.WARNING)
    assert finding.evidence["unknownServers"] == ["10.1.1.4"]
    assert finding.resource.endswith(POOL)


def test_an_undocumented_health_value_counts_as_unknown(kit):
    world = kit.healthy_world()
    servers(world)[0]["health"] = "Flapping"
    assert [f.code for f in UNKNOWN.run(kit.snapshot(world))] == ["BACKEND_HEALTH_UNKNOWN"]


def test_healthy_servers_raise_nothing(kit):
    snapshot = kit.snapshot(kit.healthy_world())
    assert ALL_UNHEALTHY.run(snapshot) == [] and UNKNOWN.run(snapshot) == []


def test_health_that_could_not_be_collected_is_missing_data_not_a_pass(kit):
    snapshot = kit.snapshot(
        kit.healthy_world(), faults=[FaultRule("applicationGateways.backendHealth", "error", status=403)]
    )
    for check in (ALL_UNHEALTHY, UNKNOWN):
        with pytest.raises(MissingData, match="403"):
            check.run(snapshot)


def test_all_unhealthy_fix_names_what_the_probe_log_reports(kit):
    world = kit.healthy_world()
    kit.set_health(world, "Unhealthy", "Application Gateway could not connect to the backend.")
    [finding] = ALL_UNHEALTHY.run(kit.snapshot(world))
    assert finding.evidence["probeLogCauses"] == ["cannot connect to the backend"]
    assert "cannot connect to the backend" in finding.fix.summary
    assert "other findings" not in finding.fix.summary


def test_all_unhealthy_with_unrecognised_log_does_not_claim_other_findings_explain_it(kit):
    world = kit.healthy_world()
    kit.set_health(world, "Unhealthy", "The backend server closed the connection during the TLS handshake.")
    [finding] = ALL_UNHEALTHY.run(kit.snapshot(world))
    assert finding.evidence["probeLogCauses"] == []
    assert finding.evidence["unrecognisedServers"] == ["10.1.1.4", "10.1.1.5"]
    assert "names no cause the checks recognise" in finding.fix.summary
    assert "see the finding" not in finding.fix.summary
