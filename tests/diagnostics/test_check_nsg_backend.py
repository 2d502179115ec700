"""NSG_BLOCKS_BACKEND: gateway subnet NSG outbound, backend subnet/NIC NSG (or effective rules) inbound."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diagnostics.checks.base import NotApplicable
from diagnostics.checks.nsg_backend import CHECK, source_pieces
from diagnostics.snapshot import MissingData
from model.findings import Severity
from simulator import FaultRule

RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web"
SUB = f"{RG}/providers/Microsoft.Network"
NIC1 = f"{SUB}/networkInterfaces/nic-contoso-web-1"


def nic_nsg(world, kit, name="nsg-nic-web-1"):
    """Give nic-contoso-web-1 its own (empty) NSG and return its body."""
    nsg = {
        "id": f"{SUB}/networkSecurityGroups/{name}",
        "name": name,
        "type": "Microsoft.Network/networkSecurityGroups",
        "location": "westeurope",
        "properties": {"securityRules": []},
    }
    world["resources"].append(nsg)
    kit.resource(world, "nic-contoso-web-1")["properties"]["networkSecurityGroup"] = {"id": nsg["id"]}
    return nsg


def effective_group(nsg_id, association, rules):
    return {
        "networkSecurityGroup": {"id": nsg_id},
        "association": association,
        "effectiveSecurityRules": rules,
    }


def effective_rule(name, priority, access, source, port):
    return {
        "name": f"securityRules/{name}",
        "protocol": "Tcp",
        "sourcePortRange": "0-65535",
        "destinationPortRange": port,
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": "0.0.0.0/0",
        "access": access,
        "priority": priority,
        "direction": "Inbound",
    }


def test_a_backend_subnet_deny_is_blamed_with_every_blocked_server(kit):
    world = kit.load_world("scenarios/nsg-backend-subnet/world.json")
    [finding] = CHECK.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("NSG_BLOCKS_BACKEND", Severity.CRITICAL)
    assert finding.resource == f"{SUB}/networkSecurityGroups/nsg-contoso-backend/securityRules/DenyAppGateway"
    assert finding.evidence["direction"] == "Inbound"
    assert finding.evidence["source"] == "10.1.0.0/24"
    assert [(b["address"], b["port"]) for b in finding.evidence["blocked"]] == [
        ("10.1.1.4", 8080),
        ("10.1.1.5", 8080),
    ]
    assert finding.fix.action == "add-nsg-allow-rule"
    proposed = finding.fix.plan.to_dict()
    assert proposed["nsg"] == f"{SUB}/networkSecurityGroups/nsg-contoso-backend"
    assert proposed["properties"]["sourceAddressPrefixes"] == ["10.1.0.0/24"]
    assert proposed["properties"]["destinationAddressPrefixes"] == ["10.1.1.4", "10.1.1.5"]
    assert proposed["properties"]["destinationPortRanges"] == ["8080"]
    assert "--destination-port-ranges 8080" in finding.fix.command


def test_a_gateway_subnet_outbound_deny_is_blamed(kit):
    world = kit.healthy_world()
    kit.nsg_rule(
        world,
        "nsg-contoso-appgw",
        "DenyToBackends",
        priority=200,
        access="Deny",
        destination="10.1.1.0/24",
        ports="8080",
        direction="Outbound",
    )
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.evidence["direction"] == "Outbound"
    assert finding.resource.endswith("nsg-contoso-appgw/securityRules/DenyToBackends")
    assert finding.fix.plan.to_dict()["properties"]["priority"] == 199
    assert finding.fix.plan.to_dict()["properties"]["direction"] == "Outbound"


def test_a_nic_nsg_blocks_only_its_own_server(kit):
    world = kit.healthy_world()
    nsg = nic_nsg(world, kit)
    nsg["properties"]["securityRules"].append(
        {
            "id": f"{nsg['id']}/securityRules/DenyGw",
            "name": "DenyGw",
            "properties": {
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "priority": 100,
                "direction": "Inbound",
                "access": "Deny",
                "sourceAddressPrefix": "10.1.0.0/24",
                "destinationAddressPrefix": "*",
            },
        }
    )
    [finding] = CHECK.run(kit.snapshot(world))
    assert [b["address"] for b in finding.evidence["blocked"]] == ["10.1.1.4"]
    assert finding.resource == f"{nsg['id']}/securityRules/DenyGw"


def test_the_vnet_default_allow_lets_the_gateway_through_an_empty_nic_nsg(kit):
    world = kit.healthy_world()
    nic_nsg(world, kit)
    assert CHECK.run(kit.snapshot(world)) == []


def test_effective_rules_win_over_the_nsg_models_when_collected(kit):
    world = kit.load_world("scenarios/nsg-backend-subnet/world.json")
    backend_nsg = f"{SUB}/networkSecurityGroups/nsg-contoso-backend"
    subnet = {"subnet": {"id": f"{SUB}/virtualNetworks/vnet-contoso/subnets/backend-subnet"}}
    world["effectiveNetworkSecurityGroups"] = {
        NIC1: {
            "value": [
                effective_group(
                    backend_nsg, subnet, [effective_rule("AllowGw", 100, "Allow", "10.1.0.0/24", "8080-8080")]
                )
            ]
        },
    }
    [finding] = CHECK.run(kit.snapshot(world))
    assert [b["address"] for b in finding.evidence["blocked"]] == ["10.1.1.5"]

    world = kit.healthy_world()
    world["effectiveNetworkSecurityGroups"] = {
        NIC1: {
            "value": [
                effective_group(
                    backend_nsg, subnet, [effective_rule("DenyGw", 100, "Deny", "10.1.0.0/24", "8000-9000")]
                )
            ]
        },
    }
    [finding] = CHECK.run(kit.snapshot(world))
    assert [b["address"] for b in finding.evidence["blocked"]] == ["10.1.1.4"]
    assert finding.resource == f"{backend_nsg}/securityRules/DenyGw"


def test_denies_of_other_ports_or_other_sources_are_not_blocks(kit):
    world = kit.healthy_world()
    kit.nsg_rule(
        world,
        "nsg-contoso-backend",
        "DenyHighPorts",
        priority=200,
        access="Deny",
        source="10.1.0.0/24",
        ports="9000-9999",
    )
    kit.nsg_rule(
        world,
        "nsg-contoso-backend",
        "DenyOtherSubnet",
        priority=210,
        access="Deny",
        source="10.1.5.0/24",
        ports="*",
    )
    assert CHECK.run(kit.snapshot(world)) == []  # and DenyInternetInbound (4000) never matches VNet traffic


def test_the_port_checked_is_the_settings_port(kit):
    world = kit.healthy_world()
    kit.nsg_rule(
        world,
        "nsg-contoso-backend",
        "DenyHighPorts",
        priority=200,
        access="Deny",
        source="10.1.0.0/24",
        ports="9000-9999",
    )
    kit.gateway_part(world, "backendHttpSettingsCollection", "web-settings")["properties"]["port"] = 9090
    [finding] = CHECK.run(kit.snapshot(world))
    assert {b["port"] for b in finding.evidence["blocked"]} == {9090}
    assert finding.resource.endswith("/securityRules/DenyHighPorts")
    assert finding.fix.plan.to_dict()["properties"]["priority"] == 199


def test_fqdn_members_are_checked_at_their_resolved_address(kit):
    world = kit.load_world("tests/worlds/custom-dns-resolves/world.json")
    assert CHECK.run(kit.snapshot(world)) == []
    allow = kit.resource(world, "nsg-contoso-backend")["properties"]["securityRules"][0]
    allow["properties"]["access"] = "Deny"
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.evidence["blocked"][0]["address"] == "10.1.1.4"


def test_an_unresolved_fqdn_is_not_checked_and_says_so(kit):
    with pytest.raises(MissingData, match="api.internal.contoso.net"):
        CHECK.run(kit.snapshot(kit.load_world("scenarios/custom-dns/world.json")))


def test_a_backend_nsg_that_could_not_be_read_is_missing_data(kit):
    snapshot = kit.snapshot(
        kit.healthy_world(), faults=[FaultRule("networkSecurityGroups.get", "error", status=403)]
    )
    with pytest.raises(MissingData, match="nsg-contoso-backend"):
        CHECK.run(snapshot)


def test_an_empty_pool_leaves_nothing_to_check(kit):
    with pytest.raises(NotApplicable):
        CHECK.run(kit.snapshot(kit.load_world("scenarios/pool-empty/world.json")))


def test_an_ip_member_meets_the_nsg_of_the_nic_that_holds_its_address(kit):
    world = kit.healthy_world()
    pool = kit.gateway_part(world, "backendAddressPools", "web-pool")["properties"]
    pool["backendIPConfigurations"] = []
    pool["backendAddresses"] = [{"ipAddress": "10.1.1.4"}, {"ipAddress": "10.1.1.5"}]
    nsg = nic_nsg(world, kit)
    kit.nsg_rule(world, nsg["name"], "DenyGw", priority=100, access="Deny", source="10.1.0.0/24")
    [finding] = CHECK.run(kit.snapshot(world))
    assert [b["address"] for b in finding.evidence["blocked"]] == ["10.1.1.4"]
    assert finding.resource == f"{nsg['id']}/securityRules/DenyGw"


def test_a_deny_for_part_of_the_gateway_subnet_blocks_the_instances_there(kit):
    world = kit.healthy_world()
    kit.nsg_rule(world, "nsg-contoso-backend", "DenyOldGatewayRange", priority=90, access="Deny",
                 source="10.1.0.0/26", ports="8080")  # fmt: skip
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.resource.endswith("/securityRules/DenyOldGatewayRange")
    assert {b["from"] for b in finding.evidence["blocked"]} == {"10.1.0.0/26"}
    assert finding.fix.plan.to_dict()["properties"]["sourceAddressPrefixes"] == ["10.1.0.0/24"]


def test_an_allow_for_part_of_the_gateway_subnet_leaves_the_rest_to_later_rules(kit):
    world = kit.healthy_world()
    rule = next(r for r in kit.resource(world, "nsg-contoso-backend")["properties"]["securityRules"]
                if r["name"] == "AllowFromAppGateway")  # fmt: skip
    rule["properties"]["sourceAddressPrefix"] = "10.1.0.0/25"
    kit.nsg_rule(
        world, "nsg-contoso-backend", "DenyVnet", priority=200, access="Deny", source="VirtualNetwork"
    )
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.resource.endswith("/securityRules/DenyVnet")
    assert {b["from"] for b in finding.evidence["blocked"]} == {"10.1.0.128/25"}


@given(
    prefix_length=st.integers(min_value=20, max_value=32),
    boundaries=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2**12 - 1), st.integers(min_value=16, max_value=32)),
        max_size=6,
    ),
)
def test_source_pieces_partition_the_subnet_along_every_boundary(prefix_length, boundaries):
    subnet = ipaddress.ip_network(f"10.1.0.0/{prefix_length}")
    networks = [
        ipaddress.ip_network((int(ipaddress.ip_address("10.1.0.0")) + offset, length), strict=False)
        for offset, length in boundaries
    ]
    pieces = [
        ipaddress.ip_network(p) for p in source_pieces(str(subnet), [*map(str, networks), "VirtualNetwork"])
    ]
    assert sum(p.num_addresses for p in pieces) == subnet.num_addresses
    assert all(p.subnet_of(subnet) for p in pieces)
    assert all(not a.overlaps(b) for i, a in enumerate(pieces) for b in pieces[i + 1 :])
    for piece in pieces:
        for network in networks:
            assert piece.subnet_of(network) or not piece.overlaps(network)


def test_an_allow_to_an_application_security_group_covers_only_member_nics(kit):
    asg = f"{SUB}/applicationSecurityGroups/asg-web"
    world = kit.healthy_world()
    allow = kit.resource(world, "nsg-contoso-backend")["properties"]["securityRules"][0]
    del allow["properties"]["destinationAddressPrefix"]
    allow["properties"]["destinationApplicationSecurityGroups"] = [{"id": asg}]
    kit.nsg_rule(world, "nsg-contoso-backend", "DenyAll", priority=4096, access="Deny", protocol="*")
    config = kit.resource(world, "nic-contoso-web-1")["properties"]["ipConfigurations"][0]
    config["properties"]["applicationSecurityGroups"] = [{"id": asg}]
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.resource.endswith("/securityRules/DenyAll")
    assert [b["address"] for b in finding.evidence["blocked"]] == ["10.1.1.5"]


def ip_members(world, kit, *addresses):
    pool = kit.gateway_part(world, "backendAddressPools", "web-pool")["properties"]
    pool["backendIPConfigurations"] = []
    pool["backendAddresses"] = [{"ipAddress": address} for address in addresses]


def test_every_nsg_that_denies_on_the_path_gets_its_own_finding_and_fix(kit):
    world = kit.healthy_world()
    nsg = nic_nsg(world, kit)
    kit.nsg_rule(world, nsg["name"], "DenyGw", priority=100, access="Deny", source="10.1.0.0/24")
    subnet_allow = kit.resource(world, "nsg-contoso-backend")["properties"]["securityRules"][0]
    subnet_allow["properties"]["access"] = "Deny"
    kit.nsg_rule(world, "nsg-contoso-appgw", "DenyOut", priority=300, access="Deny",
                 destination="10.1.1.4", ports="8080", direction="Outbound")  # fmt: skip
    findings = CHECK.run(kit.snapshot(world))
    by_nsg = {f.evidence["nsg"].rsplit("/", 1)[1]: f for f in findings}
    assert sorted(by_nsg) == ["nsg-contoso-appgw", "nsg-contoso-backend", "nsg-nic-web-1"]
    for name, finding in by_nsg.items():
        assert finding.fix.plan.to_dict()["nsg"].endswith(f"/{name}")
        assert finding.fix.action == "add-nsg-allow-rule"
    assert [b["address"] for b in by_nsg["nsg-nic-web-1"].evidence["blocked"]] == ["10.1.1.4"]
    assert [b["address"] for b in by_nsg["nsg-contoso-backend"].evidence["blocked"]] == [
        "10.1.1.4",
        "10.1.1.5",
    ]
    assert by_nsg["nsg-contoso-appgw"].evidence["direction"] == "Outbound"


def test_an_ip_member_whose_nic_could_not_be_identified_is_not_passed(kit):
    world = kit.healthy_world()
    ip_members(world, kit, "10.1.1.4")
    world["resources"] = [r for r in world["resources"] if r["name"] != "nic-contoso-web-1"]
    snapshot = kit.snapshot(world)
    assert CHECK.run(snapshot) == []  # no NIC holds the address: only the subnet NSG filters it
    snapshot.unidentified_nics["10.1.1.4"] = "the NIC holding 10.1.1.4 could not be identified: 403"
    with pytest.raises(MissingData, match="NIC holding 10.1.1.4"):
        CHECK.run(snapshot)
    subnet_allow = kit.resource(world, "nsg-contoso-backend")["properties"]["securityRules"][0]
    subnet_allow["properties"]["access"] = "Deny"
    snapshot = kit.snapshot(world)
    snapshot.unidentified_nics["10.1.1.4"] = "403"
    [finding] = CHECK.run(snapshot)  # the subnet's deny stands whatever the NIC's NSG says
    assert finding.resource.endswith("nsg-contoso-backend/securityRules/AllowFromAppGateway")


def peered(world, kit, *, access=True, state="Connected"):
    """Peer the gateway's VNet with a spoke 10.2.0.0/16 and put the pool's only server there."""
    vnet = kit.resource(world, "vnet-contoso")
    vnet["properties"]["virtualNetworkPeerings"] = [
        {
            "id": f"{vnet['id']}/virtualNetworkPeerings/to-spoke",
            "name": "to-spoke",
            "properties": {
                "peeringState": state,
                "allowVirtualNetworkAccess": access,
                "remoteVirtualNetwork": {"id": f"{SUB}/virtualNetworks/vnet-spoke"},
                "remoteAddressSpace": {"addressPrefixes": ["10.2.0.0/16"]},
            },
        }
    ]
    ip_members(world, kit, "10.2.1.4")
    spoke = f"{SUB}/virtualNetworks/vnet-spoke"
    world["resources"].append(
        {
            "id": spoke,
            "name": "vnet-spoke",
            "type": "Microsoft.Network/virtualNetworks",
            "location": vnet["location"],
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.2.0.0/16"]},
                "subnets": [
                    {
                        "id": f"{spoke}/subnets/web",
                        "name": "web",
                        "properties": {"addressPrefix": "10.2.1.0/24"},
                    }
                ],
            },
        }
    )


def test_the_virtual_network_tag_covers_connected_peerings(kit):
    world = kit.healthy_world()
    peered(world, kit)
    assert CHECK.run(kit.snapshot(world)) == []  # AllowVnetOutBound covers the spoke


@pytest.mark.parametrize(("access", "state"), [(False, "Connected"), (True, "Disconnected")])
def test_a_peering_without_vnet_access_or_not_connected_is_not_in_the_tag(kit, access, state):
    world = kit.healthy_world()
    peered(world, kit, access=access, state=state)
    kit.nsg_rule(world, "nsg-contoso-appgw", "DenyAllOut", priority=4000, access="Deny",
                 direction="Outbound", protocol="*")  # fmt: skip
    kit.nsg_rule(world, "nsg-contoso-appgw", "AllowVnetOut", priority=3000, access="Allow",
                 source="VirtualNetwork", destination="VirtualNetwork", direction="Outbound")  # fmt: skip
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.evidence["decidingRule"]["name"] == "DenyAllOut"


def app_service(kit):
    return kit.load_world("tests/worlds/app-service-backend-decoy/world.json")


def test_an_unresolved_name_on_azure_dns_passes_on_the_internet_path_and_says_what_it_left_out(kit):
    findings = CHECK.run(kit.snapshot(app_service(kit)))
    assert findings == []
    assert findings.note.startswith("contoso-web.azurewebsites.net:443: not resolved")
    assert "allows outbound Internet on 443" in findings.note
    assert "private address of the name were not checked" in findings.note


def test_an_unresolved_name_behind_an_internet_deny_is_an_error_not_a_pass(kit):
    world = app_service(kit)
    kit.nsg_rule(world, "nsg-contoso-appgw", "DenyInternetOut", priority=200, access="Deny",
                 destination="Internet", ports="443", direction="Outbound")  # fmt: skip
    with pytest.raises(MissingData, match="denies outbound Internet on 443 \\(rule DenyInternetOut\\)"):
        CHECK.run(kit.snapshot(world))


def test_a_name_azure_dns_resolved_is_checked_at_its_address(kit):
    world = app_service(kit)
    kit.nsg_rule(world, "nsg-contoso-appgw", "DenyAppServiceIp", priority=200, access="Deny",
                 destination="20.50.2.10", ports="443", direction="Outbound")  # fmt: skip
    snapshot = kit.snapshot(world)
    snapshot.dns_answers = {"contoso-web.azurewebsites.net": ["20.50.2.10"]}
    [finding] = CHECK.run(snapshot)
    assert finding.evidence["blocked"][0]["address"] == "20.50.2.10"
    assert finding.evidence["decidingRule"]["name"] == "DenyAppServiceIp"
