"""UDR_DEFAULT_ROUTE_NOT_INTERNET, UDR_DIVERTS_BACKEND_TRAFFIC and BGP_DEFAULT_ROUTE."""

from __future__ import annotations

import pytest

from diagnostics.checks.base import NotApplicable
from diagnostics.checks.routes import BGP_DEFAULT, DEFAULT_ROUTE, DIVERTS_BACKEND
from diagnostics.snapshot import MissingData
from model.findings import Severity
from netrules.probes import ProbeLogKind, probe_log_message
from simulator import FaultRule

RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web"
NIC1 = f"{RG}/providers/Microsoft.Network/networkInterfaces/nic-contoso-web-1"


def routes(world, kit):
    return kit.resource(world, "rt-contoso-appgw")["properties"]["routes"]


def route(name, prefix, hop, ip=None):
    properties = {"addressPrefix": prefix, "nextHopType": hop}
    if ip:
        properties["nextHopIpAddress"] = ip
    return {
        "id": f"{RG}/providers/Microsoft.Network/routeTables/rt-contoso-appgw/routes/{name}",
        "name": name,
        "properties": properties,
    }


def udr_world(kit, *entries):
    world = kit.load_world("tests/worlds/default-route-nva/world.json")
    routes(world, kit)[:] = list(entries)
    return world


def test_a_blackhole_route_for_the_backend_subnet_diverts_traffic(kit):
    [finding] = DIVERTS_BACKEND.run(kit.snapshot(kit.load_world("scenarios/udr-blackhole/world.json")))
    assert (finding.code, finding.severity) == ("UDR_DIVERTS_BACKEND_TRAFFIC", Severity.CRITICAL)
    assert finding.resource.endswith("/routeTables/rt-contoso-appgw/routes/drop-backend")
    assert finding.evidence["nextHopType"] == "None"
    assert finding.evidence["addressPrefix"] == "10.1.1.0/24"
    assert [b["address"] for b in finding.evidence["backends"]] == ["10.1.1.4", "10.1.1.5"]
    assert finding.fix.command == (
        "az network route-table route delete -g rg-contoso-web --route-table-name rt-contoso-appgw "
        "-n drop-backend"
    )


@pytest.mark.parametrize("hop", ["VirtualAppliance", "VirtualNetworkGateway"])
def test_a_user_route_equal_to_the_vnet_prefix_beats_the_system_route(kit, hop):
    world = udr_world(
        kit, route("vnet-via-fw", "10.1.0.0/16", hop, "10.1.2.4" if hop == "VirtualAppliance" else None)
    )
    kit.set_health(world, "Unhealthy", probe_log_message(ProbeLogKind.CONNECT))
    [finding] = DIVERTS_BACKEND.run(kit.snapshot(world))
    assert finding.evidence["nextHopType"] == hop


@pytest.mark.parametrize("hop", ["VirtualAppliance", "VirtualNetworkGateway"])
def test_a_forwarding_hop_is_raised_as_the_contract_says_and_says_when_servers_are_healthy(kit, hop):
    world = udr_world(kit, route("vnet-via-fw", "10.1.0.0/16", hop, "10.1.2.4"))
    [finding] = DIVERTS_BACKEND.run(kit.snapshot(world))
    assert finding.evidence["backendsHealthy"] is True
    assert "backend health reports them healthy" in finding.title
    [gateway_health] = world["backendHealth"].values()
    servers = gateway_health["backendAddressPools"][0]["backendHttpSettingsCollection"][0]["servers"]
    servers[1]["health"] = "Down"
    [finding] = DIVERTS_BACKEND.run(kit.snapshot(world))
    assert finding.evidence["backendsHealthy"] is False
    assert [b["address"] for b in finding.evidence["backends"]] == ["10.1.1.4", "10.1.1.5"]


def test_a_forwarding_hop_stays_suspect_without_backend_health_and_a_blackhole_always(kit):
    world = udr_world(kit, route("vnet-via-fw", "10.1.0.0/16", "VirtualAppliance", "10.1.2.4"))
    del world["backendHealth"]
    assert len(DIVERTS_BACKEND.run(kit.snapshot(world))) == 1
    world = udr_world(kit, route("drop", "10.1.0.0/16", "None"))
    assert len(DIVERTS_BACKEND.run(kit.snapshot(world))) == 1


def test_a_longer_vnetlocal_route_keeps_the_backends_local(kit):
    world = udr_world(
        kit,
        route("vnet-via-fw", "10.1.0.0/16", "VirtualAppliance", "10.1.2.4"),
        route("backend-direct", "10.1.1.0/24", "VnetLocal"),
    )
    assert DIVERTS_BACKEND.run(kit.snapshot(world)) == []


def test_only_the_servers_the_winning_route_covers_are_listed(kit):
    world = udr_world(kit, route("drop", "10.1.1.0/24", "None"), route("keep-4", "10.1.1.4/32", "VnetLocal"))
    [finding] = DIVERTS_BACKEND.run(kit.snapshot(world))
    assert [b["address"] for b in finding.evidence["backends"]] == ["10.1.1.5"]


def test_a_default_route_to_an_appliance_does_not_divert_vnet_backends(kit):
    world = kit.load_world("tests/worlds/default-route-nva/world.json")
    assert DIVERTS_BACKEND.run(kit.snapshot(world)) == []
    [finding] = DEFAULT_ROUTE.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("UDR_DEFAULT_ROUTE_NOT_INTERNET", Severity.CRITICAL)
    assert finding.resource.endswith("/routes/default-to-firewall")
    assert finding.evidence["nextHopIpAddress"] == "10.1.2.4"
    assert "--next-hop-type Internet" in finding.fix.command


def test_a_default_route_to_internet_or_a_blackhole_elsewhere_is_not_a_default_route_problem(kit):
    world = udr_world(kit, route("default", "0.0.0.0/0", "Internet"), route("drop", "10.9.0.0/16", "None"))
    assert DEFAULT_ROUTE.run(kit.snapshot(world)) == []
    assert DEFAULT_ROUTE.run(kit.snapshot(kit.load_world("scenarios/udr-blackhole/world.json"))) == []


def test_a_split_default_route_to_an_appliance_is_a_default_route_problem(kit):
    world = udr_world(
        kit,
        route("low-half", "0.0.0.0/1", "VirtualAppliance", "10.1.2.4"),
        route("high-half", "128.0.0.0/1", "VirtualAppliance", "10.1.2.4"),
    )
    findings = DEFAULT_ROUTE.run(kit.snapshot(world))
    assert sorted(f.evidence["route"] for f in findings) == ["high-half", "low-half"]
    assert all(f.evidence["publicAddressesRouted"] for f in findings)
    by_route = {f.evidence["route"]: f for f in findings}
    assert "Internet-bound traffic (0.0.0.0/1)" in by_route["low-half"].title
    assert "8.8.8.8" in by_route["low-half"].evidence["publicAddressesRouted"]


def test_a_default_route_that_longer_internet_routes_override_is_harmless(kit):
    world = udr_world(
        kit,
        route("default-to-fw", "0.0.0.0/0", "VirtualAppliance", "10.1.2.4"),
        route("low-half", "0.0.0.0/1", "Internet"),
        route("high-half", "128.0.0.0/1", "Internet"),
    )
    assert DEFAULT_ROUTE.run(kit.snapshot(world)) == []


def test_without_a_route_table_there_is_nothing_to_check(kit):
    snapshot = kit.snapshot(kit.healthy_world())
    for check in (DEFAULT_ROUTE, DIVERTS_BACKEND):
        with pytest.raises(NotApplicable):
            check.run(snapshot)


def test_a_route_table_that_could_not_be_read_is_missing_data(kit):
    world = kit.load_world("tests/worlds/default-route-nva/world.json")
    world["resources"] = [r for r in world["resources"] if r["name"] != "rt-contoso-appgw"]
    snapshot = kit.snapshot(world)
    snapshot.errors["route_tables"] = "rt-contoso-appgw: 429 throttled"
    with pytest.raises(MissingData, match="429"):
        DEFAULT_ROUTE.run(snapshot)


def bgp_world(kit, **overrides):
    world = kit.healthy_world()
    entry = {
        "source": "VirtualNetworkGateway",
        "state": "Active",
        "addressPrefix": ["0.0.0.0/0"],
        "nextHopIpAddress": ["10.255.0.1"],
        "nextHopType": "VirtualNetworkGateway",
    }
    entry.update(overrides)
    local = {
        "source": "Default",
        "state": "Active",
        "addressPrefix": ["10.1.0.0/16"],
        "nextHopIpAddress": [],
        "nextHopType": "VnetLocal",
    }
    world["effectiveRouteTables"] = {NIC1: {"value": [local, entry]}}
    return world


def test_an_advertised_default_route_is_a_warning(kit):
    [finding] = BGP_DEFAULT.run(kit.snapshot(bgp_world(kit)))
    assert (finding.code, finding.severity) == ("BGP_DEFAULT_ROUTE", Severity.WARNING)
    assert finding.resource == NIC1  # as ARM spells it, not the lower-cased key effective routes use
    assert finding.evidence["nextHopIpAddress"] == ["10.255.0.1"]


@pytest.mark.parametrize(
    "override",
    [
        {"state": "Invalid"},
        {"source": "Default", "nextHopType": "Internet"},
        {"addressPrefix": ["10.0.0.0/8"]},
    ],
)
def test_inactive_system_or_narrower_routes_are_not_a_bgp_default_route(kit, override):
    assert BGP_DEFAULT.run(kit.snapshot(bgp_world(kit, **override))) == []


def test_bgp_without_effective_routes_is_skipped_or_an_error(kit):
    assert BGP_DEFAULT.run(kit.snapshot(kit.healthy_world())) == []  # routes read: no BGP default
    world = kit.healthy_world()
    pool = kit.gateway_part(world, "backendAddressPools", "web-pool")["properties"]
    pool["backendIPConfigurations"] = []
    pool["backendAddresses"] = [{"fqdn": "web.contoso.example"}]
    with pytest.raises(NotApplicable):
        BGP_DEFAULT.run(kit.snapshot(world))  # no NIC backends, no effective routes to read
    refused = [FaultRule("networkInterfaces.getEffectiveRouteTable", "error", status=403)]
    with pytest.raises(MissingData, match="403"):
        BGP_DEFAULT.run(kit.snapshot(kit.healthy_world(), faults=refused))


def shielded(world, kit, *, disable_bgp, routes):
    """Attach the route table `rt-contoso-appgw` (of the default-route-nva world) to the gateway subnet."""
    table = kit.resource(kit.load_world("tests/worlds/default-route-nva/world.json"), "rt-contoso-appgw")
    table["properties"].update(disableBgpRoutePropagation=disable_bgp, routes=routes)
    world["resources"].append(table)
    vnet = kit.resource(world, "vnet-contoso")
    subnet = next(s for s in vnet["properties"]["subnets"] if s["name"] == "appgw-subnet")
    subnet["properties"]["routeTable"] = {"id": table["id"]}
    return world


@pytest.mark.parametrize(
    ("disable_bgp", "entries"),
    [
        (True, []),
        (False, [route("default-internet", "0.0.0.0/0", "Internet")]),
        (False, [route("default-to-firewall", "0.0.0.0/0", "VirtualAppliance", "10.1.2.4")]),
    ],
)
def test_a_gateway_subnet_shielded_from_bgp_has_no_bgp_default_route_problem(kit, disable_bgp, entries):
    world = shielded(bgp_world(kit), kit, disable_bgp=disable_bgp, routes=entries)
    assert BGP_DEFAULT.run(kit.snapshot(world)) == []


def test_a_gateway_route_table_that_neither_disables_bgp_nor_overrides_the_default_does_not_shield(kit):
    entries = [route("to-onprem", "192.168.0.0/16", "VirtualNetworkGateway")]
    world = shielded(bgp_world(kit), kit, disable_bgp=False, routes=entries)
    [finding] = BGP_DEFAULT.run(kit.snapshot(world))
    assert finding.code == "BGP_DEFAULT_ROUTE"


def test_an_active_bgp_default_route_with_an_unreadable_gateway_route_table_is_an_error(kit):
    """Whether the gateway subnet is shielded is unknown: neither a warning nor a pass is a fact."""
    world = kit.load_world("tests/worlds/bgp-default-route-gateway-shielded-decoy/world.json")
    assert BGP_DEFAULT.run(kit.snapshot(world)) == []
    refused = kit.snapshot(world, faults=[FaultRule("routeTables.get", "error", status=403)])
    with pytest.raises(MissingData, match="active on NIC nic-contoso-web-1.*route_tables: .*403"):
        BGP_DEFAULT.run(refused)
