"""Converting once and indexing once (the Snapshot's memoised members, routing pairs, converted
NSG rules and indexes; the collector's effective rules per NIC group; the simulator's indexes)
change nothing the checks find.

`sized_world_expected.json` holds what the checks found on generated large worlds (20 and 100 pools
of IP members — 100 is Azure's limit, 1,000 servers; 10 and 100 pools of NIC members) with the code before
any of it (commit 56282d6, which rebuilt every member per call, re-parsed every prefix per lookup
and converted every NSG per evaluation; the 100-pool IP entry took it 40 minutes): each check's status
and reason, and every finding in full. It was made with `summary()` below from that commit's
collector and simulator; regenerating it from the current code would prove nothing.

`shared_subnet_expected.json` holds the same for `shared_subnet_world` (20 and 100 pools: the servers'
IP addresses as members, all NICs in one subnet), made the same way with commit 01bb3be, whose
collector scanned every NIC of the subnet for each IP member (the 100-pool world took it 45 s).
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.network import models as net

from core.arm_ids import name_of
from diagnostics.engine import findings_of, run_checks
from diagnostics.snapshot import Collected, Snapshot, SubnetIndex, contents, key, subnet_containing
from netrules.nsg import Rule
from tests.diagnostics.conftest import snapshot_from_world
from tests.diagnostics.sized_world import shared_subnet_world, sized_world

EXPECTED = json.loads((Path(__file__).parent / "sized_world_expected.json").read_text())
SHARED_SUBNET_EXPECTED = json.loads((Path(__file__).parent / "shared_subnet_expected.json").read_text())


def summary(snapshot: Snapshot) -> dict[str, Any]:
    results = run_checks(snapshot)
    return {
        "checks": [[r.name, r.status.value, r.reason] for r in results],
        "findings": sorted([f.code, f.resource] for r in results for f in r.findings),
        # what the checks found (changes are attached after the checks, from the Activity Log)
        "findings_of": [
            {k: v for k, v in f.to_dict().items() if k != "changes"} for f in findings_of(results)
        ],
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


@pytest.mark.parametrize("expected", SHARED_SUBNET_EXPECTED, ids=lambda e: f"{e['world']['pools']}-pools")
def test_findings_on_a_large_shared_subnet_are_those_of_the_unindexed_code(expected):
    pools = expected["world"]["pools"]
    snapshot = snapshot_from_world(shared_subnet_world(pools))
    assert len(snapshot.nics) == 10 * pools  # every server's NIC identified from its address
    assert summary(snapshot) == {name: expected[name] for name in ("checks", "findings", "findings_of")}
    assert len(expected["findings"]) >= len([p for p in range(pools) if p % 5 == 4])


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


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Record the NSG id of every rule `Rule.<name>` converts from its SDK model."""
    converted: list[str] = []
    convert = getattr(Rule, name).__func__

    def counted(cls: type[Rule], rule: Any, **kwargs: Any) -> Rule:
        made = convert(cls, rule, **kwargs)
        converted.append(key((made.rule_id or "").rsplit("/", 2)[0]))
        return made

    monkeypatch.setattr(Rule, name, classmethod(counted))
    return converted


def test_each_nsg_is_converted_once_per_snapshot(monkeypatch):
    snapshot = snapshot_from_world(sized_world(10))
    converted = _counting(monkeypatch, "from_security_rule")
    run_checks(snapshot)
    run_checks(snapshot)
    rules = {
        nsg_key: len(nsg.security_rules or []) + len(nsg.default_security_rules or [])
        for nsg_key, nsg in snapshot.nsgs.items()
    }
    assert Counter(converted) == Counter(rules)  # every rule of every NSG, once over both runs


def test_each_effective_nsg_is_converted_once_per_snapshot(monkeypatch):
    snapshot = snapshot_from_world(sized_world(10, nics=True))
    groups = {id(g): g for groups in snapshot.effective_nsgs.values() for g in groups}
    assert len(groups) < len(snapshot.effective_nsgs)  # NICs of a group of equal answers share it
    converted = _counting(monkeypatch, "from_effective_rule")
    run_checks(snapshot)
    run_checks(snapshot)
    assert len(converted) == sum(len(g.get("effectiveSecurityRules") or []) for g in groups.values())


def _blocked_nsgs(snapshot: Snapshot) -> set[str]:
    (result,) = [r for r in run_checks(snapshot) if r.name == "nsg-backend"]
    return {name_of(f.evidence["nsg"]) for f in result.findings}


def test_replacing_an_nsg_after_a_run_is_seen():
    snapshot = snapshot_from_world(sized_world(10))
    assert _blocked_nsgs(snapshot) == {"nsg-tenant-004", "nsg-tenant-009"}
    nsg_key = next(k for k in snapshot.nsgs if k.endswith("/nsg-tenant-004"))
    body = snapshot.nsgs[nsg_key].as_dict()
    body["properties"]["securityRules"] = [
        r for r in body["properties"]["securityRules"] if r["name"] != "DenyAppGateway"
    ]
    snapshot.nsgs[nsg_key] = net.NetworkSecurityGroup(body)
    assert _blocked_nsgs(snapshot) == {"nsg-tenant-009"}


def test_a_collected_dict_takes_a_new_version_on_every_change():
    resources = Collected(a=1)
    changes = [
        lambda d: d.__setitem__("b", 2),
        lambda d: d.__delitem__("b"),
        lambda d: d.pop("a"),
        lambda d: d.setdefault("c", 3),
        lambda d: d.update(d=4),
        lambda d: d.__ior__({"e": 5}),
        lambda d: d.popitem(),
        lambda d: d.clear(),
    ]
    for change in changes:
        before = contents(resources)
        change(resources)
        assert contents(resources) != before
    plain = {"a": 1}
    assert contents(plain) == ("a", 1)  # a plain dict stands in by all its keys and values
