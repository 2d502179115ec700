"""Backend health derived from a world, the way Application Gateway's probes would see it.

For each backend pool and backend settings pair that a routing rule uses, every pool
member is probed with the probe the settings reference (else the default probe). The
steps run in the order the platform meets them and the first failing one decides the
member's ``health`` and ``healthProbeLog`` (documented in ``docs/WORLD_FORMAT.md``):

a. infrastructure: the gateway subnet's NSG must let ``GatewayManager`` (and the Azure
   load balancer) reach the infrastructure ports, and a v2 gateway subnet must not send
   ``0.0.0.0/0`` anywhere but Internet; otherwise health is ``Unknown``. A private
   (network-isolated) v2 gateway, tagged ``EnhancedNetworkControl: True``, needs only the
   Azure load balancer: its health does not depend on GatewayManager, outbound Internet or
   the default route;
b. name resolution of FQDN members through the VNet's DNS;
c. the network path: gateway subnet route and outbound NSG, backend subnet and NIC
   inbound NSGs, and whether the backend listens on the probe port. A private gateway
   with only a private frontend and no NAT gateway on its subnet cannot reach a public
   address its subnet routes to Internet (nor a name Azure DNS resolves to itself);
d. TLS (HTTPS probes): host name coverage, validity dates, chain;
e. response time against the probe timeout;
f. the status code (and body) against the probe's match conditions.

The ``VirtualNetwork`` tag and the routes include connected VNet peerings, so a member
in a peered VNet is reached through its own subnet's and NIC's NSGs. A member given by
IP address that is a NIC's private IP (found through the subnet's ``ipConfigurations``,
as ARM lists them) is guarded by that NIC's NSG and application security groups too.

A member the world's ``backends`` does not describe (and, under Azure DNS, an FQDN it
does not list) says nothing about how the server behaves: once steps a-c pass, it keeps
the entry the world recorded for it in ``backendHealth`` (matched by pool, settings and
address, else by address), so a write that does not touch it leaves it as recorded; with
no recorded entry either, it cannot be connected to.

Everything here is pure: ``lookup`` returns the current ARM JSON of a top-level
resource (as ARM serves it, back-references included), ``backends`` / ``dns`` are the
world's sections, ``recorded`` its ``backendHealth`` of the gateway, ``now`` the simulated time.
One derivation reads them through an ``Estate`` and probes through a ``Probing``, which find
each resource, subnet, NIC and NSG once, so deriving takes time linear in the gateway's
size (pools, members, subnets) rather than members times estate.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from azure.mgmt.network import models

from netrules.addresses import Network, parse_ip, parse_port_range
from netrules.isolation import is_internet_address, tagged_network_isolated
from netrules.nsg import Flow, NsgRules, evaluate_nsg, evaluate_path
from netrules.probes import ProbeLogKind, ProbeSpec, effective_probes, probe_log_message, status_matches
from netrules.routes import RouteChoice, effective_route_among, effective_routes
from netrules.tls import hostname_matches
from simulator.dns import answer
from simulator.effective import (
    Lookup,
    linked,
    nic_ip_configuration,
    peered_vnets,
    props,
    subnet_routes,
    subnets_by_id,
    virtual_network_tag,
    vnet_id_of_subnet,
)

INFRA_PORTS_V1 = (65503, 65534)
INFRA_PORTS_V2 = (65200, 65535)
V1_TIERS = frozenset({"standard", "waf"})
BLOCKING_NEXT_HOPS = frozenset({"none", "virtualappliance", "virtualnetworkgateway"})
ON_DEMAND_PROBE_NAME = "on-demand-probe"

HEALTHY, UNHEALTHY, UNKNOWN = "Healthy", "Unhealthy", "Unknown"

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """The outcome of probing one member."""

    health: str
    log: str


@dataclass(frozen=True)
class Member:
    """A pool member as the probe sees it: reported address, NIC IP configuration, NIC.

    ``ip_configuration_id`` is set for members the pool lists as NIC IP configurations
    (they are reported with it); an address member's NIC is found when it is probed.
    """

    address: str
    ip_configuration_id: str | None = None
    nic: dict | None = None


@dataclass(frozen=True)
class Site:
    """The gateway's side of the network: its subnet's VNet, NSG and effective routes."""

    source_ip: str
    vnet: dict | None
    vnet_tag: list[str]  # what VirtualNetwork stands for there (peered spaces included)
    nsg: dict | None
    routes: list[tuple[Network, RouteChoice]]  # the gateway subnet's effective routes, read once
    infra_failure: Verdict | None
    internet_egress: bool = True  # False: a private-frontend-only isolated gateway without NAT


@dataclass(frozen=True)
class Guard:
    """What guards a backend address: subnet and NIC NSGs, the NIC's application security
    groups, and what VirtualNetwork stands for in the backend's VNet."""

    subnet_nsg: dict | None = None
    nic_nsg: dict | None = None
    groups: frozenset[str] = frozenset()
    vnet_tag: tuple[str, ...] = ()


class RecordedHealth:
    """The world's recorded ``backendHealth`` of a gateway, looked up per member."""

    def __init__(self, body: dict | None) -> None:
        self._exact: dict[tuple[str, str, str], Verdict] = {}
        self._by_address: dict[str, Verdict] = {}
        for pool in (body or {}).get("backendAddressPools") or []:
            pool_id = str(_ref(pool.get("backendAddressPool")) or "").lower()
            for entry in pool.get("backendHttpSettingsCollection") or []:
                settings_id = str(_ref(entry.get("backendHttpSettings")) or "").lower()
                for server in entry.get("servers") or []:
                    address = str(server.get("address") or "").lower()
                    verdict = Verdict(
                        str(server.get("health") or UNKNOWN), str(server.get("healthProbeLog") or "")
                    )
                    self._exact[(pool_id, settings_id, address)] = verdict
                    self._by_address.setdefault(address, verdict)

    def find(self, pool_id: str, settings_id: str, address: str) -> Verdict | None:
        key = (pool_id.lower(), settings_id.lower(), address.lower())
        return self._exact.get(key) or self._by_address.get(address.lower())


def _ids_equal(a: str | None, b: str | None) -> bool:
    return bool(a and b and a.lower() == b.lower())


def _ref(value: dict | None) -> str | None:
    return (value or {}).get("id")


def children_by_id(gateway: dict, collection: str) -> dict[str, dict]:
    """The gateway's sub-resources in ``collection`` (e.g. ``probes``) by lower-cased id (the first
    of any repeated id)."""
    found: dict[str, dict] = {}
    for child in props(gateway).get(collection) or []:
        if child.get("id"):
            found.setdefault(child["id"].lower(), child)
    return found


def gateway_child(gateway: dict, collection: str, child_id: str | None) -> dict | None:
    """The gateway's sub-resource with ``child_id`` in ``collection`` (e.g. ``probes``), or None."""
    return children_by_id(gateway, collection).get(child_id.lower()) if child_id else None


def used_pairs(gateway: dict) -> list[tuple[str, str]]:
    """(pool id, settings id) pairs the gateway's routing rules use, in rule order, without repeats.

    Basic rules name the pair directly; path-based rules through their URL path map's
    default pair and each path rule's pair. Redirecting rules use none.
    """
    pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(pool: dict | None, settings: dict | None) -> None:
        pool_id, settings_id = _ref(pool), _ref(settings)
        if pool_id and settings_id and (pool_id.lower(), settings_id.lower()) not in seen:
            seen.add((pool_id.lower(), settings_id.lower()))
            pairs.append((pool_id, settings_id))

    path_maps = children_by_id(gateway, "urlPathMaps")
    rules = props(gateway).get("requestRoutingRules") or []
    for rule in sorted(rules, key=lambda r: props(r).get("priority") or 0):
        rule_props = props(rule)
        add(rule_props.get("backendAddressPool"), rule_props.get("backendHttpSettings"))
        path_map_id = _ref(rule_props.get("urlPathMap"))
        path_map = path_maps.get(path_map_id.lower()) if path_map_id else None
        if path_map is None:
            continue
        map_props = props(path_map)
        add(map_props.get("defaultBackendAddressPool"), map_props.get("defaultBackendHttpSettings"))
        for path_rule in map_props.get("pathRules") or []:
            add(props(path_rule).get("backendAddressPool"), props(path_rule).get("backendHttpSettings"))
    return pairs


def probed_pairs(gateway: dict) -> list[tuple[dict, dict]]:
    """(pool, settings) of each pair ``used_pairs`` gives whose pool and settings the gateway has."""
    pools = children_by_id(gateway, "backendAddressPools")
    settings = children_by_id(gateway, "backendHttpSettingsCollection")
    return [
        (pools[pool_id.lower()], settings[settings_id.lower()])
        for pool_id, settings_id in used_pairs(gateway)
        if pool_id.lower() in pools and settings_id.lower() in settings
    ]


# --- the gateway side ----------------------------------------------------------------


def is_v1(gateway: dict) -> bool:
    """Whether the gateway is a v1 SKU (Standard / WAF tier), which uses ports 65503-65534."""
    return str((props(gateway).get("sku") or {}).get("tier") or "").lower() in V1_TIERS


def _rule_port_ranges(rule: dict) -> list[tuple[int, int]]:
    rule_props = props(rule)
    texts = rule_props.get("destinationPortRanges") or [rule_props.get("destinationPortRange") or "*"]
    return [parse_port_range(text) for text in texts]


def port_breakpoints(nsg: dict, low: int, high: int) -> list[int]:
    """Ports in ``low..high`` at which the NSG's verdict can change: one per constant stretch.

    Rules match a port by range inclusion, so the verdict is the same between consecutive
    range boundaries; checking the first port of each stretch checks the whole range.
    """
    points = {low}
    nsg_props = props(nsg)
    for rule in (nsg_props.get("securityRules") or []) + (nsg_props.get("defaultSecurityRules") or []):
        for start, end in _rule_port_ranges(rule):
            points.update(p for p in (start, end + 1) if low < p <= high)
    return sorted(points)


def is_network_isolated(gateway: dict) -> bool:
    """Whether the gateway is a private (network-isolated) v2 gateway: tagged
    ``EnhancedNetworkControl: True`` (key and value in any case)."""
    return not is_v1(gateway) and tagged_network_isolated(gateway.get("tags"))


def has_public_frontend(gateway: dict) -> bool:
    """Whether some frontend IP configuration of the gateway has a public IP address."""
    return any(
        _ref(props(frontend).get("publicIPAddress"))
        for frontend in props(gateway).get("frontendIPConfigurations") or []
    )


INFRA_SOURCES = ("GatewayManager", "AzureLoadBalancer")
ISOLATED_INFRA_SOURCES = ("AzureLoadBalancer",)


def infra_ports_blocked(
    nsg: dict | None,
    *,
    v1: bool,
    destination: str,
    vnet: list[str],
    sources: tuple[str, ...] = INFRA_SOURCES,
) -> bool:
    """Whether the NSG denies any of ``sources`` (GatewayManager and AzureLoadBalancer unless
    told otherwise) any port of the infra range."""
    if nsg is None:
        return False
    low, high = INFRA_PORTS_V1 if v1 else INFRA_PORTS_V2
    rules = NsgRules.from_nsg(nsg)
    for source in sources:
        for port in port_breakpoints(nsg, low, high):
            flow = Flow(
                direction="Inbound", source=source, destination=destination, port=port, protocol="Tcp"
            )
            if str(evaluate_nsg(rules, flow, vnet_prefixes=vnet).access).lower() != "allow":
                return True
    return False


def default_route_diverted(route_table: dict | None) -> bool:
    """Whether a route table sends 0.0.0.0/0 to anything but Internet (v2 needs Internet)."""
    for route in props(route_table).get("routes") or []:
        route_props = props(route)
        if _same_network(route_props.get("addressPrefix"), "0.0.0.0/0"):
            if str(route_props.get("nextHopType") or "").lower() != "internet":
                return True
    return False


def _same_network(prefix: str | None, other: str) -> bool:
    try:
        return ipaddress.ip_network(str(prefix).strip(), strict=False) == ipaddress.ip_network(other)
    except ValueError:
        return False


def _host_ip(prefix: str | None) -> str:
    """An instance address in a subnet: the first one Azure hands out (network + 4)."""
    try:
        network = ipaddress.ip_network(str(prefix), strict=False)
    except ValueError:
        return "10.0.0.4"
    return str(network.network_address + min(4, network.num_addresses - 1))


def gateway_site(gateway: dict, estate: Estate) -> Site:
    """The gateway subnet's context and whether it blocks the infrastructure traffic."""
    v1 = is_v1(gateway)
    configs = props(gateway).get("gatewayIPConfigurations") or []
    subnet_id = _ref(props(configs[0]).get("subnet")) if configs else None
    subnet, vnet = estate.subnet(subnet_id) if subnet_id else (None, None)
    subnet_props = props(subnet)
    prefix = subnet_props.get("addressPrefix") or (subnet_props.get("addressPrefixes") or [None])[0]
    source_ip = _host_ip(prefix)
    nsg = linked(subnet, "networkSecurityGroup", estate.lookup)
    route_table = linked(subnet, "routeTable", estate.lookup)
    vnet_tag = estate.vnet_tag(vnet)
    isolated = is_network_isolated(gateway)
    failure = None
    sources = ISOLATED_INFRA_SOURCES if isolated else INFRA_SOURCES
    blocked = infra_ports_blocked(nsg, v1=v1, destination=source_ip, vnet=vnet_tag, sources=sources)
    if blocked or (not v1 and not isolated and default_route_diverted(route_table)):
        failure = Verdict(UNKNOWN, probe_log_message(ProbeLogKind.UNKNOWN))
    egress = not isolated or has_public_frontend(gateway) or bool(_ref(subnet_props.get("natGateway")))
    routes = effective_routes(
        [models.EffectiveRoute(route) for route in subnet_routes(subnet, vnet, estate.lookup)]
    )
    return Site(source_ip, vnet, vnet_tag, nsg, routes, failure, internet_egress=egress)


# --- what one derivation reads ------------------------------------------------------


class Backends:
    """The world's ``backends``, looked up by address case-insensitively."""

    def __init__(self, backends: dict | None) -> None:
        self._by_address = {key.lower(): value for key, value in (backends or {}).items()}

    def behaviour(self, *keys: str | None) -> dict | None:
        """The world's behaviour of the first of ``keys`` (addresses, case-insensitive) it lists."""
        for key in keys:
            if key and key.lower() in self._by_address:
                return self._by_address[key.lower()]
        return None


class Estate:
    """What one derivation reads: resources through ``lookup`` (each looked up once), the world's
    ``backends`` and ``dns``; and what probing member after member asks of them, found once: a
    subnet by id, the subnet holding an address, the NIC behind an address, an NSG's rules, what
    ``VirtualNetwork`` stands for in a VNet. Nothing here changes what it reads."""

    def __init__(
        self,
        lookup: Lookup,
        backends: dict | None,
        dns: dict | None,
        nsg_rules: dict[str, NsgRules] | None = None,
    ) -> None:
        self._lookup = lookup
        self.backends = Backends(backends)
        self.dns = dns or {}
        self._resources: dict[str, dict | None] = {}
        self._subnets: dict[str, dict[str, dict]] = {}  # VNet id -> its subnets by id
        self._holding: dict[str, SubnetsByAddress] = {}  # gateway VNet id -> what its site reaches
        self._nics: dict[str, dict[str, tuple[dict, dict]]] = {}  # subnet id -> NIC by address
        # NSG id -> its rules: `nsg_rules` when given (kept by the caller while the NSGs stay as they are)
        self._nsg_rules: dict[str, NsgRules] = {} if nsg_rules is None else nsg_rules
        self._vnet_tags: dict[str, list[str]] = {}

    def lookup(self, resource_id: str) -> dict | None:
        key = resource_id.lower()
        if key not in self._resources:
            self._resources[key] = self._lookup(resource_id)
        return self._resources[key]

    def subnet(self, subnet_id: str) -> tuple[dict | None, dict | None]:
        """(subnet, its VNet) for a subnet id; None for what does not exist."""
        vnet_id = vnet_id_of_subnet(subnet_id)
        vnet = self.lookup(vnet_id)
        subnets = _memo(self._subnets, vnet_id.lower(), lambda: subnets_by_id(vnet))
        return subnets.get(subnet_id.lower()), vnet

    def subnet_holding(self, ip: str, vnet: dict | None) -> tuple[dict | None, dict | None]:
        """(subnet, VNet) whose address prefix contains ``ip``, among the subnets of the gateway's
        ``vnet`` and of the VNets connected to it by peering."""

        def index() -> SubnetsByAddress:
            own = [vnet] if vnet is not None else []
            return SubnetsByAddress(own + peered_vnets(vnet, self.lookup))

        return _memo(self._holding, str((vnet or {}).get("id") or "").lower(), index).find(ip)

    def nic_behind(self, ip: str, subnet: dict) -> tuple[dict | None, dict | None]:
        """(NIC, IP configuration) among the subnet's ``ipConfigurations`` whose private IP is
        ``ip`` (the first such)."""

        def index() -> dict[str, tuple[dict, dict]]:
            found: dict[str, tuple[dict, dict]] = {}
            for reference in props(subnet).get("ipConfigurations") or []:
                nic, config = nic_configuration(str(reference.get("id") or ""), self.lookup)
                address = props(config).get("privateIPAddress")
                if nic is not None and config is not None and isinstance(address, str):
                    found.setdefault(address, (nic, config))
            return found

        return _memo(self._nics, str(subnet.get("id") or "").lower(), index).get(ip, (None, None))

    def nsg_rules(self, nsg: dict | None) -> NsgRules | None:
        """The NSG's rules as evaluation reads them."""
        if nsg is None:
            return None
        key = str(nsg.get("id") or "").lower()
        return _memo(self._nsg_rules, key, lambda: NsgRules.from_nsg(nsg))

    def vnet_tag(self, vnet: dict | None) -> list[str]:
        """What the ``VirtualNetwork`` service tag stands for in the VNet."""
        if vnet is None:
            return virtual_network_tag(vnet, self.lookup)
        return _memo(
            self._vnet_tags, str(vnet.get("id") or "").lower(), lambda: virtual_network_tag(vnet, self.lookup)
        )


def _memo(store: dict[str, T], key: str, build: Callable[[], T]) -> T:
    if key not in store:
        store[key] = build()
    return store[key]


class SubnetsByAddress:
    """The subnets of some VNets by the addresses they hold: ``find`` gives the first subnet (VNets,
    their subnets and each subnet's prefixes in order) whose prefix contains an address, looking
    up one network per prefix length instead of scanning every subnet."""

    def __init__(self, vnets: list[dict]) -> None:
        # (IP version, prefix length) -> network -> (position in the scan, subnet, VNet)
        self._networks: dict[tuple[int, int], dict[Any, tuple[int, dict, dict]]] = {}
        self._unreadable: Exception | None = None  # what a scan of every prefix would stop at
        position = 0
        try:
            for vnet in vnets:
                for subnet in props(vnet).get("subnets") or []:
                    subnet_props = props(subnet)
                    for prefix in [
                        subnet_props.get("addressPrefix"),
                        *(subnet_props.get("addressPrefixes") or []),
                    ]:
                        if prefix:
                            network = ipaddress.ip_network(prefix, strict=False)
                            by_network = self._networks.setdefault((network.version, network.prefixlen), {})
                            by_network.setdefault(network, (position, subnet, vnet))
                            position += 1
        except Exception as error:  # a prefix that is not one: a scan that gets there fails on it
            self._unreadable = error

    def find(self, ip: str) -> tuple[dict | None, dict | None]:
        address = parse_ip(ip)
        if address is None:
            raise ValueError(f"{ip!r} does not appear to be an IPv4 or IPv6 address")
        found = [
            by_network[network]
            for (version, length), by_network in self._networks.items()
            if version == address.version
            and (network := ipaddress.ip_network((address, length), strict=False)) in by_network
        ]
        if found:
            _, subnet, vnet = min(found, key=lambda entry: entry[0])
            return subnet, vnet
        if self._unreadable is not None:
            raise self._unreadable
        return None, None


# --- the members ---------------------------------------------------------------------


def nic_configuration(config_id: str, lookup: Lookup) -> tuple[dict | None, dict | None]:
    """(NIC, IP configuration) of a NIC IP configuration id; None for what does not exist."""
    nic_id, _, _ = config_id.lower().rpartition("/ipconfigurations/")
    nic = lookup(config_id[: len(nic_id)]) if nic_id else None
    return nic, nic_ip_configuration(nic, config_id) if nic else None


def pool_members(pool: dict, lookup: Lookup) -> list[Member]:
    """A pool's members: its addresses (FQDN or IP), then its NIC IP configurations."""
    members = []
    for address in props(pool).get("backendAddresses") or []:
        if not isinstance(address, dict):  # e.g. a bare string: ARM never returns one, nor probes it
            continue
        value = address.get("fqdn") or address.get("ipAddress")
        if value:
            members.append(Member(value))
    for reference in props(pool).get("backendIPConfigurations") or []:
        config_id = reference.get("id") or ""
        nic, config = nic_configuration(config_id, lookup)
        members.append(Member(props(config).get("privateIPAddress") or "", config_id, nic))
    return members


def _is_ip(text: str) -> bool:
    return parse_ip(text) is not None


AZURE_DNS = "168.63.129.16"  # Azure-provided DNS: listing it in dnsServers is not custom DNS


def _answering_server(vnet: dict | None, dns: dict) -> str | None:
    """The VNet DNS server whose answers count: the first one the world has a table for, else Azure
    DNS when the VNet lists it (or lists none); "" when only unknown custom servers are listed."""
    servers = (props(vnet).get("dhcpOptions") or {}).get("dnsServers") or []
    for server in servers:
        if server in dns:
            return server
        if server == AZURE_DNS:
            return None
    return "" if servers else None


def resolution_known(name: str, vnet: dict | None, backends: Backends, dns: dict) -> bool:
    """Whether the world says what ``name`` resolves to: an IP, a name a world DNS server of
    the VNet answers (or not), or under Azure DNS a name ``backends`` lists."""
    if _is_ip(name):
        return True
    server = _answering_server(vnet, dns)
    if server is not None:
        return server != ""
    return backends.behaviour(name) is not None


def resolve(name: str, vnet: dict | None, backends: Backends, dns: dict) -> str | None:
    """The address a member name resolves to from the gateway's VNet, or None.

    With custom DNS servers the first server the world knows answers (a name it does not
    list is NXDOMAIN); with Azure DNS a name the world lists under ``backends`` resolves
    (to itself: its behaviour is keyed by the name) and any other name does not.
    """
    if _is_ip(name):
        return name
    server = _answering_server(vnet, dns)
    if server == "":
        return None
    if server is not None:
        addresses = answer(dns[server], name)
        return addresses[0] if addresses else None
    return name if backends.behaviour(name) is not None else None


# --- probing one member --------------------------------------------------------------


def _unhealthy(kind: ProbeLogKind, **details: object) -> Verdict:
    return Verdict(UNHEALTHY, probe_log_message(kind, **details))


def _guard(
    nic: dict | None, config: dict | None, subnet: dict | None, vnet: dict | None, estate: Estate
) -> Guard:
    groups = frozenset(g["id"] for g in props(config).get("applicationSecurityGroups") or [] if g.get("id"))
    return Guard(
        subnet_nsg=linked(subnet, "networkSecurityGroup", estate.lookup),
        nic_nsg=linked(nic, "networkSecurityGroup", estate.lookup),
        groups=groups,
        vnet_tag=tuple(estate.vnet_tag(vnet)) if vnet is not None else (),
    )


def backend_guard(ip: str, member: Member, site: Site, estate: Estate) -> Guard:
    """The NSGs and groups that guard a backend address (none for an address outside the VNets)."""
    if member.nic is not None:
        config = nic_ip_configuration(member.nic, member.ip_configuration_id)
        subnet_id = _ref(props(config).get("subnet"))
        subnet, vnet = estate.subnet(subnet_id) if subnet_id else (None, None)
        return _guard(member.nic, config, subnet, vnet, estate)
    subnet, vnet = estate.subnet_holding(ip, site.vnet)
    if subnet is None:
        return Guard()
    nic, config = estate.nic_behind(ip, subnet)
    return _guard(nic, config, subnet, vnet, estate)


def _path_blocked(site: Site, ip: str, member: Member, port: int, estate: Estate) -> bool:
    if not _is_ip(ip):
        if not site.internet_egress:
            return True  # a name Azure DNS answers for itself: a public endpoint
        outbound = Flow(direction="Outbound", source=site.source_ip, destination="Internet", port=port)
        return not evaluate_path(
            outbound, subnet_nsg=estate.nsg_rules(site.nsg), nic_nsg=None, vnet_prefixes=site.vnet_tag
        ).allowed
    route = effective_route_among(ip, site.routes)
    if route is None or str(route.next_hop_type).lower() in BLOCKING_NEXT_HOPS:
        return True
    to_internet = str(route.next_hop_type).lower() == "internet" and is_internet_address(ip)
    if to_internet and not site.internet_egress:
        return True
    outbound = Flow(direction="Outbound", source=site.source_ip, destination=ip, port=port)
    gateway_side = evaluate_path(
        outbound, subnet_nsg=estate.nsg_rules(site.nsg), nic_nsg=None, vnet_prefixes=site.vnet_tag
    )
    if not gateway_side.allowed:
        return True
    guard = backend_guard(ip, member, site, estate)
    inbound = Flow(
        direction="Inbound", source=site.source_ip, destination=ip, port=port, destination_groups=guard.groups
    )
    verdict = evaluate_path(
        inbound,
        subnet_nsg=estate.nsg_rules(guard.subnet_nsg),
        nic_nsg=estate.nsg_rules(guard.nic_nsg),
        vnet_prefixes=list(guard.vnet_tag) or site.vnet_tag,
    )
    return not verdict.allowed


def _tls_failure(probe: ProbeSpec, behaviour: dict, now: datetime) -> Verdict | None:
    """The TLS step: a port without a certificate cannot complete a handshake (connect error)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    certificate = behaviour.get("certificate")
    if not certificate:
        return _unhealthy(ProbeLogKind.CONNECT)
    if not hostname_matches(
        probe.host, subject=certificate.get("subject"), sans=certificate.get("san") or []
    ):
        return _unhealthy(ProbeLogKind.CN_MISMATCH)
    not_after = certificate.get("notAfter")
    not_before = certificate.get("notBefore")
    if (not_after and _time(not_after) < now) or (not_before and _time(not_before) > now):
        return _unhealthy(ProbeLogKind.CERT_EXPIRED)
    chain = str(certificate.get("chain") or "complete").lower()
    if chain != "complete":
        return _unhealthy(ProbeLogKind.CHAIN, chain=chain)
    return None


def certificate_times(backends: dict) -> tuple[datetime, ...] | None:
    """Every notBefore and notAfter of the backends' certificates: the moments at which a derivation
    can change with time alone (`_tls_failure` is the only reader of `now`). None when one is not a
    time (the derivation that reads it fails)."""
    times = []
    for behaviour in backends.values():
        certificate = behaviour.get("certificate") if isinstance(behaviour, dict) else None
        if not isinstance(certificate, dict):
            continue
        for name in ("notBefore", "notAfter"):
            if certificate.get(name):
                try:
                    times.append(_time(str(certificate[name])))
                except ValueError:
                    return None
    return tuple(times)


def holds_at(times: tuple[datetime, ...], then: datetime, now: datetime) -> bool:
    """Whether a derivation made at `then` is the one made at `now`: every certificate time in
    `times` compares with both alike (as `_tls_failure` compares it)."""
    then, now = (t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in (then, now))
    return all((t < then) == (t < now) and (t > then) == (t > now) for t in times)


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _response(probe: ProbeSpec, behaviour: dict) -> tuple[int, str | None]:
    """(status, body) the backend answers the probe request with."""
    path = (probe.path or "/").split("?", 1)[0]
    required = behaviour.get("requireHost")
    if required and str(required).lower() != str(probe.host or "").lower():
        return 404, None
    paths = behaviour.get("paths") or {}
    status = int(paths.get(path, 404))
    body = (behaviour.get("bodies") or {}).get(path, behaviour.get("body"))
    return status, body


def probe_member(
    member: Member,
    probe: ProbeSpec,
    *,
    site: Site,
    estate: Estate,
    now: datetime,
    recorded: Verdict | None = None,
) -> Verdict:
    """Run one probe against one member; the first failing step decides.

    ``recorded`` is the member's recorded health, which stands in for what the world
    does not describe (see the module docstring).
    """
    if site.infra_failure is not None:
        return site.infra_failure
    if not member.address:
        return _unhealthy(ProbeLogKind.CONNECT)
    ip = resolve(member.address, site.vnet, estate.backends, estate.dns)
    if ip is None:
        if recorded is not None and not resolution_known(
            member.address, site.vnet, estate.backends, estate.dns
        ):
            return recorded
        return _unhealthy(ProbeLogKind.DNS)
    behaviour = estate.backends.behaviour(member.address, ip)
    if probe.port is None or _path_blocked(site, ip, member, probe.port, estate):
        return _unhealthy(ProbeLogKind.CONNECT)
    if behaviour is None:
        return recorded if recorded is not None else _unhealthy(ProbeLogKind.CONNECT)
    if probe.port not in [int(p) for p in behaviour.get("ports") or []]:
        return _unhealthy(ProbeLogKind.CONNECT)
    if str(probe.protocol).lower() == "https":
        failure = _tls_failure(probe, behaviour, now)
        if failure is not None:
            return failure
    if float(behaviour.get("responseSeconds") or 0) > probe.timeout:
        return _unhealthy(ProbeLogKind.PROBE_TIMEOUT)
    status, body = _response(probe, behaviour)
    if not status_matches(status, probe.status_codes):
        return _unhealthy(ProbeLogKind.STATUS_MISMATCH, expected=probe.status_codes, received=status)
    if probe.body and (body is None or probe.body not in body):
        return _unhealthy(ProbeLogKind.BODY_MISMATCH, body=probe.body)
    return Verdict(HEALTHY, probe_log_message(ProbeLogKind.HEALTHY, status=status))


def _server(member: Member, verdict: Verdict) -> dict:
    server: dict = {"address": member.address}
    if member.ip_configuration_id:
        server["ipConfiguration"] = {"id": member.ip_configuration_id}
    server["health"] = verdict.health
    server["healthProbeLog"] = verdict.log
    return server


class Probing:
    """A gateway's members probed in one derivation: the gateway's site and the estate around it,
    its probes by id and the world's recorded health of it, each found once for every pool."""

    def __init__(self, gateway: dict, estate: Estate, now: datetime, recorded: dict | None) -> None:
        self.gateway = gateway
        self.estate = estate
        self.site = gateway_site(gateway, estate)
        self.now = now
        self.recorded = RecordedHealth(recorded)
        self._probes = children_by_id(gateway, "probes")

    def pool(self, pool: dict, settings: dict) -> list[dict]:
        """The server entries of one pool probed under one backend settings."""
        # All effective_probe reads of the gateway is the probe the settings reference.
        reference = _ref(props(settings).get("probe"))
        probe = self._probes.get(reference.lower()) if reference else None
        referenced = {"properties": {"probes": [probe] if probe is not None else []}}
        probe_for = effective_probes(referenced, settings)
        servers = []
        for member in pool_members(pool, self.estate.lookup):
            spec = probe_for(member.address)
            known = self.recorded.find(pool["id"], settings["id"], member.address)
            verdict = probe_member(
                member, spec, site=self.site, estate=self.estate, now=self.now, recorded=known
            )
            servers.append(_server(member, verdict))
        return servers


def derive_backend_health(
    gateway: dict,
    lookup: Lookup,
    backends: dict,
    dns: dict,
    now: datetime,
    *,
    recorded: dict | None = None,
    nsg_rules: dict[str, NsgRules] | None = None,
) -> dict:
    """The ApplicationGatewayBackendHealth body for the gateway's current configuration.

    ``recorded`` is the world's recorded ``backendHealth`` of the gateway, if any. ``nsg_rules``:
    the NSGs' rules by id, kept between derivations while the NSGs do not change (filled as read).
    """
    probing = Probing(gateway, Estate(lookup, backends, dns, nsg_rules), now, recorded)
    by_pool: dict[str, dict] = {}
    for pool, settings in probed_pairs(gateway):
        entry = by_pool.setdefault(
            pool["id"].lower(),
            {"backendAddressPool": {"id": pool["id"]}, "backendHttpSettingsCollection": []},
        )
        entry["backendHttpSettingsCollection"].append(
            {"backendHttpSettings": {"id": settings["id"]}, "servers": probing.pool(pool, settings)}
        )
    return {"backendAddressPools": list(by_pool.values())}


# --- on-demand probes ----------------------------------------------------------------


def _on_demand_gateway(gateway: dict, request: dict, settings: dict) -> dict:
    """A copy of the gateway whose ``settings`` reference a probe built from the request.

    Fields the request leaves out take the custom-probe defaults; the protocol defaults
    to the settings' protocol.
    """
    changed = copy.deepcopy(gateway)
    probe_id = f"{changed.get('id') or ''}/probes/{ON_DEMAND_PROBE_NAME}"
    probe_props = {"protocol": props(settings).get("protocol") or "Http", "path": "/", "timeout": 30}
    probe_props.update(
        {
            key: request[key]
            for key in ("protocol", "host", "path", "timeout", "pickHostNameFromBackendHttpSettings", "match")
            if request.get(key) is not None
        }
    )
    probe_props.update(interval=30, unhealthyThreshold=3)
    changed_props = changed.setdefault("properties", {})
    changed_props["probes"] = [
        *(changed_props.get("probes") or []),
        {"id": probe_id, "name": ON_DEMAND_PROBE_NAME, "properties": probe_props},
    ]
    for candidate in changed_props.get("backendHttpSettingsCollection") or []:
        if _ids_equal(candidate.get("id"), settings.get("id")):
            candidate.setdefault("properties", {})["probe"] = {"id": probe_id}
    return changed


def probe_on_demand(
    gateway: dict,
    request: dict,
    lookup: Lookup,
    backends: dict,
    dns: dict,
    now: datetime,
    *,
    recorded: dict | None = None,
) -> dict:
    """The ApplicationGatewayBackendHealthOnDemand body for an ApplicationGatewayOnDemandProbe.

    Raises ValueError (400 for the server) when the request names no pool or settings,
    or ones the gateway does not have.
    """
    pool_id = _ref(request.get("backendAddressPool"))
    settings_id = _ref(request.get("backendHttpSettings"))
    if not pool_id or not settings_id:
        raise ValueError("The on-demand probe must name backendAddressPool and backendHttpSettings.")
    pool = gateway_child(gateway, "backendAddressPools", pool_id)
    settings = gateway_child(gateway, "backendHttpSettingsCollection", settings_id)
    if pool is None:
        raise ValueError(f"Backend address pool {pool_id} does not exist on the gateway.")
    if settings is None:
        raise ValueError(f"Backend HTTP settings {settings_id} do not exist on the gateway.")
    changed = _on_demand_gateway(gateway, request, settings)
    probing = Probing(changed, Estate(lookup, backends, dns), now, recorded)  # the same site as the gateway's
    servers = probing.pool(
        pool, gateway_child(changed, "backendHttpSettingsCollection", settings["id"]) or settings
    )
    return {
        "backendAddressPool": {"id": pool["id"]},
        "backendHealthHttpSettings": {"backendHttpSettings": {"id": settings["id"]}, "servers": servers},
    }
