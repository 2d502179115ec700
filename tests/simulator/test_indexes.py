"""What the simulator indexes to keep up with large worlds: the estate's back-references and its
resources by collection (kept per state of the world, dropped by every change), and the subnets
of the gateway's VNets by the addresses they hold (per derivation)."""

from __future__ import annotations

import copy

import pytest
from azure.mgmt.network import models

from simulator.health import SubnetsByAddress
from simulator.world import load_world
from tests.diagnostics.sized_world import GATEWAY_ID, GROUP, VNET_ID, sized_world

RG = "rg-tenants"
GATEWAY = "agw-tenants"


def pool_health(network) -> dict[str, set[str]]:
    """Pool name -> the health states of its servers."""
    health = network.application_gateways.begin_backend_health(RG, GATEWAY).result()
    return {
        pool.backend_address_pool.id.rsplit("/", 1)[1]: {
            server.health for settings in pool.backend_http_settings_collection for server in settings.servers
        }
        for pool in health.backend_address_pools
    }


def subnets_of(network, nsg: str) -> list[str]:
    return sorted(
        subnet.id.rsplit("/", 1)[1] for subnet in network.network_security_groups.get(RG, nsg).subnets or []
    )


def test_a_subnet_write_moves_its_back_reference_and_its_health(simulator, clients):
    """Pool 4's NSG denies the gateway; moving pool 1's subnet onto that NSG through the ARM API
    shows at once in the NSGs' back-references and in backend health, both already served once."""
    network = clients(simulator(sized_world(5))).network
    assert pool_health(network) == {
        "tenant-000": {"Healthy"},
        "tenant-001": {"Healthy"},
        "tenant-002": {"Healthy"},
        "tenant-003": {"Healthy"},
        "tenant-004": {"Unhealthy"},
    }
    assert subnets_of(network, "nsg-tenant-001") == ["backend-tenant-001"]
    assert subnets_of(network, "nsg-tenant-004") == ["backend-tenant-004"]

    subnet = network.subnets.get(RG, "vnet-tenants", "backend-tenant-001")
    subnet.network_security_group = models.NetworkSecurityGroup(
        id=f"{GROUP}/networkSecurityGroups/nsg-tenant-004"
    )
    network.subnets.begin_create_or_update(RG, "vnet-tenants", "backend-tenant-001", subnet).result()

    assert subnets_of(network, "nsg-tenant-001") == []
    assert subnets_of(network, "nsg-tenant-004") == ["backend-tenant-001", "backend-tenant-004"]
    assert pool_health(network)["tenant-001"] == {"Unhealthy"}


def test_a_gateway_created_after_a_list_is_listed(simulator, clients):
    network = clients(simulator(sized_world(1))).network
    assert [g.name for g in network.application_gateways.list(RG)] == [GATEWAY]

    gateway = network.application_gateways.get(RG, GATEWAY)
    network.application_gateways.begin_create_or_update(RG, "agw-second", gateway).result()

    assert [g.name for g in network.application_gateways.list(RG)] == [GATEWAY, "agw-second"]
    assert [g.name for g in network.application_gateways.list_all()] == [GATEWAY, "agw-second"]


def test_what_is_derived_is_kept_until_the_resources_change():
    world = load_world(sized_world(1))
    builds = []

    def build() -> int:
        builds.append(1)
        return len(builds)

    assert world.derived("count", build) == world.derived("count", build) == 1
    world.set_provisioning_state(GATEWAY_ID, "Updating")  # not a write, but the resources changed
    assert world.derived("count", build) == 2
    world.patch(GATEWAY_ID, {"tags": {"owner": "someone"}})
    assert world.derived("count", build) == 3
    assert world.derived("count", build) == 3


# --- the subnets of the gateway's VNets by address -------------------------------------


def vnet(name: str, *prefixes: str | list[str]) -> dict:
    """A VNet whose subnets have these prefixes (a list: the subnet's addressPrefixes)."""
    subnets = []
    for index, prefix in enumerate(prefixes):
        properties = {"addressPrefixes": prefix} if isinstance(prefix, list) else {"addressPrefix": prefix}
        subnets.append(
            {"id": f"{VNET_ID}-{name}/subnets/s{index}", "name": f"s{index}", "properties": properties}
        )
    return {"id": f"{VNET_ID}-{name}", "properties": {"subnets": subnets}}


def held_by(index: SubnetsByAddress, ip: str) -> str | None:
    subnet, found_vnet = index.find(ip)
    return None if subnet is None else f"{found_vnet['id'].rsplit('-', 1)[1]}/{subnet['name']}"


def test_the_first_subnet_in_order_holds_an_address_not_the_narrowest():
    index = SubnetsByAddress([vnet("a", "10.0.0.0/16", "10.0.1.0/24"), vnet("b", "10.0.1.0/24")])
    assert held_by(index, "10.0.1.5") == "a/s0"
    assert held_by(index, "10.1.0.1") is None


def test_a_later_subnet_or_vnet_and_a_subnet_of_several_prefixes_hold_their_addresses():
    index = SubnetsByAddress(
        [vnet("a", "10.0.1.0/24", ["10.2.0.0/24", "10.3.0.0/24"]), vnet("b", "10.0.0.0/16")]
    )
    assert held_by(index, "10.3.0.9") == "a/s1"
    assert held_by(index, "10.0.7.1") == "b/s0"
    assert held_by(index, "2001:db8::1") is None


def test_an_unreadable_prefix_fails_only_the_addresses_a_scan_would_reach_it_for():
    index = SubnetsByAddress([vnet("a", "10.0.0.0/24", "not-a-prefix", "10.1.0.0/24")])
    assert held_by(index, "10.0.0.5") == "a/s0"
    with pytest.raises(ValueError, match="not-a-prefix"):
        index.find("10.1.0.5")  # the scan stops at the unreadable prefix before it gets there
    with pytest.raises(ValueError, match="not-a-prefix"):
        index.find("192.168.0.1")


def test_the_index_reads_without_changing_the_vnets():
    vnets = [vnet("a", "10.0.0.0/24", ["10.2.0.0/24"])]
    before = copy.deepcopy(vnets)
    held_by(SubnetsByAddress(vnets), "10.2.0.1")
    assert vnets == before
