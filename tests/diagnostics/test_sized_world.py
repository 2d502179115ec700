"""The Snapshot's memoised members, routing pairs and indexes (NIC by subnet and IP, subnet by
address) change nothing the checks find.

`sized_world_expected.json` holds what the checks found on two generated large worlds (20 pools of
IP members; 10 pools of NIC members) with the code before the indexes (commit 56282d6, which rebuilt
every member per call and re-parsed every prefix per lookup): each check's status and reason, and
every finding in full. It was made with `summary()` below; regenerating it from the current code
would prove nothing.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.network import models as net

from diagnostics.engine import findings_of, run_checks
from diagnostics.snapshot import Snapshot, SubnetIndex, key, subnet_containing
from tests.diagnostics.conftest import snapshot_from_world
from tests.diagnostics.sized_world import sized_world

EXPECTED = json.loads((Path(__file__).parent / "sized_world_expected.json").read_text())


def summary(snapshot: Snapshot) -> dict[str, Any]:
    results = run_checks(snapshot)
    return {
        "checks": [[r.name, r.status.value, r.reason] for r in results],
        "findings": sorted([f.code, f.resource] for r in results for f in r.findings),
        "findings_of": [f.to_dict() for f in findings_of(results)],
    }


@pytest.mark.parametrize(
    "expected", EXPECTED, ids=lambda e: f"{e['world']['pools']}-pools-nics-{e['world']['nics']}"
)
def test_findings_on_a_large_world_are_those_of_the_unindexed_code(expected):
    world = expected["world"]
    snapshot = snapshot_from_world(sized_world(world["pools"], nics=world["nics"]))
    first = summary(snapshot)
    assert first == {name: expected[name] for name in ("checks", "findings", "findings_of")}
    assert len(first["findings"]) == 3 * len([p for p in range(world["pools"]) if p % 5 == 4])
    assert summary(snapshot) == first  # a second run over the memoised snapshot: the same


def test_replacing_a_nic_after_a_run_derives_members_anew():
    snapshot = snapshot_from_world(sized_world(1, nics=True))
    (pool,) = {key(m.pool_id): m.pool_id for m in snapshot.backend_members()}.values()
    assert all(m.address for m in snapshot.backend_members(pool))
    nic_key = key(snapshot.backend_members(pool)[0].nic_id)
    nic = snapshot.nics.pop(nic_key)
    assert snapshot.backend_members(pool)[0].address == ""  # no longer resolvable: not a stale answer
    snapshot.nics[nic_key] = nic
    assert snapshot.backend_members(pool)[0].address == "10.1.0.4"
    assert snapshot.nic_holding(snapshot.backend_members(pool)[0].subnet_id or "", "10.1.0.4") is nic


def test_errors_recorded_after_a_run_are_reported():
    snapshot = snapshot_from_world(sized_world(5))
    assert [r.status.value for r in run_checks(snapshot)][:4] == ["passed", "passed", "passed", "failed"]
    snapshot.backend_health = None
    snapshot.errors["backend_health"] = "throttled past retries (429)"
    statuses = {r.name: (r.status.value, r.reason) for r in run_checks(snapshot)}
    assert statuses["all-backends-unhealthy"] == ("error", "backend_health: throttled past retries (429)")


def reference_subnet(vnet: net.VirtualNetwork, ip: str) -> str | None:
    """Longest prefix holding `ip`, first listed on a tie, parsing every prefix (the code before)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    best: tuple[int, str] | None = None
    for subnet in vnet.subnets or []:
        for prefix in [
            *(subnet.address_prefixes or []),
            *([subnet.address_prefix] if subnet.address_prefix else []),
        ]:
            try:
                network = ipaddress.ip_network(prefix.strip(), strict=False)
            except ValueError:
                continue
            if address in network and (best is None or network.prefixlen > best[0]):
                best = (network.prefixlen, subnet.id)
    return best[1] if best else None


def test_the_prefix_index_finds_what_scanning_every_prefix_finds():
    vnet_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v"
    subnets = [
        ("wide", {"addressPrefix": "10.0.0.0/16"}),
        ("narrow", {"addressPrefix": "10.0.1.0/24"}),
        ("narrow-again", {"addressPrefix": "10.0.1.0/24"}),  # a tie: the first listed wins
        ("several", {"addressPrefixes": ["10.0.2.0/25", " 10.0.3.7/24 "], "addressPrefix": "10.0.4.0/30"}),
        ("bad", {"addressPrefix": "not-a-prefix"}),
        ("v6", {"addressPrefixes": ["fd00::/64", "fd00::/56"]}),
        ("host", {"addressPrefix": "10.0.1.9/32"}),
        ("zero", {"addressPrefix": "0.0.0.0/0"}),
    ]
    vnet = net.VirtualNetwork(
        {
            "id": vnet_id,
            "properties": {
                "subnets": [
                    {"id": f"{vnet_id}/subnets/{name}", "name": name, "properties": props}
                    for name, props in subnets
                ]
            },
        }
    )
    addresses = [
        "10.0.0.1", "10.0.1.1", "10.0.1.9", "10.0.2.1", "10.0.2.200", "10.0.3.1", "10.0.4.3", "10.0.4.4",
        "10.1.0.0", "192.168.1.1", "fd00::1", "fd00:0:0:ff::1", "fe80::1", "bogus", "",
    ]  # fmt: skip
    index = SubnetIndex(vnet)
    for address in addresses:
        assert index.lookup(address) == subnet_containing(vnet, address) == reference_subnet(vnet, address)
    assert index.lookup("10.0.1.1") == f"{vnet_id}/subnets/narrow"
    assert index.lookup("fd00:0:0:ff::1") == f"{vnet_id}/subnets/v6"
