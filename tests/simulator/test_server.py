"""The simulator's ARM API through the real Azure SDK clients (and raw HTTPS where the SDK hides
what is tested): reads, writes, etags, errors and long-running operations."""

from __future__ import annotations

import copy
import http.client
import json
import ssl
import urllib.parse
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import models

from core.azure_clients import ArmTarget, make_clients
from simulator import Simulator
from simulator.metrics import query_metrics

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "scenarios/request-timeout/world.json"
RG = "rg-contoso-web"
GATEWAY = "agw-contoso"
SUB = "00000000-0000-0000-0000-000000000001"
GATEWAY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/applicationGateways/{GATEWAY}"
)
NSG = "nsg-contoso-backend"


def raw(sim: Simulator, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    """One plain HTTPS request to the simulator: (status, headers, parsed JSON or None)."""
    parts = urllib.parse.urlsplit(sim.endpoint)
    context = ssl.create_default_context(cafile=sim.ca_cert)
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
        return response.status, dict(response.getheaders()), json.loads(payload) if payload else None
    finally:
        connection.close()


def scenario_with(extra_resources: list[dict], **sections) -> dict:
    world = json.loads((ROOT / SCENARIO).read_text())
    world["resources"].extend(extra_resources)
    world.update(sections)
    return world


@pytest.fixture
def sim(simulator) -> Simulator:
    return simulator(SCENARIO)


@pytest.fixture
def network(sim, clients):
    return clients(sim).network


# -- reads ---------------------------------------------------------------------------------------


def test_get_gateway_is_the_world_json(sim, network):
    gateway = network.application_gateways.get(RG, GATEWAY)
    world_gateway = next(r for r in sim.dump()["resources"] if r["id"] == GATEWAY_ID)
    assert gateway.as_dict() == models.ApplicationGateway(world_gateway).as_dict()
    assert gateway.backend_http_settings_collection[0].request_timeout == 20


def test_names_and_groups_are_case_insensitive(network):
    assert network.application_gateways.get(RG.upper(), GATEWAY.upper()).id == GATEWAY_ID


def test_list_by_group_and_subscription(network):
    assert [g.name for g in network.application_gateways.list(RG)] == [GATEWAY]
    assert [g.name for g in network.application_gateways.list_all()] == [GATEWAY]


def test_list_in_missing_group_is_resource_group_not_found(network):
    with pytest.raises(ResourceNotFoundError) as raised:
        list(network.application_gateways.list("rg-absent"))
    assert raised.value.error.code == "ResourceGroupNotFound"


def test_missing_gateway_is_resource_not_found(network):
    with pytest.raises(ResourceNotFoundError) as raised:
        network.application_gateways.get(RG, "agw-absent")
    assert raised.value.error.code == "ResourceNotFound"
    assert "agw-absent" in raised.value.error.message


def test_missing_group_is_resource_group_not_found(network):
    with pytest.raises(ResourceNotFoundError) as raised:
        network.application_gateways.get("rg-absent", GATEWAY)
    assert raised.value.error.code == "ResourceGroupNotFound"


def test_network_reads(network):
    vnet = network.virtual_networks.get(RG, "vnet-contoso")
    assert [s.name for s in vnet.subnets] == ["appgw-subnet", "backend-subnet"]
    subnet = network.subnets.get(RG, "vnet-contoso", "BACKEND-subnet")
    assert subnet.id.endswith("/subnets/backend-subnet")
    assert subnet.etag == vnet.subnets[1].etag
    nsg = network.network_security_groups.get(RG, NSG)
    assert len(nsg.default_security_rules) == 6
    rule_name = nsg.security_rules[0].name
    assert network.security_rules.get(RG, NSG, rule_name).priority == nsg.security_rules[0].priority
    assert [r.name for r in network.security_rules.list(RG, NSG)] == [r.name for r in nsg.security_rules]
    nic = network.network_interfaces.get(RG, "nic-contoso-web-1")
    assert nic.ip_configurations[0].private_ip_address == "10.1.1.4"


def test_missing_child_is_not_found(network):
    with pytest.raises(ResourceNotFoundError):
        network.subnets.get(RG, "vnet-contoso", "absent")
    with pytest.raises(ResourceNotFoundError):
        network.subnets.get(RG, "vnet-absent", "appgw-subnet")


def test_route_tables_and_public_ips(simulator, clients):
    rt_id = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/routeTables/rt"
    pip_id = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/publicIPAddresses/pip"
    world = scenario_with(
        [
            {
                "id": rt_id,
                "type": "Microsoft.Network/routeTables",
                "location": "westeurope",
                "properties": {
                    "routes": [
                        {
                            "name": "default",
                            "properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "None"},
                        }
                    ]
                },
            },
            {
                "id": pip_id,
                "type": "Microsoft.Network/publicIPAddresses",
                "location": "westeurope",
                "properties": {"ipAddress": "20.1.2.3"},
            },
        ]
    )
    network = clients(simulator(world)).network
    table = network.route_tables.get(RG, "rt")
    assert table.routes[0].next_hop_type == "None"
    assert network.routes.get(RG, "rt", "default").address_prefix == "0.0.0.0/0"
    assert network.public_ip_addresses.get(RG, "pip").ip_address == "20.1.2.3"


def test_effective_routes_and_nsgs_from_the_world(simulator, clients):
    nic_id = GATEWAY_ID.replace("applicationGateways/agw-contoso", "networkInterfaces/nic-contoso-web-1")
    routes = {
        "value": [
            {"source": "User", "state": "Active", "addressPrefix": ["0.0.0.0/0"], "nextHopType": "None"}
        ]
    }
    groups = {"value": [{"networkSecurityGroup": {"id": "x"}, "effectiveSecurityRules": []}]}
    world = scenario_with(
        [], effectiveRouteTables={nic_id: routes}, effectiveNetworkSecurityGroups={nic_id: groups}
    )
    sim = simulator(world)
    network = clients(sim).network
    table = network.network_interfaces.begin_get_effective_route_table(RG, "nic-contoso-web-1").result()
    assert [r.next_hop_type for r in table.value] == ["None"]
    nsgs = network.network_interfaces.begin_list_effective_network_security_groups(
        RG, "nic-contoso-web-1"
    ).result()
    assert nsgs.value[0].network_security_group.id == "x"
    assert sim.requests.count("networkInterfaces.getEffectiveRouteTable") == 1


def test_backend_health_verbatim_from_the_world(sim, network):
    health = network.application_gateways.begin_backend_health(RG, GATEWAY).result()
    world_health = sim.world.verbatim_backend_health(GATEWAY_ID)
    assert health.as_dict() == models.ApplicationGatewayBackendHealth(world_health).as_dict()
    served = sim.requests.operations()
    assert served[0] == "applicationGateways.backendHealth"
    assert "operations.get" in served or "operationResults.get" in served


def test_metrics_through_the_monitor_client(sim, clients):
    query = {
        "metricnames": "BackendLastByteResponseTime",
        "timespan": "2026-11-23T10:00:00Z/2026-11-23T10:05:00Z",
        "interval": "PT1M",
        "aggregation": "Average",
    }
    result = clients(sim).monitor.metrics.list(GATEWAY_ID, **query)
    expected = query_metrics(sim.world.metric_items(GATEWAY_ID), resource_id=GATEWAY_ID, filter=None, **query)
    assert [m.name.value for m in result.value] == ["BackendLastByteResponseTime"]
    points = result.value[0].timeseries[0].data
    expected_points = expected["value"][0]["timeseries"][0]["data"]
    assert [p.average for p in points] == [p["average"] for p in expected_points]
    assert len(points) == 5
    assert sim.requests.count("metrics.list") == 1


def test_metrics_bad_query_is_400(sim, clients):
    with pytest.raises(HttpResponseError) as raised:
        clients(sim).monitor.metrics.list(GATEWAY_ID, metricnames="NoSuchMetric")
    assert raised.value.status_code == 400


# -- writes --------------------------------------------------------------------------------------


def test_put_gateway_is_a_long_running_write(sim, network):
    gateway = network.application_gateways.get(RG, GATEWAY)
    gateway.backend_http_settings_collection[0].request_timeout = 90
    poller = network.application_gateways.begin_create_or_update(RG, GATEWAY, gateway)
    updated = poller.result()
    assert updated.backend_http_settings_collection[0].request_timeout == 90
    assert updated.provisioning_state == "Succeeded"
    assert updated.etag != gateway.etag
    assert network.application_gateways.get(RG, GATEWAY).etag == updated.etag
    # Read-only fields the SDK leaves out of the PUT body are kept, as Azure computes them.
    assert updated.operational_state == gateway.operational_state
    assert updated.backend_address_pools[0].backend_ip_configurations == (
        gateway.backend_address_pools[0].backend_ip_configurations
    )
    assert updated.backend_address_pools[0].etag == updated.etag
    assert sim.requests.count("applicationGateways.createOrUpdate") == 1
    assert sim.requests.count("operations.get") >= 1
    assert sim.world.verbatim_backend_health(GATEWAY_ID) is None


def test_put_answers_with_async_operation_and_retry_after(sim):
    status, headers, body = raw(
        sim, "GET", f"{GATEWAY_ID}?api-version=2024-05-01", headers={"Authorization": "Bearer t"}
    )
    assert status == 200
    status, headers, body = raw(
        sim,
        "PUT",
        f"{GATEWAY_ID}?api-version=2024-05-01",
        body=json.dumps(body).encode(),
        headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
    )
    assert status == 200
    assert headers["Azure-AsyncOperation"].startswith(sim.endpoint)
    assert headers["Retry-After"] == "0"
    assert body["properties"]["provisioningState"] == "Updating"
    assert headers["x-ms-request-id"]


def test_create_new_gateway_is_201_and_listed(sim, network):
    gateway = network.application_gateways.get(RG, GATEWAY)
    body = gateway.as_dict()
    created = network.application_gateways.begin_create_or_update(RG, "agw-second", body).result()
    assert created.id.endswith("/applicationGateways/agw-second")
    assert sorted(g.name for g in network.application_gateways.list(RG)) == ["agw-contoso", "agw-second"]
    assert sim.requests.served[0].status == 200
    assert any(r.status == 201 for r in sim.requests.served if r.operation.endswith("createOrUpdate"))


def test_stale_if_match_is_412(network):
    gateway = network.application_gateways.get(RG, GATEWAY)
    network.application_gateways.begin_create_or_update(RG, GATEWAY, gateway).result()
    with pytest.raises(HttpResponseError) as raised:
        network.application_gateways.begin_create_or_update(
            RG, GATEWAY, gateway, headers={"If-Match": gateway.etag}
        ).result()
    assert raised.value.status_code == 412
    assert raised.value.error.code == "PreconditionFailed"


def test_current_if_match_succeeds(network):
    gateway = network.application_gateways.get(RG, GATEWAY)
    updated = network.application_gateways.begin_create_or_update(
        RG, GATEWAY, gateway, headers={"If-Match": gateway.etag}
    ).result()
    assert updated.etag != gateway.etag


def test_if_none_match_star_on_existing_is_412(network):
    gateway = network.application_gateways.get(RG, GATEWAY)
    with pytest.raises(HttpResponseError) as raised:
        network.application_gateways.begin_create_or_update(
            RG, GATEWAY, gateway, headers={"If-None-Match": "*"}
        )
    assert raised.value.status_code == 412


def test_no_bearer_token_is_401(sim):
    status, headers, body = raw(sim, "GET", f"{GATEWAY_ID}?api-version=2024-05-01")
    assert status == 401
    assert body["error"]["code"] == "AuthenticationFailed"
    status, _, _ = raw(
        sim, "GET", f"{GATEWAY_ID}?api-version=2024-05-01", headers={"Authorization": "Basic x"}
    )
    assert status == 401


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"location": "westeurope"}', b""])
def test_malformed_put_body_is_400(sim, body):
    status, _, payload = raw(
        sim,
        "PUT",
        f"{GATEWAY_ID}?api-version=2024-05-01",
        body=body,
        headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
    )
    assert status == 400
    assert payload["error"]["code"] == "InvalidRequestContent"


def test_unknown_path_and_method(sim):
    auth = {"Authorization": "Bearer t"}
    status, _, payload = raw(sim, "GET", "/nothing/here", headers=auth)
    assert status == 404 and payload["error"]["code"] == "NotFound"
    status, _, payload = raw(sim, "PATCH", f"{GATEWAY_ID}?api-version=1", headers=auth)
    assert status == 405


def test_other_subscription_is_not_found(sim):
    path = GATEWAY_ID.replace(SUB, "11111111-1111-1111-1111-111111111111") + "?api-version=2024-05-01"
    status, _, payload = raw(sim, "GET", path, headers={"Authorization": "Bearer t"})
    assert status == 404 and payload["error"]["code"] == "SubscriptionNotFound"


def test_other_subscription_through_the_sdk_is_not_found(sim):
    other = make_clients("11111111-1111-1111-1111-111111111111", target=ArmTarget(sim.endpoint, sim.ca_cert))
    try:
        with pytest.raises(ResourceNotFoundError) as raised:
            other.network.application_gateways.get(RG, GATEWAY)
    finally:
        other.close()
    assert raised.value.error.code == "SubscriptionNotFound"


@pytest.mark.parametrize("query", ["", "?api-version=", "?other=1"])
def test_a_request_without_api_version_is_400(sim, query):
    status, _, payload = raw(sim, "GET", GATEWAY_ID + query, headers={"Authorization": "Bearer t"})
    assert status == 400 and payload["error"]["code"] == "MissingApiVersionParameter"


def _rule(priority: int) -> models.SecurityRule:
    return models.SecurityRule(
        {
            "properties": {
                "protocol": "Tcp",
                "sourceAddressPrefix": "GatewayManager",
                "sourcePortRange": "*",
                "destinationAddressPrefix": "*",
                "destinationPortRange": "65200-65535",
                "access": "Allow",
                "priority": priority,
                "direction": "Inbound",
            }
        }
    )


def test_security_rule_create_update_delete(sim, network):
    nsg_before = network.network_security_groups.get(RG, NSG)
    created = network.security_rules.begin_create_or_update(RG, NSG, "AllowGwm", _rule(1234)).result()
    assert created.priority == 1234 and created.provisioning_state == "Succeeded"
    nsg_after = network.network_security_groups.get(RG, NSG)
    assert nsg_after.etag != nsg_before.etag
    assert "AllowGwm" in [r.name for r in nsg_after.security_rules]
    assert created.etag == nsg_after.etag

    network.security_rules.begin_delete(RG, NSG, "allowgwm").result()
    assert "AllowGwm" not in [r.name for r in network.network_security_groups.get(RG, NSG).security_rules]
    with pytest.raises(ResourceNotFoundError):
        network.security_rules.get(RG, NSG, "AllowGwm")
    assert sim.requests.count("securityRules.createOrUpdate") == 1
    assert sim.requests.count("securityRules.delete") == 1
    # Deleting what is not there is a no-op, as in ARM.
    network.security_rules.begin_delete(RG, NSG, "AllowGwm").result()


def test_security_rule_validation(network):
    existing = network.network_security_groups.get(RG, NSG).security_rules[0]
    with pytest.raises(HttpResponseError) as raised:
        network.security_rules.begin_create_or_update(RG, NSG, "Dup", _rule(existing.priority)).result()
    assert raised.value.status_code == 400
    assert raised.value.error.code == "SecurityRuleConflict"
    with pytest.raises(HttpResponseError) as raised:
        network.security_rules.begin_create_or_update(RG, NSG, "Low", _rule(10)).result()
    assert raised.value.error.code == "SecurityRuleInvalidPriority"


def test_security_rule_in_missing_nsg_is_404(network):
    with pytest.raises(ResourceNotFoundError):
        network.security_rules.begin_create_or_update(RG, "nsg-absent", "x", _rule(300)).result()


def test_dump_reflects_writes(sim, network):
    network.security_rules.begin_create_or_update(RG, NSG, "AllowGwm", _rule(1234)).result()
    dumped = sim.dump()
    nsg = next(r for r in dumped["resources"] if r["name"] == NSG)
    assert "AllowGwm" in [r["name"] for r in nsg["properties"]["securityRules"]]
    reloaded = Simulator(copy.deepcopy(dumped))
    assert reloaded.world.get_child(nsg["id"], "securityRules", "AllowGwm") is not None


def test_clock_starts_at_the_world_clock(sim):
    assert sim.clock().isoformat().startswith("2026-11-23T10:30")


# -- health and traffic follow writes ------------------------------------------------------------


def test_backend_health_is_derived_once_the_gateway_is_written(simulator, clients):
    world = json.loads((ROOT / "scenarios/live-slow-backend/world.json").read_text())
    recorded = {
        "backendAddressPools": [
            {
                "backendAddressPool": {"id": f"{GATEWAY_ID}/backendAddressPools/web-pool"},
                "backendHttpSettingsCollection": [
                    {
                        "backendHttpSettings": {
                            "id": f"{GATEWAY_ID}/backendHttpSettingsCollection/web-settings"
                        },
                        "servers": [
                            {"address": "10.1.1.4", "health": "Down", "healthProbeLog": "as recorded"}
                        ],
                    }
                ],
            }
        ]
    }
    world["backendHealth"] = {GATEWAY_ID: recorded}
    network = clients(simulator(world)).network
    before = network.application_gateways.begin_backend_health(RG, GATEWAY).result()
    assert before.backend_address_pools[0].backend_http_settings_collection[0].servers[
        0
    ].health_probe_log == ("as recorded")
    gateway = network.application_gateways.get(RG, GATEWAY)
    network.application_gateways.begin_create_or_update(RG, GATEWAY, gateway).result()
    after = network.application_gateways.begin_backend_health(RG, GATEWAY).result()
    servers = after.backend_address_pools[0].backend_http_settings_collection[0].servers
    assert sorted(s.address for s in servers) == ["10.1.1.4", "10.1.1.5"]
    assert all(s.health_probe_log != "as recorded" for s in servers)


def _status_totals(monitor, group: str) -> float:
    result = monitor.metrics.list(
        GATEWAY_ID,
        metricnames="ResponseStatus",
        timespan="2026-11-23T10:31:00Z/2026-11-23T10:35:00Z",
        interval="PT1M",
        aggregation="Total",
        filter=f"HttpStatusGroup eq '{group}'",
    )
    return sum(
        point.total or 0 for metric in result.value for series in metric.timeseries for point in series.data
    )


@pytest.mark.parametrize(("request_timeout", "failing"), [(60, False), (20, True)])
def test_traffic_metrics_follow_a_write(simulator, clients, request_timeout, failing):
    """Backends answer in 25 s: raising the request timeout to 60 s ends the 5xx; keeping 20 s does not."""
    sim = simulator("scenarios/live-slow-backend/world.json")
    azure = clients(sim)
    gateway = azure.network.application_gateways.get(RG, GATEWAY)
    gateway.backend_http_settings_collection[0].request_timeout = request_timeout
    azure.network.application_gateways.begin_create_or_update(RG, GATEWAY, gateway).result()
    sim.advance(6 * 60)
    assert _status_totals(azure.monitor, "2xx") > 0 or failing
    assert (_status_totals(azure.monitor, "5xx") > 0) is failing


def test_route_write_is_long_running_and_ends_recorded_health(simulator, clients):
    sim = simulator("scenarios/udr-blackhole/world.json")
    network = clients(sim).network
    assert sim.world.verbatim_backend_health(GATEWAY_ID) is not None
    route = network.routes.get(RG, "rt-contoso-appgw", "drop-backend")
    route.next_hop_type = "VnetLocal"
    updated = network.routes.begin_create_or_update(RG, "rt-contoso-appgw", "drop-backend", route).result()
    assert updated.next_hop_type == "VnetLocal"
    assert network.route_tables.get(RG, "rt-contoso-appgw").etag == updated.etag
    assert sim.world.verbatim_backend_health(GATEWAY_ID) is None, "the gateway's subnet uses this route table"
    network.routes.begin_delete(RG, "rt-contoso-appgw", "drop-backend").result()
    assert network.route_tables.get(RG, "rt-contoso-appgw").routes == []
