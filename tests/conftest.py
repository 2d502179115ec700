"""Fixtures shared by every test area: a local ARM simulator and real SDK clients for it.

    def test_something(simulator, clients):
        sim = simulator("scenarios/request-timeout/world.json", faults=[FaultRule(...)])
        network = clients(sim).network   # azure-mgmt-network NetworkManagementClient

Relative world paths are taken from the repository root. Simulators and clients are stopped and
closed when the test ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from core.azure_clients import ArmTarget, AzureClients, make_clients
from simulator import Simulator

ROOT = Path(__file__).resolve().parents[1]

# Property tests judge logic, not speed: no per-example deadline on a shared 2-core machine. In CI
# the examples are derandomized, so a run is repeatable; locally they vary and keep finding cases.
settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "local")


@pytest.fixture
def simulator() -> Iterator[Callable[..., Simulator]]:
    """Factory: `simulator(world, faults=[...], seed=0, ...)` -> a started `Simulator`."""
    started: list[Simulator] = []

    def start(world: str | Path | dict[str, Any], **options: Any) -> Simulator:
        if isinstance(world, (str, Path)) and not Path(world).is_absolute():
            world = ROOT / world
        sim = Simulator(world, **options).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def clients() -> Iterator[Callable[..., AzureClients]]:
    """Factory: `clients(sim, **client_options)` -> SDK clients for a simulator (fast LRO polling)."""
    made: list[AzureClients] = []

    def make(sim: Simulator, **client_options: Any) -> AzureClients:
        client_options.setdefault("polling_interval", 0.05)
        azure = make_clients(
            sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert), **client_options
        )
        made.append(azure)
        return azure

    yield make
    for azure in made:
        azure.close()
