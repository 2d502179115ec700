"""A world (format `appgw-world/v1`, see docs/WORLD_FORMAT.md): loading, validation and state.

`load_world` checks a world file and returns a `World`, the simulator's mutable store of ARM
resources. Every lookup is case-insensitive on resource ids, as ARM is. Every write gives the
resource a new etag (and, as Azure does, the same etag to its inline sub-resources), drops the
verbatim `backendHealth` of every gateway that depends on the written resource, so health is
derived from the new state from then on, and notes when each gateway diverged from the world as
recorded (its traffic metrics are synthesized from then on).

What is computed from the stored resources as a whole (back-references, the resources of a
collection) is kept by `derived` until the resources next change, so serving a request does not
scan the estate.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from netrules.nsg import default_security_rules
from simulator.activity_log import activity_log_problem
from simulator.authorization import Authorization, authorization_problem, parse_authorization
from simulator.backend_spec import backend_problem

SCHEMA = "appgw-world/v1"
PROVIDER = "Microsoft.Network"

# Collection name (as in ARM paths) of every top-level type a world may hold.
TOP_LEVEL_COLLECTIONS = (
    "applicationGateways",
    "virtualNetworks",
    "networkSecurityGroups",
    "routeTables",
    "networkInterfaces",
    "publicIPAddresses",
)
# Inline child collections: parent collection -> the property holding the children.
CHILD_COLLECTIONS = {
    "virtualNetworks": "subnets",
    "networkSecurityGroups": "securityRules",
    "routeTables": "routes",
}

_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.Network/(?P<collection>[^/]+)/(?P<name>[^/]+)$",
    re.IGNORECASE,
)
_ID_IN_TEXT = re.compile(
    r'/subscriptions/[^/"]+/resourceGroups/[^/"]+/providers/Microsoft\.Network/[^/"]+/[^/"]+', re.IGNORECASE
)
_COLLECTION_BY_LOWER = {name.lower(): name for name in TOP_LEVEL_COLLECTIONS}
_PER_NIC_SECTIONS = ("effectiveRouteTables", "effectiveNetworkSecurityGroups")


class WorldError(Exception):
    """A world file that cannot be served; the message is one line naming file and JSON path."""


@dataclass(frozen=True)
class ResourceId:
    """The parts of a top-level Microsoft.Network resource id."""

    subscription: str
    resource_group: str
    collection: str  # canonical spelling, e.g. "applicationGateways"
    name: str

    @classmethod
    def parse(cls, text: str) -> ResourceId | None:
        match = _RESOURCE_ID.match(text)
        if match is None or match["collection"].lower() not in _COLLECTION_BY_LOWER:
            return None
        return cls(
            match["sub"], match["rg"], _COLLECTION_BY_LOWER[match["collection"].lower()], match["name"]
        )

    @property
    def type(self) -> str:
        return f"{PROVIDER}/{self.collection}"

    def __str__(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/{self.collection}/{self.name}"
        )


def new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def canonical_collection(name: str) -> str | None:
    """The canonical spelling of a top-level collection name, or None when unknown."""
    return _COLLECTION_BY_LOWER.get(name.lower())


class IdMap:
    """A dict keyed by resource id, compared case-insensitively; remembers each key's spelling."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, Any]] = {}

    def __contains__(self, key: str) -> bool:
        return key.lower() in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> Any:
        item = self._items.get(key.lower())
        return None if item is None else item[1]

    def set(self, key: str, value: Any) -> None:
        self._items[key.lower()] = (key, value)

    def pop(self, key: str) -> Any:
        item = self._items.pop(key.lower(), None)
        return None if item is None else item[1]

    def items(self) -> Iterator[tuple[str, Any]]:
        yield from self._items.values()

    def values(self) -> Iterator[Any]:
        for _, value in self._items.values():
            yield value

    def copy(self) -> IdMap:
        """Another map of the same keys and values (the values themselves, not copies)."""
        copied = IdMap()
        copied._items = dict(self._items)
        return copied


class WorldView:
    """The stored resources as they were when `World.view` was taken, readable without the world's
    lock: a write replaces a stored resource and never changes one in place, so what the view holds
    stays as it was while the world moves on."""

    def __init__(self, resources: IdMap) -> None:
        self._resources = resources

    def stored(self, resource_id: str) -> dict[str, Any] | None:
        """The resource's ARM JSON as it was, itself (not a copy: for readers only), or None."""
        return self._resources.get(resource_id)


class World:
    """The simulated estate. Callers serialise access with `lock` (the server holds it per request)."""

    def __init__(
        self,
        *,
        subscription_id: str,
        clock: datetime,
        resources: IdMap,
        backend_health: IdMap,
        effective_route_tables: IdMap,
        effective_network_security_groups: IdMap,
        metrics: IdMap,
        dns: dict[str, Any],
        backends: dict[str, Any],
        authorization: Authorization | None = None,
        activity_log: list[dict[str, Any]] | None = None,
    ) -> None:
        self.subscription_id = subscription_id
        # What the caller may do (the `authorization` section); None: everything.
        self.authorization = authorization
        self.clock = clock
        self.dns = dns
        self.backends = backends
        self.lock = threading.RLock()
        # The time writes happen at: a Simulator sets its own clock here.
        self.now: Callable[[], datetime] = lambda: clock
        self._diverged = IdMap()  # gateway id -> when the first write it depends on happened
        self._resources = resources
        self._backend_health = backend_health
        self._recorded_health = IdMap()  # backendHealth as the world recorded it, kept after writes
        for key, value in backend_health.items():
            self._recorded_health.set(key, copy.deepcopy(value))
        self._effective_route_tables = effective_route_tables
        self._effective_nsgs = effective_network_security_groups
        self._metrics = metrics
        # Activity Log events: the world's, then one per write phase the simulator logs, in order.
        self._activity_log: list[dict[str, Any]] = copy.deepcopy(activity_log or [])
        self._derived: dict[Any, Any] = {}  # see `derived`

    def derived(self, key: Any, build: Callable[[], Any]) -> Any:
        """What `build()` computes from the stored resources, built once and kept until they change
        (a write, or a provisioning state moving on). `key` names it (the function or class that
        derives it, say); callers only read it."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    def _changed(self) -> None:
        """Every change to the stored resources comes through here."""
        self._derived.clear()

    # -- reads -------------------------------------------------------------------------------

    def get(self, resource_id: str) -> dict[str, Any] | None:
        """A copy of the current ARM JSON of a top-level resource, or None."""
        resource = self._resources.get(resource_id)
        return copy.deepcopy(resource) if resource is not None else None

    def list_resources(
        self, collection: str, subscription: str, resource_group: str | None = None
    ) -> list[dict[str, Any]]:
        """Copies of the resources of one collection in a subscription (optionally one group)."""
        return [copy.deepcopy(r) for r in self.list_stored(collection, subscription, resource_group)]

    def list_stored(
        self, collection: str, subscription: str, resource_group: str | None = None
    ) -> list[dict[str, Any]]:
        """`list_resources`, the stored bodies themselves (not copies: for callers that only read them)."""
        found = []
        for parsed, resource in self._by_collection().get(collection, []):
            if parsed.subscription.lower() != subscription.lower():
                continue
            if resource_group is not None and parsed.resource_group.lower() != resource_group.lower():
                continue
            found.append(resource)
        return found

    def _by_collection(self) -> dict[str, list[tuple[ResourceId, dict[str, Any]]]]:
        """Collection -> (parsed id, stored resource) of each of its resources, in store order."""

        def build() -> dict[str, list[tuple[ResourceId, dict[str, Any]]]]:
            index: dict[str, list[tuple[ResourceId, dict[str, Any]]]] = {}
            for resource in self._resources.values():
                parsed = ResourceId.parse(resource["id"])
                if parsed is not None:
                    index.setdefault(parsed.collection, []).append((parsed, resource))
            return index

        return self.derived(World._by_collection, build)

    def resource_group_exists(self, subscription: str, resource_group: str) -> bool:
        groups = self.derived(
            World.resource_group_exists, lambda: {_group_prefix(r["id"]) for r in self._resources.values()}
        )
        return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/".lower() in groups

    def get_child(self, parent_id: str, collection: str, name: str) -> dict[str, Any] | None:
        parent = self._resources.get(parent_id)
        if parent is None:
            return None
        for child in parent["properties"].get(collection) or []:
            if str(child.get("name", "")).lower() == name.lower():
                return copy.deepcopy(child)
        return None

    def list_children(self, parent_id: str, collection: str) -> list[dict[str, Any]] | None:
        parent = self._resources.get(parent_id)
        if parent is None:
            return None
        return copy.deepcopy(parent["properties"].get(collection) or [])

    def verbatim_backend_health(self, gateway_id: str) -> dict[str, Any] | None:
        """The world's `backendHealth` of a gateway, while that gateway and what it depends on
        have not been written to."""
        body = self._backend_health.get(gateway_id)
        return copy.deepcopy(body) if body is not None else None

    def recorded_backend_health(self, gateway_id: str) -> dict[str, Any] | None:
        """The world's `backendHealth` of a gateway as recorded, even after writes: what it says
        of servers the world's `backends` does not describe still holds."""
        body = self._recorded_health.get(gateway_id)
        return copy.deepcopy(body) if body is not None else None

    def view(self) -> WorldView:
        """The stored resources as they are now, for a reader outside `lock` (see `WorldView`)."""
        return WorldView(self._resources.copy())

    def stored_resources(self) -> Iterator[dict[str, Any]]:
        """The stored resources themselves, not copies: for callers that only read them."""
        yield from self._resources.values()

    def stored(self, resource_id: str) -> dict[str, Any] | None:
        """The stored resource itself, not a copy, or None: for callers that only read it."""
        return self._resources.get(resource_id)

    def effective_route_table(self, nic_id: str) -> dict[str, Any] | None:
        body = self._effective_route_tables.get(nic_id)
        return copy.deepcopy(body) if body is not None else None

    def effective_network_security_groups(self, nic_id: str) -> dict[str, Any] | None:
        body = self._effective_nsgs.get(nic_id)
        return copy.deepcopy(body) if body is not None else None

    def diverged_at(self, gateway_id: str) -> datetime | None:
        """When the gateway, or something it depends on, was first written (None: never), i.e.
        since when the world's recorded metrics no longer describe it."""
        return self._diverged.get(gateway_id)

    def activity_events(self) -> list[dict[str, Any]]:
        """The Activity Log events themselves, not copies, in the order they were logged: for
        callers that only read them."""
        return self._activity_log

    def log_event(self, event: dict[str, Any]) -> None:
        """Append an Activity Log event (the simulator's own, for a write it accepted)."""
        self._activity_log.append(copy.deepcopy(event))

    def metric_items(self, resource_id: str) -> list[dict[str, Any]] | None:
        """The metric items the world gives for a resource, or None when it gives none."""
        items = self._metrics.get(resource_id)
        return copy.deepcopy(items) if items is not None else None

    # -- writes ------------------------------------------------------------------------------

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Store a top-level resource (its `id` says where), giving it and its children a new etag."""
        stored = copy.deepcopy(resource)
        _stamp_etag(stored, new_etag())
        self._resources.set(stored["id"], stored)
        self._changed()
        self._written(stored["id"])
        return copy.deepcopy(stored)

    def put_child(self, parent_id: str, collection: str, child: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an inline child (matched by name); the parent gets a new etag."""
        parent = copy.deepcopy(self._resources.get(parent_id))
        children = parent["properties"].setdefault(collection, [])
        for index, existing in enumerate(children):
            if str(existing.get("name", "")).lower() == child["name"].lower():
                children[index] = copy.deepcopy(child)
                break
        else:
            children.append(copy.deepcopy(child))
        stored = self.put(parent)
        return next(c for c in stored["properties"][collection] if c["name"].lower() == child["name"].lower())

    def delete_child(self, parent_id: str, collection: str, name: str) -> bool:
        """Remove an inline child; False when there was none."""
        parent = copy.deepcopy(self._resources.get(parent_id))
        children = parent["properties"].get(collection) or []
        kept = [child for child in children if str(child.get("name", "")).lower() != name.lower()]
        if len(kept) == len(children):
            return False
        parent["properties"][collection] = kept
        self.put(parent)
        return True

    def patch(self, resource_id: str, change: dict[str, Any]) -> None:
        """Apply a JSON merge patch (RFC 7386) to a stored resource, as another writer would."""
        resource = self._resources.get(resource_id)
        if resource is not None:
            self.put(merge_patch(resource, change))

    def patch_child(self, parent_id: str, collection: str, name: str, change: dict[str, Any]) -> None:
        """Apply a JSON merge patch to a stored inline child, as another writer would."""
        child = self.get_child(parent_id, collection, name)
        if child is not None:
            self.put_child(parent_id, collection, merge_patch(child, change))

    def set_provisioning_state(
        self, resource_id: str, state: str, *, child: tuple[str, str] | None = None
    ) -> None:
        """Mark a resource (and its inline sub-resources), or one inline child, as a long-running
        operation moves on; not a write, so the etag stays."""
        stored = self._resources.get(resource_id)
        if stored is None:
            return
        # a stored resource is replaced, never changed in place: a `view` taken earlier still holds it
        resource = copy.deepcopy(stored)
        if child is None:
            targets = [resource] + [
                item
                for value in resource["properties"].values()
                if isinstance(value, list)
                for item in value
                if isinstance(item, dict) and "name" in item
            ]
        else:
            collection, name = child
            targets = [
                item
                for item in resource["properties"].get(collection) or []
                if str(item.get("name", "")).lower() == name.lower()
            ]
        for target in targets:
            target.setdefault("properties", {})["provisioningState"] = state
        self._resources.set(resource["id"], resource)
        self._changed()

    def dump(self, clock: datetime) -> dict[str, Any]:
        """The current world in the `appgw-world/v1` format."""
        world: dict[str, Any] = {
            "schema": SCHEMA,
            "clock": clock.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "subscriptionId": self.subscription_id,
            "resources": [copy.deepcopy(resource) for resource in self._resources.values()],
        }
        for section, store in (
            ("backendHealth", self._backend_health),
            ("effectiveRouteTables", self._effective_route_tables),
            ("effectiveNetworkSecurityGroups", self._effective_nsgs),
            ("metrics", self._metrics),
        ):
            if len(store):
                world[section] = {key: copy.deepcopy(value) for key, value in store.items()}
        if self.dns:
            world["dns"] = copy.deepcopy(self.dns)
        if self.backends:
            world["backends"] = copy.deepcopy(self.backends)
        if self.authorization is not None:
            world["authorization"] = copy.deepcopy(self.authorization.section)
        if self._activity_log:
            world["activityLog"] = copy.deepcopy(self._activity_log)
        return world

    def _written(self, resource_id: str) -> None:
        gateways = [
            r["id"] for r in self._resources.values() if r["type"].lower().endswith("/applicationgateways")
        ]
        for gateway_id in gateways:
            if resource_id.lower() in self._dependencies(gateway_id):
                self._backend_health.pop(gateway_id)
                if gateway_id not in self._diverged:
                    self._diverged.set(gateway_id, self.now())

    def _dependencies(self, gateway_id: str) -> set[str]:
        """Lower-cased ids of the gateway and every resource reachable from it through ids in the
        JSON (its subnet's VNet with every subnet's NSG and route table, pool NICs, their NSGs...)."""
        seen: set[str] = set()
        pending = [gateway_id.lower()]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            resource = self._resources.get(current)
            if resource is not None:
                for found in _ID_IN_TEXT.findall(json.dumps(resource)):
                    pending.append(found.lower())
        return seen


def _group_prefix(resource_id: str) -> str:
    """``/subscriptions/<s>/resourcegroups/<g>/``, lower-cased, of a stored (well-formed) resource id."""
    return "/".join(resource_id.lower().split("/")[:5]) + "/"


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` with a JSON merge patch (RFC 7386) applied; neither argument is modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _stamp_etag(resource: dict[str, Any], etag: str) -> None:
    resource["etag"] = etag
    for value in (resource.get("properties") or {}).values():
        if isinstance(value, list):
            for child in value:
                if isinstance(child, dict) and "name" in child:
                    child["etag"] = etag


# -- loading -------------------------------------------------------------------------------


def load_world(source: str | Path | dict[str, Any]) -> World:
    """Check a world (a file path or an already-parsed dict) and build the simulator's store.

    Raises WorldError with a one-line message naming the file and the JSON path at fault.
    """
    if isinstance(source, dict):
        label, document = "world", copy.deepcopy(source)
    else:
        label = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as error:
            raise WorldError(f"{label}: cannot read: {error.strerror or error}") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise WorldError(f"{label}: not JSON: {error.msg} at line {error.lineno}") from None
    return _WorldReader(label).read(document)


def load_authorization(section: Any, label: str = "authorization") -> Authorization | None:
    """Check an `authorization` section on its own (None: no section, everything allowed)."""
    return None if section is None else _WorldReader(label).authorization({"authorization": section})


class _WorldReader:
    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, path: str, problem: str) -> WorldError:
        return WorldError(f"{self.label}: {path}: {problem}")

    def read(self, document: Any) -> World:
        if not isinstance(document, dict):
            raise self.fail("$", "a world must be a JSON object")
        if document.get("schema") != SCHEMA:
            raise self.fail("$.schema", f'must be "{SCHEMA}", got {json.dumps(document.get("schema"))}')
        subscription_id = document.get("subscriptionId")
        if not isinstance(subscription_id, str) or not subscription_id:
            raise self.fail("$.subscriptionId", "missing or not a string")
        resources = IdMap()
        raw_resources = document.get("resources", [])
        if not isinstance(raw_resources, list):
            raise self.fail("$.resources", "must be a list")
        for index, raw in enumerate(raw_resources):
            resource = self.resource(raw, f"$.resources[{index}]")
            if resource["id"] in resources:
                raise self.fail(f"$.resources[{index}].id", f"duplicate resource id {resource['id']}")
            resources.set(resource["id"], resource)
        per_nic = {
            section: self.id_keyed(document, section, resources, "networkInterfaces", dict)
            for section in _PER_NIC_SECTIONS
        }
        clock = self.clock(document.get("clock"))
        return World(
            subscription_id=subscription_id,
            clock=clock,
            resources=resources,
            backend_health=self.id_keyed(document, "backendHealth", resources, "applicationGateways", dict),
            effective_route_tables=per_nic["effectiveRouteTables"],
            effective_network_security_groups=per_nic["effectiveNetworkSecurityGroups"],
            metrics=self.id_keyed(document, "metrics", None, None, list),
            dns=self.object_section(document, "dns"),
            backends=self.backends(document),
            authorization=self.authorization(document),
            activity_log=self.activity_log(document, subscription_id, clock),
        )

    def clock(self, value: Any) -> datetime:
        if value is None:
            return datetime.now(timezone.utc)
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise self.fail("$.clock", f"not an ISO 8601 time: {json.dumps(value)}") from None
        if parsed.tzinfo is None:
            raise self.fail("$.clock", "needs a time zone (e.g. a trailing Z)")
        return parsed.astimezone(timezone.utc)

    def resource(self, raw: Any, path: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(path, "a resource must be a JSON object")
        for key in ("id", "type"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise self.fail(f"{path}.{key}", "missing or not a string")
        parsed = ResourceId.parse(raw["id"])
        type_name = raw["type"]
        if canonical_collection(type_name.rpartition("/")[2]) is None or not type_name.lower().startswith(
            f"{PROVIDER.lower()}/"
        ):
            raise self.fail(f"{path}.type", f"unknown resource type {type_name}")
        if parsed is None:
            raise self.fail(f"{path}.id", f"not a Microsoft.Network resource id: {raw['id']}")
        if parsed.type.lower() != type_name.lower():
            raise self.fail(f"{path}.type", f"{type_name} does not match the id's type {parsed.type}")
        if "name" in raw and str(raw["name"]).lower() != parsed.name.lower():
            raise self.fail(f"{path}.name", f"{raw['name']} does not match the id's name {parsed.name}")
        properties = raw.get("properties", {})
        if not isinstance(properties, dict):
            raise self.fail(f"{path}.properties", "must be a JSON object")
        resource = copy.deepcopy(raw)
        resource.setdefault("name", parsed.name)
        resource["properties"] = properties = copy.deepcopy(properties)
        etag = resource.setdefault("etag", new_etag())
        child_collection = CHILD_COLLECTIONS.get(parsed.collection)
        if child_collection is not None:
            self.children(resource, child_collection, etag, f"{path}.properties.{child_collection}")
        if parsed.collection == "networkSecurityGroups" and "defaultSecurityRules" not in properties:
            properties["defaultSecurityRules"] = default_security_rules(resource["id"])
            for rule in properties["defaultSecurityRules"]:
                rule.setdefault("etag", etag)
        return resource

    def children(self, resource: dict[str, Any], collection: str, etag: str, path: str) -> None:
        children = resource["properties"].get(collection, [])
        if not isinstance(children, list):
            raise self.fail(path, "must be a list")
        seen: set[str] = set()
        for index, child in enumerate(children):
            if not isinstance(child, dict):
                raise self.fail(f"{path}[{index}]", "must be a JSON object")
            name = child.get("name")
            if not isinstance(name, str) or not name:
                raise self.fail(f"{path}[{index}].name", "missing or not a string")
            if name.lower() in seen:
                raise self.fail(f"{path}[{index}].name", f"duplicate name {name}")
            seen.add(name.lower())
            child_id = f"{resource['id']}/{collection}/{name}"
            if "id" in child and str(child["id"]).lower() != child_id.lower():
                raise self.fail(
                    f"{path}[{index}].id", f"{child['id']} is not under its parent {resource['id']}"
                )
            if not isinstance(child.get("properties", {}), dict):
                raise self.fail(f"{path}[{index}].properties", "must be a JSON object")
            child.setdefault("id", child_id)
            child.setdefault("type", f"{resource['type']}/{collection}")
            child.setdefault("etag", etag)
            child.setdefault("properties", {})

    def id_keyed(
        self,
        document: dict[str, Any],
        section: str,
        resources: IdMap | None,
        collection: str | None,
        value_type: type,
    ) -> IdMap:
        raw = document.get(section, {})
        if not isinstance(raw, dict):
            raise self.fail(f"$.{section}", "must be a JSON object keyed by resource id")
        store = IdMap()
        for key, value in raw.items():
            where = f"$.{section}[{json.dumps(key)}]"
            if not isinstance(value, value_type):
                raise self.fail(where, f"must be a JSON {'object' if value_type is dict else 'list'}")
            if resources is not None:
                parsed = ResourceId.parse(key)
                if parsed is None or parsed.collection != collection or key not in resources:
                    raise self.fail(where, f"no {collection} resource with this id in $.resources")
            if key in store:
                raise self.fail(where, "duplicate resource id (ids are case-insensitive)")
            store.set(key, copy.deepcopy(value))
        return store

    def backends(self, document: dict[str, Any]) -> dict[str, Any]:
        backends = self.object_section(document, "backends")
        for address, entry in backends.items():
            problem = backend_problem(entry)
            if problem is not None:
                raise self.fail(f"$.backends[{json.dumps(address)}]{problem[0]}", problem[1])
        return backends

    def authorization(self, document: dict[str, Any]) -> Authorization | None:
        if "authorization" not in document:
            return None
        problem = authorization_problem(document["authorization"])
        if problem is not None:
            raise self.fail(f"$.authorization{problem[0]}", problem[1])
        return parse_authorization(document["authorization"])

    def activity_log(
        self, document: dict[str, Any], subscription_id: str, clock: datetime
    ) -> list[dict[str, Any]]:
        raw = document.get("activityLog", [])
        problem = activity_log_problem(raw, subscription_id, clock)
        if problem is not None:
            raise self.fail(f"$.activityLog{problem[0]}", problem[1])
        return copy.deepcopy(raw)

    def object_section(self, document: dict[str, Any], section: str) -> dict[str, Any]:
        raw = document.get(section, {})
        if not isinstance(raw, dict):
            raise self.fail(f"$.{section}", "must be a JSON object")
        return copy.deepcopy(raw)
