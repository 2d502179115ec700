"""`core.arm.list_json`: a resource group's list read as plain ARM JSON through the SDK client's own
pipeline, page after page, failing as the SDK's list operation fails."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from azure.core.exceptions import ResourceNotFoundError

from core.arm import NETWORK_API_VERSION, Arm, ArmCallFailed, list_json
from simulator import FaultRule
from tests.diagnostics.sized_world import SUBSCRIPTION, sized_world

RG = "rg-tenants"
NICS = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Network/networkInterfaces"


def _list_nics(arm: Arm, path: str = NICS) -> list:
    network = arm.clients.network
    return arm.call(lambda **options: list_json(network, path, api_version=NETWORK_API_VERSION, **options))


def test_every_page_is_read_and_each_nic_is_the_json_the_sdk_reads_its_model_from(simulator, clients):
    sim = simulator(sized_world(1, nics=True), list_page_size=3)  # 10 NICs: 4 pages
    arm = Arm(clients(sim))

    listed = _list_nics(arm)

    assert arm.calls == 4
    assert sim.requests.count("networkInterfaces.list") == 4
    sdk_listed = list(arm.clients.network.network_interfaces.list(RG))  # the SDK follows the pages too
    assert len(listed) == len(sdk_listed) == 10
    for item, model in zip(listed, sdk_listed, strict=True):
        assert type(item) is dict
        assert item["id"] == model.id
        assert item["etag"] == model.etag
        configuration = item["properties"]["ipConfigurations"][0]
        assert (
            configuration["properties"]["privateIPAddress"] == model.ip_configurations[0].private_ip_address
        )
        assert configuration["properties"]["subnet"]["id"] == model.ip_configurations[0].subnet.id
        assert item["name"] == model.name


def test_lists_are_read_with_the_api_version_the_sdk_itself_sends(simulator, clients):
    """`NETWORK_API_VERSION` is the one azure-mgmt-network's list operation sends: a newer SDK that
    moves on fails here, not in Azure."""
    arm = Arm(clients(simulator(sized_world(1, nics=True))))

    arm.call(lambda **options: list(arm.clients.network.network_interfaces.list(RG, **options)))
    _list_nics(arm)

    (_, sdk_url), (_, json_url) = arm.tally.requests
    assert parse_qs(urlparse(sdk_url).query)["api-version"] == [NETWORK_API_VERSION]
    assert urlparse(json_url).path == urlparse(sdk_url).path
    assert parse_qs(urlparse(json_url).query) == parse_qs(urlparse(sdk_url).query)


def test_a_missing_resource_group_fails_as_the_sdk_list_fails(simulator, clients):
    arm = Arm(clients(simulator(sized_world(1, nics=True))))
    missing = NICS.replace(RG, "rg-nowhere")

    with pytest.raises(ArmCallFailed) as listed:
        _list_nics(arm, missing)
    with pytest.raises(ArmCallFailed) as sdk_listed:
        arm.call(lambda **options: list(arm.clients.network.network_interfaces.list("rg-nowhere", **options)))
    with pytest.raises(ResourceNotFoundError):
        list_json(arm.clients.network, missing, api_version=NETWORK_API_VERSION)

    assert listed.value.status == sdk_listed.value.status == 404
    assert listed.value.reason == sdk_listed.value.reason
    assert "ResourceGroupNotFound" in listed.value.reason


def test_a_throttled_page_is_retried_and_the_list_is_whole(simulator, clients):
    sim = simulator(
        sized_world(1, nics=True),
        list_page_size=4,
        faults=[FaultRule("networkInterfaces.list", "throttle", times=1, retry_after=0.01)],
    )
    arm = Arm(clients(sim))

    listed = _list_nics(arm)

    assert len({item["id"] for item in listed}) == 10
    assert sim.requests.count("networkInterfaces.list", status=429) == 1
