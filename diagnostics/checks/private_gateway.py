"""PRIVATE_GATEWAY_NO_INTERNET_EGRESS: a private gateway that cannot reach its Internet backends.

A private (network-isolated) v2 gateway with only a private frontend has no public IP to leave
through: it reaches Internet backends only when its subnet has a NAT gateway, or when the route for
the backend's address sends it through a virtual appliance (a firewall, typically `0.0.0.0/0` ->
`VirtualAppliance`) or a VPN/ExpressRoute gateway (forced tunnelling). Raised when some backend of
a pool that carries traffic is on the Internet and none of these applies to it.

What counts as an Internet backend: an IP member that is a literal public (globally routable)
address, and an FQDN member the VNet's DNS resolved to a public address (`Snapshot.dns_answers`).
A name that resolved to private addresses only (e.g. through a private DNS zone) is not one. An FQDN
whose resolution is not known is not guessed at: when nothing else is found the check reports
`error` naming it, and when something is found the evidence lists it as unchecked.
"""

from __future__ import annotations

from typing import Any

from core.arm_ids import ArmId, name_of
from core.sdk_values import json_fields, json_properties
from diagnostics.checks.base import Check, NotApplicable, collected, listed, same
from diagnostics.checks.network import gateway_subnet
from diagnostics.snapshot import MissingData, Snapshot, address_space, key, peering_prefixes, ref_id
from model.findings import Finding, Fix, Severity
from netrules.isolation import is_internet_address
from netrules.routes import route_among, subnet_routes

EGRESS_HOPS = ("VirtualAppliance", "VirtualApplianceEcmp", "VirtualNetworkGateway")


def _internet_backends(snapshot: Snapshot, unchecked: list[str]) -> list[dict[str, str]]:
    """Internet backends of the pools that carry traffic: {address, member, pool}, each once."""
    answers = snapshot.dns_answers or {}
    found: list[dict[str, str]] = []
    for pair in snapshot.routing_pairs():
        for member in snapshot.backend_members(pair.pool_id):
            if member.is_fqdn:
                resolved = answers.get(member.address, answers.get(member.address.lower()))
                if resolved is None:
                    if member.address not in unchecked:
                        unchecked.append(member.address)
                    continue
                addresses = list(resolved)
            else:
                addresses = [member.address] if member.address else []
            for address in addresses:
                if not is_internet_address(address):
                    continue
                hit = {"address": address, "member": member.address, "pool": name_of(pair.pool_id)}
                if hit not in found:
                    found.append(hit)
    return found


def _route_table(snapshot: Snapshot, subnet: Any) -> Any:
    table_id = ref_id(json_properties(subnet).get("routeTable"))
    if table_id is None:
        return None
    table = snapshot.route_tables.get(key(table_id))
    return collected(snapshot, "route_tables", table, f"route table {name_of(table_id)}")


def private_gateway_no_internet_egress(snapshot: Snapshot) -> list[Finding]:
    if not snapshot.is_network_isolated:
        raise NotApplicable("only a network-isolated (private) v2 gateway can lack Internet egress")
    if snapshot.has_public_frontend:
        raise NotApplicable("the gateway has a public frontend IP, its way out to the Internet")
    subnet = gateway_subnet(snapshot)  # its VNet's JSON (or an SDK model): read by wire names
    subnet_id = str(ref_id(subnet) or snapshot.gateway_subnet_id)
    subnet_name = json_fields(subnet).get("name")
    if ref_id(json_properties(subnet).get("natGateway")):
        return []  # a NAT gateway on the subnet gives it outbound Internet
    unchecked: list[str] = []
    internet = _internet_backends(snapshot, unchecked)
    if not internet:
        if unchecked:
            raise MissingData(
                f"could not tell whether FQDN backend(s) {listed(unchecked)} are on the Internet: "
                "not resolved"
            )
        return []
    table = _route_table(snapshot, subnet)
    routes = subnet_routes(table, address_space(snapshot.vnet), peering_prefixes(snapshot.vnet))
    stranded = []
    for hit in internet:
        choice = route_among(hit["address"], routes)
        if any(same(choice.next_hop_type, hop) for hop in EGRESS_HOPS):
            continue  # an appliance or forced tunnelling carries it out
        stranded.append({**hit, "route": choice.prefix, "nextHopType": choice.next_hop_type})
    if not stranded:
        return []
    arm = ArmId.parse(subnet_id)
    vnet_name = arm.parent_name
    frontends = [fe.name for fe in snapshot.gateway_items("frontend_ip_configurations")]
    return [
        Finding(
            code="PRIVATE_GATEWAY_NO_INTERNET_EGRESS",
            severity=Severity.CRITICAL,
            title=f"Private gateway {name_of(snapshot.gateway_id)} has only a private frontend and no NAT "
            f"gateway or appliance route on subnet {subnet_name}, so it cannot reach Internet backend(s) "
            f"{listed(h['address'] for h in stranded)}",
            resource=subnet_id,
            evidence={
                "subnet": subnet_id,
                "frontendIPConfigurations": frontends,
                "natGateway": None,
                "routeTable": table.id if table is not None else None,
                "backends": stranded,
                "uncheckedFqdns": unchecked,
            },
            fix=Fix(
                summary=f"Attach a NAT gateway to subnet {subnet_name} (`az network vnet subnet update "
                f"-g {arm.resource_group} --vnet-name {vnet_name} -n {subnet_name} "
                "--nat-gateway <NAT gateway>`), "
                "or route 0.0.0.0/0 through a firewall that forwards to the Internet, or point the pool at "
                "private endpoints of the backends.",
                command=None,
            ),
        )
    ]


CHECK = Check(
    name="private-gateway-internet-egress",
    codes=("PRIVATE_GATEWAY_NO_INTERNET_EGRESS",),
    run=private_gateway_no_internet_egress,
)
