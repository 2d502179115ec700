"""Local runs of the CLI and the demo: the pipeline or SDK clients against Azure (`az login`), or
against the local simulator serving a world file.

The simulator is a development tool: the deployed package leaves it (and its `trustme` dependency)
out, so `--world` and `simulate` say so in one line when it is not installed.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from appgw_doctor.commands import UsageError
from appgw_doctor.pipeline import ClientsFor, Pipeline
from appgw_doctor.wiring import build_pipeline, clients_for_target, notify_stage
from core.azure_clients import ArmTarget, AzureClients, make_clients
from core.settings import ConfigError, Settings
from state import StateStore
from state.sqlite import SqliteBackend, default_state_path

_simulator: ModuleType | None
try:
    import simulator as _simulator
except ImportError:  # a deployed package: the simulator is not shipped
    _simulator = None

SIMULATOR_POLLING_SECONDS = 0.05
# Long-running operations (backend health takes seconds) are polled this often unless ARM sends Retry-After.
AZURE_POLLING_SECONDS = 0.25


def simulator_module() -> ModuleType:
    if _simulator is None:
        raise UsageError(
            "the local simulator is not installed (it is a development tool): "
            "install the development requirements (pip install -r requirements-dev.txt) in a checkout"
        )
    return _simulator


def start_simulator(world: str | Path | dict[str, Any], **options: Any) -> Any:
    """A started-on-enter `simulator.Simulator` for `world`; bad worlds are UsageError (one line)."""
    module = simulator_module()
    try:
        return module.Simulator(world if isinstance(world, dict) else str(world), **options)
    except (module.WorldError, OSError, ValueError) as error:
        raise UsageError(f"{world}: {error}" if not isinstance(world, dict) else str(error)) from None


def local_settings() -> Settings:
    """The app settings of the environment (notification channels, DNS, remediation limits)."""
    try:
        return Settings.from_env()
    except ConfigError as error:
        raise UsageError(f"configuration: {error}") from None


@contextlib.contextmanager
def simulated_clients(
    world: str | Path | dict[str, Any], subscription: str | None = None
) -> Iterator[tuple[Any, AzureClients]]:
    """The simulator serving `world`, and SDK clients pointed at it for `subscription` (default: the
    world's; a gateway in another subscription is then not found, as in Azure)."""
    with start_simulator(world) as sim:
        clients = make_clients(
            subscription or sim.subscription_id,
            target=ArmTarget(sim.endpoint, sim.ca_cert),
            polling_interval=SIMULATOR_POLLING_SECONDS,
        )
        try:
            yield sim, clients
        finally:
            clients.close()


def write_world(sim: Any, path: Path) -> None:
    """The simulated estate as it is now, in the world format (`--world-out`)."""
    try:
        path.write_text(json.dumps(sim.world.dump(sim.clock()), indent=2) + "\n")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


@dataclass
class LocalEstate:
    """Where a local run acts: SDK clients (for a simulator of a world, or Azure), the DNS servers to
    ask, the state store (SQLite) and the simulator itself when there is one."""

    clients_for: ClientsFor
    dns_servers: dict[str, tuple[str, int]] | None
    store: StateStore
    state_path: Path
    simulator: Any | None


@contextlib.contextmanager
def open_estate(
    world: Path | dict[str, Any] | None, *, state: Path | None, world_out: Path | None = None
) -> Iterator[LocalEstate]:
    """A simulator of `world` (throw-away state unless `state`; `world_out` gets the estate as the
    run left it), or Azure with `DefaultAzureCredential` (state at `state` or the user's default)."""
    if world_out is not None and world is None:
        raise UsageError("--world-out needs --world (it writes the simulated estate)")
    with contextlib.ExitStack() as stack:
        sim = None
        if world is not None:
            sim = stack.enter_context(start_simulator(world))
            if world_out is not None:
                stack.callback(write_world, sim, world_out)
            target = ArmTarget(sim.endpoint, sim.ca_cert)
            clients_for = clients_for_target(target, polling_interval=SIMULATOR_POLLING_SECONDS)
            dns_servers = sim.dns_servers or None
            state_path = state or Path(stack.enter_context(tempfile.TemporaryDirectory())) / "state.db"
        else:
            clients_for = clients_for_target(ArmTarget(), polling_interval=AZURE_POLLING_SECONDS)
            dns_servers = None
            state_path = state or default_state_path()
        try:
            store = StateStore(SqliteBackend(state_path))
        except OSError as error:
            raise UsageError(f"cannot open state {state_path}: {error.strerror or error}") from None
        stack.callback(store.close)
        yield LocalEstate(clients_for, dns_servers, store, state_path, sim)


@contextlib.contextmanager
def open_pipeline(
    world: Path | dict[str, Any] | None,
    *,
    state: Path | None,
    outbox: Path | None,
    world_out: Path | None = None,
    remediate: Callable[..., Any] | None = None,
) -> Iterator[Pipeline]:
    """The local pipeline: against a simulator of `world` (throw-away state unless `state`), or Azure.
    A person runs it, so the subscription allow-list does not apply. With `world_out`, the simulated
    estate is written there as the run left it (what remediation changed included). `remediate`
    (settings, store, clients_for, dns_servers) -> Stage replaces the default remediate stage."""
    settings = local_settings()
    with open_estate(world, state=state, world_out=world_out) as estate:
        store, clients_for, dns_servers = estate.store, estate.clients_for, estate.dns_servers
        yield build_pipeline(
            settings,
            store=store,
            clients_for=clients_for,
            notify=notify_stage(settings, outbox_dir=outbox),
            remediate=remediate(settings, store, clients_for, dns_servers) if remediate else None,
            dns_servers=dns_servers,
            enforce_allow_list=False,
            wait_for_claims=False,
        )
