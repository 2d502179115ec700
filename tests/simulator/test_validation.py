"""Gateway PUT bodies ARM refuses with 400 (simulator/validation.py), and through the SDK."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError

from simulator.validation import gateway_problem

ROOT = Path(__file__).resolve().parents[2]
RG = "rg-contoso-web"
GW_NAME = "agw-contoso"
SCENARIOS = sorted(path.parent.name for path in (ROOT / "scenarios").glob("*/world.json"))


def gateway_of(scenario: str) -> dict:
    world = json.loads((ROOT / "scenarios" / scenario / "world.json").read_text())
    return next(r for r in world["resources"] if r["type"] == "Microsoft.Network/applicationGateways")


def child(gateway: dict, collection: str, index: int = 0) -> dict:
    return gateway["properties"][collection][index]["properties"]


@pytest.fixture
def gateway() -> dict:
    return copy.deepcopy(gateway_of("request-timeout"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_bundled_gateway_is_valid(scenario):
    assert gateway_problem(gateway_of(scenario)) is None


@pytest.mark.parametrize("timeout", [0, -5, 86401, "20", 1.5, True])
def test_request_timeout_outside_the_range_is_refused(gateway, timeout):
    child(gateway, "backendHttpSettingsCollection")["requestTimeout"] = timeout
    code, message = gateway_problem(gateway)
    assert code == "ApplicationGatewayBackendHttpSettingsInvalidRequestTimeout"
    assert "web-settings" in message and "[1, 86400]" in message


@pytest.mark.parametrize("timeout", [1, 86400])
def test_request_timeout_at_the_bounds_is_accepted(gateway, timeout):
    child(gateway, "backendHttpSettingsCollection")["requestTimeout"] = timeout
    assert gateway_problem(gateway) is None


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("interval", 0, "ApplicationGatewayProbeIntervalIsInvalid"),
        ("interval", 86401, "ApplicationGatewayProbeIntervalIsInvalid"),
        ("timeout", 0, "ApplicationGatewayProbeTimeoutIsInvalid"),
        ("unhealthyThreshold", 21, "ApplicationGatewayProbeUnhealthyThresholdIsInvalid"),
        ("unhealthyThreshold", -1, "ApplicationGatewayProbeUnhealthyThresholdIsInvalid"),
    ],
)
def test_probe_values_outside_their_ranges_are_refused(gateway, key, value, code):
    child(gateway, "probes")[key] = value
    assert gateway_problem(gateway)[0] == code


@pytest.mark.parametrize(
    ("collection", "key"),
    [
        ("backendHttpSettingsCollection", "probe"),
        ("requestRoutingRules", "backendAddressPool"),
        ("requestRoutingRules", "backendHttpSettings"),
        ("requestRoutingRules", "httpListener"),
        ("httpListeners", "frontendPort"),
    ],
)
def test_a_reference_to_a_missing_sub_resource_is_refused(gateway, collection, key):
    referrer = child(gateway, collection)
    missing = f"{gateway['id']}/nowhere/missing"
    referrer[key] = {"id": missing}
    code, message = gateway_problem(gateway)
    assert code == "InvalidResourceReference"
    assert missing in message


def test_a_dangling_path_rule_reference_is_refused(gateway):
    gateway_id = gateway["id"]
    gateway["properties"]["urlPathMaps"] = [
        {
            "id": f"{gateway_id}/urlPathMaps/map",
            "name": "map",
            "properties": {
                "defaultBackendAddressPool": child(gateway, "requestRoutingRules")["backendAddressPool"],
                "defaultBackendHttpSettings": child(gateway, "requestRoutingRules")["backendHttpSettings"],
                "pathRules": [
                    {
                        "id": f"{gateway_id}/urlPathMaps/map/pathRules/api",
                        "name": "api",
                        "properties": {
                            "paths": ["/api/*"],
                            "backendAddressPool": {"id": f"{gateway_id}/backendAddressPools/gone"},
                        },
                    }
                ],
            },
        }
    ]
    assert gateway_problem(gateway)[0] == "InvalidResourceReference"


def test_references_to_other_resources_are_not_checked(gateway):
    gateway["properties"]["gatewayIPConfigurations"][0]["properties"]["subnet"] = {"id": "/elsewhere"}
    assert gateway_problem(gateway) is None


def test_the_simulator_refuses_an_invalid_put_and_keeps_the_gateway(simulator, clients):
    network = clients(simulator("scenarios/request-timeout/world.json")).network
    gateway = network.application_gateways.get(RG, GW_NAME)
    gateway.backend_http_settings_collection[0].request_timeout = 0
    with pytest.raises(HttpResponseError) as raised:
        network.application_gateways.begin_create_or_update(RG, GW_NAME, gateway)
    assert raised.value.status_code == 400
    assert raised.value.error.code == "ApplicationGatewayBackendHttpSettingsInvalidRequestTimeout"

    gateway = network.application_gateways.get(RG, GW_NAME)
    assert gateway.backend_http_settings_collection[0].request_timeout == 20
    gateway.backend_http_settings_collection[0].probe.id = f"{gateway.id}/probes/nope"
    with pytest.raises(HttpResponseError) as raised:
        network.application_gateways.begin_create_or_update(RG, GW_NAME, gateway)
    assert raised.value.status_code == 400
    assert raised.value.error.code == "InvalidResourceReference"
    after = network.application_gateways.get(RG, GW_NAME)
    assert after.backend_http_settings_collection[0].probe.id.endswith("/probes/web-probe")
    assert after.etag == gateway.etag
