"""Findings and check results travel as JSON (pipeline records, queue messages): to_dict/from_dict
must round-trip exactly."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from model.findings import CheckResult, CheckStatus, Finding, Fix, Severity
from model.plans import ProbeReattach

_text = st.text(max_size=40)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
findings = st.builds(
    Finding,
    code=st.sampled_from(["NSG_BLOCKS_BACKEND", "PROBE_TIMEOUT", "REQUEST_TIMEOUT_TOO_LOW"]),
    severity=st.sampled_from(list(Severity)),
    title=_text,
    resource=_text,
    evidence=st.dictionaries(_text, _json_values, max_size=4),
    fix=st.builds(
        Fix,
        summary=_text,
        command=st.none() | _text,
        plan=st.none() | st.builds(ProbeReattach, probe_id=_text, settings_ids=st.tuples(_text, _text)),
    ),
)


@given(findings)
def test_a_finding_survives_a_json_round_trip(finding):
    assert Finding.from_dict(json.loads(json.dumps(finding.to_dict()))) == finding


@given(st.sampled_from(list(CheckStatus)), _text, _text)
def test_a_check_result_survives_a_json_round_trip(status, name, reason):
    result = CheckResult(name=name, status=status, reason=reason)
    assert CheckResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_each_fix_plan_travels_through_json_unchanged() -> None:
    from model.findings import Fix
    from model.plans import AllowRule, ProbeReattach, RequestTimeoutRaise, RuleMove

    nsg = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg"
    plans = [
        AllowRule(nsg, "appgw-doctor-allow", 199, "Inbound", ("10.0.0.0/24",), ("10.1.0.4",), ("443",)),
        AllowRule(
            nsg,
            "a",
            100,
            "Outbound",
            ("10.0.0.0/24",),
            ("10.1.0.0/24",),
            ("80",),
            move=RuleMove(f"{nsg}/securityRules/deny", "deny", 100, 101),
        ),  # fmt: skip
        RequestTimeoutRaise("/x/backendHttpSettingsCollection/web", "web", 20, 40),
        ProbeReattach("/x/probes/p", ("/x/backendHttpSettingsCollection/web",)),
    ]
    for plan in plans:
        fix = Fix(summary="s", command="az ...", plan=plan)
        assert fix.action == plan.action
        assert Fix.from_dict(json.loads(json.dumps(fix.to_dict()))) == fix
    assert Fix.from_dict({"summary": "s"}).plan is None
