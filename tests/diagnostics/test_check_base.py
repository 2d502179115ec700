"""Shared check helpers: ARM id parsing, exact port-range NSG evaluation, allow-rule proposals."""

from __future__ import annotations

import pytest
from azure.mgmt.network import models as net
from hypothesis import given, settings
from hypothesis import strategies as st

from core.arm_ids import ArmId
from diagnostics.checks.base import listed
from diagnostics.checks.network import blocked_ranges, propose_allow_rule
from netrules.nsg import Flow, RuleMatch, evaluate_nsg

NSG_ID = "/subscriptions/s/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-a"


def nsg(*rules: tuple[str, int, str, str]) -> net.NetworkSecurityGroup:
    """An NSG from (name, priority, access, destination port range) inbound TCP rules from anywhere."""
    return net.NetworkSecurityGroup(
        {
            "id": NSG_ID,
            "name": "nsg-a",
            "properties": {
                "securityRules": [
                    {
                        "id": f"{NSG_ID}/securityRules/{name}",
                        "name": name,
                        "properties": {
                            "priority": priority,
                            "access": access,
                            "direction": "Inbound",
                            "protocol": "Tcp",
                            "sourceAddressPrefix": "*",
                            "sourcePortRange": "*",
                            "destinationAddressPrefix": "*",
                            "destinationPortRange": ports,
                        },
                    }
                    for name, priority, access, ports in rules
                ]
            },
        }
    )


def test_arm_ids_give_group_name_and_parent():
    arm = ArmId.parse(f"{NSG_ID}/securityRules/DenyAll")
    assert (arm.resource_group, arm.name, arm.parent_name) == ("rg-net", "DenyAll", "nsg-a")
    assert ArmId.parse(NSG_ID).name == "nsg-a"
    with pytest.raises(ValueError, match="not an ARM resource id"):
        ArmId.parse("nsg-a")


rule_strategy = st.tuples(
    st.integers(min_value=100, max_value=4096),
    st.sampled_from(["Allow", "Deny"]),
    st.integers(min_value=990, max_value=1110),
    st.integers(min_value=0, max_value=40),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(rule_strategy, max_size=5, unique_by=lambda r: r[0]))
def test_blocked_ranges_are_exactly_the_ports_a_per_port_evaluation_denies(rules):
    group = nsg(*[(f"r{i}", p, a, f"{lo}-{lo + span}") for i, (p, a, lo, span) in enumerate(rules)])
    flow = Flow("Inbound", "Internet", "10.0.0.0/24", 1000)
    low, high = 1000, 1100
    blocked = blocked_ranges(group, flow, low, high, vnet=["10.0.0.0/16"])
    from_ranges = {port for b in blocked for port in range(b.low, b.high + 1)}
    per_port = {
        port
        for port in range(low, high + 1)
        if not evaluate_nsg(
            group, Flow("Inbound", "Internet", "10.0.0.0/24", port), vnet_prefixes=["10.0.0.0/16"]
        ).allows
    }
    assert from_ranges == per_port
    for b in blocked:
        assert b.deciding.access == "Deny"


def deny(priority: int, default: bool = False) -> RuleMatch:
    name = "DenyAllInBound" if default else "DenyX"
    kind = "defaultSecurityRules" if default else "securityRules"
    return RuleMatch("Deny", name, f"{NSG_ID}/{kind}/{name}", priority, NSG_ID, default)


def propose(group, deciding):
    return propose_allow_rule(
        group,
        name="AllowX",
        direction="Inbound",
        deciding=deciding,
        sources=("GatewayManager",),
        destinations=("*",),
        ports=("65200-65535",),
    )


def test_the_allow_takes_the_closest_free_priority_in_front_of_the_deny():
    group = nsg(("a", 300, "Deny", "1"), ("b", 299, "Allow", "2"))
    rule = propose(group, deny(300))
    assert (rule.priority, rule.move) == (298, None)
    assert propose(group, deny(65500, default=True)).priority == 4096


def test_a_deny_at_the_first_priority_moves_back_one_step_only_if_that_is_free():
    group = nsg(("DenyX", 100, "Deny", "*"))
    rule = propose(group, deny(100))
    assert rule.priority == 100 and (rule.move.from_priority, rule.move.to_priority) == (100, 101)
    assert rule.command().startswith(
        "az network nsg rule update -g rg-net --nsg-name nsg-a -n DenyX --priority 101 "
        "&& az network nsg rule create"
    )
    assert propose(nsg(("DenyX", 100, "Deny", "*"), ("next", 101, "Allow", "1")), deny(100)) is None


def test_the_rule_name_does_not_collide_and_the_command_quotes_wildcards():
    rule = propose(nsg(("AllowX", 200, "Allow", "1")), deny(300))
    assert rule.name == "AllowX-2"
    assert "--destination-address-prefixes '*'" in rule.command()
    assert rule.to_dict()["properties"]["priority"] == 299


def test_titles_list_a_few_names_and_count_the_rest():
    addresses = [f"10.1.1.{n}" for n in range(4, 29)]
    assert listed(addresses) == "10.1.1.4, 10.1.1.5, 10.1.1.6 and 22 more"
    assert listed(["a", "b", "a"]) == "a, b"
    assert listed(["a", "b", "c"]) == "a, b, c"


@given(st.lists(st.sampled_from("abcdefgh"), max_size=12))
def test_a_capped_list_names_each_distinct_item_once_or_counts_it(items):
    text = listed(items)
    distinct = list(dict.fromkeys(items))
    if len(distinct) <= 3:
        assert text == ", ".join(distinct)
    else:
        assert text.endswith(f" and {len(distinct) - 3} more")
