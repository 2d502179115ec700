"""Effective routes and effective NSG rules of a network interface, as Azure computes them.

Used when a world gives no verbatim ``effectiveRouteTables`` /
``effectiveNetworkSecurityGroups`` for a NIC: the answer is derived from the NIC's
subnet (its VNet's address space and route table) and from the NSGs on the subnet
and on the NIC, in the REST shape of ``getEffectiveRouteTable`` and
``listEffectiveNetworkSecurityGroups``.

VNet peering (declared on both VNets, under ``properties.virtualNetworkPeerings``) joins
address spaces: a peering whose ``peeringState`` is ``Connected`` (or not given) adds
the remote VNet's address space to the ``VirtualNetwork`` service tag and a system
route (next hop ``VNetPeering``, source ``Default``) per remote prefix. The remote
space is the peering's ``remoteVirtualNetworkAddressSpace`` and ``remoteAddressSpace``,
else the remote VNet's own address space when the world holds it.

Also holds the small topology look-ups the backend-health derivation shares: a
subnet lives inside its VNet's ``properties.subnets``, so it is found through the VNet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from netrules.nsg import default_security_rules

Lookup = Callable[[str], "dict | None"]

AZURE_LOAD_BALANCER_PREFIX = "168.63.129.16/32"
# Address ranges Azure routes to None unless a VNet uses them (RFC 1918 and RFC 6598).
RESERVED_PREFIXES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


def props(resource: dict | None) -> dict:
    """A resource's ``properties`` (empty for None or a body without them)."""
    return (resource or {}).get("properties") or {}


def vnet_id_of_subnet(subnet_id: str) -> str:
    """``.../virtualNetworks/v/subnets/s`` -> ``.../virtualNetworks/v``."""
    marker = subnet_id.lower().rfind("/subnets/")
    if marker < 0:
        raise ValueError(f"not a subnet id: {subnet_id!r}")
    return subnet_id[:marker]


def find_subnet(subnet_id: str, lookup: Lookup) -> tuple[dict | None, dict | None]:
    """(subnet JSON, its VNet JSON) for a subnet id; None for what does not exist."""
    vnet = lookup(vnet_id_of_subnet(subnet_id))
    return subnets_by_id(vnet).get(subnet_id.lower()), vnet


def subnets_by_id(vnet: dict | None) -> dict[str, dict]:
    """The VNet's subnets by lower-cased id (the first of any repeated id)."""
    found: dict[str, dict] = {}
    for subnet in props(vnet).get("subnets") or []:
        found.setdefault((subnet.get("id") or "").lower(), subnet)
    return found


def vnet_prefixes(vnet: dict | None) -> list[str]:
    """The VNet's address space prefixes."""
    return list((props(vnet).get("addressSpace") or {}).get("addressPrefixes") or [])


def connected_peerings(vnet: dict | None) -> list[dict]:
    """The VNet's peerings that carry traffic: state ``Connected``, or no state given."""
    return [
        peering
        for peering in props(vnet).get("virtualNetworkPeerings") or []
        if str(props(peering).get("peeringState") or "Connected").lower() == "connected"
    ]


def peering_prefixes(peering: dict, lookup: Lookup) -> list[str]:
    """The remote address space a peering reaches (see the module docstring)."""
    peering_props = props(peering)
    found: list[str] = []
    for key in ("remoteVirtualNetworkAddressSpace", "remoteAddressSpace"):
        for prefix in (peering_props.get(key) or {}).get("addressPrefixes") or []:
            if prefix not in found:
                found.append(prefix)
    if not found:
        remote = (peering_props.get("remoteVirtualNetwork") or {}).get("id")
        found = vnet_prefixes(lookup(remote)) if remote else []
    return found


def peered_prefixes(vnet: dict | None, lookup: Lookup) -> list[str]:
    """Every remote prefix the VNet's connected peerings reach, without repeats."""
    found: list[str] = []
    for peering in connected_peerings(vnet):
        found += [p for p in peering_prefixes(peering, lookup) if p not in found]
    return found


def virtual_network_tag(vnet: dict | None, lookup: Lookup) -> list[str]:
    """What the ``VirtualNetwork`` service tag stands for in the VNet: its space and its peers'."""
    own = vnet_prefixes(vnet)
    return own + [p for p in peered_prefixes(vnet, lookup) if p not in own]


def peered_vnets(vnet: dict | None, lookup: Lookup) -> list[dict]:
    """The remote VNets of the VNet's connected peerings that the world holds."""
    found = []
    for peering in connected_peerings(vnet):
        remote_id = (props(peering).get("remoteVirtualNetwork") or {}).get("id")
        remote = lookup(remote_id) if remote_id else None
        if remote is not None:
            found.append(remote)
    return found


def nic_ip_configuration(nic: dict, ip_config_id: str | None = None) -> dict | None:
    """The NIC's IP configuration with ``ip_config_id``, else its primary (or first) one."""
    configs = props(nic).get("ipConfigurations") or []
    if ip_config_id is not None:
        return next((c for c in configs if (c.get("id") or "").lower() == ip_config_id.lower()), None)
    return next((c for c in configs if props(c).get("primary")), configs[0] if configs else None)


def nic_subnet(nic: dict, lookup: Lookup) -> tuple[dict | None, dict | None]:
    """(subnet, VNet) of the NIC's primary IP configuration."""
    subnet_id = (props(nic_ip_configuration(nic)).get("subnet") or {}).get("id")
    return find_subnet(subnet_id, lookup) if subnet_id else (None, None)


def linked(resource: dict | None, key: str, lookup: Lookup) -> dict | None:
    """The resource that ``properties.<key>.id`` points to (an NSG, a route table), if any."""
    target = (props(resource).get(key) or {}).get("id")
    return lookup(target) if target else None


# --- effective routes ----------------------------------------------------------------


def _route(prefix: str, next_hop_type: str, *, source: str = "Default", name: str | None = None,
           next_hop_ip: str | None = None, disable_bgp: bool = False) -> dict:  # fmt: skip
    route = {
        "source": source,
        "state": "Active",
        "addressPrefix": [prefix],
        "nextHopIpAddress": [next_hop_ip] if next_hop_ip else [],
        "nextHopType": next_hop_type,
        "disableBgpRoutePropagation": disable_bgp,
    }
    if name is not None:
        route["name"] = name
    return route


def system_routes(prefixes: list[str], peered: list[str] | None = None) -> list[dict]:
    """Azure's default routes of a subnet in a VNet with address space ``prefixes``.

    Each VNet prefix goes to VnetLocal, each ``peered`` prefix to VNetPeering, 0.0.0.0/0
    to Internet, and the reserved private ranges to None, except a reserved range the
    VNet uses exactly or inside a larger prefix of its own (Azure drops that None route).
    """
    networks = [ipaddress.ip_network(p, strict=False) for p in prefixes]
    routes = [_route(p, "VnetLocal") for p in prefixes]
    routes += [_route(p, "VNetPeering") for p in peered or []]
    routes.append(_route("0.0.0.0/0", "Internet"))
    for reserved in RESERVED_PREFIXES:
        network = ipaddress.ip_network(reserved)
        if not any(v.version == 4 and network.subnet_of(v) for v in networks):  # type: ignore[arg-type]
            routes.append(_route(reserved, "None"))
    return routes


def _same_prefix(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False) == ipaddress.ip_network(b, strict=False)
    except ValueError:
        return a.strip().lower() == b.strip().lower()


def effective_route_table(nic: dict, lookup: Lookup) -> dict:
    """The ``getEffectiveRouteTable`` body of a NIC: the routes of its subnet."""
    subnet, vnet = nic_subnet(nic, lookup)
    return {"value": subnet_routes(subnet, vnet, lookup)}


def subnet_routes(subnet: dict | None, vnet: dict | None, lookup: Lookup) -> list[dict]:
    """The effective routes of a subnet: system routes (with peerings) plus its route table's.

    A user route with the same prefix as a default route makes the default ``Invalid``.
    """
    routes = system_routes(vnet_prefixes(vnet), peered_prefixes(vnet, lookup))
    table = linked(subnet, "routeTable", lookup)
    disable_bgp = bool(props(table).get("disableBgpRoutePropagation"))
    user_routes = []
    for route in props(table).get("routes") or []:
        route_props = props(route)
        user_routes.append(
            _route(
                route_props.get("addressPrefix", ""),
                route_props.get("nextHopType", "None"),
                source="User",
                name=route.get("name"),
                next_hop_ip=route_props.get("nextHopIpAddress"),
                disable_bgp=disable_bgp,
            )
        )
    for route in routes:
        route["disableBgpRoutePropagation"] = disable_bgp
        if any(_same_prefix(route["addressPrefix"][0], user["addressPrefix"][0]) for user in user_routes):
            route["state"] = "Invalid"
    return routes + user_routes


# --- effective NSG rules -------------------------------------------------------------


def _address(prefix: str) -> str:
    return "0.0.0.0/0" if prefix.strip().lower() in ("*", "any") else prefix


def _port(text: str) -> str:
    value = str(text).strip()
    if value.lower() in ("*", "any"):
        return "0-65535"
    return value if "-" in value else f"{value}-{value}"


def _protocol(text: str | None) -> str:
    value = (text or "*").strip()
    return "All" if value.lower() in ("*", "any", "all") else value[:1].upper() + value[1:].lower()


def _plural(props_: dict, singular: str, plural: str) -> list[str]:
    values = props_.get(plural) or []
    return list(values) if values else ([props_[singular]] if props_.get(singular) else [])


def _expand(prefixes: list[str], vnet: list[str], tag_map: dict[str, list[str]]) -> list[str]:
    expanded: list[str] = []
    for prefix in prefixes:
        tag = prefix.split(".", 1)[0].lower()
        if tag == "virtualnetwork":
            tag_map["VirtualNetwork"] = list(vnet)
            expanded += vnet
        elif tag == "azureloadbalancer":
            tag_map["AzureLoadBalancer"] = [AZURE_LOAD_BALANCER_PREFIX]
            expanded.append(AZURE_LOAD_BALANCER_PREFIX)
    return expanded


def _group_addresses(p: dict, field: str, members: dict[str, list[str]]) -> list[str]:
    """The addresses an application-security-group side stands for (see ``effective_rule``)."""
    groups = [(g.get("id") or "").lower() for g in p.get(field) or []]
    return [address for group in groups for address in members.get(group, [])]


def effective_rule(
    rule: dict,
    kind: str,
    vnet: list[str],
    tag_map: dict[str, list[str]],
    members: dict[str, list[str]] | None = None,
) -> dict:
    """One ``EffectiveNetworkSecurityRule`` from a rule's ARM JSON.

    ``*`` addresses read ``0.0.0.0/0``, ports read as ranges (``80-80``, ``0-65535``),
    protocol ``*`` reads ``All``; the tags ``VirtualNetwork`` and ``AzureLoadBalancer``
    are expanded, other tags are left as they are. A side written with application
    security groups is expanded to member addresses: ``members`` maps a group id
    (lower-case) to the ``/32`` addresses of the NIC being asked about that belong to it
    (the simulator lists this NIC's own memberships, which decide every flow to it).
    """
    p = props(rule)
    members = members or {}
    sources = [_address(x) for x in _plural(p, "sourceAddressPrefix", "sourceAddressPrefixes")]
    destinations = [_address(x) for x in _plural(p, "destinationAddressPrefix", "destinationAddressPrefixes")]
    source_ports = [_port(x) for x in _plural(p, "sourcePortRange", "sourcePortRanges")] or ["0-65535"]
    destination_ports = [_port(x) for x in _plural(p, "destinationPortRange", "destinationPortRanges")]
    effective: dict = {
        "name": f"{kind}/{rule.get('name')}",
        "protocol": _protocol(p.get("protocol")),
        "sourcePortRanges": source_ports,
        "destinationPortRanges": destination_ports,
        "sourceAddressPrefixes": sources,
        "destinationAddressPrefixes": destinations,
        "expandedSourceAddressPrefix": _expand(sources, vnet, tag_map)
        + _group_addresses(p, "sourceApplicationSecurityGroups", members),
        "expandedDestinationAddressPrefix": _expand(destinations, vnet, tag_map)
        + _group_addresses(p, "destinationApplicationSecurityGroups", members),
        "access": p.get("access"),
        "priority": p.get("priority"),
        "direction": p.get("direction"),
    }
    for singular, plural in (
        ("sourcePortRange", "sourcePortRanges"),
        ("destinationPortRange", "destinationPortRanges"),
        ("sourceAddressPrefix", "sourceAddressPrefixes"),
        ("destinationAddressPrefix", "destinationAddressPrefixes"),
    ):
        if len(effective[plural]) == 1:
            effective[singular] = effective[plural][0]
    return effective


def _effective_group(nsg: dict, association: dict, vnet: list[str], members: dict[str, list[str]]) -> dict:
    tag_map: dict[str, list[str]] = {}
    nsg_props = props(nsg)
    defaults = nsg_props.get("defaultSecurityRules") or default_security_rules(nsg["id"])
    rules = [
        effective_rule(r, "securityRules", vnet, tag_map, members)
        for r in nsg_props.get("securityRules") or []
    ]
    rules += [effective_rule(r, "defaultSecurityRules", vnet, tag_map) for r in defaults]
    return {
        "networkSecurityGroup": {"id": nsg["id"]},
        "association": association,
        "effectiveSecurityRules": rules,
        "tagMap": tag_map,
    }


def nic_group_addresses(nic: dict) -> dict[str, list[str]]:
    """Application security group id (lower-case) -> the NIC's ``/32`` addresses in that group."""
    members: dict[str, list[str]] = {}
    for config in props(nic).get("ipConfigurations") or []:
        address = props(config).get("privateIPAddress")
        for group in props(config).get("applicationSecurityGroups") or []:
            if address and group.get("id"):
                members.setdefault(group["id"].lower(), []).append(f"{address}/32")
    return members


def effective_network_security_groups(nic: dict, lookup: Lookup) -> dict:
    """The ``listEffectiveNetworkSecurityGroups`` body of a NIC: its own NSG, then its subnet's."""
    subnet, vnet = nic_subnet(nic, lookup)
    prefixes = virtual_network_tag(vnet, lookup)
    members = nic_group_addresses(nic)
    groups = []
    nic_nsg = linked(nic, "networkSecurityGroup", lookup)
    if nic_nsg is not None:
        groups.append(_effective_group(nic_nsg, {"networkInterface": {"id": nic["id"]}}, prefixes, members))
    subnet_nsg = linked(subnet, "networkSecurityGroup", lookup)
    if subnet_nsg is not None and subnet is not None:
        groups.append(_effective_group(subnet_nsg, {"subnet": {"id": subnet["id"]}}, prefixes, members))
    return {"value": groups}
