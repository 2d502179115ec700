"""NSGs read with one list per resource group when many of one group are needed at once, against the
simulator: above MAX_NSG_GETS one `networkSecurityGroups.list` replaces the GETs (once the gateway's
VNet is read: for IP members the subnets they fall in, for NIC members the subnets that list their IP
configurations; else once the NICs are read), at or below it each NSG is got alone; listed NSGs are
what GETs return, so the findings are the same; an NSG of a group already listed is picked from the
list; and a list that fails, or lacks an NSG, makes the checks that need the NSG say `error` with the
reason, as a failed GET does."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from diagnostics import collect as collect_module
from diagnostics.collect import LISTABLE, MAX_NSG_GETS
from diagnostics.engine import run_checks
from diagnostics.snapshot import key
from simulator import FaultRule
from tests.diagnostics.sized_world import GROUP, shared_subnet_world, sized_world
from tests.diagnostics.test_collect_groups import diagnose, findings, nsg, served

NSG_GET = "networkSecurityGroups.get"
NSG_LIST = "networkSecurityGroups.list"


def nsg_id(pool: int) -> str:
    return f"{GROUP}/networkSecurityGroups/nsg-tenant-{pool:03d}"


def served_body(model: Any) -> Any:
    """An SDK model (or the plain JSON a list gave) as a dict, without what each simulator run makes
    up anew (etags, GUIDs)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("etag", "resourceGuid")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(model if isinstance(model, dict) else model.as_dict())


def test_the_threshold_is_that_of_nics():
    assert MAX_NSG_GETS == 16 == LISTABLE["nsg"].max_gets


def test_at_the_threshold_each_nsg_of_the_gateway_network_is_got_alone():
    world = sized_world(MAX_NSG_GETS - 1)  # the gateway subnet's NSG and 15 backend subnets' NSGs
    snapshot, requests = diagnose(world, per_nic=None)

    assert served(requests, NSG_GET) == MAX_NSG_GETS and served(requests, NSG_LIST) == 0
    assert len(snapshot.nsgs) == MAX_NSG_GETS and "nsgs" not in snapshot.errors


def test_above_the_threshold_the_nsgs_of_a_resource_group_are_listed_once():
    world = sized_world(MAX_NSG_GETS)  # 17 NSGs, all in rg-tenants
    snapshot, requests = diagnose(world, per_nic=None)

    assert served(requests, NSG_LIST) == 1 and served(requests, NSG_GET) == 0
    assert len(snapshot.nsgs) == MAX_NSG_GETS + 1 and "nsgs" not in snapshot.errors
    assert type(snapshot.nsgs[key(nsg_id(4))]) is dict  # kept as the list sent it, not as a model
    listed = snapshot.nsg(nsg_id(4))  # the model, for the checks that read one
    assert listed.security_rules and listed.default_security_rules  # a list carries both, like a GET
    assert snapshot.nsg(nsg_id(4)) is listed  # made once


def test_listed_nsgs_are_those_got_one_by_one_and_find_the_same(monkeypatch):
    world = sized_world(MAX_NSG_GETS)
    listed, listed_requests = diagnose(world, per_nic=None)
    monkeypatch.setitem(collect_module.LISTABLE, "nsg", dataclasses.replace(LISTABLE["nsg"], max_gets=1000))
    got, got_requests = diagnose(world, per_nic=None)

    assert served(got_requests, NSG_GET) == MAX_NSG_GETS + 1 and served(got_requests, NSG_LIST) == 0
    assert served(listed_requests, NSG_LIST) == 1
    assert {k: served_body(v) for k, v in listed.nsgs.items()} == {
        k: served_body(v) for k, v in got.nsgs.items()
    }
    assert findings(listed) == findings(got)
    assert [f for f in findings(listed)["findings"] if f["code"] == "NSG_BLOCKS_BACKEND"]


def test_nic_members_nsgs_are_listed_once():
    few, few_requests = diagnose(sized_world(2, nics=True), per_nic=None)
    assert served(few_requests, NSG_LIST) == 0
    assert served(few_requests, NSG_GET) == 3  # the gateway subnet's, the 2 backend subnets'
    assert len(few.nsgs) == 3

    many, many_requests = diagnose(sized_world(MAX_NSG_GETS + 1, nics=True), per_nic=None)
    # the gateway subnet's NSG is needed alone once the VNet is read; the 17 backend subnets' NSGs
    # together, in one list started from the VNet, which the NICs' reads then pick from
    assert served(many_requests, NSG_GET) == 1 and served(many_requests, NSG_LIST) == 1
    assert len(many.nsgs) == MAX_NSG_GETS + 2 and "nsgs" not in many.errors


def test_nic_members_subnet_nsgs_are_listed_from_the_vnet_before_the_nics_are_read():
    """The VNet's subnets name the IP configurations in them, so the NSGs of the NIC members' subnets
    are listed alongside the NICs' own read: even a NIC list that fails does not hold them up."""
    world = sized_world(MAX_NSG_GETS + 1, nics=True)
    refused = [FaultRule("networkInterfaces.list", "error", status=403)]
    snapshot, requests = diagnose(world, per_nic=None, faults=refused)

    assert served(requests, NSG_LIST) == 1 and served(requests, NSG_GET) == 1
    assert len(snapshot.nsgs) == MAX_NSG_GETS + 2 and not snapshot.nics
    assert "could not be listed: 403" in snapshot.errors["nics"]


def test_fewer_nic_subnet_nsgs_are_left_to_the_nics_reads():
    """At or below the threshold nothing is listed from the VNet: the NICs' reads ask for the subnets'
    NSGs and the NICs' own together, so a NIC NSG in the group still counts towards one list."""
    world = sized_world(MAX_NSG_GETS - 1, nics=True)
    refused = [FaultRule("networkInterfaces.list", "error", status=403)]
    snapshot, requests = diagnose(world, per_nic=None, faults=refused)

    assert served(requests, NSG_LIST) == 0 and served(requests, NSG_GET) == 1  # the gateway subnet's
    assert len(snapshot.nsgs) == 1


def test_the_nsgs_of_the_nics_behind_ip_members_are_listed_once():
    """IP members whose NICs share one subnet: the subnet's NICs are read once, and their own NSGs
    together (one list above the threshold), not one GET as each member's NIC is found."""
    snapshot, requests = diagnose(shared_subnet_world(MAX_NSG_GETS + 1), per_nic=None)

    assert served(requests, NSG_LIST) == 1 and served(requests, NSG_GET) == 1  # + the gateway subnet's
    assert served(requests, "networkInterfaces.list") == 1
    assert len(snapshot.nsgs) == MAX_NSG_GETS + 2 and len(snapshot.nics) == 10 * (MAX_NSG_GETS + 1)
    blocked = {f["resource"] for f in findings(snapshot)["findings"] if f["code"] == "NSG_BLOCKS_BACKEND"}
    assert {key(b) for b in blocked} == {key(f"{nsg_id(p)}/securityRules/DenyAppGateway") for p in (4, 9, 14)}


def test_an_nsg_needed_later_in_a_listed_group_is_picked_from_the_list():
    """A NIC holding an IP member is found after the subnet NSGs were listed: its NSG, in the same
    resource group, comes from that list, not from a GET of its own."""
    world = sized_world(MAX_NSG_GETS)
    deny = nsg(world, "nsg-nic-deny", "Deny")
    subnet_id = f"{GROUP}/virtualNetworks/vnet-tenants/subnets/backend-tenant-000"
    nic_id = f"{GROUP}/networkInterfaces/nic-holding-10-1-0-4"
    world["resources"].append(
        {
            "id": nic_id,
            "name": "nic-holding-10-1-0-4",
            "type": "Microsoft.Network/networkInterfaces",
            "location": "westeurope",
            "properties": {
                "networkSecurityGroup": {"id": deny},
                "ipConfigurations": [
                    {
                        "id": f"{nic_id}/ipConfigurations/ipconfig1",
                        "name": "ipconfig1",
                        "properties": {
                            "privateIPAddress": "10.1.0.4",
                            "privateIPAllocationMethod": "Static",
                            "subnet": {"id": subnet_id},
                            "primary": True,
                        },
                    }
                ],
            },
        }
    )
    snapshot, requests = diagnose(world, per_nic=None)

    assert served(requests, "networkInterfaces.get") == 1
    assert served(requests, NSG_LIST) == 1 and served(requests, NSG_GET) == 0
    assert key(deny) in snapshot.nsgs and key(nic_id) in snapshot.nics
    blocked = [f for f in findings(snapshot)["findings"] if f["code"] == "NSG_BLOCKS_BACKEND"]
    assert any("nsg-nic-deny" in str(f) for f in blocked), blocked


def healthy_world(pools: int, *, nics: bool = False) -> dict[str, Any]:
    """`sized_world` without its denying rules: nothing blocks a server, so a backend NSG that could
    not be read leaves nsg-backend nothing to report but that it could not check."""
    world = sized_world(pools, nics=nics)
    for resource in world["resources"]:
        if resource["type"] == "Microsoft.Network/networkSecurityGroups":
            rules = resource["properties"]["securityRules"]
            rules[:] = [r for r in rules if r["name"] != "DenyAppGateway"]
    return world


@pytest.mark.parametrize("nics", [False, True], ids=["ip", "nic"])
def test_a_failed_nsg_list_is_an_error_per_nsg_not_a_pass(nics):
    world = healthy_world(MAX_NSG_GETS + 1, nics=nics)
    refused = [FaultRule(NSG_LIST, "error", status=403)]
    snapshot, requests = diagnose(world, per_nic=None, faults=refused)

    # with NIC members the gateway subnet's NSG is needed alone, once the VNet is read: got
    assert served(requests, NSG_LIST) == 1 and served(requests, NSG_GET) == (1 if nics else 0)
    reasons = snapshot.errors["nsgs"]
    for pool in range(MAX_NSG_GETS + 1):
        assert (
            f"nsg-tenant-{pool:03d}: the network security groups of resource group rg-tenants "
            "could not be listed: 403" in reasons
        ), reasons
    assert not {key(nsg_id(pool)) for pool in range(MAX_NSG_GETS + 1)} & set(snapshot.nsgs)
    results = {r.name: r for r in run_checks(snapshot)}
    backend = results["nsg-backend"]
    assert backend.status.value == "error" and "could not be listed: 403" in backend.reason, backend
    infra = results["nsg-infra-ports"]
    if nics:
        assert infra.status.value == "passed", infra
    else:  # the gateway subnet's NSG was in the list
        assert infra.status.value == "error" and "could not be listed: 403" in infra.reason, infra


def test_a_failed_list_errs_where_failed_gets_err(monkeypatch):
    """The same checks say `error` whether the NSGs' GETs or their resource group's list failed."""
    world = healthy_world(MAX_NSG_GETS + 1)
    listed, _ = diagnose(world, per_nic=None, faults=[FaultRule(NSG_LIST, "error", status=403)])
    monkeypatch.setitem(collect_module.LISTABLE, "nsg", dataclasses.replace(LISTABLE["nsg"], max_gets=1000))
    got, requests = diagnose(world, per_nic=None, faults=[FaultRule(NSG_GET, "error", status=403)])

    assert served(requests, NSG_LIST) == 0
    statuses = {r.name: r.status.value for r in run_checks(listed)}
    assert statuses == {r.name: r.status.value for r in run_checks(got)}
    assert statuses["nsg-backend"] == statuses["nsg-infra-ports"] == "error"


def test_an_nsg_the_list_lacks_is_not_found_and_its_checks_say_error():
    world = healthy_world(MAX_NSG_GETS)
    world["resources"] = [r for r in world["resources"] if key(r["id"]) != key(nsg_id(4))]
    snapshot, requests = diagnose(copy.deepcopy(world), per_nic=None)

    assert served(requests, NSG_LIST) == 1 and served(requests, NSG_GET) == 0
    assert (
        "nsg-tenant-004: not found: resource group rg-tenants lists no such network security group"
        in snapshot.errors["nsgs"]
    )
    assert len(snapshot.nsgs) == MAX_NSG_GETS
    backend = {r.name: r for r in run_checks(snapshot)}["nsg-backend"]
    assert backend.status.value == "error" and "nsg-tenant-004" in backend.reason, backend
