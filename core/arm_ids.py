"""ARM resource ids, read in one place.

Parsing is the Azure SDK's own (`azure.mgmt.core.tools.parse_resource_id` and
`is_valid_resource_id`), so ids are read the way the management clients read them: keywords
(`subscriptions`, `resourceGroups`, `providers`) case-insensitively, child resources
(`.../networkSecurityGroups/nsg/securityRules/rule`) as `child_type_N` / `child_name_N`.
On top of it: the strict checks the callers need (a whole resource id, an Application Gateway id)
and the two path operations (`name_of`, `parent_id`) that also serve partial ids.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from azure.mgmt.core.tools import is_valid_resource_id, parse_resource_id

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# Control and format characters (newline, NUL, bidi overrides, ...) never occur in ARM names.
_UNPRINTABLE = ("Cc", "Cf", "Zl", "Zp")


def is_guid(text: str) -> bool:
    """A GUID as Azure writes subscription and tenant ids (any case, no braces)."""
    return bool(_GUID.fullmatch(text))


def parse(resource_id: str | None) -> dict[str, str]:
    """The SDK's named parts of an ARM id (subscription, resource_group, namespace, type, name,
    child_type_1, child_name_1, ..., resource_type, resource_name), values as text.

    Lenient like the SDK: a string that is no ARM id gives `{"name": resource_id}`, and "" or None `{}`.
    """
    return dict(_parsed(resource_id or ""))


@lru_cache(maxsize=16384)
def _parsed(resource_id: str) -> tuple[tuple[str, str], ...]:
    """`parse`, once per id: a large gateway's diagnosis reads each of its 1,000 NICs' ids many times."""
    return tuple((part, str(value)) for part, value in parse_resource_id(resource_id).items())


def subscription_of(resource_id: str) -> str:
    """Lower-case subscription id of an ARM id ('' when there is none)."""
    return parse(resource_id).get("subscription", "").lower()


def resource_group_of(resource_id: str) -> str:
    """Resource group of an ARM id, as written ('' when there is none)."""
    return parse(resource_id).get("resource_group", "")


def name_of(resource_id: str | None) -> str:
    """Last segment of an id: the resource's own name (also for partial ids and plain names)."""
    return (resource_id or "").rstrip("/").rsplit("/", 1)[-1]


def parent_id(child_id: str, levels: int = 2) -> str:
    """`.../networkInterfaces/nic/ipConfigurations/ip` -> `.../networkInterfaces/nic` (`levels`
    segments dropped; trailing slashes ignored)."""
    parts = child_id.rstrip("/").split("/")
    return "/".join(parts[:-levels])


def is_gateway_id(resource_id: str) -> bool:
    """An Application Gateway's ARM id: the whole string, a GUID subscription, no child resource,
    no trailing slash, no control or format characters."""
    if any(unicodedata.category(char) in _UNPRINTABLE for char in resource_id):
        return False
    parts = parse(resource_id)
    return (
        bool(is_valid_resource_id(resource_id))
        and is_guid(parts.get("subscription", ""))
        and "resource_group" in parts
        and parts.get("namespace", "").lower() == "microsoft.network"
        and parts.get("type", "").lower() == "applicationgateways"
        and "last_child_num" not in parts
    )


def gateway_names(gateway_id: str) -> tuple[str, str]:
    """(resource group, name) of an Application Gateway id; ValueError for any other string."""
    parts = parse(gateway_id)
    if (
        not parts.get("subscription")
        or not parts.get("resource_group")
        or parts.get("namespace", "").lower() != "microsoft.network"
        or parts.get("type", "").lower() != "applicationgateways"
        or not parts.get("name")
        or parts.get("children")
    ):
        raise ValueError(f"not an Application Gateway resource id: {gateway_id}")
    return parts["resource_group"], parts["name"]


@dataclass(frozen=True)
class ArmId:
    """A whole ARM resource id, top-level or child, split into the parts callers use."""

    subscription: str
    resource_group: str
    namespace: str
    type: str  # of the top-level resource (`networkSecurityGroups`)
    parent_name: str  # the top-level resource (gateway, NSG, route table) that holds `name`
    resource_type: str  # of the resource itself (`securityRules` for a rule, else `type`)
    name: str  # of the resource itself
    holder: str | None  # the resource directly holding this one; None for a top-level resource
    top_id: str  # `/subscriptions/S/resourceGroups/G/providers/NS/type/parent_name`, as written

    @classmethod
    def parse(cls, resource_id: str) -> ArmId:
        """`/subscriptions/S/resourceGroups/G/providers/NS/type/name[/childType/childName]...`,
        surrounding slashes tolerated; ValueError for anything else."""
        trimmed = "/" + resource_id.strip("/")
        parts = parse(trimmed)
        if not (parts.get("resource_group") and parts.get("namespace") and is_valid_resource_id(trimmed)):
            raise ValueError(f"not an ARM resource id: {resource_id!r}")
        depth = int(parts.get("last_child_num", 0))
        return cls(
            subscription=parts["subscription"],
            resource_group=parts["resource_group"],
            namespace=parts["namespace"],
            type=parts["type"],
            parent_name=parts["name"],
            resource_type=parts["resource_type"],
            name=parts["resource_name"],
            holder=None if depth == 0 else parts.get(f"child_name_{depth - 1}", parts["name"]),
            top_id="/".join(trimmed.split("/")[:9]),
        )

    @property
    def is_child(self) -> bool:
        return self.holder is not None
