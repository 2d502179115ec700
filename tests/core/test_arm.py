"""core.arm against the simulator: the retry policy (transient faults retried with backoff within the
diagnosis budget, the rest final), conditional writes (If-Match) and typed failures."""

from __future__ import annotations

import random

import pytest

from core.arm import (
    BACKOFF_FIRST_SECONDS,
    BACKOFF_JITTER_SECONDS,
    BACKOFF_MAX_SECONDS,
    MAX_ATTEMPTS,
    Arm,
    ArmCallFailed,
    PreconditionFailed,
    backoff_seconds,
)
from simulator import FaultRule

SCENARIO = "scenarios/request-timeout/world.json"
RG = "rg-contoso-web"
GATEWAY = "agw-contoso"
GET = "applicationGateways.get"


def read_gateway(arm: Arm):
    return arm.call(arm.clients.network.application_gateways.get, RG, GATEWAY)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_transient_server_errors_are_retried_past_eight_attempts_while_budget_remains(
    simulator, clients, status
):
    sim = simulator(SCENARIO, faults=[FaultRule(GET, "error", status=status, times=12, retry_after=0.01)])

    gateway = read_gateway(Arm(clients(sim), budget_seconds=30))

    assert gateway.name == GATEWAY
    assert sim.requests.count(GET, status=status) == 12
    assert sim.requests.count(GET) == 13


def test_throttling_is_retried_after_the_wait_the_service_asks_for(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule(GET, "throttle", times=10, retry_after=0.01)])

    assert read_gateway(Arm(clients(sim), budget_seconds=30)).name == GATEWAY
    assert sim.requests.count(GET, status=429) == 10
    assert sim.requests.count(GET) == 11


def test_a_server_error_without_retry_after_is_retried_after_a_backoff(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule(GET, "error", status=500, times=1)])

    assert read_gateway(Arm(clients(sim), budget_seconds=30)).name == GATEWAY
    [refused, answered] = [s for s in sim.requests.served if s.operation == GET]
    assert (refused.status, answered.status) == (500, 200)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_other_errors_are_final_and_not_retried(simulator, clients, status):
    sim = simulator(SCENARIO, faults=[FaultRule(GET, "error", status=status, retry_after=0.01)])

    with pytest.raises(ArmCallFailed) as raised:
        read_gateway(Arm(clients(sim), budget_seconds=30))

    assert raised.value.status == status
    assert raised.value.reason.startswith(str(status))
    assert "gave up" not in raised.value.reason
    assert sim.requests.count(GET) == 1


def test_retries_stop_at_the_deadline_with_the_reason(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule(GET, "throttle", retry_after=0.1)])

    with pytest.raises(ArmCallFailed) as raised:
        read_gateway(Arm(clients(sim), budget_seconds=0.5))

    assert raised.value.status == 429
    assert "429 TooManyRequests" in raised.value.reason
    assert "within the 0.5 s retry budget" in raised.value.reason
    assert 2 <= sim.requests.count(GET) < MAX_ATTEMPTS


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule(GET, "error", status=503, retry_after=60)])

    with pytest.raises(ArmCallFailed) as raised:
        read_gateway(Arm(clients(sim), budget_seconds=5))

    assert "gave up after 1 attempt within the 5 s retry budget" in raised.value.reason
    assert sim.requests.count(GET) == 1


def test_a_service_that_keeps_asking_for_an_immediate_retry_is_not_called_without_end(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule(GET, "throttle", retry_after=0)])

    with pytest.raises(ArmCallFailed) as raised:
        read_gateway(Arm(clients(sim), budget_seconds=60))

    assert f"gave up after {MAX_ATTEMPTS} attempts at the {MAX_ATTEMPTS}-attempt cap" in raised.value.reason
    assert sim.requests.count(GET) == MAX_ATTEMPTS


def test_backoff_doubles_to_its_cap_with_jitter():
    rng = random.Random(7)
    waits = [backoff_seconds(attempt, rng=rng) for attempt in range(1, 13)]

    for attempt, wait in enumerate(waits, start=1):
        floor = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (attempt - 1))
        assert floor <= wait <= floor + BACKOFF_JITTER_SECONDS, (attempt, wait)
    assert waits[0] < BACKOFF_FIRST_SECONDS + BACKOFF_JITTER_SECONDS <= waits[3]
    assert all(wait <= BACKOFF_MAX_SECONDS + BACKOFF_JITTER_SECONDS for wait in waits)
    assert backoff_seconds(10_000, rng=rng) <= BACKOFF_MAX_SECONDS + BACKOFF_JITTER_SECONDS
    # jitter: callers that failed together do not retry together
    assert len({round(backoff_seconds(3, rng=random.Random(seed)), 6) for seed in range(5)}) == 5


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
