"""The hourly timer spreads its work over SWEEP_SPREAD_MINUTES: each message is sent to the work queue
(Azurite) invisible until its turn; with 0 the output binding queues them all at once, as before. A
sweep item the worker defers is sent again, invisible until its retry time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import azure.functions as func
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

import function_app
from appgw_doctor.pipeline import WorkItem
from tests.functions.harness import OutputBinding
from tests.functions.storm import world_with_gateways

HEALTHY = Path(__file__).resolve().parents[2] / "scenarios/healthy"


def work_queue(app_env) -> QueueClient:
    queue = QueueClient.from_connection_string(
        app_env.azurite.connection_string,
        function_app.WORK_QUEUE,
        message_decode_policy=TextBase64DecodePolicy(),
    )
    try:
        queue.create_queue()
    except Exception:  # exists (another test made it): start from empty
        queue.clear_messages()
    return queue


def test_the_sweep_sends_each_gateway_invisible_until_its_turn(simulator, app_env, functions) -> None:
    world, gateways = world_with_gateways(4)
    app_env.point_at(simulator(world))
    app_env.set("SWEEP_SPREAD_MINUTES", "40")
    queue = work_queue(app_env)
    work = OutputBinding()
    functions["sweep"](TimerRequest(past_due=False), work)

    assert work.get() is None  # nothing through the binding: every message went out delayed
    assert queue.get_queue_properties().approximate_message_count == 4
    visible = [WorkItem.from_message(m.content) for m in queue.receive_messages(max_messages=32)]
    assert len(visible) == 1 and visible[0].not_before is not None  # the first turn is now
    queue.close()


def test_without_a_spread_the_output_binding_queues_them_all_at_once(simulator, app_env, functions) -> None:
    world, _ = world_with_gateways(3)
    app_env.point_at(simulator(world))
    app_env.set("SWEEP_SPREAD_MINUTES", "0")
    work = OutputBinding()
    functions["sweep"](TimerRequest(past_due=False), work)
    items = [WorkItem.from_message(message) for message in work.get()]
    assert len(items) == 3 and all(item.not_before is None for item in items)


def test_a_sweep_item_before_its_turn_is_sent_again_for_then(simulator, app_env, functions) -> None:
    app_env.point_at(simulator(HEALTHY / "world.json"))
    queue = work_queue(app_env)
    work = OutputBinding()
    app_env.set("SWEEP_SPREAD_MINUTES", "0")
    functions["sweep"](TimerRequest(past_due=False), work)
    (message,) = work.get()
    item = WorkItem.from_message(message)
    early = WorkItem(kind=item.kind, gateway_id=item.gateway_id, sweep_id=item.sweep_id,
                     not_before=datetime.now(timezone.utc) + timedelta(minutes=30))  # fmt: skip
    functions["process_work"](func.QueueMessage(id="m0", body=early.to_message().encode()))

    assert queue.get_queue_properties().approximate_message_count == 1
    assert list(queue.receive_messages()) == []  # invisible until its turn
    assert app_env.store().list_diagnoses() == []
    queue.close()
