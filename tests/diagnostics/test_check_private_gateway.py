"""Private (network-isolated) v2 gateways: what their checks lift, what they keep, and
PRIVATE_GATEWAY_NO_INTERNET_EGRESS (docs/APPGW_FACTS.md, "Private (network-isolated) Application
Gateway v2")."""

from __future__ import annotations

import pytest

from diagnostics.checks.backend_health import UNKNOWN
from diagnostics.checks.base import NotApplicable
from diagnostics.checks.nsg_backend import CHECK as NSG_BACKEND
from diagnostics.checks.nsg_gateway_subnet import INFRA_PORTS, INTERNET_OUTBOUND, LOAD_BALANCER
from diagnostics.checks.private_gateway import CHECK as NO_EGRESS
from diagnostics.checks.routes import BGP_DEFAULT, DEFAULT_ROUTE, DIVERTS_BACKEND
from diagnostics.snapshot import MissingData
from model.findings import Severity
from netrules.isolation import is_internet_address, tagged_network_isolated
from netrules.probes import ProbeLogKind, probe_log_message

NSG = "nsg-contoso-appgw"
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web"
NET = f"{RG}/providers/Microsoft.Network"
RT_ID = f"{NET}/routeTables/rt-contoso-appgw"
APPGW_SUBNET = f"{NET}/virtualNetworks/vnet-contoso/subnets/appgw-subnet"


def isolate(kit, world, tag="EnhancedNetworkControl", value="True"):
    kit.gateway_body(world)["tags"] = {tag: value}
    return world


def subnet(kit, world, name="appgw-subnet"):
    vnet = kit.resource(world, "vnet-contoso")
    return next(s for s in vnet["properties"]["subnets"] if s["name"] == name)


def route_table(kit, world, *routes):
    """Attach a route table with `routes` ((prefix, next hop) pairs) to the gateway subnet."""
    world["resources"].append(
        {
            "id": RT_ID,
            "name": "rt-contoso-appgw",
            "type": "Microsoft.Network/routeTables",
            "location": "westeurope",
            "properties": {
                "routes": [
                    {
                        "id": f"{RT_ID}/routes/r{i}",
                        "name": f"r{i}",
                        "properties": {"addressPrefix": prefix, "nextHopType": hop}
                        | ({"nextHopIpAddress": "10.1.2.4"} if hop == "VirtualAppliance" else {}),
                    }
                    for i, (prefix, hop) in enumerate(routes)
                ]
            },
        }
    )
    subnet(kit, world)["properties"]["routeTable"] = {"id": RT_ID}


def locked_down(kit):
    """The healthy world with no GatewayManager rule, Deny-All outbound behind an allow to the
    backends, and 0.0.0.0/0 to a firewall: faults on an ordinary v2 gateway, fine on an isolated one."""
    world = kit.healthy_world()
    rules = kit.resource(world, NSG)["properties"]["securityRules"]
    rules[:] = [r for r in rules if r["name"] != "AllowGatewayManager"]
    kit.nsg_rule(world, NSG, "AllowToBackends", priority=100, access="Allow", direction="Outbound",
                 destination="10.1.1.0/24", ports="8080")  # fmt: skip
    kit.nsg_rule(world, NSG, "DenyAllOutbound", priority=4096, access="Deny", direction="Outbound",
                 protocol="*")  # fmt: skip
    route_table(kit, world, ("0.0.0.0/0", "VirtualAppliance"))
    return world


# --- recognising a private gateway ---------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "isolated"),
    [
        ({"EnhancedNetworkControl": "True"}, True),
        ({"enhancednetworkcontrol": "TRUE"}, True),
        ({"ENHANCEDNETWORKCONTROL": " true "}, True),
        ({"EnhancedNetworkControl": "False"}, False),
        ({"EnhancedNetworkControlled": "True"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_the_tag_is_read_case_insensitively(tags, isolated):
    assert tagged_network_isolated(tags) is isolated


def test_the_snapshot_knows_a_private_gateway_and_only_on_v2(kit):
    world = kit.healthy_world()
    assert kit.snapshot(world).is_network_isolated is False
    isolate(kit, world, "enhancedNetworkControl", "true")
    assert kit.snapshot(world).is_network_isolated is True
    kit.gateway_body(world)["properties"]["sku"] = {
        "name": "Standard_Medium",
        "tier": "Standard",
        "capacity": 2,
    }
    assert kit.snapshot(world).is_network_isolated is False


@pytest.mark.parametrize(
    ("address", "internet"),
    [("20.50.2.10", True), ("52.10.20.30", True), ("10.1.1.4", False), ("100.64.0.1", False),
     ("192.168.1.1", False), ("app.contoso.com", False), ("", False)],
)  # fmt: skip
def test_internet_addresses_are_literal_public_ips(address, internet):
    assert is_internet_address(address) is internet


# --- what isolation lifts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "code"),
    [
        (INFRA_PORTS, "NSG_BLOCKS_INFRA_PORTS"),
        (INTERNET_OUTBOUND, "NSG_BLOCKS_INTERNET_OUTBOUND"),
        (DEFAULT_ROUTE, "UDR_DEFAULT_ROUTE_NOT_INTERNET"),
    ],
)
def test_the_locked_down_config_is_a_fault_on_v2_but_not_on_a_private_gateway(kit, check, code):
    world = locked_down(kit)
    assert {f.code for f in check.run(kit.snapshot(world))} == {code}
    isolate(kit, world)
    with pytest.raises(NotApplicable, match="network-isolated"):
        check.run(kit.snapshot(world))


def test_a_private_gateway_is_never_offered_a_gateway_manager_rule(kit):
    world = isolate(kit, locked_down(kit))
    snapshot = kit.snapshot(world)
    with pytest.raises(NotApplicable):
        INFRA_PORTS.run(snapshot)
    for check in (LOAD_BALANCER, NSG_BACKEND, DIVERTS_BACKEND, UNKNOWN, NO_EGRESS):
        try:
            findings = check.run(snapshot)
        except NotApplicable:
            continue
        assert not any("GatewayManager" in str(f.fix.command) + f.fix.summary for f in findings)


def test_a_bgp_default_route_is_not_raised_on_a_private_gateway(kit):
    world = kit.load_world("tests/worlds/bgp-default-route/world.json")
    assert {f.code for f in BGP_DEFAULT.run(kit.snapshot(world))} == {"BGP_DEFAULT_ROUTE"}
    isolate(kit, world)
    with pytest.raises(NotApplicable, match="network-isolated"):
        BGP_DEFAULT.run(kit.snapshot(world))


# --- what isolation keeps ------------------------------------------------------------


def test_a_private_gateway_still_needs_the_azure_load_balancer(kit):
    world = isolate(kit, locked_down(kit))
    rules = kit.resource(world, NSG)["properties"]["securityRules"]
    rules[:] = [r for r in rules if r["name"] != "AllowAzureLoadBalancer"]
    deny = kit.nsg_rule(world, NSG, "DenyAllInbound", priority=4096, access="Deny", protocol="*")
    [finding] = LOAD_BALANCER.run(kit.snapshot(world))
    assert (finding.code, finding.severity, finding.resource) == (
        "NSG_BLOCKS_LOAD_BALANCER",
        Severity.CRITICAL,
        deny["id"],
    )


def test_a_deny_all_outbound_without_an_allow_to_the_backends_still_blocks_them(kit):
    world = isolate(kit, locked_down(kit))
    assert NSG_BACKEND.run(kit.snapshot(world)) == []
    rules = kit.resource(world, NSG)["properties"]["securityRules"]
    rules[:] = [r for r in rules if r["name"] != "AllowToBackends"]
    findings = NSG_BACKEND.run(kit.snapshot(world))
    assert {f.code for f in findings} == {"NSG_BLOCKS_BACKEND"}
    assert any(f.resource.endswith("/securityRules/DenyAllOutbound") for f in findings)


def test_a_route_that_drops_backend_traffic_is_still_raised_on_a_private_gateway(kit):
    world = isolate(kit, kit.healthy_world())
    route_table(kit, world, ("0.0.0.0/0", "VirtualAppliance"), ("10.1.1.0/24", "None"))
    [finding] = DIVERTS_BACKEND.run(kit.snapshot(world))
    assert finding.code == "UDR_DIVERTS_BACKEND_TRAFFIC"
    assert finding.evidence["addressPrefix"] == "10.1.1.0/24"


# --- Unknown backend health ----------------------------------------------------------

PORTS_MESSAGE = probe_log_message(ProbeLogKind.UNKNOWN)


def test_unknown_with_the_old_ports_message_is_not_blamed_on_a_private_gateways_nsg(kit):
    world = kit.healthy_world()
    kit.set_health(world, "Unknown", PORTS_MESSAGE)
    [finding] = UNKNOWN.run(kit.snapshot(world))
    assert "GatewayManager" in finding.fix.summary
    isolate(kit, world)
    findings = UNKNOWN.run(kit.snapshot(world))
    assert list(findings) == []
    assert "ignore" in findings.note and "10.1.1.4" in findings.note


def test_other_unknown_servers_on_a_private_gateway_are_still_reported_without_gateway_manager(kit):
    world = isolate(kit, kit.healthy_world())
    kit.set_health(world, "Unknown", "The backend health status could not be retrieved.")
    [finding] = UNKNOWN.run(kit.snapshot(world))
    assert finding.code == "BACKEND_HEALTH_UNKNOWN"
    assert "GatewayManager" not in finding.fix.summary
    assert "AzureLoadBalancer" in finding.fix.summary


# --- PRIVATE_GATEWAY_NO_INTERNET_EGRESS ----------------------------------------------


def private_only(kit, world):
    """The gateway's frontend made private (no public IP)."""
    for frontend in kit.gateway_body(world)["properties"]["frontendIPConfigurations"]:
        frontend["properties"].pop("publicIPAddress", None)
        frontend["properties"]["privateIPAllocationMethod"] = "Static"
        frontend["properties"]["privateIPAddress"] = "10.1.0.10"
        frontend["properties"]["subnet"] = {"id": APPGW_SUBNET}
    return world


def with_members(kit, world, *members):
    pool = kit.gateway_part(world, "backendAddressPools", "web-pool")["properties"]
    pool["backendIPConfigurations"] = []
    pool["backendAddresses"] = list(members)
    return world


def stranded_world(kit):
    return with_members(
        kit, private_only(kit, isolate(kit, kit.healthy_world())), {"ipAddress": "20.50.2.10"}
    )


def test_a_private_only_gateway_without_egress_cannot_reach_an_internet_backend(kit):
    [finding] = NO_EGRESS.run(kit.snapshot(stranded_world(kit)))
    assert (finding.code, finding.severity) == ("PRIVATE_GATEWAY_NO_INTERNET_EGRESS", Severity.CRITICAL)
    assert finding.resource.lower() == APPGW_SUBNET.lower()
    assert finding.evidence["backends"] == [
        {"address": "20.50.2.10", "member": "20.50.2.10", "pool": "web-pool", "route": "0.0.0.0/0",
         "nextHopType": "Internet"}
    ]  # fmt: skip
    assert "NAT gateway" in finding.fix.summary
    assert finding.fix.action is None


def test_a_nat_gateway_on_the_subnet_is_a_way_out(kit):
    world = stranded_world(kit)
    subnet(kit, world)["properties"]["natGateway"] = {"id": f"{NET}/natGateways/nat-contoso-appgw"}
    assert NO_EGRESS.run(kit.snapshot(world)) == []


@pytest.mark.parametrize("hop", ["VirtualAppliance", "VirtualNetworkGateway"])
def test_a_route_through_an_appliance_or_forced_tunnelling_is_a_way_out(kit, hop):
    world = stranded_world(kit)
    route_table(kit, world, ("0.0.0.0/0", hop))
    assert NO_EGRESS.run(kit.snapshot(world)) == []


def test_the_route_that_wins_for_the_backend_decides(kit):
    world = stranded_world(kit)
    route_table(kit, world, ("0.0.0.0/0", "VirtualAppliance"), ("20.50.0.0/16", "Internet"))
    [finding] = NO_EGRESS.run(kit.snapshot(world))
    assert finding.evidence["backends"][0]["route"] == "20.50.0.0/16"


def test_backends_inside_the_vnet_need_no_egress(kit):
    world = private_only(kit, isolate(kit, kit.healthy_world()))
    assert NO_EGRESS.run(kit.snapshot(world)) == []


def test_a_public_frontend_or_no_isolation_is_not_applicable(kit):
    world = with_members(kit, isolate(kit, kit.healthy_world()), {"ipAddress": "20.50.2.10"})
    with pytest.raises(NotApplicable, match="public frontend"):
        NO_EGRESS.run(kit.snapshot(world))
    world = with_members(kit, private_only(kit, kit.healthy_world()), {"ipAddress": "20.50.2.10"})
    with pytest.raises(NotApplicable, match="network-isolated"):
        NO_EGRESS.run(kit.snapshot(world))


def fqdn_world(kit, answer):
    world = with_members(
        kit, private_only(kit, isolate(kit, kit.healthy_world())), {"fqdn": "api.partner.example"}
    )
    kit.resource(world, "vnet-contoso")["properties"]["dhcpOptions"] = {"dnsServers": ["168.63.129.16"]}
    world["dns"] = {"168.63.129.16": {"api.partner.example": [answer]}}
    return world


def test_an_fqdn_that_resolves_to_a_public_address_is_an_internet_backend(kit):
    [finding] = NO_EGRESS.run(kit.snapshot(fqdn_world(kit, "52.10.20.30")))
    assert finding.evidence["backends"][0]["address"] == "52.10.20.30"
    assert finding.evidence["backends"][0]["member"] == "api.partner.example"


def test_an_fqdn_that_resolves_into_the_vnet_is_not(kit):
    assert NO_EGRESS.run(kit.snapshot(fqdn_world(kit, "10.1.1.4"))) == []


def test_an_fqdn_whose_resolution_is_unknown_is_not_guessed_at(kit):
    world = fqdn_world(kit, "52.10.20.30")
    kit.resource(world, "vnet-contoso")["properties"]["dhcpOptions"] = {"dnsServers": ["10.50.0.4"]}
    with pytest.raises(MissingData, match="api.partner.example"):
        NO_EGRESS.run(kit.snapshot(world))
