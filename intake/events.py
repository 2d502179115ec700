"""Event Grid resource events that may change a gateway's health: writes to the gateway itself, or to
the subnet (or its VNet), NSG or route table its subnet uses, and a gateway being stopped or started
(docs/APPGW_FACTS.md, "Alerts and events").

An event subscription delivers in the Event Grid schema or the CloudEvents 1.0 schema; `parse_event`
takes one event in either, as a dict in its wire form, and reads it with the SDK's own models
(`azure.eventgrid.EventGridEvent.from_dict`, `azure.core.messaging.CloudEvent.from_dict`).

Delivery is at least once, so the event id is the dedupe key. The envelope (id, subject, topic,
eventTime) is validated before anything else: an event with an unusable one is refused (IntakeError,
code `invalid_event`; the trigger logs it and drops it) rather than queued to fail later.

Who made the change (`ResourceChange.caller`) is read from the event's `data.claims`, the claims of
the token ARM was called with: the user principal name (the `.../claims/upn` claim, else `upn`,
`unique_name`, `name`), else the service principal's application id as `app <appid>`. Claims are
outside text: a claim that is not one line of well-formed text of at most `MAX_CALLER` characters is
passed over (the next one is tried), never refused: who did it is worth knowing, not worth dropping
the event for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from core.iso8601 import as_utc
from intake.alerts import EARLIEST_TIME, MAX_FUTURE, TIME_RANGE, parse_time
from intake.errors import IntakeError
from intake.text import MAX_ID, MAX_NAME, shown, text_problem

RESOURCE_WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
RESOURCE_DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"  # a deleted allow rule or route
RESOURCE_ACTION_SUCCESS = "Microsoft.Resources.ResourceActionSuccess"  # a gateway stopped or started
EVENT_TYPES = (RESOURCE_WRITE_SUCCESS, RESOURCE_DELETE_SUCCESS, RESOURCE_ACTION_SUCCESS)

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
    # POST .../start and .../stop: a stopped gateway answers nothing, a started one should answer again
    "microsoft.network/applicationgateways/start/action": 0,
    "microsoft.network/applicationgateways/stop/action": 0,
}
# The operations on the gateway itself (the others name a resource the gateway may depend on).
GATEWAY_OPERATIONS = frozenset(
    {
        "microsoft.network/applicationgateways/write",
        "microsoft.network/applicationgateways/start/action",
        "microsoft.network/applicationgateways/stop/action",
    }
)
# The claims naming the person who made the change, most specific first (a service principal has none
# of them: it is named by its application id, `app <appid>`).
CALLER_CLAIMS = (
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "upn",
    "unique_name",
    "name",
)
APPID_CLAIM = "appid"
MAX_CALLER = 256  # a UPN is at most 113 characters; `app ` and a GUID far fewer
_MAX_CLAIMS_TEXT = 64 * 1024  # claims sent as a JSON string (as the Activity Log does) are parsed up to this
# The SDK models' parse errors (ValueError includes azure.core's DeserializationError).
_MODEL_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError)


@dataclass(frozen=True)
class ResourceChange:
    """A successful write (or a rule/route deletion) on a resource a gateway depends on, or a gateway
    stopped or started."""

    event_id: str
    resource_id: str  # the gateway, NSG, route table or subnet (a rule/route write names its parent)
    operation: str
    event_time: datetime | None
    caller: str | None = None  # alice@contoso.com, `app <appid>`; None when the claims do not say

    @property
    def is_gateway_write(self) -> bool:
        """The operation was on the gateway itself (a write, a stop or a start): check that gateway."""
        return self.operation.lower() in GATEWAY_OPERATIONS

    @property
    def dedupe_key(self) -> str:
        return f"event|{self.event_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "resourceId": self.resource_id,
            "operation": self.operation,
            "eventTime": self.event_time.isoformat() if self.event_time else None,
            **({"caller": self.caller} if self.caller is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceChange:
        return cls(
            event_id=data["eventId"],
            resource_id=data["resourceId"],
            operation=data["operation"],
            event_time=parse_time(data.get("eventTime")),
            caller=data.get("caller"),
        )


def parse_event(event: Any) -> ResourceChange | None:
    """The change one delivered event reports, in the Event Grid schema or the CloudEvents 1.0 schema
    (told apart by `specversion`, as the Functions worker does), given as the dict of its JSON form.
    None when it is not an event we act on; IntakeError (400 `invalid_event`) when it is not an event
    either schema's model accepts, or its envelope is unusable (`parse_resource_write`)."""
    if not isinstance(event, dict):
        raise IntakeError(400, "invalid_event", "an event must be a JSON object")
    if "specversion" in event:
        try:
            cloud: CloudEvent[Any] = CloudEvent.from_dict(event)
        except _MODEL_ERRORS as error:
            raise IntakeError(400, "invalid_event", f"not a CloudEvent: {_first_line(error)}") from None
        # CloudEvents: `source` is Event Grid's topic, `type` its eventType, `time` its eventTime. The
        # time is read with our parser: azure-core's (`_convert_to_isoformat`) takes the hours of an
        # offset such as +02:00 as 0, so 12:40+02:00 would become 12:40 UTC.
        return parse_resource_write(
            event_id=cloud.id,
            event_type=cloud.type,
            subject=cloud.subject if cloud.subject is not None else "",
            topic=cloud.source,
            data=cloud.data,
            event_time=_cloud_time(event.get("time")),
        )
    try:
        grid = EventGridEvent.from_dict(event)
    except _MODEL_ERRORS as error:
        raise IntakeError(400, "invalid_event", f"not an Event Grid event: {_first_line(error)}") from None
    return parse_resource_write(
        event_id=grid.id,
        event_type=grid.event_type,
        subject=grid.subject,
        topic=grid.topic,
        data=grid.data,
        event_time=grid.event_time,
    )


def _cloud_time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_time(value)
    except (ValueError, OverflowError):
        raise IntakeError(400, "invalid_event", "event time is not an ISO 8601 date-time") from None


def _first_line(error: BaseException) -> str:
    return shown(str(error).splitlines()[0] if str(error) else type(error).__name__, 200)


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
    if topic is not None:  # None only when absent (Event Grid stamps it on every delivery)
        _check_envelope_text(topic, "topic", MAX_NAME, required=False)
    event_time = _checked_event_time(event_time)
    if event_type not in EVENT_TYPES or not isinstance(data, dict):
        return None
    operation = data.get("operationName")
    if not isinstance(operation, str) or operation.lower() not in WATCHED_OPERATIONS:
        return None
    if _event_type_of(operation) != event_type:
        return (
            None  # a delete comes as a delete event, an action as an action event, a write as a write event
        )
    resource = data.get("resourceUri") if isinstance(data.get("resourceUri"), str) else subject
    if not isinstance(resource, str) or not resource.lower().startswith("/subscriptions/"):
        return None
    _check_envelope_text(resource, "data.resourceUri", MAX_NAME, required=True)
    drop = WATCHED_OPERATIONS[operation.lower()]
    parts = resource.rstrip("/").split("/")
    if drop:
        parts = parts[:-drop]
    return ResourceChange(
        event_id=event_id,
        resource_id="/".join(parts),
        operation=operation,
        event_time=event_time,
        caller=caller_of(data.get("claims")),
    )


def caller_of(claims: Any) -> str | None:
    """Who made the change, from an event's `data.claims` (an object, or its JSON text): the first
    usable user principal name claim (`CALLER_CLAIMS`), else `app <appid>`, else None. A claim that
    is not text, is empty, or is not one line of well-formed text of at most `MAX_CALLER` characters
    is not usable."""
    if isinstance(claims, str) and len(claims) <= _MAX_CLAIMS_TEXT:
        try:
            claims = json.loads(claims)
        except (ValueError, RecursionError):
            return None
    if not isinstance(claims, Mapping):
        return None
    for key in CALLER_CLAIMS:
        caller = _usable_caller(claims.get(key))
        if caller is not None:
            return caller
    appid = _usable_caller(claims.get(APPID_CLAIM), prefix="app ")
    return appid


def _usable_caller(value: Any, *, prefix: str = "") -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    caller = prefix + value.strip()
    return caller if text_problem(caller, max_length=MAX_CALLER) is None else None


def _event_type_of(operation: str) -> str:
    lowered = operation.lower()
    if lowered.endswith("/delete"):
        return RESOURCE_DELETE_SUCCESS
    if lowered.endswith("/action"):
        return RESOURCE_ACTION_SUCCESS
    return RESOURCE_WRITE_SUCCESS


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
    if change.caller is not None and (
        not isinstance(change.caller, str)
        or not change.caller.strip()
        or text_problem(change.caller, max_length=MAX_CALLER) is not None
    ):
        raise IntakeError(400, "invalid_event", "caller is not one line of text of bounded length")


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
