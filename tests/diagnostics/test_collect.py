"""Snapshot collection through the real SDK against the simulator: what is fetched, how often, and
what happens when ARM refuses, throttles, fails or stalls."""

from __future__ import annotations

import copy
import json
import socket
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from core.arm import MAX_ATTEMPTS, Arm
from diagnostics.collect import MAX_SUBNET_NIC_GETS, GatewayUnavailable, collect
from diagnostics.diagnosis import diagnose
from diagnostics.snapshot import key
from model.findings import CheckStatus
from simulator import FaultRule

ROOT = Path(__file__).resolve().parents[2]
SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
RG = f"{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
GATEWAY = f"{RG}/applicationGateways/agw-contoso"
NICS = [f"{RG}/networkInterfaces/nic-contoso-web-1", f"{RG}/networkInterfaces/nic-contoso-web-2"]
NSG_APPGW = f"{RG}/networkSecurityGroups/nsg-contoso-appgw"
NSG_BACKEND = f"{RG}/networkSecurityGroups/nsg-contoso-backend"
INCIDENT = datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)
POLLS = {"operations.get", "operationResults.get"}


def world(name: str) -> dict:
    return json.loads((ROOT / "scenarios" / name / "world.json").read_text())


def snapshot_of(sim, azure, **options):
    return collect(
        GATEWAY, arm=Arm(azure, budget_seconds=options.pop("budget", 30)), incident_time=INCIDENT, **options
    )


def checks_by_status(diagnosis, status):
    return [check for check in diagnosis.checks if check.status == status]


def test_snapshot_holds_every_piece_of_the_gateway(simulator, clients):
    sim = simulator("scenarios/request-timeout/world.json")
    snapshot = snapshot_of(sim, clients(sim))

    assert snapshot.gateway.name == "agw-contoso"
    assert snapshot.vnet["name"] == "vnet-contoso"  # the JSON ARM sent
    assert snapshot.gateway_subnet["name"] == "appgw-subnet"
    assert {key(NSG_APPGW), key(NSG_BACKEND)} <= set(snapshot.nsgs)
    assert set(snapshot.nics) == {key(n) for n in NICS}
    assert set(snapshot.effective_routes) == {key(n) for n in NICS}
    assert set(snapshot.effective_nsgs) == {key(n) for n in NICS}
    assert all(snapshot.effective_routes[key(n)] for n in NICS)
    assert snapshot.backend_health is not None
    assert snapshot.backend_health["backendAddressPools"]  # the JSON ARM sent
    members = snapshot.backend_members()
    assert sorted(m.address for m in members) == ["10.1.1.4", "10.1.1.5"]
    assert not [piece for piece in snapshot.errors if not piece.startswith("metrics/")]


def test_metrics_cover_the_incident_window_split_by_backend_settings(simulator, clients):
    sim = simulator("scenarios/request-timeout/world.json")
    snapshot = snapshot_of(sim, clients(sim))

    latency = snapshot.metrics["BackendLastByteResponseTime"]
    settings = {
        meta.value
        for series in latency.timeseries
        for meta in series.metadatavalues
        if meta.name.value == "BackendHttpSetting"
    }
    assert settings == {"web-settings", "reports-settings"}
    stamps = [point.time_stamp for series in latency.timeseries for point in series.data]
    assert stamps and all(snapshot.window_start <= stamp < INCIDENT for stamp in stamps)
    assert snapshot.window_start == datetime(2026, 11, 23, 9, 57, tzinfo=timezone.utc)
    assert all(point.maximum is not None for series in latency.timeseries for point in series.data)


def test_each_resource_is_read_once_and_every_request_is_counted(simulator, clients):
    sim = simulator("scenarios/request-timeout/world.json")
    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT)

    served = sim.requests.served
    reads = Counter(
        s.path.lower() for s in served if s.method == "GET" and s.operation not in POLLS | {"metrics.list"}
    )
    assert reads and max(reads.values()) == 1, [path for path, n in reads.items() if n > 1]
    operations = Counter(s.operation for s in served if s.operation not in POLLS)
    assert operations == {
        "applicationGateways.get": 1,
        "applicationGateways.backendHealth": 1,
        "virtualNetworks.get": 1,  # the gateway subnet and backend subnet both come from this one GET
        "networkSecurityGroups.get": 2,
        "networkInterfaces.get": 2,
        "networkInterfaces.getEffectiveRouteTable": 2,
        "networkInterfaces.listEffectiveNetworkSecurityGroups": 2,
        "metrics.list": 4,
        "activityLogs.list": 1,  # the path's one resource group: changes in the look-back window
    }
    assert diagnosis.arm_calls == len(served)  # polls included


def test_a_subnet_in_another_vnet_is_read_with_its_own_get(simulator, clients):
    data = world("request-timeout")
    other_vnet = copy.deepcopy(next(r for r in data["resources"] if r["name"] == "vnet-contoso"))
    other_vnet["id"] = other_vnet["id"].replace("vnet-contoso", "vnet-other")
    other_vnet["name"] = "vnet-other"
    other_vnet["properties"]["addressSpace"]["addressPrefixes"] = ["10.9.0.0/16"]
    other_vnet["properties"]["subnets"] = [
        {
            "id": f"{other_vnet['id']}/subnets/apps",
            "name": "apps",
            "properties": {"addressPrefix": "10.9.1.0/24", "networkSecurityGroup": {"id": NSG_BACKEND}},
        }
    ]
    data["resources"].append(other_vnet)
    nic = next(r for r in data["resources"] if r["name"] == "nic-contoso-web-2")
    nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] = (
        f"{other_vnet['id']}/subnets/apps"
    )
    sim = simulator(data)

    snapshot = snapshot_of(sim, clients(sim))

    assert key(f"{other_vnet['id']}/subnets/apps") in snapshot.subnets
    assert snapshot.vnet["name"] == "vnet-contoso"
    assert sim.requests.count("subnets.get") == 1
    assert sim.requests.count("virtualNetworks.get") == 1
    assert sim.requests.count("networkSecurityGroups.get") == 2  # the shared backend NSG once


def test_forbidden_backend_health_is_a_check_error_and_the_rest_still_report(simulator, clients):
    sim = simulator(
        "scenarios/nsg-backend-subnet/world.json",
        faults=[FaultRule("applicationGateways.backendHealth", "error", status=403)],
    )
    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT)

    assert diagnosis.snapshot.errors["backend_health"].startswith("403 AuthorizationFailed")
    errored = checks_by_status(diagnosis, CheckStatus.ERROR)
    assert any("403" in check.reason for check in errored)
    assert {f.code for f in diagnosis.findings} >= {"NSG_BLOCKS_BACKEND"}
    assert "ALL_BACKENDS_UNHEALTHY" not in {f.code for f in diagnosis.findings}
    assert checks_by_status(diagnosis, CheckStatus.PASSED)
    assert sim.requests.count("applicationGateways.backendHealth") == 1  # 403 is not retried


def test_throttling_past_the_retry_budget_is_an_error_not_a_pass(simulator, clients):
    sim = simulator(
        "scenarios/nsg-backend-subnet/world.json",
        faults=[FaultRule("networkSecurityGroups.get", "throttle", retry_after=0.5)],
    )
    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT, budget_seconds=2)

    reason = diagnosis.snapshot.errors["nsgs"]
    assert "429" in reason and "gave up" in reason
    nsg_checks = {check.name: check for check in diagnosis.checks if "429" in check.reason}
    assert nsg_checks and all(check.status == CheckStatus.ERROR for check in nsg_checks.values())
    assert "NSG_BLOCKS_BACKEND" not in {f.code for f in diagnosis.findings}
    attempts = Counter(s.path for s in sim.requests.served if s.operation == "networkSecurityGroups.get")
    assert all(2 <= n <= MAX_ATTEMPTS for n in attempts.values()), attempts


def test_transient_throttling_and_server_errors_are_retried_to_a_full_diagnosis(simulator, clients):
    sim = simulator(
        "scenarios/nsg-backend-subnet/world.json",
        faults=[
            FaultRule("*.get", "throttle", retry_after=0, times=3),
            FaultRule("applicationGateways.backendHealth", "error", status=503, retry_after=0, times=1),
        ],
    )
    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT)

    assert sim.requests.count(status=429) == 3
    assert sim.requests.count(status=503) == 1
    assert not [piece for piece in diagnosis.snapshot.errors if not piece.startswith("metrics")]
    assert {"NSG_BLOCKS_BACKEND", "ALL_BACKENDS_UNHEALTHY"} <= {f.code for f in diagnosis.findings}
    # one retry per refused request: the SDK's own retry policy does not multiply them
    assert sim.requests.count("applicationGateways.backendHealth") == 2


def test_eight_server_errors_on_the_gateway_read_are_waited_out_to_a_full_diagnosis(simulator, clients):
    sim = simulator(
        "scenarios/nsg-backend-subnet/world.json",
        faults=[
            FaultRule("applicationGateways.get", "error", status=500, times=8, retry_after=0.01),
            FaultRule("metrics.list", "error", status=502, times=8, retry_after=0.01),
            FaultRule("networkSecurityGroups.get", "error", status=504, times=8, retry_after=0.01),
        ],
    )
    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT, budget_seconds=30)

    assert sim.requests.count("applicationGateways.get", status=500) == 8
    assert sim.requests.count("applicationGateways.get") == 9
    assert sim.requests.count(status=502) == 8 and sim.requests.count(status=504) == 8
    assert not [piece for piece in diagnosis.snapshot.errors if not piece.startswith("metrics/")]
    assert not checks_by_status(diagnosis, CheckStatus.ERROR)
    assert {"NSG_BLOCKS_BACKEND", "ALL_BACKENDS_UNHEALTHY"} <= {f.code for f in diagnosis.findings}


def test_server_errors_past_the_budget_on_the_gateway_read_make_it_unavailable(simulator, clients):
    sim = simulator(
        "scenarios/nsg-backend-subnet/world.json",
        faults=[FaultRule("applicationGateways.get", "error", status=500, retry_after=0.2)],
    )
    with pytest.raises(GatewayUnavailable) as raised:
        diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT, budget_seconds=1)

    assert raised.value.status == 500
    assert "gave up after" in raised.value.reason and "1 s retry budget" in raised.value.reason
    assert sim.requests.count("applicationGateways.get") >= 2


def test_failed_long_running_operation_is_an_error(simulator, clients):
    sim = simulator(
        "scenarios/request-timeout/world.json",
        faults=[FaultRule("networkInterfaces.getEffectiveRouteTable", "lro-fail")],
    )
    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT)

    reason = diagnosis.snapshot.errors["effective_routes"]
    assert "nic-contoso-web-1: long-running operation failed: InternalServerError: " in reason
    assert "200" not in reason
    assert not diagnosis.snapshot.effective_routes
    assert diagnosis.snapshot.effective_nsgs  # the other long-running operations completed
    errored = [c for c in checks_by_status(diagnosis, CheckStatus.ERROR) if "effective_routes" in c.reason]
    assert errored
    assert "REQUEST_TIMEOUT_TOO_LOW" in {f.code for f in diagnosis.findings}


def test_a_long_running_operation_past_the_budget_times_out(simulator, clients):
    sim = simulator(
        "scenarios/request-timeout/world.json",
        faults=[FaultRule("applicationGateways.backendHealth", "latency", seconds=30)],
    )
    # 3 s: far short of the operation's 30 s, and room for the other reads on a busy CI machine (with
    # 1 s they sometimes ran out of budget too, and the last assertion failed for that reason)
    snapshot = snapshot_of(sim, clients(sim), budget=3)

    assert "timed out" in snapshot.errors["backend_health"]
    assert snapshot.backend_health is None
    assert snapshot.nsgs  # everything else was collected


def test_unknown_gateway_is_reported_as_not_found(simulator, clients):
    sim = simulator("scenarios/request-timeout/world.json")
    with pytest.raises(GatewayUnavailable) as raised:
        collect(GATEWAY + "-missing", arm=Arm(clients(sim)), incident_time=INCIDENT)
    assert raised.value.status == 404


def test_fqdn_members_resolve_through_the_vnets_custom_dns(simulator, clients):
    sim = simulator("scenarios/custom-dns/world.json")
    snapshot = snapshot_of(sim, clients(sim), dns_servers=sim.dns_servers, resolve_dns=True)
    assert snapshot.dns_answers == {"api.internal.contoso.net": []}
    assert "dns_answers" not in snapshot.errors


def test_a_name_the_custom_dns_knows_resolves_to_its_addresses(simulator, clients):
    data = world("custom-dns")
    for table in data["dns"].values():
        table["api.internal.contoso.net"] = ["10.1.1.4", "10.1.1.6"]
    sim = simulator(data)
    snapshot = snapshot_of(sim, clients(sim), dns_servers=sim.dns_servers, resolve_dns=True)
    assert snapshot.dns_answers == {"api.internal.contoso.net": ["10.1.1.4", "10.1.1.6"]}


def test_dns_is_left_unchecked_unless_resolution_is_enabled(simulator, clients):
    sim = simulator("scenarios/custom-dns/world.json")
    snapshot = snapshot_of(sim, clients(sim), dns_servers=sim.dns_servers, resolve_dns=False)
    assert snapshot.dns_answers is None
    assert "dns_answers" not in snapshot.errors


def test_silent_dns_servers_are_an_error(simulator, clients):
    sim = simulator("scenarios/custom-dns/world.json")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        address = silent.getsockname()
        servers = {ip: address for ip in sim.dns_servers}
        snapshot = snapshot_of(sim, clients(sim), dns_servers=servers, resolve_dns=True)
    assert "no custom DNS server answered" in snapshot.errors["dns_answers"]


def test_clients_built_without_the_counting_policy_still_work_and_count_operations(simulator):
    from azure.mgmt.monitor import MonitorManagementClient
    from azure.mgmt.network import NetworkManagementClient

    from core.azure_clients import AzureClients, StaticTokenCredential

    sim = simulator("scenarios/request-timeout/world.json")
    options = {"base_url": sim.endpoint, "connection_verify": sim.ca_cert, "polling_interval": 0.05}
    credential = StaticTokenCredential()
    azure = AzureClients(
        network=NetworkManagementClient(credential, sim.subscription_id, **options),
        monitor=MonitorManagementClient(credential, sim.subscription_id, **options),
    )
    try:
        diagnosis = diagnose(GATEWAY, clients=azure, incident_time=INCIDENT)
    finally:
        azure.close()
    polls = sum(1 for s in sim.requests.served if s.operation in POLLS)
    assert diagnosis.arm_calls == len(sim.requests) - polls  # SDK operations, not HTTP requests
    assert "REQUEST_TIMEOUT_TOO_LOW" in {f.code for f in diagnosis.findings}


def _gateway_resource(data: dict) -> dict:
    return next(r for r in data["resources"] if r["type"] == "Microsoft.Network/applicationGateways")


def test_ip_members_get_the_nsg_of_the_vnet_subnet_they_fall_in(simulator, clients):
    data = world("request-timeout")
    pool = _gateway_resource(data)["properties"]["backendAddressPools"][0]["properties"]
    pool["backendIPConfigurations"] = []
    pool["backendAddresses"] = [{"ipAddress": "10.1.1.4"}]
    sim = simulator(data)

    snapshot = snapshot_of(sim, clients(sim))

    assert set(snapshot.nsgs) == {key(NSG_APPGW), key(NSG_BACKEND)}
    assert [m.subnet_id.rsplit("/", 1)[1] for m in snapshot.backend_members()] == ["backend-subnet"]
    # the subnet's ipConfigurations name both NICs; the one holding 10.1.1.4 is identified
    assert sim.requests.count("networkInterfaces.get") == 2
    assert sim.requests.count("networkInterfaces.getEffectiveRouteTable") == 0
    assert not snapshot.unidentified_nics


def ip_pool(data: dict, *addresses: str) -> None:
    pool = _gateway_resource(data)["properties"]["backendAddressPools"][0]["properties"]
    pool["backendIPConfigurations"] = []
    pool["backendAddresses"] = [{"ipAddress": address} for address in addresses]


def with_nic_nsg(data: dict) -> str:
    """nic-contoso-web-1 (10.1.1.4) gets an NSG of its own; returns its id."""
    nsg_id = f"{RG}/networkSecurityGroups/nsg-nic"
    data["resources"].append(
        {"id": nsg_id, "name": "nsg-nic", "type": "Microsoft.Network/networkSecurityGroups",
         "location": "westeurope", "properties": {"securityRules": []}}
    )  # fmt: skip
    nic = next(r for r in data["resources"] if r["id"] == NICS[0])
    nic["properties"]["networkSecurityGroup"] = {"id": nsg_id}
    return nsg_id


def test_the_nic_holding_an_ip_member_brings_its_nsg(simulator, clients):
    data = world("request-timeout")
    ip_pool(data, "10.1.1.4", "10.1.1.5")
    nsg_id = with_nic_nsg(data)
    sim = simulator(data)

    snapshot = snapshot_of(sim, clients(sim))

    assert key(nsg_id) in snapshot.nsgs
    assert {key(n) for n in NICS} <= set(snapshot.nics)
    assert sim.requests.count("networkInterfaces.get") == 2  # memoised across both members


def test_a_subnet_with_many_nics_is_searched_with_one_list_per_resource_group(simulator, clients):
    data = world("request-timeout")
    ip_pool(data, "10.1.1.4")
    nsg_id = with_nic_nsg(data)
    template = next(r for r in data["resources"] if r["id"] == NICS[1])
    for n in range(MAX_SUBNET_NIC_GETS):
        nic = copy.deepcopy(template)
        nic["id"], nic["name"] = f"{RG}/networkInterfaces/nic-extra-{n}", f"nic-extra-{n}"
        ip_configuration = nic["properties"]["ipConfigurations"][0]
        ip_configuration["id"] = f"{nic['id']}/ipConfigurations/ipconfig1"
        ip_configuration["properties"]["privateIPAddress"] = f"10.1.1.{100 + n}"
        data["resources"].append(nic)
    sim = simulator(data)

    snapshot = snapshot_of(sim, clients(sim))

    assert sim.requests.count("networkInterfaces.get") == 0
    assert sim.requests.count("networkInterfaces.list") == 1
    assert key(nsg_id) in snapshot.nsgs and key(NICS[0]) in snapshot.nics


def test_an_unreadable_nic_behind_an_ip_member_makes_the_backend_nsg_check_an_error(simulator, clients):
    data = world("request-timeout")
    ip_pool(data, "10.1.1.4")
    sim = simulator(data, faults=[FaultRule("networkInterfaces.get", "error", status=403)])

    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT)

    assert "10.1.1.4" in diagnosis.snapshot.unidentified_nics
    [check] = [c for c in diagnosis.checks if c.name == "nsg-backend"]
    assert check.status == CheckStatus.ERROR
    assert "NIC holding 10.1.1.4" in check.reason


def test_an_ip_member_in_a_peered_vnet_brings_that_vnets_subnet_and_nsgs(simulator, clients):
    sim = simulator("tests/worlds/nsg-peered-spoke-ip-decoy/world.json")
    snapshot = snapshot_of(sim, clients(sim))

    assert [v["name"] for v in snapshot.peered_vnets.values()] == ["vnet-spoke"]
    [member] = snapshot.backend_members()
    assert member.subnet_id.endswith("/virtualNetworks/vnet-spoke/subnets/spoke-backend")
    assert key(f"{RG}/networkSecurityGroups/nsg-spoke") in snapshot.nsgs


def test_missing_nic_and_nic_in_another_subscription_are_recorded_not_raised(simulator, clients):
    data = world("request-timeout")
    pool = _gateway_resource(data)["properties"]["backendAddressPools"][0]["properties"]
    elsewhere = NICS[1].replace(
        "00000000-0000-0000-0000-000000000001", "99999999-0000-0000-0000-000000000009"
    )
    pool["backendIPConfigurations"] = [
        {"id": NICS[0] + "-gone/ipConfigurations/ipconfig1"},
        {"id": elsewhere + "/ipConfigurations/ipconfig1"},
    ]
    sim = simulator(data)

    snapshot = snapshot_of(sim, clients(sim))

    assert "nic-contoso-web-1-gone: 404" in snapshot.errors["nics"]
    assert "outside the gateway's subscription" in snapshot.errors["nics"]
    assert "nic-contoso-web-1-gone" in snapshot.errors["effective_routes"]
    assert snapshot.nsgs and snapshot.backend_health is not None
    assert sim.requests.count("networkInterfaces.get") == 1  # nothing sent for the other subscription


def test_an_fqdn_resolving_into_the_vnet_brings_its_subnet_nsg(simulator, clients):
    sim = simulator("tests/worlds/custom-dns-resolves/world.json")
    snapshot = snapshot_of(sim, clients(sim), dns_servers=sim.dns_servers, resolve_dns=True)

    assert snapshot.dns_answers == {"www.contoso.net": ["10.1.1.4"]}
    assert key(NSG_BACKEND) in snapshot.nsgs
    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT, dns_servers=sim.dns_servers)
    assert {check.name: check.status for check in diagnosis.checks}["nsg-backend"] == CheckStatus.PASSED


def test_fqdns_on_azure_provided_dns_are_resolved_through_azure_dns(simulator, clients):
    data = json.loads((ROOT / "tests/worlds/dns-azure-dns-explicit-decoy/world.json").read_text())
    vnet = next(r for r in data["resources"] if r["name"] == "vnet-contoso")
    vnet["properties"].pop("dhcpOptions")  # Azure-provided DNS, nothing listed
    sim = simulator(data)

    snapshot = snapshot_of(sim, clients(sim), dns_servers=sim.dns_servers)
    assert snapshot.dns_answers == {"app.contoso.com": ["20.50.2.10"]}

    # Azure DNS cannot be asked (no responder for it): nothing is made up, nothing recorded as failed
    snapshot = snapshot_of(sim, clients(sim), dns_servers={})
    assert snapshot.dns_answers is None and "dns_answers" not in snapshot.errors


def test_an_ip_member_in_a_peered_vnet_that_cannot_be_read_makes_the_backend_nsg_check_an_error(
    simulator, clients
):
    data = json.loads((ROOT / "tests/worlds/nsg-peered-spoke-ip-decoy/world.json").read_text())
    hub = next(r for r in data["resources"] if r["name"] == "vnet-contoso")
    [peering] = hub["properties"]["virtualNetworkPeerings"]
    remote = peering["properties"]["remoteVirtualNetwork"]
    remote["id"] = remote["id"].replace(
        "00000000-0000-0000-0000-000000000001", "99999999-0000-0000-0000-000000000009"
    )
    sim = simulator(data)

    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT)

    [check] = [c for c in diagnosis.checks if c.name == "nsg-backend"]
    assert check.status == CheckStatus.ERROR
    assert "10.2.1.4 is in peered VNet vnet-spoke, which could not be read" in check.reason
    assert "outside the gateway's subscription" in check.reason


# --- odd shapes: what ARM would not return must not abort a diagnosis (issue 10, item 5) ---


def _diagnose_world(simulator, clients, body):
    sim = simulator(body)
    return diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT, dns_servers=sim.dns_servers)


def _no_internal_errors(diagnosis):
    assert not [c.reason for c in diagnosis.checks if "internal error" in c.reason]


def test_a_bare_string_pool_member_is_named_by_the_checks_that_need_the_pool(simulator, clients, kit):
    world = kit.healthy_world()
    kit.gateway_part(world, "backendAddressPools", "web-pool")["properties"]["backendAddresses"] = [
        "10.1.1.4"
    ]

    diagnosis = _diagnose_world(simulator, clients, world)

    assert "backend_addresses[0]: str '10.1.1.4'" in diagnosis.snapshot.errors["malformed"]
    errored = checks_by_status(diagnosis, CheckStatus.ERROR)
    assert errored and all("10.1.1.4" in check.reason for check in errored)
    assert checks_by_status(diagnosis, CheckStatus.PASSED)  # the rest still ran
    _no_internal_errors(diagnosis)


def test_a_string_where_a_number_belongs_is_recorded_and_the_diagnosis_goes_on(simulator, clients, kit):
    world = kit.healthy_world()
    kit.gateway_part(world, "backendHttpSettingsCollection", "web-settings")["properties"]["port"] = "eighty"

    diagnosis = _diagnose_world(simulator, clients, world)

    assert "web-settings].port: str 'eighty' where int is expected" in diagnosis.snapshot.errors["malformed"]
    assert checks_by_status(diagnosis, CheckStatus.PASSED)
    _no_internal_errors(diagnosis)


def test_nulls_missing_properties_and_unknown_enum_values_are_not_malformed(simulator, clients, kit):
    world = kit.healthy_world()
    gateway = kit.gateway_body(world)["properties"]
    gateway["probes"] = None  # a null where a list is expected: nothing there
    gateway["sku"]["tier"] = "Standard_v9"  # an enum value Azure may add later
    gateway["backendAddressPools"].append({"name": "bare-pool"})  # no `properties` at all
    gateway["backendHttpSettingsCollection"][0]["properties"]["protocol"] = "Quic"

    diagnosis = _diagnose_world(simulator, clients, world)

    assert "malformed" not in diagnosis.snapshot.errors
    assert diagnosis.snapshot.backend_members()  # web-pool's members are all there
    _no_internal_errors(diagnosis)


def test_an_object_where_a_list_belongs_does_not_abort_collection(simulator, clients, kit):
    world = kit.healthy_world()
    pool = kit.gateway_part(world, "backendAddressPools", "web-pool")["properties"]
    pool["backendAddresses"] = {"ipAddress": "10.1.1.4"}

    diagnosis = _diagnose_world(simulator, clients, world)

    assert diagnosis.snapshot.gateway is not None
    errored = checks_by_status(diagnosis, CheckStatus.ERROR)
    assert any("web-pool" in check.reason for check in errored)
    _no_internal_errors(diagnosis)


def test_the_rest_spec_example_gateway_collects_with_its_bare_strings_recorded(kit):
    snapshot = kit.snapshot(ROOT / "tests/worlds/rest-spec-examples/world.json")

    assert snapshot.errors["malformed"].count("where ApplicationGatewayBackendAddress is expected") == 2
    assert [
        m.address
        for m in snapshot.backend_members("/".join([snapshot.gateway_id, "backendAddressPools/appgwpool"]))
    ] == []
    assert snapshot.routing_pairs()
    assert "gateway_subnet" in snapshot.errors  # virtualNetwork1 is not in the examples: 404


def test_backend_health_is_asked_alongside_the_gateway_read(simulator, clients):
    """Backend health names the gateway only and sits on every diagnosis' critical path: it is not
    held back until the gateway's answer arrives."""
    sim = simulator(
        "scenarios/request-timeout/world.json",
        faults=[FaultRule("applicationGateways.get", "latency", seconds=0.5)],
    )
    snapshot = snapshot_of(sim, clients(sim))

    served = [s.operation for s in sim.requests.served]  # in the order they were answered
    assert served.index("applicationGateways.backendHealth") < served.index("applicationGateways.get")
    assert sim.requests.count("applicationGateways.backendHealth") == 1
    assert snapshot.backend_health["backendAddressPools"] and "backend_health" not in snapshot.errors
