"""The hourly sweep of a fleet under ARM throttling (issue 11, part 3), through the real pipeline.

    .venv/bin/python bench/sweep_bench.py [--gateways 500] [--throttle-rate 0.3] [--retry-after 0.2]
                                          [--concurrency 8] [--spread-seconds 0]

One simulator serves `--gateways` clones of the healthy scenario's gateway (sharing its network; every
50th one has an unhealthy server, so it has findings and is never "unchanged") and answers
`--throttle-rate` of all requests, every operation, with 429 and `Retry-After: --retry-after` seconds
(0.2 s by default: Azure asks for seconds to a minute; a small value keeps the run to minutes and
exercises the same code). The sweep lists the gateways and runs one work item per gateway through
`Pipeline.process` (state in SQLite, no notifier: nothing new would be sent anyway) on `--concurrency`
workers with `--concurrency` fleet-wide sweep slots (SWEEP_CONCURRENCY's default), deferred items
queued again for their retry time (`appgw_doctor.fleet.run_queue`, the work queue's stand-in). The
spread over the hour is compressed to `--spread-seconds` (0: all due at once). Twice: the first sweep
diagnoses every gateway in full, the second is incremental.

Prints, per sweep: wall time, outcomes, diagnoses holding a check in `error` (must be 0) and failed
ones, the ARM requests per gateway (all sent, GETs, POSTs), the 429s answered, and how many gateways
an hour fit in ARM's 12,000 reads per hour (per subscription and principal). Run from the repository root.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appgw_doctor.fleet import run_queue  # noqa: E402
from appgw_doctor.pipeline import Outcome, Pipeline, Report  # noqa: E402
from appgw_doctor.throttle import ThrottleWatch  # noqa: E402
from appgw_doctor.wiring import clients_for_target  # noqa: E402
from core.azure_clients import ArmTarget  # noqa: E402
from core.runtime import tune_garbage_collector  # noqa: E402
from core.settings import DEFAULT_SWEEP_CONCURRENCY, DEFAULT_SWEEP_FULL_EVERY_HOURS  # noqa: E402
from simulator import FaultRule, Simulator  # noqa: E402
from state import StateStore  # noqa: E402
from state.sqlite import SqliteBackend  # noqa: E402
from tests.functions.storm import world_with_gateways  # noqa: E402

READS_PER_HOUR = 12_000  # ARM: reads per subscription per principal per hour
POLLING_SECONDS = (
    0.25  # long-running-operation polling (size_bench's; production's ARM_POLLING_INTERVAL is 1)
)
BROKEN_EVERY = 50


def fleet_world(count: int) -> dict[str, Any]:
    world, gateways = world_with_gateways(count)
    for number, gateway in enumerate(gateways):
        if number % BROKEN_EVERY == BROKEN_EVERY - 1:
            server = world["backendHealth"][gateway]["backendAddressPools"][0][
                "backendHttpSettingsCollection"
            ][0]["servers"][0]
            server.update(
                health="Unhealthy",
                healthProbeLog="Time taken by the backend to respond exceeded the time-out",
            )
    return world


def sweep(pipeline: Pipeline, sim: Simulator, workers: int, spread: float) -> dict[str, Any]:
    served_before = len(sim.requests.served)
    started = time.perf_counter()
    items = pipeline.sweep_items([sim.subscription_id], spread=timedelta(seconds=spread) if spread else None)
    reports = run_queue(pipeline, items, workers=workers)
    wall = time.perf_counter() - started
    served = sim.requests.served[served_before:]
    finals = [r for r in reports if r.outcome is not Outcome.DEFERRED]
    return {
        "gateways": len(items),
        "wall": wall,
        "outcomes": collections.Counter(r.outcome.value if r.outcome else "none" for r in reports),
        "with_error": sum(1 for r in finals if r.outcome is Outcome.DIAGNOSED and _has_error(r)),
        "failed": sum(1 for r in finals if r.outcome is Outcome.FAILED),
        "requests": len(served),
        "gets": sum(1 for s in served if s.method == "GET"),
        "posts": sum(1 for s in served if s.method == "POST"),
        "throttled": sum(1 for s in served if s.status == 429),
        "gets_ok": sum(1 for s in served if s.method == "GET" and s.status != 429),
    }


def _has_error(report: Report) -> bool:
    return any(check.get("status") == "error" for check in report.checks)


def show(name: str, run: dict[str, Any]) -> None:
    count = run["gateways"]
    reads = run["gets"] / count
    print(f"\n{name} sweep: {count} gateways in {run['wall']:.1f} s ({count / run['wall']:.1f} gateways/s)")
    print(f"  outcomes                      {dict(sorted(run['outcomes'].items()))}")
    print(f"  diagnoses with a check error  {run['with_error']} (failed diagnoses: {run['failed']})")
    print(f"  ARM requests per gateway      {run['requests'] / count:.1f} sent ({reads:.1f} GET, "
          f"{run['posts'] / count:.1f} POST; {run['gets_ok'] / count:.1f} GETs answered 2xx)")  # fmt: skip
    print(f"  429s answered                 {run['throttled']} of {run['requests']} "
          f"({run['throttled'] / max(1, run['requests']):.0%})")  # fmt: skip
    per_hour = READS_PER_HOUR / reads
    print(f"  gateways/hour in {READS_PER_HOUR:,} reads   {per_hour:,.0f} (GETs sent, 429s included)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=500)
    parser.add_argument("--throttle-rate", type=float, default=0.3)
    parser.add_argument("--retry-after", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_SWEEP_CONCURRENCY)
    parser.add_argument("--spread-seconds", type=float, default=0.0)
    args = parser.parse_args()
    tune_garbage_collector()  # as the Functions app and the command line do

    faults = [
        FaultRule(operation="*", kind="throttle", rate=args.throttle_rate, retry_after=args.retry_after)
    ]
    print(f"{args.gateways} gateways (every {BROKEN_EVERY}th with an unhealthy server), "
          f"{args.throttle_rate:.0%} of all requests answered 429 with Retry-After {args.retry_after:g} s, "
          f"{args.concurrency} workers and sweep slots, LRO polling every {POLLING_SECONDS} s")  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as scratch,
        Simulator(fleet_world(args.gateways), faults=faults) as sim,
    ):
        store = StateStore(SqliteBackend(Path(scratch) / "state.db"))
        throttle = ThrottleWatch()
        pipeline = Pipeline(
            store=store,
            clients_for=clients_for_target(
                ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=POLLING_SECONDS, throttle=throttle
            ),
            throttle=throttle,
            sweep_slots=args.concurrency,
            sweep_full_every=timedelta(hours=DEFAULT_SWEEP_FULL_EVERY_HOURS),
            defer_jitter=timedelta(seconds=2),  # production: 30 s
        )
        try:
            first = sweep(pipeline, sim, args.concurrency, args.spread_seconds)
            show("first (full)", first)
            second = sweep(pipeline, sim, args.concurrency, args.spread_seconds)
            show("second (incremental)", second)
        finally:
            store.close()
    full, incremental = first["gets"] / first["gateways"], second["gets"] / second["gateways"]
    print(f"\nreads per gateway: full {full:.1f}, incremental {incremental:.1f}; "
          f"429s the fleet-wide backoff heard: {throttle.throttled}")  # fmt: skip
    errors = first["with_error"] + second["with_error"] + first["failed"] + second["failed"]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
