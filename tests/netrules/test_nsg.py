"""NSG evaluation: priority order, prefixes and tags, ports, paths across two NSGs."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from azure.mgmt.network import models
from hypothesis import given
from hypothesis import strategies as st

from netrules.addresses import Endpoint, in_ranges, parse_endpoint, prefix_covers, single_address
from netrules.nsg import (
    Flow,
    NsgRules,
    Rule,
    as_nsg_rules,
    default_security_rules,
    evaluate_nsg,
    evaluate_path,
    first_match,
)

ROOT = Path(__file__).resolve().parents[2]
NSG_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-a"
NIC_NSG_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-nic"
VNET = ["10.1.0.0/16"]
GW_IP = "10.1.0.4"


def rule(
    name, priority, access="Allow", direction="Inbound", source="*", destination="*", ports="*", **extra
):
    """ARM JSON of a custom security rule; `ports` may be a list (-> destinationPortRanges)."""
    properties = {
        "protocol": extra.pop("protocol", "Tcp"),
        "sourcePortRange": extra.pop("source_port", "*"),
        "priority": priority,
        "direction": direction,
        "access": access,
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": destination,
    }
    if isinstance(ports, list):
        properties["destinationPortRanges"] = ports
    else:
        properties["destinationPortRange"] = ports
    properties.update(extra)
    return {"id": f"{NSG_ID}/securityRules/{name}", "name": name, "properties": properties}


def nsg(*rules, nsg_id=NSG_ID, with_defaults=False):
    properties = {"securityRules": list(rules)}
    if with_defaults:
        properties["defaultSecurityRules"] = default_security_rules(nsg_id)
    return models.NetworkSecurityGroup(
        {"id": nsg_id, "name": nsg_id.rsplit("/", 1)[-1], "properties": properties}
    )


def infra_flow(port):
    return Flow("Inbound", "GatewayManager", GW_IP, port)


# --- default rules ---


def test_default_rules_are_azures_six():
    rules = default_security_rules(NSG_ID)
    summary = [
        (r["name"], r["properties"]["direction"], r["properties"]["priority"], r["properties"]["access"])
        for r in rules
    ]
    assert summary == [
        ("AllowVnetInBound", "Inbound", 65000, "Allow"),
        ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow"),
        ("DenyAllInBound", "Inbound", 65500, "Deny"),
        ("AllowVnetOutBound", "Outbound", 65000, "Allow"),
        ("AllowInternetOutBound", "Outbound", 65001, "Allow"),
        ("DenyAllOutBound", "Outbound", 65500, "Deny"),
    ]
    for r in rules:
        assert r["id"] == f"{NSG_ID}/defaultSecurityRules/{r['name']}"
        assert r["type"] == "Microsoft.Network/networkSecurityGroups/defaultSecurityRules"
        assert r["properties"]["protocol"] == "*"
        assert r["properties"]["destinationPortRange"] == "*"
        assert r["properties"]["description"]
    by_name = {r["name"]: r["properties"] for r in rules}
    assert by_name["AllowVnetInBound"]["sourceAddressPrefix"] == "VirtualNetwork"
    assert by_name["AllowVnetInBound"]["destinationAddressPrefix"] == "VirtualNetwork"
    assert by_name["AllowAzureLoadBalancerInBound"]["sourceAddressPrefix"] == "AzureLoadBalancer"
    assert by_name["AllowInternetOutBound"]["destinationAddressPrefix"] == "Internet"


def test_default_rules_json_loads_into_sdk_model():
    group = nsg(with_defaults=True)
    assert [r.priority for r in group.default_security_rules] == [65000, 65001, 65500, 65000, 65001, 65500]


@pytest.mark.parametrize("with_defaults", [True, False])
def test_empty_nsg_applies_default_rules(with_defaults):
    group = nsg(with_defaults=with_defaults)
    vnet_in = evaluate_nsg(group, Flow("Inbound", "10.1.2.3", GW_IP, 443), vnet_prefixes=VNET)
    assert (vnet_in.rule_name, vnet_in.access, vnet_in.is_default) == ("AllowVnetInBound", "Allow", True)
    assert vnet_in.rule_id == f"{NSG_ID}/defaultSecurityRules/AllowVnetInBound"
    assert vnet_in.nsg_id == NSG_ID
    internet_in = evaluate_nsg(group, Flow("Inbound", "52.1.2.3", GW_IP, 443), vnet_prefixes=VNET)
    assert (internet_in.rule_name, internet_in.access, internet_in.priority) == (
        "DenyAllInBound",
        "Deny",
        65500,
    )
    lb = evaluate_nsg(group, Flow("Inbound", "AzureLoadBalancer", GW_IP, 80), vnet_prefixes=VNET)
    assert lb.rule_name == "AllowAzureLoadBalancerInBound"
    out = evaluate_nsg(group, Flow("Outbound", GW_IP, "52.1.2.3", 443), vnet_prefixes=VNET)
    assert out.rule_name == "AllowInternetOutBound"
    # A private address outside the VNet is neither VirtualNetwork nor Internet.
    out_private = evaluate_nsg(group, Flow("Outbound", GW_IP, "10.9.0.1", 443), vnet_prefixes=VNET)
    assert out_private.rule_name == "DenyAllOutBound"


# --- flows ---


def test_flow_normalises_spellings():
    flow = Flow("inbound", "GatewayManager", GW_IP, 80, protocol="TCP")
    assert (flow.direction, flow.protocol) == ("Inbound", "Tcp")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"direction": "Sideways"}, "direction"),
        ({"protocol": "*"}, "protocol"),
        ({"protocol": "Http"}, "protocol"),
        ({"port": 70000}, "port"),
        ({"port": -1}, "port"),
        ({"port": "80"}, "port"),
        ({"source": ""}, "endpoint"),
        ({"destination": "*"}, "endpoint"),
    ],
)
def test_flow_rejects_bad_input_with_one_line(kwargs, message):
    args = {"direction": "Inbound", "source": "GatewayManager", "destination": GW_IP, "port": 80} | kwargs
    with pytest.raises(ValueError, match=message) as error:
        Flow(**args)
    assert "\n" not in str(error.value)


# --- infrastructure ports, v1 vs v2 ---


def test_scenario_nsg_denies_v2_infrastructure_ports():
    world = json.loads((ROOT / "scenarios/nsg-infra-ports-v2/world.json").read_text())
    body = next(r for r in world["resources"] if r["name"] == "nsg-contoso-appgw")
    match = evaluate_nsg(models.NetworkSecurityGroup(body), infra_flow(65200), vnet_prefixes=VNET)
    assert (match.access, match.rule_name, match.priority) == ("Deny", "DenyGatewayManager", 100)
    web = evaluate_nsg(
        models.NetworkSecurityGroup(body), Flow("Inbound", "52.1.2.3", GW_IP, 443), vnet_prefixes=VNET
    )
    assert (web.access, web.rule_name) == ("Allow", "AllowWebFromInternet")


def test_v1_infrastructure_rule_does_not_open_v2_ports():
    group = nsg(rule("AllowGwmV1", 100, source="GatewayManager", ports="65503-65534"))
    for port in (65503, 65520, 65534):
        assert evaluate_nsg(group, infra_flow(port), vnet_prefixes=VNET).rule_name == "AllowGwmV1"
    for port in (65200, 65502, 65535):
        denied = evaluate_nsg(group, infra_flow(port), vnet_prefixes=VNET)
        assert (denied.access, denied.rule_name) == ("Deny", "DenyAllInBound")


def test_v2_infrastructure_rule_opens_whole_range():
    group = nsg(rule("AllowGwmV2", 100, source="GatewayManager", ports="65200-65535"))
    for port in (65200, 65503, 65535):
        assert evaluate_nsg(group, infra_flow(port), vnet_prefixes=VNET).access == "Allow"
    assert evaluate_nsg(group, infra_flow(65199), vnet_prefixes=VNET).access == "Deny"


def test_deny_shadowed_by_higher_priority_allow():
    group = nsg(
        rule("DenyGwm", 200, access="Deny", source="GatewayManager", ports="65200-65535"),
        rule("AllowGwm", 100, source="GatewayManager", ports="*"),
    )
    match = evaluate_nsg(group, infra_flow(65300), vnet_prefixes=VNET)
    assert (match.access, match.rule_name, match.priority) == ("Allow", "AllowGwm", 100)


def test_allow_shadowed_by_higher_priority_deny():
    group = nsg(
        rule("AllowGwm", 300, source="GatewayManager", ports="65200-65535"),
        rule("DenyAll", 200, access="Deny"),
    )
    assert evaluate_nsg(group, infra_flow(65300), vnet_prefixes=VNET).rule_name == "DenyAll"


# --- service tags ---


@pytest.mark.parametrize(
    "prefix",
    ["Internet", "GatewayManager", "GatewayManager.WestEurope", "gatewaymanager", "AzureCloud", "*"],
)
def test_tags_that_cover_gateway_manager(prefix):
    group = nsg(rule("DenyIt", 100, access="Deny", source=prefix, ports="65200-65535"))
    assert evaluate_nsg(group, infra_flow(65200), vnet_prefixes=VNET).rule_name == "DenyIt"


def test_region_suffix_on_the_flow_endpoint_is_ignored():
    group = nsg(rule("AllowGwm", 100, source="GatewayManager", ports="65200-65535"))
    flow = Flow("Inbound", "GatewayManager.WestEurope", GW_IP, 65200)
    assert evaluate_nsg(group, flow, vnet_prefixes=VNET).rule_name == "AllowGwm"


@pytest.mark.parametrize("prefix", ["VirtualNetwork", "AzureLoadBalancer", "52.0.0.0/8", "10.1.0.0/16"])
def test_prefixes_that_do_not_cover_gateway_manager(prefix):
    group = nsg(rule("AllowIt", 100, source=prefix, ports="*"))
    assert evaluate_nsg(group, infra_flow(65200), vnet_prefixes=VNET).rule_name == "DenyAllInBound"


def test_zero_cidr_covers_tag_endpoints():
    group = nsg(rule("AllowAll", 100, source="0.0.0.0/0", ports="*"))
    assert evaluate_nsg(group, infra_flow(65200), vnet_prefixes=VNET).rule_name == "AllowAll"


@pytest.mark.parametrize(
    "prefix", ["AzureLoadBalancer", "168.63.129.16", "168.63.129.16/32", "168.63.0.0/16"]
)
def test_load_balancer_tag_and_its_address(prefix):
    group = nsg(rule("DenyLb", 4000, access="Deny", source=prefix, ports="*", protocol="*"))
    for source in ("AzureLoadBalancer", "168.63.129.16"):
        match = evaluate_nsg(group, Flow("Inbound", source, GW_IP, 80), vnet_prefixes=VNET)
        assert (match.access, match.rule_name) == ("Deny", "DenyLb"), source


def test_load_balancer_address_is_not_internet():
    group = nsg(rule("DenyInternet", 100, access="Deny", source="Internet", ports="*"))
    match = evaluate_nsg(group, Flow("Inbound", "AzureLoadBalancer", GW_IP, 80), vnet_prefixes=VNET)
    assert match.rule_name == "AllowAzureLoadBalancerInBound"
    match = evaluate_nsg(group, Flow("Inbound", "168.63.129.16", GW_IP, 80), vnet_prefixes=VNET)
    assert match.rule_name == "AllowAzureLoadBalancerInBound"


@pytest.mark.parametrize(
    "source, internet",
    [
        ("52.1.2.3", True),
        ("10.1.0.9", False),
        ("10.9.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
    ],
)
def test_internet_tag_is_public_addresses_outside_the_vnet(source, internet):
    group = nsg(rule("DenyInternet", 100, access="Deny", source="Internet", ports="*"))
    match = evaluate_nsg(group, Flow("Inbound", source, GW_IP, 80), vnet_prefixes=VNET)
    assert (match.rule_name == "DenyInternet") is internet


def test_public_vnet_prefix_is_virtual_network_not_internet():
    vnet = ["20.5.0.0/16"]
    group = nsg(rule("DenyInternet", 100, access="Deny", source="Internet", ports="*"))
    match = evaluate_nsg(group, Flow("Inbound", "20.5.1.1", "20.5.0.4", 80), vnet_prefixes=vnet)
    assert match.rule_name == "AllowVnetInBound"


def test_virtual_network_tag_uses_given_prefixes():
    group = nsg(rule("DenyVnet", 100, access="Deny", source="VirtualNetwork", ports="*"))
    inside = Flow("Inbound", "10.2.0.5", GW_IP, 80)
    assert evaluate_nsg(group, inside, vnet_prefixes=["10.1.0.0/16", "10.2.0.0/16"]).rule_name == "DenyVnet"
    assert evaluate_nsg(group, inside, vnet_prefixes=["10.1.0.0/16"]).rule_name == "DenyAllInBound"


def test_unknown_tag_never_covers_an_address():
    group = nsg(
        rule("AllowStorage", 100, direction="Outbound", destination="Storage", ports="*", access="Deny")
    )
    match = evaluate_nsg(group, Flow("Outbound", GW_IP, "52.1.2.3", 443), vnet_prefixes=VNET)
    assert match.rule_name == "AllowInternetOutBound"
    match = evaluate_nsg(group, Flow("Outbound", GW_IP, "Storage.WestEurope", 443), vnet_prefixes=VNET)
    assert match.rule_name == "AllowStorage"


def test_cidr_endpoint_must_lie_inside_the_rule_prefix():
    group = nsg(rule("AllowSubnet", 100, source="10.1.0.0/24", ports="*"))
    assert (
        evaluate_nsg(group, Flow("Inbound", "10.1.0.0/26", GW_IP, 80), vnet_prefixes=[]).rule_name
        == "AllowSubnet"
    )
    assert (
        evaluate_nsg(group, Flow("Inbound", "10.1.0.0/23", GW_IP, 80), vnet_prefixes=[]).rule_name
        != "AllowSubnet"
    )


# --- ports and protocols ---


def test_plural_fields_win_over_singular():
    body = rule("Web", 100, source="*", ports=["80", "443"], destinationPortRange="22")
    body["properties"]["sourceAddressPrefix"] = "52.0.0.0/8"
    body["properties"]["sourceAddressPrefixes"] = ["20.0.0.0/8", "30.0.0.0/8"]
    group = nsg(body)
    assert evaluate_nsg(group, Flow("Inbound", "20.1.1.1", GW_IP, 443), vnet_prefixes=VNET).rule_name == "Web"
    assert evaluate_nsg(group, Flow("Inbound", "30.1.1.1", GW_IP, 80), vnet_prefixes=VNET).rule_name == "Web"
    assert evaluate_nsg(group, Flow("Inbound", "20.1.1.1", GW_IP, 22), vnet_prefixes=VNET).rule_name != "Web"
    assert evaluate_nsg(group, Flow("Inbound", "52.1.1.1", GW_IP, 80), vnet_prefixes=VNET).rule_name != "Web"


def test_destination_prefixes_list():
    group = nsg(
        rule("Out", 100, direction="Outbound", destinationAddressPrefixes=["10.2.0.0/24", "10.3.0.5"])
    )
    assert evaluate_nsg(group, Flow("Outbound", GW_IP, "10.3.0.5", 80), vnet_prefixes=[]).rule_name == "Out"
    assert evaluate_nsg(group, Flow("Outbound", GW_IP, "10.3.0.6", 80), vnet_prefixes=[]).rule_name != "Out"


@pytest.mark.parametrize(
    "protocol, flow_protocol, matches",
    [
        ("Tcp", "Tcp", True),
        ("TCP", "Tcp", True),
        ("Udp", "Tcp", False),
        ("*", "Udp", True),
        ("Any", "Icmp", True),
        ("Icmp", "Icmp", True),
        ("Esp", "Ah", False),
    ],
)
def test_protocols(protocol, flow_protocol, matches):
    group = nsg(rule("R", 100, protocol=protocol))
    flow = Flow("Inbound", "52.1.1.1", GW_IP, 80, protocol=flow_protocol)
    assert (evaluate_nsg(group, flow, vnet_prefixes=VNET).rule_name == "R") is matches


def test_source_port_ranges_are_not_a_condition():
    """Flows have no source port (the client's port is ephemeral), so source ranges never exclude."""
    group = nsg(rule("FromHighPorts", 100, source_port="1024-2048", sourcePortRanges=["3000"]))
    assert (
        evaluate_nsg(group, Flow("Inbound", "52.1.1.1", GW_IP, 80), vnet_prefixes=VNET).rule_name
        == "FromHighPorts"
    )


def test_direction_filters_rules():
    group = nsg(rule("OutOnly", 100, direction="Outbound", access="Deny"))
    assert (
        evaluate_nsg(group, Flow("Inbound", "10.1.2.2", GW_IP, 80), vnet_prefixes=VNET).rule_name
        == "AllowVnetInBound"
    )


def test_rule_with_application_security_groups_only_matches_nothing():
    body = rule("Asg", 100, access="Deny")
    del body["properties"]["sourceAddressPrefix"]
    body["properties"]["sourceApplicationSecurityGroups"] = [{"id": "/asg/web"}]
    group = nsg(body)
    assert (
        evaluate_nsg(group, Flow("Inbound", "10.1.2.2", GW_IP, 80), vnet_prefixes=VNET).rule_name
        == "AllowVnetInBound"
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ({"destinationPortRange": "80-70"}, "invalid port range"),
        ({"destinationPortRange": "http"}, "invalid port range"),
        ({"protocol": "Gre"}, "unknown protocol"),
        ({"access": "Maybe"}, "access"),
        ({"direction": "Up"}, "direction"),
        ({"priority": None}, "priority"),
    ],
)
def test_bad_rules_raise_one_line_naming_the_rule(override, message):
    body = rule("Broken", 100)
    body["properties"].update(override)
    with pytest.raises(ValueError, match=message) as error:
        evaluate_nsg(nsg(body), Flow("Inbound", "10.1.2.2", GW_IP, 80), vnet_prefixes=VNET)
    assert "'Broken'" in str(error.value) and "\n" not in str(error.value)


def test_bad_vnet_prefix_raises():
    with pytest.raises(ValueError, match="not an IP prefix"):
        evaluate_nsg(nsg(), Flow("Inbound", "10.1.2.2", GW_IP, 80), vnet_prefixes=["VirtualNetwork"])


# --- paths through two NSGs ---


def test_inbound_path_meets_subnet_then_nic():
    subnet = nsg(rule("AllowWeb", 100, ports="80"))
    nic = nsg(rule("DenyWeb", 100, access="Deny", ports="80"), nsg_id=NIC_NSG_ID)
    verdict = evaluate_path(
        Flow("Inbound", "10.1.0.5", "10.1.1.4", 80), subnet_nsg=subnet, nic_nsg=nic, vnet_prefixes=VNET
    )
    assert not verdict.allowed
    assert [(m.nsg_id, m.rule_name) for m in verdict.matches] == [
        (NSG_ID, "AllowWeb"),
        (NIC_NSG_ID, "DenyWeb"),
    ]
    assert verdict.deciding == verdict.matches[1]


def test_outbound_path_meets_nic_then_subnet():
    subnet = nsg(rule("DenyOut", 100, direction="Outbound", access="Deny"))
    nic = nsg(rule("AllowOut", 100, direction="Outbound"), nsg_id=NIC_NSG_ID)
    verdict = evaluate_path(
        Flow("Outbound", "10.1.1.4", "10.1.0.5", 80), subnet_nsg=subnet, nic_nsg=nic, vnet_prefixes=VNET
    )
    assert [m.rule_name for m in verdict.matches] == ["AllowOut", "DenyOut"]
    assert not verdict.allowed and verdict.deciding.rule_name == "DenyOut"


def test_first_deny_decides_when_both_deny():
    subnet = nsg(rule("DenyA", 100, access="Deny"))
    nic = nsg(rule("DenyB", 100, access="Deny"), nsg_id=NIC_NSG_ID)
    verdict = evaluate_path(
        Flow("Inbound", "52.1.1.1", "10.1.1.4", 80), subnet_nsg=subnet, nic_nsg=nic, vnet_prefixes=VNET
    )
    assert verdict.deciding.rule_name == "DenyA"


def test_allowed_path_decided_by_last_allow():
    subnet = nsg(rule("AllowA", 100))
    nic = nsg(rule("AllowB", 100), nsg_id=NIC_NSG_ID)
    verdict = evaluate_path(
        Flow("Inbound", "52.1.1.1", "10.1.1.4", 80), subnet_nsg=subnet, nic_nsg=nic, vnet_prefixes=VNET
    )
    assert verdict.allowed and verdict.deciding.rule_name == "AllowB"


def test_path_with_one_or_no_nsg():
    flow = Flow("Inbound", "52.1.1.1", "10.1.1.4", 80)
    none = evaluate_path(flow, subnet_nsg=None, nic_nsg=None, vnet_prefixes=VNET)
    assert none.allowed and none.deciding is None and none.matches == []
    only_nic = evaluate_path(flow, subnet_nsg=None, nic_nsg=nsg(nsg_id=NIC_NSG_ID), vnet_prefixes=VNET)
    assert not only_nic.allowed and only_nic.deciding.nsg_id == NIC_NSG_ID


# --- properties ---

SOURCES = ["10.1.0.0/16", "10.1.1.0/24", "52.0.0.0/8", "0.0.0.0/0", "10.1.1.7", "*"]


@st.composite
def rule_lists(draw):
    """Custom inbound rules with distinct priorities over CIDR sources and port ranges."""
    priorities = draw(st.lists(st.integers(100, 4096), min_size=0, max_size=8, unique=True))
    rules = []
    for i, priority in enumerate(priorities):
        low = draw(st.integers(0, 200))
        high = draw(st.integers(low, 200))
        rules.append(
            Rule(
                name=f"r{i}",
                rule_id=None,
                priority=priority,
                access=draw(st.sampled_from(["Allow", "Deny"])),
                direction="Inbound",
                protocol=draw(st.sampled_from(["*", "tcp", "udp"])),
                sources=(draw(st.sampled_from(SOURCES)),),
                destinations=("*",),
                destination_ports=((low, high),),
            )
        )
    return rules


flows = st.builds(
    lambda ip, port, protocol: Flow("Inbound", ip, "10.1.0.4", port, protocol=protocol),
    st.sampled_from(["10.1.1.7", "10.1.1.8", "10.1.2.1", "52.3.4.5", "8.8.8.8"]),
    st.integers(0, 200),
    st.sampled_from(["Tcp", "Udp"]),
)


def brute_force(rules, flow):
    """Independent reference: the lowest-priority-number rule whose fields cover the flow."""
    source = ipaddress.ip_address(flow.source)
    covering = [
        r
        for r in rules
        if r.protocol in ("*", flow.protocol.lower())
        and r.destination_ports[0][0] <= flow.port <= r.destination_ports[0][1]
        and (r.sources[0] == "*" or source in ipaddress.ip_network(r.sources[0]))
    ]
    return min(covering, key=lambda r: r.priority, default=None)


@given(rule_lists(), flows)
def test_first_match_equals_brute_force(rules, flow):
    match = first_match(rules, flow, vnet_prefixes=VNET)
    expected = brute_force(rules, flow)
    assert (match.rule_name if match else None) == (expected.name if expected else None)


@given(rule_lists(), flows, st.randoms())
def test_rule_order_in_the_list_does_not_matter(rules, flow, random):
    shuffled = list(rules)
    random.shuffle(shuffled)
    assert first_match(shuffled, flow, vnet_prefixes=VNET) == first_match(rules, flow, vnet_prefixes=VNET)


@given(rule_lists(), flows, st.sampled_from(["Allow", "Deny"]), st.integers(1, 500))
def test_lower_priority_rule_never_changes_a_decision(rules, flow, access, offset):
    match = first_match(rules, flow, vnet_prefixes=VNET)
    if match is None:
        return
    extra = Rule(
        "extra", None, match.priority + offset, access, "Inbound", "*", ("*",), ("*",), ((0, 65535),)
    )
    assert first_match([*rules, extra], flow, vnet_prefixes=VNET) == match


@given(st.ip_addresses(v=4), st.integers(0, 32), st.ip_addresses(v=4))
def test_cidr_containment_matches_ipaddress(base, length, address):
    network = ipaddress.ip_network(f"{base}/{length}", strict=False)
    endpoint = parse_endpoint(str(address))
    assert prefix_covers(str(network), endpoint, ()) is (address in network)


@given(st.ip_addresses(v=4), st.integers(0, 32))
def test_cidr_covers_tag_endpoint_only_when_it_covers_every_address(base, length):
    network = ipaddress.ip_network(f"{base}/{length}", strict=False)
    assert prefix_covers(str(network), Endpoint(tag="gatewaymanager"), ()) is (length == 0)


def test_models_built_with_keywords_and_enums():
    deny = models.SecurityRule(
        name="DenyGwm",
        priority=100,
        protocol=models.SecurityRuleProtocol.TCP,
        access=models.SecurityRuleAccess.DENY,
        direction=models.SecurityRuleDirection.INBOUND,
        source_address_prefix="GatewayManager",
        destination_address_prefix="*",
        source_port_range="*",
        destination_port_range="65200-65535",
    )
    group = models.NetworkSecurityGroup(id=NSG_ID, security_rules=[deny])
    match = evaluate_nsg(group, Flow("Inbound", "GatewayManager", "10.1.0.0/24", 65200), vnet_prefixes=VNET)
    assert (match.access, match.rule_name, match.nsg_id) == ("Deny", "DenyGwm", NSG_ID)


# --- application security groups ---

ASG_WEB = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/asg-web"
ASG_DB = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/asg-db"


def asg_rule(name, priority, access, groups, *, side="destination"):
    """A rule whose `side` names application security groups instead of prefixes."""
    body = rule(name, priority, access, source="10.1.0.0/24", ports="8080")
    body["properties"].pop(f"{side}AddressPrefix", None)
    body["properties"][f"{side}ApplicationSecurityGroups"] = [{"id": g} for g in groups]
    return body


def test_an_allow_to_an_application_security_group_lets_its_members_through_a_deny_all():
    group = nsg(asg_rule("AllowGwToWeb", 100, "Allow", [ASG_WEB]), rule("DenyAll", 4096, "Deny"))
    member = Flow("Inbound", "10.1.0.0/24", "10.1.1.4", 8080, destination_groups={ASG_WEB.upper()})
    outsider = Flow("Inbound", "10.1.0.0/24", "10.1.1.9", 8080, destination_groups={ASG_DB})
    assert evaluate_nsg(group, member, vnet_prefixes=VNET).rule_name == "AllowGwToWeb"
    assert evaluate_nsg(group, outsider, vnet_prefixes=VNET).rule_name == "DenyAll"


def test_a_group_side_matches_no_flow_that_names_no_group():
    group = nsg(asg_rule("DenyFromDb", 100, "Deny", [ASG_DB], side="source"))
    flow = Flow("Inbound", "10.1.0.0/24", "10.1.1.4", 8080)
    assert evaluate_nsg(group, flow, vnet_prefixes=VNET).rule_name == "AllowVnetInBound"
    from_db = Flow("Inbound", "10.1.2.0/24", "10.1.1.4", 8080, source_groups=[ASG_DB])
    assert evaluate_nsg(group, from_db, vnet_prefixes=VNET).rule_name == "DenyFromDb"


@pytest.mark.parametrize(
    ("prefix", "tag", "covered"),
    [
        ("AzureCloud", "gatewaymanager", True),
        ("AzureCloud.WestEurope", "gatewaymanager", True),
        ("AzureCloud", "azureloadbalancer", False),
        ("Internet", "azureloadbalancer", False),
        ("Internet", "azurecloud", True),
        ("GatewayManager", "azurecloud", False),
    ],
)
def test_tag_containment(prefix, tag, covered):
    assert prefix_covers(prefix, Endpoint(tag=tag), ()) is covered


def test_a_deny_of_azure_cloud_ahead_of_the_gateway_manager_allow_blocks_it():
    group = nsg(
        rule("DenyAzureCloud", 90, access="Deny", source="AzureCloud", ports="*"),
        rule("AllowGwm", 100, source="GatewayManager", ports="65200-65535"),
    )
    match = evaluate_nsg(group, infra_flow(65200), vnet_prefixes=VNET)
    assert (match.access, match.rule_name) == ("Deny", "DenyAzureCloud")
    lb = Flow("Inbound", "AzureLoadBalancer", GW_IP, 65200)
    assert evaluate_nsg(group, lb, vnet_prefixes=VNET).rule_name == "AllowAzureLoadBalancerInBound"


# --- rules converted once (NsgRules) ---


def test_converted_rules_decide_as_the_model_does():
    group = nsg(
        rule("DenyWeb", 100, "Deny", source="10.1.0.0/24", ports="80"),
        rule("AllowAll", 200),
        rule("DenyOut", 100, "Deny", direction="Outbound", destination="Internet"),
        with_defaults=True,
    )
    converted = NsgRules.from_nsg(group)
    assert as_nsg_rules(converted) is converted
    assert converted.nsg_id == NSG_ID and len(converted.rules) == 3 + 6
    flows = [
        Flow("Inbound", "10.1.0.9", GW_IP, 80),
        Flow("Inbound", "10.1.2.9", GW_IP, 80),
        Flow("Outbound", GW_IP, "52.1.1.1", 443),
        Flow("Outbound", GW_IP, "10.1.2.9", 443),
    ]
    for flow in flows:
        assert evaluate_nsg(converted, flow, vnet_prefixes=VNET) == evaluate_nsg(
            group, flow, vnet_prefixes=VNET
        )
        assert evaluate_path(flow, subnet_nsg=converted, nic_nsg=None, vnet_prefixes=VNET) == evaluate_path(
            flow, subnet_nsg=group, nic_nsg=None, vnet_prefixes=VNET
        )


def test_converted_rules_are_evaluated_without_reading_the_model_again(monkeypatch):
    converted = NsgRules.from_nsg(nsg(rule("DenyWeb", 100, "Deny", ports="80"), with_defaults=True))

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(Rule, "from_security_rule", no_conversion)
    for port in (80, 443):
        evaluate_nsg(converted, Flow("Inbound", "10.1.0.9", GW_IP, port), vnet_prefixes=VNET)


# --- one NSG evaluated for many flows (its candidate rules found once per kind of flow) ---

MIXED = [
    rule("deny-db", 100, "Deny", destination="10.1.2.0/24", ports="1433"),
    rule("allow-web", 110, destination="10.1.1.0/24", ports=["80", "443"]),
    rule("deny-gw-part", 120, "Deny", source="10.1.0.0/26", destination="VirtualNetwork", ports="80"),
    rule("allow-lb", 130, source="AzureLoadBalancer", destination="*"),
    rule("deny-out", 140, "Deny", direction="Outbound", destination="Internet"),
]
FLOWS = [
    Flow("Inbound", source, destination, port, protocol=protocol)
    for source in ("10.1.0.4", "10.1.0.100", "AzureLoadBalancer", "Internet")
    for destination in ("10.1.1.4", "10.1.2.9", "10.1.3.7", "8.8.8.8")
    for port in (80, 443, 1433, 8080)
    for protocol in ("Tcp", "Udp")
] + [Flow("Outbound", "10.1.0.4", d, 443) for d in ("10.1.1.4", "8.8.8.8", "Internet")]


@pytest.mark.parametrize("with_defaults", [False, True])
def test_a_reused_nsg_decides_every_flow_as_a_fresh_one(with_defaults):
    """The same NsgRules, asked flow after flow (sharing sources, ports and protocols, differing in
    destination), decides each as a conversion of its own asked that flow alone, and as first_match
    over all its rules (Azure's defaults among them)."""
    shared = NsgRules.from_nsg(nsg(*MIXED, with_defaults=with_defaults))
    deciding_rules = set()
    for flow in FLOWS:
        decided = evaluate_nsg(shared, flow, vnet_prefixes=VNET)
        fresh = evaluate_nsg(
            NsgRules.from_nsg(nsg(*MIXED, with_defaults=with_defaults)), flow, vnet_prefixes=VNET
        )
        assert decided == fresh, flow
        # from_nsg holds Azure's defaults when the NSG lists none
        assert decided == first_match(shared.rules, flow, vnet_prefixes=VNET, nsg_id=NSG_ID), flow
        deciding_rules.add(decided.rule_name)
    # the flows reach every kind of decision, so the comparison means something
    expected = {"deny-db", "allow-web", "deny-gw-part", "allow-lb", "deny-out", "DenyAllInBound"}
    assert expected <= deciding_rules


# Destination sides: every kind of prefix `prefix_covers` tells apart, alone and combined.
DESTINATION_PREFIXES = [
    "*", "Any", "10.1.0.0/16", "10.1.1.0/24", "10.1.1.7", " 10.1.2.0/23 ", "0.0.0.0/0", "52.0.0.0/8",
    "2001:db8::/32", "::/0", "VirtualNetwork", "virtualnetwork.WestEurope", "AzureLoadBalancer",
    "Internet", "GatewayManager", "Storage.WestEurope", "168.63.129.16/32",
]  # fmt: skip
ADDRESSES = [
    "10.1.1.7", "10.1.2.200", "10.2.0.1", "10.3.0.9", "52.3.4.5", "8.8.8.8", "168.63.129.16", "192.168.1.1",
    "168.63.129.17", "10.1.255.255", "10.2.0.0", "2001:db8::5", "2001:db9::1", "10.1.1.0/24",
]  # fmt: skip


@given(
    st.lists(st.sampled_from(DESTINATION_PREFIXES), max_size=3),
    st.lists(st.sampled_from(["10.1.0.0/16", "10.2.0.0/16", "2001:db8::/48"]), max_size=2),
    st.booleans(),
    st.sampled_from(ADDRESSES),
    st.sampled_from([["10.1.0.0/16"], ["10.1.0.0/16", "10.2.0.0/16"], [], ["2001:db8::/32"]]),
)
def test_destination_ranges_decide_as_the_rule_does(prefixes, expanded, grouped, address, vnet):
    """A single-address flow is decided by the rule's destination ranges exactly as by
    `covers_destination` (an Internet or group-only side has no ranges and is asked instead)."""
    groups = frozenset({"/asg/web"}) if grouped else frozenset()
    built = Rule(
        "r", None, 100, "Allow", "Inbound", "*", ("*",), tuple(prefixes), ((0, 65535),),
        expanded_destinations=tuple(ipaddress.ip_network(e) for e in expanded), destination_groups=groups,
    )  # fmt: skip
    networks = tuple(ipaddress.ip_network(p) for p in vnet)
    flow = Flow("Inbound", "10.1.0.4", address, 443, destination_groups=groups if grouped else ())
    ranges = built.destination_ranges(networks)
    single = single_address(address)
    if ranges is None:
        assert (grouped and not prefixes) or any(
            p.strip().split(".")[0].lower() == "internet" for p in prefixes
        )
        return
    if single is None:  # a CIDR endpoint is never decided by ranges
        assert "/" in address and not address.endswith(("/32", "/128"))
        return
    assert in_ranges(single, ranges) is built.covers_destination(flow, networks)


def test_a_flow_to_one_address_is_decided_through_destination_ranges_with_the_same_match():
    """`evaluate_nsg` (through `NsgRules.deciders`) and the rule-by-rule `first_match` agree, also for
    a flow to a CIDR and for an Internet side the ranges do not describe."""
    rules = nsg(
        rule("DenyInternet", 100, "Deny", destination="Internet"),
        rule("AllowWeb", 200, destination="10.1.1.0/24"),
        rule("DenyVnet", 300, "Deny", destination="VirtualNetwork"),
        with_defaults=True,
    )
    for destination in ("52.3.4.5", "10.1.1.9", "10.1.2.9", "10.1.1.0/25", "192.168.0.1", "168.63.129.16"):
        flow = Flow("Inbound", "10.1.0.4", destination, 443)
        converted = NsgRules.from_nsg(rules)
        assert evaluate_nsg(converted, flow, vnet_prefixes=VNET) == first_match(
            converted.rules, flow, vnet_prefixes=VNET, nsg_id=NSG_ID
        ), destination


def test_destination_ranges_of_every_single_prefix_decide_every_address_as_the_rule_does():
    """Each kind of prefix alone, against every address (edges of the ranges included)."""
    for vnet in (("10.1.0.0/16",), ("10.1.0.0/16", "10.2.0.0/16"), ()):
        networks = tuple(ipaddress.ip_network(p) for p in vnet)
        for prefix in DESTINATION_PREFIXES:
            built = Rule("r", None, 100, "Allow", "Inbound", "*", ("*",), (prefix,), ((0, 65535),))
            ranges = built.destination_ranges(networks)
            if prefix == "Internet":
                assert ranges is None
                continue
            for address in ADDRESSES:
                single = single_address(address)
                if single is not None:
                    flow = Flow("Inbound", "10.1.0.4", address, 443)
                    assert in_ranges(single, ranges) is built.covers_destination(flow, networks), (
                        prefix,
                        address,
                    )
