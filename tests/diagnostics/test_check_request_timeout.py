"""REQUEST_TIMEOUT_TOO_LOW from BackendLastByteResponseTime split by BackendHttpSetting."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnostics.checks.base import NotApplicable
from diagnostics.checks.request_timeout import CHECK, proposed_timeout, reaches_threshold
from diagnostics.snapshot import MissingData
from model.findings import Severity
from simulator import FaultRule

METRIC = "BackendLastByteResponseTime"


def series(settings_name: str | None, *points: dict) -> dict:
    metadata = []
    if settings_name is not None:
        metadata.append({"name": {"value": "BackendHttpSetting"}, "value": settings_name})
    data = [dict({"timeStamp": f"2026-11-23T10:{i:02d}:00Z"}, **p) for i, p in enumerate(points)]
    return {"metadatavalues": metadata, "data": data}


def with_metric(kit, *timeseries: dict, world=None) -> dict:
    world = world or kit.healthy_world()
    gateway_id = kit.gateway_body(world)["id"]
    world["metrics"] = {
        gateway_id: [
            {
                "id": f"metric/{METRIC}",
                "name": {"value": METRIC},
                "unit": "MilliSeconds",
                "timeseries": list(timeseries),
            }
        ]
    }
    return world


def test_only_the_settings_whose_backends_are_slow_are_flagged(kit):
    world = kit.load_world("scenarios/request-timeout/world.json")
    [finding] = CHECK.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("REQUEST_TIMEOUT_TOO_LOW", Severity.CRITICAL)
    assert finding.resource.endswith("/backendHttpSettingsCollection/web-settings")
    assert finding.evidence["observedMs"] == 19900.0
    assert finding.evidence["requestTimeoutSeconds"] == 20
    assert finding.evidence["ratio"] == 0.995
    assert finding.evidence["aggregation"] == "maximum"
    assert finding.fix.plan.to_seconds == 30
    assert finding.fix.action == "raise-request-timeout"
    assert finding.fix.command == (
        "az network application-gateway http-settings update -g rg-contoso-web --gateway-name agw-contoso "
        "-n web-settings --timeout 30"
    )
    assert (
        finding.title
        == "Backends of settings web-settings take up to 19.9 s, 99% of its 20 s request time-out"
    )


def test_over_the_timeout_proposes_half_again_rounded_to_five_seconds(kit):
    [finding] = CHECK.run(kit.snapshot(kit.load_world("scenarios/live-slow-backend/world.json")))
    assert finding.fix.plan.to_seconds == 40  # 25.1 s * 1.5 = 37.65 -> 40
    assert "--timeout 40" in finding.fix.command


def test_the_average_is_used_when_no_maximum_was_reported(kit):
    world = with_metric(kit, series("web-settings", {"average": 17000.0}, {"average": 12000.0}))
    [finding] = CHECK.run(kit.snapshot(world))
    assert (finding.evidence["observedMs"], finding.evidence["aggregation"]) == (17000.0, "average")


def test_fast_backends_and_empty_series_raise_nothing(kit):
    world = with_metric(
        kit, series("web-settings", {"average": 300.0, "maximum": 15999.0}), series("web-settings")
    )
    assert CHECK.run(kit.snapshot(world)) == []


def test_a_series_without_the_settings_dimension_is_attributed_only_when_unambiguous(kit):
    world = with_metric(kit, series(None, {"maximum": 19000.0}))
    assert [f.code for f in CHECK.run(kit.snapshot(world))] == ["REQUEST_TIMEOUT_TOO_LOW"]
    two_settings = kit.load_world("scenarios/request-timeout/world.json")
    world = with_metric(kit, series(None, {"maximum": 19000.0}), world=two_settings)
    with pytest.raises(NotApplicable, match="attributable"):
        CHECK.run(kit.snapshot(world))


def test_no_response_time_data_in_the_window_is_skipped_not_passed(kit):
    world = with_metric(kit, series("web-settings"))
    with pytest.raises(NotApplicable, match="no BackendLastByteResponseTime data"):
        CHECK.run(kit.snapshot(world))


def test_dimension_values_match_settings_names_case_insensitively(kit):
    world = with_metric(kit, series("WEB-SETTINGS", {"maximum": 19000.0}))
    assert [f.code for f in CHECK.run(kit.snapshot(world))] == ["REQUEST_TIMEOUT_TOO_LOW"]


def test_at_the_largest_timeout_there_is_no_raise_to_propose(kit):
    world = with_metric(kit, series("web-settings", {"maximum": 86_400_000.0}))
    kit.gateway_part(world, "backendHttpSettingsCollection", "web-settings")["properties"][
        "requestTimeout"
    ] = 86400
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.fix.action is None and finding.fix.command is None


def test_a_metric_that_could_not_be_read_is_missing_data(kit):
    throttled = [FaultRule("metrics.list", "throttle", retry_after=0)]
    with pytest.raises(MissingData, match=METRIC):
        CHECK.run(kit.snapshot(kit.healthy_world(), faults=throttled))
    snapshot = kit.snapshot(kit.load_world("scenarios/live-slow-backend/world.json"))
    del snapshot.metrics[METRIC]
    snapshot.errors["metrics"] = "BackendLastByteResponseTime: 429 throttled"
    with pytest.raises(MissingData, match="429"):
        CHECK.run(snapshot)


@settings(max_examples=200, deadline=None)
@given(timeout=st.integers(min_value=1, max_value=86400))
def test_the_threshold_is_exactly_eighty_percent(timeout):
    boundary = timeout * 800.0
    assert reaches_threshold(boundary, timeout)
    assert not reaches_threshold(boundary - 0.001, timeout)
    assert reaches_threshold(boundary + 0.001, timeout)


# `kit` only holds pure functions, so sharing it across generated inputs is safe.
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timeout=st.integers(min_value=1, max_value=600), below=st.booleans())
def test_the_check_flags_exactly_from_the_boundary(kit, timeout, below):
    observed = timeout * 800.0 - (1.0 if below else 0.0)
    world = with_metric(kit, series("web-settings", {"maximum": observed}))
    kit.gateway_part(world, "backendHttpSettingsCollection", "web-settings")["properties"][
        "requestTimeout"
    ] = timeout
    assert bool(CHECK.run(kit.snapshot(world))) is not below


@given(
    observed=st.floats(min_value=0, max_value=200_000_000, allow_nan=False),
    current=st.integers(min_value=1, max_value=86400),
)
def test_the_proposed_timeout_is_a_real_raise_within_azure_limits(observed, current):
    proposed = proposed_timeout(observed, current)
    assert proposed <= 86400
    if current < 86400:
        assert proposed > current
    if proposed < 86400:
        assert proposed * 1000 >= observed * 1.5
        assert proposed % 5 == 0 or proposed == current + 1
