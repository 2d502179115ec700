"""core.arm_ids: the one reader of ARM resource ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.arm_ids import (
    ArmId,
    gateway_names,
    is_gateway_id,
    name_of,
    parent_id,
    parse,
    resource_group_of,
    subscription_of,
)

SUB = "0a1b2c3d-0000-4000-8000-00000000abcd"
NSG = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg"
GATEWAY = f"/subscriptions/{SUB}/resourceGroups/rg-web/providers/Microsoft.Network/applicationGateways/agw"

names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.()", min_size=1, max_size=16
).filter(lambda name: name.lower() != "providers")
guids = st.uuids().map(str)


def shout(text: str) -> str:
    return text.upper()


@st.composite
def resource_ids(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A whole ARM id, its keywords in any case, and the parts it was built from (children as
    (type, name) pairs)."""
    spec: dict[str, Any] = {
        "subscription": draw(guids),
        "group": draw(names),
        "namespace": draw(names),
        "type": draw(names),
        "name": draw(names),
        "children": draw(st.lists(st.tuples(names, names), max_size=3)),
    }
    subscriptions = draw(st.sampled_from(["subscriptions", "SUBSCRIPTIONS", "Subscriptions"]))
    groups = draw(st.sampled_from(["resourceGroups", "resourcegroups", "RESOURCEGROUPS"]))
    providers = draw(st.sampled_from(["providers", "Providers"]))
    segments = [
        subscriptions,
        spec["subscription"],
        groups,
        spec["group"],
        providers,
        spec["namespace"],
        spec["type"],
        spec["name"],
    ]
    for child_type, child_name in spec["children"]:
        segments += [child_type, child_name]
    return "/" + "/".join(segments), spec


@given(resource_ids())
def test_parse_reads_every_part_whatever_the_keyword_case(case: tuple[str, dict[str, Any]]) -> None:
    text, spec = case
    children = spec["children"]
    arm = ArmId.parse(text)
    assert (arm.subscription, arm.resource_group, arm.namespace, arm.type, arm.parent_name) == (
        spec["subscription"],
        spec["group"],
        spec["namespace"],
        spec["type"],
        spec["name"],
    )
    assert (arm.resource_type, arm.name) == (children[-1] if children else (spec["type"], spec["name"]))
    expected_holder = None if not children else children[-2][1] if len(children) > 1 else spec["name"]
    assert arm.holder == expected_holder
    assert arm.is_child == bool(children)
    assert arm.top_id == "/".join(text.split("/")[:9])
    assert subscription_of(text) == spec["subscription"].lower()
    assert resource_group_of(text) == spec["group"]
    assert name_of(text) == arm.name


@given(resource_ids(), st.integers(min_value=1, max_value=3), st.integers(min_value=0, max_value=2))
def test_surrounding_slashes_do_not_change_a_parsed_id(
    case: tuple[str, dict[str, Any]], trailing: int, leading: int
) -> None:
    text, _ = case
    assert ArmId.parse("/" * leading + text.lstrip("/") + "/" * trailing) == ArmId.parse(text)
    assert name_of(text + "/" * trailing) == name_of(text)
    assert parent_id(text + "/" * trailing) == parent_id(text)


def test_child_resource_names_its_type_holder_and_top_level_parent() -> None:
    rule = ArmId.parse(f"{NSG}/securityRules/deny-all")
    assert (rule.resource_group, rule.name, rule.holder) == ("rg-net", "deny-all", "nsg")
    assert rule.parent_name == "nsg"
    assert rule.resource_type == "securityRules" and rule.top_id == NSG
    path_rule = ArmId.parse(f"{GATEWAY}/urlPathMaps/map/pathRules/api")
    assert (path_rule.name, path_rule.resource_type, path_rule.holder, path_rule.parent_name) == (
        "api",
        "pathRules",
        "map",
        "agw",
    )
    top = ArmId.parse(NSG)
    assert (top.name, top.parent_name, top.holder, top.is_child) == ("nsg", "nsg", None, False)
    assert parse(f"{NSG}/securityRules/r")["child_name_1"] == "r"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "nsg",
        "/",
        f"/subscriptions/{SUB}",
        f"/subscriptions/{SUB}/resourceGroups/rg",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups",
        f"{NSG}/securityRules",  # a child type without a name
        f"{NSG}/securityRules/r/extra",
        "/foo/a/bar/b/c/d/e/f",
        f"x{NSG}",
    ],
)
def test_parse_refuses_what_is_not_a_whole_resource_id(bad: str) -> None:
    with pytest.raises(ValueError, match="not an ARM resource id"):
        ArmId.parse(bad)


def test_lenient_readers_give_empty_answers_for_non_ids() -> None:
    assert parse("") == {} and parse(None) == {}
    assert parse("agw") == {"name": "agw"}
    assert subscription_of("agw") == "" and subscription_of("/subscriptions/") == ""
    assert resource_group_of(f"/subscriptions/{SUB}") == ""
    assert subscription_of(f"/SUBSCRIPTIONS/{SUB.upper()}/resourceGroups/g") == SUB
    assert name_of(None) == "" and name_of("agw") == "agw"


def test_parent_id_drops_levels_of_segments() -> None:
    nic = f"/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/nic"
    assert parent_id(f"{nic}/ipConfigurations/ip") == nic
    assert parent_id(f"{nic}/ipConfigurations/ip/", levels=4).endswith("/providers/Microsoft.Network")


@given(guids, names, names, st.sampled_from([str, str.lower, shout]))
def test_gateway_ids_are_accepted_in_any_keyword_case(
    sub: str, group: str, name: str, case: Callable[[str], str]
) -> None:
    keywords = case(f"/subscriptions/{sub}/resourceGroups/")
    provider = case("/providers/Microsoft.Network/applicationGateways/")
    gateway = f"{keywords}{group}{provider}{name}"
    assert is_gateway_id(gateway) is True
    assert gateway_names(gateway) == (group, name)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "agw",
        f"{GATEWAY}/",  # the whole string: no trailing slash
        f" {GATEWAY}",
        f"{GATEWAY}/backendAddressPools/pool",
        GATEWAY.replace(SUB, "not-a-guid"),
        GATEWAY.replace("applicationGateways", "loadBalancers"),
        GATEWAY.replace("Microsoft.Network", "Microsoft.Compute"),
        GATEWAY.replace("/resourceGroups/rg-web", ""),
        f"{GATEWAY}\n",
        GATEWAY.replace("agw", "a\u202egw"),  # bidi override
        GATEWAY.replace("agw", "a\x00gw"),
    ],
)
def test_is_gateway_id_refuses_anything_but_a_whole_gateway_id(bad: str) -> None:
    assert is_gateway_id(bad) is False


@pytest.mark.parametrize(
    "bad",
    [
        "not-an-id",
        f"{GATEWAY}/",
        f"{GATEWAY}/probes/p",
        GATEWAY.replace("applicationGateways", "loadBalancers"),
        GATEWAY.replace("/resourceGroups/rg-web", ""),
    ],
)
def test_gateway_names_refuses_other_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="not an Application Gateway resource id"):
        gateway_names(bad)


def test_gateway_names_does_not_insist_on_a_guid_subscription() -> None:
    """The CLI reads any subscription name the user typed; the intake (is_gateway_id) is stricter."""
    gateway = GATEWAY.replace(SUB, "sub")
    assert gateway_names(gateway) == ("rg-web", "agw") and not is_gateway_id(gateway)
