"""BACKEND_POOL_EMPTY and BACKEND_POOL_NOT_PROVISIONED."""

from __future__ import annotations

import pytest

from diagnostics.checks.pools import EMPTY, NOT_PROVISIONED
from diagnostics.snapshot import MissingData
from model.findings import Severity


def empty_web_pool(kit):
    world = kit.healthy_world()
    pool = kit.gateway_part(world, "backendAddressPools", "web-pool")
    pool["properties"]["backendIPConfigurations"] = []
    pool["properties"]["backendAddresses"] = []
    return world, pool


def test_an_empty_pool_a_rule_uses_is_critical(kit):
    world, pool = empty_web_pool(kit)
    [finding] = EMPTY.run(kit.snapshot(world))
    assert (finding.code, finding.severity, finding.resource) == (
        "BACKEND_POOL_EMPTY",
        Severity.CRITICAL,
        pool["id"],
    )
    assert finding.evidence["rules"] == ["web-rule"]
    assert "web-pool" in finding.title


def test_address_entries_without_ip_or_fqdn_do_not_count_as_members(kit):
    world, pool = empty_web_pool(kit)
    pool["properties"]["backendAddresses"] = [{}]
    assert [f.code for f in EMPTY.run(kit.snapshot(world))] == ["BACKEND_POOL_EMPTY"]


def test_pools_with_addresses_or_nic_members_are_not_empty(kit):
    world, pool = empty_web_pool(kit)
    pool["properties"]["backendAddresses"] = [{"fqdn": "app.contoso.com"}]
    assert EMPTY.run(kit.snapshot(world)) == []
    assert EMPTY.run(kit.snapshot(kit.healthy_world())) == []  # NIC members only


def test_a_pool_holding_only_what_arm_would_not_return_is_not_called_empty(kit):
    """A bare string where a member object belongs: the pool's servers are unknown, so the check
    cannot tell (MissingData), rather than report an empty pool the gateway may not have."""
    world, pool = empty_web_pool(kit)
    pool["properties"]["backendAddresses"] = ["10.1.1.4"]
    with pytest.raises(MissingData, match="web-pool"):
        EMPTY.run(kit.snapshot(world))
    pool["properties"]["backendAddresses"] = ["10.1.1.4", {"ipAddress": "10.1.1.5"}]
    assert EMPTY.run(kit.snapshot(world)) == []  # it has a server: not empty


def test_an_empty_pool_no_rule_uses_is_not_a_finding(kit):
    world, _ = empty_web_pool(kit)
    kit.gateway_body(world)["properties"]["requestRoutingRules"] = []
    assert EMPTY.run(kit.snapshot(world)) == []


def test_a_pool_used_only_through_a_path_map_counts(kit):
    world = kit.load_world("tests/worlds/path-map-pool-empty/world.json")
    [finding] = EMPTY.run(kit.snapshot(world))
    assert finding.resource.endswith("/backendAddressPools/api-pool")


def test_a_pool_stuck_in_provisioning_is_a_warning(kit):
    world = kit.healthy_world()
    pool = kit.gateway_part(world, "backendAddressPools", "web-pool")
    pool["properties"]["provisioningState"] = "Failed"
    [finding] = NOT_PROVISIONED.run(kit.snapshot(world))
    assert (finding.code, finding.severity, finding.resource) == (
        "BACKEND_POOL_NOT_PROVISIONED",
        Severity.WARNING,
        pool["id"],
    )
    assert finding.evidence["provisioningState"] == "Failed"


def test_succeeded_or_unreported_provisioning_is_fine(kit):
    world = kit.healthy_world()
    assert NOT_PROVISIONED.run(kit.snapshot(world)) == []
    del kit.gateway_part(world, "backendAddressPools", "web-pool")["properties"]["provisioningState"]
    assert NOT_PROVISIONED.run(kit.snapshot(world)) == []
