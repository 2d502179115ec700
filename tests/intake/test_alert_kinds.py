"""Log search alerts on a workspace (gateways from the `_ResourceId` dimension), Resource Health and
Administrative activity-log alerts, from Microsoft's published common-alert-schema samples: what is
diagnosed, what is refused and how, and that the caps and the queue round trip hold for them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from appgw_doctor.pipeline import Pipeline, WorkItem
from intake.alerts import (
    ACTIVITY_LOG,
    ADMINISTRATIVE,
    RESOURCE_HEALTH,
    Alert,
    check_alert,
    parse_alert_body,
    parse_alert_document,
)
from intake.errors import IntakeError
from tests.intake.samples import GATEWAY, RG, SUB, alert_sample, sample, with_dimensions

LOG = "alert-log-search-v2.json"
ADMIN = "alert-activity-log-administrative.json"
HEALTH = "alert-resource-health.json"
WORKSPACE = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/law-contoso"
OTHER = f"{RG}/providers/Microsoft.Network/applicationGateways/agw-fabrikam"


def parsed(document, **options) -> list[Alert]:
    return parse_alert_body(json.dumps(document).encode(), allowed_subscriptions=options.get("allowed"),
                            max_targets=options.get("max_targets", 20))  # fmt: skip


def refusal(document, **options) -> IntakeError:
    with pytest.raises(IntakeError) as refused:
        parsed(document, **options)
    return refused.value


def log_alert(*dimensions: tuple[str, str], targets: list[str] | None = None) -> dict:
    return with_dimensions(alert_sample(LOG, targets=targets or [WORKSPACE]), *dimensions)


def round_trips(alerts: list[Alert]) -> None:
    for item in Pipeline.alert_items(alerts):
        assert WorkItem.from_message(item.to_message()) == item


# --- log search alerts (Log Alerts V2) ---


def test_the_published_log_search_sample_names_no_gateway_and_is_refused_with_the_fix() -> None:
    error = refusal(sample(LOG))  # a workspace target, split by Computer
    assert (error.status, error.code) == (422, "no_gateway_in_alert")
    assert "split the alert rule by the _ResourceId dimension" in error.message
    assert error.message.isprintable()


@pytest.mark.parametrize("name", ["_ResourceId", "ResourceId", "_resourceid"])
def test_a_workspace_alert_split_by_resource_id_is_about_that_gateway(name) -> None:
    (alert,) = parsed(log_alert(("Computer", "TestComputer"), (name, GATEWAY.lower())))
    assert alert.gateway_id == GATEWAY.lower()  # as Log Analytics writes it
    assert alert.signal_type == "Log" and alert.monitoring_service == "Log Alerts V2"
    assert alert.window_size == timedelta(minutes=10) and alert.window_end is not None
    assert alert.metric is None  # a log criterion has no metricName
    round_trips([alert])


def test_several_gateways_in_the_dimensions_are_one_work_item_each_once() -> None:
    document = log_alert(("_ResourceId", GATEWAY.lower()))
    criteria = document["data"]["alertContext"]["condition"]["allOf"]
    criteria.append({**criteria[0], "dimensions": [{"name": "_ResourceId", "value": OTHER.lower()}]})
    criteria.append(
        {**criteria[0], "dimensions": [{"name": "_ResourceId", "value": GATEWAY}]}
    )  # same, other case
    alerts = parsed(document)
    assert [a.gateway_id for a in alerts] == [GATEWAY.lower(), OTHER.lower()]
    assert len({a.dedupe_key for a in alerts}) == 2
    round_trips(alerts)


def test_a_log_alert_on_the_gateway_itself_needs_no_dimension() -> None:
    (alert,) = parsed(log_alert(("Computer", "TestComputer"), targets=[GATEWAY]))
    assert alert.gateway_id == GATEWAY


@pytest.mark.parametrize(
    "dimension",
    [
        ("_ResourceId", f"{RG.lower()}/providers/microsoft.compute/virtualmachines/vm1"),  # not a gateway
        ("Computer", GATEWAY.lower()),  # not a resource dimension
        ("_ResourceId", GATEWAY.lower() + "\r\nforged"),  # not one line
        ("_ResourceId", GATEWAY.lower() + "/"),  # not the whole id
    ],
)
def test_dimensions_that_name_no_gateway_are_refused_with_the_fix(dimension) -> None:
    error = refusal(log_alert(dimension))
    assert error.code == "no_gateway_in_alert" and "_ResourceId" in error.message
    assert "forged" not in error.message.replace("\\r\\nforged", "")  # the hostile value is never echoed raw


def test_dimension_gateways_are_capped_by_max_alert_targets() -> None:
    document = log_alert(("_ResourceId", GATEWAY.lower()))
    criterion = document["data"]["alertContext"]["condition"]["allOf"][0]
    criterion["dimensions"] = [
        {
            "name": "_ResourceId",
            "value": f"{RG.lower()}/providers/microsoft.network/applicationgateways/agw-{n}",
        }
        for n in range(3)
    ]
    assert len(parsed(document, max_targets=3)) == 3
    error = refusal(document, max_targets=2)
    assert (error.status, error.code) == (422, "too_many_targets") and "MAX_ALERT_TARGETS" in error.message


def test_dimension_gateways_are_held_to_the_allowed_subscriptions() -> None:
    document = log_alert(("_ResourceId", GATEWAY.lower()))
    assert len(parsed(document, allowed=[SUB])) == 1
    error = refusal(document, allowed=["11111111-1111-1111-1111-111111111111"])
    assert (error.status, error.code) == (403, "subscription_not_allowed")


# --- activity-log alerts: Resource Health, Administrative ---


@pytest.mark.parametrize(("name", "service"), [(HEALTH, RESOURCE_HEALTH), (ADMIN, ADMINISTRATIVE)])
def test_activity_log_alerts_about_a_gateway_are_diagnosed(name, service) -> None:
    (alert,) = parsed(alert_sample(name, targets=[GATEWAY]))
    assert (alert.gateway_id, alert.signal_type, alert.monitoring_service) == (GATEWAY, ACTIVITY_LOG, service)
    assert alert.fired_at is not None and alert.metric is None and alert.window_size is None
    assert alert.common_schema_data()["essentials"]["monitoringService"] == service
    round_trips([alert])


def test_the_resource_health_sample_spelling_is_the_same_service() -> None:
    (alert,) = parsed(alert_sample(HEALTH, targets=[GATEWAY], monitoringService="ResourceHealth"))
    assert alert.monitoring_service == RESOURCE_HEALTH


@pytest.mark.parametrize("name", [HEALTH, ADMIN])
def test_the_published_activity_log_samples_are_about_a_vm_and_refused(name) -> None:
    error = refusal(sample(name))
    assert (error.status, error.code) == (422, "not_application_gateway")


@pytest.mark.parametrize(
    "service",
    ["ServiceHealth", "Activity Log - Policy", "Activity Log - Autoscale", "Activity Log - Security", ""],
)
def test_other_activity_log_alerts_are_refused(service) -> None:
    error = refusal(alert_sample(ADMIN, targets=[GATEWAY], monitoringService=service))
    assert (error.status, error.code) == (422, "unsupported_signal")


def test_an_activity_log_alert_is_not_log_search_so_it_needs_a_gateway_target() -> None:
    document = alert_sample(HEALTH, targets=[WORKSPACE])
    condition = {"allOf": [{"dimensions": [{"name": "_ResourceId", "value": GATEWAY.lower()}]}]}
    document["data"]["alertContext"]["condition"] = condition
    assert refusal(document).code == "not_application_gateway"


def test_a_monitoring_service_that_is_not_one_line_is_refused() -> None:
    error = refusal(alert_sample(HEALTH, targets=[GATEWAY], monitoringService="Resource Health\n"))
    assert (error.status, error.code) == (400, "invalid_field")


def test_the_queue_rechecks_the_activity_log_service() -> None:
    (alert,) = parse_alert_document(alert_sample(HEALTH, targets=[GATEWAY]), allowed_subscriptions=None)
    forged = WorkItem(
        kind="alert", gateway_id=GATEWAY, alert=Alert(**{**alert.__dict__, "monitoring_service": "Platform"})
    )
    with pytest.raises(IntakeError):
        check_alert(forged.alert)
    with pytest.raises(ValueError, match="not a work item message"):
        WorkItem.from_message(forged.to_message())
