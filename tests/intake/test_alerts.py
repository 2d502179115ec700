"""Alert validation: every bundled scenario alert is accepted; every kind of bad input is refused with
a 4xx IntakeError naming the problem; arbitrary input never raises anything else."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.alerts import MAX_BODY_BYTES, Alert, parse_alert_body, parse_alert_document, parse_time
from intake.errors import IntakeError

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_ALERTS = sorted(ROOT.glob("scenarios/*/alert.json"))
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourcegroups/rg-contoso-web"
GW = f"{RG}/providers/microsoft.network/applicationgateways/agw-contoso"
ALLOWED = [SUB]


def sample() -> dict:
    return json.loads((ROOT / "scenarios/healthy/alert.json").read_text())


def refused(document, allowed=ALLOWED) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        parse_alert_body(json.dumps(document).encode(), allowed_subscriptions=allowed)
    return caught.value


@pytest.mark.parametrize("path", SCENARIO_ALERTS, ids=lambda p: p.parent.name)
def test_every_scenario_alert_is_accepted(path: Path) -> None:
    alerts = parse_alert_body(path.read_bytes(), allowed_subscriptions=ALLOWED)
    expected_gateway = json.loads((path.parent / "expected.json").read_text())["gateway"]
    assert [a.gateway_id.lower() for a in alerts] == [expected_gateway.lower()]
    assert alerts[0].monitor_condition == "Fired" and not alerts[0].resolved
    assert alerts[0].subscription_id == SUB


def test_alert_fields() -> None:
    (alert,) = parse_alert_body(json.dumps(sample()).encode(), allowed_subscriptions=None)
    assert alert.alert_rule == "appgw-5xx"
    assert alert.severity == "Sev1"
    assert alert.signal_type == "Metric"
    assert alert.fired_at == datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)
    assert alert.incident_time == alert.window_end == alert.fired_at
    assert alert.window_size == timedelta(minutes=5)


def test_incident_time_is_the_fired_time_when_the_window_ends_earlier() -> None:
    document = sample()
    document["data"]["alertContext"]["condition"]["windowEndTime"] = "2026-11-23T10:25:00Z"
    (alert,) = parse_alert_document(document, allowed_subscriptions=ALLOWED)
    assert alert.incident_time == alert.fired_at == datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)


def test_metric_criterion_is_kept_for_the_notification() -> None:
    (alert,) = parse_alert_document(sample(), allowed_subscriptions=ALLOWED)
    assert alert.metric is not None
    assert (alert.metric.metric_name, alert.metric.operator, alert.metric.threshold) == (
        "ResponseStatus",
        "GreaterThan",
        "10",
    )
    assert alert.metric.metric_value == pytest.approx(57.0)
    data = alert.common_schema_data()
    assert data["essentials"]["alertRule"] == "appgw-5xx"
    assert data["alertContext"]["condition"]["allOf"][0]["metricValue"] == pytest.approx(57.0)


def test_incident_time_falls_back_to_fired_time_for_log_alerts() -> None:
    document = sample()
    document["data"]["essentials"]["signalType"] = "Log"
    document["data"]["alertContext"] = {"SearchQuery": "AzureDiagnostics | where httpStatus_d >= 500"}
    (alert,) = parse_alert_document(document, allowed_subscriptions=ALLOWED)
    assert alert.signal_type == "Log"
    assert alert.window_end is None
    assert alert.incident_time == alert.fired_at


def test_resolved_alert_has_its_own_dedupe_key() -> None:
    document = sample()
    (fired,) = parse_alert_document(document, allowed_subscriptions=ALLOWED)
    document["data"]["essentials"]["monitorCondition"] = "Resolved"
    document["data"]["essentials"]["resolvedDateTime"] = "2026-11-23T10:47:12.1234567Z"
    (resolved,) = parse_alert_document(document, allowed_subscriptions=ALLOWED)
    assert resolved.resolved
    assert resolved.resolved_at == datetime(2026, 11, 23, 10, 47, 12, 123456, tzinfo=timezone.utc)
    assert resolved.dedupe_key != fired.dedupe_key


def test_dedupe_key_ignores_alert_id_case_and_repeats_exactly() -> None:
    document = sample()
    (first,) = parse_alert_document(document, allowed_subscriptions=ALLOWED)
    document["data"]["essentials"]["alertId"] = document["data"]["essentials"]["alertId"].upper()
    (again,) = parse_alert_document(document, allowed_subscriptions=ALLOWED)
    assert first.dedupe_key == again.dedupe_key


def test_multi_target_alert_yields_one_alert_per_gateway() -> None:
    document = sample()
    other = GW.replace("agw-contoso", "agw-other")
    document["data"]["essentials"]["alertTargetIDs"] = [GW, other, GW]
    alerts = parse_alert_document(document, allowed_subscriptions=ALLOWED)
    assert [a.gateway_id for a in alerts] == [GW, other]
    assert len({a.dedupe_key for a in alerts}) == 2


def test_alert_round_trips_through_its_dict() -> None:
    (alert,) = parse_alert_document(sample(), allowed_subscriptions=ALLOWED)
    assert Alert.from_dict(json.loads(json.dumps(alert.to_dict()))) == alert


def _set(document: dict, path: str, value) -> dict:
    document = copy.deepcopy(document)
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return document


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "status", "code"),
    [
        ("schemaId", "Microsoft.Insights/activityLogs", 400, "wrong_schema"),
        ("schemaId", _DELETE, 400, "wrong_schema"),
        ("data", "x", 400, "missing_field"),
        ("data.essentials", _DELETE, 400, "missing_field"),
        ("data.essentials.alertId", _DELETE, 400, "missing_field"),
        ("data.essentials.alertId", 42, 400, "missing_field"),
        ("data.essentials.alertId", " ", 400, "missing_field"),
        ("data.essentials.alertId", "a" * 2000, 400, "invalid_field"),
        ("data.essentials.monitorCondition", "Firing", 400, "invalid_field"),
        ("data.essentials.monitorCondition", _DELETE, 400, "missing_field"),
        ("data.essentials.signalType", "Activity Log", 422, "unsupported_signal"),
        ("data.essentials.alertTargetIDs", [], 400, "missing_field"),
        ("data.essentials.alertTargetIDs", GW, 400, "missing_field"),
        ("data.essentials.alertTargetIDs", [GW, 7], 400, "missing_field"),
        ("data.essentials.firedDateTime", "yesterday", 400, "invalid_field"),
        ("data.essentials.firedDateTime", 1700000000, 400, "invalid_field"),
        ("data.alertContext.condition.windowEndTime", "2026-13-40T00:00:00Z", 400, "invalid_field"),
        ("data.alertContext.condition.windowSize", "five minutes", 400, "invalid_field"),
        ("data.alertContext.condition.windowSize", 300, 400, "invalid_field"),
        # out of range: would overflow the diagnosis' time arithmetic, or no real alert has them
        ("data.essentials.firedDateTime", "0001-01-01T00:00:00Z", 400, "invalid_field"),
        ("data.essentials.firedDateTime", "1999-12-31T23:59:59Z", 400, "invalid_field"),
        ("data.essentials.firedDateTime", "9999-12-31T23:59:59Z", 400, "invalid_field"),
        ("data.essentials.resolvedDateTime", "0001-01-01T00:00:00Z", 400, "invalid_field"),
        ("data.alertContext.condition.windowEndTime", "9999-12-31T00:00:00Z", 400, "invalid_field"),
        ("data.alertContext.condition.windowSize", "P999999999D", 400, "invalid_field"),
        ("data.alertContext.condition.windowSize", "P3D", 400, "invalid_field"),
        ("data.alertContext.condition.windowSize", "PT0S", 400, "invalid_field"),
    ],
)
def test_bad_alerts_are_refused_with_a_named_reason(path, value, status, code) -> None:
    error = refused(_set(sample(), path, value))
    assert (error.status, error.code) == (status, code)
    if code == "invalid_field":
        assert path.rsplit(".", 1)[-1] in error.message  # names the field
    assert error.to_body() == {"error": {"code": code, "message": error.message}}
    assert "\n" not in error.message


@pytest.mark.parametrize(
    "target",
    [
        f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1",
        f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/law",
        GW + "/backendaddresspools/web-pool",  # a child, not the gateway
        GW + "\n",  # `$` would have matched before a trailing newline
        GW + "\x00",
        GW.replace("agw-contoso", "agw-\u202econtoso"),  # a bidi override in the name
        GW.replace("rg-contoso-web", "rg\tcontoso"),
        "/subscriptions/not-a-guid/resourcegroups/rg/providers/microsoft.network/applicationgateways/agw",
        "agw-contoso",
    ],
)
def test_targets_that_are_not_application_gateways_are_refused(target: str) -> None:
    error = refused(_set(sample(), "data.essentials.alertTargetIDs", [GW, target]))
    assert (error.status, error.code) == (422, "not_application_gateway")


@pytest.mark.parametrize("window", ["PT1M", "PT5M", "P1D", "P2D"])
def test_evaluation_windows_azure_allows_are_accepted(window: str) -> None:
    (alert,) = parse_alert_document(
        _set(sample(), "data.alertContext.condition.windowSize", window), allowed_subscriptions=ALLOWED
    )
    assert alert.window_size is not None and alert.window_size <= timedelta(days=2)


def test_subscription_outside_the_allow_list_is_refused() -> None:
    error = refused(sample(), allowed=["11111111-1111-1111-1111-111111111111"])
    assert (error.status, error.code) == (403, "subscription_not_allowed")
    assert refused(sample(), allowed=[]).code == "subscription_not_allowed"


def test_allow_list_compares_case_insensitively() -> None:
    assert parse_alert_document(sample(), allowed_subscriptions=[SUB.upper()])


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b"[1, 2]", b'"text"', b"null", b"[" * 100_000])
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(IntakeError) as caught:
        parse_alert_body(body, allowed_subscriptions=ALLOWED)
    assert caught.value.status == 400
    assert caught.value.code in ("malformed_json", "malformed_alert")


def test_body_over_one_megabyte_is_refused_before_parsing() -> None:
    body = json.dumps(sample()).encode()
    body = body[:-1] + b" " * (MAX_BODY_BYTES - len(body) + 1) + b"}"
    with pytest.raises(IntakeError) as caught:
        parse_alert_body(body, allowed_subscriptions=ALLOWED)
    assert (caught.value.status, caught.value.code) == (413, "body_too_large")
    assert parse_alert_body(body[: MAX_BODY_BYTES - 1] + b"}", allowed_subscriptions=ALLOWED)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T10:27:00Z", datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)),
        ("2026-11-23T10:27:00.1234567Z", datetime(2026, 11, 23, 10, 27, 0, 123456, tzinfo=timezone.utc)),
        ("2026-11-23T11:27:00+01:00", datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)),
        ("2026-11-23T10:27:00", datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)),
    ],
)
def test_parse_time_reads_azure_timestamps(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_accepted_or_refused_with_4xx(body: bytes) -> None:
    _accepted_or_4xx(body)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_is_accepted_or_refused_with_4xx(document) -> None:
    _accepted_or_4xx(json.dumps(document).encode())


_FIELDS = [
    "schemaId", "data", "data.essentials", "data.essentials.alertId", "data.essentials.monitorCondition",
    "data.essentials.signalType", "data.essentials.alertTargetIDs", "data.essentials.firedDateTime",
    "data.essentials.resolvedDateTime", "data.alertContext", "data.alertContext.condition",
    "data.alertContext.condition.windowEndTime", "data.alertContext.condition.windowSize",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_FIELDS), json_values), min_size=1, max_size=3))
def test_a_valid_alert_with_fields_replaced_by_anything_is_accepted_or_refused(changes) -> None:
    document = sample()
    for path, value in changes:
        try:
            document = _set(document, path, value)
        except (KeyError, TypeError):
            pass  # an earlier change removed the parent
    _accepted_or_4xx(json.dumps(document).encode())


def _accepted_or_4xx(body: bytes) -> None:
    try:
        alerts = parse_alert_body(body, allowed_subscriptions=ALLOWED)
    except IntakeError as error:
        assert 400 <= error.status < 500
        json.dumps(error.to_body())
    else:
        assert alerts and all(isinstance(a, Alert) for a in alerts)
