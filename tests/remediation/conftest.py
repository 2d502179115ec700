"""Remediation runs against the simulator (real SDK, real writes) with a real ledger on SQLite."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.azure_clients import AzureClients
from diagnostics.diagnosis import Diagnosis, diagnose
from model.findings import Finding
from remediation.engine import Limits, Remediator
from simulator import Simulator
from state.remediation import RemediationLedger
from state.sqlite import SqliteBackend

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web/providers/"
    "Microsoft.Network/applicationGateways/agw-contoso"
)
AUTO = {"appgw-doctor-remediation": "auto"}
QUICK = Limits(verify_seconds=2, verify_interval=0.2)  # the simulator derives health at once


def scenario_world(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "scenarios" / name / "world.json").read_text())


def with_rule_priority(world: dict[str, Any], rule_name: str, priority: int) -> dict[str, Any]:
    """The world with NSG rule `rule_name` renumbered (room for an allow rule in front of it)."""
    world = copy.deepcopy(world)
    for resource in world["resources"]:
        for rule in resource.get("properties", {}).get("securityRules", []) or []:
            if rule["name"] == rule_name:
                rule["properties"]["priority"] = priority
                return world
    raise AssertionError(f"no rule {rule_name}")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[RemediationLedger]:
    backend = SqliteBackend(tmp_path / "state.db")
    yield RemediationLedger(backend)
    backend.close()


class Estate:
    """A simulator serving a world, SDK clients for it, and diagnosis at the world's time."""

    def __init__(self, sim: Simulator, clients: AzureClients) -> None:
        self.sim = sim
        self.clients = clients
        self.incident_time = sim.clock()

    def diagnose(self) -> Diagnosis:
        return diagnose(
            GATEWAY,
            clients=self.clients,
            incident_time=self.incident_time,
            dns_servers=self.sim.dns_servers or None,
        )

    def findings(self) -> list[Finding]:
        return list(self.diagnose().findings)

    def dump(self) -> dict[str, Any]:
        return self.sim.world.dump(self.sim.clock())

    def resources(self) -> dict[str, Any]:
        """Every stored resource by id (etags included): what 'left identical' compares."""
        return {r["id"].lower(): r for r in copy.deepcopy(self.dump()["resources"])}

    def remediate(
        self,
        ledger: RemediationLedger,
        *,
        tags: dict[str, str] = AUTO,
        setting: str = "tags",
        limits: Limits = QUICK,
        incident_id: str | None = "incident-1",
        rediagnose: Callable[[], list[Finding]] | None = None,
        **options: Any,
    ) -> Any:
        findings = self.findings()
        remediator = Remediator(ledger=ledger, setting=setting, limits=limits, sleep=lambda s: None)
        return remediator.run(
            gateway_id=GATEWAY,
            incident_id=incident_id,
            findings=findings,
            tags=tags,
            clients=self.clients,
            rediagnose=rediagnose or self.findings,
            **options,
        )


@pytest.fixture
def estate(
    simulator: Callable[..., Simulator], clients: Callable[..., AzureClients]
) -> Callable[..., Estate]:
    def make(world: str | dict[str, Any], **options: Any) -> Estate:
        if isinstance(world, str):
            world = scenario_world(world)
        sim = simulator(world, **options)
        return Estate(sim, clients(sim))

    return make
