"""VNet peering: the VirtualNetwork tag, the VNetPeering routes and health across a peering.

A backend in a peered VNet is reached through the peering: the gateway subnet's default
outbound rule (VirtualNetwork to VirtualNetwork) and the peer's default inbound rule only
allow it because the tag includes the peered address space.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from azure.mgmt.network import models

from core.sdk_values import wire
from netrules.probes import ProbeLogKind, classify_probe_log
from simulator.effective import effective_route_table, peered_prefixes, virtual_network_tag

ROOT = Path(__file__).resolve().parents[2]
RG = "rg-contoso-web"
GW_NAME = "agw-contoso"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
NET = f"{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
VNET = f"{NET}/virtualNetworks/vnet-contoso"
PEER = f"{NET}/virtualNetworks/vnet-peer"
PEER_NSG = f"{NET}/networkSecurityGroups/nsg-peer"
PEER_NIC = f"{NET}/networkInterfaces/nic-peer"


def by_type(world: dict, kind: str, name: str | None = None) -> dict:
    return next(
        r
        for r in world["resources"]
        if r["type"] == f"Microsoft.Network/{kind}" and (name is None or r["name"] == name)
    )


def peering(name: str, remote: str, prefixes: list[str], state: str | None = "Connected") -> dict:
    properties = {
        "allowVirtualNetworkAccess": True,
        "remoteVirtualNetwork": {"id": remote},
        "remoteAddressSpace": {"addressPrefixes": prefixes},
    }
    if state is not None:
        properties["peeringState"] = state
    return {"name": name, "properties": properties}


def peered_world(*, member: str = "ip") -> dict:
    """scenarios/healthy with its pool moved to 10.2.1.4 in vnet-peer (10.2.0.0/16), peered both ways.

    ``member`` "ip" lists the backend by address, "nic" by the IP configuration of nic-peer.
    """
    world = json.loads((ROOT / "scenarios/healthy/world.json").read_text())
    del world["backendHealth"]
    vnet = by_type(world, "virtualNetworks")
    vnet["properties"]["virtualNetworkPeerings"] = [peering("to-peer", PEER, ["10.2.0.0/16"])]
    subnet = {
        "name": "be",
        "properties": {"addressPrefix": "10.2.1.0/24", "networkSecurityGroup": {"id": PEER_NSG}},
    }
    world["resources"] += [
        {
            "id": PEER,
            "type": "Microsoft.Network/virtualNetworks",
            "location": "westeurope",
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.2.0.0/16"]},
                "virtualNetworkPeerings": [peering("to-main", VNET, ["10.1.0.0/16"])],
                "subnets": [subnet],
            },
        },
        {
            "id": PEER_NSG,
            "type": "Microsoft.Network/networkSecurityGroups",
            "location": "westeurope",
            "properties": {"securityRules": []},
        },
        {
            "id": PEER_NIC,
            "type": "Microsoft.Network/networkInterfaces",
            "location": "westeurope",
            "properties": {
                "ipConfigurations": [
                    {
                        "id": f"{PEER_NIC}/ipConfigurations/ipconfig1",
                        "name": "ipconfig1",
                        "properties": {
                            "privateIPAddress": "10.2.1.4",
                            "primary": True,
                            "subnet": {"id": f"{PEER}/subnets/be"},
                        },
                    }
                ]
            },
        },
    ]
    pool = by_type(world, "applicationGateways")["properties"]["backendAddressPools"][0]["properties"]
    if member == "ip":
        pool["backendAddresses"] = [{"ipAddress": "10.2.1.4"}]
        pool["backendIPConfigurations"] = []
    else:
        pool["backendAddresses"] = []
        pool["backendIPConfigurations"] = [{"id": f"{PEER_NIC}/ipConfigurations/ipconfig1"}]
    world["backends"] = {"10.2.1.4": {"ports": [8080], "responseSeconds": 0.05, "paths": {"/health": 200}}}
    return world


def probe_kinds(network) -> list[tuple[str, ProbeLogKind]]:
    health = network.application_gateways.begin_backend_health(RG, GW_NAME).result()
    return [
        (server.address, classify_probe_log(server.health_probe_log))
        for pool in health.backend_address_pools
        for settings in pool.backend_http_settings_collection
        for server in settings.servers
    ]


@pytest.mark.parametrize("member", ["ip", "nic"])
def test_backend_in_a_peered_vnet_is_healthy(simulator, clients, member):
    network = clients(simulator(peered_world(member=member))).network
    assert probe_kinds(network) == [("10.2.1.4", ProbeLogKind.HEALTHY)]


@pytest.mark.parametrize("state", ["Disconnected", "Initiated"])
def test_a_peering_that_is_not_connected_leaves_the_backend_unreachable(simulator, clients, state):
    world = peered_world()
    by_type(world, "virtualNetworks", "vnet-contoso")["properties"]["virtualNetworkPeerings"][0][
        "properties"
    ]["peeringState"] = state
    network = clients(simulator(world)).network
    assert probe_kinds(network) == [("10.2.1.4", ProbeLogKind.CONNECT)]


def test_the_peer_subnet_nsg_guards_the_backend(simulator, clients):
    world = peered_world()
    sim = simulator(world)
    network = clients(sim).network
    deny = models.SecurityRule(
        protocol="Tcp",
        source_address_prefix="10.1.0.0/16",
        source_port_range="*",
        destination_address_prefix="*",
        destination_port_range="8080",
        access="Deny",
        priority=200,
        direction="Inbound",
    )
    network.security_rules.begin_create_or_update(RG, "nsg-peer", "DenyMain", deny).result()
    assert probe_kinds(network) == [("10.2.1.4", ProbeLogKind.CONNECT)]


def test_effective_routes_and_nsgs_include_the_peering(simulator, clients):
    network = clients(simulator(peered_world())).network
    routes = network.network_interfaces.begin_get_effective_route_table(RG, "nic-contoso-web-1").result()
    peered = [r for r in routes.value if r.address_prefix == ["10.2.0.0/16"]]
    assert [(wire(r.next_hop_type), wire(r.source), wire(r.state)) for r in peered] == [
        ("VNetPeering", "Default", "Active")
    ]
    groups = network.network_interfaces.begin_list_effective_network_security_groups(
        RG, "nic-contoso-web-1"
    ).result()
    backend_group = groups.value[0]
    assert backend_group.tag_map["VirtualNetwork"] == ["10.1.0.0/16", "10.2.0.0/16"]
    allow_vnet = next(
        r for r in backend_group.effective_security_rules if r.name.endswith("AllowVnetInBound")
    )
    assert "10.2.0.0/16" in allow_vnet.expanded_source_address_prefix


def test_peered_space_comes_from_the_peering_else_from_the_remote_vnet():
    world = peered_world()
    resources = {r["id"].lower(): r for r in world["resources"]}
    lookup = lambda rid: resources.get(rid.lower())  # noqa: E731
    vnet = resources[VNET.lower()]
    link = vnet["properties"]["virtualNetworkPeerings"][0]["properties"]
    link["remoteVirtualNetworkAddressSpace"] = {"addressPrefixes": ["10.2.0.0/16", "10.3.0.0/16"]}
    assert peered_prefixes(vnet, lookup) == ["10.2.0.0/16", "10.3.0.0/16"]
    del link["remoteVirtualNetworkAddressSpace"], link["remoteAddressSpace"]
    assert peered_prefixes(vnet, lookup) == ["10.2.0.0/16"]  # vnet-peer's own address space
    del link["peeringState"]  # no state given: taken as connected
    assert virtual_network_tag(vnet, lookup) == ["10.1.0.0/16", "10.2.0.0/16"]


def test_system_routes_of_a_peered_subnet_route_the_peer_space_to_the_peering():
    world = peered_world()
    resources = {r["id"].lower(): copy.deepcopy(r) for r in world["resources"]}
    nic = resources[PEER_NIC.lower()]
    routes = effective_route_table(nic, lambda rid: resources.get(rid.lower()))["value"]
    hops = {r["addressPrefix"][0]: r["nextHopType"] for r in routes}
    assert hops["10.2.0.0/16"] == "VnetLocal"
    assert hops["10.1.0.0/16"] == "VNetPeering"
    assert hops["10.0.0.0/8"] == "None"  # the peering is more specific; the reserved route stays
