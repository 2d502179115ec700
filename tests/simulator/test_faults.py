"""Fault rules: validation, matching, seeded firing, and the --faults spec."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.faults import FaultPlan, FaultRule, error_code_for, parse_fault_spec

ALL_KINDS = {"latency", "throttle", "error", "lro-fail", "concurrent-write"}


@pytest.mark.parametrize(
    "options",
    [
        {"operation": "", "kind": "error"},
        {"operation": "*", "kind": "explode"},
        {"operation": "*", "kind": "error", "rate": 1.5},
        {"operation": "*", "kind": "latency", "seconds": -1},
        {"operation": "*", "kind": "error", "status": 200},
        {"operation": "*", "kind": "concurrent-write"},
        {"operation": "*", "kind": "error", "times": -1},
    ],
)
def test_invalid_rules_are_refused(options):
    with pytest.raises(ValueError):
        FaultRule(**options)


def test_glob_matches_operation_ids_case_insensitively():
    rule = FaultRule("applicationGateways.*", "error")
    assert rule.matches("applicationGateways.get")
    assert rule.matches("APPLICATIONGATEWAYS.createOrUpdate")
    assert not rule.matches("securityRules.get")


def test_error_codes_follow_arm():
    assert FaultRule("*", "error", status=403).error_code == "AuthorizationFailed"
    assert FaultRule("*", "error", status=503).error_code == "ServiceUnavailable"
    assert FaultRule("*", "throttle").error_code == "TooManyRequests"
    assert FaultRule("*", "error", status=500, code="Custom").error_code == "Custom"
    assert error_code_for(422) == "UnprocessableEntity"


def test_times_caps_firing():
    plan = FaultPlan([FaultRule("*", "error", times=2)])
    fired = [bool(plan.draw("applicationGateways.get", ALL_KINDS)) for _ in range(5)]
    assert fired == [True, True, False, False, False]


def test_only_requested_kinds_are_drawn_and_counted():
    plan = FaultPlan([FaultRule("*", "lro-fail", times=1)])
    assert plan.draw("applicationGateways.get", {"latency", "error"}) == []
    assert len(plan.draw("applicationGateways.backendHealth", {"lro-fail"})) == 1


def test_replace_resets_counts():
    plan = FaultPlan([FaultRule("*", "error", times=1)])
    plan.draw("x", ALL_KINDS)
    plan.replace([FaultRule("*", "error", times=1)])
    assert plan.draw("x", ALL_KINDS)


@given(seed=st.integers(0, 2**32), rate=st.floats(0.05, 0.95))
def test_same_seed_fires_the_same_way(seed, rate):
    def run() -> list[bool]:
        plan = FaultPlan([FaultRule("*", "throttle", rate=rate)], seed=seed)
        return [bool(plan.draw("applicationGateways.get", ALL_KINDS)) for _ in range(30)]

    assert run() == run()


def test_rate_fires_about_as_often_as_asked():
    plan = FaultPlan([FaultRule("*", "error", rate=0.3)], seed=11)
    fired = sum(bool(plan.draw("op", ALL_KINDS)) for _ in range(2000))
    assert 450 < fired < 750


def test_spec_inline_and_file(tmp_path):
    spec = [{"operation": "applicationGateways.get", "kind": "throttle", "rate": 0.5, "retry_after": 0.1}]
    assert parse_fault_spec(json.dumps(spec)) == [
        FaultRule("applicationGateways.get", "throttle", rate=0.5, retry_after=0.1)
    ]
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(spec))
    assert parse_fault_spec(str(path)) == parse_fault_spec(json.dumps(spec))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("[{", "not JSON"),
        ('{"kind": "error"}', "must be a JSON list"),
        ("[1]", r"faults\[0\]: must be a JSON object"),
        ('[{"operation": "*", "kind": "error", "colour": 1}]', "unknown key 'colour'"),
        ('[{"operation": "*", "kind": "nope"}]', "unknown fault kind"),
        ('[{"kind": "error"}]', "operation"),
        ("/no/such/faults.json", "cannot read"),
    ],
)
def test_bad_specs_give_one_line(spec, message):
    with pytest.raises(ValueError, match=message) as raised:
        parse_fault_spec(spec)
    assert "\n" not in str(raised.value)
