"""Event Grid resource events that may change a gateway's health: writes to the gateway itself, or to
the subnet (or its VNet), NSG or route table its subnet uses (docs/APPGW_FACTS.md, "Alerts and events").

Delivery is at least once, so the event id is the dedupe key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from intake.alerts import parse_time

RESOURCE_WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
RESOURCE_DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"  # a deleted allow rule or route
EVENT_TYPES = (RESOURCE_WRITE_SUCCESS, RESOURCE_DELETE_SUCCESS)

# operationName -> how many trailing id segments to drop to reach the watched resource
WATCHED_OPERATIONS: dict[str, int] = {
    "microsoft.network/applicationgateways/write": 0,
    "microsoft.network/networksecuritygroups/write": 0,
    "microsoft.network/networksecuritygroups/securityrules/write": 2,
    "microsoft.network/networksecuritygroups/securityrules/delete": 2,
    "microsoft.network/routetables/write": 0,
    "microsoft.network/routetables/routes/write": 2,
    "microsoft.network/routetables/routes/delete": 2,
    "microsoft.network/virtualnetworks/subnets/write": 0,
    # a whole-VNet PUT (portal, templates) rewrites its subnets without a subnets/write event
    "microsoft.network/virtualnetworks/write": 0,
}


@dataclass(frozen=True)
class ResourceChange:
    """A successful write (or a rule/route deletion) on a resource a gateway depends on."""

    event_id: str
    resource_id: str  # the gateway, NSG, route table or subnet (a rule/route write names its parent)
    operation: str
    event_time: datetime | None

    @property
    def is_gateway_write(self) -> bool:
        return self.operation.lower() == "microsoft.network/applicationgateways/write"

    @property
    def dedupe_key(self) -> str:
        return f"event|{self.event_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "resourceId": self.resource_id,
            "operation": self.operation,
            "eventTime": self.event_time.isoformat() if self.event_time else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceChange:
        return cls(
            event_id=data["eventId"],
            resource_id=data["resourceId"],
            operation=data["operation"],
            event_time=parse_time(data.get("eventTime")),
        )


def parse_resource_write(
    *, event_id: str, event_type: str, subject: str, data: Any, event_time: datetime | None
) -> ResourceChange | None:
    """The change an event reports, or None when the event is not one we act on (not an error:
    Event Grid subscriptions may be broader than what we watch)."""
    if event_type not in EVENT_TYPES or not isinstance(data, dict):
        return None
    operation = data.get("operationName")
    if not isinstance(operation, str) or operation.lower() not in WATCHED_OPERATIONS:
        return None
    if operation.lower().endswith("/delete") != (event_type == RESOURCE_DELETE_SUCCESS):
        return None  # a delete operation is reported by a delete event, a write by a write event
    resource = data.get("resourceUri") if isinstance(data.get("resourceUri"), str) else subject
    if not isinstance(resource, str) or not resource.lower().startswith("/subscriptions/"):
        return None
    drop = WATCHED_OPERATIONS[operation.lower()]
    parts = resource.rstrip("/").split("/")
    if drop:
        parts = parts[:-drop]
    return ResourceChange(
        event_id=event_id, resource_id="/".join(parts), operation=operation, event_time=event_time
    )
