"""The binding metadata the Functions host reads from function_app.py."""

from __future__ import annotations

import function_app
from tests.functions.harness import registered_functions


def bindings() -> dict[str, dict[str, dict]]:
    """function name -> binding name -> binding (enum values as plain strings)."""
    result = {}
    for function in registered_functions():
        result[function.get_function_name()] = {
            b["name"]: {k: (v.value if hasattr(v, "value") else v) for k, v in b.items()}
            for b in function.get_bindings_dict()["bindings"]
        }
    return result


def test_the_app_has_exactly_these_functions() -> None:
    assert set(bindings()) == {
        "alert_webhook", "resource_changes", "sweep", "process_work", "approval_page", "approval_decision",
    }  # fmt: skip


def test_alert_webhook_is_a_function_key_post_on_api_alerts_writing_to_the_work_queue() -> None:
    webhook = bindings()["alert_webhook"]
    trigger = webhook["req"]
    assert trigger["type"] == "httpTrigger"
    assert trigger["route"] == "alerts"
    assert [m.value if hasattr(m, "value") else m for m in trigger["methods"]] == ["POST"]
    assert trigger["authLevel"] == "function"
    assert webhook["work"] == {
        "direction": 1, "type": "queue", "name": "work",
        "queueName": function_app.WORK_QUEUE, "connection": "AzureWebJobsStorage",
    }  # fmt: skip
    assert webhook["$return"]["type"] == "http"


def test_event_grid_and_timer_hand_off_to_the_same_queue_the_worker_reads() -> None:
    all_bindings = bindings()
    assert all_bindings["resource_changes"]["event"]["type"] == "eventGridTrigger"
    timer = all_bindings["sweep"]["timer"]
    assert timer["type"] == "timerTrigger"
    assert timer["schedule"] == "0 0 * * * *"
    assert timer["runOnStartup"] is False
    worker = all_bindings["process_work"]["message"]
    assert worker["type"] == "queueTrigger"
    for name in ("alert_webhook", "resource_changes", "sweep"):
        assert all_bindings[name]["work"]["queueName"] == worker["queueName"] == "appgw-doctor-work"
        assert all_bindings[name]["work"]["connection"] == worker["connection"]
