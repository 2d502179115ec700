"""How close one diagnosis gets to the fastest it could possibly be.

The simulator injects latency like Azure's (bench/azure_latency.py): 80 ms per GET (resource reads,
long-running-operation status polls and metrics queries), backend health in progress for 3 s,
effective routes and effective NSGs for 1.5 s each. A diagnosis cannot finish before its longest
chain of dependent calls (the critical path); the same calls made one after another take their
sum. The target is a median wall time within 1.2x the critical path.

    .venv/bin/python bench/diagnosis_bench.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.azure_latency import FAULTS, GET_SECONDS, IN_PROGRESS, POLLING_SECONDS, cost  # noqa: E402
from core.azure_clients import ArmTarget, make_clients  # noqa: E402
from core.runtime import tune_garbage_collector  # noqa: E402
from diagnostics.diagnosis import diagnose  # noqa: E402
from simulator import Simulator  # noqa: E402

WORLD = ROOT / "scenarios" / "request-timeout" / "world.json"
GATEWAY = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web/providers/"
    "Microsoft.Network/applicationGateways/agw-contoso"
)
INCIDENT = datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)
RUNS = 3
TARGET = 1.2

CHAINS = [
    ["applicationGateways.backendHealth"],  # asked alongside the gateway GET: it names the gateway only
    ["applicationGateways.get", "networkInterfaces.getEffectiveRouteTable"],
    ["applicationGateways.get", "networkInterfaces.listEffectiveNetworkSecurityGroups"],
    ["applicationGateways.get", "networkInterfaces.get", "virtualNetworks.get", "networkSecurityGroups.get"],
    ["applicationGateways.get", "virtualNetworks.get", "routeTables.get"],
    ["applicationGateways.get", "metrics.list"],
    ["applicationGateways.get", "activityLogs.list"],  # what changed: one query per resource group
]


def timed_diagnosis(lookback: timedelta | None = None) -> tuple[float, int, Counter[str]]:
    """One diagnosis; `lookback=timedelta(0)` leaves the Activity Log unread (no "what changed?")."""
    with Simulator(WORLD, faults=FAULTS) as sim:
        clients = make_clients(
            sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=POLLING_SECONDS
        )
        try:
            started = time.perf_counter()
            diagnosis = diagnose(GATEWAY, clients=clients, incident_time=INCIDENT, lookback=lookback)
            elapsed = time.perf_counter() - started
        finally:
            clients.close()
        operations = Counter(s.operation for s in sim.requests.served)
    return elapsed, diagnosis.arm_calls, operations


def main() -> int:
    tune_garbage_collector()  # as the Functions app and the command line do
    print(f"world: {WORLD.relative_to(ROOT)}; LRO polling every {POLLING_SECONDS} s")
    print(
        f"latency: {GET_SECONDS * 1000:.0f} ms per GET/metrics query; in progress: "
        + ", ".join(f"{operation} {seconds} s" for operation, seconds in IN_PROGRESS.items())
    )
    print("\ndependency chains (cost of each call in s):")
    lengths = []
    for chain in CHAINS:
        length = sum(cost(operation) for operation in chain)
        lengths.append(length)
        print(
            f"  {length:5.2f}  " + " -> ".join(f"{operation} ({cost(operation):.2f})" for operation in chain)
        )
    critical = max(lengths)
    print(f"critical path (lower bound): {critical:.2f} s")

    runs = [timed_diagnosis() for _ in range(RUNS)]
    wall = statistics.median(elapsed for elapsed, _, _ in runs)
    _, calls, operations = runs[0]
    logical = {op: n for op, n in operations.items() if op not in ("operations.get", "operationResults.get")}
    summed = sum(cost(operation) * count for operation, count in logical.items())

    print(
        f"\nARM calls per diagnosis: {calls} HTTP requests ({sum(logical.values())} operations + "
        f"{calls - sum(logical.values())} long-running-operation polls)"
    )
    for operation, count in sorted(logical.items()):
        print(f"  {count:2d} x {operation}")
    print(
        f"\nconcurrent diagnosis, median of {RUNS}: {wall:.2f} s  "
        f"(runs: {', '.join(f'{elapsed:.2f}' for elapsed, _, _ in runs)})"
    )
    print(
        f"  vs critical path {critical:.2f} s: {wall / critical:.2f}x (target <= {TARGET}x: "
        f"{'met' if wall <= TARGET * critical else 'MISSED'})"
    )
    print(
        f"the same calls one after another would take {summed:.2f} s (their summed latency) "
        f"-> concurrency saves {summed / wall:.1f}x"
    )
    without = statistics.median(timed_diagnosis(timedelta(0))[0] for _ in range(RUNS))
    print(
        f"\n'what changed?': with the Activity Log query {wall:.2f} s, without it {without:.2f} s "
        f"(median of {RUNS} each): it adds {wall - without:+.2f} s — it runs alongside the other reads, "
        f"off the critical path ({cost('activityLogs.list') + cost('applicationGateways.get'):.2f} s "
        f"chain vs {critical:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
