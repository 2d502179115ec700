"""The ARM REST API of the simulated estate: routing, ARM semantics, long-running operations.

`ArmApi.handle` turns one HTTP request into one response, independent of the HTTP server. It
behaves as ARM does where the SDK can tell: case-insensitive paths and ids, the `{"error":
{"code", "message"}}` envelope, 401 without a bearer token, 404 `ResourceGroupNotFound` /
`ResourceNotFound`, etags with `If-Match` / `If-None-Match` (412 `PreconditionFailed`), and,
when the world has an `authorization` section, Azure RBAC: 403 `AuthorizationFailed` for an
action not granted, 403 `LinkedAuthorizationFailed` for a gateway PUT whose subnets, public IPs or
user-assigned identities the caller may not join or assign (checked before anything is written).

Long-running operations answer at once and finish later: a PUT answers 201 (create) or 200
(update) with `Azure-AsyncOperation`; a DELETE or POST action answers 202 with `Location` and
`Azure-AsyncOperation`; all carry `Retry-After`. The write is visible at once (provisioning state
`Updating` / `Deleting`) and settles when the operation ends (`Succeeded`, or rolled back and
`Failed` under an `lro-fail` fault). The operation-status URLs are operations of their own:
`operations.get` (the async-operation status) and `operationResults.get` (the Location: 202 while
running, then the result).

The Azure Activity Log (`activityLogs.list`, simulator/activity_log.py) serves the world's events
and logs every write accepted here: `Started` when it is accepted, `Succeeded` / `Failed` when its
operation ends, naming the caller its bearer token names.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from simulator import activity_log
from simulator.activity_log import (
    ActivityLogQueryError,
    WriteRecord,
    caller_identity,
    parse_activity_filter,
    query_activity_log,
    select_fields,
    write_event,
)
from simulator.authorization import (
    DEFAULT_PRINCIPAL_ID,
    authorization_failed_message,
    caller_object_id,
    linked_actions,
    linked_authorization_failed_message,
    required_action,
)
from simulator.effective import effective_network_security_groups, effective_route_table
from simulator.faults import FaultPlan, FaultRule, error_code_for
from simulator.health import certificate_times, derive_backend_health, holds_at, probe_on_demand
from simulator.lro import ArmFailure, Operation, OperationRegistry, Outcome
from simulator.metrics import query_metrics
from simulator.references import BackReferences
from simulator.traffic import overlay_metrics, requests_per_minute, synthesize_traffic_metrics
from simulator.validation import gateway_problem
from simulator.world import CHILD_COLLECTIONS, PROVIDER, ResourceId, World, canonical_collection

DEFAULT_API_VERSION = "2024-05-01"

# Properties Azure computes (read-only in the SDK models, so a PUT body omits them): kept from the
# stored gateway when a PUT replaces it.
_GATEWAY_COMPUTED = (
    "operationalState",
    "resourceGuid",
    "defaultPredefinedSslPolicy",
    "privateEndpointConnections",
)
_SUBRESOURCE_COMPUTED = (
    "backendIPConfigurations",
    "publicCertData",
    "clientCertIssuerDN",
    "validatedCertData",
)

_SECURITY_RULE_ENUMS = {
    "access": ("Allow", "Deny"),
    "direction": ("Inbound", "Outbound"),
    "protocol": ("Tcp", "Udp", "Icmp", "Esp", "Ah", "*"),
}
_NEXT_HOP_TYPES = ("VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance", "None")
# `World.derived` key of the NSGs' rules (NSG id -> netrules NsgRules) health derivations share
_NSG_RULES = "nsg rules"
_DERIVED_HEALTH = "derived backend health"  # gateway id -> _DerivedHealth


class ArmError(Exception):
    """An ARM error answer: status, error code and message (the envelope the SDK parses)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class ArmRequest:
    method: str
    path: str  # without the query string, percent-decoded
    query: dict[str, str]  # keys lower-cased
    headers: dict[str, str]  # keys lower-cased
    body: bytes = b""

    @classmethod
    def from_http(cls, method: str, target: str, headers: Mapping[str, str], body: bytes) -> ArmRequest:
        parts = urllib.parse.urlsplit(target)
        path = re.sub(r"/+", "/", urllib.parse.unquote(parts.path))
        if len(path) > 1:
            path = path.rstrip("/")
        query = {
            key.lower(): value for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        }
        return cls(method.upper(), path, query, {key.lower(): value for key, value in headers.items()}, body)


@dataclass
class ArmResponse:
    status: int
    body: Any = None  # JSON-serialisable, or None for no body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    operation: str  # may name a path group: "{collection}.get"
    handler: str
    long_running: bool = False
    put: bool = False


def _route(method: str, path: str, operation: str, handler: str, **flags: bool) -> _Route:
    return _Route(method, re.compile(path + r"$", re.IGNORECASE), operation, handler, **flags)


_SUB = r"^/subscriptions/(?P<sub>[^/]+)"
_NET = _SUB + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Network"
_TOP = _NET + r"/(?P<collection>[^/]+)/(?P<name>[^/]+)"
_CHILD = _TOP + r"/(?P<child>[^/]+)"
_GATEWAY = _NET + r"/(?P<collection>applicationGateways)/(?P<name>[^/]+)"
_NIC = _NET + r"/(?P<collection>networkInterfaces)/(?P<name>[^/]+)"
_ROUTES = (
    _route(
        "GET",
        _SUB + r"/providers/Microsoft\.Network/locations/[^/]+/operations/(?P<op>[^/]+)",
        "operations.get",
        "operation_status",
    ),
    _route(
        "GET",
        _SUB + r"/providers/Microsoft\.Network/locations/[^/]+/operationResults/(?P<op>[^/]+)",
        "operationResults.get",
        "operation_result",
    ),
    _route(
        "GET",
        r"^(?P<resource>/subscriptions/.+)/providers/Microsoft\.Insights/metrics",
        "metrics.list",
        "metrics",
    ),
    _route(
        "GET",
        r"^(?P<scope>/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Insights/eventtypes/management)/values",
        "activityLogs.list",
        "activity_logs",
    ),
    _route(
        "GET",
        _SUB + r"/providers/Microsoft\.Network/(?P<collection>[^/]+)",
        "{collection}.listAll",
        "list_all",
    ),
    _route("GET", _NET + r"/(?P<collection>[^/]+)", "{collection}.list", "list"),
    _route("GET", _TOP, "{collection}.get", "get"),
    _route("PUT", _TOP, "{collection}.createOrUpdate", "put", long_running=True, put=True),
    _route(
        "POST",
        _GATEWAY + r"/backendhealth",
        "applicationGateways.backendHealth",
        "backend_health",
        long_running=True,
    ),
    _route(
        "POST",
        _GATEWAY + r"/getBackendHealthOnDemand",
        "applicationGateways.backendHealthOnDemand",
        "backend_health_on_demand",
        long_running=True,
    ),
    _route(
        "POST",
        _NIC + r"/effectiveRouteTable",
        "networkInterfaces.getEffectiveRouteTable",
        "effective_route_table",
        long_running=True,
    ),
    _route(
        "POST",
        _NIC + r"/effectiveNetworkSecurityGroups",
        "networkInterfaces.listEffectiveNetworkSecurityGroups",
        "effective_network_security_groups",
        long_running=True,
    ),
    _route("GET", _CHILD, "{child}.list", "list_children"),
    _route("GET", _CHILD + r"/(?P<child_name>[^/]+)", "{child}.get", "get_child"),
    _route(
        "PUT",
        _CHILD + r"/(?P<child_name>[^/]+)",
        "{child}.createOrUpdate",
        "put_child",
        long_running=True,
        put=True,
    ),
    _route("DELETE", _CHILD + r"/(?P<child_name>[^/]+)", "{child}.delete", "delete_child", long_running=True),
)


@dataclass(frozen=True)
class _Unlocked:
    """A handler's answer that needs a long derivation (a gateway's backend health): `compute` runs
    outside the world's lock, over a `WorldView` the handler took under it, so the requests of other
    callers are served meanwhile, as ARM serves them while it works out backend health; `finish`
    turns what it computed into the answer and takes the lock itself when it touches the world."""

    compute: Callable[[], Any]
    finish: Callable[[Any], ArmResponse]


@dataclass(frozen=True)
class _DerivedHealth:
    """A gateway's derived backend health, kept with what it was derived at and from (see
    `ArmApi._health_derivation`). The body is served as it is: nothing edits an answer."""

    at: datetime
    certificate_times: tuple[datetime, ...]
    backends: Any
    dns: Any
    body: Any

    def holds(self, now: datetime, backends: Any, dns: Any) -> bool:
        return (
            backends is self.backends and dns is self.dns and holds_at(self.certificate_times, self.at, now)
        )


@dataclass
class _Call:
    """One routed request: its path parameters and the fault rules that fired for it."""

    request: ArmRequest
    params: dict[str, str]
    faults: list[FaultRule]
    operation: str  # the fault-rule operation id, e.g. "applicationGateways.createOrUpdate"
    lro_seconds: float = 0.0
    correlation_id: str = ""  # the x-ms-correlation-request-id of the answer

    @property
    def collection(self) -> str:
        return canonical_collection(self.params["collection"]) or self.params["collection"]

    @property
    def resource_id(self) -> str:
        p = self.params
        group = f"/subscriptions/{p['sub']}/resourceGroups/{p['rg']}"
        return f"{group}/providers/{PROVIDER}/{self.collection}/{p['name']}"

    @property
    def child_collection(self) -> str | None:
        """The canonical child collection name when the parent type has it, else None."""
        expected = CHILD_COLLECTIONS.get(self.collection)
        return expected if expected and expected.lower() == self.params["child"].lower() else None

    def lro_failure(self) -> ArmFailure | None:
        """The error a failing long-running operation ends with (an `lro-fail` fault that fired)."""
        for rule in self.faults:
            if rule.kind == "lro-fail":
                code = rule.code or error_code_for(rule.status)
                return ArmFailure(
                    rule.status,
                    code,
                    f"The {self.operation} operation ended Failed: {code} "
                    f"(HTTP {rule.status}, injected lro-fail fault).",
                )
        return None


def operation_id_for(route: _Route, params: dict[str, str]) -> str:
    """The fault-rule operation id of a routed request, with collection names spelt canonically."""
    collection = canonical_collection(params.get("collection", "")) or params.get("collection", "")
    child = params.get("child", "")
    expected_child = CHILD_COLLECTIONS.get(collection, "")
    if expected_child.lower() == child.lower():
        child = expected_child
    return route.operation.format(collection=collection, child=child)


class ArmApi:
    """Serves ARM requests against a `World`, with faults and long-running operations."""

    def __init__(
        self,
        world: World,
        faults: FaultPlan,
        *,
        clock: Callable[[], datetime],
        lro_retry_after: int = 0,
        list_page_size: int | None = None,
    ) -> None:
        self.world = world
        self.faults = faults
        self.base_url = ""
        self._clock = clock
        self._lro_retry_after = lro_retry_after
        # Items per page of a resource list (`nextLink` to the next): ARM pages long lists, at a size
        # it chooses. None: every list in one page.
        self._list_page_size = list_page_size
        self._operations = OperationRegistry(lambda: _iso(self._clock()))

    # -- entry point -----------------------------------------------------------------------------

    def route(self, request: ArmRequest) -> tuple[str, _Route | None, dict[str, str]]:
        """The operation id, route and path parameters of a request ("unknown" when none fits)."""
        path_matched = None
        for route in _ROUTES:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            if route.method == request.method:
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                return operation_id_for(route, params), route, params
            path_matched = path_matched or route
        return ("unsupported" if path_matched else "unknown"), None, {}

    def handle(self, request: ArmRequest) -> tuple[str, ArmResponse]:
        """The operation id of the request and the answer to it."""
        operation_id, route, params = self.route(request)
        correlation_id = request.headers.get("x-ms-client-request-id") or str(uuid.uuid4())
        try:
            response = self._dispatch(request, operation_id, route, params, correlation_id)
        except ArmError as error:
            response = ArmResponse(
                error.status, {"error": {"code": error.code, "message": error.message}}, dict(error.headers)
            )
        except Exception as error:  # a simulator bug answers 500, as a broken RP would, and is logged
            traceback.print_exc(file=sys.stderr)
            response = ArmResponse(
                500,
                {
                    "error": {
                        "code": "InternalServerError",
                        "message": f"Simulator error: {type(error).__name__}: {error}",
                    }
                },
            )
        response.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        response.headers.setdefault("x-ms-correlation-request-id", correlation_id)
        return operation_id, response

    def _dispatch(
        self,
        request: ArmRequest,
        operation_id: str,
        route: _Route | None,
        params: dict[str, str],
        correlation_id: str = "",
    ) -> ArmResponse:
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or is not a Bearer token.",
                {"WWW-Authenticate": 'Bearer authorization_uri="simulator"'},
            )
        if route is None:
            if operation_id == "unsupported":
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The simulator does not support {request.method} on {request.path}.",
                )
            raise ArmError(404, "NotFound", f"The simulator serves no API at {request.path}.")
        if not request.query.get("api-version"):
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        subscription = params.get("sub") or _subscription_of(params.get("resource", ""))
        if subscription.lower() != self.world.subscription_id.lower():
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found."
            )
        self._authorize(request, route, params, authorization)
        kinds = {"latency", "throttle", "error"}
        kinds |= {"lro-fail"} if route.long_running else set()
        kinds |= {"concurrent-write"} if route.put else set()
        fired = self.faults.draw(operation_id, kinds)
        call = _Call(request, params, fired, operation_id, correlation_id=correlation_id)
        latency = sum(rule.seconds for rule in fired if rule.kind == "latency")
        if route.long_running:
            call.lro_seconds = latency
        elif latency:
            time.sleep(latency)
        for rule in fired:
            if rule.kind in ("throttle", "error"):
                raise _fault_error(rule)
        with self.world.lock:
            self._operations.settle_due()
            answer = getattr(self, "_" + route.handler)(call)
        if isinstance(answer, _Unlocked):
            return answer.finish(answer.compute())
        return answer

    # -- authorization ---------------------------------------------------------------------------

    def _authorize(
        self, request: ArmRequest, route: _Route, params: dict[str, str], authorization_header: str
    ) -> None:
        """403 unless the world's `authorization` grants the request's action (and, for a gateway
        PUT, the linked actions on what its body references), before anything is read or written."""
        granted = self.world.authorization
        if granted is None:
            return
        call = _Call(request, params, [], "")
        collection = call.collection if "collection" in params else ""
        child = (call.child_collection or params["child"]) if "child" in params else ""
        action = required_action(route.handler, collection, child)
        if action is None:
            return
        scope = _authorization_scope(call)
        object_id = caller_object_id(authorization_header, granted.principal_id)
        if not granted.allows(action):
            raise ArmError(403, "AuthorizationFailed", authorization_failed_message(object_id, action, scope))
        if route.handler != "put" or collection != "applicationGateways":
            return
        try:
            body = json.loads(request.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return  # the handler answers 400
        if not isinstance(body, dict):
            return
        missing = [(linked, target) for linked, target in linked_actions(body) if not granted.allows(linked)]
        if missing:
            raise ArmError(
                403,
                "LinkedAuthorizationFailed",
                linked_authorization_failed_message(object_id, action, scope, missing),
            )

    # -- reads -----------------------------------------------------------------------------------

    def _get(self, call: _Call) -> ArmResponse:
        return ArmResponse(200, self._references().served(self._existing(call, stored=True)))

    def _list(self, call: _Call) -> ArmResponse:
        p = call.params
        if not self.world.resource_group_exists(p["sub"], p["rg"]):
            raise _resource_group_not_found(p["rg"])
        found = self.world.list_stored(call.collection, p["sub"], p["rg"])
        references = self._references()
        return self._page(call, [references.served(resource) for resource in found], self._list_page_size)

    def _list_all(self, call: _Call) -> ArmResponse:
        found = self.world.list_stored(call.collection, call.params["sub"])
        references = self._references()
        return self._page(call, [references.served(resource) for resource in found], self._list_page_size)

    def _page(self, call: _Call, items: list[Any], size: int | None) -> ArmResponse:
        """One page of `items` (from `$skiptoken`, `size` of them; all when None), with the `nextLink`
        to the next page when there is one."""
        q = call.request.query
        skip = q.get("$skiptoken", "0")
        if not skip.isdigit():
            raise ArmError(400, "BadRequest", "The $skiptoken query parameter value is invalid.")
        first = int(skip)
        size = size or max(1, len(items) - first)
        body: dict[str, Any] = {"value": items[first : first + size]}
        if first + size < len(items):
            parameters = {key: value for key, value in q.items() if key != "$skiptoken"}
            parameters["$skiptoken"] = str(first + size)
            body["nextLink"] = (
                f"{self.base_url}{urllib.parse.quote(call.request.path)}?"
                + urllib.parse.urlencode(parameters, quote_via=urllib.parse.quote)
            )
        return ArmResponse(200, body)

    def _get_child(self, call: _Call) -> ArmResponse:
        collection = self._child_collection(call)
        child = self.world.get_child(call.resource_id, collection, call.params["child_name"])
        if child is None:
            raise ArmError(
                404,
                "NotFound",
                f"Resource {call.resource_id}/{collection}/{call.params['child_name']} not found.",
            )
        return ArmResponse(200, self._served_child(collection, child))

    def _list_children(self, call: _Call) -> ArmResponse:
        collection = self._child_collection(call)
        children = self.world.list_children(call.resource_id, collection) or []
        return ArmResponse(200, {"value": [self._served_child(collection, child) for child in children]})

    def _references(self) -> BackReferences:
        """The estate's back-references, found once until the resources change."""
        return self.world.derived(BackReferences, lambda: BackReferences(self.world.stored_resources()))

    def _served_child(self, collection: str, child: dict[str, Any] | None) -> dict[str, Any] | None:
        """An inline child as ARM serves it: a subnet with its back-references."""
        if child is not None and collection == "subnets":
            return self._references().subnet(child)
        return child

    def _lookup(self, resource_id: str) -> dict[str, Any] | None:
        """A top-level resource as ARM serves it (back-references included), or None."""
        resource = self.world.get(resource_id)
        return self._references().resource(resource) if resource is not None else None

    def _metrics(self, call: _Call) -> ArmResponse:
        resource_id = call.params["resource"]
        # only read: a copy of a large gateway would cost more than the query
        resource = self.world.stored(resource_id)
        items = self.world.metric_items(resource_id)
        if resource is None and items is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{resource_id}' was not found.")
        since = self.world.diverged_at(resource_id) if resource is not None else None
        if resource is not None and since is not None:
            items = self._traffic_since(resource, items or [], since)
        q = call.request.query
        try:
            body = query_metrics(
                items or [],
                resource_id=resource["id"] if resource else resource_id,
                metricnames=q.get("metricnames"),
                timespan=q.get("timespan"),
                interval=q.get("interval"),
                aggregation=q.get("aggregation"),
                filter=q.get("$filter"),
                region=resource.get("location") if resource else None,
            )
        except ValueError as error:
            raise ArmError(400, "BadRequest", str(error)) from None
        return ArmResponse(200, body)

    def _activity_logs(self, call: _Call) -> ArmResponse:
        q = call.request.query
        try:
            query = parse_activity_filter(q.get("$filter"), self._clock())
        except ActivityLogQueryError as error:
            raise ArmError(400, "BadRequest", str(error)) from None
        events = query_activity_log(self.world.activity_events(), query, select_fields(q.get("$select")))
        return self._page(call, events, activity_log.PAGE_SIZE)

    def _traffic_since(self, gateway: dict[str, Any], recorded: list[dict], since: datetime) -> list[dict]:
        """The recorded metrics up to `since`, then the traffic the gateway's current configuration
        produces (the same backend model as derived health)."""
        synthesized = synthesize_traffic_metrics(
            gateway,
            self._lookup,
            self.world.backends,
            self.world.dns,
            start=since,
            end=self._clock(),
            requests_per_minute=requests_per_minute(recorded, since),
            recorded=self.world.recorded_backend_health(gateway["id"]),
        )
        return overlay_metrics(recorded, synthesized, since)

    # -- writes ----------------------------------------------------------------------------------

    def _put(self, call: _Call) -> ArmResponse:
        if call.collection != "applicationGateways":
            raise ArmError(
                405, "MethodNotAllowed", f"The simulator does not support PUT on {call.collection}."
            )
        if not self.world.resource_group_exists(call.params["sub"], call.params["rg"]):
            raise _resource_group_not_found(call.params["rg"])
        body = _json_object_body(call.request)
        self._concurrent_writes(call, lambda change: self.world.patch(call.resource_id, change))
        existing = self.world.get(call.resource_id)
        _check_preconditions(call.request, existing)
        if "location" not in body and existing is None:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        gateway = _gateway_for_put(call, body, existing, self._pool_references)
        problem = gateway_problem(gateway)
        if problem is not None:
            raise ArmError(400, *problem)
        stored = self.world.put(gateway)
        gateway_id = stored["id"]

        def complete() -> Outcome:
            self.world.set_provisioning_state(gateway_id, "Succeeded")
            return 200, self.world.get(gateway_id)

        def rollback() -> None:
            if existing is None:
                self.world.set_provisioning_state(gateway_id, "Failed")
            else:
                existing["properties"]["provisioningState"] = "Failed"
                self.world.put(existing)

        record = self._write_record(
            call, gateway_id, f"{PROVIDER}/applicationGateways/write", 201 if existing is None else 200
        )
        operation = self._start(call, complete, rollback, record=record)
        return self._accepted(201 if existing is None else 200, operation, stored, async_only=True)

    def _put_child(self, call: _Call) -> ArmResponse:
        collection = self._child_collection(call)
        parent = self._existing(call, parent=True)
        body = _json_object_body(call.request)
        name = call.params["child_name"]
        self._concurrent_writes(
            call, lambda change: self.world.patch_child(call.resource_id, collection, name, change)
        )
        existing = self.world.get_child(call.resource_id, collection, name)
        _check_preconditions(call.request, existing)
        child = copy.deepcopy(body)
        child["name"] = existing["name"] if existing else name
        child["id"] = f"{parent['id']}/{collection}/{child['name']}"
        child["type"] = f"{parent['type']}/{collection}"
        child["properties"]["provisioningState"] = "Updating"
        _validate_child(collection, child, self.world.list_children(call.resource_id, collection) or [])
        stored = self._served_child(collection, self.world.put_child(call.resource_id, collection, child))
        parent_id = parent["id"]

        def complete() -> Outcome:
            self.world.set_provisioning_state(parent_id, "Succeeded", child=(collection, child["name"]))
            return 200, self._served_child(
                collection, self.world.get_child(parent_id, collection, child["name"])
            )

        def rollback() -> None:
            if existing is None:
                self.world.delete_child(parent_id, collection, child["name"])
            else:
                self.world.put_child(parent_id, collection, existing)

        record = self._write_record(
            call, child["id"], f"{parent['type']}/{collection}/write", 201 if existing is None else 200
        )
        operation = self._start(call, complete, rollback, record=record)
        return self._accepted(201 if existing is None else 200, operation, stored, async_only=True)

    def _delete_child(self, call: _Call) -> ArmResponse:
        collection = self._child_collection(call)
        parent = self._existing(call, parent=True)
        name = call.params["child_name"]
        existing = self.world.get_child(call.resource_id, collection, name)
        _check_preconditions(call.request, existing)
        child_id = existing["id"] if existing else f"{parent['id']}/{collection}/{name}"
        record = self._write_record(call, child_id, f"{parent['type']}/{collection}/delete")
        if existing is None:
            self._log(record, "Started")
            self._log(record, "Succeeded", 204)
            return ArmResponse(204)
        parent_id = parent["id"]
        self.world.set_provisioning_state(parent_id, "Deleting", child=(collection, name))

        def complete() -> Outcome:
            self.world.delete_child(parent_id, collection, name)
            return 204, None

        def rollback() -> None:
            self.world.set_provisioning_state(parent_id, "Succeeded", child=(collection, name))

        return self._accepted(202, self._start(call, complete, rollback, record=record), None)

    # -- POST actions ----------------------------------------------------------------------------

    def _backend_health(self, call: _Call) -> ArmResponse | _Unlocked:
        gateway = self._existing(call, stored=True)  # read only, here and by the derivation
        body = self.world.verbatim_backend_health(gateway["id"])
        if body is not None:
            return self._post_result(call, body)
        return _Unlocked(
            compute=self._health_derivation(gateway),
            finish=lambda derived: self._locked_post_result(call, derived),
        )

    def _health_derivation(self, gateway: dict[str, Any]) -> Callable[[], Any]:
        """The derivation of the gateway's backend health, over the world as it is now: taken under
        the world's lock, run outside it (see `_Unlocked`).

        A derivation is a function of the world and the time, so its answer is kept, and served
        again, until the world changes (`World.derived`: a write, a provisioning state moving on;
        its `backends` or `dns` section replaced) or the time passes a backend certificate's
        notBefore or notAfter (`holds_at`), the one way time enters it."""
        lookup, now = self._view_lookup(), self._clock()
        recorded = self.world.recorded_backend_health(gateway["id"])
        backends, dns = self.world.backends, self.world.dns
        # converted once until the world changes (a derivation running on holds the rules of its view)
        rules = self.world.derived(_NSG_RULES, dict)
        kept: dict[str, _DerivedHealth] = self.world.derived(_DERIVED_HEALTH, dict)

        def derive() -> Any:
            hit = kept.get(gateway["id"])
            if hit is not None and hit.holds(now, backends, dns):
                return hit.body
            times = certificate_times(backends)
            body = self._derive(
                lambda: derive_backend_health(
                    gateway, lookup, backends, dns, now, recorded=recorded, nsg_rules=rules
                )
            )
            if times is not None:
                kept[gateway["id"]] = _DerivedHealth(now, times, backends, dns, body)
            return body

        return derive

    def warm_up(self) -> None:
        """Derive every gateway's backend health once: the answer is kept (`_health_derivation`), as
        are what a derivation converts once (the world's NSG rules) and this process's parsing caches
        (every server's address), so the first request for a large gateway's health does not wait on
        costs no ARM front door has. Nothing is written or served; a derivation that fails fails
        again, and answers, when the health is asked for."""
        with self.world.lock:
            derivations = [
                self._health_derivation(gateway)
                for gateway in self.world.stored_resources()
                if str(gateway.get("type", "")).lower().endswith("/applicationgateways")
                and self.world.verbatim_backend_health(gateway["id"]) is None
            ]
        for derive in derivations:
            try:
                derive()
            except Exception:  # noqa: BLE001 - asked for, the health answers with its error as before
                continue

    def _view_lookup(self) -> Callable[[str], dict[str, Any] | None]:
        """`_lookup` over the resources as they are now (`World.view`), for use outside the lock."""
        view, references = self.world.view(), self._references()

        def lookup(resource_id: str) -> dict[str, Any] | None:  # for readers: nothing is copied for them
            resource = view.stored(resource_id)
            return references.served(resource) if resource is not None else None

        return lookup

    def _locked_post_result(self, call: _Call, body: Any) -> ArmResponse:
        with self.world.lock:
            return self._post_result(call, body)

    def _backend_health_on_demand(self, call: _Call) -> ArmResponse:
        gateway = self._existing(call)
        probe_request = _json_object_body(call.request, need_properties=False)
        body = self._derive(
            lambda: probe_on_demand(
                gateway,
                probe_request,
                self._lookup,
                self.world.backends,
                self.world.dns,
                self._clock(),
                recorded=self.world.recorded_backend_health(gateway["id"]),
            )
        )
        return self._post_result(call, body)

    def _effective_route_table(self, call: _Call) -> ArmResponse:
        nic = self._existing(call, stored=True)
        body = self.world.effective_route_table(nic["id"])
        if body is None:
            body = self._derive(lambda: effective_route_table(nic, self.world.stored))
        return self._post_result(call, body)

    def _effective_network_security_groups(self, call: _Call) -> ArmResponse:
        nic = self._existing(call, stored=True)
        body = self.world.effective_network_security_groups(nic["id"])
        if body is None:
            body = self._derive(lambda: effective_network_security_groups(nic, self.world.stored))
        return self._post_result(call, body)

    def _post_result(self, call: _Call, body: Any) -> ArmResponse:
        if isinstance(body, list):
            body = {"value": body}
        operation = self._start(call, lambda: (200, body))
        return self._accepted(202, operation, None)

    @staticmethod
    def _derive(compute: Callable[[], Any]) -> Any:
        try:
            return compute()
        except ValueError as error:
            raise ArmError(400, "BadRequest", str(error)) from None

    # -- long-running operation status -----------------------------------------------------------

    def _operation_status(self, call: _Call) -> ArmResponse:
        operation = self._find_operation(call)
        body: dict[str, Any] = {
            "id": call.request.path,
            "name": operation.id,
            "status": operation.status,
            "startTime": operation.started_at,
        }
        headers = {}
        if operation.settled:
            body["endTime"] = operation.ended_at
            if operation.failure is not None:
                body["error"] = operation.failure.envelope()["error"]
        else:
            headers["Retry-After"] = str(self._lro_retry_after)
        return ArmResponse(200, body, headers)

    def _operation_result(self, call: _Call) -> ArmResponse:
        operation = self._find_operation(call)
        if not operation.settled or operation.outcome is None:
            return ArmResponse(
                202,
                None,
                {
                    "Location": self._status_url(operation, "operationResults"),
                    "Retry-After": str(self._lro_retry_after),
                },
            )
        status, body = operation.outcome  # the operation's own (a copy, or derived for it): served as is
        return ArmResponse(status, body)

    def _find_operation(self, call: _Call) -> Operation:
        operation = self._operations.find(call.params["op"])
        if operation is None:
            raise ArmError(
                404, "OperationNotFound", f"The operation '{call.params['op']}' could not be found."
            )
        return operation

    # -- helpers ---------------------------------------------------------------------------------

    def _start(
        self,
        call: _Call,
        complete: Callable[[], Outcome],
        rollback: Callable[[], None] | None = None,
        *,
        record: WriteRecord | None = None,
    ) -> Operation:
        """Start a long-running operation; for a write (`record`), log its Activity Log events: `Started`
        now, `Succeeded` or `Failed` when the operation ends."""
        if record is not None:
            complete, rollback = self._logged(call, record, complete, rollback)
        return self._operations.start(
            seconds=call.lro_seconds,
            complete=complete,
            rollback=rollback,
            failure=call.lro_failure(),
            location=self._location_of(call),
        )

    def _logged(
        self,
        call: _Call,
        record: WriteRecord,
        complete: Callable[[], Outcome],
        rollback: Callable[[], None] | None,
    ) -> tuple[Callable[[], Outcome], Callable[[], None]]:
        self._log(record, "Started")

        def logged_complete() -> Outcome:
            outcome = complete()
            self._log(record, "Succeeded", record.http_status or outcome[0])
            return outcome

        def logged_rollback() -> None:
            if rollback is not None:
                rollback()
            failure = call.lro_failure()
            self._log(record, "Failed", failure.status if failure is not None else 500)

        return logged_complete, logged_rollback

    def _write_record(
        self, call: _Call, resource_id: str, action: str, http_status: int | None = None
    ) -> WriteRecord:
        """What the Activity Log events of an accepted write name: the operation, the resource, the
        caller the request's bearer token names and, for a PUT, the status it answered (201 created,
        200 updated: its `Succeeded` event's subStatus)."""
        granted = self.world.authorization
        principal = granted.principal_id if granted is not None else DEFAULT_PRINCIPAL_ID
        caller, claims = caller_identity(call.request.headers.get("authorization", ""), principal)
        parsed = ResourceId.parse("/".join(resource_id.split("/")[:9]))
        return WriteRecord(
            action=action,
            resource_id=resource_id,
            resource_group=parsed.resource_group if parsed is not None else call.params["rg"],
            subscription_id=self.world.subscription_id,
            caller=caller,
            claims=claims,
            correlation_id=call.correlation_id or str(uuid.uuid4()),
            method=call.request.method,
            client_request_id=call.request.headers.get("x-ms-client-request-id", ""),
            http_status=http_status,
        )

    def _log(self, record: WriteRecord, status: str, http_status: int | None = None) -> None:
        self.world.log_event(write_event(record, status, self._clock(), http_status))

    def _accepted(
        self, status: int, operation: Operation, body: Any, *, async_only: bool = False
    ) -> ArmResponse:
        headers = {
            "Azure-AsyncOperation": self._status_url(operation, "operations"),
            "Retry-After": str(self._lro_retry_after),
        }
        if not async_only:
            headers["Location"] = self._status_url(operation, "operationResults")
        return ArmResponse(status, body, headers)

    def _status_url(self, operation: Operation, kind: str) -> str:
        return (
            f"{self.base_url}/subscriptions/{self.world.subscription_id}/providers/{PROVIDER}/locations/"
            f"{operation.location}/{kind}/{operation.id}?api-version={DEFAULT_API_VERSION}"
        )

    def _location_of(self, call: _Call) -> str:
        resource = self.world.stored(call.resource_id)
        return str((resource or {}).get("location") or "global").replace(" ", "").lower()

    def _existing(self, call: _Call, *, parent: bool = False, stored: bool = False) -> dict[str, Any]:
        """The resource the call names: a copy to change, or with `stored` the stored body itself,
        for a handler that only reads it (or serves it: stored bodies are replaced on a write, never
        changed in place, so one being serialized outside the world's lock stays whole)."""
        resource = self.world.stored(call.resource_id) if stored else self.world.get(call.resource_id)
        if resource is not None:
            return resource
        if not self.world.resource_group_exists(call.params["sub"], call.params["rg"]):
            raise _resource_group_not_found(call.params["rg"])
        if parent:
            raise ArmError(
                404,
                "ParentResourceNotFound",
                "Can not perform requested operation on nested resource. "
                f"Parent resource '{call.params['name']}' not found.",
            )
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{PROVIDER}/{call.collection}/{call.params['name']}' under resource group "
            f"'{call.params['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )

    def _child_collection(self, call: _Call) -> str:
        collection = call.child_collection
        if collection is None:
            raise ArmError(404, "NotFound", f"The simulator serves no API at {call.request.path}.")
        if self.world.get(call.resource_id) is None:
            self._existing(call, parent=True)
        return collection

    def _concurrent_writes(self, call: _Call, apply: Callable[[dict[str, Any]], None]) -> None:
        for rule in call.faults:
            if rule.kind == "concurrent-write" and rule.change is not None:
                apply(rule.change)

    def _pool_references(self, pool_id: str) -> list[str]:
        """Ids of the NIC IP configurations that name a backend pool (Azure lists them on the pool)."""
        by_pool = self.world.derived(ArmApi._pool_references, self._nic_configurations_by_pool)
        return by_pool.get(pool_id.lower(), [])

    def _nic_configurations_by_pool(self) -> dict[str, list[str]]:
        """Backend pool id (lower-cased) -> ids of the NIC IP configurations that name it, in NIC order."""
        found: dict[str, list[str]] = {}
        for nic in self.world.list_resources("networkInterfaces", self.world.subscription_id):
            for ip_configuration in nic["properties"].get("ipConfigurations") or []:
                pools = (ip_configuration.get("properties") or {}).get(
                    "applicationGatewayBackendAddressPools"
                ) or []
                for pool_id in dict.fromkeys(str(pool.get("id", "")).lower() for pool in pools):
                    found.setdefault(pool_id, []).append(ip_configuration["id"])
        return found


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _subscription_of(resource_path: str) -> str:
    match = re.match(r"^/subscriptions/([^/]+)", resource_path, re.IGNORECASE)
    return match.group(1) if match else ""


def _authorization_scope(call: _Call) -> str:
    """The scope ARM names in a 403: the resource (or collection) the request addresses."""
    p = call.params
    if "resource" in p:
        return p["resource"]
    if "scope" in p:
        return p["scope"]
    if "name" not in p:
        group = f"/resourceGroups/{p['rg']}" if "rg" in p else ""
        collection = canonical_collection(p["collection"]) or p["collection"]
        return f"/subscriptions/{p['sub']}{group}/providers/{PROVIDER}/{collection}"
    if "child" not in p:
        return call.resource_id
    child = call.child_collection or p["child"]
    return f"{call.resource_id}/{child}" + (f"/{p['child_name']}" if "child_name" in p else "")


def _resource_group_not_found(resource_group: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")


def _fault_error(rule: FaultRule) -> ArmError:
    status = 429 if rule.kind == "throttle" else rule.status
    retry_after = rule.retry_after_header(status)
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return ArmError(
        status, rule.error_code, f"Injected fault ({rule.kind}) for operation {rule.operation}.", headers
    )


def _json_object_body(request: ArmRequest, *, need_properties: bool = True) -> dict[str, Any]:
    try:
        body = json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: {error}.",
        ) from None
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    if need_properties and not isinstance(body.get("properties"), dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must have a 'properties' object.")
    return body


def _check_preconditions(request: ArmRequest, existing: dict[str, Any] | None) -> None:
    if_match = request.headers.get("if-match")
    if_none_match = request.headers.get("if-none-match")
    stale = if_match is not None and (
        existing is None or (if_match != "*" and if_match != existing.get("etag"))
    )
    taken = if_none_match == "*" and existing is not None
    if stale or taken:
        raise ArmError(
            412, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is not met."
        )


def _gateway_for_put(
    call: _Call,
    body: dict[str, Any],
    existing: dict[str, Any] | None,
    pool_references: Callable[[str], list[str]],
) -> dict[str, Any]:
    """The gateway to store for a PUT body: ARM's fields from the URL, computed fields kept, every
    sub-resource given its id, type and an `Updating` state."""
    gateway = copy.deepcopy(body)
    gateway_id = existing["id"] if existing else call.resource_id
    gateway.update(id=gateway_id, name=gateway_id.rsplit("/", 1)[1], type=f"{PROVIDER}/applicationGateways")
    if "location" not in gateway and existing is not None:
        gateway["location"] = existing.get("location")
    properties = gateway["properties"]
    old_properties = existing["properties"] if existing else {}
    for key in _GATEWAY_COMPUTED:
        if key not in properties and key in old_properties:
            properties[key] = copy.deepcopy(old_properties[key])
    properties.setdefault("operationalState", "Running")
    properties.setdefault("resourceGuid", str(uuid.uuid4()))
    properties["provisioningState"] = "Updating"
    old_children = {
        str(child.get("id", "")).lower(): child
        for value in old_properties.values()
        if isinstance(value, list)
        for child in value
        if isinstance(child, dict)
    }
    for collection, value in properties.items():
        if not isinstance(value, list):
            continue
        for child in value:
            if not isinstance(child, dict) or "name" not in child:
                continue
            child.setdefault("id", f"{gateway_id}/{collection}/{child['name']}")
            child["type"] = f"{PROVIDER}/applicationGateways/{collection}"
            child_properties = child.setdefault("properties", {})
            old_child_properties = (old_children.get(child["id"].lower()) or {}).get("properties") or {}
            for key in _SUBRESOURCE_COMPUTED:
                if key not in child_properties and key in old_child_properties:
                    child_properties[key] = copy.deepcopy(old_child_properties[key])
            if collection == "backendAddressPools":
                _add_pool_references(child_properties, pool_references(child["id"]))
            child_properties["provisioningState"] = "Updating"
    return gateway


def _add_pool_references(pool_properties: dict[str, Any], ip_configuration_ids: list[str]) -> None:
    references = pool_properties.get("backendIPConfigurations") or []
    known = {str(reference.get("id", "")).lower() for reference in references}
    for ip_configuration_id in ip_configuration_ids:
        if ip_configuration_id.lower() not in known:
            references.append({"id": ip_configuration_id})
    if references:
        pool_properties["backendIPConfigurations"] = references


def _validate_child(collection: str, child: dict[str, Any], siblings: list[dict[str, Any]]) -> None:
    properties = child["properties"]
    if collection == "securityRules":
        for key, allowed in _SECURITY_RULE_ENUMS.items():
            if str(properties.get(key, "")).lower() not in {value.lower() for value in allowed}:
                raise ArmError(
                    400,
                    "InvalidRequestFormat",
                    f"Security rule {child['name']}: {key} must be one of {', '.join(allowed)}.",
                )
        priority = properties.get("priority")
        if not isinstance(priority, int) or isinstance(priority, bool) or not 100 <= priority <= 4096:
            raise ArmError(
                400,
                "SecurityRuleInvalidPriority",
                f"Security rule {child['name']} has invalid Priority {priority}. "
                "Value provided: must be between 100 and 4096.",
            )
        for sibling in siblings:
            other = sibling.get("properties") or {}
            if (
                sibling["name"].lower() != child["name"].lower()
                and other.get("priority") == priority
                and str(other.get("direction", "")).lower() == str(properties["direction"]).lower()
            ):
                raise ArmError(
                    400,
                    "SecurityRuleConflict",
                    f"Security rule {child['name']} conflicts with rule {sibling['name']}. "
                    "Rules cannot have the same Priority and Direction.",
                )
    elif collection == "routes":
        if not isinstance(properties.get("addressPrefix"), str):
            raise ArmError(400, "InvalidRequestFormat", f"Route {child['name']}: addressPrefix is required.")
        if str(properties.get("nextHopType", "")).lower() not in {hop.lower() for hop in _NEXT_HOP_TYPES}:
            raise ArmError(
                400,
                "InvalidRequestFormat",
                f"Route {child['name']}: nextHopType must be one of {', '.join(_NEXT_HOP_TYPES)}.",
            )
    elif collection == "subnets":
        if not properties.get("addressPrefix") and not properties.get("addressPrefixes"):
            raise ArmError(400, "InvalidRequestFormat", f"Subnet {child['name']}: addressPrefix is required.")
