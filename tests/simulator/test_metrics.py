"""Unit tests of the simulator's Azure Monitor metrics query logic."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.metrics import (
    BoolOp,
    Comparison,
    combine_points,
    evaluate_filter,
    filter_dimensions,
    parse_filter,
    parse_timespan,
    query_metrics,
)

ROOT = Path(__file__).resolve().parents[2]
GW = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web"
    "/providers/Microsoft.Network/applicationGateways/agw-contoso"
)


@pytest.fixture
def items() -> list[dict]:
    world = json.loads((ROOT / "scenarios/request-timeout/world.json").read_text())
    return copy.deepcopy(world["metrics"][GW])


def query(items, **kwargs):
    params = dict(metricnames=None, timespan=None, interval=None, aggregation=None, filter=None)
    params.update(kwargs)
    return query_metrics(items, resource_id=GW, **params)


def series_by(result: dict, dimension: str) -> dict[str, list[dict]]:
    out = {}
    for series in result["value"][0]["timeseries"]:
        (value,) = [m["value"] for m in series["metadatavalues"] if m["name"]["value"] == dimension]
        out[value] = series["data"]
    return out


# --- durations and time spans --------------------------------------------------------


def test_timespan_forms():
    start, end = parse_timespan("2026-11-23T10:00:00Z/2026-11-23T10:30:00Z")
    assert end - start == timedelta(minutes=30)
    assert parse_timespan("2026-11-23T10:00:00Z/PT30M") == (start, end)
    assert parse_timespan("PT30M/2026-11-23T10:30:00Z") == (start, end)


@pytest.mark.parametrize(
    "text", ["2026-11-23T10:00:00Z", "yesterday/today", "2026-11-23T10:30:00Z/2026-11-23T10:00:00Z"]
)
def test_timespan_rejects_bad_input(text):
    with pytest.raises(ValueError, match="timespan|time"):
        parse_timespan(text)


# --- the $filter grammar -------------------------------------------------------------


def test_parse_simple_and_combinations():
    assert parse_filter("BackendHttpSetting eq 'web-settings'") == Comparison(
        "BackendHttpSetting", "eq", "web-settings"
    )
    expr = parse_filter("A eq 'x' and B eq '*' or C ne 'y'")
    assert expr == BoolOp(
        "or",
        (BoolOp("and", (Comparison("A", "eq", "x"), Comparison("B", "eq", "*"))), Comparison("C", "ne", "y")),
    )
    grouped = parse_filter("A eq 'x' and (B eq 'y' OR B eq 'z')")
    assert grouped == BoolOp(
        "and",
        (Comparison("A", "eq", "x"), BoolOp("or", (Comparison("B", "eq", "y"), Comparison("B", "eq", "z")))),
    )
    assert parse_filter("Name EQ 'it''s'") == Comparison("Name", "eq", "it's")


@pytest.mark.parametrize(
    "text",
    [
        "A eq",
        "A eq x",
        "A gt '1'",
        "(A eq '1'",
        "A eq '1')",
        "A eq '1' and",
        "and A eq '1'",
        "A eq '1' B eq '2'",
        "A eq 'unterminated",
        "   ",
    ],
)
def test_parse_filter_rejects_bad_syntax(text):
    with pytest.raises(ValueError, match=r"\$filter"):
        parse_filter(text)


def test_filter_dimensions_deduplicates_case_insensitively():
    expr = parse_filter("HttpStatusGroup eq '5xx' or httpstatusgroup eq '4xx' and BackendPool eq '*'")
    assert filter_dimensions(expr) == ["HttpStatusGroup", "BackendPool"]


def test_evaluate_filter_semantics():
    values = {"a": "X", "b": None}
    assert evaluate_filter(parse_filter("A eq 'x'"), values)
    assert not evaluate_filter(parse_filter("A eq 'y'"), values)
    assert evaluate_filter(parse_filter("A eq '*'"), values)
    assert evaluate_filter(parse_filter("B eq '*'"), values)
    assert not evaluate_filter(parse_filter("B eq 'x'"), values)
    assert evaluate_filter(parse_filter("A ne 'y'"), values)
    assert evaluate_filter(parse_filter("A sw 'x'"), {"a": "xyz"})
    assert evaluate_filter(parse_filter("A eq 'y' or A eq 'x'"), values)
    assert not evaluate_filter(parse_filter("A eq 'x' and B eq 'x'"), values)


_names = st.sampled_from(["HttpStatusGroup", "BackendPool", "BackendHttpSetting", "Listener"])
_values = st.text(alphabet="abcxyz'*-_ 5", min_size=1, max_size=6)
_comparisons = st.builds(Comparison, _names, st.sampled_from(["eq", "ne", "sw"]), _values)


def _flat(op: str, operands: list) -> BoolOp:
    flat: list = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, BoolOp) and operand.op == op else [operand])
    return BoolOp(op, tuple(flat))


_exprs = st.recursive(
    _comparisons,
    lambda children: st.builds(
        _flat, st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3)
    ),
    max_leaves=8,
)


def _render(expr) -> str:
    if isinstance(expr, Comparison):
        return f"{expr.dimension} {expr.op} '{expr.value.replace(chr(39), chr(39) * 2)}'"
    return f" {expr.op} ".join(f"({_render(operand)})" for operand in expr.operands)


def _reference(expr, values) -> bool:
    if isinstance(expr, BoolOp):
        results = [_reference(operand, values) for operand in expr.operands]
        return all(results) if expr.op == "and" else any(results)
    actual = values.get(expr.dimension.lower())
    if expr.op == "eq":
        return expr.value == "*" or actual is not None and actual.lower() == expr.value.lower()
    if expr.op == "ne":
        return actual is None or actual.lower() != expr.value.lower()
    return actual is not None and actual.lower().startswith(expr.value.lower())


@given(_exprs, st.dictionaries(st.sampled_from(["httpstatusgroup", "backendpool", "listener"]), _values))
def test_rendered_filters_parse_to_the_same_meaning(expr, values):
    parsed = parse_filter(_render(expr))
    assert evaluate_filter(parsed, values) == _reference(expr, values)
    assert {name.lower() for name in filter_dimensions(parsed)} == {
        name.lower() for name in filter_dimensions(expr)
    }


# --- aggregation ---------------------------------------------------------------------


def test_combine_points():
    combined = combine_points(
        [
            {"total": 1.0, "maximum": 5.0, "minimum": 1.0, "average": 2.0, "count": 1.0},
            {"total": 3.0, "maximum": 7.0, "minimum": 0.5, "average": 5.0, "count": 3.0},
        ]
    )
    assert combined == {"total": 4.0, "count": 4.0, "maximum": 7.0, "minimum": 0.5, "average": 4.25}
    assert combine_points([{"average": 2.0}, {"average": 4.0}]) == {"average": 3.0}


# --- whole queries -------------------------------------------------------------------


def test_split_by_backend_http_setting(items):
    result = query(
        items,
        metricnames="BackendLastByteResponseTime",
        aggregation="Average,Maximum",
        filter="BackendHttpSetting eq '*'",
    )
    by_setting = series_by(result, "BackendHttpSetting")
    assert set(by_setting) == {"web-settings", "reports-settings"}
    assert {p["average"] for p in by_setting["web-settings"]} == {17500.0}
    assert {p["maximum"] for p in by_setting["reports-settings"]} == {4000.0}
    for series in result["value"][0]["timeseries"]:
        assert [m["name"]["value"] for m in series["metadatavalues"]] == ["BackendHttpSetting"]


def test_filter_on_one_value_keeps_that_dimension(items):
    result = query(
        items, metricnames="BackendLastByteResponseTime", filter="backendhttpsetting eq 'WEB-SETTINGS'"
    )
    assert list(series_by(result, "BackendHttpSetting")) == ["web-settings"]


def test_or_on_status_groups_and_default_total(items):
    result = query(
        items, metricnames="ResponseStatus", filter="HttpStatusGroup eq '5xx' or HttpStatusGroup eq '4xx'"
    )
    by_group = series_by(result, "HttpStatusGroup")
    assert list(by_group) == ["5xx"]
    assert set(by_group["5xx"][0]) == {"timeStamp", "total"}


def test_filter_without_match_returns_no_series(items):
    result = query(items, metricnames="ResponseStatus", filter="HttpStatusGroup eq '3xx'")
    assert result["value"][0]["timeseries"] == []


def test_without_filter_series_are_aggregated(items):
    source = {ts["metadatavalues"][0]["value"]: ts["data"] for ts in items[1]["timeseries"]}
    result = query(items, metricnames="ResponseStatus")
    (series,) = result["value"][0]["timeseries"]
    assert series["metadatavalues"] == []
    assert series["data"][0]["total"] == source["5xx"][0]["total"] + source["2xx"][0]["total"]
    latency = query(items, metricnames="BackendLastByteResponseTime", aggregation="maximum")
    (series,) = latency["value"][0]["timeseries"]
    assert series["data"][0] == {"timeStamp": "2026-11-23T10:00:00Z", "maximum": 19900.0}


def test_filter_not_naming_a_dimension_aggregates_it(items):
    result = query(items, metricnames="BackendLastByteResponseTime", filter="BackendPool eq 'web-pool'")
    (series,) = result["value"][0]["timeseries"]
    assert [m["value"] for m in series["metadatavalues"]] == ["web-pool"]
    assert series["data"][0]["average"] == pytest.approx((17500.0 + 2100.0) / 2)


def test_timespan_keeps_start_inclusive_end_exclusive(items):
    result = query(items, metricnames="ResponseStatus", timespan="2026-11-23T10:05:00Z/2026-11-23T10:10:00Z")
    stamps = [p["timeStamp"] for p in result["value"][0]["timeseries"][0]["data"]]
    assert stamps == [f"2026-11-23T10:0{m}:00Z" for m in range(5, 10)]
    assert result["timespan"] == "2026-11-23T10:05:00Z/2026-11-23T10:10:00Z"


def test_interval_rebuckets_and_sums(items):
    result = query(
        items,
        metricnames="ResponseStatus",
        timespan="2026-11-23T10:00:00Z/PT30M",
        interval="PT5M",
        filter="HttpStatusGroup eq '5xx'",
    )
    data = result["value"][0]["timeseries"][0]["data"]
    per_minute = items[1]["timeseries"][0]["data"][0]["total"]
    assert len(data) == 6
    assert {p["total"] for p in data} == {5 * per_minute}
    assert result["interval"] == "PT5M"


def test_interval_full_makes_one_bucket(items):
    result = query(items, metricnames="ResponseStatus", interval="FULL", filter="HttpStatusGroup eq '5xx'")
    (point,) = result["value"][0]["timeseries"][0]["data"]
    assert point["total"] == sum(p["total"] for p in items[1]["timeseries"][0]["data"])


def test_interval_finer_than_the_data_keeps_the_data(items):
    result = query(items, metricnames="ResponseStatus", interval="PT1M")
    assert len(result["value"][0]["timeseries"][0]["data"]) == 30


def test_response_envelope(items):
    result = query_metrics(
        items,
        resource_id=GW,
        metricnames="ResponseStatus,BackendLastByteResponseTime",
        timespan=None,
        interval=None,
        aggregation=None,
        filter=None,
        region="westeurope",
    )
    assert result["namespace"] == "Microsoft.Network/applicationGateways"
    assert result["resourceregion"] == "westeurope"
    assert result["interval"] == "PT1M"
    assert [v["name"]["value"] for v in result["value"]] == ["ResponseStatus", "BackendLastByteResponseTime"]
    assert result["value"][0]["id"] == f"{GW}/providers/Microsoft.Insights/metrics/ResponseStatus"
    assert all(
        v["errorCode"] == "Success" and v["type"] == "Microsoft.Insights/metrics" for v in result["value"]
    )


def test_unknown_metric_name_is_a_bad_request(items):
    with pytest.raises(ValueError, match="Failed to find metric configuration.*metric: Nope"):
        query(items, metricnames="ResponseStatus,Nope")


def test_defined_metric_without_recorded_data_answers_with_no_series(items):
    result = query(
        items, metricnames="unhealthyhostcount,ResponseStatus", filter="BackendSettingsPool eq '*'"
    )
    by_name = {item["name"]["value"]: item for item in result["value"]}
    assert by_name["UnhealthyHostCount"]["timeseries"] == []
    assert by_name["UnhealthyHostCount"]["unit"] == "Count"
    assert by_name["ResponseStatus"]["timeseries"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"aggregation": "Median"},
        {"interval": "5 minutes"},
        {"timespan": "last hour"},
        {"filter": "HttpStatusGroup = '5xx'"},
    ],
)
def test_bad_parameters_raise(items, kwargs):
    with pytest.raises(ValueError):
        query(items, metricnames="ResponseStatus", **kwargs)


def test_split_series_without_data_in_the_timespan_are_not_listed(items):
    later = "2026-11-23T11:00:00Z/PT30M"
    split = query(items, metricnames="ResponseStatus", timespan=later, filter="HttpStatusGroup eq '*'")
    assert split["value"][0]["timeseries"] == []
    whole = query(items, metricnames="ResponseStatus", timespan=later)
    assert whole["value"][0]["timeseries"] == [{"metadatavalues": [], "data": []}]
