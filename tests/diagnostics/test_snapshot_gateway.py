"""The gateway in a collected Snapshot is the JSON ARM sent: checks, "what changed?" and the pipeline
read it by wire names and per-item models, and the SDK's model of the whole gateway is made only for
a reader that asks for it (`Snapshot.gateway`), equal to the one the SDK's `get` makes."""

from __future__ import annotations

import copy
from pathlib import Path

from azure.mgmt.network import models as net

from diagnostics.changes import configuration, path_resources
from diagnostics.diagnosis import path_changes
from diagnostics.engine import findings_of, run_checks
from diagnostics.snapshot import (
    GATEWAY_COLLECTIONS,
    MalformedMembers,
    gateway_model,
    routing_pairs,
)
from tests.diagnostics.conftest import (
    SCENARIOS,
    WORLDS,
    gateway_body,
    snapshot_from_world,
    snapshot_per_world,
)
from tests.diagnostics.sized_world import sized_world

# worlds with path maps, NIC members, FQDNs, HTTPS settings, probes of every kind, a private gateway
WORLD_FILES = [
    SCENARIOS / "nsg-backend-subnet" / "world.json",
    SCENARIOS / "tls-cn-mismatch" / "world.json",
    SCENARIOS / "default-probe" / "world.json",
    SCENARIOS / "private-gateway" / "world.json",
    *sorted(Path(WORLDS).glob("*path*/world.json"))[:2],
]

snapshot = snapshot_per_world(WORLD_FILES)


def test_a_diagnosis_never_makes_the_whole_gateway_model(snapshot):
    results = run_checks(snapshot)
    path_changes(snapshot, findings_of(results), list(results), None)
    assert snapshot.gateway_json is not None
    assert not snapshot.gateway_model_made


def test_the_model_made_on_request_is_the_sdks_model_of_the_json(snapshot):
    fresh = copy.copy(snapshot)  # the model, once made, stays with the copy
    assert fresh.gateway == net.ApplicationGateway(snapshot.gateway_json)
    assert fresh.gateway_model_made and fresh.gateway is fresh.gateway


def test_each_items_model_is_the_whole_models_item(snapshot):
    whole = gateway_model(snapshot.gateway_json)
    for collection in GATEWAY_COLLECTIONS:
        items = snapshot.gateway_items(collection)
        assert items == list(getattr(whole, collection) or [])
        for item in items:
            assert snapshot._child(collection, item.id.upper()) is item  # ids compare as ARM does


def test_wire_readings_match_the_models(snapshot):
    whole = gateway_model(snapshot.gateway_json)
    assert routing_pairs(snapshot.gateway_json) == routing_pairs(whole)
    malformed_json, malformed_model = MalformedMembers(snapshot.gateway_json), MalformedMembers(whole)
    assert malformed_json.of() == malformed_model.of()
    facts = ("is_v2", "is_network_isolated", "has_public_frontend", "gateway_subnet_id")
    before = {fact: getattr(snapshot, fact) for fact in facts}
    config, path = configuration(snapshot, snapshot.incident_time), path_resources(snapshot)
    given = copy.copy(snapshot)
    given._memo = {}
    given.gateway = whole  # a model set replaces the JSON it no longer stands for
    assert given.gateway_json is None and given.gateway_wire is whole
    assert {fact: getattr(given, fact) for fact in facts} == before
    assert configuration(given, given.incident_time) == config and path_resources(given) == path


def test_malformed_members_are_read_from_the_json():
    world = sized_world(2)
    pools = gateway_body(world)["properties"]["backendAddressPools"]
    pools[0]["properties"]["backendAddresses"] += ["10.9.9.9", {"ipAddress": 7}]
    pools[1]["properties"]["backendIPConfigurations"] = "nic"
    pools.append("not a pool")
    found = MalformedMembers(gateway_body(world))
    assert found.of() == [
        "pool tenant-000: backendAddresses[10] is str '10.9.9.9', not an object",
        "pool tenant-000: backendAddresses[11] has a non-string ipAddress/fqdn",
        "pool tenant-001: backendIPConfigurations is str 'nic', not a list",
        "pool [2] could not be read: 'not a pool'",
    ]
    assert found.of(pools[1]["id"].upper()) == [
        "pool tenant-001: backendIPConfigurations is str 'nic', not a list"
    ]


def test_checks_make_models_only_of_the_items_they_report():
    """At 10 pools (2 of them unhealthy) every settings, probe and pool is read by the checks that
    read them all by wire names, with a model made only for an item a finding names or a check looks
    into (the probes of the unhealthy pools, whose logs are read)."""
    snapshot = snapshot_from_world(sized_world(10, nics=True))
    findings = findings_of(run_checks(snapshot))
    assert findings  # the unhealthy pools are reported
    named = {f.resource.lower() for f in findings}
    unhealthy = {"tenant-004", "tenant-009"}
    for collection in ("backend_http_settings_collection", "probes", "backend_address_pools"):
        made = {k for k, model in snapshot._gateway_index(collection)._made.items() if model is not None}
        assert {k for k in made if k not in named and k.rsplit("/", 1)[-1] not in unhealthy} == set()
        assert len(made) <= len(unhealthy) < len(snapshot.gateway_items_wire(collection)), collection
