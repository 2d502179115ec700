"""Webhook and pipeline throughput of one Functions instance, measured in-process.

    .venv/bin/python bench/webhook_bench.py [--gateways 50] [--repeats 500] [--workers 16]

Starts Azurite (node_modules) and the simulator with N clones of the healthy scenario's gateway,
then delivers an alert storm (`--repeats` copies of one alert plus one alert per gateway) through
the HTTP function and the queue worker with `--workers` threads (16 = the queue trigger's default
batch size on one instance). Prints the webhook handler's latency (p50/p99: validate + enqueue,
not the diagnosis) and incidents diagnosed per minute. Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator import Simulator  # noqa: E402
from tests.azurite import _SHARED as AZURITE  # noqa: E402
from tests.entra import AUDIENCE, TENANT_ID, EntraTenant  # noqa: E402
from tests.functions.harness import user_functions  # noqa: E402
from tests.functions.storm import storm, world_with_gateways  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument(
        "--secure", action="store_true", help="Require and check Entra ID tokens (local JWKS)."
    )
    args = parser.parse_args()

    world, gateways = world_with_gateways(args.gateways)
    azurite = AZURITE.acquire()
    try:
        with Simulator(world) as sim:
            os.environ.update(
                {
                    "AzureWebJobsStorage": azurite.connection_string,
                    "STATE_TABLE_PREFIX": azurite.unique_prefix(),
                    "ALLOWED_SUBSCRIPTIONS": sim.subscription_id,
                    "ARM_ENDPOINT": sim.endpoint,
                    "ARM_CA_BUNDLE": sim.ca_cert,
                    "ARM_POLLING_INTERVAL": "0.05",
                }
            )
            headers = {}
            if args.secure:
                tenant = EntraTenant()
                os.environ.update(
                    {
                        "SECURE_WEBHOOK_TENANT_ID": TENANT_ID,
                        "SECURE_WEBHOOK_AUDIENCE": AUDIENCE,
                        "SECURE_WEBHOOK_JWKS_URL": tenant.jwks_url,
                    }
                )
                headers["Authorization"] = f"Bearer {tenant.token()}"
            functions = user_functions()
            started = time.perf_counter()
            result = storm(functions, gateways, repeats=args.repeats, workers=args.workers, headers=headers)
            elapsed = time.perf_counter() - started
            if args.secure:
                tenant.stop()
    finally:
        AZURITE.release()

    latencies_ms = [seconds * 1000 for seconds in result.webhook_seconds]
    deliveries = len(result.statuses)
    print(f"deliveries            {deliveries} ({args.repeats} repeats + {args.gateways} gateways), "
          f"{args.workers} workers, secure webhook {'on' if args.secure else 'off'}")  # fmt: skip
    print(f"non-202 answers       {sum(1 for s in result.statuses if s != 202)}")
    print(f"webhook latency p50   {percentile(latencies_ms, 0.50):.1f} ms")
    print(f"webhook latency p99   {percentile(latencies_ms, 0.99):.1f} ms")
    print(f"webhook latency mean  {statistics.fmean(latencies_ms):.1f} ms")
    print(f"storm wall time       {elapsed:.1f} s")
    print(f"incidents per minute  {args.gateways / elapsed * 60:.0f} (one instance, diagnosis included)")
    print(f"deliveries per second {deliveries / elapsed:.0f} (duplicates acknowledged without diagnosis)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
