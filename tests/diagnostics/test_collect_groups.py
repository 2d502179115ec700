"""Effective routes and NSGs read per group of NICs that share them (issue 11), against the simulator:
the findings are those of reading every NIC, even where grouping could go wrong (NICs of one subnet
with different NIC NSGs, or in different application security groups), only the groups the checks
need are asked, and NICs are listed per resource group."""

from __future__ import annotations

import copy
import gc
from typing import Any

import pytest

from core.arm import Arm
from core.azure_clients import ArmTarget, make_clients
from core.iso8601 import parse_time
from diagnostics.collect import MAX_EFFECTIVE_GROUPS, MAX_NIC_GETS, MAX_PER_NIC_EFFECTIVE, collect
from diagnostics.engine import findings_of, run_checks
from diagnostics.snapshot import Snapshot, key
from simulator import FaultRule, Simulator
from tests.diagnostics.sized_world import GATEWAY_ID, GATEWAY_SUBNET, GROUP, sized_world

ROUTES = "networkInterfaces.getEffectiveRouteTable"
NSGS = "networkInterfaces.listEffectiveNetworkSecurityGroups"


def nic_id(pool: int, server: int) -> str:
    return f"{GROUP}/networkInterfaces/nic-tenant-{pool:03d}-{server}"


def body(world: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return next(r for r in world["resources"] if key(r["id"]) == key(resource_id))


def nsg(world: dict[str, Any], name: str, access: str) -> str:
    """Add an NSG `name` whose only rule allows or denies the gateway subnet on the backend port."""
    nsg_id = f"{GROUP}/networkSecurityGroups/{name}"
    rule = {
        "id": f"{nsg_id}/securityRules/{access}-gateway",
        "name": f"{access}-gateway",
        "properties": {
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "priority": 100,
            "direction": "Inbound",
            "access": access,
            "sourceAddressPrefix": GATEWAY_SUBNET,
            "destinationAddressPrefix": "*",
            "destinationPortRange": "8080",
        },
    }
    world["resources"].append(
        {
            "id": nsg_id,
            "name": name,
            "type": "Microsoft.Network/networkSecurityGroups",
            "location": "westeurope",
            "properties": {"securityRules": [rule]},
        }
    )
    return nsg_id


def nic_nsg_world() -> dict[str, Any]:
    """Two healthy pools of 10 NICs (one subnet each); in pool 0's subnet NICs 0-3 have a NIC NSG that
    denies the gateway, NICs 4-6 one that allows it, NICs 7-9 none."""
    world = sized_world(2, nics=True)
    deny, allow = nsg(world, "nsg-nic-deny", "Deny"), nsg(world, "nsg-nic-allow", "Allow")
    for server in range(7):
        body(world, nic_id(0, server))["properties"]["networkSecurityGroup"] = {
            "id": deny if server < 4 else allow
        }
    return world


def asg_world() -> dict[str, Any]:
    """Two healthy pools of 10 NICs; pool 0's subnet NSG denies the gateway to the application security
    group asg-blocked (NICs 0-2), not to asg-other (NICs 3-5) or to NICs in no group (6-9)."""
    world = sized_world(2, nics=True)
    # the simulator serves no applicationSecurityGroups: rules and NICs name them by id, as ARM stores them
    groups = {name: f"{GROUP}/applicationSecurityGroups/{name}" for name in ("asg-blocked", "asg-other")}
    subnet_nsg = body(world, f"{GROUP}/networkSecurityGroups/nsg-tenant-000")
    subnet_nsg["properties"]["securityRules"].append(
        {
            "id": f"{subnet_nsg['id']}/securityRules/DenyBlockedGroup",
            "name": "DenyBlockedGroup",
            "properties": {
                "protocol": "Tcp",
                "sourcePortRange": "*",
                "priority": 150,
                "direction": "Inbound",
                "access": "Deny",
                "sourceAddressPrefix": GATEWAY_SUBNET,
                "destinationApplicationSecurityGroups": [{"id": groups["asg-blocked"]}],
                "destinationPortRange": "8080",
            },
        }
    )
    for server in range(6):
        group = groups["asg-blocked" if server < 3 else "asg-other"]
        configuration = body(world, nic_id(0, server))["properties"]["ipConfigurations"][0]
        configuration["properties"]["applicationSecurityGroups"] = [{"id": group}]
    return world


def diagnose(world: dict[str, Any], *, per_nic: bool | None, faults=()) -> tuple[Snapshot, list]:
    with Simulator(copy.deepcopy(world), faults=list(faults)) as sim:
        azure = make_clients(
            sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=0.02
        )
        try:
            snapshot = collect(
                GATEWAY_ID,
                arm=Arm(azure, budget_seconds=60),
                incident_time=parse_time(world["clock"]),
                effective_per_nic=per_nic,
            )
        finally:
            azure.close()
        return snapshot, list(sim.requests.served)


def findings(snapshot: Snapshot) -> dict[str, Any]:
    results = run_checks(snapshot)
    return {
        "checks": [[r.name, r.status.value, r.reason] for r in results],
        "findings": [f.to_dict() for f in findings_of(results)],
    }


def plain(groups: list[Any]) -> list[dict[str, Any]]:
    """Effective NSGs or routes as dicts (SDK models, or the JSON ARM sent), without the NIC id an NSG
    association names (the asked NIC)."""
    answers = []
    for group in groups:
        answer = copy.deepcopy(group) if isinstance(group, dict) else group.as_dict()
        if "networkInterface" in (answer.get("association") or {}):
            answer["association"]["networkInterface"] = {"id": "<the NIC asked>"}
        answers.append(answer)
    return answers


def served(requests: list, operation: str, method: str | None = None) -> int:
    return sum(1 for s in requests if s.operation == operation and (method is None or s.method == method))


@pytest.mark.parametrize("make_world", [nic_nsg_world, asg_world], ids=["nic-nsgs", "asgs"])
def test_grouped_reads_find_what_reading_every_nic_finds(make_world):
    world = make_world()
    each, each_requests = diagnose(world, per_nic=True)
    grouped, grouped_requests = diagnose(world, per_nic=False)

    assert findings(grouped) == findings(each)
    blocked = [f for f in findings(each)["findings"] if f["code"] == "NSG_BLOCKS_BACKEND"]
    assert blocked, "the world must block some servers, or it proves nothing"
    # every answer stored for a NIC is the one the simulator gives for that very NIC
    for nic_key, answer in grouped.effective_nsgs.items():
        assert plain(answer) == plain(each.effective_nsgs[nic_key]), nic_key
    for nic_key, answer in grouped.effective_routes.items():
        assert plain(answer) == plain(each.effective_routes[nic_key]), nic_key
    assert served(grouped_requests, NSGS, "POST") < served(each_requests, NSGS, "POST") == 20


def test_nics_of_one_subnet_with_different_nic_nsgs_are_asked_apart():
    grouped, requests = diagnose(nic_nsg_world(), per_nic=False)

    # pool 0's subnet holds unhealthy NICs (those behind the denying NIC NSG): its route group and the
    # NSG group of those NICs are asked; the healthy groups are not, nor pool 1 (its VNet is covered)
    assert served(requests, ROUTES, "POST") == 1
    assert served(requests, NSGS, "POST") == 1
    denied = {key(nic_id(0, s)) for s in range(4)}
    assert set(grouped.effective_nsgs) == denied
    assert set(grouped.effective_routes) == {key(nic_id(0, s)) for s in range(10)}
    nsg_ids = {key(g["networkSecurityGroup"]["id"]) for n in denied for g in grouped.effective_nsgs[n]}
    assert key(f"{GROUP}/networkSecurityGroups/nsg-nic-deny") in nsg_ids


def test_nics_in_the_same_application_security_group_get_answers_of_their_own():
    """Why a NIC in an application security group is asked alone: a rule for the group is written
    as the asked NIC's own addresses, so two members' answers differ."""
    each, _ = diagnose(asg_world(), per_nic=True)
    first, second = (plain(each.effective_nsgs[key(nic_id(0, s))]) for s in (0, 1))
    assert first != second

    grouped, requests = diagnose(asg_world(), per_nic=False)
    assert served(requests, NSGS, "POST") == 3  # the three unhealthy members of asg-blocked, one by one
    assert set(grouped.effective_nsgs) == {key(nic_id(0, s)) for s in range(3)}


def test_a_gateway_with_only_healthy_servers_asks_one_route_group_per_vnet_and_no_nsg_group():
    world = sized_world(4, nics=True)  # 40 NICs, no unhealthy pool (every 5th is)
    snapshot, requests = diagnose(world, per_nic=None)

    assert served(requests, ROUTES, "POST") == 1 and served(requests, NSGS, "POST") == 0
    assert len(snapshot.effective_routes) == 10  # the first pool's NICs
    assert not [piece for piece in snapshot.errors if not piece.startswith("metrics/")]


def test_when_backend_health_cannot_be_read_every_group_is_asked():
    world = sized_world(2, nics=True)
    refused = [FaultRule("applicationGateways.backendHealth", "error", status=403)]
    snapshot, requests = diagnose(world, per_nic=None, faults=refused)

    assert served(requests, ROUTES, "POST") == 2 and served(requests, NSGS, "POST") == 2
    assert len(snapshot.effective_routes) == len(snapshot.effective_nsgs) == 20


def test_small_gateways_read_every_nic_and_large_ones_per_group():
    small, small_requests = diagnose(sized_world(1, nics=True), per_nic=None)
    assert MAX_PER_NIC_EFFECTIVE >= 10 and served(small_requests, ROUTES, "POST") == 10
    large, large_requests = diagnose(sized_world(10, nics=True), per_nic=None)
    assert served(large_requests, ROUTES, "POST") == 2  # pools 4 and 9 are unhealthy
    assert served(large_requests, NSGS, "POST") == 2
    assert len(large.effective_routes) == len(large.effective_nsgs) == 20


def test_many_nics_of_a_resource_group_are_listed_once():
    world = sized_world(2, nics=True)
    assert 20 > MAX_NIC_GETS
    snapshot, requests = diagnose(world, per_nic=None)

    assert served(requests, "networkInterfaces.get") == 0
    assert served(requests, "networkInterfaces.list") == 1
    assert len(snapshot.nics) == 20 and "nics" not in snapshot.errors


def test_a_listed_nic_that_is_missing_or_unlisted_has_a_reason_of_its_own():
    world = sized_world(2, nics=True)
    gone = nic_id(1, 3)
    world["resources"] = [r for r in world["resources"] if key(r["id"]) != key(gone)]
    snapshot, _ = diagnose(world, per_nic=None)
    assert (
        "nic-tenant-001-3: not found: resource group rg-tenants lists no such network interface"
        in (snapshot.errors["nics"])
    )
    assert key(gone) not in snapshot.nics and len(snapshot.nics) == 19

    refused = [FaultRule("networkInterfaces.list", "error", status=403)]
    snapshot, requests = diagnose(sized_world(2, nics=True), per_nic=None, faults=refused)
    reasons = snapshot.errors["nics"]
    assert "nic-tenant-000-0: the NICs of resource group rg-tenants could not be listed: 403" in reasons
    assert "nic-tenant-001-9: the NICs of resource group rg-tenants could not be listed: 403" in reasons
    assert served(requests, "networkInterfaces.get") == 0
    results = {r.name: r for r in run_checks(snapshot)}
    assert results["nsg-backend"].status.value == "error"


def test_no_more_groups_than_the_budget_allows_are_asked_and_the_rest_are_named():
    """NICs that cannot be read are groups of their own, and without backend health every group is
    asked: the number asked is capped, and what was left unread is recorded, not silently dropped."""
    refused = [
        FaultRule("networkInterfaces.list", "error", status=403),
        FaultRule("applicationGateways.backendHealth", "error", status=403),
    ]
    snapshot, requests = diagnose(sized_world(4, nics=True), per_nic=None, faults=refused)

    assert served(requests, ROUTES, "POST") == MAX_EFFECTIVE_GROUPS == served(requests, NSGS, "POST")
    for piece in ("effective_routes", "effective_nsgs"):
        assert f"not read for {40 - MAX_EFFECTIVE_GROUPS} NICs" in snapshot.errors[piece]
    assert len(snapshot.effective_routes) == MAX_EFFECTIVE_GROUPS


def test_a_collection_leaves_nothing_for_the_cycle_collector(simulator):
    """What a diagnosis reads (a large gateway's NIC list: tens of thousands of objects) is freed by
    reference counting once it is dropped: the collection graph's futures do not stay in a cycle with
    it (their callbacks refer back to the graph), which the cycle collector would walk mid-diagnosis."""
    world = sized_world(20, nics=True)
    sim = simulator(world)
    target = ArmTarget(sim.endpoint, sim.ca_cert)
    clients = make_clients(sim.subscription_id, target=target, polling_interval=0)
    try:
        collect(GATEWAY_ID, arm=Arm(clients), incident_time=parse_time(world["clock"]))  # warm
        gc.collect()
        gc.disable()
        try:
            snapshot = collect(GATEWAY_ID, arm=Arm(clients), incident_time=parse_time(world["clock"]))
            assert len(snapshot.nics) == 200
            for nic in snapshot.nics.values():  # marked, to be told apart from anyone else's garbage
                nic["collectedByThisTest"] = True
            del snapshot, nic
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            left = sum(type(o) is dict and "collectedByThisTest" in o for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    finally:
        clients.close()
    assert left == 0, f"{left} of the 200 NICs read were left for the cycle collector"
