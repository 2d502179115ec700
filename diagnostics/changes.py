"""What changed on a gateway's path: Activity Log events kept to the path, the diff of today's
configuration against the last healthy one, and the tie of both to findings (issue 14). Pure: the
collector reads the Activity Log (diagnostics.collect), the pipeline stores the last healthy
configuration (state.last_healthy); everything here works on what they hand over.

The path is the gateway and everything its traffic depends on (`path_resources`): its public IPs,
its subnet with that subnet's NSG and route table, its VNet (DNS servers, peerings), the subnets
holding backend members with their NSGs and route tables, the backend NICs and their NSGs. Nothing
else counts, even in the same resource group: an Activity Log event is kept when its resource is a
path resource or a child of one (a `securityRules/X` write under a path NSG), except a subnet that
is not itself on the path (a VNet's other subnets are not the gateway's business).

The configuration (`configuration`) is plain JSON — resources in order of importance, each with the
properties that decide traffic and its named children (rules, routes, probes, settings, ...) — so it
can be stored, bounded, and diffed property by property (`diff`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from core.arm_ids import name_of, parent_id, parse
from core.iso8601 import format_time
from core.sdk_values import json_fields, json_properties, wire
from diagnostics.snapshot import Snapshot, is_resource, key, models, ref_id
from model.changes import ACTIVITY_LOG, APPGW_DOCTOR, LAST_HEALTHY_DIFF, PathChange
from model.findings import CheckResult, CheckStatus, Finding, Severity

DEFAULT_LOOKBACK = timedelta(hours=24)
ACTIVITY_LOG_PIECE = "activity_log"  # Snapshot.errors key of an Activity Log that could not be read
LAST_HEALTHY_PIECE = "last_healthy"  # Diagnosis.change_errors key of a last-healthy record not read
# The EventData fields the collector asks for (`$select`): what a PathChange is made of.
ACTIVITY_LOG_SELECT = ",".join(
    (
        "eventTimestamp",
        "operationName",
        "resourceId",
        "resourceGroupName",
        "caller",
        "claims",
        "status",
        "subStatus",
        "correlationId",
        "operationId",
        "eventDataId",
        "httpRequest",
    )
)
OWN_WRITE_TOLERANCE = timedelta(minutes=1)  # an Activity Log event this close to a bot write is the bot's
MAX_FINDING_CHANGES = 10  # the newest changes a finding carries
CONFIGURATION_VERSION = 1

# Claims as ARM records them in an event (the JWT claim names mapped to URIs; `appid` as is).
UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
NAME_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
APPID_CLAIMS = ("appid", "azp")
IDTYP_CLAIM = "idtyp"
# Well-known first-party client apps: what a person used when their token names one of these.
CLIENT_APPS = {
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Azure CLI",
    "c44b4083-3bb0-49c1-b47d-974e53cbdf3c": "Azure Portal",
    "1950a258-227b-4e31-a9cf-717495945fc2": "Azure PowerShell",
    "0c1307d4-29d6-4389-a11c-5cbe7f65d7fa": "Azure mobile app",
}
# Status priority when Started/Accepted/Succeeded events of one operation are folded into one.
_FINAL = {"succeeded": 3, "failed": 3, "canceled": 3, "cancelled": 3, "accepted": 1, "started": 0}


# --- the path ------------------------------------------------------------------------------------


def path_resources(snapshot: Snapshot) -> list[str]:
    """The ids of the resources the gateway's traffic depends on, most important first (see the
    module docstring), each once."""
    found: dict[str, str] = {}

    def add(resource_id: str | None) -> None:
        if resource_id and key(resource_id) not in found:
            found[key(resource_id)] = resource_id

    add(snapshot.gateway_id)
    for frontend in snapshot.gateway_collection("frontendIPConfigurations"):
        add(ref_id(json_properties(frontend).get("publicIPAddress")))
    gateway_subnet_id = snapshot.gateway_subnet_id
    add(gateway_subnet_id)
    subnet = snapshot.subnets.get(key(gateway_subnet_id)) if gateway_subnet_id else None
    if is_resource(subnet):  # from its VNet's JSON, or an SDK model: read by wire names
        add(ref_id(json_properties(subnet).get("networkSecurityGroup")))
        add(ref_id(json_properties(subnet).get("routeTable")))
    if gateway_subnet_id:
        add(parent_id(gateway_subnet_id))
    for vnet in snapshot.peered_vnets.values():
        add(ref_id(vnet))
    for subnet_id in backend_subnets(snapshot):
        add(subnet_id)
        backend_subnet = snapshot.subnets.get(key(subnet_id))
        if is_resource(backend_subnet):
            add(ref_id(json_properties(backend_subnet).get("networkSecurityGroup")))
            add(ref_id(json_properties(backend_subnet).get("routeTable")))
    for nic_key, nic in sorted(snapshot.nics.items()):
        add(ref_id(nic) or nic_key)
        if is_resource(nic):  # an SDK model, or plain JSON from its resource group's list
            add(ref_id(json_properties(nic).get("networkSecurityGroup")))
    return list(found.values())


def backend_subnets(snapshot: Snapshot) -> list[str]:
    """The subnets holding backend members: IP members' (in the gateway's or a peered VNet) and the
    subnets of backend NICs' IP configurations."""
    subnets: dict[str, str] = {}
    try:
        members = snapshot.backend_members()
    except Exception:  # a malformed pool: the NICs below still name their subnets
        members = []
    for member in members:
        if member.subnet_id:
            subnets.setdefault(key(member.subnet_id), member.subnet_id)
    for _, nic in sorted(snapshot.nics.items()):
        if not is_resource(nic):
            continue
        for configuration in models(json_properties(nic).get("ipConfigurations")):
            subnet_id = ref_id(json_properties(configuration).get("subnet"))
            if subnet_id:
                subnets.setdefault(key(subnet_id), subnet_id)
    return list(subnets.values())


def resource_groups(resource_ids: Iterable[str], subscription: str) -> list[str]:
    """The resource groups (as first spelled) of the ids in `subscription`, each once."""
    groups: dict[str, str] = {}
    for resource_id in resource_ids:
        parts = parse(resource_id)
        group = parts.get("resource_group")
        if group and key(parts.get("subscription")) == key(subscription):
            groups.setdefault(key(group), group)
    return list(groups.values())


def on_path(resource_id: str, path: Iterable[str]) -> bool:
    """`resource_id` is a path resource or a child of one; a subnet only when it is on the path."""
    mine = key(resource_id).rstrip("/")
    if not mine:
        return False
    keys = {key(p).rstrip("/") for p in path}
    if mine in keys:
        return True
    if "/subnets/" in mine:  # a VNet's other subnets (and their children) are off the path
        subnet = mine[: mine.index("/subnets/")] + "/subnets/" + mine.split("/subnets/", 1)[1].split("/")[0]
        return subnet in keys and mine.startswith(subnet + "/")
    return any(mine.startswith(p + "/") for p in keys)


# --- the Activity Log --------------------------------------------------------------------------------


def activity_filter(start: datetime, end: datetime, resource_group: str) -> str:
    """The `$filter` of one resource group's events between `start` and `end` (as ARM takes it)."""
    group = resource_group.replace("'", "''")
    return (
        f"eventTimestamp ge '{format_time(start)}' and eventTimestamp le '{format_time(end)}' "
        f"and resourceGroupName eq '{group}'"
    )


def _field(event: Any, name: str, wire_name: str) -> Any:
    """An EventData attribute, from an SDK model or a plain (REST JSON) dict."""
    if isinstance(event, Mapping):
        return event.get(wire_name)
    return getattr(event, name, None)


def _localized(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("value") or "")
    return str(getattr(value, "value", None) or "") if value is not None else ""


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        try:
            text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
            if "." in text:  # Azure writes 7 fractional digits; Python reads up to 6
                head, rest = text.split(".", 1)
                digits = "".join(c for c in rest if c.isdigit())
                text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None


def caller_of(caller: str | None, claims: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """(who, the client app) from an event's caller and claims: a person's user principal name; a
    service principal or managed identity as "app <appid>"; else the caller as logged."""
    claims = {str(k): str(v) for k, v in (claims or {}).items() if v is not None}
    appid = next((claims[name] for name in APPID_CLAIMS if claims.get(name)), None)
    upn = claims.get(UPN_CLAIM) or claims.get("upn")
    client = CLIENT_APPS.get((appid or "").lower())
    if upn:
        return upn, client
    if appid and (claims.get(IDTYP_CLAIM, "").lower() == "app" or client is None):
        if caller and "@" in caller:  # a person's token naming a third-party client app
            return caller, None
        return f"app {appid}", None
    name = claims.get(NAME_CLAIM) or claims.get("unique_name")
    if caller:
        return caller, client
    return (name or None), client


def _describe_resource(resource_id: str) -> str:
    """`security rule DenyAll of nsg-web`, `NSG nsg-web`, `subnet web of vnet-x`, ..."""
    parts = [p for p in resource_id.split("/") if p]
    lowered = [p.lower() for p in parts]
    kinds = {
        "applicationgateways": "gateway",
        "networksecuritygroups": "NSG",
        "securityrules": "security rule",
        "routetables": "route table",
        "routes": "route",
        "virtualnetworks": "VNet",
        "subnets": "subnet",
        "networkinterfaces": "NIC",
        "publicipaddresses": "public IP",
        "virtualnetworkpeerings": "peering",
    }
    try:
        index = lowered.index("providers") + 2
    except ValueError:
        return resource_id
    names = [(kinds.get(lowered[i], parts[i]), parts[i + 1]) for i in range(index, len(parts) - 1, 2)]
    if not names:
        return resource_id
    text = f"{names[-1][0]} {names[-1][1]}"
    if len(names) > 1:
        text += f" of {names[-2][1]}"
    return text


def _verb(operation: str) -> str:
    last = operation.rsplit("/", 1)[-1].lower()
    return {"write": "written", "delete": "deleted"}.get(last, f"{last} run on")


def _az_quote(value: str) -> str:
    return shlex.quote(value)


def undo_of_event(resource_id: str, operation: str, sub_status: str) -> str | None:
    """The `az` command undoing an Activity Log change where that is obvious: a rule or route that
    was created (`subStatus` Created) is deleted."""
    if sub_status.lower() != "created" or not operation.lower().endswith("/write"):
        return None
    parts = parse(resource_id)
    group = parts.get("resource_group")
    lowered = key(resource_id)
    if not group:
        return None
    if "/networksecuritygroups/" in lowered and "/securityrules/" in lowered:
        nsg = _segment_after(resource_id, "networksecuritygroups")
        return (
            f"az network nsg rule delete -g {_az_quote(group)} --nsg-name {_az_quote(nsg)} "
            f"-n {_az_quote(name_of(resource_id))}"
        )
    if "/routetables/" in lowered and "/routes/" in lowered:
        table = _segment_after(resource_id, "routetables")
        return (
            f"az network route-table route delete -g {_az_quote(group)} --route-table-name "
            f"{_az_quote(table)} -n {_az_quote(name_of(resource_id))}"
        )
    return None


def _segment_after(resource_id: str, segment: str) -> str:
    """The name after `segment` (lower-case) in an ARM id."""
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    index = lowered.index(segment)
    return parts[index + 1] if index + 1 < len(parts) else ""


def changes_from_events(
    events: Iterable[Any], path: Sequence[str], *, start: datetime, end: datetime
) -> list[PathChange]:
    """The Activity Log events (SDK EventData or REST JSON) to path resources between `start` and
    `end`, one change per operation (the Started/Accepted/Succeeded events of one correlationId /
    operationId folded into one, keeping the final status), newest first."""
    operations: dict[tuple[str, str], tuple[int, datetime, Any]] = {}
    for index, event in enumerate(events):
        resource_id = _field(event, "resource_id", "resourceId") or ""
        operation = _localized(_field(event, "operation_name", "operationName"))
        moment = _time(_field(event, "event_timestamp", "eventTimestamp"))
        if not resource_id or moment is None or not start <= moment <= end:
            continue
        if operation.lower().endswith("/read") or not on_path(resource_id, path):
            continue
        ident = (
            _field(event, "operation_id", "operationId")
            or _field(event, "correlation_id", "correlationId")
            or _field(event, "event_data_id", "eventDataId")
            or f"#{index}"
        )
        fold = (key(str(ident)), key(resource_id))
        status = _localized(_field(event, "status", "status"))
        rank = _FINAL.get(status.lower(), 2)
        held = operations.get(fold)
        if held is None or (rank, moment) > (held[0], held[1]):
            operations[fold] = (rank, moment, event)
    changes = [_change(event, moment) for _, moment, event in operations.values()]
    return sorted(changes, key=_newest_first)


def _change(event: Any, moment: datetime) -> PathChange:
    resource_id = _field(event, "resource_id", "resourceId") or ""
    operation = _localized(_field(event, "operation_name", "operationName"))
    status = _localized(_field(event, "status", "status")) or "Unknown"
    sub_status = _localized(_field(event, "sub_status", "subStatus"))
    who, client = caller_of(_field(event, "caller", "caller"), _field(event, "claims", "claims"))
    # What changed; who and when are the change's own fields (messages word them once).
    verb = _verb(operation)
    verb = "created" if sub_status.lower() == "created" and verb == "written" else verb
    summary = f"{_describe_resource(resource_id)} {verb}"
    if status.lower() != "succeeded":
        summary += f": {status}"
    undo = undo_of_event(resource_id, operation, sub_status) if status.lower() == "succeeded" else None
    return PathChange(
        time=moment,
        resource=resource_id,
        operation=operation,
        caller=who,
        status=status,
        source=ACTIVITY_LOG,
        summary=summary,
        undo=undo,
        client=client,
    )


def _newest_first(change: PathChange) -> tuple[float, str, str]:
    moment = change.time or change.since
    stamp = moment.timestamp() if moment else float("-inf")
    return (-stamp, change.source, change.summary)


# --- the configuration that matters, and its diff -------------------------------------------------------


def _name(value: Any) -> str | None:
    """The name of a referenced resource or child (its id's last segment), or None."""
    identifier = ref_id(value)
    return name_of(identifier) if identifier else None


def _plain(value: Any) -> Any:
    """An SDK value as plain JSON (enums by wire value; lists sorted when of strings)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, list):
        items = [_plain(v) for v in value]
        return sorted(items) if all(isinstance(i, str) for i in items) else items
    return wire(value)


_RULE_VALUES = ("priority", "access", "direction", "protocol")
_RULE_TEXTS = ("sourceAddressPrefix", "sourcePortRange", "destinationAddressPrefix", "destinationPortRange")
_RULE_LISTS = (
    "sourceAddressPrefixes",
    "sourcePortRanges",
    "destinationAddressPrefixes",
    "destinationPortRanges",
)
_RULE_GROUPS = ("sourceApplicationSecurityGroups", "destinationApplicationSecurityGroups")


def _rule(rule: Any) -> dict[str, Any]:
    """A security rule (an SDK model, or plain JSON from a listed NSG) by its wire fields."""
    fields = json_properties(rule)
    described: dict[str, Any] = {name: _plain(fields.get(name)) for name in _RULE_VALUES + _RULE_TEXTS}
    described |= {name: _plain(fields.get(name) or []) for name in _RULE_LISTS}
    described |= {
        name: sorted(n for g in models(fields.get(name)) if (n := _name(g))) for name in _RULE_GROUPS
    }
    return {name: described[name] for name in _RULE_ORDER}


_RULE_ORDER = (
    "priority",
    "access",
    "direction",
    "protocol",
    "sourceAddressPrefix",
    "sourceAddressPrefixes",
    "sourcePortRange",
    "sourcePortRanges",
    "destinationAddressPrefix",
    "destinationAddressPrefixes",
    "destinationPortRange",
    "destinationPortRanges",
    *_RULE_GROUPS,
)


def _named(items: Any, describe: Callable[[Any], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in models(items):
        name = json_fields(item).get("name") or _name(item)
        if isinstance(name, str) and name:
            try:
                found[name] = describe(item)
            except Exception:  # a malformed child: left out rather than sink the diagnosis
                continue
    return found


def _described(
    item: Mapping[str, Any],
    plain: tuple[str, ...] = (),
    *,
    lists: tuple[str, ...] = (),
    named: tuple[str, ...] = (),
) -> dict[str, Any]:
    """An item's fields by wire name: values as plain JSON (`lists` read as [] when absent), and the
    names of the resources or children `named` fields refer to."""
    described = {field: _plain(item.get(field)) for field in plain}
    described.update({field: _plain(item.get(field) or []) for field in lists})
    described.update({field: _name(item.get(field)) for field in named})
    return described


def _gateway(gateway: Any) -> dict[str, Any]:
    """The gateway's configuration that matters, read by wire names (its JSON or its model's, alike:
    the whole gateway's model is not made for this)."""
    fields = json_properties(gateway)
    sku, autoscale = json_fields(fields.get("sku")), json_fields(fields.get("autoscaleConfiguration"))

    def each(wire_name: str, describe: Callable[[Mapping[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        return _named(fields.get(wire_name), lambda item: describe(json_properties(item)))

    def settings(s: Mapping[str, Any]) -> dict[str, Any]:
        plain = ("port", "protocol", "requestTimeout", "hostName", "pickHostNameFromBackendAddress")
        described = _described(s, (*plain, "cookieBasedAffinity", "path"), named=("probe",))
        certificates = models(s.get("trustedRootCertificates"))
        return {**described, "trustedRootCertificates": sorted(n for c in certificates if (n := _name(c)))}

    def probe(p: Mapping[str, Any]) -> dict[str, Any]:
        plain = ("protocol", "host", "path", "port", "interval", "timeout", "unhealthyThreshold")
        match = json_fields(p.get("match"))
        return {
            **_described(p, (*plain, "pickHostNameFromBackendHttpSettings")),
            **_described(match, ("body",), lists=("statusCodes",)),
        }

    def pool(p: Mapping[str, Any]) -> dict[str, Any]:
        addresses = map(json_fields, models(p.get("backendAddresses")))
        configurations = models(p.get("backendIPConfigurations"))
        return {
            "addresses": sorted(str(a.get("ipAddress") or a.get("fqdn") or "") for a in addresses),
            "ipConfigurations": sorted(key(i) for c in configurations if (i := ref_id(c))),
        }

    rule_refs = ("httpListener", "backendAddressPool", "backendHttpSettings", "urlPathMap")
    listener_refs = ("frontendIPConfiguration", "frontendPort", "sslCertificate")
    return {
        "props": {
            "sku": _plain(sku.get("name")),
            "capacity": _plain(sku.get("capacity")),
            "minCapacity": _plain(autoscale.get("minCapacity")),
            "maxCapacity": _plain(autoscale.get("maxCapacity")),
        },
        "children": {
            "backendHttpSettingsCollection": each("backendHttpSettingsCollection", settings),
            "probes": each("probes", probe),
            "requestRoutingRules": each(
                "requestRoutingRules",
                lambda r: _described(
                    r, ("ruleType", "priority"), named=(*rule_refs, "redirectConfiguration")
                ),
            ),
            "httpListeners": each(
                "httpListeners",
                lambda listener: _described(
                    listener, ("protocol", "hostName"), lists=("hostNames",), named=listener_refs
                ),
            ),
            "backendAddressPools": each("backendAddressPools", pool),
            "frontendPorts": each("frontendPorts", lambda p: _described(p, ("port",))),
        },
    }


def _subnet(subnet: Any) -> dict[str, Any]:
    fields = json_properties(subnet)  # from its VNet's JSON, or an SDK model (a subnet GET)
    return {
        "props": {
            "addressPrefix": _plain(fields.get("addressPrefix")),
            "addressPrefixes": _plain(fields.get("addressPrefixes") or []),
            "networkSecurityGroup": ref_id(fields.get("networkSecurityGroup")),
            "routeTable": ref_id(fields.get("routeTable")),
            "natGateway": ref_id(fields.get("natGateway")),
        }
    }


def _describe_config(kind: str, model: Any) -> dict[str, Any]:
    if kind == "gateway":
        return _gateway(model)
    if kind == "nsg":
        rules = json_properties(model).get("securityRules")  # a model's or plain JSON's, alike
        return {"props": {}, "children": {"securityRules": _named(rules, _rule)}}
    if kind == "routeTable":
        return {
            "props": {"disableBgpRoutePropagation": _plain(model.disable_bgp_route_propagation)},
            "children": {
                "routes": _named(
                    model.routes,
                    lambda r: {
                        "addressPrefix": _plain(r.address_prefix),
                        "nextHopType": _plain(r.next_hop_type),
                        "nextHopIpAddress": _plain(r.next_hop_ip_address),
                    },
                )
            },
        }
    if kind == "subnet":
        return _subnet(model)
    if kind == "vnet":  # its JSON, or an SDK model: read by wire names
        dhcp = json_fields(json_properties(model).get("dhcpOptions"))
        space = json_fields(json_properties(model).get("addressSpace"))
        return {
            "props": {
                "dnsServers": list(dhcp.get("dnsServers") or []),
                "addressPrefixes": _plain(space.get("addressPrefixes") or []),
            }
        }
    if kind == "nic":  # an SDK model, or plain JSON from its resource group's list: read by wire names
        fields = json_properties(model)
        addresses = [
            json_properties(c).get("privateIPAddress") for c in models(fields.get("ipConfigurations"))
        ]
        return {
            "props": {
                "networkSecurityGroup": ref_id(fields.get("networkSecurityGroup")),
                "privateIpAddresses": sorted(str(address) for address in addresses if address),
            }
        }
    return {"props": {}}


def configuration(snapshot: Snapshot, at: datetime) -> dict[str, Any]:
    """The path's configuration as plain JSON: `{"version", "gateway", "at", "resources": [{"id",
    "kind", "name", "props", "children"?}, ...]}`, most important first (the gateway, its subnet and
    that subnet's NSG and route table, the VNet, the backend subnets, their NSGs and route tables,
    the NICs), so a bound keeps what matters most (state.last_healthy drops from the end)."""
    resources: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(kind: str, model: Any) -> None:
        resource_id = ref_id(model)
        if resource_id is None or key(resource_id) in seen or not is_resource(model):
            return
        seen.add(key(resource_id))
        try:
            described = _describe_config(kind, model)
        except Exception:  # malformed beyond what the checks tolerate: left out
            return
        resources.append({"id": resource_id, "kind": kind, "name": name_of(resource_id), **described})

    def nsg_and_table(subnet: Any) -> None:
        if is_resource(subnet):
            fields = json_properties(subnet)
            add("nsg", snapshot.nsgs.get(key(ref_id(fields.get("networkSecurityGroup")))))
            add("routeTable", snapshot.route_tables.get(key(ref_id(fields.get("routeTable")))))

    add("gateway", snapshot.gateway_wire)
    gateway_subnet = snapshot.subnets.get(key(snapshot.gateway_subnet_id))
    add("subnet", gateway_subnet)
    nsg_and_table(gateway_subnet)
    add("vnet", snapshot.vnet)
    for vnet in snapshot.peered_vnets.values():
        add("vnet", vnet)
    for subnet_id in backend_subnets(snapshot):
        subnet = snapshot.subnets.get(key(subnet_id))
        add("subnet", subnet)
        nsg_and_table(subnet)
    for _, nic in sorted(snapshot.nics.items()):
        add("nic", nic)
        if is_resource(nic):
            add("nsg", snapshot.nsgs.get(key(ref_id(json_properties(nic).get("networkSecurityGroup")))))
    return {
        "version": CONFIGURATION_VERSION,
        "gateway": snapshot.gateway_id,
        "at": format_time(at),
        "resources": resources,
    }


_CHILD_LABELS = {
    "securityRules": "security rule",
    "routes": "route",
    "backendHttpSettingsCollection": "settings",
    "probes": "probe",
    "requestRoutingRules": "routing rule",
    "httpListeners": "listener",
    "backendAddressPools": "backend pool",
    "frontendPorts": "frontend port",
}
_KIND_LABELS = {
    "gateway": "gateway",
    "nsg": "NSG",
    "routeTable": "route table",
    "subnet": "subnet",
    "vnet": "VNet",
    "nic": "NIC",
}
_SECONDS = {"requestTimeout", "interval", "timeout"}
# `az network application-gateway <group> update` flags, per child collection and property.
_GATEWAY_UPDATE = {
    "backendHttpSettingsCollection": (
        "http-settings",
        {
            "requestTimeout": "--timeout",
            "port": "--port",
            "protocol": "--protocol",
            "probe": "--probe",
            "hostName": "--host-name",
            "pickHostNameFromBackendAddress": "--host-name-from-backend-pool",
            "path": "--path",
        },
    ),
    "probes": (
        "probe",
        {
            "path": "--path",
            "host": "--host",
            "protocol": "--protocol",
            "port": "--port",
            "interval": "--interval",
            "timeout": "--timeout",
            "unhealthyThreshold": "--threshold",
        },
    ),
}
_SUBNET_OPTIONS = {
    "routeTable": "--route-table",
    "networkSecurityGroup": "--nsg",
    "natGateway": "--nat-gateway",
}
_RULE_FLAGS = {
    "priority": "--priority",
    "access": "--access",
    "direction": "--direction",
    "protocol": "--protocol",
    "sourceAddressPrefix": "--source-address-prefixes",
    "sourcePortRange": "--source-port-ranges",
    "destinationAddressPrefix": "--destination-address-prefixes",
    "destinationPortRange": "--destination-port-ranges",
}


def describe_rule(rule: Mapping[str, Any]) -> str:
    """`priority 100, Deny Inbound TCP 65200-65535` (from a configuration's rule)."""
    ports = rule.get("destinationPortRange") or ",".join(rule.get("destinationPortRanges") or []) or "*"
    source = rule.get("sourceAddressPrefix") or ",".join(rule.get("sourceAddressPrefixes") or []) or "*"
    text = f"priority {rule.get('priority')}, {rule.get('access')} {rule.get('direction')} "
    text += f"{rule.get('protocol')} {ports}"
    return text + (f" from {source}" if source != "*" else "")


def _describe_child(collection: str, item: Mapping[str, Any]) -> str:
    if collection == "securityRules":
        return describe_rule(item)
    if collection == "routes":
        hop = str(item.get("nextHopType") or "")
        hop += f" {item['nextHopIpAddress']}" if item.get("nextHopIpAddress") else ""
        return f"{item.get('addressPrefix')} -> {hop}"
    shown = [f"{k} {_show(v)}" for k, v in item.items() if v not in (None, [], "")]
    return ", ".join(shown[:4])


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]" if value else "none"
    if value is None or value == "":
        return "none"
    if isinstance(value, str) and value.startswith("/subscriptions/"):
        return name_of(value)
    return str(value)


def _rg(resource_id: str) -> str:
    return _az_quote(parse(resource_id).get("resource_group") or "<resource-group>")


def _undo_child(
    resource: Mapping[str, Any], collection: str, name: str, old: Mapping[str, Any] | None, new: Any
) -> str | None:
    """The `az` command putting a child back: delete one added, re-create one removed (rules, routes)."""
    group, parent, quoted = _rg(resource["id"]), _az_quote(resource["name"]), _az_quote(name)
    if collection == "securityRules":
        if old is None:
            return f"az network nsg rule delete -g {group} --nsg-name {parent} -n {quoted}"
        if new is None:
            flags = " ".join(
                f"{flag} {_az_quote(str(old[prop]))}" for prop, flag in _RULE_FLAGS.items() if old.get(prop)
            )
            return f"az network nsg rule create -g {group} --nsg-name {parent} -n {quoted} {flags}".rstrip()
    if collection == "routes":
        if old is None:
            return f"az network route-table route delete -g {group} --route-table-name {parent} -n {quoted}"
        if new is None:
            command = (
                f"az network route-table route create -g {group} --route-table-name {parent} -n {quoted} "
                f"--address-prefix {_az_quote(str(old.get('addressPrefix')))} "
                f"--next-hop-type {_az_quote(str(old.get('nextHopType')))}"
            )
            if old.get("nextHopIpAddress"):
                command += f" --next-hop-ip-address {_az_quote(str(old['nextHopIpAddress']))}"
            return command
    return None


def _undo_property(
    resource: Mapping[str, Any], collection: str | None, child: str | None, prop: str, old: Any
) -> str | None:
    """The `az` command setting `prop` back to `old`, where one is obvious."""
    group, name = _rg(resource["id"]), _az_quote(resource["name"])
    kind = resource.get("kind")
    if kind == "subnet" and prop in ("routeTable", "networkSecurityGroup", "natGateway"):
        vnet = _az_quote(name_of(parent_id(resource["id"])))
        base = f"az network vnet subnet update -g {group} --vnet-name {vnet} -n {name}"
        option = _SUBNET_OPTIONS[prop]
        return f"{base} --remove {prop}" if not old else f"{base} {option} {_az_quote(str(old))}"
    if kind == "nic" and prop == "networkSecurityGroup":
        base = f"az network nic update -g {group} -n {name}"
        if not old:
            return f"{base} --remove networkSecurityGroup"
        return f"{base} --network-security-group {_az_quote(str(old))}"
    if kind == "vnet" and prop == "dnsServers":
        base = f"az network vnet update -g {group} -n {name}"
        servers = " ".join(_az_quote(str(s)) for s in old or [])
        return f"{base} --dns-servers {servers}" if servers else f"{base} --remove dhcpOptions.dnsServers"
    if kind == "gateway" and collection in _GATEWAY_UPDATE and child is not None:
        command, flags = _GATEWAY_UPDATE[collection]
        flag = flags.get(prop)
        if flag is None or old is None or old == "":
            return None
        value = str(old).lower() if isinstance(old, bool) else str(old)
        return (
            f"az network application-gateway {command} update -g {group} --gateway-name {name} "
            f"-n {_az_quote(child)} {flag} {_az_quote(value)}"
        )
    if kind == "nsg" and collection == "securityRules" and child is not None:
        flag = _RULE_FLAGS.get(prop)
        if flag is None or old in (None, ""):
            return None
        return (
            f"az network nsg rule update -g {group} --nsg-name {name} -n {_az_quote(child)} "
            f"{flag} {_az_quote(str(old))}"
        )
    return None


def _property_summary(
    label: str, owner: str, prop: str, old: Any, new: Any, *, kind: str, collection: str | None
) -> str:
    if collection == "backendHttpSettingsCollection" and prop == "probe":
        if old and not new:
            return f"probe {old} detached from settings {owner}"
        if new and not old:
            return f"probe {new} attached to settings {owner}"
    if kind in ("subnet", "nic") and prop in ("routeTable", "networkSecurityGroup", "natGateway"):
        what = {"routeTable": "route table", "networkSecurityGroup": "NSG", "natGateway": "NAT gateway"}[prop]
        if new and not old:
            return f"{what} {name_of(new)} associated with {label} {owner}"
        if old and not new:
            return f"{what} {name_of(old)} dissociated from {label} {owner}"
        return f"{what} of {label} {owner} changed {name_of(old)} -> {name_of(new)}"
    unit = " s" if prop in _SECONDS else ""
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool):
        direction = "lowered" if new < old else "raised"
        return f"{prop} of {owner} {direction} {old}{unit} -> {new}{unit}"
    return f"{prop} of {label} {owner} changed {_show(old)} -> {_show(new)}"


def diff(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[PathChange]:
    """What appeared, disappeared or changed between the last healthy configuration and today's,
    property by property, as `last-healthy-diff` changes (time None, `since` the healthy one's time).
    A side bounded to fit the state store (`truncated`) lacks resources: one missing from it is
    neither new nor removed; a resource kept without its children (`partial`) compares properties."""
    since = _time(previous.get("at"))
    before = {key(r.get("id")): r for r in previous.get("resources") or [] if isinstance(r, Mapping)}
    after = {key(r.get("id")): r for r in current.get("resources") or [] if isinstance(r, Mapping)}
    partial = {key(i) for i in previous.get("partial") or []} | {key(i) for i in current.get("partial") or []}
    changes: list[PathChange] = []

    def change(resource: str, operation: str, summary: str, undo: str | None = None) -> None:
        changes.append(
            PathChange(
                time=None,
                resource=resource,
                operation=operation,
                caller=None,
                status="changed",
                source=LAST_HEALTHY_DIFF,
                summary=summary,
                since=since,
                undo=undo,
            )
        )

    for resource_key, new in after.items():
        old = before.get(resource_key)
        label = _KIND_LABELS.get(str(new.get("kind")), "resource")
        if old is None:
            if before and not previous.get("truncated"):
                change(new["id"], "added", f"{label} {new.get('name')} is new on the path")
            continue
        for prop in sorted(set(old.get("props") or {}) | set(new.get("props") or {})):
            was, now = (old.get("props") or {}).get(prop), (new.get("props") or {}).get(prop)
            if was != now:
                summary = _property_summary(
                    label, str(new.get("name")), prop, was, now, kind=str(new.get("kind")), collection=None
                )
                change(new["id"], "changed", summary, _undo_property(new, None, None, prop, was))
        if resource_key in partial:
            continue
        old_children, new_children = old.get("children") or {}, new.get("children") or {}
        for collection in sorted(set(old_children) | set(new_children)):
            child_label = _CHILD_LABELS.get(collection, collection)
            was_items, now_items = old_children.get(collection) or {}, new_children.get(collection) or {}
            for child in sorted(set(was_items) | set(now_items)):
                was, now = was_items.get(child), now_items.get(child)
                child_id = f"{new['id']}/{collection}/{child}"
                if was == now:
                    continue
                if was is None:
                    summary = f"{child_label} {child} added to {new.get('name')} "
                    summary += f"({_describe_child(collection, now or {})})"
                    change(child_id, "added", summary, _undo_child(new, collection, child, None, now))
                elif now is None:
                    summary = f"{child_label} {child} removed from {new.get('name')} "
                    summary += f"(was {_describe_child(collection, was)})"
                    change(child_id, "removed", summary, _undo_child(new, collection, child, was, None))
                else:
                    for prop in sorted(set(was) | set(now)):
                        if was.get(prop) != now.get(prop):
                            summary = _property_summary(
                                child_label, child, prop, was.get(prop), now.get(prop),
                                kind=str(new.get("kind")), collection=collection,
                            )  # fmt: skip
                            undo = _undo_property(new, collection, child, prop, was.get(prop))
                            change(child_id, "changed", summary, undo)
    for resource_key, old in before.items():
        if resource_key not in after and not current.get("truncated"):
            label = _KIND_LABELS.get(str(old.get("kind")), "resource")
            change(old["id"], "removed", f"{label} {old.get('name')} is no longer on the path")
    return changes


# --- the tie to findings ----------------------------------------------------------------------------


def is_healthy(findings: Sequence[Finding], checks: Sequence[CheckResult]) -> bool:
    """No critical or warning finding, and every check passed or did not apply."""
    if any(f.severity in (Severity.CRITICAL, Severity.WARNING) for f in findings):
        return False
    return bool(checks) and all(c.status in (CheckStatus.PASSED, CheckStatus.SKIPPED) for c in checks)


def attach(findings: Sequence[Finding], changes: Sequence[PathChange]) -> list[Finding]:
    """Each finding with the changes to its resource, its parents or its children, newest first
    (at most MAX_FINDING_CHANGES)."""
    ordered = sorted(changes, key=_newest_first)
    return [
        replace(
            finding,
            changes=tuple(c for c in ordered if c.touches(finding.resource))[:MAX_FINDING_CHANGES],
        )
        for finding in findings
    ]


def relabel_own_writes(
    changes: Sequence[PathChange], writes: Iterable[tuple[str, datetime]]
) -> list[PathChange]:
    """Activity Log changes that are the bot's own writes — to the same resource (or its parent or
    child) within OWN_WRITE_TOLERANCE of one of `writes` (resource id, when) — as `appgw-doctor`."""
    own = [(resource, at if at.tzinfo else at.replace(tzinfo=timezone.utc)) for resource, at in writes]
    relabelled: list[PathChange] = []
    for change in changes:
        if change.source == ACTIVITY_LOG and change.time is not None:
            moment = change.time
            if any(change.touches(r) and abs(moment - at) <= OWN_WRITE_TOLERANCE for r, at in own):
                change = replace(change, source=APPGW_DOCTOR, undo=None)
        relabelled.append(change)
    return relabelled


def sorted_changes(changes: Iterable[PathChange]) -> list[PathChange]:
    return sorted(changes, key=_newest_first)
