"""Azure RBAC in the simulator: the `authorization` world section, through the real SDK clients."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import models

from core.azure_clients import ArmTarget, StaticTokenCredential, make_clients
from simulator import Simulator
from simulator.authorization import (
    DEFAULT_PRINCIPAL_ID,
    IDENTITY_ASSIGN,
    PUBLIC_IP_JOIN,
    SUBNET_JOIN,
    Authorization,
    caller_object_id,
    linked_actions,
    required_action,
)
from simulator.world import WorldError, load_world

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "scenarios/request-timeout/world.json"
SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-contoso-web"
GATEWAY = "agw-contoso"
NSG = "nsg-contoso-backend"
NIC = "nic-contoso-web-1"
GROUP_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
NETWORK_ID = f"{GROUP_ID}/providers/Microsoft.Network"
GATEWAY_ID = f"{NETWORK_ID}/applicationGateways/{GATEWAY}"
SUBNET_ID = f"{NETWORK_ID}/virtualNetworks/vnet-contoso/subnets/appgw-subnet"
PIP_ID = f"{NETWORK_ID}/publicIPAddresses/agw-contoso-pip"
IDENTITY_ID = f"{GROUP_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-agw"

GATEWAY_READ = "Microsoft.Network/applicationGateways/read"
GATEWAY_WRITE = "Microsoft.Network/applicationGateways/write"


def world_with(authorization: dict | None) -> dict:
    world = json.loads((ROOT / SCENARIO).read_text())
    if authorization is not None:
        world["authorization"] = authorization
    return world


def refused(raised: pytest.ExceptionInfo[HttpResponseError], code: str = "AuthorizationFailed") -> str:
    assert raised.value.status_code == 403
    assert raised.value.error is not None and raised.value.error.code == code
    return str(raised.value.error.message)


def authorization_failed(action: str, scope: str, object_id: str = DEFAULT_PRINCIPAL_ID) -> str:
    return (
        f"The client '{object_id}' with object id '{object_id}' does not have authorization to perform "
        f"action '{action}' over scope '{scope}' or the scope is invalid. If access was recently "
        "granted, please refresh your credentials."
    )


# -- the permission model ----------------------------------------------------------------------


def test_wildcards_are_case_insensitive_and_not_actions_subtract():
    granted = Authorization(
        actions=("Microsoft.Network/*/read", "microsoft.insights/METRICS/read"),
        not_actions=("Microsoft.Network/networkSecurityGroups/*",),
    )
    assert granted.allows("Microsoft.Network/applicationGateways/read")
    assert granted.allows("microsoft.network/virtualnetworks/subnets/read")  # * spans segments
    assert granted.allows("Microsoft.Insights/metrics/read")
    assert not granted.allows("Microsoft.Network/networkSecurityGroups/read")
    assert not granted.allows("Microsoft.Network/networkSecurityGroups/securityRules/read")
    assert not granted.allows("Microsoft.Network/applicationGateways/write")
    assert not granted.allows("Microsoft.Network/applicationGateways/backendhealth/action")
    assert Authorization(actions=("*",)).allows("Microsoft.Network/applicationGateways/write")
    assert not Authorization(actions=("*",), not_actions=("*/write",)).allows(GATEWAY_WRITE)
    assert not Authorization(actions=()).allows(GATEWAY_READ)


@pytest.mark.parametrize(
    ("handler", "collection", "child", "action"),
    [
        ("get", "applicationGateways", "", GATEWAY_READ),
        ("list", "applicationGateways", "", GATEWAY_READ),
        ("list_all", "networkInterfaces", "", "Microsoft.Network/networkInterfaces/read"),
        ("put", "applicationGateways", "", GATEWAY_WRITE),
        (
            "backend_health",
            "applicationGateways",
            "",
            "Microsoft.Network/applicationGateways/backendhealth/action",
        ),
        (
            "backend_health_on_demand",
            "applicationGateways",
            "",
            "Microsoft.Network/applicationGateways/getBackendHealthOnDemand/action",
        ),
        (
            "effective_route_table",
            "networkInterfaces",
            "",
            "Microsoft.Network/networkInterfaces/effectiveRouteTable/action",
        ),
        (
            "effective_network_security_groups",
            "networkInterfaces",
            "",
            "Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action",
        ),
        ("get_child", "virtualNetworks", "subnets", "Microsoft.Network/virtualNetworks/subnets/read"),
        ("list_children", "routeTables", "routes", "Microsoft.Network/routeTables/routes/read"),
        (
            "put_child",
            "networkSecurityGroups",
            "securityRules",
            "Microsoft.Network/networkSecurityGroups/securityRules/write",
        ),
        (
            "delete_child",
            "networkSecurityGroups",
            "securityRules",
            "Microsoft.Network/networkSecurityGroups/securityRules/delete",
        ),
        ("metrics", "", "", "Microsoft.Insights/metrics/read"),
        ("operation_status", "", "", None),
        ("operation_result", "", "", None),
    ],
)
def test_each_route_maps_to_its_arm_operation(handler, collection, child, action):
    assert required_action(handler, collection, child) == action


def test_every_route_has_an_action():
    from simulator.arm import _ROUTES

    for route in _ROUTES:
        required_action(route.handler, "applicationGateways", "subnets")  # raises when unknown


def test_linked_actions_of_a_gateway_body():
    body = {
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY_ID: {}}},
        "properties": {
            "gatewayIPConfigurations": [{"name": "ipc", "properties": {"subnet": {"id": SUBNET_ID}}}],
            "frontendIPConfigurations": [
                {"name": "public", "properties": {"publicIPAddress": {"id": PIP_ID}}},
                {
                    "name": "private",
                    "properties": {"subnet": {"id": SUBNET_ID}, "privateIPAddress": "10.0.0.9"},
                },
                "malformed",
            ],
        },
    }
    assert linked_actions(body) == [
        (SUBNET_JOIN, SUBNET_ID),
        (PUBLIC_IP_JOIN, PIP_ID),
        (IDENTITY_ASSIGN, IDENTITY_ID),
    ]
    assert linked_actions({"properties": []}) == []


def unsigned_jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"


def test_the_object_id_is_the_tokens_oid_claim_else_the_principal_id():
    assert caller_object_id("Bearer " + unsigned_jwt({"oid": "1111"}), "p") == "1111"
    assert caller_object_id("Bearer " + unsigned_jwt({"sub": "x"}), "p") == "p"
    assert caller_object_id("Bearer simulator-token", "p") == "p"
    assert caller_object_id("Bearer a.!!!.c", "p") == "p"


# -- the world section ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ([], r"\$\.authorization: must be a JSON object"),
        ({}, r"\$\.authorization\.actions: missing"),
        ({"actions": "*"}, r"\$\.authorization\.actions: must be a list"),
        ({"actions": [""]}, r"\$\.authorization\.actions\[0\]: must be an action string"),
        ({"actions": ["*"], "notActions": [1]}, r"\$\.authorization\.notActions\[0\]"),
        ({"actions": ["Microsoft.Network/ */read"]}, r"\$\.authorization\.actions\[0\]"),
        ({"actions": [], "roles": []}, r"\$\.authorization\.roles: unknown key"),
        ({"actions": [], "principalId": 7}, r"\$\.authorization\.principalId"),
    ],
)
def test_a_malformed_section_is_a_world_error(section, where):
    with pytest.raises(WorldError, match=where) as raised:
        load_world(world_with(section))
    assert str(raised.value).startswith("world: ") and "\n" not in str(raised.value)


def test_the_section_is_optional_and_survives_a_dump():
    assert load_world(world_with(None)).authorization is None
    section = {
        "actions": ["Microsoft.Network/*/read"],
        "notActions": [],
        "dataActions": [],
        "principalId": "p-1",
    }
    world = load_world(world_with(section))
    assert world.authorization is not None and world.authorization.principal_id == "p-1"
    assert world.dump(world.clock)["authorization"] == section
    assert "authorization" not in load_world(world_with(None)).dump(world.clock)


# -- through the SDK -----------------------------------------------------------------------------


def serve(simulator, clients, actions: list[str], not_actions: list[str] | None = None):
    sim = simulator(world_with({"actions": actions, "notActions": not_actions or []}))
    return sim, clients(sim)


def test_without_the_section_everything_is_allowed(simulator, clients):
    sim = simulator(SCENARIO)
    network = clients(sim).network
    gateway = network.application_gateways.get(RG, GATEWAY)
    network.application_gateways.begin_create_or_update(RG, GATEWAY, gateway).result()
    network.application_gateways.begin_backend_health(RG, GATEWAY).result()


def test_a_granted_read_works_and_a_missing_one_is_authorization_failed(simulator, clients):
    sim, azure = serve(simulator, clients, [GATEWAY_READ])
    assert azure.network.application_gateways.get(RG, GATEWAY).id == GATEWAY_ID
    assert [g.name for g in azure.network.application_gateways.list(RG)] == [GATEWAY]
    with pytest.raises(HttpResponseError) as raised:
        azure.network.network_security_groups.get(RG, NSG)
    action = "Microsoft.Network/networkSecurityGroups/read"
    assert refused(raised) == authorization_failed(action, f"{NETWORK_ID}/networkSecurityGroups/{NSG}")
    with pytest.raises(HttpResponseError) as raised:
        azure.network.subnets.get(RG, "vnet-contoso", "appgw-subnet")
    assert "'Microsoft.Network/virtualNetworks/subnets/read' over scope" in refused(raised)
    with pytest.raises(HttpResponseError) as raised:
        azure.monitor.metrics.list(GATEWAY_ID, metricnames="UnhealthyHostCount")
    assert refused(raised) == authorization_failed("Microsoft.Insights/metrics/read", GATEWAY_ID)
    assert sim.requests.count("networkSecurityGroups.get", status=403) == 1


def test_a_list_names_the_collection_as_its_scope(simulator, clients):
    _, azure = serve(simulator, clients, [GATEWAY_READ])
    with pytest.raises(HttpResponseError) as raised:
        list(azure.network.network_interfaces.list(RG))
    scope = f"{NETWORK_ID}/networkInterfaces"
    assert refused(raised) == authorization_failed("Microsoft.Network/networkInterfaces/read", scope)
    with pytest.raises(HttpResponseError) as raised:
        list(azure.network.network_interfaces.list_all())
    assert f"over scope '/subscriptions/{SUB}/providers/Microsoft.Network/networkInterfaces'" in refused(
        raised
    )


def test_wildcard_and_not_actions(simulator, clients):
    _, azure = serve(
        simulator,
        clients,
        ["Microsoft.Network/*/read", "Microsoft.Insights/metrics/read"],
        ["Microsoft.Network/networkSecurityGroups/*"],
    )
    network = azure.network
    assert network.virtual_networks.get(RG, "vnet-contoso").name == "vnet-contoso"
    assert network.network_interfaces.get(RG, NIC).name == NIC
    assert network.subnets.get(RG, "vnet-contoso", "appgw-subnet").name == "appgw-subnet"
    azure.monitor.metrics.list(GATEWAY_ID, metricnames="UnhealthyHostCount")
    for read in (
        lambda: network.network_security_groups.get(RG, NSG),
        lambda: list(network.security_rules.list(RG, NSG)),
    ):
        with pytest.raises(HttpResponseError) as raised:
            read()
        refused(raised)
    with pytest.raises(HttpResponseError) as raised:  # */read grants no POST action
        network.application_gateways.begin_backend_health(RG, GATEWAY).result()
    assert "'Microsoft.Network/applicationGateways/backendhealth/action'" in refused(raised)


def test_post_actions_need_their_action_and_polling_needs_nothing_more(simulator, clients):
    sim, azure = serve(
        simulator,
        clients,
        [
            "Microsoft.Network/applicationGateways/backendhealth/action",
            "Microsoft.Network/applicationGateways/getBackendHealthOnDemand/action",
            "Microsoft.Network/networkInterfaces/effective*/action",
        ],
    )
    network = azure.network
    assert network.application_gateways.begin_backend_health(RG, GATEWAY).result().backend_address_pools
    network.network_interfaces.begin_get_effective_route_table(RG, NIC).result()
    network.network_interfaces.begin_list_effective_network_security_groups(RG, NIC).result()
    probe = models.ApplicationGatewayOnDemandProbe(
        protocol="Http",
        path="/",
        timeout=30,
        pick_host_name_from_backend_http_settings=False,
        host="127.0.0.1",
        backend_address_pool=models.SubResource(id=f"{GATEWAY_ID}/backendAddressPools/web-pool"),
        backend_http_settings=models.SubResource(
            id=f"{GATEWAY_ID}/backendHttpSettingsCollection/web-settings"
        ),
    )
    result = network.application_gateways.begin_backend_health_on_demand(RG, GATEWAY, probe).result()
    assert result.backend_address_pool.id.endswith("/web-pool")
    assert sim.requests.count(status=403) == 0
    assert sim.requests.count("operations.get") + sim.requests.count("operationResults.get") >= 3


def test_a_refused_on_demand_probe_names_its_action(simulator, clients):
    _, azure = serve(simulator, clients, [GATEWAY_READ])
    probe = models.ApplicationGatewayOnDemandProbe(protocol="Http", path="/")
    with pytest.raises(HttpResponseError) as raised:
        azure.network.application_gateways.begin_backend_health_on_demand(RG, GATEWAY, probe).result()
    action = "Microsoft.Network/applicationGateways/getBackendHealthOnDemand/action"
    assert refused(raised) == authorization_failed(action, GATEWAY_ID)


def _raise_timeout(network) -> models.ApplicationGateway:
    gateway = network.application_gateways.get(RG, GATEWAY)
    gateway.backend_http_settings_collection[0].request_timeout = 120
    return gateway


def test_a_gateway_put_without_write_is_authorization_failed_and_changes_nothing(simulator, clients):
    sim, azure = serve(simulator, clients, [GATEWAY_READ, SUBNET_JOIN, PUBLIC_IP_JOIN])
    before = sim.world.get(GATEWAY_ID)
    gateway = _raise_timeout(azure.network)
    with pytest.raises(HttpResponseError) as raised:
        azure.network.application_gateways.begin_create_or_update(
            RG, GATEWAY, gateway, headers={"If-Match": gateway.etag}
        ).result()
    assert refused(raised) == authorization_failed(GATEWAY_WRITE, GATEWAY_ID)
    assert sim.world.get(GATEWAY_ID) == before


def test_a_gateway_put_without_subnet_join_is_linked_authorization_failed(simulator, clients):
    sim, azure = serve(simulator, clients, [GATEWAY_READ, GATEWAY_WRITE, PUBLIC_IP_JOIN])
    before = sim.world.get(GATEWAY_ID)
    gateway = _raise_timeout(azure.network)
    with pytest.raises(HttpResponseError) as raised:
        azure.network.application_gateways.begin_create_or_update(
            RG, GATEWAY, gateway, headers={"If-Match": gateway.etag}
        ).result()
    client = DEFAULT_PRINCIPAL_ID
    assert refused(raised, "LinkedAuthorizationFailed") == (
        f"The client '{client}' with object id '{client}' has permission to perform action "
        f"'{GATEWAY_WRITE}' on scope '{GATEWAY_ID}'; however, it does not have permission to perform "
        f"action(s) '{SUBNET_JOIN}' on the linked scope(s) '{SUBNET_ID}' (respectively) or the linked "
        "scope(s) are invalid."
    )
    after = sim.world.get(GATEWAY_ID)
    assert after == before and after["etag"] == gateway.etag
    assert sim.requests.count("applicationGateways.createOrUpdate", status=403) == 1


def test_every_missing_linked_permission_is_named_respectively(simulator, clients):
    sim, azure = serve(simulator, clients, [GATEWAY_READ, GATEWAY_WRITE])
    gateway = _raise_timeout(azure.network)
    gateway.identity = models.ManagedServiceIdentity(
        type="UserAssigned",
        user_assigned_identities={IDENTITY_ID: models.ManagedServiceIdentityUserAssignedIdentities()},
    )
    with pytest.raises(HttpResponseError) as raised:
        azure.network.application_gateways.begin_create_or_update(RG, GATEWAY, gateway).result()
    message = refused(raised, "LinkedAuthorizationFailed")
    assert (
        f"action(s) '{SUBNET_JOIN},{PUBLIC_IP_JOIN},{IDENTITY_ASSIGN}' on the linked scope(s) "
        f"'{SUBNET_ID},{PIP_ID},{IDENTITY_ID}' (respectively)"
    ) in message


def test_a_gateway_put_with_its_linked_permissions_succeeds(simulator, clients):
    sim, azure = serve(simulator, clients, [GATEWAY_READ, GATEWAY_WRITE, SUBNET_JOIN, PUBLIC_IP_JOIN])
    gateway = _raise_timeout(azure.network)
    updated = azure.network.application_gateways.begin_create_or_update(
        RG, GATEWAY, gateway, headers={"If-Match": gateway.etag}
    ).result()
    assert updated.backend_http_settings_collection[0].request_timeout == 120
    assert updated.etag != gateway.etag and updated.provisioning_state == "Succeeded"


def test_a_user_assigned_identity_needs_assign(simulator, clients):
    granted = [GATEWAY_READ, GATEWAY_WRITE, SUBNET_JOIN, PUBLIC_IP_JOIN]
    sim, azure = serve(simulator, clients, granted)
    gateway = _raise_timeout(azure.network)
    gateway.identity = models.ManagedServiceIdentity(
        type="UserAssigned",
        user_assigned_identities={IDENTITY_ID: models.ManagedServiceIdentityUserAssignedIdentities()},
    )
    with pytest.raises(HttpResponseError) as raised:
        azure.network.application_gateways.begin_create_or_update(RG, GATEWAY, gateway).result()
    assert f"action(s) '{IDENTITY_ASSIGN}' on the linked scope(s) '{IDENTITY_ID}'" in refused(
        raised, "LinkedAuthorizationFailed"
    )
    sim.set_authorization({"actions": [*granted, "Microsoft.ManagedIdentity/*/assign/action"]})
    azure.network.application_gateways.begin_create_or_update(RG, GATEWAY, gateway).result()


def _rule(priority: int) -> models.SecurityRule:
    return models.SecurityRule(
        protocol="Tcp",
        source_address_prefix="GatewayManager",
        source_port_range="*",
        destination_address_prefix="*",
        destination_port_range="65200-65535",
        access="Allow",
        priority=priority,
        direction="Inbound",
    )


def test_security_rule_write_and_delete_need_their_own_actions(simulator, clients):
    rules = "Microsoft.Network/networkSecurityGroups/securityRules"
    sim, azure = serve(simulator, clients, [f"{rules}/read"])
    network = azure.network
    rule_id = f"{NETWORK_ID}/networkSecurityGroups/{NSG}/securityRules/AllowGwm"
    nsg_before = sim.world.get(f"{NETWORK_ID}/networkSecurityGroups/{NSG}")
    with pytest.raises(HttpResponseError) as raised:
        network.security_rules.begin_create_or_update(
            RG, NSG, "AllowGwm", _rule(1234), headers={"If-None-Match": "*"}
        ).result()
    assert refused(raised) == authorization_failed(f"{rules}/write", rule_id)
    assert sim.world.get(f"{NETWORK_ID}/networkSecurityGroups/{NSG}") == nsg_before

    sim.set_authorization({"actions": [f"{rules}/read", f"{rules}/write"]})
    created = network.security_rules.begin_create_or_update(
        RG, NSG, "AllowGwm", _rule(1234), headers={"If-None-Match": "*"}
    ).result()
    with pytest.raises(HttpResponseError) as raised:
        network.security_rules.begin_delete(RG, NSG, "AllowGwm", headers={"If-Match": created.etag}).result()
    assert refused(raised) == authorization_failed(f"{rules}/delete", rule_id)
    assert network.security_rules.get(RG, NSG, "AllowGwm").etag == created.etag

    sim.set_authorization({"actions": [f"{rules}/*"]})
    network.security_rules.begin_delete(RG, NSG, "AllowGwm", headers={"If-Match": created.etag}).result()
    assert "AllowGwm" not in [r.name for r in network.security_rules.list(RG, NSG)]


def test_authorization_is_checked_before_preconditions(simulator, clients):
    _, azure = serve(simulator, clients, [GATEWAY_READ])
    gateway = azure.network.application_gateways.get(RG, GATEWAY)
    with pytest.raises(HttpResponseError) as raised:
        azure.network.application_gateways.begin_create_or_update(
            RG, GATEWAY, gateway, headers={"If-Match": 'W/"stale"'}
        ).result()
    refused(raised)


def test_a_jwt_callers_oid_is_named(simulator):
    sim = simulator(world_with({"actions": []}))
    token = unsigned_jwt({"oid": "5a1e0000-0000-0000-0000-000000000042"})
    azure = make_clients(
        sim.subscription_id,
        target=ArmTarget(sim.endpoint, sim.ca_cert),
        credential=StaticTokenCredential(token),
        polling_interval=0.05,
    )
    try:
        with pytest.raises(HttpResponseError) as raised:
            azure.network.application_gateways.get(RG, GATEWAY)
    finally:
        azure.close()
    oid = "5a1e0000-0000-0000-0000-000000000042"
    assert refused(raised) == authorization_failed(GATEWAY_READ, GATEWAY_ID, oid)


def test_set_authorization_checks_the_section_and_none_allows_everything(simulator, clients):
    sim, azure = serve(simulator, clients, [])
    with pytest.raises(WorldError, match=r"\$\.authorization\.actions"):
        sim.set_authorization({"actions": "everything"})
    with pytest.raises(HttpResponseError):
        azure.network.application_gateways.get(RG, GATEWAY)
    sim.set_authorization(None)
    assert azure.network.application_gateways.get(RG, GATEWAY).name == GATEWAY


def test_a_dumped_world_keeps_its_authorization(simulator, clients):
    sim, _ = serve(simulator, clients, [GATEWAY_READ])
    reloaded = Simulator(copy.deepcopy(sim.dump()))
    assert reloaded.world.authorization is not None
    assert reloaded.world.authorization.actions == (GATEWAY_READ,)
