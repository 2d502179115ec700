"""Azure Functions entry points (Python v2 programming model). Thin by design: each trigger hands
what arrived to intake, and the work to the one pipeline (appgw_doctor.pipeline) via a Storage queue.

- POST /api/alerts      Azure Monitor action-group webhook (common alert schema) -> 202 + queue
- GET/POST /api/approvals/{id}   the approval page of a planned fix (mode approve) and its decision
                        (appgw_doctor.http_routes; anonymous: the signed token in the link is the
                        credential, App Service authentication may sit in front and name the approver)
- Event Grid            writes to gateways / their subnet, NSG, route table, gateway stop/start -> queue
                        (Event Grid schema or CloudEvents 1.0: the worker hands either object over)
- timer (hourly)        sweep every gateway of SWEEP_SUBSCRIPTIONS -> queue, one message each, each
                        invisible until its turn (spread over SWEEP_SPREAD_MINUTES)
- queue appgw-doctor-work   runs the pipeline for one gateway; a sweep item the pipeline defers (ARM
                        throttling, every sweep slot busy) is sent again, invisible until its retry time

Concurrency: host.json lets one instance run 16 + 8 queue messages at once (batchSize,
newBatchThreshold) and infra/main.bicep's maximumInstanceCount caps the instances; on top of that
at most SWEEP_CONCURRENCY sweep items run at once fleet-wide (slots in the state store), so the
sweep never holds every worker an alert needs.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import azure.functions as func

from appgw_doctor.http_routes import Response, approval_route, desk_from_settings, error_page
from appgw_doctor.pipeline import Outcome, Pipeline, WorkItem
from appgw_doctor.wiring import pipeline_from_settings, prune_state, work_queue_from_settings
from appgw_doctor.work_queue import WorkQueue
from core.log_safety import protect_handlers
from core.runtime import tune_garbage_collector
from core.settings import APP_LOGGERS, ConfigError, Settings, configure_telemetry
from intake.errors import IntakeError
from intake.events import parse_event
from intake.text import shown
from intake.webhook import AlertWebhook
from remediation.desk import ApprovalDesk

WORK_QUEUE = "appgw-doctor-work"
STORAGE_CONNECTION = "AzureWebJobsStorage"
SWEEP_SCHEDULE = "0 0 * * * *"  # hourly, on the hour

log = logging.getLogger("appgw_doctor.functions")
# Secrets redacted and control characters escaped in every record (core/log_safety.py): on the
# handlers present when the worker loads this module, and again on each invocation (configure_telemetry).
protect_handlers(APP_LOGGERS)
tune_garbage_collector()  # a large gateway's diagnosis allocates millions of objects (core/runtime.py)
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@functools.lru_cache(maxsize=8)
def _wired(settings: Settings) -> tuple[AlertWebhook, Pipeline]:
    return AlertWebhook.from_settings(settings), pipeline_from_settings(settings)


@functools.lru_cache(maxsize=8)
def _work_queue(settings: Settings) -> WorkQueue:
    return work_queue_from_settings(settings, WORK_QUEUE)


@functools.lru_cache(maxsize=8)
def _desk(settings: Settings) -> ApprovalDesk:
    return desk_from_settings(settings)


def _current() -> tuple[Settings, AlertWebhook, Pipeline]:
    settings = Settings.from_env()
    configure_telemetry(settings)
    return (settings, *_wired(settings))


def _json(status: int, body: dict) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@app.function_name("alert_webhook")
@app.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@app.queue_output(arg_name="work", queue_name=WORK_QUEUE, connection=STORAGE_CONNECTION)
def alert_webhook(req: func.HttpRequest, work: func.Out[list[str]]) -> func.HttpResponse:
    try:
        _, webhook, _ = _current()
        alerts = webhook.accept(req.get_body(), req.headers)
    except IntakeError as error:
        log.warning("alert refused: %s: %s", error.code, error.message, extra={"error_code": error.code})
        return _json(error.status, error.to_body())
    except ConfigError as error:
        log.error("configuration error: %s", error)
        return _json(500, {"error": {"code": "configuration_error", "message": str(error)}})
    items = Pipeline.alert_items(alerts)
    work.set([item.to_message() for item in items])
    log.info("alert accepted: %s", ", ".join(item.dedupe_key for item in items))
    return _json(202, {"status": "accepted", "gateways": [item.gateway_id for item in items]})


@app.function_name("approval_page")
@app.route(route="approvals/{approval_id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def approval_page(req: func.HttpRequest) -> func.HttpResponse:
    return _approval(req)  # never changes anything


@app.function_name("approval_decision")
@app.route(route="approvals/{approval_id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def approval_decision(req: func.HttpRequest) -> func.HttpResponse:
    return _approval(req)


def _approval(req: func.HttpRequest) -> func.HttpResponse:
    try:
        settings = Settings.from_env()
        configure_telemetry(settings)
        desk = _desk(settings)
    except ConfigError as error:
        log.error("configuration error: %s", error)
        page = error_page(
            500, "The app is not configured", "the approval desk cannot start; see the app's log"
        )
    else:
        page = approval_route(
            desk,
            method=req.method,
            approval_id=req.route_params.get("approval_id", ""),
            query=dict(req.params),
            body=req.get_body(),
            headers=dict(req.headers),
        )
    return _page(page)


def _page(page: Response) -> func.HttpResponse:
    headers = {**page.headers, "Content-Type": page.content_type}
    return func.HttpResponse(page.body, status_code=page.status, headers=headers)


@app.function_name("resource_changes")
@app.event_grid_trigger(arg_name="event")
@app.queue_output(arg_name="work", queue_name=WORK_QUEUE, connection=STORAGE_CONNECTION)
def resource_changes(event: func.EventGridEvent, work: func.Out[list[str]]) -> None:
    # The worker accepts only a class here (no Union), and hands over a func.CloudEvent instead when
    # the subscription delivers CloudEvents 1.0 (azure.functions.eventgrid.EventGridEventInConverter).
    received: func.EventGridEvent | func.CloudEvent = event
    try:
        change = parse_event(_wire_form(received))
    except IntakeError as error:  # not retryable: Event Grid would redeliver the same envelope
        log.warning("event refused: %s: %s", error.code, error.message, extra={"error_code": error.code})
        return
    if change is None:
        kind = received.type if isinstance(received, func.CloudEvent) else received.event_type
        log.info("event %s ignored: %s", shown(str(received.id), 200), shown(str(kind), 200))
        return
    settings, _, pipeline = _current()
    items = pipeline.change_items(change, limit=settings.max_event_targets)
    if items:
        work.set([item.to_message() for item in items])
    log.info("change %s of %s: %d gateway(s) to check", change.event_id, change.resource_id, len(items))


def _wire_form(event: func.EventGridEvent | func.CloudEvent) -> dict[str, Any]:
    """The event as it was delivered (the JSON object of its schema), for intake.events.parse_event.
    CloudEvents extension attributes are left out: nothing here reads them."""
    if isinstance(event, func.CloudEvent):
        return {
            "specversion": event.specversion,
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "time": _wire_time(event.time),
            "subject": event.subject,
            "data": event.get_json(),
        }
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": _wire_time(event.event_time),
        "data": event.get_json(),
        "dataVersion": event.data_version,
    }


def _wire_time(when: datetime | None) -> str | None:
    """ISO 8601 with its zone (Event Grid writes UTC; the worker may hand over a time without one)."""
    if not isinstance(when, datetime):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).isoformat()


@app.function_name("sweep")
@app.timer_trigger(arg_name="timer", schedule=SWEEP_SCHEDULE, run_on_startup=False, use_monitor=True)
@app.queue_output(arg_name="work", queue_name=WORK_QUEUE, connection=STORAGE_CONNECTION)
def sweep(timer: func.TimerRequest, work: func.Out[list[str]]) -> None:
    settings, _, pipeline = _current()
    spread = timedelta(minutes=settings.sweep_spread_minutes)
    items = pipeline.sweep_items(
        settings.sweep_subscriptions, limit=settings.max_sweep_gateways, spread=spread
    )
    unsent = items
    if items and spread:  # each message invisible until its turn; what could not be sent goes below
        try:
            unsent = _work_queue(settings).send_items(items, now=datetime.now(timezone.utc))
        except ConfigError as error:
            log.error("sweep: cannot send delayed messages (%s); queued now, carrying their turn", error)
    if unsent:  # carry `notBefore`: the worker defers an item that comes early
        work.set([item.to_message() for item in unsent])
    log.info("sweep queued %d gateway(s) over %g minutes (%d through the output binding)",
             len(items), settings.sweep_spread_minutes, len(unsent))  # fmt: skip
    prune_state(pipeline.store, settings)


@app.function_name("process_work")
@app.queue_trigger(arg_name="message", queue_name=WORK_QUEUE, connection=STORAGE_CONNECTION)
def process_work(message: func.QueueMessage) -> None:
    try:
        item = WorkItem.from_message(message.get_body().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:  # not retryable: drop it, loudly
        log.error("dropping malformed work message %s: %s", message.id, error)
        return
    settings, _, pipeline = _current()
    report = pipeline.process(item)
    if report.outcome is Outcome.DEFERRED and report.retry_at is not None:
        # Sent again, invisible until then; if that fails, raising lets the host redeliver this one.
        delay = report.retry_at - datetime.now(timezone.utc)
        _work_queue(settings).send(replace(item, not_before=report.retry_at).to_message(), delay=delay)
        log.info("sweep item %s deferred by %.0f s", item.dedupe_key, max(0.0, delay.total_seconds()))
