"""Test scaffolding for the pure checks: turn a world (appgw-world/v1) into a Snapshot the way
the collector fills one from the simulator, without any server. Worlds without `backendHealth`
get it recorded as missing (only the simulator can derive it from `backends`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.arm import Arm
from core.azure_clients import ArmTarget, make_clients
from core.iso8601 import parse_time
from diagnostics.collect import collect
from diagnostics.snapshot import Snapshot, key
from simulator import FaultRule, Simulator
from simulator.server import ServedRequest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
WORLDS = ROOT / "tests" / "worlds"


def load_world(path: str | Path) -> dict[str, Any]:
    return json.loads((ROOT / path).read_text())


def healthy_world() -> dict[str, Any]:
    """A fresh copy of the bundled healthy scenario, for tests to break one thing in."""
    return copy.deepcopy(load_world(SCENARIOS / "healthy" / "world.json"))


def resource(world: dict[str, Any], name: str) -> dict[str, Any]:
    """The world resource called `name` (its ARM body, to edit in place)."""
    return next(r for r in world["resources"] if r["name"] == name)


def gateway_body(world: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in world["resources"] if r["type"].lower() == "microsoft.network/applicationgateways")


def _by_key(mapping: dict[str, Any] | None, resource_id: str) -> Any:
    return next((v for k, v in (mapping or {}).items() if key(k) == key(resource_id)), None)


def _dns_answers(
    world: dict[str, Any], servers: list[str], fqdns: list[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """What the first answering custom DNS server says per FQDN; FQDNs no server answered."""
    answers, silent = {}, []
    tables = world.get("dns") or {}
    for fqdn in fqdns:
        server = next((s for s in servers if s in tables), None)
        if server is None:
            silent.append(fqdn)
            continue
        table = {name.lower().rstrip("."): ips for name, ips in tables[server].items()}
        answers[fqdn] = list(table.get(fqdn.lower().rstrip("."), []))
    return answers, silent


def collect_world(
    world: dict[str, Any] | str | Path,
    *,
    gateway_id: str | None = None,
    faults: list[FaultRule] | tuple[FaultRule, ...] = (),
) -> tuple[Snapshot, list[ServedRequest]]:
    """The Snapshot `collect` makes of `world` served by the simulator (the one collector: the pure
    checks are tested on exactly what production hands them), and the requests the simulator served.
    `faults` make ARM answer as Azure does when something cannot be read (403, 429, ...)."""
    if not isinstance(world, dict):
        world = load_world(world)
    gateway = gateway_id or gateway_body(world)["id"]
    with Simulator(world, faults=faults) as sim:
        azure = make_clients(
            sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=0.02
        )
        try:
            snapshot = collect(
                gateway,
                arm=Arm(azure, budget_seconds=30),
                incident_time=parse_time(world["clock"]),
                dns_servers=sim.dns_servers,
                resolve_dns=True,
            )
        finally:
            azure.close()
        return snapshot, sim.requests.served


def snapshot_from_world(
    world: dict[str, Any] | str | Path,
    *,
    gateway_id: str | None = None,
    faults: list[FaultRule] | tuple[FaultRule, ...] = (),
) -> Snapshot:
    """`collect_world`'s Snapshot."""
    return collect_world(world, gateway_id=gateway_id, faults=faults)[0]


def snapshot_per_world(world_files: list[Path]) -> Any:
    """A module-scoped fixture: the Snapshot of each of `world_files` (paths under the repository),
    one test run per world (`snapshot = snapshot_per_world([...])` in a test module)."""

    @pytest.fixture(scope="module", params=[str(p.relative_to(SCENARIOS.parent)) for p in world_files])
    def snapshot(request: Any) -> Snapshot:
        return snapshot_from_world(request.param)

    return snapshot


def nsg_rule(
    world: dict[str, Any],
    nsg_name: str,
    name: str,
    *,
    priority: int,
    access: str,
    source: str = "*",
    destination: str = "*",
    ports: str | list[str] = "*",
    direction: str = "Inbound",
    protocol: str = "Tcp",
) -> dict[str, Any]:
    """Add a security rule (ARM JSON) to an NSG of the world and return it."""
    nsg = resource(world, nsg_name)
    properties: dict[str, Any] = {
        "protocol": protocol,
        "sourcePortRange": "*",
        "priority": priority,
        "direction": direction,
        "access": access,
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": destination,
    }
    if isinstance(ports, list):
        properties["destinationPortRanges"] = ports
    else:
        properties["destinationPortRange"] = ports
    rule = {"id": f"{nsg['id']}/securityRules/{name}", "name": name, "properties": properties}
    nsg["properties"].setdefault("securityRules", []).append(rule)
    return rule


def set_health(world: dict[str, Any], health: str, log: str) -> None:
    """Every server in the world's backend health reports `health` with probe log `log`."""
    for gateway_health in world["backendHealth"].values():
        for pool in gateway_health["backendAddressPools"]:
            for collection in pool["backendHttpSettingsCollection"]:
                for server in collection["servers"]:
                    server.update(health=health, healthProbeLog=log)


def gateway_part(world: dict[str, Any], collection: str, name: str) -> dict[str, Any]:
    """A child of the gateway body (`backendAddressPools`, `probes`, ...) by name, to edit in place."""
    return next(item for item in gateway_body(world)["properties"][collection] if item["name"] == name)


def scenario_dirs() -> list[Path]:
    return sorted(
        p for p in list(SCENARIOS.iterdir()) + list(WORLDS.iterdir()) if (p / "expected.json").exists()
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`scenario_dir`: every bundled scenario and test world that has an expected.json."""
    if "scenario_dir" in metafunc.fixturenames:
        dirs = scenario_dirs()
        metafunc.parametrize("scenario_dir", dirs, ids=[d.name for d in dirs])


@pytest.fixture
def kit() -> SimpleNamespace:
    """The world helpers above, for test modules (conftest is not importable under importlib mode)."""
    return SimpleNamespace(
        healthy_world=healthy_world,
        load_world=load_world,
        snapshot=snapshot_from_world,
        collect=collect_world,
        resource=resource,
        gateway_body=gateway_body,
        gateway_part=gateway_part,
        nsg_rule=nsg_rule,
        set_health=set_health,
    )
