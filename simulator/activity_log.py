"""The Azure Activity Log of a simulated estate: the `activityLog` world section and the query ARM serves.

`GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values` answers with the
events (EventData, exactly as the REST API's `value` array) that its `$filter` selects, newest first,
each cut to the fields its `$select` names, in pages linked by `nextLink`. The `$filter` is as
restricted as ARM's: `eventTimestamp ge '<start>'` is required, `eventTimestamp le '<end>'` is
optional (default: now), the start may be at most 90 days back, and at most one of `resourceGroupName`,
`resourceUri` (or `resourceId`), `resourceProvider`, `correlationId` may narrow it, each with `eq`;
terms are joined by `and`, values single-quoted; field names, keywords and values compare
case-insensitively. The legacy `eventChannels eq '...'` term is accepted and has no effect.

Every write the simulator accepts is logged as Azure logs it (`write_event`): a `Started`
(BeginRequest) event when the request is accepted and a `Succeeded` or `Failed` (EndRequest) event
when its operation ends, naming the caller the bearer token names (`caller_identity`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from core.iso8601 import parse_time
from simulator.authorization import token_claims

RETENTION = timedelta(days=90)
PAGE_SIZE = 200  # events per page; more are linked by `nextLink` (`$skiptoken`)

# ARM's answers to a `$filter` it does not take (code `BadRequest`).
FILTER_INVALID = "$filter searching parameters invalid."
RETENTION_MESSAGE = "The start time of the query cannot be more than 90 days in the past."


class ActivityLogQueryError(ValueError):
    """A query ARM refuses: 400 `BadRequest` with this message."""


# -- the `activityLog` world section ----------------------------------------------------------------

_TEXT_FIELDS = (
    "caller",
    "correlationId",
    "description",
    "eventDataId",
    "id",
    "level",
    "operationId",
    "resourceGroupName",
    "resourceId",
    "subscriptionId",
    "tenantId",
    "channels",
)
_LOCALIZABLE_FIELDS = (
    "category",
    "eventName",
    "operationName",
    "resourceProviderName",
    "resourceType",
    "status",
    "subStatus",
)
_OBJECT_FIELDS = ("authorization", "httpRequest", "properties")


def activity_log_problem(raw: Any, subscription_id: str, clock: datetime) -> tuple[str, str] | None:
    """(JSON path below `$.activityLog`, problem) of a malformed section, or None."""
    if not isinstance(raw, list):
        return "", "must be a list of Activity Log events (EventData objects)"
    for index, event in enumerate(raw):
        problem = _event_problem(event, subscription_id, clock)
        if problem is not None:
            return f"[{index}]{problem[0]}", problem[1]
    return None


def _event_problem(event: Any, subscription_id: str, clock: datetime) -> tuple[str, str] | None:
    if not isinstance(event, dict):
        return "", "an event must be a JSON object (EventData)"
    if "eventTimestamp" not in event:
        return ".eventTimestamp", "missing: when the event happened (ISO 8601, e.g. 2026-11-23T10:12:00Z)"
    for key in ("eventTimestamp", "submissionTimestamp"):
        if key in event:
            problem = _time_problem(event[key])
            if problem is not None:
                return f".{key}", problem
    if event_time(event) > clock:
        return ".eventTimestamp", "is after the world's clock (events happened before it)"
    for key in _TEXT_FIELDS:
        if key in event and not isinstance(event[key], str):
            return f".{key}", "must be a string"
    for key in _LOCALIZABLE_FIELDS:
        if key in event:
            value = event[key]
            if not isinstance(value, dict) or not isinstance(value.get("value"), str):
                return f".{key}", 'must be a localizable string: {"value": "...", "localizedValue": "..."}'
            if not isinstance(value.get("localizedValue", ""), str):
                return f".{key}.localizedValue", "must be a string"
    for key in _OBJECT_FIELDS:
        if key in event and not isinstance(event[key], dict):
            return f".{key}", "must be a JSON object"
    claims = event.get("claims", {})
    if not isinstance(claims, dict):
        return ".claims", "must be a JSON object of claim name -> string value"
    for name, value in claims.items():
        if not isinstance(value, str):
            return f".claims[{_quoted(name)}]", "must be a string (claims are strings in EventData)"
    authorization = event.get("authorization", {})
    for key in ("action", "scope", "role"):
        if key in authorization and not isinstance(authorization[key], str):
            return f".authorization.{key}", "must be a string"
    subscription = event.get("subscriptionId")
    if subscription is not None and subscription.lower() != subscription_id.lower():
        return ".subscriptionId", f"{subscription} is not the world's subscription {subscription_id}"
    return None


def _time_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be an ISO 8601 time string"
    try:
        parse_time(value)
    except ValueError:
        return f"not an ISO 8601 time: {_quoted(value)}"
    if not re.search(r"(Z|[+-]\d{2}:?\d{2})$", value.strip(), re.IGNORECASE):
        return "needs a time zone (e.g. a trailing Z)"
    return None


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def event_time(event: dict[str, Any]) -> datetime:
    """The `eventTimestamp` of an event the section check accepted (or the simulator wrote)."""
    return parse_time(event["eventTimestamp"])


# -- the query --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityLogFilter:
    """A parsed `$filter`: the time range and at most one narrowing term (field lower-cased)."""

    start: datetime
    end: datetime
    field: str | None = None  # resourcegroupname | resourceuri | resourceprovider | correlationid
    value: str = ""

    def matches(self, event: dict[str, Any]) -> bool:
        if not self.start <= event_time(event) <= self.end:
            return False
        if self.field is None:
            return True
        if self.field == "resourcegroupname":
            found = event.get("resourceGroupName")
        elif self.field == "resourceuri":
            found = event.get("resourceId")
        elif self.field == "resourceprovider":
            found = _localized_value(event.get("resourceProviderName"))
        else:
            found = event.get("correlationId")
        return isinstance(found, str) and found.lower() == self.value.lower()


_TOKEN = re.compile(r"\s*(?:'(?P<string>(?:[^']|'')*)'|(?P<word>[^\s']+))")
# Terms that narrow the query (ARM takes one at a time); `resourceId` is ARM's other name for resourceUri.
_SCOPE_FIELDS = {
    "resourcegroupname": "resourcegroupname",
    "resourceuri": "resourceuri",
    "resourceid": "resourceuri",
    "resourceprovider": "resourceprovider",
    "correlationid": "correlationid",
}


def parse_activity_filter(text: str | None, now: datetime) -> ActivityLogFilter:
    """Parse an Activity Log `$filter` as ARM does; raises ActivityLogQueryError with ARM's message."""
    if text is None or not text.strip():
        raise ActivityLogQueryError(FILTER_INVALID)
    tokens = _tokens(text)
    start: datetime | None = None
    end: datetime | None = None
    scope: tuple[str, str] | None = None
    index = 0
    while True:
        if index + 3 > len(tokens):
            raise ActivityLogQueryError(FILTER_INVALID)
        (name_kind, name), (op_kind, op), (value_kind, value) = tokens[index : index + 3]
        if name_kind != "word" or op_kind != "word":
            raise ActivityLogQueryError(FILTER_INVALID)
        field_name, op = name.lower(), op.lower()
        if value_kind != "string":  # an unquoted value: ARM names the term it cannot take
            raise ActivityLogQueryError(_not_supported(name))
        if field_name == "eventtimestamp" and op in ("ge", "le"):
            try:
                moment = parse_time(value)
            except ValueError:
                raise ActivityLogQueryError(FILTER_INVALID) from None
            if (start if op == "ge" else end) is not None:
                raise ActivityLogQueryError(FILTER_INVALID)
            if op == "ge":
                start = moment
            else:
                end = moment
        elif field_name in _SCOPE_FIELDS and op == "eq":
            if scope is not None:  # only one of resourceGroupName / resourceUri / ... at a time
                raise ActivityLogQueryError(FILTER_INVALID)
            scope = (_SCOPE_FIELDS[field_name], value)
        elif field_name == "eventchannels" and op == "eq":
            pass  # the legacy `eventChannels eq 'Admin, Operation'` term: accepted, no effect
        else:
            raise ActivityLogQueryError(_not_supported(name))
        index += 3
        if index == len(tokens):
            break
        joiner_kind, joiner = tokens[index]
        if joiner_kind != "word" or joiner.lower() != "and":  # `or`, parentheses: not ARM's syntax
            raise ActivityLogQueryError(FILTER_INVALID)
        index += 1
    if start is None:
        raise ActivityLogQueryError(FILTER_INVALID)
    end = end if end is not None else now
    if start > end:
        raise ActivityLogQueryError(FILTER_INVALID)
    if start < now - RETENTION:
        raise ActivityLogQueryError(RETENTION_MESSAGE)
    if scope is None:
        return ActivityLogFilter(start, end)
    return ActivityLogFilter(start, end, *scope)


def _not_supported(name: str) -> str:
    return f"$filter={name} is not supported."


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    end = len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ActivityLogQueryError(FILTER_INVALID)  # an unterminated quote
        kind = match.lastgroup or "word"
        value = match.group(kind)
        tokens.append((kind, value.replace("''", "'") if kind == "string" else value))
        position = match.end()
    return tokens


def select_fields(select: str | None) -> list[str] | None:
    """The field names a `$select` lists (lower-cased), or None for every field."""
    if select is None or not select.strip():
        return None
    return [name.strip().lower() for name in select.split(",") if name.strip()]


def query_activity_log(
    events: list[dict[str, Any]], query: ActivityLogFilter, select: list[str] | None
) -> list[dict[str, Any]]:
    """The events the filter selects, newest first (the later-logged first at equal times), each
    with only the fields `select` names."""
    found = [(event_time(event), index, event) for index, event in enumerate(events) if query.matches(event)]
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    if select is None:
        return [dict(event) for _, _, event in found]
    wanted = set(select)
    return [{key: value for key, value in event.items() if key.lower() in wanted} for _, _, event in found]


def _localized_value(value: Any) -> str | None:
    return value.get("value") if isinstance(value, dict) else None


# -- the events the simulator logs for writes --------------------------------------------------------

# JWT claim names as ARM records them in an event's `claims` (the inbound claim-type map).
_CLAIM_URIS = {
    "upn": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "unique_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "given_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "family_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "sub": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
    "oid": "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "tid": "http://schemas.microsoft.com/identity/claims/tenantid",
    "scp": "http://schemas.microsoft.com/identity/claims/scope",
    "idp": "http://schemas.microsoft.com/identity/claims/identityprovider",
    "amr": "http://schemas.microsoft.com/claims/authnmethodsreferences",
    "acr": "http://schemas.microsoft.com/claims/authnclassreference",
}
OBJECT_ID_CLAIM = _CLAIM_URIS["oid"]


def caller_identity(authorization_header: str, principal_id: str) -> tuple[str, dict[str, str]]:
    """(caller, claims) of the identity a bearer token names. A JWT (not verified: the simulator
    trusts its caller) names its `upn`, else `unique_name`, else `appid`, else `oid` claim, and its
    claims are recorded as ARM records them; any other token is `principal_id` (the world's
    `authorization.principalId`, or the simulator's fixed principal)."""
    claims = token_claims(authorization_header)
    if claims is None:
        return principal_id, {OBJECT_ID_CLAIM: principal_id}
    caller = principal_id
    for name in ("upn", "unique_name", "appid", "oid"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            caller = value
            break
    return caller, {_CLAIM_URIS.get(name, name): _claim_text(value) for name, value in claims.items()}


def _claim_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_claim_text(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class WriteRecord:
    """One accepted write, as its Activity Log events name it."""

    action: str  # e.g. Microsoft.Network/networkSecurityGroups/securityRules/write
    resource_id: str
    resource_group: str
    subscription_id: str
    caller: str
    claims: dict[str, str]
    correlation_id: str
    method: str
    client_request_id: str = ""
    http_status: int | None = None  # what the request answered, when its `Succeeded` event names it
    operation_id: str = field(default_factory=lambda: str(uuid.uuid4()))


_HTTP_STATUS_NAMES = {200: "OK", 201: "Created", 202: "Accepted", 204: "NoContent"}
_TICKS_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)


def write_event(
    record: WriteRecord, status: str, moment: datetime, http_status: int | None = None
) -> dict[str, Any]:
    """The Activity Log event of a write: `Started` (BeginRequest) when it is accepted, `Succeeded`
    or `Failed` (EndRequest, with the HTTP status it ended with) when its operation ends."""
    event_data_id = str(uuid.uuid4())
    moment = moment.astimezone(timezone.utc)
    timestamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # Azure writes 7 fractional digits
    ticks = (moment - _TICKS_EPOCH) // timedelta(microseconds=1) * 10
    begin = status == "Started"
    provider = record.action.split("/", 1)[0]
    resource_type = record.action.rsplit("/", 1)[0]
    sub_status = ""
    if http_status is not None:
        sub_status = _HTTP_STATUS_NAMES.get(http_status, str(http_status))
    event: dict[str, Any] = {
        "authorization": {"action": record.action, "scope": record.resource_id},
        "caller": record.caller,
        "channels": "Operation",
        "claims": dict(record.claims),
        "correlationId": record.correlation_id,
        "description": "",
        "eventDataId": event_data_id,
        "eventName": (
            {"value": "BeginRequest", "localizedValue": "Begin request"}
            if begin
            else {"value": "EndRequest", "localizedValue": "End request"}
        ),
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "eventTimestamp": timestamp,
        "id": f"{record.resource_id}/events/{event_data_id}/ticks/{ticks}",
        "level": "Error" if status == "Failed" else "Informational",
        "operationId": record.operation_id,
        "operationName": {"value": record.action, "localizedValue": record.action},
        "resourceGroupName": record.resource_group,
        "resourceProviderName": {"value": provider, "localizedValue": provider},
        "resourceType": {"value": resource_type, "localizedValue": resource_type},
        "resourceId": record.resource_id,
        "status": {"value": status, "localizedValue": status},
        "subStatus": {
            "value": sub_status,
            "localizedValue": f"{sub_status} (HTTP Status Code: {http_status})" if sub_status else "",
        },
        "submissionTimestamp": timestamp,
        "subscriptionId": record.subscription_id,
        "httpRequest": {"clientRequestId": record.client_request_id, "method": record.method},
        "properties": {"entity": record.resource_id, "message": record.action},
    }
    if http_status is not None:
        event["properties"]["statusCode"] = sub_status
    return event
