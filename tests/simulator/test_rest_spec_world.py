"""The world built from the REST API specs' example bodies loads and is served as written."""

from __future__ import annotations

from pathlib import Path

from simulator.world import load_world

WORLD = Path(__file__).resolve().parents[2] / "tests" / "worlds" / "rest-spec-examples" / "world.json"
GATEWAY = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/applicationGateways/appgw"


def test_the_examples_load_and_bare_string_members_are_kept_verbatim():
    world = load_world(WORLD)

    pools = world.get(GATEWAY)["properties"]["backendAddressPools"]
    assert pools[1]["properties"]["backendAddresses"] == ["10.0.0.1", "10.0.0.2"]
    assert world.verbatim_backend_health(GATEWAY) is not None
