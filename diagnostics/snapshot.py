"""Everything one diagnosis knows about one gateway, collected once (diagnostics.collect).

Checks read a Snapshot and never do I/O. Values are the real SDK models
(`azure.mgmt.network.models`, `azure.mgmt.monitor.models`), so a unit test builds one from
ARM JSON with e.g. `ApplicationGateway(body)` and no server.

A piece that could not be collected is absent and has its reason in `errors`; a check that
needs it calls `require(...)`, which raises MissingData, and the engine reports the check as
`error` with that reason instead of "no problem".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.mgmt.network import models as net

from core.arm_ids import parent_id
from core.sdk_values import wire


class MissingData(Exception):
    """A check needs a piece of the snapshot that could not be collected."""


def key(resource_id: str | None) -> str:
    """ARM ids compare case-insensitively."""
    return (resource_id or "").lower()


@dataclass(frozen=True)
class BackendMember:
    """One server of a backend pool, as the gateway addresses it."""

    pool_id: str
    address: str  # IP or FQDN, as backend health reports it
    is_fqdn: bool
    ip_configuration_id: str | None = None  # for NIC members
    nic_id: str | None = None
    subnet_id: str | None = None  # NIC's subnet, or the VNet subnet an IP falls in


@dataclass(frozen=True)
class RoutingPair:
    """A pool and backend settings used together by a routing rule (or a URL path map)."""

    rule_id: str
    pool_id: str
    settings_id: str


@dataclass
class Snapshot:
    gateway_id: str
    incident_time: datetime
    window_start: datetime
    gateway: net.ApplicationGateway
    gateway_subnet: net.Subnet | None = None
    vnet: net.VirtualNetwork | None = None
    peered_vnets: dict[str, net.VirtualNetwork] = field(default_factory=dict)  # that hold IP pool members
    subnets: dict[str, net.Subnet] = field(default_factory=dict)
    nsgs: dict[str, net.NetworkSecurityGroup] = field(default_factory=dict)
    route_tables: dict[str, net.RouteTable] = field(default_factory=dict)
    nics: dict[str, net.NetworkInterface] = field(default_factory=dict)
    backend_health: net.ApplicationGatewayBackendHealth | None = None
    effective_routes: dict[str, list[net.EffectiveRoute]] = field(default_factory=dict)
    effective_nsgs: dict[str, list[net.EffectiveNetworkSecurityGroup]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # metric name -> azure.mgmt.monitor Metric
    dns_answers: dict[str, list[str]] | None = None  # FQDN -> IPs via the VNet's DNS (custom or Azure)
    # IP pool member -> why the NIC holding it (whose NSG also filters) could not be identified
    unidentified_nics: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # piece -> why it is missing

    def require(self, piece: str) -> Any:
        """The named attribute, or MissingData when its collection failed."""
        if piece in self.errors:
            raise MissingData(f"{piece}: {self.errors[piece]}")
        return getattr(self, piece)

    # --- facts derived from the gateway model (pure) ---

    @property
    def is_v2(self) -> bool:
        return is_v2_sku(self.gateway.sku)

    @property
    def gateway_subnet_id(self) -> str | None:
        for ipc in self.gateway.gateway_ip_configurations or []:
            if ipc.subnet and ipc.subnet.id:
                return ipc.subnet.id
        return None

    def nsg(self, nsg_id: str | None) -> net.NetworkSecurityGroup | None:
        return self.nsgs.get(key(nsg_id)) if nsg_id else None

    def gateway_nsg(self) -> net.NetworkSecurityGroup | None:
        subnet = self.gateway_subnet
        if subnet is None or subnet.network_security_group is None:
            return None
        return self.nsg(subnet.network_security_group.id)

    def gateway_route_table(self) -> net.RouteTable | None:
        subnet = self.gateway_subnet
        if subnet is None or subnet.route_table is None:
            return None
        return self.route_tables.get(key(subnet.route_table.id))

    def custom_dns_servers(self) -> list[str]:
        """The VNet's own DNS servers; Azure DNS (168.63.129.16) listed explicitly is not custom."""
        return custom_dns_servers(self.vnet)

    def pool(self, pool_id: str) -> net.ApplicationGatewayBackendAddressPool | None:
        return by_id(self.gateway.backend_address_pools, pool_id)

    def settings(self, settings_id: str) -> net.ApplicationGatewayBackendHttpSettings | None:
        return by_id(self.gateway.backend_http_settings_collection, settings_id)

    def probe(self, probe_id: str) -> net.ApplicationGatewayProbe | None:
        return by_id(self.gateway.probes, probe_id)

    def routing_pairs(self) -> list[RoutingPair]:
        return routing_pairs(self.gateway)

    def backend_members(self, pool_id: str | None = None) -> list[BackendMember]:
        """Pool servers, NIC members resolved to their private IP and subnet through `nics`."""
        resolved = []
        for member in backend_members(self.gateway, self.vnet, self.peered_vnets.values()):
            if pool_id is not None and key(member.pool_id) != key(pool_id):
                continue
            if member.ip_configuration_id:
                ip_config = self.ip_configuration(member.ip_configuration_id)
                if ip_config is not None:
                    member = BackendMember(
                        pool_id=member.pool_id,
                        address=ip_config.private_ip_address or "",
                        is_fqdn=False,
                        ip_configuration_id=member.ip_configuration_id,
                        nic_id=member.nic_id,
                        subnet_id=ip_config.subnet.id if ip_config.subnet else None,
                    )
            resolved.append(member)
        return resolved

    def ip_configuration(self, ip_configuration_id: str) -> net.NetworkInterfaceIPConfiguration | None:
        nic = self.nics.get(key(parent_id(ip_configuration_id)))
        return by_id(nic.ip_configurations, ip_configuration_id) if nic is not None else None


# The v1 family: tiers Standard and WAF (sizes Small/Medium/Large). Everything else — Standard_v2,
# WAF_v2 and Basic — is the v2 family, with its infrastructure ports 65200-65535.
V1_TIERS = frozenset({"standard", "waf"})
V1_SKU_NAMES = frozenset({"standard_small", "standard_medium", "standard_large", "waf_medium", "waf_large"})


def is_v2_sku(sku: Any) -> bool:
    """Whether a gateway SKU is of the v2 family (Basic included); judged by tier, else by name."""
    tier, name = wire(getattr(sku, "tier", None)), wire(getattr(sku, "name", None))
    if tier:
        return tier.lower() not in V1_TIERS
    return name.lower() not in V1_SKU_NAMES


AZURE_DNS = "168.63.129.16"


def custom_dns_servers(vnet: net.VirtualNetwork | None) -> list[str]:
    """The DNS servers a VNet sets other than Azure DNS ([] = the VNet resolves through Azure DNS)."""
    if vnet is None or vnet.dhcp_options is None:
        return []
    return [s for s in vnet.dhcp_options.dns_servers or [] if s.strip() != AZURE_DNS]


def by_id(items: list[Any] | None, item_id: str | None) -> Any:
    """The item of an SDK list whose ARM id is `item_id` (compared as ARM compares ids), or None."""
    return next((item for item in items or [] if key(item.id) == key(item_id)), None)


def routing_pairs(gateway: net.ApplicationGateway) -> list[RoutingPair]:
    """Pool/settings pairs that carry traffic: basic rules, and path rules of URL path maps."""
    path_maps = {key(m.id): m for m in gateway.url_path_maps or []}
    pairs: list[RoutingPair] = []
    seen: set[tuple[str, str]] = set()

    def add(rule_id: str, pool: Any, settings: Any) -> None:
        if pool is None or settings is None or not pool.id or not settings.id:
            return
        pair_key = (key(pool.id), key(settings.id))
        if pair_key not in seen:
            seen.add(pair_key)
            pairs.append(RoutingPair(rule_id=rule_id, pool_id=pool.id, settings_id=settings.id))

    for rule in gateway.request_routing_rules or []:
        add(rule.id, rule.backend_address_pool, rule.backend_http_settings)
        if rule.url_path_map is not None:
            path_map = path_maps.get(key(rule.url_path_map.id))
            if path_map is None:
                continue
            add(rule.id, path_map.default_backend_address_pool, path_map.default_backend_http_settings)
            for path_rule in path_map.path_rules or []:
                add(path_rule.id or rule.id, path_rule.backend_address_pool, path_rule.backend_http_settings)
    return pairs


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def subnet_in(vnets: Iterable[net.VirtualNetwork | None], ip: str) -> str | None:
    """The id of the subnet holding `ip` in the first of `vnets` that has one."""
    return next((found for vnet in vnets if (found := subnet_containing(vnet, ip))), None)


def subnet_containing(vnet: net.VirtualNetwork | None, ip: str) -> str | None:
    """The id of the VNet subnet whose prefix holds `ip` (longest prefix), if any."""
    if vnet is None or not _is_ip(ip):
        return None
    address = ipaddress.ip_address(ip)
    best: tuple[int, str] | None = None
    for subnet in vnet.subnets or []:
        prefixes = list(subnet.address_prefixes or []) + (
            [subnet.address_prefix] if subnet.address_prefix else []
        )
        for prefix in prefixes:
            network = ipaddress.ip_network(prefix, strict=False)
            if address in network and (best is None or network.prefixlen > best[0]):
                best = (network.prefixlen, subnet.id)
    return best[1] if best else None


def _connected(peering: Any) -> bool:
    """A peering that carries traffic: Connected (when the state is given) and VNet access allowed."""
    state = wire(peering.peering_state)
    return (not state or state.lower() == "connected") and peering.allow_virtual_network_access is not False


def peering_prefixes(vnet: net.VirtualNetwork | None) -> list[str]:
    """The address space of every connected peered VNet (`remoteVirtualNetworkAddressSpace`, the
    remote's current space, and `remoteAddressSpace`, the space as peered), each prefix once.

    Azure adds a system route (next hop `VNetPeering`) for each, and counts them in the
    `VirtualNetwork` service tag — so in hub-and-spoke, AllowVnetInBound/OutBound cover the spokes.
    A peering with `allowVirtualNetworkAccess: false` is left out of the tag, as Azure does.
    """
    prefixes: dict[str, None] = {}
    for peering in (vnet.virtual_network_peerings or []) if vnet is not None else []:
        if _connected(peering):
            prefixes.update(dict.fromkeys(_remote_prefixes(peering)))
    return list(prefixes)


def _remote_prefixes(peering: Any) -> list[str]:
    spaces = (peering.remote_virtual_network_address_space, peering.remote_address_space)
    return [p.strip() for space in spaces if space is not None for p in space.address_prefixes or []]


def peered_vnet_holding(vnet: net.VirtualNetwork | None, ip: str) -> str | None:
    """The id of the connected peered VNet whose address space holds `ip`, if any."""
    if vnet is None or not _is_ip(ip):
        return None
    address = ipaddress.ip_address(ip)
    for peering in vnet.virtual_network_peerings or []:
        remote = peering.remote_virtual_network
        if not _connected(peering) or remote is None or not remote.id:
            continue
        if any(address in ipaddress.ip_network(p, strict=False) for p in _remote_prefixes(peering)):
            return remote.id
    return None


def virtual_network_tag(vnet: net.VirtualNetwork | None) -> list[str]:
    """The prefixes the `VirtualNetwork` service tag stands for, as seen from `vnet`: its own address
    space and its connected peerings' (on-premises ranges behind a VPN/ExpressRoute gateway are also
    in the tag, but ARM does not show them on the VNet)."""
    return list(dict.fromkeys([*address_space(vnet), *peering_prefixes(vnet)]))


def address_space(vnet: net.VirtualNetwork | None) -> list[str]:
    """A VNet's own address prefixes."""
    if vnet is None or vnet.address_space is None:
        return []
    return list(vnet.address_space.address_prefixes or [])


def backend_members(
    gateway: net.ApplicationGateway,
    vnet: net.VirtualNetwork | None,
    peered: Iterable[net.VirtualNetwork] = (),
) -> list[BackendMember]:
    """Every server of every pool. IP members carry the subnet that holds them, in the gateway's VNet
    or one of the `peered` VNets. NIC members carry their ip-configuration id; their private IP and
    subnet are known only once the NIC is fetched (Snapshot.backend_members resolves them)."""
    vnets = [vnet, *peered]
    members: list[BackendMember] = []
    for pool in gateway.backend_address_pools or []:
        for address in pool.backend_addresses or []:
            if address.ip_address:
                members.append(
                    BackendMember(
                        pool_id=pool.id,
                        address=address.ip_address,
                        is_fqdn=False,
                        subnet_id=subnet_in(vnets, address.ip_address),
                    )
                )
            elif address.fqdn:
                members.append(BackendMember(pool_id=pool.id, address=address.fqdn, is_fqdn=True))
        for ref in pool.backend_ip_configurations or []:
            if ref.id:
                members.append(
                    BackendMember(
                        pool_id=pool.id,
                        address="",
                        is_fqdn=False,
                        ip_configuration_id=ref.id,
                        nic_id=parent_id(ref.id),
                    )
                )
    return members


def iter_health_servers(
    health: net.ApplicationGatewayBackendHealth | None,
) -> Iterator[tuple[str, str, net.ApplicationGatewayBackendHealthServer]]:
    """(pool id, settings id, server) for every server in a backend-health result."""
    if health is None:
        return
    for pool in health.backend_address_pools or []:
        pool_id = (pool.backend_address_pool.id if pool.backend_address_pool else None) or ""
        for collection in pool.backend_http_settings_collection or []:
            settings = collection.backend_http_settings
            settings_id = (settings.id if settings else None) or ""
            for server in collection.servers or []:
                yield pool_id, settings_id, server
