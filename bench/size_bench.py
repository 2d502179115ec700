"""How one diagnosis scales with the size of the gateway (issue 11).

Worlds shaped like a large multi-tenant gateway (tests/diagnostics/sized_world.py): N pools of 10
servers, N backend settings, probes, listeners and rules, a backend subnet with its own NSG and
route table per pool, every 5th pool unhealthy (its NSG denies the gateway). Members are IP
addresses, or NICs (one per server), or the IP addresses of NICs that all sit in one subnet, each
pool's NSG on its NICs (`shared_subnet_world`: virtual machines put behind a gateway by address).

Each size is diagnosed in a process of its own, so its peak RSS is its own. The simulator serving
it runs as `appgw-doctor simulate`, in another process, as ARM is another service: its CPU (deriving
backend health for 1,000 servers, writing 1,000 NICs) is not the diagnosis's, and does not hold the
diagnosis's GIL (`--in-process` runs it in the diagnosing process instead, as the tests do; it then
counts in the wall time and the peak RSS). `simulate` warms up before it announces itself (each
gateway's backend health derived once, and kept while the world stands), as a service that has run
before: a diagnosis does not wait on the simulator's one-off costs. The process applies
`core.runtime`, as the Functions app and the command line do. Each size is diagnosed:
- without latency, RUNS times after a first (cold) run: the diagnosis's own cost — the median wall
  time (collecting, `run_checks`, and `path_changes`: what changed on the path, which `diagnose`
  also works out), each stage's time in that run, its CPU time per member (the
  diagnosing process's, every thread: a cost linear in the gateway's size stays flat), the ARM
  requests (as the SDK client counted them), the findings and the bytes of the Teams card they make;
  the cold run's wall time is printed apart.
  One run is noisy on a shared machine (a run of 10 pools took 0.45 s and 1.5 s in one hour), and the
  first run in a process pays one-off costs (imports, the SDK's per-class tables) that make a small
  gateway look slower than it is, so the ratio is taken between warm medians, the stricter measure;
- under Azure-like latency (bench/azure_latency.py), once: wall time against the critical path, the
  longest chain of dependent calls.
Then the ratios 100 pools / 10 pools, against the targets: at most 4x the time, and at most 400 ARM
requests for 1,000 NIC-backed servers.

The time ratio is measured a second way, in alternation: this machine's speed drifts by up to a third
over minutes (one 10-pool run took 0.18 s, the same run 0.27 s an hour later), and the sizes above are
measured minutes apart, so drift between them lands in their ratio. In one fresh process, after a
warm-up diagnosis of each, 10 and 100 pools are diagnosed in turn, PAIRED_ROUNDS times; each round's
100-pool time is divided by its own 10-pool time, taken moments before, and the median of those
ratios is the figure judged against the target (the ratio of the table's medians is printed beside it).

    .venv/bin/python bench/size_bench.py [--pools 1 10 50 100] [--nic-pools ...] [--shared-pools ...]
                                         [--in-process]
    .venv/bin/python bench/size_bench.py --profile N      # cProfile of N pools (IP members)
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.azure_latency import FAULTS, POLLING_SECONDS, chain_cost  # noqa: E402
from core.arm import Arm  # noqa: E402
from core.azure_clients import ArmTarget, make_clients  # noqa: E402
from core.iso8601 import parse_time  # noqa: E402
from core.runtime import tune_garbage_collector  # noqa: E402
from diagnostics.collect import collect  # noqa: E402
from diagnostics.diagnosis import path_changes  # noqa: E402
from diagnostics.engine import findings_of, run_checks  # noqa: E402
from model.findings import CheckResult, Finding  # noqa: E402
from notifications.content import build_message  # noqa: E402
from notifications.teams import build_payload, serialize  # noqa: E402
from simulator import Simulator  # noqa: E402
from tests.diagnostics.sized_world import GATEWAY_ID, shared_subnet_world, sized_world  # noqa: E402

TIME_RATIO_TARGET = 4.0
NIC_SERVERS_TARGET, NIC_REQUESTS_TARGET = 1000, 400
CARD_LIMIT = 28 * 1024  # Teams Workflows refuses larger payloads
RUNS = 5  # diagnoses without latency per size, after the cold one
PAIRED_ROUNDS = 9  # rounds of a 10-pool then a 100-pool diagnosis, for the ratio measured in alternation

# The longest chains of dependent calls, under bench/azure_latency.py's costs. Backend health is
# asked alongside the gateway GET (it names the gateway only); the groups of NICs whose effective
# routes and NSGs are read are picked once it answers.
CRITICAL_CHAIN = {
    "ip": ["applicationGateways.backendHealth"],
    "nic": ["applicationGateways.backendHealth", "networkInterfaces.getEffectiveRouteTable"],
    "shared": ["applicationGateways.backendHealth"],
}
# The members of each world: what the table's heading says of them, and the world.
MEMBERS = {
    "ip": ("IP-address members, 10 per pool, a subnet per pool", lambda pools: sized_world(pools)),
    "nic": ("NIC members, 10 per pool, a subnet per pool", lambda pools: sized_world(pools, nics=True)),
    "shared": (
        "IP-address members of 10 NICs per pool, every NIC in one subnet (virtual machines by address)",
        shared_subnet_world,
    ),
}


@dataclass(frozen=True)
class Run:
    pools: int
    members: str  # a key of MEMBERS
    cold_wall: float
    wall: float
    collect: float
    checks: float  # run_checks
    changes: float  # what changed on the path (`path_changes`: the Activity Log's, the configuration)
    cpu: float  # CPU seconds of the diagnosing process (its threads) in the median run
    requests: int
    findings: int
    card_bytes: int
    latency_wall: float
    peak_rss_mb: float


@contextmanager
def serving(world: dict[str, Any], *, latency: bool, in_process: bool) -> Iterator[tuple[str, str, str]]:
    """The simulator serving `world`: (subscription id, endpoint, CA certificate file). By default it
    runs as `appgw-doctor simulate`, a process of its own, as ARM is a service of its own: its CPU is
    then not the diagnosis's, and does not hold the diagnosis's GIL. `in_process`: in this process."""
    faults = FAULTS if latency else []
    if in_process:
        with Simulator(world, faults=faults) as sim:
            yield sim.subscription_id, sim.endpoint, sim.ca_cert
        return
    with tempfile.TemporaryDirectory(prefix="size-bench-") as directory:
        world_file = Path(directory) / "world.json"
        world_file.write_text(json.dumps(world), encoding="utf-8")
        command = [sys.executable, "-m", "appgw_doctor.cli", "simulate", "--world", str(world_file)]
        if faults:
            command += ["--faults", json.dumps([asdict(rule) for rule in faults])]
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT) as server:
            try:
                assert server.stdout is not None
                announced = json.loads(server.stdout.readline())
                yield announced["subscriptionId"], announced["endpoint"], announced["caCert"]
            finally:
                server.terminate()
                server.wait(timeout=30)


def _diagnose(
    pools: int, *, members: str, latency: bool, in_process: bool = False
) -> tuple[float, float, float, float, int, list[CheckResult], float]:
    world = MEMBERS[members][1](pools)
    with serving(world, latency=latency, in_process=in_process) as (subscription_id, endpoint, ca_cert):
        clients = make_clients(
            subscription_id, target=ArmTarget(endpoint, ca_cert), polling_interval=POLLING_SECONDS
        )
        arm = Arm(clients)
        try:
            # diagnostics.diagnosis.diagnose, with its three stages timed apart
            started, cpu_started = time.perf_counter(), time.process_time()
            snapshot = collect(GATEWAY_ID, arm=arm, incident_time=parse_time(world["clock"]))
            collected = time.perf_counter()
            results = run_checks(snapshot)
            checked = time.perf_counter()
            path_changes(snapshot, findings_of(results), list(results), None)  # what changed on the path
            done, cpu_used = time.perf_counter(), time.process_time() - cpu_started
        finally:
            clients.close()
        return (
            done - started,
            collected - started,
            checked - collected,
            done - checked,
            arm.calls,
            results,
            cpu_used,
        )


def card_bytes(results: list[CheckResult]) -> tuple[int, int]:
    """(findings, bytes of the Teams card): what the notify stage posts for an incident report,
    whose findings and checks went through their stored dict form."""
    findings = findings_of(results)
    message = build_message(
        GATEWAY_ID,
        incident_id="bench",
        findings=[Finding.from_dict(f.to_dict()) for f in findings],
        checks=[CheckResult.from_dict(r.to_dict()) for r in results],
    )
    return len(findings), len(serialize(build_payload(message)))


def measure(pools: int, *, members: str, in_process: bool = False) -> Run:
    cold = _diagnose(pools, members=members, latency=False, in_process=in_process)
    warm = sorted(
        (_diagnose(pools, members=members, latency=False, in_process=in_process) for _ in range(RUNS)),
        key=lambda run: run[0],
    )
    wall, collected, checks, changes, requests, results, cpu = warm[len(warm) // 2]  # the median run
    assert statistics.median(run[0] for run in warm) == wall
    latency_wall = _diagnose(pools, members=members, latency=True, in_process=in_process)[0]
    findings, card = card_bytes(results)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return Run(
        pools,
        members,
        cold[0],
        wall,
        collected,
        checks,
        changes,
        cpu,
        requests,
        findings,
        card,
        latency_wall,
        peak,
    )


def measure_apart(pools: int, *, members: str, in_process: bool) -> Run:
    """`measure` in a fresh process, for a peak RSS of this size alone."""
    command = [sys.executable, __file__, "--one", str(pools), "--members", members]
    command += ["--in-process"] if in_process else []
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return Run(**json.loads(done.stdout.strip().splitlines()[-1]))


def paired_ratios(members: str, *, in_process: bool) -> list[float]:
    """Each round's 100-pool wall time over its own 10-pool one, diagnosed in turn (see the module
    docstring), after a warm-up diagnosis of each size."""
    for pools in (10, 100):
        _diagnose(pools, members=members, latency=False, in_process=in_process)
    ratios = []
    for _ in range(PAIRED_ROUNDS):
        small = _diagnose(10, members=members, latency=False, in_process=in_process)[0]
        big = _diagnose(100, members=members, latency=False, in_process=in_process)[0]
        ratios.append(big / small)
    return ratios


def paired_apart(members: str, *, in_process: bool) -> list[float]:
    """`paired_ratios` in a fresh process."""
    command = [sys.executable, __file__, "--paired", members] + (["--in-process"] if in_process else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return [float(r) for r in json.loads(done.stdout.strip().splitlines()[-1])]


def report(runs: list[Run], *, members: str, paired: list[float] | None = None) -> list[str]:
    """Print the table; return the targets missed."""
    critical = chain_cost(CRITICAL_CHAIN[members])
    print(
        f"{'pools':>5} {'members':>7} {'cold s':>6} {'wall s':>7} {'collect s':>9} {'checks s':>8} "
        f"{'changes s':>9} {'CPU ms/member':>13} "
        f"{'ARM req':>7} {'findings':>8} {'card B':>7} {'peak RSS MB':>11} {'latency wall s':>14} "
        f"{'x crit.':>7}"
    )
    for run in runs:
        print(
            f"{run.pools:5d} {run.pools * 10:7d} {run.cold_wall:6.2f} {run.wall:7.2f} {run.collect:9.2f} "
            f"{run.checks:8.3f} {run.changes:9.3f} {run.cpu * 1000 / (run.pools * 10):13.2f} "
            f"{run.requests:7d} {run.findings:8d} {run.card_bytes:7d} {run.peak_rss_mb:11.0f} "
            f"{run.latency_wall:14.2f} {run.latency_wall / critical:7.2f}"
        )
    print(f"critical path under latency: {critical:.2f} s ({' -> '.join(CRITICAL_CHAIN[members])})")
    missed = [f"card {r.card_bytes} B at {r.pools} pools" for r in runs if r.card_bytes > CARD_LIMIT]
    by_size = {run.pools: run for run in runs}
    if 10 in by_size and 100 in by_size:
        big, small = by_size[100], by_size[10]
        ratio, latency_ratio = big.wall / small.wall, big.latency_wall / small.latency_wall
        judged = statistics.median(paired) if paired else ratio
        worst = max(judged, latency_ratio)
        if paired:
            spread = f"{min(paired):.1f}-{max(paired):.1f}x"
            print(
                f"100 pools / 10 pools in alternation ({len(paired)} rounds): wall {judged:.2f}x (median; "
                f"rounds {spread}); the table's medians, minutes apart: {ratio:.1f}x"
            )
        print(
            f"100 pools / 10 pools: wall {judged:.1f}x, under latency {latency_ratio:.1f}x "
            f"(target <= {TIME_RATIO_TARGET:.0f}x: {'met' if worst <= TIME_RATIO_TARGET else 'MISSED'}), "
            f"run_checks {big.checks / small.checks:.1f}x, ARM requests {big.requests / small.requests:.1f}x"
        )
        if worst > TIME_RATIO_TARGET:
            missed.append(f"100/10 pools time {worst:.1f}x ({members} members)")
    big_nic = by_size.get(NIC_SERVERS_TARGET // 10)
    if members == "nic" and big_nic is not None:
        met = big_nic.requests <= NIC_REQUESTS_TARGET
        print(
            f"{NIC_SERVERS_TARGET} NIC-backed servers: {big_nic.requests} ARM requests "
            f"(target <= {NIC_REQUESTS_TARGET}: {'met' if met else 'MISSED'})"
        )
        if not met:
            missed.append(f"{big_nic.requests} ARM requests for {NIC_SERVERS_TARGET} NIC-backed servers")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="*", default=[1, 10, 50, 100])
    parser.add_argument("--nic-pools", type=int, nargs="*", default=[1, 10, 50, 100])
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)  # one size, JSON out
    parser.add_argument("--paired", choices=sorted(MEMBERS), help=argparse.SUPPRESS)  # ratios, JSON out
    parser.add_argument("--shared-pools", type=int, nargs="*", default=[1, 10, 50, 100])
    parser.add_argument("--members", choices=sorted(MEMBERS), default="ip", help=argparse.SUPPRESS)
    parser.add_argument(
        "--in-process", action="store_true", help="run the simulator in the diagnosing process"
    )
    args = parser.parse_args()
    tune_garbage_collector()  # as the Functions app and the command line do
    if args.one:
        print(json.dumps(asdict(measure(args.one, members=args.members, in_process=args.in_process))))
        return 0
    if args.paired:
        print(json.dumps(paired_ratios(args.paired, in_process=args.in_process)))
        return 0
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(_diagnose, args.profile, members="ip", latency=False, in_process=args.in_process)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        return 0
    print(
        f"a process per size: a cold diagnosis, then the median of {RUNS} without latency and one under "
        f"Azure-like latency; 10 and 100 pools also in alternation, {PAIRED_ROUNDS} rounds; "
        f"LRO polling every {POLLING_SECONDS} s; the simulator "
        f"{'in the same process' if args.in_process else 'in a process of its own'}"
    )
    missed: list[str] = []
    for members, sizes in (("ip", args.pools), ("nic", args.nic_pools), ("shared", args.shared_pools)):
        if sizes:
            print(f"\n{MEMBERS[members][0]}:")
            runs = [measure_apart(pools, members=members, in_process=args.in_process) for pools in sizes]
            paired = paired_apart(members, in_process=args.in_process) if {10, 100} <= set(sizes) else None
            missed += report(runs, members=members, paired=paired)
    if missed:
        print("\ntargets missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
