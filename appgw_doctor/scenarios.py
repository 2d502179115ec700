"""The bundled scenarios (`scenarios/<name>/{world,alert,expected}.json`) the demo and the tests run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appgw_doctor.commands.diagnose import Incident, alert_incident, diagnose_or_usage_error
from appgw_doctor.local import simulated_clients
from diagnostics.diagnosis import Diagnosis

# The project root: scenarios/ sits next to the packages (a checkout, or an editable install).
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@dataclass(frozen=True)
class Scenario:
    name: str
    world: Path
    gateway: str
    incident: Incident


def bundled_scenarios(root: Path = SCENARIOS) -> list[Scenario]:
    """Every scenario directory with a world: its gateway (expected.json, else the world's first)
    and the incident of its alert.json (else the world's clock)."""
    scenarios = []
    for directory in sorted(path for path in root.iterdir() if (path / "world.json").is_file()):
        world = json.loads((directory / "world.json").read_text(encoding="utf-8"))
        expected_path = directory / "expected.json"
        expected = json.loads(expected_path.read_text(encoding="utf-8")) if expected_path.is_file() else {}
        gateway = expected.get("gateway") or next(
            (
                r["id"]
                for r in world.get("resources", [])
                if r.get("type", "").lower().endswith("applicationgateways")
            ),
            "",
        )
        alert_path = directory / "alert.json"
        incident = Incident(None, None)
        if alert_path.is_file():
            incident = Incident(*alert_incident(alert_path.read_bytes(), str(alert_path), gateway))
        scenarios.append(Scenario(directory.name, directory / "world.json", gateway, incident))
    return scenarios


def diagnose_scenario(scenario: Scenario, **options: Any) -> Diagnosis:
    """Diagnose one bundled scenario on an in-process simulator."""
    with simulated_clients(scenario.world) as (sim, clients):
        return diagnose_or_usage_error(
            scenario.gateway,
            clients,
            incident_time=scenario.incident.time or sim.world.clock,
            window_size=scenario.incident.window,
            dns_servers=sim.dns_servers,
            **options,
        )
