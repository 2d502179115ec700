"""Local simulator latency as the real SDK sees it, with no injected latency.

Median of N gateway GETs, and of N full backend-health long-running operations (POST, status
polls, final result) — the baseline every other figure stands on.

    .venv/bin/python bench/simulator_bench.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.azure_clients import ArmTarget, make_clients  # noqa: E402
from simulator import Simulator  # noqa: E402

WORLD = ROOT / "scenarios" / "live-slow-backend" / "world.json"  # health derived, not recorded
RESOURCE_GROUP, GATEWAY = "rg-contoso-web", "agw-contoso"
GETS, LROS = 200, 30
POLLING_SECONDS = 0.01


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    with Simulator(WORLD) as sim:
        clients = make_clients(
            sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=POLLING_SECONDS
        )
        gateways = clients.network.application_gateways
        gateways.get(RESOURCE_GROUP, GATEWAY)  # warm the connection pool
        get_samples = []
        for _ in range(GETS):
            started = time.perf_counter()
            gateways.get(RESOURCE_GROUP, GATEWAY)
            get_samples.append(time.perf_counter() - started)
        lro_samples = []
        for _ in range(LROS):
            started = time.perf_counter()
            gateways.begin_backend_health(RESOURCE_GROUP, GATEWAY).result()
            lro_samples.append(time.perf_counter() - started)
        clients.close()
    print(f"gateway GET:               median {median_ms(get_samples):6.1f} ms  (n={GETS})")
    print(
        f"backend-health LRO (full): median {median_ms(lro_samples):6.1f} ms  (n={LROS}, "
        f"SDK polling_interval {POLLING_SECONDS * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
