"""`shape_problems` on SDK models built from payloads: the lines it reports (what the SDK's lenient
reading hands back where the declared types do not allow it), and that it reads the raw JSON the
models keep rather than deserializing every attribute."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.network import models as net

from diagnostics.collect import shape_problems

ROOT = Path(__file__).resolve().parents[2]
WORLD = json.loads((ROOT / "tests/worlds/multi-pool-one-broken/world.json").read_text())
GATEWAY = next(r for r in WORLD["resources"] if r["type"].endswith("applicationGateways"))
NSG = next(r for r in WORLD["resources"] if r["name"] == "nsg-contoso-appgw")


def _pool(body: dict[str, Any]) -> dict[str, Any]:
    return body["properties"]["backendAddressPools"][0]["properties"]


def _settings(body: dict[str, Any]) -> dict[str, Any]:
    return body["properties"]["backendHttpSettingsCollection"][0]["properties"]


def _rule(body: dict[str, Any]) -> dict[str, Any]:
    return body["properties"]["securityRules"][0]["properties"]


def _set(part, key, value):
    def change(body):
        part(body)[key] = value

    return change


CASES = [
    (
        _set(_pool, "backendAddresses", ["10.1.1.4", {"ipAddress": "10.1.1.5"}]),
        [
            "gateway agw.backend_address_pools[web-pool].backend_addresses[0]: "
            "str '10.1.1.4' where ApplicationGatewayBackendAddress is expected"
        ],
    ),
    (
        _set(_settings, "port", "eighty"),
        [
            "gateway agw.backend_http_settings_collection[web-settings].port: "
            "str 'eighty' where int is expected"
        ],
    ),
    (_set(_settings, "port", "80"), []),  # the SDK reads it as 80
    (_set(lambda body: body, "tags", ["a"]), ["gateway agw.tags: unreadable (DeserializationError)"]),
    (
        _set(_pool, "backendAddresses", {"ipAddress": "10.1.1.4"}),
        [
            "gateway agw.backend_address_pools[0]: "
            "its properties could not be read as ApplicationGatewayBackendAddressPool"
        ],
    ),
    (
        _set(lambda body: body["properties"], "sku", "Standard_v2"),
        ["gateway agw.sku: str 'Standard_v2' where ApplicationGatewaySku is expected"],
    ),
    (
        _set(lambda body: body["properties"]["sku"], "tier", 2),
        ["gateway agw.sku.tier: int 2 where str or ApplicationGatewayTier is expected"],
    ),
    (_set(lambda body: body["properties"]["sku"], "tier", "Standard_v9"), []),  # an enum value Azure may add
]


@pytest.mark.parametrize(("change", "expected"), CASES)
def test_the_problems_of_a_malformed_gateway_payload(change, expected):
    body = copy.deepcopy(GATEWAY)
    change(body)

    assert shape_problems(net.ApplicationGateway(body), "gateway agw") == expected


def test_the_problems_of_a_malformed_nsg_payload():
    body = copy.deepcopy(NSG)
    _rule(body)["priority"] = {"value": 100}
    _rule(body)["destinationPortRanges"] = ["80", None]

    assert shape_problems(net.NetworkSecurityGroup(body), "NSG n") == [
        "NSG n.security_rules[AllowGatewayManager].destination_port_ranges[1]: "
        "NoneType None where str is expected",
        "NSG n.security_rules[AllowGatewayManager].priority: dict {'value': 100} where int is expected",
    ]


def _deserialized(model: Any) -> list[str]:
    """The attributes of `model` and the models it holds that the SDK has deserialized (and cached)."""
    found = [name for name in vars(model) if name.startswith("_deserialized_")]
    for value in model._data.values():
        for item in value if isinstance(value, list) else [value]:
            if hasattr(type(item), "_attr_to_rest_field") and isinstance(getattr(item, "_data", None), dict):
                found += _deserialized(item)
    return found


def test_a_well_formed_payload_has_no_problems_and_is_not_deserialized_to_find_out():
    for resource in WORLD["resources"]:
        cls = {
            "applicationGateways": net.ApplicationGateway,
            "networkSecurityGroups": net.NetworkSecurityGroup,
            "networkInterfaces": net.NetworkInterface,
            "virtualNetworks": net.VirtualNetwork,
        }[resource["type"].split("/")[-1]]
        model = cls(copy.deepcopy(resource))

        assert shape_problems(model, "x") == []
        assert _deserialized(model) == []
