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

from diagnostics.collect import _json_fits, _json_plan, json_shape_problems, shape_problems
from diagnostics.snapshot import is_model
from tests.diagnostics.sized_world import shared_subnet_world, sized_world

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


@pytest.mark.parametrize(("change", "expected"), CASES)
def test_a_malformed_gateway_read_as_json_reports_what_its_model_does(change, expected):
    """The gateway is read as its JSON (its reads are planned from it before its model is made):
    judged from the JSON, it reports what the walk of its model reports."""
    body = copy.deepcopy(GATEWAY)
    change(body)

    assert json_shape_problems(body, net.ApplicationGateway, "gateway agw") == expected


def test_well_formed_gateways_fit_from_their_json_alone():
    """No second model of the gateway is made to find nothing: the bundled one and the sized ones
    (every kind of member) are vouched for by their JSON."""
    sized = [sized_world(10), sized_world(10, nics=True), shared_subnet_world(10)]
    gateways = [GATEWAY] + [
        r for world in sized for r in world["resources"] if r["type"].endswith("applicationGateways")
    ]
    assert len(gateways) == 4
    for gateway in gateways:
        assert _json_fits(gateway, net.ApplicationGateway), gateway["id"]


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


# --- plain ARM JSON (the NICs of a resource group's list): json_shape_problems ------------------

_CLASSES = {
    "applicationGateways": net.ApplicationGateway,
    "networkSecurityGroups": net.NetworkSecurityGroup,
    "networkInterfaces": net.NetworkInterface,
    "virtualNetworks": net.VirtualNetwork,
    "routeTables": net.RouteTable,
}


def _world_resources() -> list[dict[str, Any]]:
    """Every resource of every bundled and test world, and of the sized worlds."""
    paths = sorted(ROOT.glob("scenarios/*/world.json")) + sorted(ROOT.glob("tests/worlds/*/world.json"))
    resources = [r for path in paths for r in json.loads(path.read_text()).get("resources", [])]
    for world in (sized_world(2, nics=True), shared_subnet_world(2)):
        resources += world["resources"]
    return [r for r in resources if r.get("type", "").split("/")[-1] in _CLASSES]


def _model_walk(raw: Any, cls: type, label: str) -> list[str]:
    """What `malformed_in` reports of the SDK model made of `raw`: the walk the JSON one stands for."""
    try:
        model = cls(copy.deepcopy(raw))
    except Exception as error:
        return [f"{label}: unreadable as {cls.__name__} ({type(error).__name__})"]
    if not is_model(model):
        return [f"{label}: {type(model).__name__}, not an object"]
    return shape_problems(model, label)


def test_well_formed_json_reports_what_its_model_does_and_nics_without_making_one():
    """Every resource the worlds hold reads the same as JSON as its model's walk; every NIC fits from
    its JSON alone, so reading a NIC list as JSON never makes a model per NIC to find nothing (what
    `json_shape_problems` is for). (Other kinds may hold what the JSON reading leaves to the model,
    a date say: they are read as models.)"""
    resources = _world_resources()
    nics = [r for r in resources if r["type"].endswith("networkInterfaces")]
    assert len(nics) > 20
    for resource in resources:
        cls = _CLASSES[resource["type"].split("/")[-1]]
        assert json_shape_problems(resource, cls, "x") == _model_walk(resource, cls, "x"), resource["id"]
    for nic in nics:
        assert _json_fits(nic, net.NetworkInterface), nic["id"]


def _nic_changes() -> list[Any]:
    def at(path: str, value: Any):
        def change(body: dict[str, Any]) -> None:
            *parents, last = path.split(".")
            target: Any = body
            for part in parents:
                target = target[int(part)] if part.isdigit() else target[part]
            target[int(last) if last.isdigit() else last] = value

        return change

    ipc = "properties.ipConfigurations.0.properties"
    return [
        at("properties", "not an object"),
        at("properties", None),
        at("properties", []),
        at("properties.ipConfigurations", "10.0.0.4"),
        at("properties.ipConfigurations", {"id": "x"}),
        at("properties.ipConfigurations.0", None),
        at("properties.ipConfigurations.0", "ipconfig1"),
        at(f"{ipc}", "oops"),
        at(f"{ipc}.privateIPAddress", 10),
        at(f"{ipc}.privateIPAddress", ["10.0.0.4"]),
        at(f"{ipc}.subnet", "subnet-1"),
        at(f"{ipc}.subnet", {"id": 5}),
        at(f"{ipc}.primary", "yes"),
        at(f"{ipc}.applicationSecurityGroups", {"id": "asg"}),
        at(f"{ipc}.applicationSecurityGroups", [None]),
        at("properties.networkSecurityGroup", "nsg"),
        at("properties.networkSecurityGroup", {"id": "nsg", "properties": "x"}),
        at("properties.enableIPForwarding", "true"),
        at("properties.dnsSettings", {"dnsServers": "10.0.0.4"}),
        at("tags", ["a"]),
        at("etag", 5),
        at("location", {"name": "westeurope"}),
        at("name", None),
        at("properties.provisioningState", 3),
    ]


@pytest.mark.parametrize("change", _nic_changes())
def test_malformed_nic_json_reports_what_the_walk_of_its_model_reports(change):
    nic = next(r for r in sized_world(1, nics=True)["resources"] if r["type"].endswith("networkInterfaces"))
    body = copy.deepcopy(nic)
    change(body)

    found = json_shape_problems(body, net.NetworkInterface, "NIC n")

    assert found == _model_walk(body, net.NetworkInterface, "NIC n")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("properties",), "x"),
        (("properties", "securityRules"), {"name": "r"}),
        (("properties", "securityRules", 0), "AllowGatewayManager"),
        (("properties", "securityRules", 0, "properties"), None),
        (("properties", "securityRules", 0, "properties", "priority"), "100"),
        (("properties", "securityRules", 0, "properties", "priority"), {"value": 100}),
        (("properties", "securityRules", 0, "properties", "destinationPortRanges"), ["80", None]),
        (("properties", "securityRules", 0, "properties", "access"), 1),
        (("properties", "securityRules", 0, "properties", "sourceApplicationSecurityGroups"), ["asg"]),
        (("properties", "subnets"), [{"id": 3}]),
        (("properties", "networkInterfaces"), "nic"),
    ],
)
def test_malformed_nsg_json_reports_what_the_walk_of_its_model_reports(path, value):
    body = copy.deepcopy(NSG)
    _put(body, path, value)

    assert json_shape_problems(body, net.NetworkSecurityGroup, "NSG n") == _model_walk(
        body, net.NetworkSecurityGroup, "NSG n"
    )


def test_the_json_reading_never_vouches_for_what_the_walk_of_its_model_reports():
    """Mutations of every resource kind, field by field, to values of the wrong shape: whenever
    `_json_fits` vouches for the JSON, the model walk finds nothing either."""
    wrong = ["x", 7, 1.5, True, None, [], ["x"], [None], {}, {"id": 1}, {"properties": "x"}]
    checked = 0
    for resource in _world_resources()[:60]:
        cls = _CLASSES[resource["type"].split("/")[-1]]
        for path in _paths(resource):
            for value in wrong:
                body = copy.deepcopy(resource)
                _put(body, path, value)
                if _json_fits(body, cls):
                    assert _model_walk(body, cls, "r") == [], (resource["id"], path, value)
                    checked += 1
    assert checked > 100


def _paths(body: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (keys of objects, indexes of lists), depth first."""
    places: list[tuple[Any, ...]] = []
    items = body.items() if isinstance(body, dict) else enumerate(body) if isinstance(body, list) else []
    for part, value in items:
        places.append((*prefix, part))
        places += _paths(value, (*prefix, part))
    return places


def _put(body: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        body = body[part]
    body[path[-1]] = value


def _recorded_health() -> list[Any]:
    """The backend-health bodies the bundled and test worlds record."""
    paths = sorted(ROOT.glob("scenarios/*/world.json")) + sorted(ROOT.glob("tests/worlds/*/world.json"))
    bodies = [json.loads(path.read_text()).get("backendHealth") or {} for path in paths]
    return [body for found in bodies for body in found.values()]


def test_backend_health_json_reads_as_its_model_and_fits_without_one():
    recorded = _recorded_health()
    assert len(recorded) > 10
    for body in recorded:
        assert json_shape_problems(body, net.ApplicationGatewayBackendHealth, "h") == _model_walk(
            body, net.ApplicationGatewayBackendHealth, "h"
        )
    assert sum(_json_fits(body, net.ApplicationGatewayBackendHealth) for body in recorded) == len(recorded)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("backendAddressPools",), {"x": 1}),
        (("backendAddressPools", 0), "pool"),
        (("backendAddressPools", 0, "backendHttpSettingsCollection", 0, "servers"), "10.0.0.4"),
        (("backendAddressPools", 0, "backendHttpSettingsCollection", 0, "servers", 0), None),
        (("backendAddressPools", 0, "backendHttpSettingsCollection", 0, "servers", 0, "address"), 4),
        (("backendAddressPools", 0, "backendHttpSettingsCollection", 0, "servers", 0, "health"), ["Up"]),
        (("backendAddressPools", 0, "backendAddressPool"), "pool-id"),
    ],
)
def test_malformed_backend_health_json_reports_what_the_walk_of_its_model_reports(path, value):
    body = copy.deepcopy(next(b for b in _recorded_health() if b.get("backendAddressPools")))
    _put(body, path, value)

    assert json_shape_problems(body, net.ApplicationGatewayBackendHealth, "h") == _model_walk(
        body, net.ApplicationGatewayBackendHealth, "h"
    )


def test_the_json_types_taken_as_they_are_are_only_ones_the_field_accepts():
    """`_json_fits` passes a value whose exact type is in a field's set without asking the field's
    test: every field of every class the JSON reading meets, given a value of each JSON type, is
    never passed by the set where its test would refuse the value."""
    values = ["x", "", 0, 7, -1, 1.5, True, False, [], ["x"], {}, {"a": 1}]
    seen: set[type] = set()
    pending = [
        net.ApplicationGateway,
        net.NetworkInterface,
        net.NetworkSecurityGroup,
        net.ApplicationGatewayBackendHealth,
    ]
    checked = 0
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        plan = _json_plan(cls)
        if plan is None:
            continue
        for types_, accepts, element, _ in plan[0].values():
            if element is not None:
                pending.append(element)
            if types_ is None:
                continue
            assert accepts is not None
            for value in values:
                if type(value) in types_:
                    assert accepts(value), (cls.__name__, types_, value)
                    checked += 1
    assert len(seen) > 30 and checked > 500
