"""core.arm long-running operations against the simulator: a throttled or failing status poll is
retried as a poll (the poller resumed from its continuation token), never by starting the operation
again, and the starting request alone is retried when ARM refuses it."""

from __future__ import annotations

import pytest

from core.arm import Arm, ArmCallFailed
from simulator import FaultRule

SCENARIO = "scenarios/request-timeout/world.json"
RG = "rg-contoso-web"
GATEWAY = "agw-contoso"
HEALTH = "applicationGateways.backendHealth"
STATUS = "operations.get"
POLLS = ("operations.get", "operationResults.get")


def backend_health(arm: Arm, *, json_result: bool = False):
    begin = arm.clients.network.application_gateways.begin_backend_health
    return arm.long_running(begin, RG, GATEWAY, json_result=json_result)


def pools(health) -> list:
    return health["backendAddressPools"] if isinstance(health, dict) else health.backend_address_pools


def started(sim) -> int:
    """Operations the simulator accepted (a POST answered 202)."""
    return sim.requests.count(HEALTH, status=202)


@pytest.mark.parametrize(
    "rule",
    [
        FaultRule(STATUS, "throttle", times=3, retry_after=0.01),
        FaultRule(STATUS, "error", status=503, times=3, retry_after=0.01),
        FaultRule(STATUS, "error", status=500, times=2),
        FaultRule("operationResults.get", "throttle", times=2, retry_after=0.01),
    ],
    ids=["429", "503", "500-no-retry-after", "429-on-the-result"],
)
@pytest.mark.parametrize("json_result", [False, True], ids=["model", "json"])
def test_a_failed_status_poll_is_polled_again_not_restarted(simulator, clients, rule, json_result):
    sim = simulator(SCENARIO, faults=[rule, FaultRule(HEALTH, "latency", seconds=0.3)])

    health = backend_health(Arm(clients(sim), budget_seconds=30), json_result=json_result)

    assert isinstance(health, dict) == json_result
    assert pools(health)
    assert sim.requests.count(HEALTH) == 1 == started(sim)  # one POST: the operation started once
    refused = sum(sim.requests.count(poll, status=s) for poll in POLLS for s in (429, 500, 503))
    assert refused == rule.times


def test_a_throttled_start_is_sent_again_and_its_polls_are_not(simulator, clients):
    faults = [
        FaultRule(HEALTH, "throttle", times=2, retry_after=0.01),
        FaultRule(STATUS, "throttle", times=2, retry_after=0.01),
        FaultRule(HEALTH, "latency", seconds=0.3),
    ]
    sim = simulator(SCENARIO, faults=faults)

    assert backend_health(Arm(clients(sim), budget_seconds=30)).backend_address_pools
    assert sim.requests.count(HEALTH, status=429) == 2
    assert sim.requests.count(HEALTH) == 3 and started(sim) == 1


def test_the_poll_waits_for_the_retry_after_the_service_asked_for(simulator, clients):
    import time

    sim = simulator(SCENARIO, faults=[FaultRule(STATUS, "throttle", times=1, retry_after=1.0)])
    begun = time.monotonic()

    assert backend_health(Arm(clients(sim), budget_seconds=30)).backend_address_pools
    assert time.monotonic() - begun >= 1.0
    assert started(sim) == 1


def test_polls_throttled_past_the_budget_give_up_with_the_reason(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule(STATUS, "throttle", retry_after=0.2)])

    with pytest.raises(ArmCallFailed, match="429.*gave up after"):
        backend_health(Arm(clients(sim), budget_seconds=1.5))
    assert sim.requests.count(HEALTH) == 1 == started(sim)


def test_an_operation_that_ends_failed_is_not_polled_or_started_again(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule(HEALTH, "lro-fail", code="InternalServerError")])

    with pytest.raises(ArmCallFailed, match="long-running operation failed: InternalServerError"):
        backend_health(Arm(clients(sim), budget_seconds=30))
    assert sim.requests.count(HEALTH) == 1


def test_a_json_result_is_the_json_the_model_is_made_of_and_costs_the_same_requests(simulator, clients):
    sim = simulator(SCENARIO)
    arm = Arm(clients(sim))

    model = backend_health(arm)
    model_requests = arm.calls
    json = backend_health(arm, json_result=True)

    assert type(json) is dict
    assert json == model.as_dict()
    assert arm.calls == 2 * model_requests  # the start, the status poll(s) and the result, alike
    assert sim.requests.count(HEALTH) == 2
