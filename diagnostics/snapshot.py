"""Everything one diagnosis knows about one gateway, collected once (diagnostics.collect).

Checks read a Snapshot and never do I/O. Values are what the SDK returns: its models
(`azure.mgmt.network.models`, `azure.mgmt.monitor.models`), or the JSON ARM sent where what grows
with the gateway is read by wire names (the gateway itself, listed NICs and NSGs, backend health,
effective rules; see `json_fields`). The gateway's whole model is made from its JSON only for a
reader of `gateway`; checks read its collections through `gateway_items` / `gateway_collection`.

A piece that could not be collected is absent and has its reason in `errors`; a check that
needs it calls `require(...)`, which raises MissingData, and the engine reports the check as
`error` with that reason instead of "no problem".
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard, cast

from azure.mgmt.network import models as net

from core.arm_ids import name_of, parent_id
from core.sdk_values import json_fields, json_properties, wire
from netrules.isolation import tagged_network_isolated
from netrules.nsg import NsgRules


class MissingData(Exception):
    """A check needs a piece of the snapshot that could not be collected."""


# `errors` key under which collection records elements ARM would not return (a bare string where a
# pool member object belongs, a string where a number belongs...): `<resource>.<path>: <problem>; ...`.
MALFORMED = "malformed"


def is_model(value: Any) -> TypeGuard[Any]:
    """Whether `value` is an SDK model (the SDK hands back raw JSON values it could not read as one)."""
    if not _is_model_type(type(value)):
        return False
    # a `properties` the SDK could not read as its model stays a plain dict, and every flattened
    # attribute of the element then fails: the element as a whole is malformed. (Read from the wire
    # JSON the model is a mapping of: the attribute would deserialize the properties anew.)
    return not isinstance(json_fields(value).get("properties"), dict)


_MODEL_TYPES: dict[type, bool] = {}  # type -> whether it is an SDK model class, found once per type


def _is_model_type(kind: type) -> bool:
    known = _MODEL_TYPES.get(kind)
    if known is None:
        known = _MODEL_TYPES[kind] = issubclass(kind, net.SubResource) or hasattr(kind, "_attr_to_rest_field")
    return known


def is_json_object(value: Any) -> bool:
    """Whether `value` is an ARM JSON object as ARM sent it (a plain dict, not an SDK model) that an
    SDK model could be made of: its `properties`, when it has some, an object too. Collection keeps
    the NICs of a resource group's list so (see `collect.LISTABLE`); inside one, every nested object
    is plain JSON as well."""
    return type(value) is dict and isinstance(value.get("properties", {}), (dict, type(None)))


def is_resource(value: Any) -> bool:
    """An SDK model (`is_model`) or plain ARM JSON (`is_json_object`): read it by its wire names
    (`json_fields`, `json_properties`, `ref_id`), never by the model's attributes."""
    return is_json_object(value) if type(value) is dict else is_model(value)


def models(items: Any) -> list[Any]:
    """The objects of a list, SDK models or plain ARM JSON (`is_resource`), skipping malformed
    elements (a list that is not one: [])."""
    return [item for item in items if is_resource(item)] if isinstance(items, list) else []


def ref_id(reference: Any) -> str | None:
    """The ARM id of a reference (`{"id": ...}`) or of a sub-resource, an SDK model or plain ARM JSON;
    None when absent or malformed."""
    value = json_fields(reference).get("id") if is_resource(reference) else None
    return value if isinstance(value, str) and value else None


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
class HealthServer:
    """One server of a backend-health result, read out of the SDK model (`Snapshot.health_servers`)."""

    pool_id: str
    settings_id: str
    address: Any  # as reported; "" when absent
    health: Any  # the SDK's value, as reported
    probe_log: Any  # the health probe log; "" when absent


@dataclass(frozen=True)
class RoutingPair:
    """A pool and backend settings used together by a routing rule (or a URL path map)."""

    rule_id: str
    pool_id: str
    settings_id: str


class Collected(dict):  # type: ignore[type-arg]
    """Collected resources by key: a dict that takes a new `version` (a token compared by identity)
    on every change, so what is derived from all of it is known current in O(1) however many
    entries it holds (`Snapshot._memoised`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.version = object()

    def _changed(self) -> None:
        self.version = object()

    def __setitem__(self, item: Any, value: Any) -> None:
        super().__setitem__(item, value)
        self._changed()

    def __delitem__(self, item: Any) -> None:
        super().__delitem__(item)
        self._changed()

    def __ior__(self, other: Any) -> Collected:  # type: ignore[misc]  # (dict's `|` makes a dict)
        super().__ior__(other)
        self._changed()
        return self

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> Any:
        self._changed()
        return super().popitem()

    def setdefault(self, item: Any, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(item, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()


def contents(resources: dict[str, Any]) -> tuple[Any, ...]:
    """Memo inputs that stand for a dict's contents: the dict and its version when it is `Collected`,
    else every key and value."""
    if isinstance(resources, Collected):
        return (resources, resources.version)
    return (*resources.keys(), *resources.values())


# The SDK model class of each item of the gateway's collections the checks read as models, by the
# attribute of `ApplicationGateway` that holds them, with the collection's wire name.
GATEWAY_COLLECTIONS: dict[str, tuple[str, type]] = {
    "backend_address_pools": ("backendAddressPools", net.ApplicationGatewayBackendAddressPool),
    "backend_http_settings_collection": (
        "backendHttpSettingsCollection",
        net.ApplicationGatewayBackendHttpSettings,
    ),
    "probes": ("probes", net.ApplicationGatewayProbe),
    "frontend_ip_configurations": ("frontendIPConfigurations", net.ApplicationGatewayFrontendIPConfiguration),
}


def gateway_model(raw: Mapping[str, Any]) -> net.ApplicationGateway:
    """The SDK's model of the gateway's JSON, as its `get` makes it (`ApplicationGateway(raw)`: the
    SDK makes one of any JSON object, reading what does not fit as it comes)."""
    return net.ApplicationGateway(raw)


class _GatewayModel:
    """`Snapshot.gateway`: the SDK's model of the gateway, made from `gateway_json` when first read.

    Collection keeps the gateway as the JSON ARM sent (`gateway_json`), which checks read by wire
    names and as per-item models (`Snapshot.gateway_items`); the whole model (a tenth of a second at
    100 pools, for 1,000 members' references) is made only for a reader that wants it (remediation's
    writes, the Activity Log's labels). Setting a model replaces the JSON it no longer stands for."""

    def __get__(self, snapshot: Any, owner: type | None = None) -> Any:
        if snapshot is None:
            return None  # the field's default
        model = snapshot.__dict__.get(_GATEWAY_MODEL_SLOT)
        if model is None and snapshot.__dict__.get("gateway_json") is not None:
            with _GATEWAY_MODEL_LOCK:
                model = snapshot.__dict__.get(_GATEWAY_MODEL_SLOT)
                if model is None:
                    model = snapshot.__dict__[_GATEWAY_MODEL_SLOT] = gateway_model(snapshot.gateway_json)
        return model

    def __set__(self, snapshot: Any, value: Any) -> None:
        snapshot.__dict__[_GATEWAY_MODEL_SLOT] = value
        if value is not None:
            snapshot.__dict__["gateway_json"] = None


_GATEWAY_MODEL_LOCK = threading.Lock()
_GATEWAY_MODEL_SLOT = "_gateway_model"  # where a snapshot keeps the model once made (or given)


@dataclass
class Snapshot:
    gateway_id: str
    incident_time: datetime
    window_start: datetime
    # the SDK's model of the gateway (made from `gateway_json` on first read: see `_GatewayModel`)
    gateway: Any = _GatewayModel()
    # The gateway's VNet and its subnets as ARM sent them (plain JSON: a VNet's subnets list every
    # IP configuration in them, a thousand references at Azure's limits, which the SDK's model would
    # make one model each); SDK models given instead (tests) are read the same, by wire names.
    gateway_subnet: Any = None
    vnet: Any = None
    # peered VNets that hold IP pool members
    peered_vnets: dict[str, Any] = field(default_factory=Collected)
    # subnet id key -> the subnet: from its VNet's JSON, or an SDK model (a subnet GET)
    subnets: dict[str, Any] = field(default_factory=dict)
    # NSG id key -> the NSG: an SDK model (read by a GET), or plain ARM JSON (picked from its resource
    # group's list); `nsg()` hands out a model either way, `nsg_rules()` reads wire names
    nsgs: dict[str, Any] = field(default_factory=dict)
    route_tables: dict[str, net.RouteTable] = field(default_factory=dict)
    # NIC id key -> the NIC: an SDK model (read by a GET), or plain ARM JSON (picked from its resource
    # group's list: see `is_resource`); read by wire names either way
    nics: dict[str, Any] = field(default_factory=Collected)
    # an SDK model, or (as collection reads it) the JSON ARM sent: read by wire names either way
    backend_health: Any = None
    # NIC id key -> its effective routes / NSG groups: SDK models, or (as collection reads them) the
    # JSON ARM sent; read by wire names either way
    effective_routes: dict[str, list[Any]] = field(default_factory=dict)
    effective_nsgs: dict[str, list[Any]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # metric name -> azure.mgmt.monitor Metric
    dns_answers: dict[str, list[str]] | None = None  # FQDN -> IPs via the VNet's DNS (custom or Azure)
    # IP pool member -> why the NIC holding it (whose NSG also filters) could not be identified
    unidentified_nics: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # piece -> why it is missing
    # The Activity Log events (azure.mgmt.monitor EventData) of the path's resource groups in
    # `changes_window` (start, end), and the groups read; not a check's input (diagnostics.changes).
    activity_log: list[Any] = field(default_factory=list)
    activity_log_groups: list[str] = field(default_factory=list)
    changes_window: tuple[datetime, datetime] | None = None
    # The gateway as ARM sent it (what collection reads), None when `gateway` was given as a model
    gateway_json: dict[str, Any] | None = None
    # What checks derive from the collected resources (members, routing pairs, indexes), each with
    # the inputs it was derived from: see `_memoised`.
    _memo: dict[str, tuple[tuple[Any, ...], Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _memoised(self, name: str, inputs: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """`compute()`, derived once per snapshot and reused while `inputs` are the very same
        objects (compared by identity): replacing the gateway, a VNet or a NIC of the snapshot
        derives it anew (a `Collected` dict stands in by its version: see `contents`). Only
        collected resources are ever inputs — never `errors`, `metrics`, `dns_answers` or
        `unidentified_nics`, which checks read afresh on every call. (Collected SDK models are not
        edited in place after collection.)"""
        hit = self._memo.get(name)
        if hit is not None and len(hit[0]) == len(inputs):
            if all(a is b for a, b in zip(hit[0], inputs, strict=True)):
                return hit[1]
        value = compute()
        self._memo[name] = (inputs, value)
        return value

    def _vnet_inputs(self) -> tuple[Any, ...]:
        return (self.vnet, *contents(self.peered_vnets))

    def _nic_inputs(self) -> tuple[Any, ...]:
        return contents(self.nics)

    def require(self, piece: str) -> Any:
        """The named attribute, or MissingData when its collection failed."""
        if piece in self.errors:
            raise MissingData(f"{piece}: {self.errors[piece]}")
        return getattr(self, piece)

    # --- facts derived from the gateway (pure), read by wire names ---

    @property
    def gateway_model_made(self) -> bool:
        """Whether the gateway's whole SDK model exists yet (made on a read of `gateway`, or given)."""
        return self.__dict__.get(_GATEWAY_MODEL_SLOT) is not None

    @property
    def gateway_wire(self) -> Any:
        """The gateway to read by wire names (`json_fields`, `json_properties`): the JSON ARM sent,
        else the model given."""
        return self.gateway_json if self.gateway_json is not None else self.gateway

    def gateway_collection(self, wire_name: str) -> list[Any]:
        """The well-formed items of one of the gateway's collections (`backendAddressPools`...) as
        ARM sent them (or as the model holds them), for reading by wire names."""
        return models(json_properties(self.gateway_wire).get(wire_name))

    def gateway_items(self, collection: str) -> list[Any]:
        """The items of one of the gateway's collections (an attribute of `ApplicationGateway`:
        `probes`, `backend_http_settings_collection`...) as SDK models, each made once from its JSON
        (the whole gateway's model is not made for them); items ARM would never send are left out."""
        return self._gateway_index(collection).every()

    def gateway_items_wire(self, collection: str) -> list[Any]:
        """The items `gateway_items` makes models of, as ARM sent them (to read by wire names: a check
        that reads every item makes models of only those it reports, through `_child`)."""
        return self._gateway_index(collection).wire()

    def settings_wire(self, settings_id: str | None) -> Any:
        """The backend settings `settings_id` as ARM sent them (read by wire names), or None."""
        return (
            self._gateway_index("backend_http_settings_collection").raw(key(settings_id))
            if settings_id
            else None
        )

    def _gateway_index(self, collection: str) -> ItemModels:
        """id key -> item model of one collection (the first of equal ids), once per gateway."""
        wire_name, item_class = GATEWAY_COLLECTIONS[collection]
        gateway = self.gateway_wire
        return cast(
            ItemModels,
            self._memoised(
                f"items:{collection}", (gateway,), lambda: ItemModels(gateway, wire_name, item_class)
            ),
        )

    @property
    def is_v2(self) -> bool:
        return is_v2_sku(json_properties(self.gateway_wire).get("sku"))

    @property
    def is_network_isolated(self) -> bool:
        """A private (network-isolated) v2 gateway: tagged `EnhancedNetworkControl` = `True` (key and
        value in any case). It needs no GatewayManager inbound rule, no outbound Internet and no
        Internet default route on its subnet; AzureLoadBalancer inbound and the backend paths it
        still needs (docs/APPGW_FACTS.md)."""
        tags = json_fields(self.gateway_wire).get("tags")
        return self.is_v2 and tagged_network_isolated(tags if isinstance(tags, Mapping) else None)

    @property
    def has_public_frontend(self) -> bool:
        """Whether some frontend IP configuration of the gateway has a public IP address."""
        frontends = self.gateway_collection("frontendIPConfigurations")
        return any(ref_id(json_properties(fe).get("publicIPAddress")) for fe in frontends)

    @property
    def gateway_subnet_id(self) -> str | None:
        configurations = self.gateway_collection("gatewayIPConfigurations")
        return next(
            (found for c in configurations if (found := ref_id(json_properties(c).get("subnet")))), None
        )

    def nsg(self, nsg_id: str | None) -> net.NetworkSecurityGroup | None:
        """The collected NSG as an SDK model, made once from its JSON when it was listed as JSON."""
        found = self.nsgs.get(key(nsg_id)) if nsg_id else None
        if not is_json_object(found):
            return found
        data = cast(dict[str, Any], found)
        return self._memoised(f"nsg_model:{key(nsg_id)}", (data,), lambda: net.NetworkSecurityGroup(data))

    def nsg_rules(self, nsg: Any) -> NsgRules:
        """The rules of `nsg` (an NSG of `nsgs`: a model, or the JSON a list gave) converted for
        evaluation, once per NSG: an NSG replaced in `nsgs` is another object, converted anew. (Keyed
        by the object's identity, which the memo's inputs keep alive, so it is never another's.)"""
        return self._memoised(f"nsg_rules:{id(nsg)}", (nsg,), lambda: NsgRules.from_nsg(nsg))

    def effective_nsg_rules(self, nic_id: str) -> list[NsgRules] | None:
        """The NIC's effective NSGs converted for evaluation, None when they were not collected. Each
        group model is converted once (the NICs of a group of equal answers share its models)."""
        groups = self.effective_nsgs.get(key(nic_id))
        if groups is None:
            return None
        return [self._effective_group_rules(group) for group in groups]

    def _effective_group_rules(self, group: net.EffectiveNetworkSecurityGroup) -> NsgRules:
        return self._memoised(f"effective_nsg:{id(group)}", (group,), lambda: NsgRules.from_effective(group))

    def gateway_nsg(self) -> net.NetworkSecurityGroup | None:
        nsg_id = ref_id(json_properties(self.gateway_subnet).get("networkSecurityGroup"))
        return self.nsg(nsg_id) if nsg_id else None

    def gateway_route_table(self) -> net.RouteTable | None:
        table_id = ref_id(json_properties(self.gateway_subnet).get("routeTable"))
        return self.route_tables.get(key(table_id)) if table_id else None

    def custom_dns_servers(self) -> list[str]:
        """The VNet's own DNS servers; Azure DNS (168.63.129.16) listed explicitly is not custom."""
        return custom_dns_servers(self.vnet)

    def pool(self, pool_id: str | None) -> net.ApplicationGatewayBackendAddressPool | None:
        return self._child("backend_address_pools", pool_id)

    def settings(self, settings_id: str | None) -> net.ApplicationGatewayBackendHttpSettings | None:
        return self._child("backend_http_settings_collection", settings_id)

    def probe(self, probe_id: str | None) -> net.ApplicationGatewayProbe | None:
        return self._child("probes", probe_id)

    def _child(self, collection: str, item_id: str | None) -> Any:
        """`by_id(self.gateway.<collection>, item_id)`: the item's model (see `gateway_items`)."""
        return self._gateway_index(collection).get(key(item_id)) if item_id else None

    def health_servers(self) -> list[HealthServer]:
        """Every server of `backend_health` (`iter_health_servers`), read once per health result."""
        return list(self._memoised("health_servers", (self.backend_health,), self._read_health_servers))

    def _read_health_servers(self) -> tuple[HealthServer, ...]:
        servers = []
        for pool_id, settings_id, server in iter_health_servers(self.backend_health):
            fields = json_fields(server)  # the wire values, read once (see `json_fields`)
            servers.append(
                HealthServer(
                    pool_id,
                    settings_id,
                    fields.get("address") or "",
                    fields.get("health"),
                    fields.get("healthProbeLog") or "",
                )
            )
        return tuple(servers)

    def routing_pairs(self) -> list[RoutingPair]:
        gateway = self.gateway_wire
        return list(self._memoised("routing_pairs", (gateway,), lambda: routing_pairs(gateway)))

    def backend_members(self, pool_id: str | None = None) -> list[BackendMember]:
        """Pool servers, NIC members resolved to their private IP and subnet through `nics`.

        Raises MissingData when a pool asked about (any, without `pool_id`) has members ARM would
        not return (e.g. a bare string): its servers are not all known."""
        gateway = self.gateway_wire
        malformed: MalformedMembers = self._memoised(
            "malformed_members", (gateway,), lambda: MalformedMembers(gateway)
        )
        bad = malformed.of(pool_id)
        if bad:
            raise MissingData(f"backend pool members: {'; '.join(bad)}")
        resolved, by_pool = self._memoised(
            "backend_members",
            (gateway, *self._vnet_inputs(), *self._nic_inputs()),
            self._resolve_members,
        )
        return list(resolved if pool_id is None else by_pool.get(key(pool_id), ()))

    def _resolve_members(self) -> tuple[list[BackendMember], dict[str, list[BackendMember]]]:
        """Every pool's servers (NIC members resolved), and the same grouped by pool key."""
        resolved: list[BackendMember] = []
        by_pool: dict[str, list[BackendMember]] = {}
        for member in backend_members(self.gateway_wire, self.vnet, self.peered_vnets.values()):
            if member.ip_configuration_id:
                ip_config = self.ip_configuration(member.ip_configuration_id)
                if is_resource(ip_config):
                    fields = json_properties(ip_config)
                    member = BackendMember(
                        pool_id=member.pool_id,
                        address=_text(fields.get("privateIPAddress")),
                        is_fqdn=False,
                        ip_configuration_id=member.ip_configuration_id,
                        nic_id=member.nic_id,
                        subnet_id=ref_id(fields.get("subnet")),
                    )
            resolved.append(member)
            by_pool.setdefault(key(member.pool_id), []).append(member)
        return resolved, by_pool

    def ip_configuration(self, ip_configuration_id: str) -> Any:
        """The NIC IP configuration (an SDK model, or plain JSON as the NIC's list sent it), or None:
        the first of that id among the IP configurations of the NIC its id names."""
        if not ip_configuration_id:
            return None
        index = self._memoised("ip_configurations", self._nic_inputs(), self._ip_configuration_index)
        return index.get((key(parent_id(ip_configuration_id)), key(ip_configuration_id)))

    def _ip_configuration_index(self) -> dict[tuple[str, str], Any]:
        """(NIC key, IP configuration id key) -> the configuration, for every collected NIC: made once
        (every NIC member of 1,000 asks)."""
        index: dict[tuple[str, str], Any] = {}
        for nic_key, nic in self.nics.items():
            if is_resource(nic):
                for configuration in models(json_properties(nic).get("ipConfigurations")):
                    configuration_id = ref_id(configuration)
                    if configuration_id:
                        index.setdefault((nic_key, key(configuration_id)), configuration)
        return index

    def nic_holding(self, subnet_id: str, address: str) -> Any:
        """The first collected NIC (in `nics` order) with an IP configuration in subnet `subnet_id`
        whose private IP is `address`, or None."""
        index = self._memoised("nic_by_subnet_ip", self._nic_inputs(), self._nic_index)
        return index.get((key(subnet_id), address))

    def _nic_index(self) -> dict[tuple[str, Any], Any]:
        index: dict[tuple[str, Any], Any] = {}
        for nic in self.nics.values():
            for ipc in json_properties(nic).get("ipConfigurations") or []:
                fields = json_properties(ipc)
                address, subnet_id = fields.get("privateIPAddress"), ref_id(fields.get("subnet"))
                if subnet_id is not None and isinstance(address, str):  # members' addresses are str
                    index.setdefault((key(subnet_id), address), nic)
        return index

    def virtual_network_tag(self, vnet: Any) -> list[str]:
        """`virtual_network_tag(vnet)`, derived once per VNet."""
        return list(self._memoised(f"vnet_tag:{id(vnet)}", (vnet,), lambda: tuple(virtual_network_tag(vnet))))

    def vnet_subnet(self, subnet_id: str | None) -> Any:
        """The gateway VNet's subnet `subnet_id`, through an index of its subnets built once per VNet."""
        if not subnet_id or not is_resource(self.vnet):
            return None
        vnet = self.vnet
        index = self._memoised(
            "vnet_subnets", (vnet,), lambda: id_index(json_properties(vnet).get("subnets"))
        )
        return index.get(key(subnet_id))

    def subnet_containing(self, vnet: Any, ip: str) -> str | None:
        """`subnet_containing(vnet, ip)` through the VNet's prefix index, built once per VNet."""
        if not is_resource(vnet):
            return None
        index: SubnetIndex = self._memoised(f"subnets:{id(vnet)}", (vnet,), lambda: SubnetIndex(vnet))
        return index.lookup(ip)


# The v1 family: tiers Standard and WAF (sizes Small/Medium/Large). Everything else — Standard_v2,
# WAF_v2 and Basic — is the v2 family, with its infrastructure ports 65200-65535.
V1_TIERS = frozenset({"standard", "waf"})
V1_SKU_NAMES = frozenset({"standard_small", "standard_medium", "standard_large", "waf_medium", "waf_large"})


def is_v2_sku(sku: Any) -> bool:
    """Whether a gateway SKU is of the v2 family (Basic included); judged by tier, else by name."""
    fields = json_fields(sku)  # a model's or plain JSON's, alike
    tier, name = wire(fields.get("tier")), wire(fields.get("name"))
    if tier:
        return tier.lower() not in V1_TIERS
    return name.lower() not in V1_SKU_NAMES


AZURE_DNS = "168.63.129.16"


def custom_dns_servers(vnet: Any) -> list[str]:
    """The DNS servers a VNet (its ARM JSON or SDK model, read by wire names) sets other than Azure
    DNS ([] = the VNet resolves through Azure DNS)."""
    options = json_properties(vnet).get("dhcpOptions") if is_resource(vnet) else None
    if not is_resource(options):
        return []
    servers = json_fields(options).get("dnsServers")
    return (
        [s for s in servers if isinstance(s, str) and s.strip() != AZURE_DNS]
        if isinstance(servers, list)
        else []
    )


def by_id(items: list[Any] | None, item_id: str | None) -> Any:
    """The item of an SDK list whose ARM id is `item_id` (compared as ARM compares ids), or None;
    malformed elements (no readable id) never match."""
    return next((item for item in models(items) if key(ref_id(item)) == key(item_id) and item_id), None)


def id_index(items: list[Any] | None) -> dict[str, Any]:
    """ARM id key -> item of an SDK list, the first of equal ids winning, as `by_id` finds them."""
    index: dict[str, Any] = {}
    for item in models(items):
        item_id = ref_id(item)
        if item_id:
            index.setdefault(key(item_id), item)
    return index


def routing_pairs(gateway: Any) -> list[RoutingPair]:
    """Pool/settings pairs that carry traffic: basic rules, and path rules of URL path maps. The
    gateway is its JSON or its model, read by wire names either way."""
    gateway_fields = json_properties(gateway)
    path_maps = {key(ref_id(m)): m for m in models(gateway_fields.get("urlPathMaps"))}
    pairs: list[RoutingPair] = []
    seen: set[tuple[str, str]] = set()

    def add(rule_id: str, fields: Mapping[str, Any], pool_field: str, settings_field: str) -> None:
        pool_id, settings_id = ref_id(fields.get(pool_field)), ref_id(fields.get(settings_field))
        if pool_id is None or settings_id is None:
            return
        pair_key = (key(pool_id), key(settings_id))
        if pair_key not in seen:
            seen.add(pair_key)
            pairs.append(RoutingPair(rule_id=rule_id, pool_id=pool_id, settings_id=settings_id))

    for rule in models(gateway_fields.get("requestRoutingRules")):
        rule_id = ref_id(rule) or ""
        rule_fields = json_properties(rule)
        add(rule_id, rule_fields, "backendAddressPool", "backendHttpSettings")
        path_map_id = ref_id(rule_fields.get("urlPathMap"))
        if path_map_id is not None:
            path_map = path_maps.get(key(path_map_id))
            if path_map is None:
                continue
            map_fields = json_properties(path_map)
            add(rule_id, map_fields, "defaultBackendAddressPool", "defaultBackendHttpSettings")
            for path_rule in models(map_fields.get("pathRules")):
                add(
                    ref_id(path_rule) or rule_id,
                    json_properties(path_rule),
                    "backendAddressPool",
                    "backendHttpSettings",
                )
    return pairs


class ItemModels:
    """`id_index` of the gateway's collection `wire_name`, each item as its class's model, made when
    first asked for (a check that reports one pool of a hundred makes that pool's model only) and
    kept; an item that is not an object ARM could send is left out, as `models` leaves it out of
    the gateway's."""

    def __init__(self, gateway: Any, wire_name: str, item_class: type) -> None:
        self._items = id_index(json_properties(gateway).get(wire_name))
        self._class = item_class
        self._made: dict[str, Any] = {}  # id key -> its model, or None when it is not one
        self._lock = threading.Lock()

    def get(self, item_key: str) -> Any:
        item = self._items.get(item_key)
        if item is None:
            return None
        with self._lock:
            if item_key not in self._made:
                model = item if is_model(item) else self._class(item)
                self._made[item_key] = model if is_model(model) else None
            return self._made[item_key]

    def every(self) -> list[Any]:
        """Every item's model, in the collection's order."""
        return [model for item_key in self._items if (model := self.get(item_key)) is not None]

    def raw(self, item_key: str) -> Any:
        """The item `get` makes the model of, as the gateway holds it; None for an item that is not
        an object ARM could send (`is_resource`)."""
        item = self._items.get(item_key)
        return item if is_resource(item) else None

    def wire(self) -> list[Any]:
        """`every`'s items as the gateway holds them, in the collection's order."""
        return [item for item_key in self._items if (item := self.raw(item_key)) is not None]


def _is_ip(address: Any) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(value: Any) -> str:
    """A string field's value; "" when absent or not a string."""
    return value if isinstance(value, str) else ""


def _network(prefix: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An address prefix as a network; None when it is not one (malformed data)."""
    try:
        return ipaddress.ip_network(prefix.strip() if isinstance(prefix, str) else prefix, strict=False)
    except (ValueError, TypeError):
        return None


def subnet_in(vnets: Iterable[Any], ip: str) -> str | None:
    """The id of the subnet holding `ip` in the first of `vnets` that has one."""
    return next((found for vnet in vnets if (found := subnet_containing(vnet, ip))), None)


def subnet_containing(vnet: Any, ip: str) -> str | None:
    """The id of the VNet subnet whose prefix holds `ip` (longest prefix), if any."""
    if not is_resource(vnet):
        return None
    return SubnetIndex(vnet).lookup(ip)


class SubnetIndex:
    """A VNet's subnet prefixes, each parsed once, for longest-prefix lookups of addresses.

    Per IP version and prefix length, network address -> subnet id; a lookup masks the address
    with each length present, longest first. Among equal prefixes the first listed wins (subnets
    in order; each subnet's `addressPrefixes`, then `addressPrefix`)."""

    def __init__(self, vnet: Any) -> None:
        tables: dict[tuple[int, int], dict[int, str]] = {}
        for subnet in models(json_properties(vnet).get("subnets")):
            fields = json_properties(subnet)
            listed = fields.get("addressPrefixes")
            single = fields.get("addressPrefix")
            prefixes = (listed if isinstance(listed, list) else []) + ([single] if single else [])
            subnet_id = ref_id(subnet)
            if subnet_id is None:
                continue
            for prefix in prefixes:
                network = _network(prefix)
                if network is not None:
                    table = tables.setdefault((network.version, network.prefixlen), {})
                    table.setdefault(int(network.network_address), subnet_id)
        self._tables = sorted(tables.items(), key=lambda item: -item[0][1])

    def lookup(self, ip: str) -> str | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        value, width = int(address), address.max_prefixlen
        for (version, length), table in self._tables:
            if version != address.version:
                continue
            found = table.get(value >> (width - length) << (width - length))
            if found is not None:
                return found
        return None


def _connected(peering: Any) -> bool:
    """A peering that carries traffic: Connected (when the state is given) and VNet access allowed."""
    if not is_resource(peering):
        return False
    fields = json_properties(peering)
    state = wire(fields.get("peeringState"))
    allowed = fields.get("allowVirtualNetworkAccess") is not False
    return (not state or state.lower() == "connected") and allowed


def peering_prefixes(vnet: Any) -> list[str]:
    """The address space of every connected peered VNet (`remoteVirtualNetworkAddressSpace`, the
    remote's current space, and `remoteAddressSpace`, the space as peered), each prefix once.

    Azure adds a system route (next hop `VNetPeering`) for each, and counts them in the
    `VirtualNetwork` service tag — so in hub-and-spoke, AllowVnetInBound/OutBound cover the spokes.
    A peering with `allowVirtualNetworkAccess: false` is left out of the tag, as Azure does.
    """
    prefixes: dict[str, None] = {}
    for peering in models(json_properties(vnet).get("virtualNetworkPeerings")) if is_resource(vnet) else []:
        if _connected(peering):
            prefixes.update(dict.fromkeys(_remote_prefixes(peering)))
    return list(prefixes)


def _remote_prefixes(peering: Any) -> list[str]:
    fields = json_properties(peering)
    spaces = (fields.get("remoteVirtualNetworkAddressSpace"), fields.get("remoteAddressSpace"))
    return [
        p.strip()
        for space in spaces
        if is_resource(space) and isinstance(prefixes := json_fields(space).get("addressPrefixes"), list)
        for p in prefixes
        if isinstance(p, str)
    ]


def peered_vnet_holding(vnet: Any, ip: str) -> str | None:
    """The id of the connected peered VNet whose address space holds `ip`, if any."""
    if not is_resource(vnet) or not _is_ip(ip):
        return None
    address = ipaddress.ip_address(ip)
    for peering in models(json_properties(vnet).get("virtualNetworkPeerings")):
        remote_id = ref_id(json_properties(peering).get("remoteVirtualNetwork"))
        if not _connected(peering) or remote_id is None:
            continue
        networks = [_network(p) for p in _remote_prefixes(peering)]
        if any(network is not None and address in network for network in networks):
            return remote_id
    return None


def virtual_network_tag(vnet: Any) -> list[str]:
    """The prefixes the `VirtualNetwork` service tag stands for, as seen from `vnet`: its own address
    space and its connected peerings' (on-premises ranges behind a VPN/ExpressRoute gateway are also
    in the tag, but ARM does not show them on the VNet)."""
    return list(dict.fromkeys([*address_space(vnet), *peering_prefixes(vnet)]))


def address_space(vnet: Any) -> list[str]:
    """A VNet's own address prefixes."""
    space = json_properties(vnet).get("addressSpace") if is_resource(vnet) else None
    if not is_resource(space):
        return []
    prefixes = json_fields(space).get("addressPrefixes")
    return [p for p in prefixes if isinstance(p, str)] if isinstance(prefixes, list) else []


def backend_members(
    gateway: net.ApplicationGateway | dict[str, Any],
    vnet: Any,
    peered: Iterable[Any] = (),
) -> list[BackendMember]:
    """Every server of every pool of the gateway (its SDK model or its JSON). IP members carry the
    subnet that holds them, in the gateway's VNet or one of the `peered` VNets. NIC members carry
    their ip-configuration id; their private IP and subnet are known only once the NIC is fetched
    (Snapshot.backend_members resolves them)."""
    indexes = [SubnetIndex(v) for v in (vnet, *peered) if is_resource(v)]
    members: list[BackendMember] = []
    for pool in models(json_properties(gateway).get("backendAddressPools")):
        pool_id = ref_id(pool) or ""
        pool_fields = json_properties(pool)
        for address in models(pool_fields.get("backendAddresses")):
            ip, fqdn = _text(json_fields(address).get("ipAddress")), _text(json_fields(address).get("fqdn"))
            if ip:
                members.append(
                    BackendMember(
                        pool_id=pool_id,
                        address=ip,
                        is_fqdn=False,
                        subnet_id=next((found for index in indexes if (found := index.lookup(ip))), None),
                    )
                )
            elif fqdn:
                members.append(BackendMember(pool_id=pool_id, address=fqdn, is_fqdn=True))
        for ref in models(pool_fields.get("backendIPConfigurations")):
            ip_configuration_id = ref_id(ref)
            if ip_configuration_id:
                members.append(
                    BackendMember(
                        pool_id=pool_id,
                        address="",
                        is_fqdn=False,
                        ip_configuration_id=ip_configuration_id,
                        nic_id=parent_id(ip_configuration_id),
                    )
                )
    return members


class MalformedMembers:
    """`pool <name>: <what>` for each member `backend_members` had to skip: an element that is not an
    address object or an IP-configuration reference, or an address with a non-string
    `ipAddress`/`fqdn`. Found in one pass over the pools, then asked per pool (`of`)."""

    def __init__(self, gateway: Any) -> None:
        self._every: list[str] = []  # of every pool
        self._by_pool: dict[str, list[str]] = {}  # pool id key -> those of that pool
        self._unlisted: list[str] = []  # the pools themselves are not a list: every pool's problem
        pools = json_properties(gateway).get("backendAddressPools")  # its JSON or its model's, alike
        if pools is not None and not isinstance(pools, list):
            self._unlisted = [f"backendAddressPools is {type(pools).__name__}, not a list"]
            return
        for index, pool in enumerate(pools or []):
            if not is_resource(pool):
                raw_id = pool.get("id") if isinstance(pool, Mapping) else None
                label = name_of(raw_id) if isinstance(raw_id, str) else f"[{index}]"
                self._add(
                    key(raw_id) if isinstance(raw_id, str) else None,
                    [f"pool {label} could not be read: {_short(pool)}"],
                )
            else:
                self._add(key(ref_id(pool)), _malformed_in_pool(pool, index))

    def _add(self, pool_key: str | None, problems: list[str]) -> None:
        self._every += problems
        if pool_key is not None and problems:
            self._by_pool.setdefault(pool_key, []).extend(problems)

    def of(self, pool_id: str | None = None) -> list[str]:
        """Those of the pool `pool_id`; of every pool without it."""
        if self._unlisted:
            return list(self._unlisted)
        return list(self._every if pool_id is None else self._by_pool.get(key(pool_id), ()))


def _malformed_in_pool(pool: Any, index: int) -> list[str]:
    found: list[str] = []
    name = _text(json_fields(pool).get("name")) or f"[{index}]"
    fields = json_properties(pool)
    for prop in ("backendAddresses", "backendIPConfigurations"):
        items = fields.get(prop)
        if items is not None and not isinstance(items, list):
            found.append(f"pool {name}: {prop} is {type(items).__name__} {items!r}, not a list")
            continue
        for position, item in enumerate(items or []):
            if not is_resource(item):
                what = f"{type(item).__name__} {item!r}"
                found.append(f"pool {name}: {prop}[{position}] is {what}, not an object")
            elif prop == "backendAddresses" and not all(
                value is None or isinstance(value, str)
                for value in (json_fields(item).get("ipAddress"), json_fields(item).get("fqdn"))
            ):
                found.append(f"pool {name}: {prop}[{position}] has a non-string ipAddress/fqdn")
    return found


def iter_health_servers(health: Any) -> Iterator[tuple[str, str, Any]]:
    """(pool id, settings id, server) for every server in a backend-health result (an SDK model, or
    the JSON ARM sent), each server read by its wire names."""
    if not is_resource(health):
        return
    for pool in models(json_fields(health).get("backendAddressPools")):
        pool_id = ref_id(json_fields(pool).get("backendAddressPool")) or ""
        for collection in models(json_fields(pool).get("backendHttpSettingsCollection")):
            settings_id = ref_id(json_fields(collection).get("backendHttpSettings")) or ""
            for server in models(json_fields(collection).get("servers")):
                yield pool_id, settings_id, server
