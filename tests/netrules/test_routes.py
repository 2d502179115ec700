"""Route selection: longest prefix, source precedence, Azure's system routes, effective routes."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from azure.mgmt.network import models
from hypothesis import given
from hypothesis import strategies as st

from netrules.routes import select_effective_route, select_route

ROOT = Path(__file__).resolve().parents[2]
RT_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt"
VNET = ["10.1.0.0/16"]


def route_table(*routes):
    """`routes`: (name, prefix, next hop type, next hop ip or None)."""
    return models.RouteTable(
        {
            "id": RT_ID,
            "name": "rt",
            "properties": {
                "routes": [
                    {
                        "id": f"{RT_ID}/routes/{name}",
                        "name": name,
                        "properties": {"addressPrefix": prefix, "nextHopType": hop}
                        | ({"nextHopIpAddress": ip} if ip else {}),
                    }
                    for name, prefix, hop, ip in routes
                ]
            },
        }
    )


@pytest.mark.parametrize(
    "ip, prefix, hop",
    [
        ("10.1.2.3", "10.1.0.0/16", "VnetLocal"),
        ("52.1.2.3", "0.0.0.0/0", "Internet"),
        ("10.9.0.1", "10.0.0.0/8", "None"),
        ("172.20.0.1", "172.16.0.0/12", "None"),
        ("192.168.1.1", "192.168.0.0/16", "None"),
        ("100.64.0.1", "100.64.0.0/10", "None"),
    ],
)
def test_system_routes(ip, prefix, hop):
    choice = select_route(ip, route_table=None, vnet_prefixes=VNET)
    assert (choice.prefix, choice.next_hop_type, choice.source) == (prefix, hop, "Default")
    assert choice.route_name is None and choice.route_id is None and choice.next_hop_ip is None


def test_vnet_prefix_inside_reserved_range_wins_by_length():
    choice = select_route("192.168.10.5", route_table=None, vnet_prefixes=["192.168.10.0/24"])
    assert (choice.prefix, choice.next_hop_type) == ("192.168.10.0/24", "VnetLocal")


def test_appliance_slash16_with_slash24_back_to_vnet_local():
    table = route_table(
        ("ToFirewall", "10.2.0.0/16", "VirtualAppliance", "10.1.250.4"),
        ("BackendDirect", "10.2.1.0/24", "VnetLocal", None),
    )
    vnet = ["10.1.0.0/16", "10.2.0.0/16"]
    direct = select_route("10.2.1.5", route_table=table, vnet_prefixes=vnet)
    assert (direct.route_name, direct.next_hop_type, direct.prefix, direct.source) == (
        "BackendDirect",
        "VnetLocal",
        "10.2.1.0/24",
        "User",
    )
    assert direct.route_id == f"{RT_ID}/routes/BackendDirect"
    diverted = select_route("10.2.2.5", route_table=table, vnet_prefixes=vnet)
    assert (diverted.route_name, diverted.next_hop_type, diverted.next_hop_ip) == (
        "ToFirewall",
        "VirtualAppliance",
        "10.1.250.4",
    )


def test_peered_prefixes_route_over_the_peering_unless_a_user_route_claims_them():
    peered = ["10.2.0.0/16", "192.168.10.0/24"]
    spoke = select_route("10.2.1.4", route_table=None, vnet_prefixes=VNET, peering_prefixes=peered)
    assert (spoke.prefix, spoke.next_hop_type, spoke.source) == ("10.2.0.0/16", "VNetPeering", "Default")
    other = select_route("192.168.10.9", route_table=None, vnet_prefixes=VNET, peering_prefixes=peered)
    assert other.next_hop_type == "VNetPeering"
    assert (
        select_route("10.3.0.1", route_table=None, vnet_prefixes=VNET, peering_prefixes=peered).next_hop_type
        == "None"
    )
    via_fw = route_table(("spoke-via-fw", "10.2.0.0/16", "VirtualAppliance", "10.1.9.4"))
    choice = select_route("10.2.1.4", route_table=via_fw, vnet_prefixes=VNET, peering_prefixes=peered)
    assert (choice.next_hop_type, choice.route_name) == ("VirtualAppliance", "spoke-via-fw")


def test_user_route_beats_system_route_of_same_prefix():
    table = route_table(
        ("Blackhole", "10.1.0.0/16", "None", None), ("Default", "0.0.0.0/0", "VirtualAppliance", "10.1.9.9")
    )
    assert select_route("10.1.3.3", route_table=table, vnet_prefixes=VNET).route_name == "Blackhole"
    to_internet = select_route("52.1.1.1", route_table=table, vnet_prefixes=VNET)
    assert (to_internet.route_name, to_internet.next_hop_type) == ("Default", "VirtualAppliance")


def test_next_hop_type_spelling_is_normalised():
    table = route_table(
        ("R", "10.3.0.0/16", "virtualappliance", "10.1.9.9"), ("S", "10.4.0.0/16", "none", None)
    )
    assert select_route("10.3.0.1", route_table=table, vnet_prefixes=VNET).next_hop_type == "VirtualAppliance"
    assert select_route("10.4.0.1", route_table=table, vnet_prefixes=VNET).next_hop_type == "None"


def test_service_tag_routes_are_skipped():
    table = route_table(("Cloud", "AzureCloud", "VirtualAppliance", "10.1.9.9"))
    assert select_route("52.1.1.1", route_table=table, vnet_prefixes=VNET).next_hop_type == "Internet"


def test_scenario_udr_blackhole():
    world = json.loads((ROOT / "scenarios/udr-blackhole/world.json").read_text())
    tables = [models.RouteTable(r) for r in world["resources"] if r["type"].lower().endswith("routetables")]
    assert tables
    vnets = [r for r in world["resources"] if r["type"].lower().endswith("virtualnetworks")]
    vnet_prefixes = vnets[0]["properties"]["addressSpace"]["addressPrefixes"]
    routes = tables[0].routes
    blackholes = [r for r in routes if r.next_hop_type == "None"]
    assert blackholes
    target = next(ipaddress.ip_network(r.address_prefix).network_address + 1 for r in blackholes)
    choice = select_route(str(target), route_table=tables[0], vnet_prefixes=vnet_prefixes)
    assert choice.source == "User" and choice.next_hop_type == "None"


def test_bad_ip_is_one_line_error():
    with pytest.raises(ValueError, match="IP address") as error:
        select_route("app.contoso.com", route_table=None, vnet_prefixes=VNET)
    assert "\n" not in str(error.value)


# --- effective routes ---


def effective(prefixes, hop, source="Default", state="Active", ips=None, name=None):
    return models.EffectiveRoute(
        {
            "name": name,
            "source": source,
            "state": state,
            "addressPrefix": prefixes,
            "nextHopType": hop,
            "nextHopIpAddress": ips or [],
        }
    )


AZURE_DEFAULTS = [
    effective(["10.1.0.0/16"], "VnetLocal"),
    effective(["0.0.0.0/0"], "Internet"),
    effective(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"], "None"),
]


def test_effective_bgp_default_route_beats_system_default():
    routes = [
        *AZURE_DEFAULTS,
        effective(["0.0.0.0/0"], "VirtualNetworkGateway", "VirtualNetworkGateway", ips=["10.0.0.1"]),
    ]
    choice = select_effective_route("52.1.1.1", routes)
    assert (choice.source, choice.next_hop_type, choice.next_hop_ip) == (
        "VirtualNetworkGateway",
        "VirtualNetworkGateway",
        "10.0.0.1",
    )


def test_effective_user_beats_bgp():
    routes = [
        effective(["0.0.0.0/0"], "VirtualNetworkGateway", "VirtualNetworkGateway"),
        effective(["0.0.0.0/0"], "VirtualAppliance", "User", ips=["10.1.9.9", "10.1.9.10"], name="fw"),
        *AZURE_DEFAULTS,
    ]
    choice = select_effective_route("52.1.1.1", routes)
    assert (choice.source, choice.route_name, choice.next_hop_ip) == ("User", "fw", "10.1.9.9")


def test_effective_invalid_routes_are_ignored():
    routes = [
        effective(["10.1.0.0/16"], "VnetLocal"),
        effective(["0.0.0.0/0"], "Internet", state="Invalid"),
        effective(["52.0.0.0/8"], "None", "User", state="Invalid"),
        effective(["0.0.0.0/0"], "VirtualAppliance", "User", ips=["10.1.9.9"]),
    ]
    assert select_effective_route("52.1.1.1", routes).next_hop_type == "VirtualAppliance"
    assert select_effective_route("52.1.1.1", routes[:3]) is None


def test_effective_multi_prefix_route():
    choice = select_effective_route("172.17.0.1", AZURE_DEFAULTS)
    assert (choice.prefix, choice.next_hop_type) == ("172.16.0.0/12", "None")
    assert select_effective_route("10.1.0.9", AZURE_DEFAULTS).next_hop_type == "VnetLocal"


def test_effective_no_route():
    assert select_effective_route("52.1.1.1", [effective(["10.0.0.0/8"], "None")]) is None


# --- properties ---

SOURCES = ["User", "VirtualNetworkGateway", "Default"]
RANK = {source: rank for rank, source in enumerate(SOURCES)}

networks = st.builds(
    lambda address, length: ipaddress.ip_network(f"{address}/{length}", strict=False),
    st.ip_addresses(v=4),
    st.integers(0, 32),
)


@given(st.lists(st.tuples(networks, st.sampled_from(SOURCES)), max_size=10), st.ip_addresses(v=4))
def test_effective_choice_is_longest_prefix_then_best_source(routes, address):
    effective_routes = [effective([str(n)], "VirtualAppliance", s) for n, s in routes]
    choice = select_effective_route(str(address), effective_routes)
    covering = [(n, s) for n, s in routes if address in n]
    if not covering:
        assert choice is None
        return
    best = min(covering, key=lambda r: (-r[0].prefixlen, RANK[r[1]]))
    assert (ipaddress.ip_network(choice.prefix), choice.source) == best


@given(st.lists(networks, max_size=8), st.ip_addresses(v=4))
def test_user_route_table_choice_is_longest_prefix(prefixes, address):
    table = route_table(*[(f"r{i}", str(n), "VirtualAppliance", "10.1.9.9") for i, n in enumerate(prefixes)])
    choice = select_route(str(address), route_table=table, vnet_prefixes=VNET)
    system = [
        ipaddress.ip_network(p)
        for p in ("0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", *VNET)
    ]
    user_lengths = [n.prefixlen for n in prefixes if address in n]
    system_lengths = [n.prefixlen for n in system if address in n]
    longest = max(user_lengths + system_lengths)
    assert ipaddress.ip_network(choice.prefix).prefixlen == longest
    assert (choice.source == "User") is (longest in user_lengths)
