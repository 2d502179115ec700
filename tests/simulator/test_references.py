"""Back-references ARM serves (subnet ip configurations, NSG and route table associations) through
the real SDK, and the NIC behind a pool member given by IP address."""

from __future__ import annotations

import json
from pathlib import Path

from azure.mgmt.network import models

from netrules.probes import ProbeLogKind, classify_probe_log

ROOT = Path(__file__).resolve().parents[2]
RG = "rg-contoso-web"
GW_NAME = "agw-contoso"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
NET = f"{SUB}/resourceGroups/{RG}/providers/Microsoft.Network"
VNET = f"{NET}/virtualNetworks/vnet-contoso"
NIC1 = f"{NET}/networkInterfaces/nic-contoso-web-1"
NIC2 = f"{NET}/networkInterfaces/nic-contoso-web-2"
NIC_NSG = f"{NET}/networkSecurityGroups/nsg-nic1"
ASG_WEB = f"{NET}/applicationSecurityGroups/asg-web"


def load(scenario: str) -> dict:
    return json.loads((ROOT / "scenarios" / scenario / "world.json").read_text())


def by_name(world: dict, name: str) -> dict:
    return next(r for r in world["resources"] if r["name"] == name)


def ids(references) -> list[str]:
    return sorted(reference.id.lower() for reference in references or [])


def rule(name: str, *, access: str, priority: int, source: str = "*", **extra) -> dict:
    properties = {
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "8080",
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": "*",
        "access": access,
        "priority": priority,
        "direction": "Inbound",
    }
    if "destinationApplicationSecurityGroups" in extra:
        del properties["destinationAddressPrefix"]
    return {"name": name, "properties": properties | extra}


def with_nic_nsg(world: dict) -> dict:
    """NIC 1 gets its own NSG that denies the probe port."""
    world["resources"].append(
        {
            "id": NIC_NSG,
            "type": "Microsoft.Network/networkSecurityGroups",
            "location": "westeurope",
            "properties": {"securityRules": [rule("DenyProbe", access="Deny", priority=100)]},
        }
    )
    by_name(world, "nic-contoso-web-1")["properties"]["networkSecurityGroup"] = {"id": NIC_NSG}
    return world


def by_ip_address(world: dict) -> dict:
    """The gateway's pool lists its two servers by IP address instead of NIC IP configuration."""
    del world["backendHealth"]
    pool = by_name(world, "agw-contoso")["properties"]["backendAddressPools"][0]["properties"]
    pool["backendIPConfigurations"] = []
    pool["backendAddresses"] = [{"ipAddress": "10.1.1.4"}, {"ipAddress": "10.1.1.5"}]
    return world


def health(network) -> dict[str, ProbeLogKind]:
    body = network.application_gateways.begin_backend_health(RG, GW_NAME).result()
    servers = [
        s for p in body.backend_address_pools for c in p.backend_http_settings_collection for s in c.servers
    ]
    assert all(server.ip_configuration is None for server in servers)  # address members stay addresses
    return {server.address: classify_probe_log(server.health_probe_log) for server in servers}


# -- back-references -----------------------------------------------------------------------------


def test_subnets_list_the_ip_configurations_in_them(simulator, clients):
    network = clients(simulator("scenarios/healthy/world.json")).network
    subnets = {s.name: s for s in network.virtual_networks.get(RG, "vnet-contoso").subnets}
    expected = sorted(f"{nic}/ipConfigurations/ipconfig1".lower() for nic in (NIC1, NIC2))
    assert ids(subnets["backend-subnet"].ip_configurations) == expected
    gateway_config = f"{NET}/applicationGateways/agw-contoso/gatewayIPConfigurations/gwipc".lower()
    assert ids(subnets["appgw-subnet"].application_gateway_ip_configurations) == [gateway_config]
    assert not subnets["appgw-subnet"].ip_configurations
    assert ids(network.subnets.get(RG, "vnet-contoso", "backend-subnet").ip_configurations) == expected
    listed = {s.name: s for s in network.subnets.list(RG, "vnet-contoso")}
    assert ids(listed["backend-subnet"].ip_configurations) == expected


def test_nsgs_list_their_subnets_and_network_interfaces(simulator, clients):
    network = clients(simulator(with_nic_nsg(load("healthy")))).network
    backend = network.network_security_groups.get(RG, "nsg-contoso-backend")
    assert ids(backend.subnets) == [f"{VNET}/subnets/backend-subnet".lower()]
    assert not backend.network_interfaces
    nic_nsg = network.network_security_groups.get(RG, "nsg-nic1")
    assert ids(nic_nsg.network_interfaces) == [NIC1.lower()]
    assert not nic_nsg.subnets
    listed = {n.name: n for n in network.network_security_groups.list_all()}
    assert ids(listed["nsg-contoso-appgw"].subnets) == [f"{VNET}/subnets/appgw-subnet".lower()]


def test_route_tables_list_their_subnets(simulator, clients):
    network = clients(simulator("scenarios/udr-blackhole/world.json")).network
    table = network.route_tables.get(RG, "rt-contoso-appgw")
    assert ids(table.subnets) == [f"{VNET}/subnets/appgw-subnet".lower()]
    assert ids(next(iter(network.route_tables.list(RG))).subnets) == ids(table.subnets)


def test_back_references_follow_writes(simulator, clients):
    network = clients(simulator("scenarios/healthy/world.json")).network
    subnet = network.subnets.get(RG, "vnet-contoso", "backend-subnet")
    subnet.network_security_group = None
    updated = network.subnets.begin_create_or_update(RG, "vnet-contoso", "backend-subnet", subnet).result()
    assert len(updated.ip_configurations) == 2
    assert not network.network_security_groups.get(RG, "nsg-contoso-backend").subnets


def test_back_references_the_world_gives_are_served_as_given(simulator, clients):
    world = load("healthy")
    given = [{"id": f"{VNET}/subnets/elsewhere"}]
    by_name(world, "nsg-contoso-backend")["properties"]["subnets"] = given
    network = clients(simulator(world)).network
    assert ids(network.network_security_groups.get(RG, "nsg-contoso-backend").subnets) == [
        given[0]["id"].lower()
    ]


def test_network_interfaces_list_by_group_and_subscription(simulator, clients):
    network = clients(simulator("scenarios/healthy/world.json")).network
    expected = ["nic-contoso-web-1", "nic-contoso-web-2"]
    assert sorted(n.name for n in network.network_interfaces.list(RG)) == expected
    assert sorted(n.name for n in network.network_interfaces.list_all()) == expected


# -- the NIC behind an address member ------------------------------------------------------------


def test_an_address_member_is_guarded_by_its_nics_nsg(simulator, clients):
    network = clients(simulator(with_nic_nsg(by_ip_address(load("healthy"))))).network
    assert health(network) == {"10.1.1.4": ProbeLogKind.CONNECT, "10.1.1.5": ProbeLogKind.HEALTHY}


def test_an_address_member_carries_its_nics_application_security_groups(simulator, clients):
    world = by_ip_address(load("healthy"))
    backend_nsg = by_name(world, "nsg-contoso-backend")["properties"]
    backend_nsg["securityRules"] = [
        rule(
            "AllowWeb", access="Allow", priority=200, destinationApplicationSecurityGroups=[{"id": ASG_WEB}]
        ),
        rule("DenyVnet", access="Deny", priority=4001, source="VirtualNetwork"),
    ]
    config = by_name(world, "nic-contoso-web-1")["properties"]["ipConfigurations"][0]["properties"]
    config["applicationSecurityGroups"] = [{"id": ASG_WEB}]
    network = clients(simulator(world)).network
    assert health(network) == {"10.1.1.4": ProbeLogKind.HEALTHY, "10.1.1.5": ProbeLogKind.CONNECT}


def test_an_address_no_nic_holds_has_only_its_subnets_nsg(simulator, clients):
    world = by_ip_address(load("healthy"))
    world["resources"] = [r for r in world["resources"] if r["name"] != "nic-contoso-web-2"]
    network = clients(simulator(with_nic_nsg(world))).network
    assert health(network) == {"10.1.1.4": ProbeLogKind.CONNECT, "10.1.1.5": ProbeLogKind.HEALTHY}
    assert isinstance(network.network_interfaces.get(RG, "nic-contoso-web-1"), models.NetworkInterface)
