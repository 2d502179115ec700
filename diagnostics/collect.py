"""Collect a Snapshot of one gateway through the Azure SDK, fetching independent pieces concurrently.

The dependency graph, each fetch started the moment its inputs are known:

    gateway GET ─┬─ backend health (long-running)
                 ├─ metrics queries (one per dimension filter)
                 ├─ gateway VNet GET ─┬─ gateway subnet route table GET
                 │                    ├─ the NSGs of the gateway subnet and of the VNet's subnets that
                 │                    │  hold IP pool members, read together (see NSGs below)
                 │                    ├─ per IP pool member: its subnet (in the VNet, or in a peered
                 │                    │  VNet GET) ─┬─ the subnet's NSG (read above, or on its own)
                 │                    │             └─ the NICs its `ipConfigurations` name (GETs, or
                 │                    │                one list per resource group) ─ the holding NIC's NSG
                 │                    └─ DNS lookups of FQDN pool members (custom DNS, else Azure DNS)
                 └─ per NIC pool member:
                      ├─ effective routes (long-running), effective NSGs (long-running): per NIC, or
                      │  per group once backend health and the NICs are read (see below)
                      └─ NIC GET (or its resource group's NIC list) ─ once a resource group's backend
                           NICs are read: their subnets (from the VNet GET, or a subnet GET in another
                           VNet), then the NICs' NSGs and their subnets' NSGs, read together

Every resource is fetched once per diagnosis (memoised by kind and lower-cased id). Fetches run on
one thread pool and never wait on each other; "link" tasks on a second pool wait for a fetch and
start the fetches that depend on it, so no fetch ever waits for a thread held by a waiter. A piece
that could not be fetched is recorded in `Snapshot.errors` under the Snapshot attribute it would
have filled ("nsgs", "backend_health", ...), with the one-line reason.

Backend NICs: up to MAX_NIC_GETS of a resource group are read with one GET each, more with one
`networkInterfaces.list` of the group. NSGs likewise (`_Collector.read_many`): of the NSGs needed at
one step (once the gateway's VNet is read; once a resource group's backend NICs are read), up to
MAX_NSG_GETS of a resource group are read with one GET each, more with one
`networkSecurityGroups.list` of the group (a listed NSG carries its security rules and default rules,
as a GET's does); an NSG or NIC of a group whose list was already asked for is picked from that list.
A resource picked from a list that could not be read fails with the list's reason, recorded under its
own piece like a failed GET (so its checks are `error`, not passed); one the list lacks is not found.

Backend NICs' effective routes and NSGs are read for every NIC of a gateway with at most
MAX_PER_NIC_EFFECTIVE backend NICs; beyond that once per group of NICs whose
answers are the same, after backend health: the groups holding a NIC that is not Healthy, and one
healthy route group per VNet (`EffectiveGroups` says why the answers are shared and which are asked).
Each group's answer is stored under every NIC of the group, so the checks see per-NIC data as before.

ARM request budget (ARM_REQUEST_BUDGET, issue 11): one diagnosis sends, with no retries,

    1 gateway GET + 4 metrics queries + LRO_REQUESTS for backend health
    + 2 for the gateway's network (VNet GET, gateway subnet route table GET)
    + NSG reads (the gateway subnet's, the backend subnets', the backend NICs'), per step and resource
      group: 1 GET per NSG when at most MAX_NSG_GETS of the group are needed, else 1 list (at most
      1 list per resource group; an NSG of a group already listed costs nothing)
    + 1 GET per peered VNet and subnet in another VNet
    + NIC reads: 1 GET per backend NIC in a resource group with at most MAX_NIC_GETS of them,
      else 1 list per resource group
    + effective data: 2 x LRO_REQUESTS per backend NIC when there are at most
      MAX_PER_NIC_EFFECTIVE (at most 96 requests), else LRO_REQUESTS per route group and per NSG
      group asked, at most MAX_EFFECTIVE_GROUPS of each (at most 192 requests; groups beyond are
      recorded in `errors` as not read)

    + Activity Log reads (issue 14): 1 `activityLogs.list` per resource group on the path (the
      gateway's, and each group holding a path resource: its public IP, subnet NSG and route
      table, VNet, backend subnets' NSGs and route tables, backend NICs and their NSGs), each of at
      most MAX_ACTIVITY_LOG_PAGES pages; none when the diagnosis has no look-back window

The Activity Log is read alongside everything else: the gateway's resource group's query starts
with the first fetches, every other group's the moment a fetch names a resource in it (a group no
fetch named is asked once the rest is read, the only case where it can add to the critical path).
It is not a check's input: a failed or forbidden read is recorded under `errors["activity_log"]`
and the changes are then unknown (the last-healthy diff still names them).

The fleet's largest gateway — 1,000 NIC-backed servers in 100 subnets, each with its own NSG and
route table, 20 of them unhealthy (`tests/diagnostics/sized_world.py`) — costs
1 + 4 + 3 + 2 + (1 + 1) + 1 + 3 x (20 + 20) = 133 requests, 134 with its one resource group's
Activity Log query (the gateway subnet's NSG GET, needed
alone once the VNet is read, and one list of the 100 backend subnets' NSGs, needed once the NICs are
read); with IP members instead it costs 1 + 4 + 3 + 2 + 1 = 11 (one list holds the gateway subnet's
NSG and the 100 backend subnets'). The budget of 400 leaves room for the extra polls of slower
operations and for retried requests. (When backend health cannot be read
every group is asked, up to MAX_EFFECTIVE_GROUPS: the NICs behind the 502 are then unknown.)
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import itertools
import re
import threading
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
from azure.mgmt.network import models as net
from azure.mgmt.network._utils import model_base

from core.arm import NETWORK_API_VERSION, Arm, ArmCallFailed, list_json
from core.arm_ids import gateway_names, name_of, parent_id, parse
from core.iso8601 import format_time
from core.sdk_values import json_fields, json_properties
from diagnostics.changes import (
    ACTIVITY_LOG_PIECE,
    ACTIVITY_LOG_SELECT,
    activity_filter,
    path_resources,
    resource_groups,
)
from diagnostics.snapshot import (
    AZURE_DNS,
    MALFORMED,
    BackendMember,
    Snapshot,
    SubnetIndex,
    backend_members,
    custom_dns_servers,
    id_index,
    is_json_object,
    is_model,
    is_resource,
    iter_health_servers,
    key,
    models,
    peered_vnet_holding,
    ref_id,
)

DEFAULT_WINDOW = timedelta(minutes=30)
METRIC_INTERVAL = "PT1M"
DNS_TIMEOUT_SECONDS = 1.0
DEFAULT_WORKERS = 16
# A subnet naming more NICs than this is searched with one NIC list per resource group instead.
MAX_SUBNET_NIC_GETS = 16
# A resource group holding more of the gateway's backend NICs than this is read with one NIC list
# (`networkInterfaces.list`) instead of one GET per NIC.
MAX_NIC_GETS = 16
# A resource group holding more than this many of the NSGs needed at one step (once the gateway's
# VNet is read; once a resource group's backend NICs are read) is read with one NSG list
# (`networkSecurityGroups.list`) instead of one GET per NSG.
MAX_NSG_GETS = 16
# A gateway with at most this many backend NICs has effective routes and NSGs read for every NIC
# (exact per-NIC answers, at most 2 x 16 operations); with more they are read per group of NICs
# that share them (see `EffectiveGroups`).
MAX_PER_NIC_EFFECTIVE = 16
# At most this many groups are asked for effective routes, and as many for effective NSGs (the first
# in `EffectiveGroups.asked` order: groups behind unhealthy servers first); the rest are recorded as
# not read, with why, so a diagnosis stays within ARM_REQUEST_BUDGET whatever the gateway's size.
MAX_EFFECTIVE_GROUPS = 32
# The ARM requests one diagnosis may send (the module docstring says what they are made of).
ARM_REQUEST_BUDGET = 400
# Threads that wait on long-running operations: backend health and every effective-routes and
# effective-NSGs group a diagnosis may ask, at once.
OPERATION_WORKERS = 1 + 2 * MAX_EFFECTIVE_GROUPS
# Pages (of 200 events, newest first) read of one resource group's Activity Log; older events
# beyond them are left out and said so in `errors["activity_log"]`.
MAX_ACTIVITY_LOG_PAGES = 5
# Requests one long-running operation costs against the simulator: the start, a status poll, the
# final GET of the result (more polls when it runs longer than a polling interval).
LRO_REQUESTS = 3
_NIC_IP_CONFIGURATION = re.compile(
    r"/providers/microsoft\.network/networkinterfaces/[^/]+/ipconfigurations/[^/]+$", re.I
)


@dataclass(frozen=True)
class MetricQuery:
    """One metrics call: metrics that share an aggregation and a dimension filter."""

    names: tuple[str, ...]
    aggregation: str
    filter: str


METRIC_QUERIES: tuple[MetricQuery, ...] = (
    MetricQuery(("ResponseStatus",), "Total", "HttpStatusGroup eq '*'"),
    MetricQuery(("BackendResponseStatus",), "Total", "BackendHttpSetting eq '*' and HttpStatusGroup eq '*'"),
    MetricQuery(("BackendLastByteResponseTime",), "Average,Maximum", "BackendHttpSetting eq '*'"),
    MetricQuery(("UnhealthyHostCount", "HealthyHostCount"), "Average", "BackendSettingsPool eq '*'"),
)

# Fetch kind -> the Snapshot attribute it fills (and the `errors` key when it fails).
PIECE_OF_KIND = {
    "vnet": "vnet",
    "subnet": "subnets",
    "nsg": "nsgs",
    "route_table": "route_tables",
    "nic": "nics",
    "nic_list": "nics",
    "nsg_list": "nsgs",
    "peered_vnet": "peered_vnets",
    "backend_health": "backend_health",
    "effective_routes": "effective_routes",
    "effective_nsgs": "effective_nsgs",
    "metrics": "metrics",
    "activity_log": ACTIVITY_LOG_PIECE,
}


@dataclass(frozen=True)
class NicLookup:
    """The NIC that holds an IP pool member, or why it could not be identified (neither: no NIC
    holds the address, so only the subnet's NSG filters it)."""

    address: str
    nic: Any = None
    unidentified: str | None = None


@dataclass(frozen=True)
class _SubnetNics:
    """The NICs a subnet names, by the private IP of their IP configuration in it, and what of them
    could not be read."""

    name: str
    by_address: dict[Any, Any]
    unread: list[str]


@dataclass(frozen=True)
class Listable:
    """A kind of resource read with one GET each, or picked from one list of its resource group when
    more than `max_gets` of one group are needed at once (see `_Collector.read_many`)."""

    kind: str  # the fetch kind of one resource ("nic"), a key of PIECE_OF_KIND
    list_kind: str  # the fetch kind of a resource group's list ("nic_list")
    operations: str  # the SDK's operations group on the network client, for a GET ("network_interfaces")
    # The ARM collection a list reads ("networkInterfaces"), as plain ARM JSON (`core.arm.list_json`),
    # not as SDK models: every reader of the kind reads wire names (`is_resource`).
    collection: str
    plural: str  # "NICs", in "the NICs of resource group ... could not be listed"
    singular: str  # "network interface", in "resource group ... lists no such network interface"
    max_gets: int


LISTABLE = {
    spec.kind: spec
    for spec in (
        Listable(
            "nic",
            "nic_list",
            "network_interfaces",
            "networkInterfaces",
            "NICs",
            "network interface",
            MAX_NIC_GETS,
        ),
        Listable(
            "nsg",
            "nsg_list",
            "network_security_groups",
            "networkSecurityGroups",
            "network security groups",
            "network security group",
            MAX_NSG_GETS,
        ),
    )
}


def _wire_text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def healthy_nics(health: Any) -> set[str] | None:
    """Keys of the NICs backend health reports Healthy wherever it lists one of their IP
    configurations (in every pool and settings); None when backend health was not read. A NIC it does
    not list, or lists Unhealthy, Unknown, Draining, ..., is not in the set."""
    if not is_resource(health):
        return None
    states: dict[str, set[str]] = {}
    for _, _, server in iter_health_servers(health):
        fields = json_fields(server)
        configuration = ref_id(fields.get("ipConfiguration"))
        if configuration and _NIC_IP_CONFIGURATION.search(configuration):
            state = _wire_text(fields.get("health")).lower()
            states.setdefault(key(parent_id(configuration)), set()).add(state)
    return {nic for nic, seen in states.items() if seen == {"healthy"}}


def group_keys(nic_key: str, nic: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(route group key, NSG group key) of one NIC, from one pass over its IP configurations.

    NICs with the same route group key have the same effective routes: the subnet(s) their IP
    configurations are in. NICs with the same NSG group key have the same effective security rules:
    same subnet(s), same NIC NSG (or none), and no application security group. A NIC in an
    application security group is an NSG group of its own; a NIC that could not be read is a group
    of its own for both (see `EffectiveGroups`)."""
    subnets: set[str] = set()
    in_security_group = False
    for configuration in _ip_configurations(nic):
        fields = json_properties(configuration)
        subnets.add(key(ref_id(fields.get("subnet"))))
        in_security_group = in_security_group or bool(models(fields.get("applicationSecurityGroups")))
    subnets.discard("")
    own = ("nic", nic_key)
    if not (subnets and is_resource(nic)):
        return own, own
    routes = ("subnets", *sorted(subnets))
    if in_security_group:
        return routes, own
    return routes, ("nsgs", key(ref_id(json_properties(nic).get("networkSecurityGroup"))), *routes[1:])


def _ip_configurations(nic: Any) -> list[Any]:
    """A NIC model's IP configurations (read from its wire JSON: see `json_fields`)."""
    return models(json_properties(nic).get("ipConfigurations"))


@dataclass(frozen=True)
class EffectiveGroups:
    """The gateway's backend NICs grouped by what their effective routes and effective security
    rules are computed from, so each group is asked once, through one representative NIC, and its
    answer stands for every NIC of the group.

    Why the answers are the same within a group:

    - Effective routes are a subnet's, not a NIC's: the VNet's system routes (its address space,
      connected peerings, the reserved ranges to None, 0.0.0.0/0 to Internet), overridden by the
      route table associated with the subnet, plus the routes a virtual network gateway learns over
      BGP, which reach every subnet of the VNet unless the subnet's route table disables BGP route
      propagation. Nothing of the NIC itself enters, so NICs in the same subnet share them
      (`group_keys`).
    - Effective security rules are the subnet's NSG followed by the NIC's own NSG, so NICs that share
      the subnet and the NIC NSG (or have none) share them — unless they are members of application
      security groups: ARM writes a rule that names a group as the addresses of the NIC being asked
      about that are members (the simulator does the same, `simulator.effective.effective_rule`),
      so the answer for one member NIC holds its own address, not its neighbour's, and a shared answer
      would decide the neighbour's traffic with the wrong address. Membership decides which group
      rules apply, and the addresses are per NIC: a NIC in an application security group is asked
      alone (`group_keys`).

    Which groups are asked (`asked`): those holding a NIC that backend health does not report
    Healthy (so the NICs behind a 502 are always judged from their own effective data); every group
    when backend health could not be read. Of the healthy groups only one route group per VNet in
    which no other group is asked, so an active BGP-learned 0.0.0.0/0 (bgp-default-route reads the
    effective routes of whichever NICs have them) is still seen for each VNet. Healthy NSG groups are
    not asked: nsg-backend judges a NIC without effective NSGs from its subnet and NIC NSG models,
    which are collected for every backend NIC and are what the effective rules are made of.
    """

    routes: dict[tuple[str, ...], list[str]]
    nsgs: dict[tuple[str, ...], list[str]]

    @classmethod
    def of(cls, nic_ids: Mapping[str, str], nics: Mapping[str, Any]) -> EffectiveGroups:
        """`nic_ids`: NIC key -> id; `nics`: NIC key -> its model (None: could not be read)."""
        routes: dict[tuple[str, ...], list[str]] = {}
        nsgs: dict[tuple[str, ...], list[str]] = {}
        for nic_key, nic_id in sorted(nic_ids.items()):
            route_key, nsg_key = group_keys(nic_key, nics.get(nic_key))
            routes.setdefault(route_key, []).append(nic_id)
            nsgs.setdefault(nsg_key, []).append(nic_id)
        return cls(routes, nsgs)

    def asked(self, healthy: set[str] | None) -> dict[str, list[list[str]]]:
        """Piece ("effective_routes", "effective_nsgs") -> the groups to ask, each a list of NIC ids
        whose first is the representative asked."""
        if healthy is None:
            return {
                "effective_routes": list(self.routes.values()),
                "effective_nsgs": list(self.nsgs.values()),
            }

        def unhealthy(members: list[str]) -> bool:
            return any(key(nic_id) not in healthy for nic_id in members)

        routes = [members for members in self.routes.values() if unhealthy(members)]
        covered = {_vnet_of(group) for group, members in self.routes.items() if unhealthy(members)}
        for group, members in sorted(self.routes.items()):
            vnet = _vnet_of(group)
            if vnet is not None and vnet not in covered:
                routes.append(members)
                covered.add(vnet)
        nsgs = [members for members in self.nsgs.values() if unhealthy(members)]
        return {"effective_routes": routes, "effective_nsgs": nsgs}


def _vnet_of(route_group: tuple[str, ...]) -> str | None:
    return parent_id(route_group[1]) if route_group[0] == "subnets" else None


class GatewayUnavailable(ArmCallFailed):
    """The gateway itself could not be read: nothing can be diagnosed."""


# --- shape problems: what ARM would never return, kept by the SDK's lenient deserialization ---

MAX_SHAPE_PROBLEMS = 20


_FIELD_TYPES: dict[str, dict[str, Any]] = {}


def _field_types(cls: Any) -> dict[str, Any]:
    """Attribute -> declared type of an SDK model class's REST fields."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    if name not in _FIELD_TYPES:
        try:
            hints = typing.get_type_hints(cls, localns={"_models": net})
        except Exception:  # an annotation we cannot resolve: that class is not checked
            hints = {}
        fields = getattr(cls, "_attr_to_rest_field", {})
        _FIELD_TYPES[name] = {attr: hint for attr, hint in hints.items() if attr in fields}
    return _FIELD_TYPES[name]


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _expected(annotation: Any) -> tuple[Any, ...]:
    """The non-None alternatives of a (possibly Optional/Union) annotation."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _fits(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (list, dict):
        return isinstance(value, origin)
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return isinstance(value, (str, enum.Enum))
        if annotation is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if annotation is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        return isinstance(value, annotation)
    return True  # a form we do not judge


_MISSING = object()
# a rest field the payload does not hold: the SDK hands back its client default, if it has one
_NO_DEFAULT = getattr(model_base, "_UNSET", _MISSING)


def _scalar_accepts(annotation: Any) -> Callable[[Any], bool] | None:
    """How to tell, from a raw JSON value alone, that the SDK hands it back as a value fitting
    `annotation` with nothing inside to walk (None: only the SDK's own reading can tell)."""
    if annotation is Any:
        return lambda raw: True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        tests = [_scalar_accepts(a) for a in typing.get_args(annotation) if a is not type(None)]
        if any(test is None for test in tests):
            return None
        return lambda raw: any(test(raw) for test in tests)  # type: ignore[misc]
    if origin is list:
        (element,) = typing.get_args(annotation) or (Any,)
        test = _scalar_accepts(element)
        if test is None:
            return None
        return lambda raw: isinstance(raw, list) and all(x is not None and test(x) for x in raw)
    if origin is dict:
        args = typing.get_args(annotation)
        value_test = _scalar_accepts(args[1]) if len(args) == 2 else None
        if value_test is None:
            return None
        return lambda raw: isinstance(raw, dict) and all(v is None or value_test(v) for v in raw.values())
    if not isinstance(annotation, type):
        return None
    if annotation is str or issubclass(annotation, enum.Enum):
        return lambda raw: isinstance(raw, str)  # an unknown enum value is handed back as the string
    if annotation is bool:
        return lambda raw: isinstance(raw, bool)
    if annotation is int:
        return lambda raw: isinstance(raw, int) and not isinstance(raw, bool)
    if annotation is float:
        return lambda raw: isinstance(raw, (int, float)) and not isinstance(raw, bool)
    return None


def _scalar_types(annotation: Any) -> frozenset[type] | None:
    """The JSON types (exact: `type(raw) in ...`) whose every value `_scalar_accepts(annotation)`
    accepts: a set lookup instead of a call, for the plain values that fill most payloads. None when
    the annotation takes no such plain type (a list, say: `_scalar_accepts` judges it)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        found: set[type] = set()
        for alternative in typing.get_args(annotation):
            if alternative is not type(None):
                found |= _scalar_types(alternative) or set()
        return frozenset(found) or None
    if not isinstance(annotation, type):
        return None
    if annotation is str or issubclass(annotation, enum.Enum):
        return frozenset({str})
    if annotation is bool:
        return frozenset({bool})
    if annotation is int:
        return frozenset({int})
    if annotation is float:
        return frozenset({int, float})
    return None


@dataclass(frozen=True)
class _Field:
    attr: str
    rest_name: str
    annotation: Any
    holds_models: bool  # the SDK deserialized it into models (or left it raw) when the model was built
    has_default: bool
    accepts: Callable[[Any], bool] | None


_PLANS: dict[type, tuple[_Field, ...]] = {}


def _plan(cls: type) -> tuple[_Field, ...]:
    """The REST fields `shape_problems` judges of an SDK model class, in `_field_types` order."""
    plan = _PLANS.get(cls)
    if plan is None:
        # The SDK works out a class's REST fields when it makes the first model of it: make one, so a
        # class only ever read as plain JSON (`_json_fits`) is judged by its own fields.
        cls()
        fields = getattr(cls, "_attr_to_rest_field", {})
        entries = []
        for attr, annotation in _field_types(cls).items():
            rf = fields[attr]
            plain = getattr(rf, "_deserializer", None) is None and getattr(rf, "_format", None) is None
            entries.append(
                _Field(
                    attr,
                    rf._rest_name,
                    annotation,
                    bool(getattr(rf, "_is_model", False)),
                    getattr(rf, "_default", _NO_DEFAULT) is not _NO_DEFAULT,
                    _scalar_accepts(annotation) if plain else None,
                )
            )
        plan = _PLANS[cls] = tuple(entries)
    return plan


def _item_name(item: Any, index: int) -> str:
    name: Any = None
    if is_model(item):
        data = getattr(item, "_data", None)
        raw = data.get("name") if isinstance(data, dict) else None
        rf = getattr(type(item), "_attr_to_rest_field", {}).get("name")
        plain = rf is not None and rf._rest_name == "name" and not getattr(rf, "_is_model", False)
        if plain and isinstance(raw, str) and _field_types(type(item)).get("name") in (str, str | None):
            name = raw  # what the SDK hands back for a string name
        else:
            name = getattr(item, "name", None)
    return f"[{name}]" if isinstance(name, str) and name else f"[{index}]"


def shape_problems(model: Any, path: str, found: list[str] | None = None, depth: int = 0) -> list[str]:
    """Where an SDK model holds what its declared types do not allow (a bare string where an object
    is expected, a string where a number is, an object where a list is...), as `path: problem`.

    Unknown enum values are not problems (Azure adds values; checks compare wire spellings).

    Walks the raw JSON the model keeps (`_data`) rather than its attributes: a plain JSON value
    that the SDK would hand back as one fitting its declared type is passed without deserializing
    it; fields the SDK already read into models when the model was built (objects and lists of
    objects) are taken as they are held; anything else is read through the SDK as before."""
    found = [] if found is None else found
    if depth > 12 or not is_model(model):
        return found
    data = getattr(model, "_data", None)
    if not isinstance(data, dict):
        data = None
    for field in _plan(type(model)):
        name = field.attr
        value: Any = _MISSING
        if data is not None:
            raw = data.get(field.rest_name, _MISSING)
            if raw is None or (raw is _MISSING and not field.has_default):
                continue
            if raw is not _MISSING:
                if field.holds_models:
                    value = raw  # what the SDK hands back for such a field
                elif field.accepts is not None and field.accepts(raw):
                    continue
        if value is _MISSING:
            try:
                value = getattr(model, name)
            except Exception as error:  # the SDK could not even hand the value back
                found.append(f"{path}.{name}: unreadable ({type(error).__name__})")
                continue
        if value is None:
            continue
        where = path if name == "properties" else f"{path}.{name}"
        alternatives = _expected(field.annotation)
        if not any(_fits(value, a) for a in alternatives):
            wanted = " or ".join(getattr(a, "__name__", str(a)) for a in alternatives)
            found.append(f"{where}: {_describe(value)} where {wanted} is expected")
            continue
        for alternative in alternatives:
            if typing.get_origin(alternative) is list and isinstance(value, list):
                (element,) = typing.get_args(alternative) or (Any,)
                for index, item in enumerate(value):
                    at = f"{where}{_item_name(item, index)}"
                    if item is None or not _fits(item, element):
                        wanted = getattr(element, "__name__", str(element))
                        found.append(f"{at}: {_describe(item)} where {wanted} is expected")
                    elif is_model(item):
                        shape_problems(item, at, found, depth + 1)
                    elif hasattr(type(item), "_attr_to_rest_field"):
                        found.append(f"{at}: its properties could not be read as {type(item).__name__}")
            elif isinstance(alternative, type) and isinstance(value, alternative):
                if is_model(value):
                    shape_problems(value, where, found, depth + 1)
                elif hasattr(type(value), "_attr_to_rest_field"):
                    found.append(f"{where}: its properties could not be read as {alternative.__name__}")
    return found


def _model_class(annotation: Any) -> tuple[type, bool] | None:
    """(SDK model class, whether a list of them) a field's declared type holds (`X`, `X | None`,
    `list[X] | None`); None for any other type."""
    for alternative in _expected(annotation):
        if typing.get_origin(alternative) is list:
            (element,) = typing.get_args(alternative) or (Any,)
            if isinstance(element, type) and issubclass(element, model_base.Model):
                return element, True
        elif isinstance(alternative, type) and issubclass(alternative, model_base.Model):
            return alternative, False
    return None


# the JSON types a field takes as they are (or None), accepts, model class, is a list
_JsonEntry = tuple[frozenset[type] | None, Callable[[Any], bool] | None, type | None, bool]
# class -> (its REST fields by wire name, the wire names of those with a client default); None: a
# class `_json_fits` leaves to the walk of its model (told apart by a discriminator)
_JSON_PLANS: dict[type, tuple[dict[str, _JsonEntry], frozenset[str]] | None] = {}


def _json_plan(cls: type) -> tuple[dict[str, _JsonEntry], frozenset[str]] | None:
    """`_plan(cls)` by wire name, for reading a JSON object's own keys (fewer than the class has)."""
    if cls not in _JSON_PLANS:
        plan = None
        if not getattr(cls, "__mapping__", None):
            entries: dict[str, _JsonEntry] = {}
            for field in _plan(cls):
                inner = _model_class(field.annotation)
                element, is_list = inner if inner is not None else (None, False)
                types_ = _scalar_types(field.annotation) if field.accepts is not None else None
                entries[field.rest_name] = (types_, field.accepts, element, is_list)
            defaults = frozenset(field.rest_name for field in _plan(cls) if field.has_default)
            plan = (entries, defaults)
        _JSON_PLANS[cls] = plan
    return _JSON_PLANS[cls]


def _json_fits(raw: Any, cls: type, depth: int = 0) -> bool:
    """Whether the SDK model `cls` made of plain ARM JSON `raw` would hold nothing `shape_problems`
    reports, judged from the JSON alone: every field the model declares is absent, null, a plain
    value of its declared type, or an object (a list of objects) that fits the same way. Anything
    else is not vouched for (False), though the SDK may well read it: a number as a string, a date,
    a field with a client default, a class told apart by a discriminator..."""
    if depth > 12 or type(raw) is not dict:
        return False
    plan = _json_plan(cls)
    if plan is None:
        return False
    entries, defaults = plan
    if defaults and not defaults <= raw.keys():
        return False  # the walk judges the client default the model takes
    for rest_name, value in raw.items():
        entry = entries.get(rest_name)
        if entry is None or value is None:
            continue  # not a field of the model (the walk reads its fields only), or null
        types_, accepts, element, is_list = entry
        if types_ is not None and type(value) in types_:
            continue  # what `accepts` would say, without calling it (the common case)
        if accepts is not None and accepts(value):
            continue
        if element is None:
            return False
        if is_list:
            if type(value) is not list:
                return False
            for item in value:
                if not _json_fits(item, element, depth + 1):
                    return False
        elif not _json_fits(value, element, depth + 1):
            return False
    return True


def json_shape_problems(raw: Any, cls: type, label: str) -> list[str]:
    """What `malformed_in` reports of the SDK model `cls` made of plain ARM JSON `raw` (a NIC of a
    resource group's list, say), labelled `label`: nothing, without making the model, when the JSON
    alone shows it holds nothing to report (`_json_fits`, the common case); else the model is made
    and walked, so what is reported is exactly what its walk reports."""
    if _json_fits(raw, cls):
        return []
    try:
        model = cls(raw)
    except Exception as error:  # the SDK could not even make it
        return [f"{label}: unreadable as {cls.__name__} ({type(error).__name__})"]
    return _walk(model, label, None)


def _summary(problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_SHAPE_PROBLEMS])
    more = len(problems) - MAX_SHAPE_PROBLEMS
    return f"{shown}; and {more} more" if more > 0 else shown


def timespan(start: datetime, end: datetime) -> str:
    """`2026-11-23T09:57:00Z/2026-11-23T10:27:00Z`, the form Azure Monitor takes."""
    return f"{format_time(start)}/{format_time(end)}"


def resolve_fqdn(
    fqdn: str,
    servers: list[str],
    addresses: Mapping[str, tuple[str, int]],
    *,
    timeout: float = DNS_TIMEOUT_SECONDS,
) -> list[str] | None:
    """A records for `fqdn` (sorted) from the first of `servers` that answers ([] = does not resolve:
    NXDOMAIN, no A record, or only failures like SERVFAIL); None when no server could be asked."""
    answered_failure = False
    for server in servers:
        address = addresses.get(server)
        if address is None:
            continue
        host, port = address
        try:
            response = dns.query.udp(
                dns.message.make_query(fqdn, dns.rdatatype.A), host, port=port, timeout=timeout
            )
        except (dns.exception.DNSException, OSError):
            continue
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return []
        if rcode != dns.rcode.NOERROR:
            answered_failure = True
            continue
        records = [rrset for rrset in response.answer if rrset.rdtype == dns.rdatatype.A]
        return sorted({rdata.address for rrset in records for rdata in rrset}, key=ipaddress.ip_address)
    return [] if answered_failure else None


def resolve_system(fqdn: str, *, timeout: float = DNS_TIMEOUT_SECONDS) -> list[str] | None:
    """A records for `fqdn` (sorted) through the system's resolver ([] = does not resolve; None =
    no answer in time)."""
    try:
        answer = dns.resolver.Resolver().resolve(fqdn, "A", lifetime=timeout)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError):
        return None
    return sorted({rdata.address for rdata in answer}, key=ipaddress.ip_address)


class _Graph:
    """Memoised fetches on one pool (long-running operations on a pool of their own), dependent
    "link" tasks on another, and a join over all."""

    def __init__(self, workers: int, *, on_done: Callable[[str, Future[Any]], None] | None = None) -> None:
        """`on_done(kind, future)` is called once each memoised future is done, in the thread that
        completed it."""
        self._on_done = on_done
        self._fetch_pool = ThreadPoolExecutor(workers, thread_name_prefix="arm-fetch")
        # A long-running operation holds its thread while it waits between status polls: with a pool
        # of its own, every operation a diagnosis may start waits at once instead of in waves that
        # each cost a polling interval, and none holds up the reads.
        self._operation_pool = ThreadPoolExecutor(OPERATION_WORKERS, thread_name_prefix="arm-operation")
        self._link_pool = ThreadPoolExecutor(workers, thread_name_prefix="arm-link")
        self._lock = threading.Lock()
        self.fetches: dict[tuple[str, str], tuple[str, Future[Any]]] = {}  # (kind, id) -> (id, future)
        self._links: list[Future[Any]] = []
        self._unfinished = 0  # tasks not done yet (see `join`)
        self._all_done = threading.Condition(self._lock)

    def fetch(
        self, kind: str, resource_id: str, call: Callable[[], Any], *, operation: bool = False
    ) -> Future[Any]:
        """`call()` once per (kind, id); `operation`: it runs a long-running operation."""
        memo_key = (kind, key(resource_id))
        with self._lock:
            found = self.fetches.get(memo_key)
            if found is not None:
                return found[1]
            pool = self._operation_pool if operation else self._fetch_pool
            future = pool.submit(call)
            self.fetches[memo_key] = (resource_id, future)
            self._unfinished += 1
        return self._watched(kind, future)

    def memoised(self, kind: str, resource_id: str) -> Future[Any] | None:
        """The future fetched or put for (kind, id), if there is one yet."""
        with self._lock:
            found = self.fetches.get((kind, key(resource_id)))
            return None if found is None else found[1]

    def put(self, kind: str, resource_id: str, future: Future[Any]) -> Future[Any]:
        """Memoise a future that something else resolves (a NIC or NSG picked from its resource
        group's list), as if it were a fetch of its own; the first future put or fetched for an id
        wins."""
        memo_key = (kind, key(resource_id))
        with self._lock:
            found = self.fetches.get(memo_key)
            if found is not None:
                return found[1]
            self.fetches[memo_key] = (resource_id, future)
            self._unfinished += 1
        return self._watched(kind, future)

    def _watched(self, kind: str, future: Future[Any]) -> Future[Any]:
        """Call `on_done` when the task is done, then count it done (outside the lock: a future
        already done calls back at once, in this thread)."""
        on_done = self._on_done
        if on_done is not None:
            future.add_done_callback(lambda done: on_done(kind, done))
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: Future[Any]) -> None:
        with self._lock:
            self._unfinished -= 1
            if not self._unfinished:
                self._all_done.notify_all()

    def link(self, task: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._lock:
            future = self._link_pool.submit(task, *args)
            self._links.append(future)
            self._unfinished += 1
        future.add_done_callback(self._finished)
        return future

    def join(self) -> None:
        """Wait until every task is done: tasks start their dependents before they finish, so none
        is left once the count of unfinished tasks reaches 0 (a count, not a scan: a large gateway's
        thousand NICs picked from lists are done long before, and would be looked at again every
        round)."""
        with self._all_done:
            while self._unfinished:
                self._all_done.wait()
        for future in self._links:
            future.result()  # a bug in a link task surfaces here instead of silently dropping data

    def close(self) -> None:
        for pool in (self._fetch_pool, self._operation_pool, self._link_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        # Each future's callbacks refer back to this graph (`_finished`): forgetting the futures breaks
        # the cycle, so what they hold (a large gateway's NIC list, ~40,000 objects) is freed when the
        # diagnosis drops it, not left to the cycle collector's next pass.
        with self._lock:
            self.fetches.clear()
            self._links.clear()


class _Collector:
    def __init__(
        self,
        arm: Arm,
        gateway_id: str,
        gateway: dict[str, Any],
        backend_health: Future[Any],
        *,
        window: tuple[datetime, datetime],
        dns_servers: Mapping[str, tuple[str, int]] | None,
        resolve_dns: bool,
        workers: int,
        effective_per_nic: bool | None = None,
        changes_window: tuple[datetime, datetime] | None = None,
    ) -> None:
        self.arm = arm
        self.backend_health = backend_health  # asked alongside the gateway read (see `collect`)
        self.changes_window = changes_window
        self.effective_per_nic = effective_per_nic
        # (piece, representative NIC key) -> the NICs its effective routes / NSGs stand for
        self.effective_members: dict[tuple[str, str], list[str]] = {}
        self.over_budget: dict[str, str] = {}  # piece -> why some groups were not asked
        self.network = arm.clients.network
        self.gateway = gateway  # its JSON, as ARM sent it: what to read is planned from it
        named = json_fields(gateway).get("id")
        self.gateway_id: str = named if isinstance(named, str) and named else gateway_id
        self.window = window
        self.dns_servers = dns_servers
        self.resolve_dns = resolve_dns
        self.shapes = _Shapes()
        self.graph = _Graph(workers, on_done=self.shapes.note)
        self.subscription = parse(self.gateway_id)["subscription"]
        subnet_id = next(
            (
                subnet
                for c in models(json_properties(gateway).get("gatewayIPConfigurations"))
                if (subnet := ref_id(json_properties(c).get("subnet")))
            ),
            None,
        )
        self.gateway_subnet_id = subnet_id
        self.gateway_vnet_id = parent_id(subnet_id) if subnet_id else None
        self.dns_task: Future[Any] | None = None
        self.nic_lookups: list[Future[NicLookup]] = []
        self._index_lock = threading.Lock()
        self._subnet_nic_indexes: dict[str, Future[_SubnetNics]] = {}  # subnet key -> its NICs
        self._subnet_indexes: dict[int, tuple[Any, SubnetIndex, dict[str, Any]]] = {}  # id(vnet)

    # --- fetches (each one SDK operation, memoised) ---

    def _names(self, resource_id: str) -> tuple[str, str]:
        parts = parse(resource_id)
        if not parts.get("resource_group") or not parts.get("name"):
            raise ArmCallFailed(f"not an ARM resource id: {resource_id}")
        if key(parts.get("subscription")) != key(self.subscription):
            raise ArmCallFailed(
                f"{name_of(resource_id)} is in subscription {parts.get('subscription')}, "
                f"outside the gateway's subscription {self.subscription}"
            )
        self.activity_log(parts["resource_group"])  # the group's changes, read alongside
        return parts["resource_group"], parts["name"]

    def activity_log(self, resource_group: str) -> Future[Any] | None:
        """The Activity Log events of `resource_group` in the changes window, newest first, at most
        MAX_ACTIVITY_LOG_PAGES pages: (events, whether older ones were left out). Once per group;
        None when the diagnosis has no changes window."""
        if self.changes_window is None:
            return None
        window = self.changes_window

        def call() -> Any:
            def listed(**options: Any) -> tuple[list[Any], bool]:
                pages = self.arm.clients.monitor.activity_logs.list(
                    filter=activity_filter(*window, resource_group), select=ACTIVITY_LOG_SELECT, **options
                ).by_page()
                events: list[Any] = []
                for number, page in enumerate(pages, start=1):
                    events.extend(page)
                    if number >= MAX_ACTIVITY_LOG_PAGES:
                        return events, getattr(pages, "continuation_token", None) is not None
                return events, False

            return self.arm.call(listed)

        return self.graph.fetch("activity_log", resource_group, call)

    def _get(
        self, kind: str, resource_id: str, operation: Callable[..., Any], *, json_result: bool = False
    ) -> Future[Any]:
        return self.graph.fetch(
            kind,
            resource_id,
            lambda: self.arm.call(operation, *self._names(resource_id), json_result=json_result),
        )

    def vnet(self, vnet_id: str) -> Future[Any]:
        """The VNet as ARM sent it: its subnets list every IP configuration in them (a thousand at
        Azure's limits), which its SDK model would make a model each; it is read by wire names."""
        return self._get("vnet", vnet_id, self.network.virtual_networks.get, json_result=True)

    def nsg(self, nsg_id: str) -> Future[Any]:
        return self.read("nsg", nsg_id)

    def nsg_of(self, reference: Any) -> None:
        """Fetch the NSG a reference names, if it names one."""
        nsg_id = ref_id(reference)
        if nsg_id:
            self.nsg(nsg_id)

    def route_table_of(self, reference: Any) -> None:
        route_table_id = ref_id(reference)
        if route_table_id:
            self.route_table(route_table_id)

    def route_table(self, route_table_id: str) -> Future[Any]:
        return self._get("route_table", route_table_id, self.network.route_tables.get)

    def nic(self, nic_id: str) -> Future[Any]:
        return self.read("nic", nic_id)

    def peered_vnet(self, vnet_id: str) -> Future[Any]:
        """A peered VNet as ARM sent it (see `vnet`)."""
        return self._get("peered_vnet", vnet_id, self.network.virtual_networks.get, json_result=True)

    def nic_list(self, resource_group: str) -> Future[Any]:
        return self.group_list(LISTABLE["nic"], resource_group)

    def group_list(self, spec: Listable, resource_group: str) -> Future[Any]:
        """Every resource of `spec`'s kind in `resource_group`, every page of the list (one fetch: a
        page that fails fails the list, and the whole list is retried)."""

        def call() -> Any:
            path = (
                f"/subscriptions/{self.subscription}/resourceGroups/{quote(resource_group, safe='')}"
                f"/providers/Microsoft.Network/{spec.collection}"
            )
            return self.arm.call(list_json, self.network, path, api_version=NETWORK_API_VERSION)

        return self.graph.fetch(spec.list_kind, resource_group, call)

    def read(self, kind: str, resource_id: str) -> Future[Any]:
        """One resource of a `LISTABLE` kind: picked from its resource group's list when that list
        was already asked for, else one GET."""
        spec = LISTABLE[kind]
        memoised = self.graph.memoised(kind, resource_id)
        if memoised is not None:
            return memoised
        group = self._group_of(resource_id)
        if group is not None and self.graph.memoised(spec.list_kind, group) is not None:
            return self._pick_from_list(spec, group, [resource_id])[key(resource_id)]
        return self._get(kind, resource_id, getattr(self.network, spec.operations).get)

    def read_many(self, kind: str, resource_ids: Iterable[str]) -> list[list[str]]:
        """Resources of a `LISTABLE` kind needed at one step: one GET each, except in a resource
        group holding more than the kind's `max_gets` of those not read yet (or whose list was asked
        for already), whose resources are picked from one list of the group. Returns the ids, by
        resource group (ids that are not in the gateway's subscription or not ARM ids come last, one
        by one: each is recorded with its reason, without a request)."""
        spec = LISTABLE[kind]
        by_group: dict[str, tuple[str, list[str]]] = {}
        unaddressable: list[list[str]] = []
        for resource_id in {key(r): r for r in resource_ids}.values():
            group = self._group_of(resource_id)
            if group is None:
                self.read(kind, resource_id)
                unaddressable.append([resource_id])
            else:
                by_group.setdefault(key(group), (group, []))[1].append(resource_id)
        for group, members in by_group.values():
            unread = [r for r in members if self.graph.memoised(kind, r) is None]
            listed = self.graph.memoised(spec.list_kind, group) is not None
            if unread and (listed or len(unread) > spec.max_gets):
                self._pick_from_list(spec, group, unread)
            else:
                for resource_id in unread:
                    self.read(kind, resource_id)
        return [members for _, members in by_group.values()] + unaddressable

    def _pick_from_list(self, spec: Listable, group: str, resource_ids: list[str]) -> dict[str, Future[Any]]:
        """Memoise a future per resource, resolved from `group`'s list once it is read (started now
        if it was not); those already memoised are left as they are. Returns each resource's
        memoised future, by key."""
        wanted: dict[str, tuple[str, Future[Any]]] = {}
        memoised: dict[str, Future[Any]] = {}
        listing: Future[Any] | None = None
        for resource_id in resource_ids:
            future: Future[Any] = Future()
            memoised[key(resource_id)] = self.graph.put(spec.kind, resource_id, future)
            if memoised[key(resource_id)] is future:
                wanted[key(resource_id)] = (resource_id, future)
                if listing is None:  # asked at the first wanted, not after a thousand are memoised
                    listing = self.group_list(spec, group)
        if listing is not None:
            listing.add_done_callback(functools.partial(_pick, spec=spec, group=group, wanted=wanted))
        return memoised

    def _group_of(self, resource_id: str) -> str | None:
        try:
            return self._names(resource_id)[0]
        except ArmCallFailed:
            return None

    def subnet(self, subnet_id: str) -> Future[Any]:
        def call() -> Any:
            parts = parse(subnet_id)
            group, vnet_name = self._names(parent_id(subnet_id))
            return self.arm.call(self.network.subnets.get, group, vnet_name, parts["child_name_1"])

        return self.graph.fetch("subnet", subnet_id, call)

    def long_running(
        self, kind: str, resource_id: str, begin: Callable[..., Any], *, json_result: bool = False
    ) -> Future[Any]:
        """A long-running operation of `resource_id`; `json_result`: its result as the JSON ARM sent,
        for results every reader reads by wire names (backend health, effective routes and NSGs)."""

        def call() -> Any:
            return self.arm.long_running(begin, *self._names(resource_id), json_result=json_result)

        return self.graph.fetch(kind, resource_id, call, operation=True)

    def metrics(self, query: MetricQuery) -> Future[Any]:
        def call() -> Any:
            return self.arm.call(
                self.arm.clients.monitor.metrics.list,
                self.gateway_id,
                timespan=timespan(*self.window),
                interval=METRIC_INTERVAL,
                metricnames=",".join(query.names),
                aggregation=query.aggregation,
                filter=query.filter,
            )

        return self.graph.fetch("metrics", ",".join(query.names), call)

    # --- the graph ---

    def start(self) -> None:
        gateway_id = self.gateway_id
        self.shapes.note_model(self.gateway, _Shapes.JSON_CLASSES["gateway"])
        frontends = models(json_properties(self.gateway).get("frontendIPConfigurations"))
        public_ips = [r for fe in frontends if (r := ref_id(json_properties(fe).get("publicIPAddress")))]
        for group in resource_groups([gateway_id, *public_ips], self.subscription):
            self.activity_log(group)  # first: its query never waits behind the rest
        health = self.graph.put("backend_health", gateway_id, self.backend_health)
        nic_ids = {key(m.nic_id): m.nic_id for m in backend_members(self.gateway, None) if m.nic_id}
        per_nic = self.effective_per_nic
        if per_nic is None:
            per_nic = len(nic_ids) <= MAX_PER_NIC_EFFECTIVE
        if per_nic:
            for nic_id in nic_ids.values():
                self._effective("effective_routes", nic_id, [nic_id])
                self._effective("effective_nsgs", nic_id, [nic_id])
        # before the IP members' lookups, which may want the same NICs
        nic_groups = self.read_many("nic", nic_ids.values())
        gateway_network = None
        if self.gateway_vnet_id:
            gateway_network = self.graph.link(self._gateway_network, self.gateway_vnet_id)
        for members in nic_groups:  # a resource group's NICs are read together (one list, or GETs)
            self.graph.link(self._backend_nics, members, gateway_network)
        if nic_ids and not per_nic:
            # grouped as soon as the NICs are read, while backend health may still be worked out
            groups = self.graph.link(self._effective_groups, nic_ids)
            self.graph.link(self._effective_by_group, health, groups)
        # last: nothing waits on the metrics, while the reads above lead to more reads (a large
        # gateway's NICs, to its effective operations), which ARM then serves first
        for query in METRIC_QUERIES:
            self.metrics(query)

    def _effective(self, piece: str, nic_id: str, members: list[str]) -> None:
        """Effective routes or NSGs (`piece`) of `nic_id`, standing for every NIC of `members`."""
        interfaces = self.network.network_interfaces
        begin = (
            interfaces.begin_get_effective_route_table
            if piece == "effective_routes"
            else interfaces.begin_list_effective_network_security_groups
        )
        with self._index_lock:
            self.effective_members[(piece, key(nic_id))] = list(members)
        self.long_running(piece, nic_id, begin, json_result=True)

    def _effective_groups(self, nic_ids: Mapping[str, str]) -> EffectiveGroups:
        """Once the backend NICs are read: the groups they make."""
        nics = {nic_key: _value(self.nic(nic_id)) for nic_key, nic_id in nic_ids.items()}
        return EffectiveGroups.of(nic_ids, nics)

    def _effective_by_group(self, health: Future[Any], groups: Future[EffectiveGroups]) -> None:
        """Once backend health and the backend NICs' groups are known: ask the groups
        `EffectiveGroups` picks."""
        by_piece = groups.result().asked(healthy_nics(_value(health)))
        # started in turns (a group's routes, its NSGs, the next group's...), so the first groups of
        # both pieces are in progress at once, not the NSGs only once every route group is started
        for turn in itertools.zip_longest(*(asked[:MAX_EFFECTIVE_GROUPS] for asked in by_piece.values())):
            for piece, members in zip(by_piece, turn, strict=True):
                if members is not None:
                    self._effective(piece, members[0], members)
        for piece, asked in by_piece.items():
            skipped = [nic_id for members in asked[MAX_EFFECTIVE_GROUPS:] for nic_id in members]
            if skipped:
                self.over_budget[piece] = (
                    f"not read for {len(skipped)} NICs in {len(asked) - MAX_EFFECTIVE_GROUPS} more groups "
                    f"(at most {MAX_EFFECTIVE_GROUPS} groups are asked, within the diagnosis' ARM request "
                    f"budget of {ARM_REQUEST_BUDGET})"
                )

    def _gateway_network(self, vnet_id: str) -> None:
        vnet = _value(self.vnet(vnet_id))
        if not is_resource(vnet):
            return
        subnets = self._vnet_indexes(vnet)[1]
        subnet = subnets.get(key(self.gateway_subnet_id))
        if subnet is not None:
            self.route_table_of(json_properties(subnet).get("routeTable"))
        members = backend_members(self.gateway, vnet)
        # The NSGs of the gateway subnet and of the subnets holding IP members, read together (one
        # list per resource group holding many) before the members' lookups ask for them one by one.
        held = {key(m.subnet_id) for m in members if m.subnet_id and not m.is_fqdn}
        self.read_many(
            "nsg",
            [
                nsg_id
                for s in [subnet, *(subnets.get(subnet_key) for subnet_key in sorted(held))]
                if s is not None and (nsg_id := ref_id(json_properties(s).get("networkSecurityGroup")))
            ],
        )
        self._list_nic_subnet_nsgs(vnet, members)
        for address in sorted({m.address for m in members if m.address and not m.is_fqdn}):
            self.nic_lookups.append(self.graph.link(self._ip_member, address, vnet))
        fqdns = sorted({m.address.lower() for m in members if m.is_fqdn})
        if not fqdns:
            return
        if custom_dns_servers(vnet):
            if self.resolve_dns:  # custom servers are reachable only from inside (or joined to) the VNet
                servers = custom_dns_servers(vnet)
                self.dns_task = self.graph.link(self._resolve, fqdns, servers)
        elif self.dns_servers is None or AZURE_DNS in self.dns_servers:
            self.dns_task = self.graph.link(self._resolve, fqdns, [AZURE_DNS])

    def _list_nic_subnet_nsgs(self, vnet: Any, members: list[BackendMember]) -> None:
        """Start the NSG list of each resource group holding more than `MAX_NSG_GETS` NSGs of the
        subnets the NIC members sit in, as the VNet names them (each subnet lists the IP
        configurations in it): a list those NICs' own reads would start anyway, once read, is then
        read alongside them. Groups with fewer are left to the NICs' reads, which ask for the subnets'
        and the NICs' own NSGs together (one list, or GETs)."""
        wanted = {key(m.ip_configuration_id) for m in members if m.ip_configuration_id}
        if not wanted:
            return
        nsg_ids: dict[str, str] = {}
        for subnet in models(json_properties(vnet).get("subnets")):
            fields = json_properties(subnet)
            nsg_id = ref_id(fields.get("networkSecurityGroup"))
            if nsg_id and any(key(ref_id(c)) in wanted for c in models(fields.get("ipConfigurations"))):
                nsg_ids.setdefault(key(nsg_id), nsg_id)
        by_group: dict[str, list[str]] = {}
        for nsg_id in nsg_ids.values():
            group = self._group_of(nsg_id)
            if group is not None and self.graph.memoised("nsg", nsg_id) is None:
                by_group.setdefault(key(group), []).append(nsg_id)
        for group_nsgs in by_group.values():
            if len(group_nsgs) > LISTABLE["nsg"].max_gets:
                self.read_many("nsg", group_nsgs)

    def _lookup(self, fqdn: str, servers: list[str]) -> list[str] | None:
        """`fqdn` through `servers`; Azure DNS in production through the system resolver, which
        answers public names as Azure DNS does (a private DNS zone linked to the VNet can differ)."""
        if self.dns_servers is None and servers == [AZURE_DNS]:
            return resolve_system(fqdn)
        addresses = self.dns_servers if self.dns_servers is not None else {ip: (ip, 53) for ip in servers}
        return resolve_fqdn(fqdn, servers, addresses)

    def _resolve(self, fqdns: list[str], servers: list[str]) -> dict[str, list[str] | None]:
        answers = {fqdn: self._lookup(fqdn, servers) for fqdn in fqdns}
        # A name that resolves into the VNet reaches a subnet whose NSG can block the gateway.
        vnet = _value(self.vnet(self.gateway_vnet_id)) if self.gateway_vnet_id else None
        for ip in sorted({ip for ips in answers.values() for ip in ips or []}):
            subnet = self._subnet_holding(vnet, ip) if is_resource(vnet) else None
            if subnet is not None:
                self.nsg_of(json_properties(subnet).get("networkSecurityGroup"))
        return answers

    def _ip_member(self, address: str, vnet: Any) -> NicLookup:
        """Find an IP pool member's subnet (in the gateway's VNet or a peered one), fetch its NSG, and
        identify the NIC holding the address, whose NSG and security groups filter it too."""
        subnet = self._subnet_holding(vnet, address)
        if subnet is None:
            remote_id = peered_vnet_holding(vnet, address)
            if remote_id is None:
                return NicLookup(address)  # outside every VNet we know: no NSG of ours filters it
            fetched = self.peered_vnet(remote_id)
            remote = _value(fetched)
            if remote is None:
                return NicLookup(
                    address,
                    unidentified=f"{address} is in peered VNet {name_of(remote_id)}, which could not be read "
                    f"({_reason(fetched)}), so its subnet and NIC NSGs are unknown",
                )
            subnet = self._subnet_holding(remote, address)
            if subnet is None:
                return NicLookup(address)
        self.nsg_of(json_properties(subnet).get("networkSecurityGroup"))
        return self._nic_holding(address, subnet)

    def _subnet_holding(self, vnet: Any, address: str) -> Any:
        """The VNet's subnet whose prefix holds `address` (longest prefix), through indexes of the
        VNet's prefixes and subnet ids built once (every IP member asks)."""
        if not is_resource(vnet):
            return None
        by_prefix, by_id_key = self._vnet_indexes(vnet)
        subnet_id = by_prefix.lookup(address)
        return by_id_key.get(key(subnet_id)) if subnet_id else None

    def _vnet_indexes(self, vnet: Any) -> tuple[SubnetIndex, dict[str, Any]]:
        """The VNet's subnets by prefix and by id, built once per VNet."""
        with self._index_lock:
            indexes = self._subnet_indexes.get(id(vnet))
            if indexes is None or indexes[0] is not vnet:
                indexes = (vnet, SubnetIndex(vnet), id_index(json_properties(vnet).get("subnets")))
                self._subnet_indexes[id(vnet)] = indexes
        return indexes[1], indexes[2]

    def _nic_holding(self, address: str, subnet: Any) -> NicLookup:
        """The NIC whose IP configuration in `subnet` has `address`, among those the subnet names."""
        held = self._subnet_nics(subnet)
        nic = held.by_address.get(address)
        if nic is not None:
            self.nsg_of(json_properties(nic).get("networkSecurityGroup"))
            return NicLookup(address, nic=nic)
        if held.unread:
            return NicLookup(
                address,
                unidentified=f"the NIC holding {address} in subnet {held.name} could not be "
                f"identified: {', '.join(held.unread)} could not be read",
            )
        return NicLookup(address)

    def _subnet_nics(self, subnet: Any) -> _SubnetNics:
        """The NICs `subnet` names, read and indexed by private IP once per subnet: every IP member
        of the subnet asks (a subnet of 1,000 VMs addressed by IP would otherwise scan its 1,000
        NICs for each of them). Whoever asks first reads them; the others wait for that."""
        subnet_key = key(ref_id(subnet)) or f"id:{id(subnet)}"
        with self._index_lock:
            pending = self._subnet_nic_indexes.get(subnet_key)
            mine = pending is None
            if mine:
                pending = self._subnet_nic_indexes[subnet_key] = Future()
        assert pending is not None
        if mine:
            try:
                pending.set_result(self._read_subnet_nics(subnet))
            except BaseException as error:  # noqa: BLE001 - whoever waits sees it, as the reader does
                pending.set_exception(error)
        return pending.result()

    def _read_subnet_nics(self, subnet: Any) -> _SubnetNics:
        references = [r for r in map(ref_id, models(json_properties(subnet).get("ipConfigurations"))) if r]
        nic_ids = {key(parent_id(r)): parent_id(r) for r in references if _NIC_IP_CONFIGURATION.search(r)}
        unread: list[str] = []
        if len(nic_ids) <= MAX_SUBNET_NIC_GETS:
            futures = {nic_id: self.nic(nic_id) for nic_id in nic_ids.values()}
            nics = [nic for nic in (_value(f) for f in futures.values()) if nic is not None]
            unread = [
                f"NIC {name_of(n)} ({_reason(f)})" for n, f in futures.items() if f.exception() is not None
            ]
        else:
            groups = {key(parse(n)["resource_group"]): parse(n)["resource_group"] for n in nic_ids.values()}
            nics = []
            for group in groups.values():
                fetched = self.nic_list(group)
                listed = _value(fetched)
                if listed is None:
                    unread.append(f"the NICs of resource group {group} ({_reason(fetched)})")
                nics += [nic for nic in models(listed) if key(ref_id(nic)) in nic_ids]
        # the NICs' own NSGs together (one list per resource group holding many), before each IP
        # member of the subnet asks for its NIC's
        nic_nsgs = [ref_id(json_properties(nic).get("networkSecurityGroup")) for nic in models(nics)]
        self.read_many("nsg", [nsg_id for nsg_id in nic_nsgs if nsg_id])
        subnet_key = key(ref_id(subnet))
        by_address: dict[Any, Any] = {}
        for nic in models(nics):
            for ip_configuration in _ip_configurations(nic):
                fields = json_properties(ip_configuration)
                if key(ref_id(fields.get("subnet"))) == subnet_key:
                    by_address.setdefault(fields.get("privateIPAddress"), nic)  # the first NIC listed wins
        others = [
            r
            for r in references
            if not _NIC_IP_CONFIGURATION.search(r) and "/networkinterfaces/" in r.lower()
        ]
        if others:
            unread.append(f"{len(others)} scale-set NIC configuration(s)")
        return _SubnetNics(name_of(ref_id(subnet) or "?"), by_address, unread)

    def _backend_nics(self, nic_ids: list[str], gateway_network: Future[Any] | None) -> None:
        """Once NICs read together are read: their NSGs and their subnets' NSGs, read together — after
        the gateway's own network asked for its NSGs (`gateway_network`), so what is read by a GET and
        what from a list does not depend on which answer came first."""
        nics = [nic for nic in (_value(self.nic(nic_id)) for nic_id in nic_ids) if is_resource(nic)]
        if gateway_network is not None:
            wait([gateway_network])
        subnet_ids = {
            key(subnet_id): subnet_id
            for nic in nics
            for c in _ip_configurations(nic)
            if (subnet_id := ref_id(json_properties(c).get("subnet")))
        }
        for subnet_id in subnet_ids.values():  # start the subnet GETs outside the gateway's VNet at once
            if not (self.gateway_vnet_id and key(parent_id(subnet_id)) == key(self.gateway_vnet_id)):
                self.subnet(subnet_id)
        subnets = [self._subnet_model(subnet_id) for subnet_id in subnet_ids.values()]
        references = [json_properties(nic).get("networkSecurityGroup") for nic in nics]
        references += [json_properties(s).get("networkSecurityGroup") for s in subnets if is_resource(s)]
        self.read_many("nsg", [nsg_id for r in references if (nsg_id := ref_id(r))])

    def _subnet_model(self, subnet_id: str) -> Any:
        """A subnet from its VNet's GET when that is the gateway's VNet, else by a subnet GET."""
        vnet_id = parent_id(subnet_id)
        if self.gateway_vnet_id and key(vnet_id) == key(self.gateway_vnet_id):
            vnet = _value(self.vnet(vnet_id))
            return self._vnet_indexes(vnet)[1].get(key(subnet_id)) if is_resource(vnet) else None
        return _value(self.subnet(subnet_id))

    # --- the snapshot ---

    def fill(self, snapshot: Snapshot) -> None:
        failures: dict[str, list[str]] = {}
        metric_failures: dict[str, str] = {}
        for (kind, _), (resource_id, future) in sorted(self.graph.fetches.items()):
            if kind == "activity_log":
                continue  # `fill_activity_log`, once every group on the path was asked
            error = future.exception()
            if error is None:
                self._place(snapshot, kind, resource_id, future.result())
                continue
            reason = _reason(future)
            shared = len(self.effective_members.get((kind, key(resource_id)), ()))
            if shared > 1:
                reason = f"{reason} (asked for the {shared} NICs that share it)"
            if kind == "metrics":
                metric_failures.update({name: reason for name in resource_id.split(",")})
            elif kind == "backend_health":  # one per gateway: the reason alone says it
                failures["backend_health"] = [reason]
            else:
                failures.setdefault(PIECE_OF_KIND[kind], []).append(f"{name_of(resource_id)}: {reason}")
        for piece, reason in self.over_budget.items():
            failures.setdefault(piece, []).append(reason)
        self._metric_failures(snapshot, metric_failures)
        if self.gateway_vnet_id:
            snapshot.gateway_subnet = snapshot.subnets.get(key(self.gateway_subnet_id))
            if "vnet" in failures:
                failures["gateway_subnet"] = list(failures["vnet"])
                failures.setdefault("subnets", []).extend(failures["vnet"])
            elif snapshot.gateway_subnet is None:
                failures["gateway_subnet"] = [f"{name_of(self.gateway_subnet_id)}: not found in its VNet"]
        for lookup in (future.result() for future in self.nic_lookups):
            if lookup.nic is not None:
                snapshot.nics[key(ref_id(lookup.nic))] = lookup.nic
            if lookup.unidentified:
                snapshot.unidentified_nics[lookup.address] = lookup.unidentified
        if self.dns_task is not None:
            answers = self.dns_task.result()
            snapshot.dns_answers = {fqdn: ips for fqdn, ips in answers.items() if ips is not None}
            silent = [fqdn for fqdn, ips in answers.items() if ips is None]
            which = (
                "no custom DNS server answered"
                if snapshot.custom_dns_servers()
                else "Azure DNS did not answer"
            )
            if silent:
                failures["dns_answers"] = [
                    f"{fqdn}: {which} within {DNS_TIMEOUT_SECONDS:g} s" for fqdn in silent
                ]
        for piece, reasons in failures.items():
            snapshot.errors[piece] = "; ".join(reasons)
        problems = malformed_in(snapshot, self.gateway, self.shapes)
        if problems:
            snapshot.errors[MALFORMED] = _summary(problems)

    def late_activity_logs(self, snapshot: Snapshot) -> None:
        """Ask the Activity Log of the path's resource groups no fetch named (a route table or NSG
        referenced but not read, in a group of its own)."""
        for group in resource_groups(path_resources(snapshot), self.subscription):
            self.activity_log(group)

    def fill_activity_log(self, snapshot: Snapshot) -> None:
        """The Activity Log events read, in `snapshot.activity_log`; the groups that could not be
        read (or were cut short) under `errors["activity_log"]`."""
        if self.changes_window is None:
            return
        snapshot.changes_window = self.changes_window
        failures: list[str] = []
        for (kind, _), (group, future) in sorted(self.graph.fetches.items()):
            if kind != "activity_log":
                continue
            if future.exception() is not None:
                failures.append(f"resource group {group}: {_reason(future)}")
                continue
            events, cut = future.result()
            snapshot.activity_log.extend(events)
            snapshot.activity_log_groups.append(group)
            if cut:
                failures.append(
                    f"resource group {group}: only the newest {MAX_ACTIVITY_LOG_PAGES} pages of events read"
                )
        if failures:
            snapshot.errors[ACTIVITY_LOG_PIECE] = "; ".join(failures)

    @staticmethod
    def _metric_failures(snapshot: Snapshot, failed: dict[str, str]) -> None:
        """Metrics fail one query at a time (throttled, or not defined for this SKU: v1 gateways have
        no timing metrics), so a failed metric is absent from `metrics` with its reason under
        `errors["metrics/<name>"]`; `errors["metrics"]` is set only when no query succeeded."""
        for name, reason in failed.items():
            snapshot.errors[f"metrics/{name}"] = reason
        if failed and not snapshot.metrics:
            snapshot.errors["metrics"] = "; ".join(f"{name}: {reason}" for name, reason in failed.items())

    def _place(self, snapshot: Snapshot, kind: str, resource_id: str, value: Any) -> None:
        if kind == "vnet":
            if key(resource_id) == key(self.gateway_vnet_id):
                snapshot.vnet = value
            for subnet in models(json_properties(value).get("subnets")):
                snapshot.subnets[key(ref_id(subnet))] = subnet
        elif kind == "peered_vnet":
            snapshot.peered_vnets[key(resource_id)] = value
            for subnet in models(json_properties(value).get("subnets")):
                snapshot.subnets[key(ref_id(subnet))] = subnet
        elif kind == "subnet":
            snapshot.subnets[key(resource_id)] = value
        elif kind == "nsg":
            snapshot.nsgs[key(resource_id)] = value
        elif kind == "route_table":
            snapshot.route_tables[key(resource_id)] = value
        elif kind == "nic":
            snapshot.nics[key(resource_id)] = value
        elif kind == "backend_health":
            snapshot.backend_health = value
        elif kind in ("effective_routes", "effective_nsgs"):
            pieces = snapshot.effective_routes if kind == "effective_routes" else snapshot.effective_nsgs
            for nic_id in self.effective_members.get((kind, key(resource_id)), [resource_id]):
                pieces[key(nic_id)] = models(json_fields(value).get("value"))
        elif kind == "metrics":
            for metric in value.value or []:
                name = getattr(getattr(metric, "name", None), "value", None)
                if isinstance(name, str):
                    snapshot.metrics[name] = metric


class _Shapes:
    """The shape problems of the models a collection reads, each walked as soon as it arrives, on a
    thread of its own, so the walks overlap the waits for other reads instead of following them all
    and never hold up whoever waits for the model (the NICs picked from one list are handed out one
    after another). Kept by model identity, with the model. What arrives while the walker is busy
    waits in one queue that it drains: 1,000 NICs picked from one list are one hand-over to the
    walker, not 1,000, and what each walk found is kept in one dict that readers wait on (not a
    future, with its lock, per model)."""

    KINDS = frozenset({"vnet", "peered_vnet", "nsg", "route_table", "nic", "backend_health"})
    # the SDK model class plain ARM JSON of a kind stands for (see `Listable.collection`)
    JSON_CLASSES: dict[str, type] = {
        "gateway": net.ApplicationGateway,  # read as JSON by `collect`, not through the graph
        "nic": net.NetworkInterface,
        "nsg": net.NetworkSecurityGroup,
        "backend_health": net.ApplicationGatewayBackendHealth,
        "vnet": net.VirtualNetwork,
        "peered_vnet": net.VirtualNetwork,
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._walked = threading.Condition(self._lock)  # notified as each batch of walks ends
        self._noted: dict[int, Any] = {}  # id(model) -> the model: noted, walked or to be walked
        self._results: dict[int, list[str] | Exception] = {}  # id(model) -> what its walk found
        self._queue: list[tuple[Any, type | None]] = []  # noted, not yet walked
        self._draining = False  # a drain of the queue is submitted or running
        self._closed = False
        self._walker = ThreadPoolExecutor(1, thread_name_prefix="shape-walk")  # CPU only: one is enough

    def note(self, kind: str, future: Future[Any]) -> None:
        """A done future of `kind`: walk its model when it is one `malformed_in` judges."""
        if kind in self.KINDS and not future.cancelled() and future.exception() is None:
            self.note_model(future.result(), self.JSON_CLASSES.get(kind))

    def note_model(self, model: Any, json_class: type | None = None) -> None:
        """Walk `model`, an SDK model, or plain ARM JSON standing for a `json_class` model."""
        if not (is_model(model) or (json_class is not None and is_json_object(model))):
            return
        with self._lock:
            # each problem starts with the path given (see `of`); one closed walks nothing more
            if self._closed or id(model) in self._noted:
                return
            self._noted[id(model)] = model
            self._queue.append((model, json_class))
            if self._draining:
                return
            self._draining = True
        try:
            self._walker.submit(self._drain)
        except RuntimeError:  # closed meanwhile: `of` walks what is left itself
            self.close()

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch or self._closed:
                    self._draining = False
                    self._walked.notify_all()
                    return
            found: list[tuple[int, list[str] | Exception]] = []
            for model, json_class in batch:
                try:
                    found.append((id(model), _walk(model, "", json_class)))
                except Exception as error:  # raised again by `of`, as walking it then would
                    found.append((id(model), error))
            with self._lock:
                self._results.update(found)
                self._walked.notify_all()

    def of(self, model: Any, label: str, json_class: type | None = None) -> list[str]:
        """What `malformed_in` reports of `model` (`shape_problems`, or `json_shape_problems` for plain
        JSON standing for a `json_class` model), from the walk started when it arrived if there was
        one (waited for; a walk that failed raises here, as walking it now would)."""
        with self._lock:
            noted = self._noted.get(id(model)) is model
            while noted and id(model) not in self._results and not self._closed:
                self._walked.wait()
            result = self._results.get(id(model)) if noted else None
        if result is None:
            return _walk(model, label, json_class)
        if isinstance(result, Exception):
            raise result
        return [label + problem for problem in result]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue = []  # `of` walks those itself
            self._walked.notify_all()
        self._walker.shutdown(wait=False, cancel_futures=True)


def malformed_in(snapshot: Snapshot, gateway: dict[str, Any], shapes: _Shapes | None = None) -> list[str]:
    """The shape problems of everything collected, each prefixed with the resource it is in (those
    `shapes` found as the models arrived are not walked again). The gateway is judged by `gateway`,
    the JSON its model was made of (see `json_shape_problems`)."""
    pieces: list[tuple[str, Any, type | None]] = [
        (f"gateway {name_of(snapshot.gateway_id)}", gateway, _Shapes.JSON_CLASSES["gateway"])
    ]
    vnets = [snapshot.vnet, *snapshot.peered_vnets.values()]
    vnet_class = _Shapes.JSON_CLASSES["vnet"]
    pieces += [(f"VNet {name_of(ref_id(v) or '')}", v, vnet_class) for v in vnets if v is not None]
    nsg_class = _Shapes.JSON_CLASSES["nsg"]
    pieces += [(f"NSG {name_of(ref_id(n) or '')}", n, nsg_class) for n in snapshot.nsgs.values()]
    pieces += [(f"route table {name_of(ref_id(t) or '')}", t, None) for t in snapshot.route_tables.values()]
    nic_class = _Shapes.JSON_CLASSES["nic"]
    pieces += [(f"NIC {name_of(ref_id(n) or '')}", n, nic_class) for n in snapshot.nics.values()]
    if snapshot.backend_health is not None:
        pieces.append(("backend health", snapshot.backend_health, _Shapes.JSON_CLASSES["backend_health"]))
    problems: list[str] = []
    for label, model, json_class in pieces:
        if shapes is not None:
            problems += shapes.of(model, label, json_class)
        else:
            problems += _walk(model, label, json_class)
    return problems


def _walk(model: Any, label: str, json_class: type | None) -> list[str]:
    """What `malformed_in` reports of one collected piece (see `_Shapes.of`)."""
    if json_class is not None and is_json_object(model):
        return json_shape_problems(model, json_class, label)
    if not is_model(model):
        return [f"{label}: {type(model).__name__}, not an object"]
    return shape_problems(model, label)


def _pick(
    listed: Future[Any], spec: Listable, group: str, wanted: Mapping[str, tuple[str, Future[Any]]]
) -> None:
    """Resolve each wanted resource's future from its resource group's list (a done callback: it
    never waits). A failed list fails each of them with the list's reason, as its own GET would have
    failed; one the list does not hold is not found."""
    error = listed.exception()
    found = {} if error is not None else {key(ref_id(item)): item for item in models(listed.result())}
    for resource_key, (_, future) in wanted.items():
        if error is not None:
            future.set_exception(
                ArmCallFailed(
                    f"the {spec.plural} of resource group {group} could not be listed: {_reason(listed)}",
                    status=getattr(error, "status", None),
                )
            )
        elif resource_key in found:
            future.set_result(found[resource_key])
        else:
            future.set_exception(
                ArmCallFailed(f"not found: resource group {group} lists no such {spec.singular}", status=404)
            )


def _value(future: Future[Any]) -> Any:
    """A fetch's result, or None when it failed (the failure is recorded when the snapshot is filled)."""
    return None if future.exception() is not None else future.result()


def _reason(future: Future[Any]) -> str:
    error = future.exception()
    return error.reason if isinstance(error, ArmCallFailed) else str(error)


def collect(
    gateway_id: str,
    *,
    arm: Arm,
    incident_time: datetime,
    window: timedelta = DEFAULT_WINDOW,
    dns_servers: Mapping[str, tuple[str, int]] | None = None,
    resolve_dns: bool = False,
    progress: Callable[[str], None] | None = None,
    workers: int = DEFAULT_WORKERS,
    effective_per_nic: bool | None = None,
    changes_since: datetime | None = None,
) -> Snapshot:
    """Everything a diagnosis needs about one gateway, for the window ending at `incident_time`.

    `dns_servers` maps a DNS server IP (custom, or Azure DNS 168.63.129.16) to the (host, port) to
    query instead (the simulator's responders). FQDN pool members are resolved through the VNet's
    custom DNS servers only when `resolve_dns` is true (they are reachable only from the VNet); on
    Azure-provided DNS they are resolved through `dns_servers`' Azure DNS entry, else (production)
    the system resolver. Raises GatewayUnavailable when the gateway itself cannot be read.
    `effective_per_nic` reads effective routes and NSGs for every backend NIC (True) or per group of
    NICs that share them (False; see `EffectiveGroups`); None (the default) reads per NIC up to
    MAX_PER_NIC_EFFECTIVE backend NICs, per group beyond. With `changes_since`, the Activity Log of
    every resource group on the path from then to `incident_time` is read alongside (the events in
    `Snapshot.activity_log`; see the module docstring).
    """
    say = progress or (lambda _: None)
    group, name = gateway_names(gateway_id)
    say(f"reading gateway {name}")
    # Backend health names the gateway only, and is on every diagnosis' critical path (ARM takes
    # seconds to probe): it is asked alongside the gateway read instead of after it. (A gateway that
    # cannot be read fails the diagnosis; its health's answer, a 404 or 403 as well, is dropped.)
    early = ThreadPoolExecutor(1, thread_name_prefix="arm-operation")
    begin_health = arm.clients.network.application_gateways.begin_backend_health
    health = early.submit(arm.long_running, begin_health, group, name, json_result=True)
    early.shutdown(wait=False)
    # The gateway is read as its JSON: every read it names is planned from that and sent at once, and
    # the checks read it by wire names and per-item models; the SDK's model of the whole gateway (a
    # tenth of a second at 100 pools) is made only for a reader that asks for it (`Snapshot.gateway`).
    try:
        raw: Any = arm.call(arm.clients.network.application_gateways.get, group, name, json_result=True)
    except ArmCallFailed as error:
        raise GatewayUnavailable(error.reason, status=error.status) from error
    if not is_json_object(raw):
        raise GatewayUnavailable(f"ARM's answer for gateway {name} is {type(raw).__name__}, not an object")
    gateway: dict[str, Any] = raw
    window_start = incident_time - window
    collector = _Collector(
        arm,
        gateway_id,
        gateway,
        health,
        window=(window_start, incident_time),
        dns_servers=dns_servers,
        resolve_dns=resolve_dns,
        workers=workers,
        effective_per_nic=effective_per_nic,
        changes_window=(changes_since, incident_time) if changes_since is not None else None,
    )
    say("collecting network, backend health, metrics and effective rules concurrently")
    try:
        collector.start()
        snapshot = Snapshot(
            gateway_id=collector.gateway_id,
            incident_time=incident_time,
            window_start=window_start,
            gateway_json=gateway,
        )
        collector.graph.join()
        collector.fill(snapshot)
        if collector.changes_window is not None:
            collector.late_activity_logs(snapshot)
            collector.graph.join()
            collector.fill_activity_log(snapshot)
    finally:
        collector.graph.close()
        collector.shapes.close()
    return snapshot
