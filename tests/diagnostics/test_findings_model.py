"""Findings and check results travel as JSON (pipeline records, queue messages): to_dict/from_dict
must round-trip exactly."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from diagnostics.findings import CheckResult, CheckStatus, Finding, Fix, Severity

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
    fix=st.builds(Fix, summary=_text, command=st.none() | _text, action=st.none() | _text),
)


@given(findings)
def test_a_finding_survives_a_json_round_trip(finding):
    assert Finding.from_dict(json.loads(json.dumps(finding.to_dict()))) == finding


@given(st.sampled_from(list(CheckStatus)), _text, _text)
def test_a_check_result_survives_a_json_round_trip(status, name, reason):
    result = CheckResult(name=name, status=status, reason=reason)
    assert CheckResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
