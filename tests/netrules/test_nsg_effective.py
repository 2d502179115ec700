"""Effective NSGs of a NIC (`listEffectiveNetworkSecurityGroups`): association order, expanded prefixes."""

from __future__ import annotations

import pytest
from azure.mgmt.network import models

from netrules.nsg import Flow, NsgRules, default_security_rules, evaluate_effective

SUB = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network"
SUBNET_NSG = f"{SUB}/networkSecurityGroups/nsg-subnet"
NIC_NSG = f"{SUB}/networkSecurityGroups/nsg-nic"
VNET = ["10.1.0.0/16"]
BACKEND = "10.1.1.4"


def effective_rule(name, priority, access="Allow", direction="Inbound", **fields):
    body = {
        "name": name,
        "protocol": fields.pop("protocol", "Tcp"),
        "sourcePortRange": "0-65535",
        "destinationPortRange": fields.pop("ports", "0-65535"),
        "sourceAddressPrefix": fields.pop("source", "0.0.0.0/0"),
        "destinationAddressPrefix": fields.pop("destination", "0.0.0.0/0"),
        "access": access,
        "priority": priority,
        "direction": direction,
    }
    body.update(fields)
    return body


def azure_defaults():
    """Default rules as the effective-NSG operation lists them (protocol All, expanded tags)."""
    rules = []
    for arm in default_security_rules("unused"):
        p = arm["properties"]
        body = effective_rule(
            f"defaultSecurityRules/{arm['name']}",
            p["priority"],
            access=p["access"],
            direction=p["direction"],
            protocol="All",
            source=p["sourceAddressPrefix"] if p["sourceAddressPrefix"] != "*" else "0.0.0.0/0",
            destination=p["destinationAddressPrefix"]
            if p["destinationAddressPrefix"] != "*"
            else "0.0.0.0/0",
        )
        if p["sourceAddressPrefix"] == "VirtualNetwork":
            body["expandedSourceAddressPrefix"] = VNET
            body["expandedDestinationAddressPrefix"] = VNET
        rules.append(body)
    return rules


def group(nsg_id, association, rules, defaults=True):
    return models.EffectiveNetworkSecurityGroup(
        {
            "networkSecurityGroup": {"id": nsg_id},
            "association": {association: {"id": f"{SUB}/{association}/x"}},
            "effectiveSecurityRules": rules + (azure_defaults() if defaults else []),
        }
    )


def test_inbound_subnet_group_first_even_when_listed_second():
    nic = group(
        NIC_NSG, "networkInterface", [effective_rule("securityRules/DenyWeb", 100, "Deny", ports="80-80")]
    )
    subnet = group(SUBNET_NSG, "subnet", [effective_rule("securityRules/AllowWeb", 100, ports="80-80")])
    verdict = evaluate_effective([nic, subnet], Flow("Inbound", "10.1.0.5", BACKEND, 80), vnet_prefixes=VNET)
    assert [(m.nsg_id, m.rule_name) for m in verdict.matches] == [
        (SUBNET_NSG, "AllowWeb"),
        (NIC_NSG, "DenyWeb"),
    ]
    assert not verdict.allowed
    assert verdict.deciding.rule_id == f"{NIC_NSG}/securityRules/DenyWeb"
    assert not verdict.deciding.is_default


def test_outbound_nic_group_first():
    nic = group(NIC_NSG, "networkInterface", [])
    subnet = group(SUBNET_NSG, "subnet", [effective_rule("securityRules/DenyOut", 100, "Deny", "Outbound")])
    verdict = evaluate_effective([subnet, nic], Flow("Outbound", BACKEND, "10.1.0.5", 80), vnet_prefixes=VNET)
    assert [m.nsg_id for m in verdict.matches] == [NIC_NSG, SUBNET_NSG]
    assert verdict.matches[0].rule_name == "AllowVnetOutBound" and verdict.matches[0].is_default
    assert verdict.matches[0].rule_id == f"{NIC_NSG}/defaultSecurityRules/AllowVnetOutBound"
    assert verdict.deciding.rule_name == "DenyOut"


def test_expanded_prefixes_decide_for_addresses():
    # The tag's expansion is authoritative: an address outside it is not covered.
    rules = [
        effective_rule(
            "securityRules/AllowGwm",
            100,
            source="GatewayManager",
            ports="65200-65535",
            expandedSourceAddressPrefix=["51.4.0.0/16"],
        )
    ]
    verdict_of = {
        source: evaluate_effective(
            [group(SUBNET_NSG, "subnet", rules)], Flow("Inbound", source, BACKEND, 65200), vnet_prefixes=VNET
        )
        for source in ("51.4.2.2", "52.1.1.1", "GatewayManager")
    }
    assert verdict_of["51.4.2.2"].deciding.rule_name == "AllowGwm"
    assert verdict_of["52.1.1.1"].deciding.rule_name == "DenyAllInBound"
    assert verdict_of["GatewayManager"].deciding.rule_name == "AllowGwm"


def test_protocol_all_and_port_ranges():
    rules = [effective_rule("securityRules/DenyUdp", 100, "Deny", protocol="Udp", ports="53-53")]
    subnet = group(SUBNET_NSG, "subnet", rules)
    udp = evaluate_effective(
        [subnet], Flow("Inbound", "10.1.0.5", BACKEND, 53, protocol="Udp"), vnet_prefixes=VNET
    )
    tcp = evaluate_effective([subnet], Flow("Inbound", "10.1.0.5", BACKEND, 53), vnet_prefixes=VNET)
    assert udp.deciding.rule_name == "DenyUdp"
    assert tcp.deciding.rule_name == "AllowVnetInBound"


def test_plural_port_and_prefix_fields():
    rules = [
        effective_rule(
            "securityRules/Web",
            100,
            "Deny",
            destinationPortRanges=["80-80", "443-443"],
            sourceAddressPrefixes=["52.0.0.0/8", "20.0.0.0/8"],
        )
    ]
    subnet = group(SUBNET_NSG, "subnet", rules)
    assert (
        evaluate_effective(
            [subnet], Flow("Inbound", "20.1.1.1", BACKEND, 443), vnet_prefixes=VNET
        ).deciding.rule_name
        == "Web"
    )
    assert evaluate_effective(
        [subnet], Flow("Inbound", "20.1.1.1", BACKEND, 8080), vnet_prefixes=VNET
    ).deciding.rule_name == ("DenyAllInBound")


def test_group_without_default_rules_falls_through_to_azures_defaults():
    subnet = group(SUBNET_NSG, "subnet", [], defaults=False)
    verdict = evaluate_effective([subnet], Flow("Inbound", "52.1.1.1", BACKEND, 80), vnet_prefixes=VNET)
    assert (verdict.deciding.rule_name, verdict.deciding.rule_id) == (
        "DenyAllInBound",
        f"{SUBNET_NSG}/defaultSecurityRules/DenyAllInBound",
    )


def test_no_groups_allows():
    verdict = evaluate_effective([], Flow("Inbound", "52.1.1.1", BACKEND, 80), vnet_prefixes=VNET)
    assert verdict.allowed and verdict.deciding is None and verdict.matches == []


def test_bad_expanded_prefix_raises():
    rules = [effective_rule("securityRules/X", 100, expandedSourceAddressPrefix=["not-a-cidr"])]
    with pytest.raises(ValueError, match="not an IP prefix"):
        evaluate_effective(
            [group(SUBNET_NSG, "subnet", rules)], Flow("Inbound", "1.1.1.1", BACKEND, 80), vnet_prefixes=VNET
        )


def test_converted_groups_decide_as_the_models_do():
    nic = group(
        NIC_NSG, "networkInterface", [effective_rule("securityRules/DenyWeb", 100, "Deny", ports="80-80")]
    )
    subnet = group(SUBNET_NSG, "subnet", [effective_rule("securityRules/AllowWeb", 100, ports="80-80")])
    converted = [NsgRules.from_effective(nic), NsgRules.from_effective(subnet)]
    assert [g.attached_to for g in converted] == ["nic", "subnet"]
    for flow in (
        Flow("Inbound", "10.1.0.5", BACKEND, 80),
        Flow("Inbound", "10.1.0.5", BACKEND, 443),
        Flow("Outbound", BACKEND, "10.1.0.5", 80),
    ):
        assert evaluate_effective(converted, flow, vnet_prefixes=VNET) == evaluate_effective(
            [nic, subnet], flow, vnet_prefixes=VNET
        )
