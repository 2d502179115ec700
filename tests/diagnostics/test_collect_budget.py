"""The per-diagnosis ARM request budget (issue 11), counted on the requests the simulator served: the
sized worlds of 10 and 100 pools (IP members, and NIC members: 1,000 NIC-backed servers) stay within
ARM_REQUEST_BUDGET, and under throttling each long-running operation is started exactly once."""

from __future__ import annotations

from collections import Counter

import pytest

from core.arm import Arm
from core.azure_clients import ArmTarget, make_clients
from core.iso8601 import parse_time
from diagnostics.collect import ARM_REQUEST_BUDGET, collect
from simulator import FaultRule, Simulator
from tests.diagnostics.sized_world import GATEWAY_ID, sized_world, unhealthy

LONG_RUNNING = (
    "applicationGateways.backendHealth",
    "networkInterfaces.getEffectiveRouteTable",
    "networkInterfaces.listEffectiveNetworkSecurityGroups",
)


def unhealthy_pool(pool_id: str) -> bool:
    return unhealthy(int(pool_id.rsplit("-", 1)[1]))


def collected(world, *, faults=(), budget_seconds=300.0):
    with Simulator(world, faults=list(faults), seed=11) as sim:
        azure = make_clients(
            sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=0.05
        )
        try:
            snapshot = collect(
                GATEWAY_ID,
                arm=Arm(azure, budget_seconds=budget_seconds),
                incident_time=parse_time(world["clock"]),
            )
        finally:
            azure.close()
        return snapshot, list(sim.requests.served)


@pytest.mark.parametrize("nics", [False, True], ids=["ip", "nic"])
@pytest.mark.parametrize("pools", [10, 100])
def test_a_sized_world_is_diagnosed_within_the_arm_request_budget(pools, nics):
    snapshot, served = collected(sized_world(pools, nics=nics))

    assert len(served) <= ARM_REQUEST_BUDGET, Counter(s.operation for s in served).most_common(8)
    operations = Counter(s.operation for s in served)
    if pools == 100:  # the backend subnets' 100 NSGs (and the gateway subnet's, with IP members): 1 list
        assert operations["networkSecurityGroups.list"] == 1
        assert operations["networkSecurityGroups.get"] == (1 if nics else 0)
    assert snapshot.backend_health is not None
    assert not [piece for piece in snapshot.errors if not piece.startswith("metrics/")], snapshot.errors
    if nics:  # every NIC behind an unhealthy server has its own effective data
        unhealthy = {
            m.nic_id.lower() for m in snapshot.backend_members() if m.nic_id and unhealthy_pool(m.pool_id)
        }
        assert len(unhealthy) == 10 * (pools // 5)
        assert unhealthy <= set(snapshot.effective_nsgs) and unhealthy <= set(snapshot.effective_routes)


def test_throttled_polls_and_starts_are_retried_and_every_operation_is_started_once():
    throttled = [
        FaultRule("operations.get", "throttle", rate=0.5, retry_after=0.05),
        FaultRule("operationResults.get", "throttle", rate=0.5, retry_after=0.05),
        *(FaultRule(operation, "throttle", rate=0.5, retry_after=0.05) for operation in LONG_RUNNING),
    ]
    snapshot, served = collected(sized_world(10, nics=True), faults=throttled, budget_seconds=60)

    assert snapshot.backend_health is not None
    assert len(snapshot.effective_routes) == len(snapshot.effective_nsgs) == 20  # the unhealthy pools' NICs
    assert not {"backend_health", "effective_routes", "effective_nsgs"} & set(snapshot.errors)
    posts = [s for s in served if s.method == "POST"]
    polls = [s for s in served if s.operation in ("operations.get", "operationResults.get")]
    assert any(s.status == 429 for s in polls) and any(s.status == 429 for s in posts)
    started = [s for s in posts if s.status == 202]
    assert len(started) == 1 + 2 + 2  # backend health, 2 route groups, 2 NSG groups: each started once
    assert len(posts) == len(started) + sum(1 for s in posts if s.status == 429)
