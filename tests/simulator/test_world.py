"""World loading and validation, and the world store's ARM semantics (ids, etags, writes)."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.world import SCHEMA, World, WorldError, load_world, merge_patch

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-test/providers/Microsoft.Network"
GW = f"{RG}/applicationGateways/agw"
NSG = f"{RG}/networkSecurityGroups/nsg"
VNET = f"{RG}/virtualNetworks/vnet"
OTHER_NSG = f"{RG}/networkSecurityGroups/unrelated"


def tiny_world() -> dict:
    """A gateway in a subnet whose NSG it depends on, plus an NSG it does not use."""
    return {
        "schema": SCHEMA,
        "clock": "2026-11-23T10:30:00Z",
        "subscriptionId": SUB,
        "resources": [
            {
                "id": VNET,
                "type": "Microsoft.Network/virtualNetworks",
                "location": "westeurope",
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [
                        {
                            "name": "appgw",
                            "properties": {
                                "addressPrefix": "10.0.0.0/24",
                                "networkSecurityGroup": {"id": NSG},
                            },
                        }
                    ],
                },
            },
            {
                "id": NSG,
                "type": "Microsoft.Network/networkSecurityGroups",
                "location": "westeurope",
                "properties": {"securityRules": [{"name": "AllowGwm", "properties": {"priority": 100}}]},
            },
            {"id": OTHER_NSG, "type": "Microsoft.Network/networkSecurityGroups", "location": "westeurope"},
            {
                "id": GW,
                "type": "Microsoft.Network/applicationGateways",
                "location": "westeurope",
                "properties": {
                    "gatewayIPConfigurations": [
                        {"name": "ipc", "properties": {"subnet": {"id": f"{VNET}/subnets/appgw"}}}
                    ]
                },
            },
        ],
        "backendHealth": {GW: {"backendAddressPools": []}},
    }


def load(document: dict) -> World:
    return load_world(document)


def test_bundled_scenarios_load():
    for path in sorted((ROOT / "scenarios").glob("*/world.json")):
        world = load_world(path)
        assert world.subscription_id == SUB
        assert world.dump(world.clock)["resources"], path


def test_ids_are_case_insensitive_and_names_filled_in():
    world = load(tiny_world())
    gateway = world.get(GW.upper())
    assert gateway is not None and gateway["id"] == GW
    assert gateway["name"] == "agw"
    assert world.get_child(VNET.lower(), "subnets", "APPGW")["id"] == f"{VNET}/subnets/appgw"


def test_etags_are_assigned_and_children_share_the_parent_etag():
    world = load(tiny_world())
    nsg = world.get(NSG)
    assert nsg["etag"].startswith('W/"')
    assert nsg["properties"]["securityRules"][0]["etag"] == nsg["etag"]
    assert (
        nsg["properties"]["securityRules"][0]["type"]
        == "Microsoft.Network/networkSecurityGroups/securityRules"
    )


def test_given_etag_is_kept():
    document = tiny_world()
    document["resources"][1]["etag"] = 'W/"given"'
    assert load(document).get(NSG)["etag"] == 'W/"given"'


def test_default_security_rules_are_added_when_absent():
    world = load(tiny_world())
    names = [rule["name"] for rule in world.get(NSG)["properties"]["defaultSecurityRules"]]
    assert names == [
        "AllowVnetInBound",
        "AllowAzureLoadBalancerInBound",
        "DenyAllInBound",
        "AllowVnetOutBound",
        "AllowInternetOutBound",
        "DenyAllOutBound",
    ]


def test_default_security_rules_given_are_kept():
    document = tiny_world()
    document["resources"][1]["properties"]["defaultSecurityRules"] = []
    assert load(document).get(NSG)["properties"]["defaultSecurityRules"] == []


def test_every_write_changes_the_etag():
    world = load(tiny_world())
    before = world.get(GW)["etag"]
    first = world.put(world.get(GW))["etag"]
    second = world.put(world.get(GW))["etag"]
    assert len({before, first, second}) == 3


def test_child_write_bumps_parent_etag_and_delete_removes():
    world = load(tiny_world())
    before = world.get(NSG)["etag"]
    stored = world.put_child(
        NSG, "securityRules", {"name": "New", "id": f"{NSG}/securityRules/New", "properties": {}}
    )
    assert world.get(NSG)["etag"] != before
    assert stored["etag"] == world.get(NSG)["etag"]
    assert world.delete_child(NSG, "securityRules", "NEW") is True
    assert world.get_child(NSG, "securityRules", "New") is None
    assert world.delete_child(NSG, "securityRules", "New") is False


def test_verbatim_health_survives_until_the_gateway_is_written():
    world = load(tiny_world())
    assert world.verbatim_backend_health(GW.lower()) == {"backendAddressPools": []}
    world.put(world.get(GW))
    assert world.verbatim_backend_health(GW) is None


def test_recorded_health_outlives_writes():
    world = load(tiny_world())
    world.put(world.get(GW))
    assert world.verbatim_backend_health(GW) is None
    assert world.recorded_backend_health(GW.upper()) == {"backendAddressPools": []}
    assert world.recorded_backend_health(NSG) is None


def test_verbatim_health_dropped_when_a_dependency_is_written():
    world = load(tiny_world())
    world.put(world.get(OTHER_NSG))
    assert world.verbatim_backend_health(GW) is not None, "an NSG the gateway does not use changes nothing"
    world.put_child(NSG, "securityRules", {"name": "x", "id": f"{NSG}/securityRules/x", "properties": {}})
    assert world.verbatim_backend_health(GW) is None


def test_provisioning_state_change_keeps_the_etag():
    world = load(tiny_world())
    etag = world.get(GW)["etag"]
    world.set_provisioning_state(GW, "Updating")
    gateway = world.get(GW)
    assert gateway["etag"] == etag
    assert gateway["properties"]["provisioningState"] == "Updating"
    assert (
        gateway["properties"]["gatewayIPConfigurations"][0]["properties"]["provisioningState"] == "Updating"
    )


def test_patch_applies_merge_patch_and_bumps_etag():
    world = load(tiny_world())
    etag = world.get(GW)["etag"]
    world.patch(GW, {"tags": {"owner": "someone"}, "location": None})
    gateway = world.get(GW)
    assert gateway["tags"] == {"owner": "someone"}
    assert "location" not in gateway
    assert gateway["etag"] != etag


def test_list_filters_by_collection_and_group():
    world = load(tiny_world())
    assert [r["name"] for r in world.list_resources("networkSecurityGroups", SUB.upper(), "RG-TEST")] == [
        "nsg",
        "unrelated",
    ]
    assert world.list_resources("networkSecurityGroups", SUB, "other") == []
    assert world.resource_group_exists(SUB, "Rg-Test")
    assert not world.resource_group_exists(SUB, "rg-none")


def test_dump_reloads_to_the_same_state():
    world = load(tiny_world())
    world.put(world.get(GW))
    dumped = world.dump(world.clock)
    again = load_world(json.loads(json.dumps(dumped)))
    assert again.get(GW) == world.get(GW)
    assert again.verbatim_backend_health(GW) is None
    assert dumped["schema"] == SCHEMA


def test_world_file_not_json(tmp_path):
    path = tmp_path / "w.json"
    path.write_text("{nope")
    with pytest.raises(WorldError, match=r"w\.json: not JSON"):
        load_world(path)


def test_world_file_missing(tmp_path):
    with pytest.raises(WorldError, match="cannot read"):
        load_world(tmp_path / "absent.json")


def _broken(edit) -> dict:
    document = tiny_world()
    edit(document)
    return document


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.update(schema="appgw-world/v0"), r"\$\.schema"),
        (lambda d: d.pop("subscriptionId"), r"\$\.subscriptionId"),
        (lambda d: d.update(clock="yesterday"), r"\$\.clock"),
        (lambda d: d.update(resources={}), r"\$\.resources: must be a list"),
        (lambda d: d["resources"][0].pop("id"), r"\$\.resources\[0\]\.id"),
        (lambda d: d["resources"][1].pop("type"), r"\$\.resources\[1\]\.type"),
        (lambda d: d["resources"][1].update(type="Microsoft.Network/loadBalancers"), "unknown resource type"),
        (lambda d: d["resources"][1].update(type="Microsoft.Network/routeTables"), "does not match"),
        (lambda d: d["resources"][1].update(id="/not/an/id"), "not a Microsoft.Network resource id"),
        (
            lambda d: d["resources"].append(copy.deepcopy(d["resources"][1]) | {"id": NSG.upper()}),
            "duplicate",
        ),
        (lambda d: d["resources"][1].update(properties=[]), r"\$\.resources\[1\]\.properties"),
        (
            lambda d: d["resources"][1]["properties"]["securityRules"][0].pop("name"),
            r"securityRules\[0\]\.name",
        ),
        (lambda d: d["resources"].append("text"), r"\$\.resources\[4\]"),
        (lambda d: d.update(backendHealth={NSG: {}}), r"\$\.backendHealth\["),
        (lambda d: d.update(metrics={GW: {}}), r"\$\.metrics\[.*must be a JSON list"),
        (lambda d: d.update(dns=[]), r"\$\.dns"),
        (lambda d: d.update(backends=[]), r"\$\.backends: must be a JSON object"),
        (lambda d: d.update(backends={"10.0.1.4": 80}), r"\$\.backends\[\"10\.0\.1\.4\"\]: must be a JSON"),
        (lambda d: d.update(backends={"10.0.1.4": {"ports": "eighty"}}), r"\]\.ports: must be a list"),
        (lambda d: d.update(backends={"10.0.1.4": {"ports": [0]}}), r"\]\.ports: must be a list"),
        (
            lambda d: d.update(backends={"a": {"responseSeconds": -1}}),
            r"\]\.responseSeconds: must be a number",
        ),
        (
            lambda d: d.update(backends={"a": {"responseSeconds": "1"}}),
            r"\]\.responseSeconds: must be a number",
        ),
        (lambda d: d.update(backends={"a": {"paths": {"/": "ok"}}}), r"\]\.paths: must map"),
        (lambda d: d.update(backends={"a": {"bodies": {"/": 1}}}), r"\]\.bodies: must map"),
        (lambda d: d.update(backends={"a": {"requireHost": 1}}), r"\]\.requireHost: must be a string"),
        (lambda d: d.update(backends={"a": {"port": [80]}}), r"\]\.port: unknown key"),
        (lambda d: d.update(backends={"a": {"certificate": "x"}}), r"\]\.certificate: must be a JSON"),
        (
            lambda d: d.update(backends={"a": {"certificate": {"chain": "broken"}}}),
            r"certificate\.chain: must be",
        ),
        (lambda d: d.update(backends={"a": {"certificate": {"san": "x"}}}), r"certificate\.san: must be"),
        (lambda d: d.update(backends={"a": {"certificate": {"notAfter": "soon"}}}), r"certificate\.notAfter"),
        (lambda d: d.update(backends={"a": {"certificate": {"cn": "x"}}}), r"certificate\.cn: unknown key"),
    ],
)
def test_bad_worlds_name_the_problem(edit, where):
    with pytest.raises(WorldError, match=where) as raised:
        load_world(_broken(edit))
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("world: ")


def test_world_file_not_an_object(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[]")
    with pytest.raises(WorldError, match=r"list\.json: \$: a world must be a JSON object"):
        load_world(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    target=st.dictionaries(st.text(max_size=3), json_values, max_size=4),
    patch=st.dictionaries(st.text(max_size=3), json_values, max_size=4),
)
def test_merge_patch_laws(target, patch):
    patched = merge_patch(target, patch)
    for key, value in patch.items():
        if value is None:
            assert key not in patched
        elif not isinstance(value, dict):
            assert patched[key] == value
    for key in set(target) - set(patch):
        assert patched[key] == target[key]
    assert merge_patch(patched, patch) == patched  # applying the same patch twice changes nothing more


def test_divergence_is_the_first_write_a_gateway_depends_on():
    world = load(tiny_world())

    def write_at(resource_id: str, moment: str) -> None:
        world.now = lambda: datetime.fromisoformat(moment)
        world.put(world.get(resource_id))

    assert world.diverged_at(GW) is None
    write_at(OTHER_NSG, "2026-11-23T10:31:00+00:00")
    assert world.diverged_at(GW) is None
    write_at(NSG, "2026-11-23T10:32:00+00:00")
    write_at(GW, "2026-11-23T10:33:00+00:00")
    assert world.diverged_at(GW.upper()) == datetime.fromisoformat("2026-11-23T10:32:00+00:00")


def test_a_view_keeps_the_resources_as_they_were_when_it_was_taken():
    world = load(tiny_world())
    view = world.view()
    nsg = world.get(NSG)
    nsg["properties"]["securityRules"] = []
    world.put(nsg)
    world.set_provisioning_state(GW, "Updating")
    world.set_provisioning_state(VNET, "Updating", child=("subnets", "appgw"))

    # the view holds the very bodies stored when it was taken, and none of them was changed in place
    assert world.get(NSG)["properties"]["securityRules"] == []
    assert view.stored(NSG)["properties"]["securityRules"][0]["name"] == "AllowGwm"
    assert world.get(GW)["properties"]["provisioningState"] == "Updating"
    assert "provisioningState" not in view.stored(GW)["properties"]
    assert world.get(VNET)["properties"]["subnets"][0]["properties"]["provisioningState"] == "Updating"
    assert "provisioningState" not in view.stored(VNET)["properties"]["subnets"][0]["properties"]
    assert view.stored(f"{RG}/networkSecurityGroups/never-there") is None
