"""Event Grid events in both delivery schemas (Event Grid and CloudEvents 1.0), read with the SDK's
models, from Microsoft's published samples: what the bot acts on (writes, rule and route deletions,
a gateway stopped or started), and what it acknowledges and leaves (everything else)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from appgw_doctor.pipeline import WorkItem
from intake.errors import IntakeError
from intake.events import ResourceChange, parse_event
from tests.intake.samples import EVENT_SAMPLES, GATEWAY, RG, SCHEMAS, about, event_sample

N = "Microsoft.Network"
NSG = f"{RG}/providers/{N}/networkSecurityGroups/nsg-shared"
START = f"{N}/applicationGateways/start/action"
STOP = f"{N}/applicationGateways/stop/action"


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("kind", EVENT_SAMPLES)
def test_microsofts_samples_parse_and_are_not_ours(schema, kind) -> None:
    """A storage account write or delete, an Event Hubs listKeys: well-formed events the bot leaves."""
    assert parse_event(event_sample(schema, kind)) is None


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize(
    ("kind", "operation", "resource", "watched"),
    [
        ("resource-write-success", f"{N}/applicationGateways/write", GATEWAY, GATEWAY),
        ("resource-action-success", STOP, GATEWAY, GATEWAY),
        ("resource-action-success", START, GATEWAY, GATEWAY),
        ("resource-write-success", f"{N}/networkSecurityGroups/write", NSG, NSG),
        ("resource-delete-success", f"{N}/networkSecurityGroups/securityRules/delete",
         f"{NSG}/securityRules/Allow", NSG),
    ],
)  # fmt: skip
def test_gateway_and_dependency_events_in_either_schema(schema, kind, operation, resource, watched) -> None:
    event = about(event_sample(schema, kind), resource, operation)
    change = parse_event(event)
    # Who: the samples' user principal name claim; the action sample's token is a service principal's.
    caller = "app {ID}" if kind == "resource-action-success" else "{user-name}"
    assert change == ResourceChange(
        event_id=event["id"],
        resource_id=watched,
        operation=operation,
        event_time=change.event_time,
        caller=caller,
    )
    published = event["time" if schema == "cloudevents" else "eventTime"]
    assert change.event_time.tzinfo is not None
    assert change.event_time.isoformat().startswith(published[:19])  # 2018-...T..:..:.. as published
    assert change.is_gateway_write == (watched == GATEWAY)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_stopped_gateway_is_checked_at_once_and_its_work_item_round_trips(schema) -> None:
    change = parse_event(about(event_sample(schema, "resource-action-success"), GATEWAY, STOP))
    assert change is not None and change.is_gateway_write
    item = WorkItem(kind="change", gateway_id=change.resource_id, change=change)
    assert WorkItem.from_message(item.to_message()) == item


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize(
    ("kind", "operation"),
    [
        ("resource-write-success", STOP),  # an action reported by a write event
        ("resource-action-success", f"{N}/applicationGateways/write"),  # a write reported by an action event
        ("resource-action-success", f"{N}/applicationGateways/backendhealth/action"),  # not one we act on
        (
            "resource-delete-success",
            f"{N}/applicationGateways/delete",
        ),  # a deleted gateway has nothing to check
    ],
)
def test_events_that_do_not_match_what_we_act_on_are_left(schema, kind, operation) -> None:
    assert parse_event(about(event_sample(schema, kind), GATEWAY, operation)) is None


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize(
    "event_type",
    [
        "Microsoft.Resources.ResourceActionFailure",
        "Microsoft.Resources.ResourceWriteCancel",
        "Microsoft.Storage.BlobCreated",
    ],
)  # fmt: skip
def test_other_event_types_are_left(schema, event_type) -> None:
    event = about(event_sample(schema, "resource-action-success"), GATEWAY, STOP)
    event["type" if schema == "cloudevents" else "eventType"] = event_type
    assert parse_event(event) is None


@pytest.mark.parametrize(
    ("schema", "changes"),
    [
        ("cloudevents", {"source": None}),  # CloudEvents require source and type
        ("cloudevents", {"type": None}),
        ("cloudevents", {"time": "yesterday"}),
        ("cloudevents", {"id": "e1\r\nchange forged"}),
        ("cloudevents", {"time": "1999-12-31T23:59:59Z"}),
        ("eventgrid", {"eventTime": "not a time"}),
        ("eventgrid", {"id": None}),
        ("eventgrid", {"subject": "\ud800"}),
        ("eventgrid", {"topic": "/subscriptions/\x00"}),
    ],
)
def test_an_unusable_envelope_is_refused_in_either_schema(schema, changes) -> None:
    event = about(event_sample(schema, "resource-action-success"), GATEWAY, STOP)
    for key, value in changes.items():
        if value is None:
            del event[key]
        else:
            event[key] = value
    with pytest.raises(IntakeError) as refused:
        parse_event(event)
    assert refused.value.status == 400 and refused.value.code == "invalid_event"
    assert refused.value.message.isprintable()


@pytest.mark.parametrize("document", [None, [], "event", 42])
def test_an_event_that_is_not_an_object_is_refused(document) -> None:
    with pytest.raises(IntakeError) as refused:
        parse_event(document)
    assert refused.value.code == "invalid_event"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_time_of_an_event_is_kept_in_utc(schema) -> None:
    """(azure-core's CloudEvent.from_dict reads +02:00 as +00:00; intake reads the time itself.)"""
    event = about(event_sample(schema, "resource-write-success"), GATEWAY, f"{N}/applicationGateways/write")
    event["time" if schema == "cloudevents" else "eventTime"] = "2026-11-23T12:40:00+02:00"
    change = parse_event(event)
    assert change.event_time == datetime(2026, 11, 23, 10, 40, tzinfo=timezone.utc)
