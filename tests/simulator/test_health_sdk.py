"""Derived backend health through the real SDK against the simulator, before and after fixes."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import dns.message
import dns.query
from azure.mgmt.network import models

from core.sdk_values import wire
from netrules.probes import ProbeLogKind, classify_probe_log
from simulator.arm import _DERIVED_HEALTH, _NSG_RULES

ROOT = Path(__file__).resolve().parents[2]
RG = "rg-contoso-web"
GW_NAME = "agw-contoso"


def load(scenario: str) -> dict:
    return json.loads((ROOT / "scenarios" / scenario / "world.json").read_text())


def gateway_of(world: dict) -> dict:
    return next(r for r in world["resources"] if r["type"] == "Microsoft.Network/applicationGateways")


def servers(
    health: models.ApplicationGatewayBackendHealth,
) -> list[models.ApplicationGatewayBackendHealthServer]:
    return [
        server
        for pool in health.backend_address_pools or []
        for settings in pool.backend_http_settings_collection or []
        for server in settings.servers or []
    ]


def health_summary(network) -> set[tuple[str, ProbeLogKind]]:
    health = network.application_gateways.begin_backend_health(RG, GW_NAME).result()
    return {(wire(s.health), classify_probe_log(s.health_probe_log)) for s in servers(health)}


def test_probe_timeout_heals_after_raising_the_probe_timeout(simulator, clients):
    world = load("live-slow-backend")  # backends answer in 25 s
    probe = gateway_of(world)["properties"]["probes"][0]["properties"]
    probe["timeout"] = 20
    network = clients(simulator(world)).network
    assert health_summary(network) == {("Unhealthy", ProbeLogKind.PROBE_TIMEOUT)}

    gateway = network.application_gateways.get(RG, GW_NAME)
    gateway.probes[0].timeout = 30
    network.application_gateways.begin_create_or_update(
        RG, GW_NAME, gateway, headers={"If-Match": gateway.etag}
    ).result()
    assert health_summary(network) == {("Healthy", ProbeLogKind.HEALTHY)}


def test_nic_members_come_back_with_their_ip_configuration(simulator, clients):
    world = load("live-slow-backend")
    network = clients(simulator(world)).network
    health = network.application_gateways.begin_backend_health(RG, GW_NAME).result()
    nic_configs = gateway_of(world)["properties"]["backendAddressPools"][0]["properties"][
        "backendIPConfigurations"
    ]
    assert [(s.address, s.ip_configuration.id) for s in servers(health)] == [
        ("10.1.1.4", nic_configs[0]["id"]),
        ("10.1.1.5", nic_configs[1]["id"]),
    ]


def test_infra_ports_unknown_heals_after_an_allow_rule(simulator, clients):
    network = clients(simulator("scenarios/live-infra-ports/world.json")).network
    assert health_summary(network) == {("Unknown", ProbeLogKind.UNKNOWN)}

    rule = models.SecurityRule(
        protocol="Tcp",
        source_port_range="*",
        destination_port_range="65200-65535",
        source_address_prefix="GatewayManager",
        destination_address_prefix="*",
        access="Allow",
        priority=100,
        direction="Inbound",
    )
    network.security_rules.begin_create_or_update(
        RG, "nsg-contoso-appgw", "AllowGatewayManager", rule
    ).result()
    assert health_summary(network) == {("Healthy", ProbeLogKind.HEALTHY)}


def test_on_demand_probe_tests_a_host_fix_without_writing(simulator, clients):
    sim = simulator("scenarios/live-probe-host/world.json")
    network = clients(sim).network
    assert health_summary(network) == {("Unhealthy", ProbeLogKind.STATUS_MISMATCH)}
    gateway = network.application_gateways.get(RG, GW_NAME)
    request = models.ApplicationGatewayOnDemandProbe(
        protocol="Http",
        host="app.contoso.com",
        path="/health",
        timeout=30,
        pick_host_name_from_backend_http_settings=False,
        match=models.ApplicationGatewayProbeHealthResponseMatch(status_codes=["200-399"]),
        backend_address_pool=models.SubResource(id=gateway.backend_address_pools[0].id),
        backend_http_settings=models.SubResource(id=gateway.backend_http_settings_collection[0].id),
    )
    result = network.application_gateways.begin_backend_health_on_demand(RG, GW_NAME, request).result()
    assert result.backend_address_pool.id == gateway.backend_address_pools[0].id
    on_demand = result.backend_health_http_settings
    assert on_demand.backend_http_settings.id == gateway.backend_http_settings_collection[0].id
    assert {(s.address, wire(s.health)) for s in on_demand.servers} == {
        ("10.1.1.4", "Healthy"),
        ("10.1.1.5", "Healthy"),
    }
    assert network.application_gateways.get(RG, GW_NAME).etag == gateway.etag
    assert health_summary(network) == {("Unhealthy", ProbeLogKind.STATUS_MISMATCH)}


def test_fqdn_member_through_the_vnet_custom_dns(simulator, clients):
    world = load("custom-dns")
    del world["backendHealth"]
    world["backends"] = {
        "10.1.1.4": {"ports": [8080], "responseSeconds": 0.05, "paths": {"/health": 200}},
    }
    sim = simulator(world)
    network = clients(sim).network
    assert health_summary(network) == {("Unhealthy", ProbeLogKind.DNS)}

    host, port = sim.dns_servers["10.50.0.10"]
    reply = dns.query.udp(dns.message.make_query("www.contoso.net", "A"), host, port=port, timeout=5)
    assert [r.address for r in reply.answer[0]] == ["10.1.1.4"]

    gateway = network.application_gateways.get(RG, GW_NAME)
    gateway.backend_address_pools[0].backend_addresses = [
        models.ApplicationGatewayBackendAddress(fqdn="www.contoso.net")
    ]
    network.application_gateways.begin_create_or_update(
        RG, GW_NAME, gateway, headers={"If-Match": gateway.etag}
    ).result()
    assert health_summary(network) == {("Healthy", ProbeLogKind.HEALTHY)}


def test_verbatim_health_is_replaced_by_derived_health_after_a_write(simulator, clients):
    world = copy.deepcopy(load("nsg-backend-subnet"))
    world["backends"] = {
        ip: {"ports": [8080], "responseSeconds": 0.05, "paths": {"/health": 200}}
        for ip in ("10.1.1.4", "10.1.1.5")
    }
    network = clients(simulator(world)).network
    assert health_summary(network) == {("Unhealthy", ProbeLogKind.CONNECT)}
    network.security_rules.begin_delete(RG, "nsg-contoso-backend", "DenyAppGateway").result()
    assert health_summary(network) == {("Healthy", ProbeLogKind.HEALTHY)}


def test_a_tag_only_write_keeps_a_healthy_scenario_healthy(simulator, clients):
    network = clients(simulator("scenarios/healthy/world.json")).network
    assert health_summary(network) == {("Healthy", ProbeLogKind.HEALTHY)}
    gateway = network.application_gateways.get(RG, GW_NAME)
    gateway.tags = {"owner": "sre"}
    network.application_gateways.begin_create_or_update(RG, GW_NAME, gateway).result()
    assert health_summary(network) == {("Healthy", ProbeLogKind.HEALTHY)}


def test_deleting_the_deny_rule_heals_the_bundled_scenario(simulator, clients):
    network = clients(simulator("scenarios/nsg-backend-subnet/world.json")).network
    assert health_summary(network) == {("Unhealthy", ProbeLogKind.CONNECT)}
    network.security_rules.begin_delete(RG, "nsg-contoso-backend", "DenyAppGateway").result()
    assert health_summary(network) == {("Healthy", ProbeLogKind.HEALTHY)}


def test_a_server_the_world_does_not_describe_keeps_its_recorded_health(simulator, clients):
    world = copy.deepcopy(load("probe-timeout"))
    del world["backends"]["10.1.1.5"]  # 10.1.1.4 answers in 45 s, 10.1.1.5 is only recorded
    network = clients(simulator(world)).network
    gateway = network.application_gateways.get(RG, GW_NAME)
    gateway.probes[0].timeout = 60
    network.application_gateways.begin_create_or_update(RG, GW_NAME, gateway).result()
    health = network.application_gateways.begin_backend_health(RG, GW_NAME).result()
    by_address = {s.address: classify_probe_log(s.health_probe_log) for s in servers(health)}
    assert by_address == {"10.1.1.4": ProbeLogKind.HEALTHY, "10.1.1.5": ProbeLogKind.PROBE_TIMEOUT}


def test_a_blocked_path_overrides_the_recorded_health(simulator, clients):
    world = copy.deepcopy(load("healthy"))
    del world["backends"]
    network = clients(simulator(world)).network
    rule = models.SecurityRule(
        protocol="Tcp",
        source_address_prefix="*",
        source_port_range="*",
        destination_address_prefix="*",
        destination_port_range="*",
        access="Deny",
        priority=101,
        direction="Inbound",
    )
    network.security_rules.begin_delete(RG, "nsg-contoso-backend", "AllowFromAppGateway").result()
    network.security_rules.begin_create_or_update(RG, "nsg-contoso-backend", "DenyAll", rule).result()
    assert health_summary(network) == {("Unhealthy", ProbeLogKind.CONNECT)}


class _HeldBehaviour(dict):
    """A backend's behaviour (world `backends`) whose reads wait for `release`: a derivation of
    backend health that probes this backend stops at its first read until the test lets it go."""

    def __init__(self, behaviour: dict, reading: threading.Event, release: threading.Event) -> None:
        super().__init__(behaviour)
        self.reading, self.release = reading, release

    def get(self, key: Any, default: Any = None) -> Any:
        self.reading.set()
        self.release.wait(60)
        return super().get(key, default)


def test_other_requests_are_served_while_backend_health_is_worked_out(simulator, clients):
    """Azure answers other requests while it probes the backends; so does the simulator: the
    derivation runs outside the world's lock, and a diagnosis' other reads do not queue behind it."""
    world = load("live-slow-backend")
    sim = simulator(world)
    reading, release = threading.Event(), threading.Event()
    sim.world.backends = {
        address: _HeldBehaviour(behaviour, reading, release)
        for address, behaviour in world["backends"].items()
    }
    network = clients(sim).network
    health: list[Any] = []
    probing = threading.Thread(
        target=lambda: health.append(network.application_gateways.begin_backend_health(RG, GW_NAME).result())
    )
    vnets: list[Any] = []
    reading_vnet = threading.Thread(
        target=lambda: vnets.append(network.virtual_networks.get(RG, "vnet-contoso"))
    )
    try:
        probing.start()
        assert reading.wait(30), "backend health was never derived"
        reading_vnet.start()
        reading_vnet.join(30)
        served_meanwhile = not reading_vnet.is_alive() and len(vnets) == 1
    finally:
        release.set()
    probing.join(60)
    reading_vnet.join(60)
    assert served_meanwhile, "the VNet read waited for backend health to be worked out"
    assert vnets[0].name == "vnet-contoso"
    assert servers(health[0]), "backend health came back without its servers"


def test_warm_up_makes_the_derivations_tables_and_serves_nothing_changes_nothing(simulator, clients):
    """`Simulator.warm_up` (what `appgw-doctor simulate` does before it announces itself) derives each
    gateway's backend health once: the world's NSG rules are converted, no request is served and
    nothing is written, and the health then served is what a simulator never warmed up serves."""
    world = load("nsg-backend-subnet")
    world.pop("backendHealth", None)  # derived, not served as recorded
    cold, warm = simulator(copy.deepcopy(world)), simulator(copy.deepcopy(world))
    before = {k: v for k, v in warm.dump().items() if k != "clock"}  # the clock moves with real time
    assert warm.world.derived(_NSG_RULES, dict) == {}
    warm.warm_up()
    assert warm.world.derived(_NSG_RULES, dict)  # the derivation's NSG tables are made
    assert len(warm.requests) == 0
    assert {k: v for k, v in warm.dump().items() if k != "clock"} == before
    served = health_summary(clients(warm).network)
    assert served == health_summary(clients(cold).network)
    assert ("Unhealthy", ProbeLogKind.CONNECT) in served  # the scenario's blocked backend is still seen


def test_derived_health_is_kept_while_the_world_and_the_certificates_verdicts_stand(simulator, clients):
    """An answer is served again while nothing it depends on moved; a certificate expiring as time
    passes, a write, and a `backends` section replaced each make it derived anew."""
    world = load("tls-cn-mismatch")
    world.pop("backendHealth", None)  # derived, not served as recorded
    for behaviour in world["backends"].values():  # the probe's host; valid for the next minute
        behaviour["certificate"].update(subject="CN=www.contoso.com", san=["www.contoso.com"])
        behaviour["certificate"]["notAfter"] = "2026-11-23T10:31:00Z"
    sim = simulator(world)
    network = clients(sim).network
    probe_host = health_summary(network)
    assert probe_host == {("Healthy", ProbeLogKind.HEALTHY)}
    kept = sim.world.derived(_DERIVED_HEALTH, dict)
    assert len(kept) == 1
    assert health_summary(network) == probe_host  # served again, as kept
    assert sim.world.derived(_DERIVED_HEALTH, dict) is kept

    sim.advance(120)  # past notAfter: the kept answer no longer holds
    assert health_summary(network) == {("Unhealthy", ProbeLogKind.CERT_EXPIRED)}

    sim.world.backends = {}  # a section replaced: nothing listens any more
    assert health_summary(network) == {("Unhealthy", ProbeLogKind.CONNECT)}
