"""Azure RBAC in the simulator: the optional `authorization` world section (docs/WORLD_FORMAT.md).

The section grants the caller a set of actions with the semantics of an Azure role definition's
permissions: `actions` and `notActions`, `*` a wildcard for any run of characters, compared
case-insensitively; an action is allowed when some `actions` entry matches it and no `notActions`
entry does. Without the section every action is allowed.

`required_action` names the operation a routed request performs (GET applicationGateways ->
`Microsoft.Network/applicationGateways/read`, ...); `linked_actions` names the permissions ARM
checks on the resources an Application Gateway PUT body links to (its subnets, public IPs and
user-assigned identities). The messages are ARM's `AuthorizationFailed` and
`LinkedAuthorizationFailed` texts.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

NETWORK = "Microsoft.Network"
DEFAULT_PRINCIPAL_ID = "00000000-0000-0000-0000-00000000a0d0"
_LISTS = ("actions", "notActions", "dataActions", "notDataActions")
_KEYS = (*_LISTS, "principalId")

SUBNET_JOIN = "Microsoft.Network/virtualNetworks/subnets/join/action"
PUBLIC_IP_JOIN = "Microsoft.Network/publicIPAddresses/join/action"
IDENTITY_ASSIGN = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
# Listing Activity Log events (`Microsoft.Insights/eventtypes/management/values`); Reader's `*/read`.
ACTIVITY_LOG_READ = "Microsoft.Insights/eventtypes/values/read"

# Route handler -> the action it performs, when it does not depend on the collection in the path.
_FIXED_ACTIONS: dict[str, str | None] = {
    # Polling a long-running operation needs no permission beyond the one that started it.
    "operation_status": None,
    "operation_result": None,
    "metrics": "Microsoft.Insights/metrics/read",
    "activity_logs": ACTIVITY_LOG_READ,
    "backend_health": "Microsoft.Network/applicationGateways/backendhealth/action",
    "backend_health_on_demand": "Microsoft.Network/applicationGateways/getBackendHealthOnDemand/action",
    "effective_route_table": "Microsoft.Network/networkInterfaces/effectiveRouteTable/action",
    "effective_network_security_groups": (
        "Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action"
    ),
}
_RESOURCE_VERBS = {"list_all": "read", "list": "read", "get": "read", "put": "write"}
_CHILD_VERBS = {"list_children": "read", "get_child": "read", "put_child": "write", "delete_child": "delete"}


@functools.lru_cache(maxsize=1024)
def _pattern(action: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in action.split("*")) + "$", re.IGNORECASE)


@dataclass(frozen=True)
class Authorization:
    """The permissions a world grants its caller (one role definition's `permissions` entry)."""

    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()
    principal_id: str = DEFAULT_PRINCIPAL_ID
    section: dict[str, Any] = field(default_factory=dict, compare=False)  # as the world gave it

    def allows(self, action: str) -> bool:
        granted = any(_pattern(pattern).match(action) for pattern in self.actions)
        return granted and not any(_pattern(pattern).match(action) for pattern in self.not_actions)


def authorization_problem(raw: Any) -> tuple[str, str] | None:
    """(JSON path below `$.authorization`, problem) of a malformed section, or None."""
    if not isinstance(raw, dict):
        return "", "must be a JSON object"
    for key in raw:
        if key not in _KEYS:
            return f".{key}", f"unknown key (known: {', '.join(_KEYS)})"
    if "actions" not in raw:
        return ".actions", "missing: list the actions granted ([] for none)"
    for key in _LISTS:
        values = raw.get(key, [])
        if not isinstance(values, list):
            return f".{key}", "must be a list of action strings"
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value or re.search(r"\s", value):
                return f".{key}[{index}]", "must be an action string such as Microsoft.Network/*/read"
    principal = raw.get("principalId", DEFAULT_PRINCIPAL_ID)
    if not isinstance(principal, str) or not principal:
        return ".principalId", "must be a non-empty string (an object id)"
    return None


def parse_authorization(raw: dict[str, Any]) -> Authorization:
    """The `Authorization` of a section that `authorization_problem` accepted."""
    return Authorization(
        actions=tuple(raw["actions"]),
        not_actions=tuple(raw.get("notActions", [])),
        principal_id=raw.get("principalId", DEFAULT_PRINCIPAL_ID),
        section=json.loads(json.dumps(raw)),
    )


def required_action(handler: str, collection: str, child: str = "") -> str | None:
    """The RBAC action of a routed request (its route handler and the canonical collection names in
    its path); None for operation-status polls, which need none."""
    if handler in _FIXED_ACTIONS:
        return _FIXED_ACTIONS[handler]
    if handler in _RESOURCE_VERBS:
        return f"{NETWORK}/{collection}/{_RESOURCE_VERBS[handler]}"
    if handler in _CHILD_VERBS:
        return f"{NETWORK}/{collection}/{child}/{_CHILD_VERBS[handler]}"
    raise ValueError(f"no RBAC action is known for the route handler {handler!r}")


def linked_actions(gateway: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, linked scope) pairs ARM checks for an Application Gateway PUT body: joining every
    subnet it is placed in or gives a private frontend / private link address from, joining every
    public IP of its frontends, assigning every user-assigned identity. In body order, no repeats."""
    found: dict[tuple[str, str], None] = {}
    properties = _object(gateway.get("properties"))

    def link(action: str, reference: Any) -> None:
        resource_id = _object(reference).get("id")
        if isinstance(resource_id, str) and resource_id:
            found.setdefault((action, resource_id), None)

    for configuration in _objects(properties.get("gatewayIPConfigurations")):
        link(SUBNET_JOIN, _object(configuration.get("properties")).get("subnet"))
    for frontend in _objects(properties.get("frontendIPConfigurations")):
        frontend_properties = _object(frontend.get("properties"))
        link(SUBNET_JOIN, frontend_properties.get("subnet"))
        link(PUBLIC_IP_JOIN, frontend_properties.get("publicIPAddress"))
    for private_link in _objects(properties.get("privateLinkConfigurations")):
        for configuration in _objects(_object(private_link.get("properties")).get("ipConfigurations")):
            link(SUBNET_JOIN, _object(configuration.get("properties")).get("subnet"))
    for identity_id in _object(_object(gateway.get("identity")).get("userAssignedIdentities")):
        link(IDENTITY_ASSIGN, {"id": identity_id})
    return list(found)


def token_claims(authorization_header: str) -> dict[str, Any] | None:
    """The claims of a JWT bearer token (not verified: the simulator trusts its caller), or None when
    the token is not a JWT."""
    token = authorization_header.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def caller_object_id(authorization_header: str, default: str) -> str:
    """The `oid` claim of a JWT bearer token, else `default` (the section's principalId): the object
    id ARM names in its 403 messages."""
    oid = (token_claims(authorization_header) or {}).get("oid")
    return oid if isinstance(oid, str) and oid else default


def authorization_failed_message(object_id: str, action: str, scope: str) -> str:
    """ARM's `AuthorizationFailed` message."""
    return (
        f"The client '{object_id}' with object id '{object_id}' does not have authorization to perform "
        f"action '{action}' over scope '{scope}' or the scope is invalid. If access was recently "
        "granted, please refresh your credentials."
    )


def linked_authorization_failed_message(
    object_id: str, action: str, scope: str, missing: list[tuple[str, str]]
) -> str:
    """ARM's `LinkedAuthorizationFailed` message: `missing` lists (action, linked scope) pairs."""
    actions = ",".join(linked for linked, _ in missing)
    scopes = ",".join(linked_scope for _, linked_scope in missing)
    return (
        f"The client '{object_id}' with object id '{object_id}' has permission to perform action "
        f"'{action}' on scope '{scope}'; however, it does not have permission to perform action(s) "
        f"'{actions}' on the linked scope(s) '{scopes}' (respectively) or the linked scope(s) are "
        "invalid."
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
