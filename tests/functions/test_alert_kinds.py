"""POST /api/alerts with Microsoft's samples of the other alert kinds: a log search alert on a
workspace split by `_ResourceId` (one work item per gateway), Resource Health and Administrative
activity-log alerts on a gateway (accepted and diagnosed), and a log search alert naming no gateway
(422, saying how to split the rule)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appgw_doctor.pipeline import WorkItem
from tests.functions.harness import post_alert, run_queue
from tests.intake.samples import RG, alert_sample, sample, with_dimensions

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = ROOT / "scenarios/healthy"
GATEWAY = json.loads((HEALTHY / "expected.json").read_text())["gateway"]
WORKSPACE = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/law-contoso"
# Recent enough for the diagnosis (the samples' own times are from 2019 and 2020).
FIRED = json.loads((HEALTHY / "alert.json").read_text())["data"]["essentials"]["firedDateTime"]


def body(document: dict) -> bytes:
    return json.dumps(document).encode()


def test_a_log_alert_naming_no_gateway_is_422_with_the_fix(app_env, functions) -> None:
    response, messages = post_alert(functions, body(sample("alert-log-search-v2.json")))
    assert response.status_code == 422 and messages is None
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "no_gateway_in_alert" and "_ResourceId" in error["message"]


def test_a_workspace_log_alert_is_one_work_item_per_gateway(app_env, functions) -> None:
    other = GATEWAY.lower().replace("agw-contoso", "agw-fabrikam")
    document = with_dimensions(
        alert_sample("alert-log-search-v2.json", targets=[WORKSPACE]), ("_ResourceId", GATEWAY.lower())
    )
    criteria = document["data"]["alertContext"]["condition"]["allOf"]
    criteria.append({**criteria[0], "dimensions": [{"name": "_ResourceId", "value": other}]})
    response, messages = post_alert(functions, body(document))
    assert response.status_code == 202
    items = [WorkItem.from_message(m) for m in messages]
    assert [i.gateway_id for i in items] == [GATEWAY.lower(), other]
    assert json.loads(response.get_body())["gateways"] == [GATEWAY.lower(), other]


@pytest.mark.parametrize("name", ["alert-resource-health.json", "alert-activity-log-administrative.json"])
def test_activity_log_alerts_on_a_gateway_are_diagnosed(simulator, app_env, functions, name) -> None:
    app_env.point_at(simulator(HEALTHY / "world.json"))
    document = alert_sample(name, targets=[GATEWAY], firedDateTime=FIRED)
    response, messages = post_alert(functions, body(document))
    assert response.status_code == 202
    run_queue(functions, messages)
    store = app_env.store()
    (incident,) = store.list_incidents()
    assert incident.gateway_id == GATEWAY
    assert len(store.list_diagnoses(GATEWAY)) == 1
