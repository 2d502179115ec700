"""Unit tests of backend health derived from world fragments (simulator/health.py)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from azure.mgmt.network import models
from hypothesis import given, settings
from hypothesis import strategies as st

from netrules.nsg import Flow, evaluate_nsg
from netrules.probes import ProbeLogKind, classify_probe_log, health_state
from simulator.effective import find_subnet
from simulator.health import (
    Backends,
    derive_backend_health,
    infra_ports_blocked,
    port_breakpoints,
    probe_on_demand,
    resolution_known,
    resolve,
    used_pairs,
)
from simulator.references import BackReferences

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
SUB = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web"
NET = f"{SUB}/providers/Microsoft.Network"
GW = f"{NET}/applicationGateways/agw-contoso"
VNET = f"{NET}/virtualNetworks/vnet-contoso"
APPGW_SUBNET = f"{VNET}/subnets/appgw-subnet"
BACKEND_SUBNET = f"{VNET}/subnets/backend-subnet"
APPGW_NSG = f"{NET}/networkSecurityGroups/nsg-contoso-appgw"
BACKEND_NSG = f"{NET}/networkSecurityGroups/nsg-contoso-backend"
NIC1 = f"{NET}/networkInterfaces/nic-contoso-web-1"
NIC1_CONFIG = f"{NIC1}/ipConfigurations/ipconfig1"


def listening(*ports: int, seconds: float = 0.05, **extra) -> dict:
    return {"ports": list(ports), "responseSeconds": seconds, "paths": {"/": 200, "/health": 200}, **extra}


class World:
    """A scenario world whose resources can be edited, looked up case-insensitively."""

    def __init__(self, scenario: str) -> None:
        data = json.loads((ROOT / "scenarios" / scenario / "world.json").read_text())
        self.data = data
        self.resources = {r["id"].lower(): copy.deepcopy(r) for r in data["resources"]}
        self.backends: dict = copy.deepcopy(data.get("backends") or {})
        self.dns: dict = copy.deepcopy(data.get("dns") or {})

    def lookup(self, resource_id: str) -> dict | None:
        """A resource as ARM serves it (with back-references, as the server's lookup gives)."""
        resource = self.resources.get(resource_id.lower())
        if resource is None:
            return None
        return BackReferences(self.resources.values()).resource(copy.deepcopy(resource))

    def stored(self, resource_id: str) -> dict:
        """The stored resource itself, to edit."""
        return self.resources[resource_id.lower()]

    def add(self, resource: dict) -> None:
        self.resources[resource["id"].lower()] = resource

    @property
    def gateway(self) -> dict:
        return self.resources[GW.lower()]

    def gw(self, collection: str, name: str) -> dict:
        return next(c for c in self.gateway["properties"][collection] if c["name"] == name)

    def subnet(self, subnet_id: str) -> dict:
        """The stored subnet itself, to edit."""
        subnet, _ = find_subnet(subnet_id, lambda rid: self.resources.get(rid.lower()))
        assert subnet is not None
        return subnet

    def nsg_rules(self, nsg_id: str) -> list[dict]:
        return self.resources[nsg_id.lower()]["properties"]["securityRules"]

    def health(self) -> dict:
        return derive_backend_health(self.gateway, self.lookup, self.backends, self.dns, NOW)

    def servers(self) -> list[dict]:
        return [
            server
            for pool in self.health()["backendAddressPools"]
            for settings in pool["backendHttpSettingsCollection"]
            for server in settings["servers"]
        ]

    def kinds(self) -> list[ProbeLogKind]:
        return [classify_probe_log(server["healthProbeLog"]) for server in self.servers()]


def rule(
    name: str,
    *,
    access: str,
    priority: int,
    direction: str = "Inbound",
    source: str = "*",
    ports: str = "*",
    destination: str = "*",
    protocol: str = "Tcp",
    nsg: str = APPGW_NSG,
) -> dict:
    return {
        "id": f"{nsg}/securityRules/{name}",
        "name": name,
        "properties": {
            "protocol": protocol,
            "sourcePortRange": "*",
            "destinationPortRange": ports,
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": destination,
            "access": access,
            "priority": priority,
            "direction": direction,
        },
    }


def route_table(world: World, name: str, routes: list[tuple[str, str]]) -> str:
    rt_id = f"{NET}/routeTables/{name}"
    world.add(
        {
            "id": rt_id,
            "name": name,
            "type": "Microsoft.Network/routeTables",
            "location": "westeurope",
            "properties": {
                "routes": [
                    {
                        "id": f"{rt_id}/routes/r{i}",
                        "name": f"r{i}",
                        "properties": {"addressPrefix": prefix, "nextHopType": hop}
                        | ({"nextHopIpAddress": "10.9.0.4"} if hop == "VirtualAppliance" else {}),
                    }
                    for i, (prefix, hop) in enumerate(routes)
                ]
            },
        }
    )
    return rt_id


@pytest.fixture
def fast() -> World:
    """live-slow-backend with fast backends: two NIC members, custom probe on /health."""
    world = World("live-slow-backend")
    for backend in world.backends.values():
        backend["responseSeconds"] = 0.05
    return world


# --- verbatim scenarios reproduced from backend behaviour ----------------------------

RECORDED_SCENARIOS = sorted(
    path.parent.name
    for path in (ROOT / "scenarios").glob("*/world.json")
    if "backendHealth" in json.loads(path.read_text())
)


def test_every_recorded_scenario_describes_its_servers():
    """A scenario whose health is recorded says how each recorded server behaves, so a
    write (a fix) is judged by derivation rather than by the record."""
    for scenario in RECORDED_SCENARIOS:
        world = World(scenario)
        recorded = [
            server["address"]
            for pool in world.data["backendHealth"][GW]["backendAddressPools"]
            for entry in pool["backendHttpSettingsCollection"]
            for server in entry["servers"]
        ]
        _, vnet = find_subnet(APPGW_SUBNET, world.lookup)
        backends = Backends(world.backends)
        for address in recorded:
            ip = resolve(address, vnet, backends, world.dns)
            decided = resolution_known(address, vnet, backends, world.dns)
            described = backends.behaviour(address, ip) is not None
            assert described or (decided and ip is None), (scenario, address)


# pool-empty records the servers its pool had before it was emptied (re-adding them heals).
@pytest.mark.parametrize("scenario", [s for s in RECORDED_SCENARIOS if s != "pool-empty"])
def test_derivation_reproduces_the_verbatim_backend_health(scenario):
    """Every pool/settings entry of the scenario's verbatim health is derived identically
    from the world's own ``backends`` (no record to fall back on)."""
    world = World(scenario)
    derived = {
        (pool["backendAddressPool"]["id"].lower(), entry["backendHttpSettings"]["id"].lower()): entry[
            "servers"
        ]
        for pool in world.health()["backendAddressPools"]
        for entry in pool["backendHttpSettingsCollection"]
    }
    verbatim = world.data["backendHealth"][GW]
    for pool in verbatim["backendAddressPools"]:
        for entry in pool["backendHttpSettingsCollection"]:
            key = (pool["backendAddressPool"]["id"].lower(), entry["backendHttpSettings"]["id"].lower())
            got, want = derived[key], entry["servers"]
            assert [s["address"] for s in got] == [s["address"] for s in want]
            assert [health_state(s["health"]) for s in got] == [health_state(s["health"]) for s in want]
            assert [s["healthProbeLog"] for s in got] == [s["healthProbeLog"] for s in want]


def test_an_undescribed_member_keeps_its_recorded_entry_matched_by_address():
    world = World("probe-timeout")
    recorded = copy.deepcopy(world.data["backendHealth"][GW])
    del world.backends["10.1.1.5"]
    pool = recorded["backendAddressPools"][0]
    pool["backendAddressPool"]["id"] += "-renamed"  # no exact match: the address decides
    health = derive_backend_health(
        world.gateway, world.lookup, world.backends, world.dns, NOW, recorded=recorded
    )
    servers = health["backendAddressPools"][0]["backendHttpSettingsCollection"][0]["servers"]
    assert [(s["address"], s["health"]) for s in servers] == [("10.1.1.4", "Unhealthy"), ("10.1.1.5", "Down")]
    assert (
        servers[1]["healthProbeLog"]
        == pool["backendHttpSettingsCollection"][0]["servers"][1]["healthProbeLog"]
    )
    without = derive_backend_health(world.gateway, world.lookup, world.backends, world.dns, NOW)
    assert (
        classify_probe_log(
            without["backendAddressPools"][0]["backendHttpSettingsCollection"][0]["servers"][1][
                "healthProbeLog"
            ]
        )
        == ProbeLogKind.CONNECT
    )


# --- NIC members and the healthy path ------------------------------------------------


def test_nic_members_report_their_ip_and_ip_configuration(fast):
    (pool,) = fast.health()["backendAddressPools"]
    (settings,) = pool["backendHttpSettingsCollection"]
    assert settings["backendHttpSettings"]["id"].endswith("/backendHttpSettingsCollection/web-settings")
    first = settings["servers"][0]
    assert first == {
        "address": "10.1.1.4",
        "ipConfiguration": {"id": NIC1_CONFIG},
        "health": "Healthy",
        "healthProbeLog": "Success. Received 200 status code",
    }
    assert [s["address"] for s in settings["servers"]] == ["10.1.1.4", "10.1.1.5"]


# --- (a) infrastructure ports and the v2 default route -------------------------------


def test_infra_ports_denied_makes_health_unknown_and_an_allow_rule_heals(fast):
    nsg_rules = fast.nsg_rules(APPGW_NSG)
    nsg_rules[:] = [r for r in nsg_rules if r["name"] != "AllowGatewayManager"]
    nsg_rules.append(rule("DenyGatewayManager", access="Deny", priority=200, source="GatewayManager",
                          ports="65200-65535"))  # fmt: skip
    assert {s["health"] for s in fast.servers()} == {"Unknown"}
    assert set(fast.kinds()) == {ProbeLogKind.UNKNOWN}
    nsg_rules.append(
        rule("AllowGM", access="Allow", priority=150, source="GatewayManager", ports="65200-65535")
    )
    assert {s["health"] for s in fast.servers()} == {"Healthy"}


def test_no_rule_for_gateway_manager_falls_to_deny_all(fast):
    nsg_rules = fast.nsg_rules(APPGW_NSG)
    nsg_rules[:] = [r for r in nsg_rules if r["name"] != "AllowGatewayManager"]
    assert {s["health"] for s in fast.servers()} == {"Unknown"}


def test_one_denied_port_inside_the_range_is_enough(fast):
    fast.nsg_rules(APPGW_NSG).append(rule("DenyOne", access="Deny", priority=90, source="*", ports="65300"))
    assert {s["health"] for s in fast.servers()} == {"Unknown"}


def test_v1_needs_only_its_narrower_range(fast):
    gm = next(r for r in fast.nsg_rules(APPGW_NSG) if r["name"] == "AllowGatewayManager")
    gm["properties"]["destinationPortRange"] = "65503-65534"
    assert {s["health"] for s in fast.servers()} == {"Unknown"}  # v2 needs 65200-65535
    fast.gateway["properties"]["sku"] = {"name": "Standard_Medium", "tier": "Standard", "capacity": 2}
    assert {s["health"] for s in fast.servers()} == {"Healthy"}
    gm["properties"]["destinationPortRange"] = "65503-65533"
    assert {s["health"] for s in fast.servers()} == {"Unknown"}


def test_denying_the_azure_load_balancer_is_unknown(fast):
    fast.nsg_rules(APPGW_NSG).append(
        rule("DenyLB", access="Deny", priority=50, source="AzureLoadBalancer", protocol="*")
    )
    assert {s["health"] for s in fast.servers()} == {"Unknown"}


def test_no_nsg_on_the_gateway_subnet_is_fine(fast):
    del fast.subnet(APPGW_SUBNET)["properties"]["networkSecurityGroup"]
    assert {s["health"] for s in fast.servers()} == {"Healthy"}


def test_port_breakpoints_cover_each_constant_stretch():
    nsg = {"properties": {"securityRules": [
        {"properties": {"destinationPortRange": "65300-65310"}},
        {"properties": {"destinationPortRanges": ["65535", "80"]}},
        {"properties": {"destinationPortRange": "*"}},
    ]}}  # fmt: skip
    assert port_breakpoints(nsg, 65200, 65535) == [65200, 65300, 65311, 65535]


def test_v2_default_route_to_an_appliance_is_unknown_but_not_on_v1(fast):
    rt_id = route_table(fast, "rt-appgw", [("0.0.0.0/0", "VirtualAppliance")])
    fast.subnet(APPGW_SUBNET)["properties"]["routeTable"] = {"id": rt_id}
    assert {s["health"] for s in fast.servers()} == {"Unknown"}
    fast.gateway["properties"]["sku"] = {"name": "WAF_Medium", "tier": "WAF", "capacity": 2}
    assert {s["health"] for s in fast.servers()} == {"Healthy"}


def test_v2_default_route_to_internet_is_fine(fast):
    rt_id = route_table(fast, "rt-appgw", [("0.0.0.0/0", "Internet")])
    fast.subnet(APPGW_SUBNET)["properties"]["routeTable"] = {"id": rt_id}
    assert {s["health"] for s in fast.servers()} == {"Healthy"}


# --- (b) name resolution -------------------------------------------------------------


@pytest.fixture
def fqdn_world() -> World:
    world = World("custom-dns")
    world.backends = {"10.1.1.4": listening(8080)}
    return world


def test_fqdn_not_listed_by_the_custom_dns_server_is_a_dns_error(fqdn_world):
    (server,) = fqdn_world.servers()
    assert server["address"] == "api.internal.contoso.net"
    assert server["health"] == "Unhealthy"
    assert fqdn_world.kinds() == [ProbeLogKind.DNS]


def test_fqdn_resolved_by_the_custom_dns_server_is_probed_at_its_ip(fqdn_world):
    fqdn_world.gw("backendAddressPools", "web-pool")["properties"]["backendAddresses"] = [
        {"fqdn": "www.contoso.net"}
    ]
    (server,) = fqdn_world.servers()
    assert (server["address"], server["health"]) == ("www.contoso.net", "Healthy")
    fqdn_world.backends["10.1.1.4"]["ports"] = [9999]
    assert fqdn_world.kinds() == [ProbeLogKind.CONNECT]


def test_first_known_dns_server_answers(fqdn_world):
    fqdn_world.gw("backendAddressPools", "web-pool")["properties"]["backendAddresses"] = [
        {"fqdn": "www.contoso.net"}
    ]
    vnet = fqdn_world.stored(VNET)
    vnet["properties"]["dhcpOptions"]["dnsServers"] = ["10.60.0.1", "10.50.0.11"]
    assert fqdn_world.kinds() == [ProbeLogKind.HEALTHY]
    fqdn_world.dns["10.50.0.11"] = {}
    assert fqdn_world.kinds() == [ProbeLogKind.DNS]
    vnet["properties"]["dhcpOptions"]["dnsServers"] = ["10.60.0.1"]
    assert fqdn_world.kinds() == [ProbeLogKind.DNS]


def test_azure_dns_resolves_names_the_world_knows(fqdn_world):
    del fqdn_world.stored(VNET)["properties"]["dhcpOptions"]
    assert fqdn_world.kinds() == [ProbeLogKind.DNS]
    fqdn_world.backends["API.internal.contoso.net"] = listening(8080)
    assert fqdn_world.kinds() == [ProbeLogKind.HEALTHY]


def test_azure_dns_listed_as_a_dns_server_is_not_custom_dns(fqdn_world):
    fqdn_world.stored(VNET)["properties"]["dhcpOptions"]["dnsServers"] = ["168.63.129.16"]
    fqdn_world.backends["api.internal.contoso.net"] = listening(8080)
    assert fqdn_world.kinds() == [ProbeLogKind.HEALTHY]
    fqdn_world.dns["168.63.129.16"] = {}  # a world may still say what Azure DNS answers
    assert fqdn_world.kinds() == [ProbeLogKind.DNS]


# --- (c) the network path ------------------------------------------------------------


def test_backend_subnet_nsg_deny_is_a_connect_error(fast):
    fast.nsg_rules(BACKEND_NSG).insert(
        0, rule("DenyGw", access="Deny", priority=90, source="10.1.0.0/24", ports="8080", nsg=BACKEND_NSG)
    )
    assert set(fast.kinds()) == {ProbeLogKind.CONNECT}
    assert {s["health"] for s in fast.servers()} == {"Unhealthy"}


def test_nic_nsg_deny_hits_only_that_member(fast):
    nsg_id = f"{NET}/networkSecurityGroups/nsg-nic1"
    fast.add({"id": nsg_id, "name": "nsg-nic1", "type": "Microsoft.Network/networkSecurityGroups",
              "properties": {"securityRules": [rule("DenyAll8080", access="Deny", priority=100, ports="8080",
                                                    nsg=nsg_id)]}})  # fmt: skip
    fast.stored(NIC1)["properties"]["networkSecurityGroup"] = {"id": nsg_id}
    assert fast.kinds() == [ProbeLogKind.CONNECT, ProbeLogKind.HEALTHY]


def test_gateway_subnet_outbound_deny_is_a_connect_error(fast):
    fast.nsg_rules(APPGW_NSG).append(
        rule("DenyOut", access="Deny", priority=100, direction="Outbound", destination="10.1.1.0/24")
    )
    assert set(fast.kinds()) == {ProbeLogKind.CONNECT}


@pytest.mark.parametrize("hop", ["None", "VirtualAppliance", "VirtualNetworkGateway"])
def test_gateway_subnet_route_to_a_dead_end_is_a_connect_error(fast, hop):
    rt_id = route_table(fast, "rt-appgw", [("10.1.1.0/24", hop)])
    fast.subnet(APPGW_SUBNET)["properties"]["routeTable"] = {"id": rt_id}
    assert set(fast.kinds()) == {ProbeLogKind.CONNECT}


def test_more_specific_vnet_route_is_not_overridden_by_a_wider_user_route(fast):
    rt_id = route_table(fast, "rt-appgw", [("10.0.0.0/8", "None")])
    fast.subnet(APPGW_SUBNET)["properties"]["routeTable"] = {"id": rt_id}
    assert set(fast.kinds()) == {ProbeLogKind.HEALTHY}


def test_port_not_listened_or_unknown_backend_is_a_connect_error(fast):
    fast.backends["10.1.1.4"]["ports"] = [80]
    del fast.backends["10.1.1.5"]
    assert fast.kinds() == [ProbeLogKind.CONNECT, ProbeLogKind.CONNECT]


def test_probe_port_overrides_settings_port(fast):
    fast.gw("probes", "web-probe")["properties"]["port"] = 9090
    assert set(fast.kinds()) == {ProbeLogKind.CONNECT}
    for backend in fast.backends.values():
        backend["ports"] = [8080, 9090]
    fast.nsg_rules(BACKEND_NSG)[0]["properties"]["destinationPortRange"] = "*"
    assert set(fast.kinds()) == {ProbeLogKind.HEALTHY}


# --- (d) TLS -------------------------------------------------------------------------


@pytest.fixture
def tls() -> World:
    world = World("tls-cn-mismatch")
    cert = {"subject": "CN=www.contoso.com", "san": ["www.contoso.com"], "notAfter": "2027-06-01T00:00:00Z",
            "chain": "complete"}  # fmt: skip
    world.backends = {ip: listening(443, certificate=dict(cert)) for ip in ("10.1.1.4", "10.1.1.5")}
    fast_rules = world.nsg_rules(BACKEND_NSG)
    fast_rules[0]["properties"]["destinationPortRange"] = "443"
    return world


def test_tls_certificate_covering_the_host_is_healthy(tls):
    assert set(tls.kinds()) == {ProbeLogKind.HEALTHY}


def test_tls_wildcard_san_covers_the_host(tls):
    for backend in tls.backends.values():
        backend["certificate"].update(subject="CN=other", san=["*.contoso.com"])
    assert set(tls.kinds()) == {ProbeLogKind.HEALTHY}


def test_tls_host_mismatch(tls):
    tls.backends["10.1.1.4"]["certificate"].update(subject="CN=app.fabrikam.com", san=["app.fabrikam.com"])
    assert tls.kinds() == [ProbeLogKind.CN_MISMATCH, ProbeLogKind.HEALTHY]


def test_tls_host_mismatch_on_v1(tls):
    tls.gateway["properties"]["sku"] = {"name": "Standard_Medium", "tier": "Standard", "capacity": 2}
    tls.backends["10.1.1.4"]["certificate"].update(subject="CN=app.fabrikam.com", san=[])
    assert tls.kinds() == [ProbeLogKind.CN_MISMATCH, ProbeLogKind.HEALTHY]


def test_tls_expired_certificate(tls):
    tls.backends["10.1.1.5"]["certificate"]["notAfter"] = "2026-11-01T00:00:00Z"
    assert tls.kinds() == [ProbeLogKind.HEALTHY, ProbeLogKind.CERT_EXPIRED]


@pytest.mark.parametrize("chain", ["missing-intermediate", "untrusted-root"])
def test_tls_chain_problems(tls, chain):
    tls.backends["10.1.1.4"]["certificate"]["chain"] = chain
    assert tls.kinds() == [ProbeLogKind.CHAIN, ProbeLogKind.HEALTHY]


def test_tls_is_checked_before_timeout_and_status(tls):
    backend = tls.backends["10.1.1.4"]
    backend.update(responseSeconds=99, paths={})
    backend["certificate"]["chain"] = "missing-intermediate"
    assert tls.kinds()[0] == ProbeLogKind.CHAIN


# --- (e) time-out, (f) status and body -----------------------------------------------


def test_slow_backend_times_out_the_probe_and_a_longer_timeout_heals():
    world = World("live-slow-backend")  # responseSeconds 25
    probe = world.gw("probes", "web-probe")["properties"]
    probe["timeout"] = 20
    assert set(world.kinds()) == {ProbeLogKind.PROBE_TIMEOUT}
    assert {s["health"] for s in world.servers()} == {"Unhealthy"}
    probe["timeout"] = 30
    assert set(world.kinds()) == {ProbeLogKind.HEALTHY}


def test_require_host_answers_404_to_other_hosts():
    world = World("live-probe-host")  # default probe sends host 127.0.0.1
    logs = [s["healthProbeLog"] for s in world.servers()]
    assert set(world.kinds()) == {ProbeLogKind.STATUS_MISMATCH}
    assert all("Expected:200-399" in log and "Received:404" in log for log in logs)
    settings = world.gw("backendHttpSettingsCollection", "web-settings")["properties"]
    settings["probe"] = {"id": f"{GW}/probes/web-probe"}  # probe host app.contoso.com
    assert set(world.kinds()) == {ProbeLogKind.HEALTHY}


def test_settings_host_name_reaches_the_default_probe():
    world = World("live-probe-host")
    world.gw("backendHttpSettingsCollection", "web-settings")["properties"]["hostName"] = "app.contoso.com"
    assert set(world.kinds()) == {ProbeLogKind.HEALTHY}


def test_status_outside_the_match_codes(fast):
    fast.backends["10.1.1.4"]["paths"]["/health"] = 503
    fast.gw("probes", "web-probe")["properties"]["match"]["statusCodes"] = ["200-399", "503"]
    assert set(fast.kinds()) == {ProbeLogKind.HEALTHY}
    fast.gw("probes", "web-probe")["properties"]["match"]["statusCodes"] = ["200"]
    assert fast.kinds() == [ProbeLogKind.STATUS_MISMATCH, ProbeLogKind.HEALTHY]
    log = fast.servers()[0]["healthProbeLog"]
    assert "Received:503" in log and "Expected:200" in log


def test_healthy_log_names_the_received_code(fast):
    fast.backends["10.1.1.4"]["paths"]["/health"] = 302
    assert fast.servers()[0]["healthProbeLog"] == "Success. Received 302 status code"


def test_body_match(fast):
    fast.gw("probes", "web-probe")["properties"]["match"]["body"] = "ok"
    assert set(fast.kinds()) == {ProbeLogKind.BODY_MISMATCH}
    fast.backends["10.1.1.4"]["body"] = "all ok"
    fast.backends["10.1.1.5"]["bodies"] = {"/health": "degraded"}
    assert fast.kinds() == [ProbeLogKind.HEALTHY, ProbeLogKind.BODY_MISMATCH]


# --- which pairs are probed ----------------------------------------------------------


def add_path_map(world: World) -> None:
    """A second pool/settings used only by a path rule of a path-based rule."""
    props = world.gateway["properties"]
    api_pool = copy.deepcopy(world.gw("backendAddressPools", "web-pool"))
    api_pool.update(id=f"{GW}/backendAddressPools/api-pool", name="api-pool")
    api_pool["properties"] = {"backendAddresses": [{"ipAddress": "10.1.1.9"}]}
    props["backendAddressPools"].append(api_pool)
    api_settings = copy.deepcopy(world.gw("backendHttpSettingsCollection", "web-settings"))
    api_settings.update(id=f"{GW}/backendHttpSettingsCollection/api-settings", name="api-settings")
    api_settings["properties"].pop("probe", None)
    props["backendHttpSettingsCollection"].append(api_settings)
    web = props["requestRoutingRules"][0]["properties"]
    props["urlPathMaps"] = [
        {
            "id": f"{GW}/urlPathMaps/paths",
            "name": "paths",
            "properties": {
                "defaultBackendAddressPool": web["backendAddressPool"],
                "defaultBackendHttpSettings": web["backendHttpSettings"],
                "pathRules": [
                    {
                        "id": f"{GW}/urlPathMaps/paths/pathRules/api",
                        "name": "api",
                        "properties": {
                            "paths": ["/api/*"],
                            "backendAddressPool": {"id": api_pool["id"]},
                            "backendHttpSettings": {"id": api_settings["id"]},
                        },
                    }
                ],
            },
        }
    ]
    props["requestRoutingRules"][0]["properties"] = {
        "ruleType": "PathBasedRouting",
        "priority": 100,
        "httpListener": web["httpListener"],
        "urlPathMap": {"id": f"{GW}/urlPathMaps/paths"},
    }


def test_path_maps_probe_their_default_and_path_rule_pairs(fast):
    add_path_map(fast)
    fast.backends["10.1.1.9"] = listening(8080)
    health = fast.health()
    summary = [
        (p["backendAddressPool"]["id"].rsplit("/", 1)[1], s["backendHttpSettings"]["id"].rsplit("/", 1)[1],
         [(srv["address"], srv["health"]) for srv in s["servers"]])
        for p in health["backendAddressPools"]
        for s in p["backendHttpSettingsCollection"]
    ]  # fmt: skip
    assert summary == [
        ("web-pool", "web-settings", [("10.1.1.4", "Healthy"), ("10.1.1.5", "Healthy")]),
        ("api-pool", "api-settings", [("10.1.1.9", "Healthy")]),
    ]


def test_default_probe_of_path_rule_settings_uses_root_path(fast):
    add_path_map(fast)
    fast.backends["10.1.1.9"] = {"ports": [8080], "responseSeconds": 0.05, "paths": {"/health": 200}}
    api = fast.health()["backendAddressPools"][1]["backendHttpSettingsCollection"][0]["servers"][0]
    assert classify_probe_log(api["healthProbeLog"]) == ProbeLogKind.STATUS_MISMATCH


def test_used_pairs_deduplicates_and_skips_redirects(fast):
    add_path_map(fast)
    props = fast.gateway["properties"]
    props["requestRoutingRules"].append(
        {"id": f"{GW}/requestRoutingRules/redirect", "name": "redirect",
         "properties": {"ruleType": "Basic", "priority": 200,
                        "redirectConfiguration": {"id": f"{GW}/redirectConfigurations/r"}}}
    )  # fmt: skip
    props["requestRoutingRules"].append(
        {"id": f"{GW}/requestRoutingRules/again", "name": "again",
         "properties": {"ruleType": "Basic", "priority": 300,
                        "backendAddressPool": {"id": f"{GW}/backendAddressPools/web-pool"},
                        "backendHttpSettings": {"id": f"{GW}/BACKENDHTTPSETTINGSCOLLECTION/web-settings"}}}
    )  # fmt: skip
    assert [(p.rsplit("/", 1)[1], s.rsplit("/", 1)[1]) for p, s in used_pairs(fast.gateway)] == [
        ("web-pool", "web-settings"),
        ("api-pool", "api-settings"),
    ]


def test_unused_pool_is_not_reported(fast):
    fast.gateway["properties"]["requestRoutingRules"] = []
    assert fast.health() == {"backendAddressPools": []}


# --- on-demand probes ----------------------------------------------------------------


def on_demand(world: World, **probe) -> dict:
    request = {
        "protocol": "Http",
        "path": "/health",
        "timeout": 30,
        "backendAddressPool": {"id": f"{GW}/backendAddressPools/web-pool"},
        "backendHttpSettings": {"id": f"{GW}/backendHttpSettingsCollection/web-settings"},
        **probe,
    }
    return probe_on_demand(world.gateway, request, world.lookup, world.backends, world.dns, NOW)


def test_on_demand_probe_tests_a_fix_without_applying_it():
    world = World("live-probe-host")
    before = copy.deepcopy(world.gateway)
    body = on_demand(world, host="app.contoso.com")
    assert body["backendAddressPool"]["id"].endswith("/web-pool")
    settings = body["backendHealthHttpSettings"]
    assert settings["backendHttpSettings"]["id"].endswith("/web-settings")
    assert [(s["address"], s["health"]) for s in settings["servers"]] == [
        ("10.1.1.4", "Healthy"),
        ("10.1.1.5", "Healthy"),
    ]
    assert settings["servers"][0]["ipConfiguration"] == {"id": NIC1_CONFIG}
    assert world.gateway == before
    wrong_host = on_demand(world, host="127.0.0.1")["backendHealthHttpSettings"]["servers"]
    assert {classify_probe_log(s["healthProbeLog"]) for s in wrong_host} == {ProbeLogKind.STATUS_MISMATCH}


def test_on_demand_probe_timeout_and_match():
    world = World("live-slow-backend")
    servers = on_demand(world, timeout=10)["backendHealthHttpSettings"]["servers"]
    assert {classify_probe_log(s["healthProbeLog"]) for s in servers} == {ProbeLogKind.PROBE_TIMEOUT}
    servers = on_demand(world, timeout=60, path="/missing", match={"statusCodes": ["200-399"]})[
        "backendHealthHttpSettings"
    ]["servers"]
    assert {classify_probe_log(s["healthProbeLog"]) for s in servers} == {ProbeLogKind.STATUS_MISMATCH}
    servers = on_demand(world, timeout=60, path="/missing", match={"statusCodes": ["404"]})[
        "backendHealthHttpSettings"
    ]["servers"]
    assert {s["health"] for s in servers} == {"Healthy"}


def test_on_demand_probe_host_from_settings():
    world = World("live-probe-host")
    world.gw("backendHttpSettingsCollection", "web-settings")["properties"]["hostName"] = "app.contoso.com"
    servers = on_demand(world, pickHostNameFromBackendHttpSettings=True)["backendHealthHttpSettings"][
        "servers"
    ]
    assert {s["health"] for s in servers} == {"Healthy"}


def test_on_demand_probe_sees_the_infra_block():
    world = World("live-infra-ports")
    servers = on_demand(world, host="127.0.0.1")["backendHealthHttpSettings"]["servers"]
    assert {s["health"] for s in servers} == {"Unknown"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backendAddressPool": None}, "must name backendAddressPool"),
        ({"backendAddressPool": {"id": f"{GW}/backendAddressPools/nope"}}, "does not exist"),
        ({"backendHttpSettings": {"id": f"{GW}/backendHttpSettingsCollection/nope"}}, "do not exist"),
    ],
)
def test_on_demand_probe_rejects_unknown_targets(change, message):
    world = World("live-probe-host")
    with pytest.raises(ValueError, match=message):
        on_demand(world, host="app.contoso.com", **change)


# --- the infrastructure-port check equals a port-by-port check -----------------------

_port_ranges = st.tuples(st.integers(65100, 65535), st.integers(0, 200)).map(
    lambda t: f"{t[0]}-{min(65535, t[0] + t[1])}" if t[1] else str(t[0])
)
_rules = st.lists(
    st.tuples(
        st.sampled_from(["Allow", "Deny"]), _port_ranges, st.sampled_from(["GatewayManager", "*", "Internet"])
    ),
    max_size=5,
)


@settings(max_examples=40, deadline=None)
@given(_rules, st.booleans())
def test_infra_check_matches_checking_every_port(rules, v1):
    nsg_id = f"{NET}/networkSecurityGroups/random"
    nsg = {
        "id": nsg_id,
        "properties": {
            "securityRules": [
                rule(f"r{i}", access=access, priority=100 + i, source=source, ports=ports, nsg=nsg_id)
                for i, (access, ports, source) in enumerate(rules)
            ]
        },
    }
    low, high = (65503, 65534) if v1 else (65200, 65535)
    model = models.NetworkSecurityGroup(nsg)
    every_port_allowed = all(
        evaluate_nsg(model, Flow(direction="Inbound", source=source, destination="10.1.0.4", port=port),
                     vnet_prefixes=["10.1.0.0/16"]).access == "Allow"
        for source in ("GatewayManager", "AzureLoadBalancer")
        for port in range(low, high + 1)
    )  # fmt: skip
    blocked = infra_ports_blocked(nsg, v1=v1, destination="10.1.0.4", vnet=["10.1.0.0/16"])
    assert blocked == (not every_port_allowed)


ASG_WEB = f"{NET}/applicationSecurityGroups/asg-web"


def test_an_allow_to_an_application_security_group_reaches_only_its_members(fast):
    allow = rule(
        "AllowGwToWeb", access="Allow", priority=100, source="10.1.0.0/24", ports="8080", nsg=BACKEND_NSG
    )
    del allow["properties"]["destinationAddressPrefix"]
    allow["properties"]["destinationApplicationSecurityGroups"] = [{"id": ASG_WEB}]
    fast.nsg_rules(BACKEND_NSG)[:] = [allow, rule("DenyAll", access="Deny", priority=4096, nsg=BACKEND_NSG)]
    fast.stored(NIC1)["properties"]["ipConfigurations"][0]["properties"]["applicationSecurityGroups"] = [
        {"id": ASG_WEB.upper()}
    ]
    assert fast.kinds() == [ProbeLogKind.HEALTHY, ProbeLogKind.CONNECT]


# --- private (network-isolated) v2 gateways ------------------------------------------


def isolate(world: World, value: str = "True", tag: str = "EnhancedNetworkControl") -> None:
    world.gateway["tags"] = {tag: value}


def locked_down(world: World) -> None:
    """No GatewayManager rule, Deny-All outbound (with an allow to the backends), 0.0.0.0/0 to a firewall."""
    nsg_rules = world.nsg_rules(APPGW_NSG)
    nsg_rules[:] = [r for r in nsg_rules if r["name"] != "AllowGatewayManager"]
    nsg_rules.append(rule("AllowToBackends", access="Allow", priority=100, direction="Outbound",
                          destination="10.1.1.0/24", ports="8080"))  # fmt: skip
    nsg_rules.append(
        rule("DenyAllOutbound", access="Deny", priority=4096, direction="Outbound", protocol="*")
    )
    rt_id = route_table(world, "rt-appgw", [("0.0.0.0/0", "VirtualAppliance")])
    world.subnet(APPGW_SUBNET)["properties"]["routeTable"] = {"id": rt_id}


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("EnhancedNetworkControl", "True"),
        ("enhancednetworkcontrol", "TRUE"),
        ("ENHANCEDNETWORKCONTROL", "true"),
    ],
)
def test_an_isolated_gateway_does_not_depend_on_gateway_manager_internet_or_the_default_route(
    fast, tag, value
):
    locked_down(fast)
    assert {s["health"] for s in fast.servers()} == {"Unknown"}  # an ordinary v2 gateway breaks
    isolate(fast, value, tag)
    assert {s["health"] for s in fast.servers()} == {"Healthy"}


def test_the_tag_must_say_true(fast):
    locked_down(fast)
    isolate(fast, "False")
    assert {s["health"] for s in fast.servers()} == {"Unknown"}


def test_an_isolated_gateway_still_needs_the_azure_load_balancer(fast):
    isolate(fast)
    fast.nsg_rules(APPGW_NSG).append(
        rule("DenyLB", access="Deny", priority=50, source="AzureLoadBalancer", protocol="*")
    )
    assert {s["health"] for s in fast.servers()} == {"Unknown"}


def test_an_isolated_gateway_still_needs_a_path_to_its_backends(fast):
    isolate(fast)
    fast.nsg_rules(APPGW_NSG).append(
        rule("DenyAllOutbound", access="Deny", priority=4096, direction="Outbound", protocol="*")
    )
    assert set(fast.kinds()) == {ProbeLogKind.CONNECT}


def private_frontend_only(world: World) -> None:
    for frontend in world.gateway["properties"]["frontendIPConfigurations"]:
        frontend["properties"].pop("publicIPAddress", None)
        frontend["properties"]["subnet"] = {"id": APPGW_SUBNET}


def internet_member(world: World) -> None:
    pool = world.gw("backendAddressPools", "web-pool")["properties"]
    pool["backendIPConfigurations"] = []
    pool["backendAddresses"] = [{"ipAddress": "20.50.2.10"}]
    world.backends["20.50.2.10"] = listening(8080)


def test_a_private_frontend_only_gateway_reaches_internet_backends_only_through_a_nat_gateway(fast):
    internet_member(fast)
    isolate(fast)
    assert fast.kinds() == [ProbeLogKind.HEALTHY]  # its public frontend is the way out
    private_frontend_only(fast)
    assert fast.kinds() == [ProbeLogKind.CONNECT]
    fast.subnet(APPGW_SUBNET)["properties"]["natGateway"] = {"id": f"{NET}/natGateways/nat-appgw"}
    assert fast.kinds() == [ProbeLogKind.HEALTHY]


def test_without_isolation_a_private_frontend_does_not_cut_internet_backends(fast):
    internet_member(fast)
    private_frontend_only(fast)
    assert fast.kinds() == [ProbeLogKind.HEALTHY]


def test_a_private_frontend_only_gateway_still_reaches_its_vnet_backends(fast):
    isolate(fast)
    private_frontend_only(fast)
    assert set(fast.kinds()) == {ProbeLogKind.HEALTHY}
