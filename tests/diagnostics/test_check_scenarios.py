"""Every bundled scenario and test world, diagnosed purely from its world file.

`must` codes are found, `must_not` codes are not, fix actions and evidence attribution hold. A
world without `backendHealth` only has health through the simulator: there the checks that read
health must report `error` (never a silent pass), and the `must` codes only those checks raise
are left to the end-to-end tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from diagnostics.checks import CHECKS
from diagnostics.engine import findings_of, run_checks
from model.findings import CheckStatus

ROOT = Path(__file__).resolve().parents[2]


def finding_codes_by_severity() -> dict[str, str]:
    """code -> severity, from the table in docs/FINDINGS.md (the contract)."""
    table = {}
    for line in (ROOT / "docs" / "FINDINGS.md").read_text().splitlines():
        match = re.match(r"\|\s*`([A-Z_]+)`\s*\|\s*(critical|warning|info)\s*\|", line)
        if match:
            table[match.group(1)] = match.group(2)
    return table


def test_scenario_expectations_hold(scenario_dir, kit):
    expected = json.loads((scenario_dir / "expected.json").read_text())
    world = json.loads((scenario_dir / "world.json").read_text())
    results = run_checks(kit.snapshot(world))
    findings = findings_of(results)
    found = {f.code for f in findings}

    errored = {r.name for r in results if r.status == CheckStatus.ERROR}
    assert not any("internal error" in r.reason for r in results), [r.reason for r in results]
    needs_simulator: set[str] = set()
    if "backendHealth" not in world:
        for check in CHECKS:
            if check.name in errored:
                needs_simulator.update(check.codes)
        assert {"all-backends-unhealthy", "probe-log"} <= errored
    assert set(expected["must"]) - needs_simulator <= found
    assert set(expected.get("errors", [])) <= errored
    assert not set(expected["must_not"]) & found

    for code, action in expected.get("fix", {}).items():
        if code in found:
            assert {f.fix.action for f in findings if f.code == code} == {action}
    for code, wanted in expected.get("evidence", {}).items():
        if code in needs_simulator:
            continue  # the finding needs derived health: its evidence is the end-to-end test's
        for text in as_list(wanted):
            assert any(text in json.dumps(f.to_dict()) for f in findings if f.code == code), (code, text)
    for code, unwanted in expected.get("evidence_not", {}).items():
        for text in as_list(unwanted):
            assert not any(text in json.dumps(f.to_dict()) for f in findings if f.code == code), (code, text)


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_every_finding_is_complete_and_has_its_contract_severity(scenario_dir, kit):
    severities = finding_codes_by_severity()
    for finding in findings_of(run_checks(kit.snapshot(scenario_dir / "world.json"))):
        assert finding.severity.value == severities[finding.code]
        assert finding.title and "\n" not in finding.title
        assert finding.resource.startswith("/subscriptions/")
        assert finding.fix.summary
        json.dumps(finding.to_dict())  # evidence is JSON-able data


def test_the_registry_covers_exactly_the_documented_codes():
    registered = [code for check in CHECKS for code in check.codes]
    assert sorted(registered) == sorted(finding_codes_by_severity())
    names = [check.name for check in CHECKS]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in names)


def test_every_documented_code_has_a_test_world_that_must_raise_it():
    worlds = ROOT / "tests" / "worlds"
    raised = {
        code
        for expected in worlds.glob("*/expected.json")
        for code in json.loads(expected.read_text())["must"]
    }
    assert set(finding_codes_by_severity()) - raised == set()
