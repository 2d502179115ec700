"""Routing from the gateway subnet.

- UDR_DEFAULT_ROUTE_NOT_INTERNET: the gateway subnet's route table sends Internet-bound traffic
  elsewhere than Internet (the v2 control plane then breaks) — judged by the route that wins for
  representative public addresses, so a split default (0.0.0.0/1 + 128.0.0.0/1) counts too.
- UDR_DIVERTS_BACKEND_TRAFFIC: the route that wins (longest prefix, user over system) for a backend
  address drops it (`None`) or sends it through an appliance or VPN/ExpressRoute gateway. A broad
  user route does not divert a backend that a longer route keeps local. It is raised as the
  contract says whatever backend health shows; when health reports every server behind an
  appliance or gateway hop healthy the evidence and title say so (a firewall that forwards today
  is a working design, and the person reading decides).
- BGP_DEFAULT_ROUTE: an active effective 0.0.0.0/0 learned from a virtual network gateway (seen on
  backend NICs of the VNet), unless the gateway subnet is shielded from it: a route table there with
  BGP route propagation disabled, or with its own 0.0.0.0/0 user route (a user route beats a
  BGP route of the same prefix) — the two remedies Microsoft documents for the gateway subnet.
  When such a route is active but the gateway subnet's route table (or its VNet) could not be read,
  whether the subnet is shielded is unknown: the check reports `error` naming the route, not a
  guess either way.
On a private (network-isolated) v2 gateway a 0.0.0.0/0 to an appliance, forced tunnelling and a
BGP-learned default route are supported: UDR_DEFAULT_ROUTE_NOT_INTERNET and BGP_DEFAULT_ROUTE are
not applicable there (backend routes are still checked).
"""

from __future__ import annotations

from typing import Any

from core.arm_ids import ArmId, name_of
from core.sdk_values import json_fields, json_properties
from diagnostics.checks.backend_health import servers_by_pair
from diagnostics.checks.base import (
    Check,
    NotApplicable,
    collected,
    listed,
    missing_reason,
    same,
    wire,
)
from diagnostics.checks.network import gateway_subnet
from diagnostics.snapshot import MissingData, Snapshot, address_space, key, peering_prefixes, ref_id
from model.findings import Finding, Fix, Severity
from netrules.routes import route_among, subnet_routes

DEFAULT_PREFIX = "0.0.0.0/0"
# Public addresses spread over the IPv4 space, most in Azure's own ranges (where the v2 control
# plane lives): a route that captures any of them takes Internet-bound traffic off the Internet.
PUBLIC_PROBES = (
    "1.1.1.1",
    "8.8.8.8",
    "13.107.4.50",
    "20.38.96.1",
    "23.96.0.1",
    "40.64.0.1",
    "51.104.0.1",
    "52.96.0.1",
    "104.40.0.1",
    "137.116.0.1",
    "168.61.0.1",
    "191.232.0.1",
)
DIVERTING_HOPS = ("None", "VirtualAppliance", "VirtualNetworkGateway")
FORWARDING_HOPS = ("VirtualAppliance", "VirtualNetworkGateway")  # they may well deliver the traffic


def _not_for_isolated(snapshot: Snapshot) -> None:
    if snapshot.is_network_isolated:
        raise NotApplicable(
            "a network-isolated (private) v2 gateway supports a default route that is not Internet"
        )


def _route_table(snapshot: Snapshot) -> Any:
    table_id = ref_id(json_properties(gateway_subnet(snapshot)).get("routeTable"))
    if table_id is None:
        raise NotApplicable("the gateway subnet has no route table")
    table = snapshot.route_tables.get(key(table_id))
    return collected(snapshot, "route_tables", table, f"route table {name_of(table_id)}")


def _hop(next_hop_type: Any, next_hop_ip: Any) -> str:
    hop = wire(next_hop_type)
    return f"{hop} {next_hop_ip}" if next_hop_ip else hop


def _internet_routes(snapshot: Snapshot, table: Any) -> dict[str, tuple[Any, list[str]]]:
    """User routes of `table` that win (longest prefix) for public addresses, with those addresses;
    route id lower-cased -> (route choice, addresses)."""
    routes = subnet_routes(table, address_space(snapshot.vnet), peering_prefixes(snapshot.vnet))
    winners: dict[str, tuple[Any, list[str]]] = {}
    for address in PUBLIC_PROBES:
        choice = route_among(address, routes)
        if choice.route_id and not same(choice.next_hop_type, "Internet"):
            winners.setdefault(key(choice.route_id), (choice, []))[1].append(address)
    return winners


def default_route_not_internet(snapshot: Snapshot) -> list[Finding]:
    """Where public Internet traffic really goes: a literal 0.0.0.0/0 and a split default
    (0.0.0.0/1 + 128.0.0.0/1) to an appliance are the same problem, and a 0.0.0.0/0 that longer
    routes to Internet override is none."""
    _not_for_isolated(snapshot)
    table = _route_table(snapshot)
    findings = []
    for choice, addresses in _internet_routes(snapshot, table).values():
        arm = ArmId.parse(choice.route_id)
        hop = _hop(choice.next_hop_type, choice.next_hop_ip)
        name = choice.route_name or arm.name
        what = "0.0.0.0/0" if choice.prefix == DEFAULT_PREFIX else f"Internet-bound traffic ({choice.prefix})"
        findings.append(
            Finding(
                code="UDR_DEFAULT_ROUTE_NOT_INTERNET",
                severity=Severity.CRITICAL,
                title=f"Route table {table.name} on the gateway subnet sends {what} to {hop}, not Internet",
                resource=choice.route_id,
                evidence={
                    "routeTable": table.id,
                    "route": name,
                    "addressPrefix": choice.prefix,
                    "nextHopType": wire(choice.next_hop_type),
                    "nextHopIpAddress": choice.next_hop_ip,
                    "publicAddressesRouted": addresses,
                },
                fix=Fix(
                    summary=f"Send {choice.prefix} to Internet in route table {table.name} (or remove route "
                    f"{name}); the gateway subnet must reach the Internet directly.",
                    command=(
                        f"az network route-table route update -g {arm.resource_group} --route-table-name "
                        f"{arm.parent_name} -n {name} --next-hop-type Internet"
                    ),
                ),
            )
        )
    return findings


def udr_diverts_backend_traffic(snapshot: Snapshot) -> list[Finding]:
    table = _route_table(snapshot)
    routes = subnet_routes(table, address_space(snapshot.vnet), peering_prefixes(snapshot.vnet))
    diverted: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
    unchecked: list[str] = []
    for pair in snapshot.routing_pairs():
        for member in snapshot.backend_members(pair.pool_id):
            addresses = (
                (snapshot.dns_answers or {}).get(member.address, []) if member.is_fqdn else [member.address]
            )
            if not any(addresses) and member.is_fqdn:
                unchecked.append(f"{member.address}: not resolved")
            elif not any(addresses):
                unchecked.append(missing_reason(snapshot, "nics", member.nic_id, "NIC"))
            for address in addresses:
                if not address:
                    continue
                choice = route_among(address, routes)
                # Only a user route of this table is at fault: a system route to `None` (e.g. for
                # 10.0.0.0/8) also covers peered and on-premises ranges whose routes we cannot see.
                if choice is None or not choice.route_id or wire(choice.next_hop_type) not in DIVERTING_HOPS:
                    continue
                route_key = key(choice.route_id)
                entry = diverted.setdefault(route_key, (choice, []))
                hit = {"address": address, "pool": name_of(pair.pool_id), "member": member.address}
                if hit not in entry[1]:
                    entry[1].append(hit)
    if not diverted and unchecked:
        raise MissingData("could not route-check backends: " + "; ".join(unchecked))
    health = _health_by_member(snapshot)
    findings = []
    for choice, member_hits in diverted.values():
        forwarding_and_healthy = wire(choice.next_hop_type) in FORWARDING_HOPS and _all_healthy(
            member_hits, health
        )
        hits = [{"address": h["address"], "pool": h["pool"]} for h in member_hits]
        hop = _hop(choice.next_hop_type, choice.next_hop_ip)
        servers = listed(h["address"] for h in hits)
        name = choice.route_name or name_of(choice.route_id)
        findings.append(
            Finding(
                code="UDR_DIVERTS_BACKEND_TRAFFIC",
                severity=Severity.CRITICAL,
                title=f"Route {name} ({choice.prefix} -> {hop}) in {table.name} diverts gateway traffic to "
                f"backend {servers}"
                + (
                    " (backend health reports them healthy: the hop forwards today)"
                    if forwarding_and_healthy
                    else ""
                ),
                resource=choice.route_id,
                evidence={
                    "routeTable": table.id,
                    "route": choice.route_name,
                    "addressPrefix": choice.prefix,
                    "nextHopType": wire(choice.next_hop_type),
                    "nextHopIpAddress": choice.next_hop_ip,
                    "source": wire(choice.source),
                    "backends": hits,
                    "backendsHealthy": forwarding_and_healthy,
                },
                fix=Fix(
                    summary=f"Change or remove route {name} so the backend addresses route VnetLocal from "
                    "the gateway subnet (or make sure the next hop forwards them).",
                    command=(
                        f"az network route-table route delete -g {ArmId.parse(table.id).resource_group} "
                        f"--route-table-name {table.name} -n {name}"
                    ),
                ),
            )
        )
    return findings


def _health_by_member(snapshot: Snapshot) -> dict[tuple[str, str], set[str]] | None:
    """(pool name, member address) lower-cased -> the health states backend health reports for it;
    None when backend health was not collected."""
    try:
        pairs = servers_by_pair(snapshot)
    except MissingData:
        return None
    states: dict[tuple[str, str], set[str]] = {}
    for (pool_id, _), servers in pairs.items():
        for address, state, _ in servers:
            states.setdefault((name_of(pool_id).lower(), address.lower()), set()).add(state)
    return states


def _all_healthy(hits: list[dict[str, Any]], health: dict[tuple[str, str], set[str]] | None) -> bool:
    """Whether backend health shows every server reached through a route healthy."""
    if health is None:
        return False
    return all(health.get((h["pool"].lower(), h["member"].lower())) == {"healthy"} for h in hits)


def gateway_subnet_shield(snapshot: Snapshot) -> str | None:
    """Why a BGP-learned 0.0.0.0/0 cannot reach the gateway subnet, or None when it can; MissingData
    when the gateway subnet or its route table could not be read."""
    try:
        table = _route_table(snapshot)
    except NotApplicable:
        return None
    if table.disable_bgp_route_propagation:
        return f"route table {table.name} disables BGP route propagation"
    for route in table.routes or []:
        if (route.address_prefix or "").strip() == DEFAULT_PREFIX:
            return f"route {route.name} of {table.name} overrides 0.0.0.0/0 on the gateway subnet"
    return None


def _nic_resource_id(snapshot: Snapshot, nic_id: str) -> str:
    """The NIC's id as ARM spells it (effective routes are keyed by the lower-cased id)."""
    spelled = json_fields(snapshot.nics.get(key(nic_id))).get("id")
    return spelled if isinstance(spelled, str) and spelled else nic_id


def bgp_default_route(snapshot: Snapshot) -> list[Finding]:
    _not_for_isolated(snapshot)
    try:
        if gateway_subnet_shield(snapshot) is not None:
            return []  # whatever the NICs learn, the gateway subnet keeps its Internet route
        unshielded: MissingData | None = None
    except MissingData as missing:
        unshielded = missing
    findings = _bgp_findings(snapshot)
    if findings and unshielded is not None:
        nics = listed(name_of(f.resource) for f in findings)
        raise MissingData(
            f"a 0.0.0.0/0 learned over VPN/ExpressRoute is active on NIC {nics}, but whether the gateway "
            f"subnet is shielded from it is unknown: {unshielded}"
        )
    return findings


def _bgp_findings(snapshot: Snapshot) -> list[Finding]:
    routes_by_nic = snapshot.effective_routes
    if not routes_by_nic:
        if "effective_routes" in snapshot.errors:
            raise MissingData(f"effective_routes: {snapshot.errors['effective_routes']}")
        raise NotApplicable("no NIC backends, so no effective routes to read")
    findings = []
    for nic_id, routes in routes_by_nic.items():
        for route in routes:  # an SDK model, or the JSON ARM sent: read by wire names
            fields = json_fields(route)
            prefixes = [p.strip() for p in fields.get("addressPrefix") or []]
            if (
                DEFAULT_PREFIX in prefixes
                and same(fields.get("source"), "VirtualNetworkGateway")
                and same(fields.get("state"), "Active")
            ):
                next_hops = list(fields.get("nextHopIpAddress") or [])
                hops = ", ".join(next_hops) or wire(fields.get("nextHopType"))
                findings.append(
                    Finding(
                        code="BGP_DEFAULT_ROUTE",
                        severity=Severity.WARNING,
                        title=f"A 0.0.0.0/0 route learned over VPN/ExpressRoute (next hop {hops}) is active "
                        f"on NIC {name_of(nic_id)}",
                        resource=_nic_resource_id(snapshot, nic_id),
                        evidence={
                            "nic": _nic_resource_id(snapshot, nic_id),
                            "addressPrefix": DEFAULT_PREFIX,
                            "source": wire(fields.get("source")),
                            "state": wire(fields.get("state")),
                            "nextHopType": wire(fields.get("nextHopType")),
                            "nextHopIpAddress": next_hops,
                        },
                        fix=Fix(
                            summary="Stop advertising 0.0.0.0/0 to this VNet, or attach a route table with "
                            "0.0.0.0/0 -> Internet (and BGP propagation disabled) to the gateway subnet.",
                            command=None,
                        ),
                    )
                )
                break
    if not findings and "effective_routes" in snapshot.errors:
        raise MissingData(f"effective_routes: {snapshot.errors['effective_routes']}")
    return findings


DEFAULT_ROUTE = Check(
    name="udr-default-route", codes=("UDR_DEFAULT_ROUTE_NOT_INTERNET",), run=default_route_not_internet
)
DIVERTS_BACKEND = Check(
    name="udr-backend-route", codes=("UDR_DIVERTS_BACKEND_TRAFFIC",), run=udr_diverts_backend_traffic
)
BGP_DEFAULT = Check(name="bgp-default-route", codes=("BGP_DEFAULT_ROUTE",), run=bgp_default_route)
