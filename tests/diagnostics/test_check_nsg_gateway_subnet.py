"""NSG_BLOCKS_INFRA_PORTS, NSG_BLOCKS_LOAD_BALANCER and NSG_BLOCKS_INTERNET_OUTBOUND."""

from __future__ import annotations

import pytest

from diagnostics.checks.base import NotApplicable
from diagnostics.checks.nsg_gateway_subnet import INFRA_PORTS, INTERNET_OUTBOUND, LOAD_BALANCER
from diagnostics.snapshot import MissingData
from model.findings import Severity

NSG = "nsg-contoso-appgw"


def without_gateway_manager_allow(kit):
    world = kit.healthy_world()
    rules = kit.resource(world, NSG)["properties"]["securityRules"]
    rules[:] = [r for r in rules if r["name"] != "AllowGatewayManager"]
    return world


def make_v1(world, kit):
    kit.gateway_body(world)["properties"]["sku"] = {
        "name": "Standard_Medium",
        "tier": "Standard",
        "capacity": 2,
    }


def test_an_explicit_deny_is_blamed_and_fixed_with_an_allow_just_in_front(kit):
    world = without_gateway_manager_allow(kit)
    deny = kit.nsg_rule(
        world,
        NSG,
        "DenyGatewayManager",
        priority=200,
        access="Deny",
        source="GatewayManager",
        ports="65200-65535",
    )
    [finding] = INFRA_PORTS.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("NSG_BLOCKS_INFRA_PORTS", Severity.CRITICAL)
    assert finding.resource == deny["id"]
    assert finding.title == (
        "NSG nsg-contoso-appgw blocks GatewayManager on 65200-65535 (v2 infrastructure ports) "
        "(rule DenyGatewayManager, priority 200)"
    )
    assert finding.evidence["blockedPorts"] == ["65200-65535"]
    assert finding.evidence["decidingRules"][0]["priority"] == 200
    assert finding.fix.action == "add-nsg-allow-rule"
    assert finding.fix.command == (
        "az network nsg rule create -g rg-contoso-web --nsg-name nsg-contoso-appgw "
        "-n AllowGatewayManagerInfra --priority 199 --direction Inbound --access Allow --protocol Tcp "
        "--source-address-prefixes GatewayManager --source-port-ranges '*' "
        "--destination-address-prefixes '*' --destination-port-ranges 65200-65535"
    )
    proposed = finding.fix.plan.to_dict()["properties"]
    assert proposed["priority"] == 199 and proposed["access"] == "Allow"
    assert "moveRule" not in finding.fix.plan.to_dict()


def test_without_any_allow_the_default_deny_blames_the_nsg(kit):
    world = without_gateway_manager_allow(kit)
    [finding] = INFRA_PORTS.run(kit.snapshot(world))
    assert finding.resource == kit.resource(world, NSG)["id"]
    assert finding.evidence["decidingRules"][0]["name"] == "DenyAllInBound"
    assert finding.fix.plan.to_dict()["properties"]["priority"] == 4096


def test_a_partial_gap_names_only_the_blocked_ports(kit):
    world = without_gateway_manager_allow(kit)
    kit.nsg_rule(
        world, NSG, "AllowGwmLow", priority=100, access="Allow", source="GatewayManager", ports="65200-65400"
    )
    [finding] = INFRA_PORTS.run(kit.snapshot(world))
    assert finding.evidence["blockedPorts"] == ["65401-65535"]


def test_a_deny_shadowed_by_a_higher_precedence_allow_is_not_a_block(kit):
    world = kit.healthy_world()
    kit.nsg_rule(
        world, NSG, "DenyGatewayManager", priority=300, access="Deny", source="GatewayManager", ports="*"
    )
    assert INFRA_PORTS.run(kit.snapshot(world)) == []


def test_a_deny_ahead_of_the_allow_on_a_single_port_is_a_block(kit):
    world = kit.healthy_world()
    kit.resource(world, NSG)["properties"]["securityRules"][0]["properties"]["priority"] = 150
    kit.nsg_rule(world, NSG, "DenyOnePort", priority=140, access="Deny", source="*", ports="65300")
    [finding] = INFRA_PORTS.run(kit.snapshot(world))
    assert finding.evidence["blockedPorts"] == ["65300"]
    assert finding.resource.endswith("/securityRules/DenyOnePort")
    assert finding.fix.plan.to_dict()["properties"]["priority"] == 139


def test_v1_needs_only_65503_to_65534(kit):
    v1 = kit.load_world("tests/worlds/v1-infra-narrow/world.json")
    assert INFRA_PORTS.run(kit.snapshot(v1)) == []
    kit.gateway_body(v1)["properties"]["sku"] = {"name": "Standard_v2", "tier": "Standard_v2"}
    [finding] = INFRA_PORTS.run(kit.snapshot(v1))
    assert finding.evidence["blockedPorts"] == ["65200-65502", "65535"]
    assert finding.evidence["sku"] == "v2"


def test_a_deny_holding_priority_100_is_moved_one_step_to_make_room(kit):
    snapshot = kit.snapshot(kit.load_world("scenarios/nsg-infra-ports-v2/world.json"))
    [finding] = INFRA_PORTS.run(snapshot)
    proposed = finding.fix.plan.to_dict()
    assert proposed["properties"]["priority"] == 100
    assert proposed["moveRule"]["name"] == "DenyGatewayManager"
    assert (proposed["moveRule"]["fromPriority"], proposed["moveRule"]["toPriority"]) == (100, 101)
    assert finding.fix.command.startswith(
        "az network nsg rule update -g rg-contoso-web --nsg-name nsg-contoso-appgw -n DenyGatewayManager "
        "--priority 101 && az network nsg rule create"
    )
    assert finding.fix.action == "add-nsg-allow-rule"


def test_no_room_at_all_means_no_automatic_fix(kit):
    world = kit.load_world("scenarios/nsg-infra-ports-v2/world.json")
    kit.nsg_rule(world, NSG, "Other101", priority=101, access="Allow", source="10.0.0.0/8", ports="22")
    [finding] = INFRA_PORTS.run(kit.snapshot(world))
    assert finding.fix.action is None and finding.fix.command is None
    assert finding.fix.plan is None


def test_no_nsg_on_the_gateway_subnet_is_not_applicable(kit):
    world = kit.healthy_world()
    del kit.resource(world, "vnet-contoso")["properties"]["subnets"][0]["properties"]["networkSecurityGroup"]
    for check in (INFRA_PORTS, LOAD_BALANCER, INTERNET_OUTBOUND):
        with pytest.raises(NotApplicable):
            check.run(kit.snapshot(world))


def test_an_nsg_that_could_not_be_read_is_missing_data(kit):
    world = kit.healthy_world()
    world["resources"] = [r for r in world["resources"] if r["name"] != NSG]
    snapshot = kit.snapshot(world)
    snapshot.errors["nsgs"] = "nsg-contoso-appgw: 403 AuthorizationFailed"
    with pytest.raises(MissingData, match="403"):
        INFRA_PORTS.run(snapshot)


def test_denying_azure_load_balancer_is_critical(kit):
    world = kit.healthy_world()
    kit.nsg_rule(world, NSG, "DenyLb", priority=105, access="Deny", source="AzureLoadBalancer", protocol="*")
    [finding] = LOAD_BALANCER.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("NSG_BLOCKS_LOAD_BALANCER", Severity.CRITICAL)
    assert finding.resource.endswith("/securityRules/DenyLb")
    assert finding.fix.action is None  # FINDINGS.md names no safe automatic fix
    assert finding.fix.command.startswith("az network nsg rule create -g rg-contoso-web --nsg-name ")
    assert "--priority 104 --direction Inbound --access Allow" in finding.fix.command
    assert "--source-address-prefixes AzureLoadBalancer" in finding.fix.command


def test_a_deny_all_after_the_load_balancer_allow_is_fine_but_before_it_is_not(kit):
    world = kit.healthy_world()
    kit.nsg_rule(world, NSG, "DenyAll", priority=4096, access="Deny", protocol="*")
    assert LOAD_BALANCER.run(kit.snapshot(world)) == []
    rules = kit.resource(world, NSG)["properties"]["securityRules"]
    rules[:] = [r for r in rules if r["name"] != "AllowAzureLoadBalancer"]
    [finding] = LOAD_BALANCER.run(kit.snapshot(world))
    assert finding.evidence["decidingRules"][0]["name"] == "DenyAll"


def test_a_deny_of_an_unrelated_port_does_not_block_the_load_balancer(kit):
    world = kit.healthy_world()
    rules = kit.resource(world, NSG)["properties"]["securityRules"]
    rules[:] = [r for r in rules if r["name"] != "AllowAzureLoadBalancer"]
    kit.nsg_rule(world, NSG, "DenySsh", priority=130, access="Deny", ports="22")
    assert LOAD_BALANCER.run(kit.snapshot(world)) == []


def test_v2_denying_outbound_internet_is_critical(kit):
    world = kit.healthy_world()
    kit.nsg_rule(
        world,
        NSG,
        "DenyInternetOut",
        priority=4000,
        access="Deny",
        destination="Internet",
        direction="Outbound",
        protocol="*",
    )
    [finding] = INTERNET_OUTBOUND.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("NSG_BLOCKS_INTERNET_OUTBOUND", Severity.CRITICAL)
    assert finding.resource.endswith("/securityRules/DenyInternetOut")
    assert finding.fix.action is None
    assert "--direction Outbound --access Allow" in finding.fix.command
    assert "--destination-address-prefixes Internet" in finding.fix.command
    assert finding.evidence["blockedPorts"] == ["443", "80"]


def test_denying_only_smtp_outbound_or_being_v1_is_not_a_finding(kit):
    world = kit.healthy_world()
    kit.nsg_rule(
        world,
        NSG,
        "DenySmtp",
        priority=4000,
        access="Deny",
        destination="Internet",
        ports="25",
        direction="Outbound",
    )
    assert INTERNET_OUTBOUND.run(kit.snapshot(world)) == []
    kit.nsg_rule(
        world,
        NSG,
        "DenyAllOut",
        priority=4001,
        access="Deny",
        destination="*",
        direction="Outbound",
        protocol="*",
    )
    make_v1(world, kit)
    with pytest.raises(NotApplicable):
        INTERNET_OUTBOUND.run(kit.snapshot(world))


@pytest.mark.parametrize(
    ("sku", "blocked"),
    [
        ({"name": "Basic", "tier": "Basic"}, ["65200-65502", "65535"]),
        ({"name": "WAF_v2", "tier": "WAF_v2"}, ["65200-65502", "65535"]),
        ({"name": "WAF_Large", "tier": "WAF"}, None),
        ({"name": "Standard_Small"}, None),
    ],
)
def test_basic_is_a_v2_family_sku_and_only_standard_and_waf_tiers_are_v1(kit, sku, blocked):
    world = kit.load_world("tests/worlds/v1-infra-narrow/world.json")
    kit.gateway_body(world)["properties"]["sku"] = sku
    findings = INFRA_PORTS.run(kit.snapshot(world))
    assert [f.evidence["blockedPorts"] for f in findings] == ([blocked] if blocked else [])
