"""Every finding the checks raise on the bundled scenarios and test worlds keeps the FINDINGS.md
contract. (Each world's expected codes, fixes and evidence: tests/appgw_doctor/test_scenarios.py.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from diagnostics.checks import CHECKS
from diagnostics.engine import findings_of, run_checks

ROOT = Path(__file__).resolve().parents[2]


def finding_codes_by_severity() -> dict[str, str]:
    """code -> severity, from the table in docs/FINDINGS.md (the contract)."""
    table = {}
    for line in (ROOT / "docs" / "FINDINGS.md").read_text().splitlines():
        match = re.match(r"\|\s*`([A-Z_]+)`\s*\|\s*(critical|warning|info)\s*\|", line)
        if match:
            table[match.group(1)] = match.group(2)
    return table


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
