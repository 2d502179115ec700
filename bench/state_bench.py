"""State at scale: the open-incident lookup beside a long history, and prune throughput.

    .venv/bin/python bench/state_bench.py [--history 10000] [--azurite-history 10000] [--prune 2000]
                                          [--azurite-prune 500] [--skip-azurite]

For SQLite and Azure Table Storage (Azurite, from node_modules, in memory): one gateway with 10 and
with `--history` closed incidents (Azurite: `--azurite-history`, written by 8 threads; each insert is
a request), one open incident among them. Prints the median of `open_incident` (the index lookup)
and, for comparison, of reading the gateway's whole history (what the lookup did before the index),
then how fast `prune` deletes old closed incidents with their alerts and diagnoses, in bounded runs
as the hourly sweep does. Figures depend on the machine; the targets are printed beside them.
Run from the repository root.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from state import DiagnosisRecord, Incident, IncidentStatus, StateStore  # noqa: E402
from state.sqlite import SqliteBackend  # noqa: E402
from state.tables import TableBackend  # noqa: E402
from tests.azurite import _SHARED as AZURITE  # noqa: E402

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
RETENTION = timedelta(days=90)
GATEWAY = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
    "Microsoft.Network/applicationGateways/agw-{n}"
)
REPORT = {"outcome": "diagnosed", "findings": [{"code": "PROBE_TIMEOUT", "detail": "x" * 2000}]}
LOOKUP_RATIO_TARGET = 2.0  # the lookup at the long history within 2x of the short one
StoreFactory = Callable[[], StateStore]


def closed_incident(gateway: str, n: int, closed_at: datetime) -> Incident:
    opened = closed_at - timedelta(hours=1)
    return Incident(
        f"past-{n:05}", gateway, IncidentStatus.CLOSED, opened_at=opened, updated_at=closed_at,
        closed_at=closed_at, close_reason="resolved", report=REPORT,
    )  # fmt: skip


def write_history(store: StateStore, gateway: str, count: int, *, threads: int) -> None:
    """`count` closed incidents (one write each), and one open incident from the middle of them."""

    def one(n: int) -> None:
        store.create_incident(closed_incident(gateway, n, NOW - timedelta(hours=count - n)))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    opened = NOW - timedelta(hours=count // 2)
    store.create_incident(Incident("open", gateway, IncidentStatus.OPEN, opened, opened, report=REPORT))


def median_ms(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def lookups(name: str, factory: StoreFactory, sizes: tuple[int, int], *, threads: int) -> None:
    results = {}
    for size in sizes:
        store = factory()
        gateway = GATEWAY.format(n=size)
        start = time.perf_counter()
        write_history(store, gateway, size, threads=threads)
        written = time.perf_counter() - start
        assert store.open_incident(gateway).id == "open"  # the first lookup indexes the gateway
        lookup = median_ms(partial(store.open_incident, gateway), 31)
        scan = median_ms(partial(store.list_incidents, gateway), 3 if size > 1000 else 31)
        results[size] = lookup
        print(
            f"{name:8} {size:>6} past incidents (written in {written:5.1f} s): open_incident median "
            f"{lookup:7.2f} ms; reading the whole history (the lookup before the index) {scan:9.2f} ms"
        )
        store.close()
    ratio = results[sizes[1]] / results[sizes[0]]
    verdict = "met" if ratio <= LOOKUP_RATIO_TARGET else "MISSED"
    print(
        f"{name:8} lookup at {sizes[1]} / at {sizes[0]}: {ratio:.2f}x "
        f"(target <= {LOOKUP_RATIO_TARGET:g}x: {verdict})"
    )


def prune_throughput(name: str, factory: StoreFactory, count: int, *, threads: int) -> None:
    """`count` old closed incidents, each with one alert and one diagnosis, pruned by hourly-sized runs."""
    store = factory()
    gateway = GATEWAY.format(n="prune")
    old = NOW - RETENTION - timedelta(days=10)

    def one(n: int) -> None:
        store.create_incident(closed_incident(gateway, n, old))
        store.attach_alert(f"past-{n:05}", key=f"alert-{n}", alert={"alertId": f"alert-{n}"}, at=old)
        store.record_diagnosis(
            DiagnosisRecord(f"d{n:05}", gateway, "alert", old, old, incident_id=f"past-{n:05}")
        )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    store.record_diagnosis(DiagnosisRecord("last", gateway, "sweep", NOW, NOW))  # kept
    runs, deleted = 0, 0
    start = time.perf_counter()
    while True:
        counts = store.prune(now=NOW, retention=RETENTION)
        runs += 1
        deleted += counts.incidents + counts.incident_alerts + counts.diagnoses
        if counts.complete:
            break
    elapsed = time.perf_counter() - start
    left = len(store.list_incidents(gateway))
    print(
        f"{name:8} prune: {deleted} records ({count} incidents + alerts + diagnoses) in {elapsed:.1f} s "
        f"= {deleted / elapsed:,.0f} records/s over {runs} run(s) of <= 1000 records read per table; "
        f"{left} incident(s) left"
    )
    store.close()


@contextmanager
def sqlite_stores() -> Iterator[StoreFactory]:
    with tempfile.TemporaryDirectory(prefix="state-bench-") as directory:
        made = iter(range(1_000_000))
        yield lambda: StateStore(SqliteBackend(Path(directory) / f"state{next(made)}.db"))


@contextmanager
def azurite_stores() -> Iterator[StoreFactory]:
    instance = AZURITE.acquire()
    try:
        yield lambda: StateStore(
            TableBackend.from_connection_string(instance.connection_string, prefix=instance.unique_prefix())
        )
    finally:
        AZURITE.release()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--azurite-history", type=int, default=10_000)
    parser.add_argument("--prune", type=int, default=2_000)
    parser.add_argument("--azurite-prune", type=int, default=500)
    parser.add_argument("--skip-azurite", action="store_true")
    args = parser.parse_args()

    with sqlite_stores() as factory:
        lookups("sqlite", factory, (10, args.history), threads=1)
        prune_throughput("sqlite", factory, args.prune, threads=1)
    if args.skip_azurite:
        return 0
    if args.azurite_history < args.history:
        print(
            f"azurite: {args.azurite_history} past incidents, not {args.history}: each insert is an HTTP "
            "request (one gateway's incidents are one partition); --azurite-history sets it"
        )
    with azurite_stores() as factory:
        lookups("azurite", factory, (10, args.azurite_history), threads=8)
        prune_throughput("azurite", factory, args.azurite_prune, threads=8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
