"""Validate at the door, through the Functions entry points: what the webhook and the Event Grid
trigger accept can be queued, stored and logged; what they refuse is refused at once (a 4xx, or a
dropped event) with one log line; the work one trigger may queue is capped; a malformed storage
connection string is the documented `500 configuration_error`."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from appgw_doctor.pipeline import Pipeline, WorkItem
from appgw_doctor.wiring import clients_for_target
from core.azure_clients import ArmTarget
from state import DiagnosisRecord
from tests.functions.harness import OutputBinding, post_alert, run_queue

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = ROOT / "scenarios/healthy"
ALERT = (HEALTHY / "alert.json").read_bytes()
GATEWAY = json.loads(ALERT)["data"]["essentials"]["alertTargetIDs"][0]
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
NSG = f"{RG}/networkSecurityGroups/nsg-shared"
NSG_WRITE = "Microsoft.Network/networkSecurityGroups/write"


def alert_with(**essentials) -> bytes:
    document = json.loads(ALERT)
    document["data"]["essentials"].update(essentials)
    return json.dumps(document).encode()  # a lone surrogate travels as the JSON escape \ud800


def gateways(count: int) -> list[str]:
    return [f"{RG}/applicationGateways/agw-{number:04d}" for number in range(count)]


def refusal(functions, caplog, body: bytes) -> tuple[int, dict, list[str]]:
    with caplog.at_level(logging.INFO, logger="appgw_doctor"):
        response, messages = post_alert(functions, body)
    assert messages is None, "a refused alert queued work"
    return (
        response.status_code,
        json.loads(response.get_body())["error"],
        [r.getMessage() for r in caplog.records],
    )


# --- the webhook ---


@pytest.mark.parametrize(
    ("essentials", "field"),
    [
        ({"alertId": "\ud800"}, "alertId"),
        ({"alertId": "a-\udc80-b"}, "alertId"),
        ({"alertId": "id\r\nincident=x gateway=y trigger=alert outcome=closed"}, "alertId"),
        ({"alertRule": "rule\r\nBcc: everyone@example.com"}, "alertRule"),
        ({"severity": "Sev1\u2028"}, "severity"),
        ({"description": "bad \ud800 text"}, "description"),
        ({"firedDateTime": "0001-01-01T00:00:00Z"}, "firedDateTime"),
        ({"resolvedDateTime": "9999-12-31T23:59:59Z"}, "resolvedDateTime"),
    ],
)
def test_text_and_times_that_would_fail_later_are_refused_with_400(
    app_env, functions, caplog, essentials, field
):
    status, error, lines = refusal(functions, caplog, alert_with(**essentials))
    assert (status, error["code"]) == (400, "invalid_field")
    assert field in error["message"]
    assert error["message"].isascii() and error["message"].isprintable()
    assert lines == [f"alert refused: invalid_field: {error['message']}"]  # one line, nothing forged


def test_an_alert_accepted_with_unusual_but_valid_text_is_processed_end_to_end(
    simulator, app_env, functions
) -> None:
    app_env.point_at(simulator(HEALTHY / "world.json"))
    body = alert_with(alertId="ünïcødé-😀-" + "a" * 900, alertRule="règle 5xx — 😀", description="l1\r\nl2\t")
    response, messages = post_alert(functions, body)
    assert response.status_code == 202
    run_queue(functions, messages)
    (incident,) = app_env.store().list_incidents(GATEWAY)
    assert incident.report["alert"]["alertId"].startswith("ünïcødé-😀-")


def test_a_message_that_is_not_the_doors_is_dropped_once_not_retried(app_env, functions, caplog) -> None:
    (item,) = [WorkItem.from_message(m) for m in post_alert(functions, ALERT)[1]]
    data = json.loads(item.to_message())
    data["alert"]["alertId"] = "\ud800"  # as json.dumps writes it: \ud800, valid JSON, not Unicode
    body = json.dumps(data).encode()
    functions["process_work"](func.QueueMessage(id="surrogate", body=body))  # no exception: no retry
    assert any("dropping malformed work message surrogate" in r.getMessage() for r in caplog.records)
    assert app_env.store().list_diagnoses() == []


# --- how many gateways one alert may name ---


def test_an_alert_naming_more_than_max_alert_targets_is_refused_with_422(app_env, functions, caplog) -> None:
    status, error, _ = refusal(functions, caplog, alert_with(alertTargetIDs=gateways(51)))
    assert (status, error["code"]) == (422, "too_many_targets")
    assert "the limit is 50" in error["message"] and "MAX_ALERT_TARGETS" in error["message"]
    response, messages = post_alert(functions, alert_with(alertTargetIDs=gateways(50)))
    assert response.status_code == 202 and len(messages) == 50


def test_max_alert_targets_is_an_app_setting(app_env, functions, caplog) -> None:
    app_env.set("MAX_ALERT_TARGETS", "2")
    status, error, _ = refusal(functions, caplog, alert_with(alertTargetIDs=gateways(3)))
    assert (status, error["code"]) == (422, "too_many_targets") and "the limit is 2" in error["message"]
    response, messages = post_alert(functions, alert_with(alertTargetIDs=gateways(2)))
    assert response.status_code == 202 and len(messages) == 2


def test_a_megabyte_post_naming_thousands_of_gateways_queues_nothing(app_env, functions, caplog) -> None:
    body = alert_with(alertTargetIDs=gateways(5000))
    assert 500_000 < len(body) <= 1024 * 1024
    status, error, _ = refusal(functions, caplog, body)
    assert (status, error["code"]) == (422, "too_many_targets")


# --- configuration errors ---


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("AzureWebJobsStorage", "this is not a connection string"),
        ("AzureWebJobsStorage", "AccountName=devstoreaccount1;AccountKey=not*base64!"),
        ("AzureWebJobsStorage", "DefaultEndpointsProtocol=https;EndpointSuffix=core.windows.net"),
        ("STATE_STORAGE_CONNECTION", "AccountName=acct;AccountKey=c2VjcmV0;AccountName=other"),
        ("STATE_STORAGE_CONNECTION", "AccountName=acct;AccountKey=c2VjcmV0;TableEndpoint=not a url"),
        ("STATE_STORAGE_CONNECTION", "SharedAccessSignature=sv=2024&sig=c2VjcmV0"),  # no endpoint at all
        ("MAX_ALERT_TARGETS", "0"),
        ("MAX_ALERT_TARGETS", "many"),
    ],
)
def test_malformed_settings_are_the_documented_500_configuration_error(
    app_env, functions, caplog, setting, value
) -> None:
    app_env.set(setting, value)
    with caplog.at_level(logging.ERROR, logger="appgw_doctor"):
        response, messages = post_alert(functions, ALERT)
    assert response.status_code == 500 and messages is None
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "configuration_error" and setting in error["message"]
    if "Account" in value or "Signature" in value:
        assert "c2VjcmV0" not in error["message"] and "base64!" not in error["message"]  # no secret echoed
    assert [r.getMessage() for r in caplog.records] == [f"configuration error: {error['message']}"]


# --- Event Grid ---


def grid_event(resource_id: str, *, event_id: str = "e1", operation: str = NSG_WRITE, **envelope):
    fields = {
        "id": event_id,
        "data": {"operationName": operation, "resourceUri": resource_id, "status": "Succeeded"},
        "topic": f"/subscriptions/{SUB}",
        "subject": resource_id,
        "event_type": "Microsoft.Resources.ResourceWriteSuccess",
        "event_time": datetime.now(timezone.utc),
        "data_version": "2",
    }
    return func.EventGridEvent(**{**fields, **envelope})


def queued(functions, event) -> list[WorkItem]:
    work = OutputBinding()
    functions["resource_changes"](event, work)
    return [WorkItem.from_message(m) for m in work.get() or []]


@pytest.mark.parametrize(
    "envelope",
    [
        {"id": "e1\r\nchange forged of /subscriptions/x: 99 gateway(s) to check"},
        {"id": "\ud800"},
        {"id": "e" * 2000},
        {"subject": GATEWAY + "\n"},
        {"topic": "/subscriptions/\x00"},
        {"event_time": datetime(1, 1, 1, tzinfo=timezone.utc)},
    ],
)
def test_events_with_an_unusable_envelope_are_dropped_with_one_line(
    app_env, functions, caplog, envelope
) -> None:
    event = grid_event(GATEWAY, operation="Microsoft.Network/applicationGateways/write")
    event = grid_event(
        GATEWAY,
        operation="Microsoft.Network/applicationGateways/write",
        **{key: envelope.get(key, getattr(event, key)) for key in ("id", "subject", "topic", "event_time")},
    )
    with caplog.at_level(logging.INFO, logger="appgw_doctor"):
        assert queued(functions, event) == []  # no exception either: Event Grid would retry it
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("event refused: invalid_event: ") and line.isprintable()


def test_an_event_time_without_a_zone_is_taken_as_utc(app_env, functions) -> None:
    naive = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    (item,) = queued(
        functions,
        grid_event(GATEWAY, operation="Microsoft.Network/applicationGateways/write", event_time=naive),
    )
    assert item.change.event_time == naive.replace(tzinfo=timezone.utc)


def record_watch(store, gateway: str, resource: str) -> None:
    now = datetime.now(timezone.utc)
    store.record_diagnosis(
        DiagnosisRecord(id=f"d-{gateway[-4:]}", gateway_id=gateway, trigger="sweep", started_at=now,
                        finished_at=now, watched_resources=[resource])
    )  # fmt: skip


def test_an_event_queues_at_most_max_event_targets_checks_and_says_how_many_it_left(
    app_env, functions, caplog
) -> None:
    store = app_env.store()
    watching = gateways(5)
    for gateway in reversed(watching):
        record_watch(store, gateway, NSG)
    app_env.set("MAX_EVENT_TARGETS", "2")
    with caplog.at_level(logging.INFO, logger="appgw_doctor"):
        items = queued(functions, grid_event(NSG))
    assert [item.gateway_id.lower() for item in items] == [g.lower() for g in watching[:2]]  # first by id
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "affects 5 gateways" in warning and "leaving 3 to the next sweep" in warning
    app_env.set("MAX_EVENT_TARGETS", "50")
    assert len(queued(functions, grid_event(NSG, event_id="e2"))) == 5


# --- the sweep ---


def fleet(count: int) -> dict:
    """The healthy world with `count` gateways (copies of its gateway under other names)."""
    world = json.loads((HEALTHY / "world.json").read_text())
    gateway = json.dumps(world["resources"][-1])
    world["resources"] += [json.loads(gateway.replace("agw-contoso", f"agw-{n}")) for n in range(count - 1)]
    return world


def test_a_sweep_queues_at_most_max_sweep_gateways_and_says_how_many_it_left_out(
    simulator, app_env, functions, caplog
) -> None:
    app_env.point_at(simulator(fleet(5)))
    app_env.set("MAX_SWEEP_GATEWAYS", "2")
    app_env.set("SWEEP_SPREAD_MINUTES", "0")  # all through the output binding, at once
    work = OutputBinding()
    with caplog.at_level(logging.WARNING, logger="appgw_doctor"):
        functions["sweep"](TimerRequest(past_due=False), work)
    assert len(work.get()) == 2
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "found 5 gateways" in warning and "left out 3" in warning


def test_capped_sweeps_take_the_gateways_in_turn_so_consecutive_hours_cover_them_all(
    simulator, app_env
) -> None:
    sim = simulator(fleet(5))
    clients_for = clients_for_target(ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=0.05)
    hour = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)

    def sweep_at(moment: datetime) -> list[str]:
        pipeline = Pipeline(store=app_env.store(), clients_for=clients_for, clock=lambda: moment)
        return [item.gateway_id.lower() for item in pipeline.sweep_items([SUB], limit=2)]

    everything = sorted(gw.lower() for gw in sweep_at(hour) + sweep_at(hour + timedelta(hours=1))
                        + sweep_at(hour + timedelta(hours=2)))  # fmt: skip
    assert len(set(everything)) == 5  # three hourly sweeps of two cover all five
    assert sweep_at(hour) == sweep_at(hour + timedelta(minutes=59))  # deterministic within the hour
    assert all(len(sweep_at(hour + timedelta(hours=n))) == 2 for n in range(5))
    assert len(Pipeline(store=app_env.store(), clients_for=clients_for).sweep_items([SUB])) == 5
