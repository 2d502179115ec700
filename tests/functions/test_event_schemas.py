"""The Event Grid trigger with either delivery schema: each of Microsoft's sample events, as the
Functions worker decodes it (`azure.functions.eventgrid.EventGridEventInConverter`: an EventGridEvent,
or a CloudEvent when the body has `specversion`), reaches `resource_changes`; a gateway stopped or
started is diagnosed at once; what the bot does not handle is logged and acknowledged, never raised."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum

from appgw_doctor.pipeline import WorkItem
from tests.functions.harness import OutputBinding, run_queue
from tests.intake.samples import EVENT_SAMPLES, SCHEMAS, about, event_sample

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = ROOT / "scenarios/healthy"
GATEWAY = json.loads((HEALTHY / "expected.json").read_text())["gateway"]
STOP = "Microsoft.Network/applicationGateways/stop/action"
START = "Microsoft.Network/applicationGateways/start/action"


def delivered(event: dict) -> func.EventGridEvent | func.CloudEvent:
    """The object the worker hands the function for this event (Event Grid posts one per invocation)."""
    return EventGridEventInConverter.decode(Datum(json.dumps(event), "json"), trigger_metadata={})


def queued(functions, event) -> list[WorkItem]:
    work = OutputBinding()
    assert functions["resource_changes"](event, work) is None
    return [WorkItem.from_message(m) for m in work.get() or []]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_worker_hands_over_the_object_of_the_schema(schema) -> None:
    received = delivered(event_sample(schema, "resource-action-success"))
    assert isinstance(received, func.CloudEvent if schema == "cloudevents" else func.EventGridEvent)


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("kind", EVENT_SAMPLES)
def test_events_the_bot_does_not_handle_are_logged_and_acknowledged(
    app_env, functions, caplog, schema, kind
) -> None:
    event = event_sample(schema, kind)  # a storage account, an Event Hubs namespace
    with caplog.at_level(logging.INFO, logger="appgw_doctor"):
        assert queued(functions, delivered(event)) == []
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("event ") and " ignored: " in line and line.isprintable()


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("operation", [STOP, START])
def test_a_stopped_or_started_gateway_is_queued_at_once(app_env, functions, schema, operation) -> None:
    event = about(event_sample(schema, "resource-action-success"), GATEWAY, operation)
    (item,) = queued(functions, delivered(event))
    assert item.kind == "change" and item.gateway_id == GATEWAY
    assert item.change.operation == operation and item.change.event_id == event["id"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_an_event_without_a_type_is_acknowledged_not_raised(app_env, functions, caplog, schema) -> None:
    event = about(event_sample(schema, "resource-action-success"), GATEWAY, STOP)
    del event["type" if schema == "cloudevents" else "eventType"]
    with caplog.at_level(logging.INFO, logger="appgw_doctor"):
        assert queued(functions, delivered(event)) == []
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.endswith(" ignored: 'None'") and line.isprintable()


@pytest.mark.parametrize("schema", SCHEMAS)
def test_an_unusable_envelope_is_refused_with_one_line_not_raised(app_env, functions, caplog, schema) -> None:
    event = about(event_sample(schema, "resource-action-success"), GATEWAY, STOP)
    event["id"] = "e1\r\nchange forged of /subscriptions/x: 99 gateway(s) to check"
    with caplog.at_level(logging.INFO, logger="appgw_doctor"):
        assert queued(functions, delivered(event)) == []
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("event refused: invalid_event: ") and line.isprintable()


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_gateway_stop_in_either_schema_is_diagnosed_end_to_end(
    simulator, app_env, functions, schema
) -> None:
    app_env.point_at(simulator(HEALTHY / "world.json"))
    event = about(event_sample(schema, "resource-action-success"), GATEWAY, STOP)
    work = OutputBinding()
    functions["resource_changes"](delivered(event), work)
    run_queue(functions, work.get())
    (diagnosis,) = app_env.store().list_diagnoses(GATEWAY)
    assert diagnosis.gateway_id.lower() == GATEWAY.lower()
