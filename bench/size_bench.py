"""How one diagnosis scales with the size of the gateway (issue 11: "convert once, index once").

Worlds shaped like a large multi-tenant gateway (tests/diagnostics/sized_world.py): N pools of 10
servers, N backend settings, probes, listeners and rules, a backend subnet with its own NSG and
route table per pool, every 5th pool unhealthy (its NSG denies the gateway). Each is served by the
simulator without artificial latency and diagnosed once: prints the wall time, the time in
`run_checks`, the ARM requests served, and the bytes of the Teams card the findings make; then the
ratio 100 pools / 10 pools. IP-address members, then NIC-backed members (one NIC per server).

    .venv/bin/python bench/size_bench.py [--pools 1 10 50 100] [--nic-pools 1 10 50] [--profile N]

`--profile N` prints the top of a cProfile of the diagnosis of N pools (IP members) instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.arm import Arm  # noqa: E402
from core.azure_clients import ArmTarget, make_clients  # noqa: E402
from core.iso8601 import parse_time  # noqa: E402
from diagnostics.collect import collect  # noqa: E402
from diagnostics.engine import findings_of, run_checks  # noqa: E402
from model.findings import CheckResult, Finding  # noqa: E402
from notifications.content import build_message  # noqa: E402
from notifications.teams import build_payload, serialize  # noqa: E402
from simulator import Simulator  # noqa: E402
from tests.diagnostics.sized_world import GATEWAY_ID, sized_world  # noqa: E402

POLLING_SECONDS = 0.25  # what production uses for long-running operations (backend health)


@dataclass(frozen=True)
class Run:
    pools: int
    nics: bool
    wall: float
    collect: float
    checks: float
    requests: int
    findings: int
    card_bytes: int


def diagnose_once(pools: int, *, nics: bool) -> Run:
    world = sized_world(pools, nics=nics)
    with Simulator(world) as sim:
        clients = make_clients(
            sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=POLLING_SECONDS
        )
        try:
            # diagnostics.diagnosis.diagnose, with its two stages timed apart
            started = time.perf_counter()
            snapshot = collect(GATEWAY_ID, arm=Arm(clients), incident_time=parse_time(world["clock"]))
            collected = time.perf_counter()
            results = run_checks(snapshot)
            findings = findings_of(results)
            checked = time.perf_counter()
        finally:
            clients.close()
        requests = len(sim.requests.served)
    # What the notify stage posts to Teams (appgw_doctor.notify.message_for of an incident report,
    # whose findings and checks went through their stored dict form).
    message = build_message(
        GATEWAY_ID,
        incident_id="bench",
        findings=[Finding.from_dict(f.to_dict()) for f in findings],
        checks=[CheckResult.from_dict(r.to_dict()) for r in results],
    )
    card = serialize(build_payload(message))
    return Run(
        pools,
        nics,
        checked - started,
        collected - started,
        checked - collected,
        requests,
        len(findings),
        len(card),
    )


def report(runs: list[Run]) -> None:
    print(f"{'pools':>5} {'members':>7} {'wall s':>8} {'collect s':>9} {'checks s':>8} {'ARM req':>7} "
          f"{'findings':>8} {'card B':>7}")  # fmt: skip
    for run in runs:
        print(
            f"{run.pools:5d} {run.pools * 10:7d} {run.wall:8.2f} {run.collect:9.2f} {run.checks:8.3f} "
            f"{run.requests:7d} {run.findings:8d} {run.card_bytes:7d}"
        )
    by_size = {run.pools: run for run in runs}
    if 10 in by_size and 100 in by_size:
        big, small = by_size[100], by_size[10]
        print(
            f"100 pools / 10 pools: wall {big.wall / small.wall:.1f}x, run_checks "
            f"{big.checks / small.checks:.1f}x, ARM requests {big.requests / small.requests:.1f}x "
            "(linear would be 10x)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="*", default=[1, 10, 50, 100])
    parser.add_argument("--nic-pools", type=int, nargs="*", default=[1, 10, 50])
    parser.add_argument("--profile", type=int, default=0)
    args = parser.parse_args()
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(diagnose_once, args.profile, nics=False)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        return 0
    print(f"one diagnosis per world, simulator without latency, LRO polling every {POLLING_SECONDS} s")
    for nics, sizes in ((False, args.pools), (True, args.nic_pools)):
        if sizes:
            print(f"\n{'NIC' if nics else 'IP-address'} members, 10 per pool:")
            report([diagnose_once(pools, nics=nics) for pools in sizes])
    return 0


if __name__ == "__main__":
    sys.exit(main())
