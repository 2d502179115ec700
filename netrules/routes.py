"""Route selection: which route does Azure use for traffic to an address?

Azure picks the route with the longest matching prefix; among routes of the same prefix a user
route beats a BGP route (source `VirtualNetworkGateway`), which beats a system route (source
`Default`). `select_route` works from a subnet's route table plus the system routes Azure adds to
every subnet; `select_effective_route` from a NIC's effective routes, which already contain them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.sdk_values import folded, json_fields, wire
from netrules.addresses import Network, parse_ip, parse_networks

_NEXT_HOP_TYPES = {
    name.lower(): name
    for name in (
        "VirtualNetworkGateway",
        "VnetLocal",
        "VNetPeering",
        "Internet",
        "VirtualAppliance",
        "VirtualApplianceEcmp",
        "None",
    )
}
_SOURCE_RANK = {"user": 0, "virtualnetworkgateway": 1, "default": 2}
_UNKNOWN_SOURCE_RANK = 3

# System routes Azure adds to every subnet besides one VnetLocal route per VNet prefix (and one
# VNetPeering route per prefix of each peered VNet). The
# private and shared ranges go nowhere unless something more specific (the VNet's own prefixes,
# peerings, user routes) claims them.
_SYSTEM_ROUTES = (
    ("0.0.0.0/0", "Internet"),
    ("10.0.0.0/8", "None"),
    ("172.16.0.0/12", "None"),
    ("192.168.0.0/16", "None"),
    ("100.64.0.0/10", "None"),
    ("::/0", "Internet"),
)


@dataclass(frozen=True)
class RouteChoice:
    """The route Azure uses for an address. System routes have no name or id."""

    prefix: str
    next_hop_type: str
    next_hop_ip: str | None
    source: str  # "User" | "VirtualNetworkGateway" | "Default"
    route_name: str | None
    route_id: str | None


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = parse_ip(str(ip))
    if address is None:
        raise ValueError(f"route lookup needs an IP address, got {ip!r}")
    return address


def _next_hop_type(value: Any) -> str:
    return _NEXT_HOP_TYPES.get(folded(value), wire(value))


def _network_or_none(prefix: str | None) -> Network | None:
    """The CIDR of a route prefix; None for a service tag, whose addresses we cannot resolve."""
    if not prefix:
        return None
    try:
        return ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return None


def _best(candidates: Iterable[tuple[Network, RouteChoice]], address: Any) -> RouteChoice | None:
    """Longest prefix containing `address`; ties go to the better source, then to list order."""
    best: tuple[int, int] | None = None
    chosen = None
    for network, choice in candidates:
        if network.version != address.version or address not in network:
            continue
        rank = (-network.prefixlen, _SOURCE_RANK.get(choice.source.lower(), _UNKNOWN_SOURCE_RANK))
        if best is None or rank < best:
            best, chosen = rank, choice
    return chosen


def system_routes(
    vnet_prefixes: Iterable[Any], peering_prefixes: Iterable[Any] = ()
) -> list[tuple[Network, RouteChoice]]:
    """Azure's system routes for a subnet of a VNet with these address prefixes, and with peered
    VNets of these address prefixes (one `VNetPeering` route per prefix)."""
    routes = [
        (network, RouteChoice(str(network), "VnetLocal", None, "Default", None, None))
        for network in parse_networks(str(p) for p in vnet_prefixes or ())
    ]
    routes += [
        (network, RouteChoice(str(network), "VNetPeering", None, "Default", None, None))
        for network in parse_networks(str(p) for p in peering_prefixes or ())
    ]
    for prefix, next_hop in _SYSTEM_ROUTES:
        routes.append(
            (ipaddress.ip_network(prefix), RouteChoice(prefix, next_hop, None, "Default", None, None))
        )
    return routes


def user_routes(route_table: Any) -> list[tuple[Network, RouteChoice]]:
    """The routes of a `models.RouteTable` whose prefix is a CIDR (service-tag prefixes are skipped)."""
    routes = []
    for route in (route_table.routes or []) if route_table is not None else []:
        network = _network_or_none(route.address_prefix)
        if network is None:
            continue
        choice = RouteChoice(
            prefix=route.address_prefix.strip(),
            next_hop_type=_next_hop_type(route.next_hop_type),
            next_hop_ip=route.next_hop_ip_address or None,
            source="User",
            route_name=route.name,
            route_id=route.id,
        )
        routes.append((network, choice))
    return routes


def subnet_routes(
    route_table: Any, vnet_prefixes: Iterable[Any], peering_prefixes: Iterable[Any] = ()
) -> list[tuple[Network, RouteChoice]]:
    """Every route a subnet's traffic can take: its route table's (or None) user routes, then Azure's
    system routes, including the `VNetPeering` routes of peered VNets' prefixes. Read once, for
    `route_among` to choose from for any number of addresses."""
    return [*user_routes(route_table), *system_routes(vnet_prefixes, peering_prefixes)]


def route_among(ip: str, routes: Sequence[tuple[Network, RouteChoice]]) -> RouteChoice:
    """The route for `ip` among a subnet's routes (`subnet_routes`)."""
    choice = _best(routes, _address(ip))
    assert choice is not None  # 0.0.0.0/0 and ::/0 contain every address
    return choice


def select_route(
    ip: str, *, route_table: Any, vnet_prefixes: Iterable[Any], peering_prefixes: Iterable[Any] = ()
) -> RouteChoice:
    """The route for `ip` from a subnet's route table (or None) plus Azure's system routes, including
    the `VNetPeering` routes of peered VNets' prefixes."""
    return route_among(ip, subnet_routes(route_table, vnet_prefixes, peering_prefixes))


def effective_routes(routes: Sequence[Any]) -> list[tuple[Network, RouteChoice]]:
    """A NIC's active effective routes (`models.EffectiveRoute`s, or their JSON), one entry per CIDR
    prefix, read by their wire names. Read once, for `effective_route_among` to choose from for any
    number of addresses; invalid routes and service-tag prefixes are left out."""
    candidates = []
    for route in routes:
        fields = json_fields(route)
        if folded(fields.get("state")) == "invalid":
            continue
        hops = fields.get("nextHopIpAddress") or []
        for prefix in fields.get("addressPrefix") or []:
            network = _network_or_none(prefix)
            if network is None:
                continue
            choice = RouteChoice(
                prefix=prefix.strip(),
                next_hop_type=_next_hop_type(fields.get("nextHopType")),
                next_hop_ip=hops[0] if hops else None,
                source=wire(fields.get("source")) or "Unknown",
                route_name=fields.get("name"),
                route_id=None,
            )
            candidates.append((network, choice))
    return candidates


def effective_route_among(ip: str, routes: Sequence[tuple[Network, RouteChoice]]) -> RouteChoice | None:
    """The route for `ip` among a NIC's `effective_routes`; None when no active route covers it."""
    return _best(routes, _address(ip))


def select_effective_route(ip: str, routes: Sequence[Any]) -> RouteChoice | None:
    """The active route for `ip` among a NIC's effective routes (`models.EffectiveRoute`).

    Invalid routes are ignored; None when no active route covers the address.
    """
    return effective_route_among(ip, effective_routes(routes))
