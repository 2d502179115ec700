"""Injected faults as the real SDK meets them: throttling and errors the retry policy handles or
surfaces, failing and slow long-running operations, and a concurrent writer."""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.parse

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from simulator import FaultRule, Simulator

SCENARIO = "scenarios/request-timeout/world.json"
RG = "rg-contoso-web"
GATEWAY = "agw-contoso"
NSG = "nsg-contoso-backend"
SUB = "00000000-0000-0000-0000-000000000001"
GATEWAY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/applicationGateways/{GATEWAY}"
)


def statuses(sim: Simulator, operation: str) -> list[int]:
    return [served.status for served in sim.requests.served if served.operation == operation]


def raw_status(sim: Simulator, method: str, path: str) -> tuple[int, dict[str, str]]:
    parts = urllib.parse.urlsplit(sim.endpoint)
    context = ssl.create_default_context(cafile=sim.ca_cert)
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=10)
    try:
        connection.request(method, path, headers={"Authorization": "Bearer t"})
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


def test_throttling_is_retried_after_retry_after(simulator, clients):
    sim = simulator(
        SCENARIO, faults=[FaultRule("applicationGateways.get", "throttle", times=2, retry_after=0.01)]
    )
    gateway = clients(sim).network.application_gateways.get(RG, GATEWAY)
    assert gateway.name == GATEWAY
    assert statuses(sim, "applicationGateways.get") == [429, 429, 200]


def test_throttle_answer_carries_retry_after_and_code(simulator):
    sim = simulator(SCENARIO, faults=[FaultRule("*", "throttle", retry_after=7)])
    status, headers = raw_status(sim, "GET", f"{GATEWAY_ID}?api-version=2024-05-01")
    assert status == 429
    assert headers["Retry-After"] == "7"


def test_service_unavailable_then_success(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule("*.get", "error", status=503, times=1, retry_after=0.01)])
    assert clients(sim).network.network_security_groups.get(RG, NSG).name == NSG
    assert statuses(sim, "networkSecurityGroups.get") == [503, 200]


def test_forbidden_is_not_retried(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule("applicationGateways.get", "error", status=403)])
    with pytest.raises(HttpResponseError) as raised:
        clients(sim).network.application_gateways.get(RG, GATEWAY)
    assert raised.value.status_code == 403
    assert raised.value.error.code == "AuthorizationFailed"
    assert statuses(sim, "applicationGateways.get") == [403]


def test_failed_put_surfaces_and_rolls_back(simulator, clients):
    sim = simulator(
        SCENARIO, faults=[FaultRule("applicationGateways.createOrUpdate", "lro-fail", code="Boom")]
    )
    network = clients(sim).network
    gateway = network.application_gateways.get(RG, GATEWAY)
    gateway.backend_http_settings_collection[0].request_timeout = 90
    with pytest.raises(HttpResponseError) as raised:
        network.application_gateways.begin_create_or_update(RG, GATEWAY, gateway).result()
    assert "Boom" in str(raised.value)
    after = network.application_gateways.get(RG, GATEWAY)
    assert after.backend_http_settings_collection[0].request_timeout == 20
    assert after.provisioning_state == "Failed"


def test_failed_backend_health_surfaces(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule("applicationGateways.backendHealth", "lro-fail")])
    with pytest.raises(HttpResponseError) as raised:
        clients(sim).network.application_gateways.begin_backend_health(RG, GATEWAY).result()
    assert raised.value.error.code == "InternalServerError"
    assert "applicationGateways.backendHealth operation ended Failed" in raised.value.error.message


def test_failed_operation_code_follows_the_fault_status(simulator, clients):
    fault = FaultRule("networkInterfaces.getEffectiveRouteTable", "lro-fail", status=409)
    sim = simulator(SCENARIO, faults=[fault])
    with pytest.raises(HttpResponseError) as raised:
        clients(sim).network.network_interfaces.begin_get_effective_route_table(
            RG, "nic-contoso-web-1"
        ).result()
    assert raised.value.error.code == "Conflict"
    assert "HTTP 409" in raised.value.error.message


def test_failed_security_rule_create_leaves_no_rule(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule("securityRules.createOrUpdate", "lro-fail")])
    network = clients(sim).network
    rule = network.network_security_groups.get(RG, NSG).security_rules[0]
    rule_body = {"properties": {**rule.as_dict()["properties"], "priority": 3999}}
    with pytest.raises(HttpResponseError):
        network.security_rules.begin_create_or_update(RG, NSG, "NewRule", rule_body).result()
    with pytest.raises(ResourceNotFoundError):
        network.security_rules.get(RG, NSG, "NewRule")


def test_concurrent_writer_makes_stale_if_match_fail(simulator, clients):
    change = {"tags": {"changedBy": "someone-else"}}
    sim = simulator(
        SCENARIO,
        faults=[FaultRule("applicationGateways.createOrUpdate", "concurrent-write", change=change, times=1)],
    )
    network = clients(sim).network
    gateway = network.application_gateways.get(RG, GATEWAY)
    with pytest.raises(HttpResponseError) as raised:
        network.application_gateways.begin_create_or_update(
            RG, GATEWAY, gateway, headers={"If-Match": gateway.etag}
        )
    assert raised.value.status_code == 412
    current = network.application_gateways.get(RG, GATEWAY)
    assert current.tags == {"changedBy": "someone-else"}
    assert current.etag != gateway.etag
    retried = network.application_gateways.begin_create_or_update(
        RG, GATEWAY, current, headers={"If-Match": current.etag}
    ).result()
    assert retried.tags == {"changedBy": "someone-else"}


def test_slow_long_running_operation_is_polled_until_done(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule("applicationGateways.backendHealth", "latency", seconds=1.0)])
    health = clients(sim).network.application_gateways.begin_backend_health(RG, GATEWAY).result()
    assert health.backend_address_pools
    assert sim.requests.count("operations.get") >= 2


def test_latency_delays_a_plain_answer(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule("networkSecurityGroups.get", "latency", seconds=0.3)])
    network = clients(sim).network
    started = time.monotonic()
    network.network_security_groups.get(RG, NSG)
    assert time.monotonic() - started >= 0.3


def test_seeded_rate_repeats(simulator):
    def run(seed: int) -> list[int]:
        sim = simulator(SCENARIO, faults=[FaultRule("*", "throttle", rate=0.5)], seed=seed)
        return [raw_status(sim, "GET", f"{GATEWAY_ID}?api-version=2024-05-01")[0] for _ in range(16)]

    first = run(3)
    assert first == run(3)
    assert {200, 429} == set(first)


def test_set_faults_replaces_rules(simulator, clients):
    sim = simulator(SCENARIO, faults=[FaultRule("*", "error", status=403)])
    network = clients(sim).network
    with pytest.raises(HttpResponseError):
        network.application_gateways.get(RG, GATEWAY)
    sim.set_faults([])
    assert network.application_gateways.get(RG, GATEWAY).name == GATEWAY


def test_lro_retry_after_is_configurable(simulator):
    sim = simulator(SCENARIO, lro_retry_after=2)
    status, headers = raw_status(sim, "POST", f"{GATEWAY_ID}/backendhealth?api-version=2024-05-01")
    assert status == 202
    assert headers["Retry-After"] == "2"
    assert headers["Location"].startswith(sim.endpoint)
    location = urllib.parse.urlsplit(headers["Location"])
    status, _ = raw_status(sim, "GET", f"{location.path}?{location.query}")
    assert status == 200
