"""Derived effective routes and NSGs through the real SDK against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

from core.sdk_values import wire
from netrules.nsg import Flow, evaluate_effective
from netrules.routes import select_effective_route

ROOT = Path(__file__).resolve().parents[2]
RG = "rg-contoso-web"
VNET_PREFIXES = ["10.1.0.0/16"]


def with_backend_route_table(world: dict) -> dict:
    """The world with a route table sending 0.0.0.0/0 to a firewall on the backend subnet."""
    vnet = next(r for r in world["resources"] if r["type"] == "Microsoft.Network/virtualNetworks")
    rt_id = vnet["id"].split("/providers/")[0] + "/providers/Microsoft.Network/routeTables/rt-backend"
    world["resources"].append(
        {
            "id": rt_id,
            "name": "rt-backend",
            "type": "Microsoft.Network/routeTables",
            "location": "westeurope",
            "properties": {
                "routes": [
                    {
                        "id": f"{rt_id}/routes/to-fw",
                        "name": "to-fw",
                        "properties": {
                            "addressPrefix": "0.0.0.0/0",
                            "nextHopType": "VirtualAppliance",
                            "nextHopIpAddress": "10.1.9.4",
                        },
                    }
                ]
            },
        }
    )
    backend = next(s for s in vnet["properties"]["subnets"] if s["name"] == "backend-subnet")
    backend["properties"]["routeTable"] = {"id": rt_id}
    return world


def test_effective_routes_of_a_nic(simulator, clients):
    network = clients(simulator("scenarios/healthy/world.json")).network
    routes = (
        network.network_interfaces.begin_get_effective_route_table(RG, "nic-contoso-web-1").result().value
    )
    assert wire(select_effective_route("10.1.0.4", routes).next_hop_type) == "VnetLocal"
    assert wire(select_effective_route("93.184.216.34", routes).next_hop_type) == "Internet"
    assert {wire(r.source) for r in routes} == {"Default"}


def test_effective_routes_include_the_subnet_route_table(simulator, clients):
    world = with_backend_route_table(json.loads((ROOT / "scenarios/healthy/world.json").read_text()))
    network = clients(simulator(world)).network
    routes = (
        network.network_interfaces.begin_get_effective_route_table(RG, "nic-contoso-web-1").result().value
    )
    chosen = select_effective_route("93.184.216.34", routes)
    assert (wire(chosen.next_hop_type), chosen.next_hop_ip, chosen.route_name) == (
        "VirtualAppliance",
        "10.1.9.4",
        "to-fw",
    )
    defaults = [r for r in routes if wire(r.source) == "Default" and r.address_prefix == ["0.0.0.0/0"]]
    assert [wire(r.state) for r in defaults] == ["Invalid"]


def test_effective_nsgs_follow_a_rule_change(simulator, clients):
    network = clients(simulator("scenarios/healthy/world.json")).network
    flow = Flow(direction="Inbound", source="10.1.0.4", destination="10.1.1.4", port=8080)

    def groups():
        poller = network.network_interfaces.begin_list_effective_network_security_groups(
            RG, "nic-contoso-web-1"
        )
        return poller.result().value

    before = groups()
    assert before[0].association.subnet.id.endswith("/subnets/backend-subnet")
    assert evaluate_effective(before, flow, vnet_prefixes=VNET_PREFIXES).allowed

    rule = network.security_rules.get(RG, "nsg-contoso-backend", "AllowFromAppGateway")
    rule.access = "Deny"
    rule.source_address_prefix = "VirtualNetwork"
    network.security_rules.begin_create_or_update(RG, "nsg-contoso-backend", rule.name, rule).result()

    after = groups()
    changed = next(
        r for g in after for r in g.effective_security_rules if r.name == "securityRules/AllowFromAppGateway"
    )
    assert changed.expanded_source_address_prefix == VNET_PREFIXES
    assert changed.destination_port_range == "8080-8080"
    verdict = evaluate_effective(after, flow, vnet_prefixes=VNET_PREFIXES)
    assert not verdict.allowed and verdict.deciding.rule_name == "AllowFromAppGateway"
