"""The VNets in a collected Snapshot are the JSON ARM sent, and so are the subnets taken from them:
collection, the checks, "what changed?" and the pipeline read them by wire names, as they read the
SDK models tests (and a subnet GET) give them; no VNet model is made (a VNet's subnets list every IP
configuration in them, a thousand at Azure's limits)."""

from __future__ import annotations

import copy

from azure.mgmt.network import models as net

from appgw_doctor.incremental import path_resources as incremental_path_resources
from diagnostics.changes import configuration, path_resources
from diagnostics.engine import run_checks
from diagnostics.snapshot import (
    address_space,
    custom_dns_servers,
    is_json_object,
    peered_vnet_holding,
    peering_prefixes,
    subnet_containing,
    virtual_network_tag,
)
from tests.diagnostics.conftest import SCENARIOS, WORLDS, snapshot_from_world, snapshot_per_world

# custom DNS, peered spokes (connected, blocked, by NIC and by IP), a private gateway with a NAT
# gateway decoy, a route table on the gateway subnet
WORLD_FILES = [
    SCENARIOS / "custom-dns" / "world.json",
    SCENARIOS / "private-gateway" / "world.json",
    SCENARIOS / "udr-blackhole" / "world.json",
    WORLDS / "nsg-peered-spoke-blocked" / "world.json",
    WORLDS / "nsg-peered-spoke-nic-decoy" / "world.json",
    WORLDS / "private-gateway-nat-egress-decoy" / "world.json",
]

snapshot = snapshot_per_world(WORLD_FILES)


def _as_models(snapshot):
    """The snapshot with its VNets and subnets given as the SDK's models of the same JSON."""
    given = copy.copy(snapshot)
    given._memo = {}
    given.vnet = net.VirtualNetwork(snapshot.vnet)
    given.peered_vnets = {k: net.VirtualNetwork(v) for k, v in snapshot.peered_vnets.items()}
    given.subnets = {k: net.Subnet(v) for k, v in snapshot.subnets.items()}
    given.gateway_subnet = given.subnets.get(snapshot.gateway_subnet_id.lower())
    return given


def test_vnets_and_their_subnets_are_collected_as_json(snapshot):
    assert is_json_object(snapshot.vnet)
    assert all(is_json_object(v) for v in snapshot.peered_vnets.values())
    in_vnets = [s for k, s in snapshot.subnets.items() if k.rsplit("/subnets/", 1)[0] in _vnet_keys(snapshot)]
    assert in_vnets and all(is_json_object(s) for s in in_vnets)
    assert is_json_object(snapshot.gateway_subnet)


def _vnet_keys(snapshot):
    return {v["id"].lower() for v in (snapshot.vnet, *snapshot.peered_vnets.values())}


def test_vnet_facts_read_the_same_from_json_and_models(snapshot):
    for vnet in (snapshot.vnet, *snapshot.peered_vnets.values()):
        model = net.VirtualNetwork(vnet)
        for fact in (address_space, peering_prefixes, virtual_network_tag, custom_dns_servers):
            assert fact(vnet) == fact(model), fact.__name__
        addresses = ["10.0.0.4", "10.1.1.4", "10.2.1.4", "10.20.1.5", "172.16.0.9", "192.168.1.1"]
        for address in addresses:
            assert subnet_containing(vnet, address) == subnet_containing(model, address)
            assert peered_vnet_holding(vnet, address) == peered_vnet_holding(model, address)
    # the worlds hold what the comparison is about
    assert address_space(snapshot.vnet)


def test_checks_and_what_changed_read_the_same_from_json_and_models(snapshot):
    given = _as_models(snapshot)
    assert [r.to_dict() for r in run_checks(given)] == [r.to_dict() for r in run_checks(snapshot)]
    assert configuration(given, given.incident_time) == configuration(snapshot, snapshot.incident_time)
    assert path_resources(given) == path_resources(snapshot)
    assert incremental_path_resources(given) == incremental_path_resources(snapshot)


def test_the_worlds_cover_peerings_custom_dns_and_route_tables():
    snapshots = [snapshot_from_world(str(p.relative_to(SCENARIOS.parent))) for p in WORLD_FILES]
    assert any(peering_prefixes(s.vnet) for s in snapshots)
    assert any(s.peered_vnets for s in snapshots)
    assert any(custom_dns_servers(s.vnet) for s in snapshots)
    assert any(s.gateway_route_table() is not None for s in snapshots)
