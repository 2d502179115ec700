"""Event Grid resource events that may change a gateway's health: writes to the gateway itself, or to
the subnet (or its VNet), NSG or route table its subnet uses (docs/APPGW_FACTS.md, "Alerts and events").

Delivery is at least once, so the event id is the dedupe key. The envelope (id, subject, topic,
eventTime) is validated before anything else: an event with an unusable one is refused (IntakeError,
code `invalid_event`; the trigger logs it and drops it) rather than queued to fail later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from core.iso8601 import as_utc
from intake.alerts import EARLIEST_TIME, MAX_FUTURE, TIME_RANGE, parse_time
from intake.errors import IntakeError
from intake.text import MAX_ID, MAX_NAME, text_problem

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
    *,
    event_id: str,
    event_type: str,
    subject: str,
    data: Any,
    event_time: datetime | None,
    topic: str | None = None,
) -> ResourceChange | None:
    """The change an event reports, or None when the event is not one we act on (not an error:
    Event Grid subscriptions may be broader than what we watch). IntakeError (400 `invalid_event`)
    for an envelope we cannot use: an id, subject or topic that is not one line of well-formed text
    of bounded length, an event time out of range."""
    _check_envelope_text(event_id, "id", MAX_ID, required=True)
    _check_envelope_text(subject, "subject", MAX_NAME, required=False)
    if topic is not None:
        _check_envelope_text(topic, "topic", MAX_NAME, required=False)
    event_time = _checked_event_time(event_time)
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
    _check_envelope_text(resource, "data.resourceUri", MAX_NAME, required=True)
    drop = WATCHED_OPERATIONS[operation.lower()]
    parts = resource.rstrip("/").split("/")
    if drop:
        parts = parts[:-drop]
    return ResourceChange(
        event_id=event_id, resource_id="/".join(parts), operation=operation, event_time=event_time
    )


def check_change(change: ResourceChange) -> None:
    """IntakeError unless `change` is one `parse_resource_write` could have produced (a queue message
    is read back through this: `appgw_doctor.pipeline.WorkItem`)."""
    _check_envelope_text(change.event_id, "id", MAX_ID, required=True)
    _check_envelope_text(change.resource_id, "resource id", MAX_NAME, required=True)
    if not change.resource_id.lower().startswith("/subscriptions/"):
        raise IntakeError(400, "invalid_event", "resource id is not an ARM id")
    if not isinstance(change.operation, str) or change.operation.lower() not in WATCHED_OPERATIONS:
        raise IntakeError(400, "invalid_event", "operation is not one we watch")
    if change.event_time is not None and _checked_event_time(change.event_time) != change.event_time:
        raise IntakeError(400, "invalid_event", "eventTime has no time zone")


def _check_envelope_text(value: Any, name: str, max_length: int, *, required: bool) -> None:
    if not isinstance(value, str) or (required and not value.strip()):
        raise IntakeError(400, "invalid_event", f"event {name} is missing")
    problem = text_problem(value, max_length=max_length)
    if problem is not None:
        raise IntakeError(400, "invalid_event", f"event {name} {problem}")


def _checked_event_time(when: datetime | None) -> datetime | None:
    """The event time in UTC (Event Grid writes UTC; a time without a zone is taken as UTC), or
    IntakeError when it is out of range."""
    if when is None:
        return None
    if not isinstance(when, datetime):
        raise IntakeError(400, "invalid_event", "eventTime is not a date-time")
    try:
        utc = as_utc(when)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST_TIME <= utc <= datetime.now(timezone.utc) + MAX_FUTURE:
        raise IntakeError(400, "invalid_event", f"eventTime is out of range ({TIME_RANGE})")
    return utc
