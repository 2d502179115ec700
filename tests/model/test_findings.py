"""Findings and check results travel as JSON (pipeline records, queue messages): to_dict/from_dict
must round-trip exactly."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from model.findings import (
    PROBE_RESULT_CODES,
    SYMPTOM_CODES,
    CheckResult,
    CheckStatus,
    Finding,
    Fix,
    Role,
    Severity,
    reading_order,
    role_of,
)
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


# --- causes, symptoms and notes ---------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def documented_codes() -> dict[str, tuple[str, str]]:
    """code -> (severity, "raised when"), from the table in docs/FINDINGS.md (the contract)."""
    table = {}
    for line in (ROOT / "docs" / "FINDINGS.md").read_text().splitlines():
        match = re.match(r"\|\s*`([A-Z_]+)`\s*\|\s*(critical|warning|info)\s*\|([^|]*)\|", line)
        if match:
            table[match.group(1)] = (match.group(2), match.group(3).strip())
    return table


def test_every_documented_code_is_a_cause_a_symptom_or_a_note() -> None:
    documented = documented_codes()
    assert len(documented) >= 26  # the table was read
    for code, (severity, raised_when) in documented.items():
        role = role_of(code, severity)
        # A symptom is what backend health reports; info is worth knowing, never a cause; the rest
        # (NSG, UDR, DNS, probes, time-outs, TLS, pools, a stopped gateway...) are causes.
        if raised_when.startswith("backend health reports"):
            assert role is Role.SYMPTOM, code
        elif severity == "info":
            assert role is Role.NOTE, code
        else:
            assert role is Role.CAUSE, code
    assert SYMPTOM_CODES <= set(documented) and PROBE_RESULT_CODES <= set(documented)


def test_a_code_not_in_the_table_is_a_cause_unless_it_is_info() -> None:
    """Codes added after the table (by a new check) are never hidden behind the symptoms."""
    for code in ("PRIVATE_GATEWAY_NO_INTERNET_EGRESS", "SOME_FUTURE_CODE"):
        assert role_of(code, Severity.CRITICAL) is role_of(code, "warning") is Role.CAUSE
        assert role_of(code, Severity.INFO) is Role.NOTE
    assert role_of("PROBE_LOG_UNRECOGNISED", "warning") is Role.CAUSE  # it quotes what the probe saw


def test_reading_order_is_causes_then_symptoms_then_notes() -> None:
    found = [
        Finding("CUSTOM_DNS_UNVERIFIED", Severity.INFO, "t", "r"),
        Finding("ALL_BACKENDS_UNHEALTHY", Severity.CRITICAL, "t", "r"),
        Finding("BACKEND_CONNECT_FAILED", Severity.CRITICAL, "t", "r"),
        Finding("PROBE_DETACHED", Severity.WARNING, "t", "r"),
        Finding("NSG_BLOCKS_BACKEND", Severity.CRITICAL, "t", "r"),
        Finding("BACKEND_HEALTH_UNKNOWN", Severity.WARNING, "t", "r"),
    ]
    ordered = sorted(found, key=lambda f: reading_order(f.code, f.severity))
    assert [f.code for f in ordered] == [
        "NSG_BLOCKS_BACKEND",  # the configuration at fault, before what the probe saw
        "BACKEND_CONNECT_FAILED",
        "PROBE_DETACHED",  # a warning cause still leads a critical symptom
        "ALL_BACKENDS_UNHEALTHY",
        "BACKEND_HEALTH_UNKNOWN",
        "CUSTOM_DNS_UNVERIFIED",
    ]
    assert [f.role for f in ordered] == [Role.CAUSE] * 3 + [Role.SYMPTOM] * 2 + [Role.NOTE]
