"""Unit tests of effective routes / effective NSG rules derived from a world."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from azure.mgmt.network import models

from netrules.nsg import Flow, evaluate_effective
from netrules.routes import select_effective_route
from simulator.effective import (
    effective_network_security_groups,
    effective_route_table,
    find_subnet,
    system_routes,
)

ROOT = Path(__file__).resolve().parents[2]
SUB = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web"
    "/providers/Microsoft.Network"
)
VNET = f"{SUB}/virtualNetworks/vnet-contoso"
BACKEND_SUBNET = f"{VNET}/subnets/backend-subnet"
NIC = f"{SUB}/networkInterfaces/nic-contoso-web-1"


class World:
    """Resources of a scenario world, looked up by id case-insensitively (as the server does)."""

    def __init__(self, scenario: str) -> None:
        data = json.loads((ROOT / "scenarios" / scenario / "world.json").read_text())
        self.resources = {r["id"].lower(): copy.deepcopy(r) for r in data["resources"]}

    def lookup(self, resource_id: str) -> dict | None:
        return self.resources.get(resource_id.lower())

    def add(self, resource: dict) -> None:
        self.resources[resource["id"].lower()] = resource

    def subnet(self, subnet_id: str) -> dict:
        subnet, _ = find_subnet(subnet_id, self.lookup)
        assert subnet is not None
        return subnet


@pytest.fixture
def world() -> World:
    return World("healthy")


def route_table(name: str, routes: list[tuple[str, str, str | None]]) -> dict:
    rt_id = f"{SUB}/routeTables/{name}"
    return {
        "id": rt_id,
        "name": name,
        "type": "Microsoft.Network/routeTables",
        "location": "westeurope",
        "properties": {
            "routes": [
                {
                    "id": f"{rt_id}/routes/r{i}",
                    "name": f"r{i}",
                    "properties": {"addressPrefix": prefix, "nextHopType": hop}
                    | ({"nextHopIpAddress": ip} if ip else {}),
                }
                for i, (prefix, hop, ip) in enumerate(routes)
            ]
        },
    }


def test_find_subnet_is_case_insensitive(world):
    subnet, vnet = find_subnet(BACKEND_SUBNET.upper(), world.lookup)
    assert subnet is not None and subnet["name"] == "backend-subnet"
    assert vnet is not None and vnet["name"] == "vnet-contoso"
    assert find_subnet(f"{VNET}/subnets/nope", world.lookup)[0] is None
    with pytest.raises(ValueError, match="not a subnet id"):
        find_subnet(VNET, world.lookup)


def test_system_routes_drop_reserved_ranges_the_vnet_covers():
    prefixes = [r["addressPrefix"][0] for r in system_routes(["10.0.0.0/8", "192.168.1.0/24"])]
    assert prefixes[:3] == ["10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0"]
    assert prefixes.count("10.0.0.0/8") == 1
    assert "192.168.0.0/16" in prefixes and "172.16.0.0/12" in prefixes


def test_routes_without_route_table_are_the_system_routes(world):
    body = effective_route_table(world.lookup(NIC), world.lookup)
    by_prefix = {r["addressPrefix"][0]: r for r in body["value"]}
    assert by_prefix["10.1.0.0/16"]["nextHopType"] == "VnetLocal"
    assert by_prefix["0.0.0.0/0"]["nextHopType"] == "Internet"
    assert by_prefix["10.0.0.0/8"]["nextHopType"] == "None"
    assert all(r["source"] == "Default" and r["state"] == "Active" for r in body["value"])
    parsed = models.EffectiveRouteListResult(body)
    assert str(select_effective_route("10.1.1.5", parsed.value).next_hop_type).lower().endswith("vnetlocal")


def test_user_routes_invalidate_defaults_of_the_same_prefix(world):
    world.add(
        route_table(
            "rt-backend", [("0.0.0.0/0", "VirtualAppliance", "10.9.0.4"), ("10.1.2.0/24", "None", None)]
        )
    )
    world.subnet(BACKEND_SUBNET)["properties"]["routeTable"] = {"id": f"{SUB}/routeTables/rt-backend"}
    routes = effective_route_table(world.lookup(NIC), world.lookup)["value"]
    default_internet = [r for r in routes if r["source"] == "Default" and r["addressPrefix"] == ["0.0.0.0/0"]]
    assert [r["state"] for r in default_internet] == ["Invalid"]
    user = [r for r in routes if r["source"] == "User"]
    assert [(r["name"], r["nextHopType"], r["nextHopIpAddress"]) for r in user] == [
        ("r0", "VirtualAppliance", ["10.9.0.4"]),
        ("r1", "None", []),
    ]
    assert all(r["state"] == "Active" for r in routes if r["addressPrefix"] != ["0.0.0.0/0"] or r in user)
    parsed = models.EffectiveRouteListResult({"value": routes}).value
    assert select_effective_route("8.8.8.8", parsed).route_name == "r0"


def test_effective_nsgs_of_the_backend_nic(world):
    body = effective_network_security_groups(world.lookup(NIC), world.lookup)
    (group,) = body["value"]
    assert group["association"] == {"subnet": {"id": BACKEND_SUBNET}}
    rules = {r["name"]: r for r in group["effectiveSecurityRules"]}
    allow = rules["securityRules/AllowFromAppGateway"]
    assert allow["destinationPortRange"] == "8080-8080"
    assert allow["sourcePortRange"] == "0-65535"
    assert allow["destinationAddressPrefix"] == "0.0.0.0/0"
    assert allow["protocol"] == "Tcp"
    vnet_rule = rules["defaultSecurityRules/AllowVnetInBound"]
    assert vnet_rule["sourceAddressPrefix"] == "VirtualNetwork"
    assert vnet_rule["expandedSourceAddressPrefix"] == ["10.1.0.0/16"]
    assert vnet_rule["protocol"] == "All"
    assert rules["defaultSecurityRules/AllowAzureLoadBalancerInBound"]["expandedSourceAddressPrefix"] == [
        "168.63.129.16/32"
    ]
    assert rules["securityRules/DenyInternetInbound"]["expandedSourceAddressPrefix"] == []
    assert group["tagMap"]["VirtualNetwork"] == ["10.1.0.0/16"]


def test_effective_nsgs_round_trip_through_the_sdk_and_evaluate(world):
    nic = world.lookup(NIC)
    nsg_id = f"{SUB}/networkSecurityGroups/nsg-nic"
    world.add(
        {
            "id": nsg_id,
            "name": "nsg-nic",
            "type": "Microsoft.Network/networkSecurityGroups",
            "location": "westeurope",
            "properties": {
                "securityRules": [
                    {
                        "id": f"{nsg_id}/securityRules/DenyWeb",
                        "name": "DenyWeb",
                        "properties": {
                            "protocol": "*",
                            "access": "Deny",
                            "direction": "Inbound",
                            "priority": 300,
                            "sourceAddressPrefixes": ["10.1.0.0/24", "10.1.5.0/24"],
                            "destinationAddressPrefix": "*",
                            "sourcePortRange": "*",
                            "destinationPortRanges": ["8080", "9000-9100"],
                        },
                    }
                ]
            },
        }
    )
    nic["properties"]["networkSecurityGroup"] = {"id": nsg_id}
    body = effective_network_security_groups(nic, world.lookup)
    assert [list(g["association"]) for g in body["value"]] == [["networkInterface"], ["subnet"]]
    deny = body["value"][0]["effectiveSecurityRules"][0]
    assert deny["destinationPortRanges"] == ["8080-8080", "9000-9100"]
    assert "destinationPortRange" not in deny and "sourceAddressPrefix" not in deny
    groups = models.EffectiveNetworkSecurityGroupListResult(body).value
    flow = Flow(direction="Inbound", source="10.1.0.4", destination="10.1.1.4", port=8080)
    verdict = evaluate_effective(groups, flow, vnet_prefixes=["10.1.0.0/16"])
    assert not verdict.allowed and verdict.deciding.rule_name == "DenyWeb"
    in_range = Flow(direction="Inbound", source="10.1.5.9", destination="10.1.1.4", port=9050)
    assert not evaluate_effective(groups, in_range, vnet_prefixes=["10.1.0.0/16"]).allowed
    other_port = Flow(direction="Inbound", source="10.1.0.4", destination="10.1.1.4", port=8081)
    assert evaluate_effective(groups, other_port, vnet_prefixes=["10.1.0.0/16"]).allowed
    del nic["properties"]["networkSecurityGroup"]
    groups = models.EffectiveNetworkSecurityGroupListResult(
        effective_network_security_groups(nic, world.lookup)
    ).value
    assert evaluate_effective(groups, flow, vnet_prefixes=["10.1.0.0/16"]).allowed


def test_nic_without_nsgs_has_no_groups(world):
    del world.subnet(BACKEND_SUBNET)["properties"]["networkSecurityGroup"]
    assert effective_network_security_groups(world.lookup(NIC), world.lookup) == {"value": []}


def test_application_security_group_sides_expand_to_the_nics_own_member_addresses(world):
    asg = f"{SUB}/applicationSecurityGroups/asg-web"
    nsg = world.lookup(f"{SUB}/networkSecurityGroups/nsg-contoso-backend")
    allow = nsg["properties"]["securityRules"][0]
    del allow["properties"]["destinationAddressPrefix"]
    allow["properties"]["destinationApplicationSecurityGroups"] = [{"id": asg}]
    nic = world.lookup(NIC)
    rules = effective_network_security_groups(nic, world.lookup)["value"][0]["effectiveSecurityRules"]
    assert rules[0]["destinationAddressPrefixes"] == []
    assert rules[0]["expandedDestinationAddressPrefix"] == []
    nic["properties"]["ipConfigurations"][0]["properties"]["applicationSecurityGroups"] = [{"id": asg}]
    body = effective_network_security_groups(nic, world.lookup)
    assert body["value"][0]["effectiveSecurityRules"][0]["expandedDestinationAddressPrefix"] == [
        "10.1.1.4/32"
    ]
    groups = models.EffectiveNetworkSecurityGroupListResult(body).value
    flow = Flow(direction="Inbound", source="10.1.0.0/24", destination="10.1.1.4", port=8080)
    verdict = evaluate_effective(groups, flow, vnet_prefixes=["10.1.0.0/16"])
    assert verdict.allowed and verdict.deciding.rule_name == allow["name"]
