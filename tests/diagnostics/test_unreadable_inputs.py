"""Honest checks: a check whose inputs could not be read reports `error` with the reason — never
`passed`, `skipped` or "nothing to look at" — and a piece a check does not read never changes it.

The map below is the contract, written by reading each check's code (diagnostics/checks/*.py):
`READS[check][piece]` names the worlds where the check has something to look at in that piece, and
`PIECE_OPERATIONS` the simulator operations (fault-rule ids, see simulator/arm.py) that fetch the
piece. For every world named anywhere in the map, the real collector runs against the simulator
once cleanly and once per piece with every operation of that piece refused with 403, and then:

- a check on a world named for that piece must report `error` with a reason naming the 403;
- a check that does not read the piece must report exactly the status it reported without the
  fault. So a check that (now or after a change) reads a piece the map leaves out is caught
  wherever the piece matters to it in these worlds: add the piece to the map, with a world, or
  make the check stop depending on it;
- a piece in `FALLBACKS` is read but has a stand-in; losing it may only turn the check's result
  into a finding or an error, never into a pass or a skip it did not give before.

Not covered here (no ARM operation to refuse): the DNS answers of the VNet's servers
(`dns_answers`, tests/diagnostics/test_check_dns.py) and a subnet of another VNet read on its own
(`subnets.get`, tests/diagnostics/test_collect.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagnostics.checks import CHECKS
from diagnostics.engine import run_checks
from model.findings import CheckResult, CheckStatus
from simulator import FaultRule

ROOT = Path(__file__).resolve().parents[2]

# Snapshot piece -> the operations that fetch it.
PIECE_OPERATIONS: dict[str, tuple[str, ...]] = {
    # the gateway's VNet (gateway subnet, backend subnets, DNS servers, peerings) and peered VNets
    "vnet": ("virtualNetworks.get",),
    "nsgs": ("networkSecurityGroups.get",),
    "route_tables": ("routeTables.get",),
    # NIC pool members, and the NICs that hold IP pool members (one GET each, or a list per group)
    "nics": ("networkInterfaces.get", "networkInterfaces.list"),
    "backend_health": ("applicationGateways.backendHealth",),
    "effective_routes": ("networkInterfaces.getEffectiveRouteTable",),
    "effective_nsgs": ("networkInterfaces.listEffectiveNetworkSecurityGroups",),
    "metrics": ("metrics.list",),
}

HEALTHY = "scenarios/healthy"  # v2, NIC member, gateway and backend NSGs, everything healthy
DEFAULT_PROBE = "scenarios/default-probe"  # settings fall back to the default probe, servers failing it
DECOY_NETWORK = "tests/worlds/decoy-network"  # a route table on the gateway subnet, NIC members
BGP_SHIELDED = "tests/worlds/bgp-default-route-gateway-shielded-decoy"  # BGP 0.0.0.0/0 on the NIC
BGP_INVALID = "tests/worlds/bgp-default-route-invalid-decoy"  # effective routes, no route table
CUSTOM_DNS = "tests/worlds/custom-dns-resolves"  # custom DNS servers and an FQDN member
IP_MEMBERS = "tests/worlds/nsg-asg-ip-member-decoy"  # IP members, the NICs holding them found by IP
TLS = "tests/worlds/tls-wildcard-decoy"  # HTTPS settings, healthy
SLOW = "tests/worlds/request-timeout-79-percent-decoy"  # latency metrics just under the threshold
PRIVATE = "tests/worlds/private-gateway-no-internet-egress"  # private gateway, public backends, no NAT

# Check -> piece it cannot do without -> worlds where losing that piece must make it `error`.
READS: dict[str, dict[str, tuple[str, ...]]] = {
    "gateway-running": {},  # the gateway alone (unreadable gateway = no diagnosis at all)
    "private-gateway-internet-egress": {"vnet": (PRIVATE,)},  # the gateway subnet: its NAT gateway
    "backend-pool-empty": {},
    "backend-pool-provisioned": {},
    "all-backends-unhealthy": {"backend_health": (HEALTHY,)},
    "backend-health-unknown": {"backend_health": (HEALTHY,)},
    "nsg-infra-ports": {"vnet": (HEALTHY,), "nsgs": (HEALTHY,)},
    "nsg-load-balancer": {"vnet": (HEALTHY,), "nsgs": (HEALTHY,)},
    "nsg-internet-outbound": {"vnet": (HEALTHY,), "nsgs": (HEALTHY,)},
    "nsg-backend": {
        "vnet": (HEALTHY, IP_MEMBERS),
        "nsgs": (HEALTHY, IP_MEMBERS),
        "nics": (HEALTHY, IP_MEMBERS),
    },
    "udr-default-route": {"vnet": (DECOY_NETWORK,), "route_tables": (DECOY_NETWORK,)},
    "udr-backend-route": {
        "vnet": (DECOY_NETWORK,),
        "route_tables": (DECOY_NETWORK,),
        "nics": (DECOY_NETWORK,),
    },
    # the route table only matters (as a shield) when a BGP default route is active on a NIC
    "bgp-default-route": {
        "effective_routes": (BGP_INVALID,),
        "vnet": (BGP_SHIELDED,),
        "route_tables": (BGP_SHIELDED,),
    },
    "dns-resolution": {"vnet": (CUSTOM_DNS,), "backend_health": (CUSTOM_DNS, HEALTHY)},
    "dns-unverified": {"vnet": (CUSTOM_DNS,)},
    "default-probe": {"backend_health": (DEFAULT_PROBE,)},
    "probe-detached": {},
    "probe-reference": {},
    "probe-config": {},
    "probe-log": {"backend_health": (HEALTHY, DEFAULT_PROBE)},
    "tls-hostname": {"backend_health": (TLS,)},
    "request-timeout": {"metrics": (SLOW,)},
}

# Check -> piece it reads but stands in for (how, in a comment) -> worlds where the piece is read.
FALLBACKS: dict[str, dict[str, tuple[str, ...]]] = {
    # the subnet and NIC NSG models, which the effective rules are made of
    "nsg-backend": {"effective_nsgs": (HEALTHY,)},
    # backend health only adds "the hop forwards today" to the title of a diverting route
    "udr-backend-route": {"backend_health": (DECOY_NETWORK,)},
    # with neither DNS answers nor health showing an FQDN healthy, it is reported unverified (info)
    "dns-unverified": {"backend_health": (CUSTOM_DNS,)},
}

WORLDS = sorted(
    {
        world
        for table in (READS, FALLBACKS)
        for pieces in table.values()
        for worlds in pieces.values()
        for world in worlds
    }
)


def test_the_map_covers_every_check_and_piece() -> None:
    assert set(READS) == {check.name for check in CHECKS}
    used = {piece for table in (READS, FALLBACKS) for pieces in table.values() for piece in pieces}
    assert used == set(PIECE_OPERATIONS), "every refusable piece is exercised by some check and world"
    for check, pieces in FALLBACKS.items():
        assert check in READS and not set(pieces) & set(READS[check]), check


def _diagnose(kit, world: dict, faults: list[FaultRule]) -> tuple[dict[str, CheckResult], set[str]]:
    """Each check's result on what the collector made of `world` under `faults`, and the
    operations that were answered 403."""
    snapshot, served = kit.collect(world, faults=faults)
    refused = {request.operation for request in served if request.status == 403}
    return {result.name: result for result in run_checks(snapshot)}, refused


def _describe(result: CheckResult) -> str:
    return f"{result.status.value} ({result.reason or 'no reason'})"


@pytest.mark.parametrize("world_dir", WORLDS, ids=[Path(w).name for w in WORLDS])
def test_an_unreadable_piece_is_an_error_for_the_checks_that_read_it_and_nothing_for_the_rest(world_dir, kit):
    world = json.loads((ROOT / world_dir / "world.json").read_text())
    baseline, _ = _diagnose(kit, world, [])
    problems: list[str] = []
    for piece, operations in PIECE_OPERATIONS.items():
        results, refused = _diagnose(kit, world, [FaultRule(op, "error", status=403) for op in operations])
        for name, before in baseline.items():
            after = results[name]
            where = f"{name} with {piece} refused (403) on {world_dir}"
            if world_dir in READS[name].get(piece, ()):
                if not refused & set(operations):
                    problems.append(f"{where}: the world makes no {'/'.join(operations)} call to refuse")
                elif after.status != CheckStatus.ERROR or "403" not in after.reason:
                    problems.append(f"{where}: {_describe(after)}, expected error naming the 403")
            elif piece in READS[name]:
                continue  # read, but this world is not one where the check needs it
            elif piece in FALLBACKS.get(name, {}):
                if world_dir in FALLBACKS[name][piece] and not refused & set(operations):
                    problems.append(f"{where}: the world makes no {'/'.join(operations)} call to refuse")
                if after.status != before.status and after.status not in (
                    CheckStatus.FAILED,
                    CheckStatus.ERROR,
                ):
                    problems.append(f"{where}: {_describe(after)}, was {_describe(before)}")
            elif after.status != before.status:
                problems.append(
                    f"{where}: {_describe(after)}, was {_describe(before)} — it reads {piece}, which "
                    "READS does not list"
                )
    assert not problems, "\n".join(problems)
