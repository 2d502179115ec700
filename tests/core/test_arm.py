"""core.arm against the simulator: conditional writes (If-Match) and typed failures."""

from __future__ import annotations

import pytest

from core.arm import Arm, ArmCallFailed, PreconditionFailed
from simulator import FaultRule

SCENARIO = "scenarios/request-timeout/world.json"
RG = "rg-contoso-web"
GATEWAY = "agw-contoso"


def test_write_if_match_with_current_etag_writes(simulator, clients):
    sim = simulator(SCENARIO)
    arm = Arm(clients(sim), budget_seconds=30)
    network = arm.clients.network
    gateway = arm.call(network.application_gateways.get, RG, GATEWAY)
    gateway.tags = {**(gateway.tags or {}), "touchedBy": "appgw-doctor"}

    written = arm.write_if_match(
        network.application_gateways.begin_create_or_update, RG, GATEWAY, gateway, etag=gateway.etag
    )

    assert written.tags["touchedBy"] == "appgw-doctor"
    assert network.application_gateways.get(RG, GATEWAY).etag != gateway.etag
    assert sim.requests.count("applicationGateways.createOrUpdate") == 1


def test_write_if_match_refuses_to_overwrite_a_concurrent_change(simulator, clients):
    change = {"tags": {"changedBy": "someone-else"}}
    sim = simulator(
        SCENARIO,
        faults=[FaultRule("applicationGateways.createOrUpdate", "concurrent-write", change=change, times=1)],
    )
    arm = Arm(clients(sim), budget_seconds=30)
    network = arm.clients.network
    gateway = arm.call(network.application_gateways.get, RG, GATEWAY)
    gateway.tags = {"touchedBy": "appgw-doctor"}

    with pytest.raises(PreconditionFailed) as raised:
        arm.write_if_match(
            network.application_gateways.begin_create_or_update, RG, GATEWAY, gateway, etag=gateway.etag
        )

    assert raised.value.status == 412
    assert isinstance(raised.value, ArmCallFailed)
    assert "412" in raised.value.reason
    current = network.application_gateways.get(RG, GATEWAY)
    assert current.tags == {"changedBy": "someone-else"}


def test_write_if_match_with_stale_etag_is_not_retried(simulator, clients):
    sim = simulator(SCENARIO)
    arm = Arm(clients(sim), budget_seconds=30)
    network = arm.clients.network
    gateway = arm.call(network.application_gateways.get, RG, GATEWAY)
    stale = gateway.etag
    arm.write_if_match(network.application_gateways.begin_create_or_update, RG, GATEWAY, gateway, etag=stale)

    with pytest.raises(PreconditionFailed):
        arm.write_if_match(
            network.application_gateways.begin_create_or_update, RG, GATEWAY, gateway, etag=stale
        )

    assert sim.requests.count("applicationGateways.createOrUpdate", status=412) == 1
    assert sim.requests.count("applicationGateways.createOrUpdate") == 2


def test_write_if_match_needs_an_etag(simulator, clients):
    sim = simulator(SCENARIO)
    arm = Arm(clients(sim), budget_seconds=30)
    network = arm.clients.network
    gateway = arm.call(network.application_gateways.get, RG, GATEWAY)

    with pytest.raises(ValueError, match="etag"):
        arm.write_if_match(network.application_gateways.begin_create_or_update, RG, GATEWAY, gateway, etag="")

    assert sim.requests.count("applicationGateways.createOrUpdate") == 0
