"""Every bundled scenario, diagnosed through the real SDK against the in-process simulator, yields
the codes, fix actions and evidence its expected.json names, none of the codes it rules out, and
reports as `error` the checks its `errors` list names (a check that could not run never passes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appgw_doctor.scenarios import bundled_scenarios
from diagnostics.diagnosis import diagnose
from model.findings import CheckStatus

ROOT = Path(__file__).resolve().parents[2]


def _scenario_dirs() -> list[Path]:
    """Bundled scenarios, plus worlds under tests/worlds/ that come with an expected.json."""
    roots = [ROOT / "scenarios", ROOT / "tests" / "worlds"]
    return [
        directory
        for root in roots
        if root.is_dir()
        for directory in sorted(root.iterdir())
        if (directory / "expected.json").is_file() and (directory / "world.json").is_file()
    ]


SCENARIOS = {(d.parent.name + "/" + d.name): d for d in _scenario_dirs()}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@pytest.mark.parametrize("label", sorted(SCENARIOS))
def test_scenario_yields_its_expected_findings(label, simulator, clients):
    directory = SCENARIOS[label]
    expected = json.loads((directory / "expected.json").read_text())
    (scenario,) = [s for s in bundled_scenarios(directory.parent) if s.name == directory.name]
    sim = simulator(directory / "world.json")

    diagnosis = diagnose(
        scenario.gateway,
        clients=clients(sim),
        incident_time=scenario.incident.time or sim.world.clock,
        window_size=scenario.incident.window,
        dns_servers=sim.dns_servers,
    )

    codes = {finding.code for finding in diagnosis.findings}
    assert set(expected["must"]) <= codes, f"missing {set(expected['must']) - codes}; got {sorted(codes)}"
    assert not set(expected.get("must_not", [])) & codes
    for code, action in expected.get("fix", {}).items():
        actions = {f.fix.action for f in diagnosis.findings if f.code == code}
        assert actions == {action}, f"{code}: fix actions {actions}"
    for code, wanted in expected.get("evidence", {}).items():
        texts = [json.dumps(f.to_dict()) for f in diagnosis.findings if f.code == code]
        for substring in _as_list(wanted):
            assert any(substring in text for text in texts), f"{code}: no finding mentions {substring!r}"
    for code, unwanted in expected.get("evidence_not", {}).items():
        texts = [json.dumps(f.to_dict()) for f in diagnosis.findings if f.code == code]
        for substring in _as_list(unwanted):
            assert not any(substring in text for text in texts), f"{code}: a finding mentions {substring!r}"
    errored = {result.name for result in diagnosis.checks_with(CheckStatus.ERROR)}
    assert not any("internal error" in r.reason for r in diagnosis.checks), [
        r.reason for r in diagnosis.checks
    ]
    assert set(expected.get("errors", [])) <= errored, f"checks that must report an error: {errored}"
    assert diagnosis.gateway.lower() == scenario.gateway.lower()
    assert diagnosis.arm_calls > 0
