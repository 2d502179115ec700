"""`Arm.call(..., json_result=True)`: an SDK operation's answer as the JSON ARM sent, read through the
operation itself (`stream=True`), so its request, errors and retries are the operation's own."""

from __future__ import annotations

import pytest
from azure.mgmt.network import models as net

from core.arm import Arm, ArmCallFailed
from simulator import FaultRule
from tests.diagnostics.sized_world import sized_world

RG, GATEWAY = "rg-tenants", "agw-tenants"


def test_the_json_is_what_the_sdk_makes_its_model_of_from_the_same_request(simulator, clients):
    sim = simulator(sized_world(3, nics=True))
    arm = Arm(clients(sim))
    get = arm.clients.network.application_gateways.get

    raw = arm.call(get, RG, GATEWAY, json_result=True)
    model = arm.call(get, RG, GATEWAY)

    assert type(raw) is dict
    assert net.ApplicationGateway(raw) == model
    assert len(raw["properties"]["backendAddressPools"]) == len(model.backend_address_pools) == 3
    (_, json_url), (_, model_url) = arm.tally.requests
    assert json_url == model_url
    assert sim.requests.count("applicationGateways.get") == 2


def test_a_missing_gateway_fails_as_the_model_read_fails(simulator, clients):
    arm = Arm(clients(simulator(sized_world(1))))
    get = arm.clients.network.application_gateways.get

    with pytest.raises(ArmCallFailed) as as_json:
        arm.call(get, RG, "agw-nowhere", json_result=True)
    with pytest.raises(ArmCallFailed) as as_model:
        arm.call(get, RG, "agw-nowhere")

    assert as_json.value.status == as_model.value.status == 404
    assert as_json.value.reason == as_model.value.reason
    assert "ResourceNotFound" in as_json.value.reason


def test_a_throttled_read_is_retried_and_its_json_is_whole(simulator, clients):
    sim = simulator(
        sized_world(2),
        faults=[FaultRule("applicationGateways.get", "throttle", times=1, retry_after=0.01)],
    )
    arm = Arm(clients(sim))

    raw = arm.call(arm.clients.network.application_gateways.get, RG, GATEWAY, json_result=True)

    assert sim.requests.count("applicationGateways.get", status=429) == 1
    assert sim.requests.count("applicationGateways.get", status=200) == 1
    assert len(raw["properties"]["backendAddressPools"]) == 2
