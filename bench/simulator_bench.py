"""Local simulator latency as the real SDK sees it, with no injected latency.

Median of N gateway GETs, and of N full backend-health long-running operations (POST, status
polls, final result) — the baseline every other figure stands on.

Then how the simulator scales with the size of the estate (issue 11): on the worlds of
tests/diagnostics/sized_world.py (N pools of 10 servers, each pool with its own subnet, NSG and
route table; IP-address members, then one NIC per server), the median time the simulator alone
takes to derive backend health ("derive": its ARM API answering the POST, no HTTP), then through
the SDK: a full backend-health operation, a gateway GET, a VNet GET (back-references included), a
NIC list, a NIC's effective routes and NSGs, and a gateway GET + PUT; then the ratio of the largest
world to 10 pools (linear would be 10x).

    .venv/bin/python bench/simulator_bench.py [--pools 10 50 100] [--repeat 3] [--profile N]

`--profile N` prints the top of a cProfile of the simulator serving the NIC world of N pools instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.azure_clients import ArmTarget, make_clients  # noqa: E402
from simulator import Simulator  # noqa: E402
from simulator.arm import ArmApi, ArmRequest  # noqa: E402
from simulator.faults import FaultPlan  # noqa: E402
from simulator.world import World, load_world  # noqa: E402
from tests.diagnostics.sized_world import sized_world  # noqa: E402

WORLD = ROOT / "scenarios" / "live-slow-backend" / "world.json"  # health derived, not recorded
RESOURCE_GROUP, GATEWAY = "rg-contoso-web", "agw-contoso"
GETS, LROS = 200, 30
POLLING_SECONDS = 0.01

SIZED_GROUP, SIZED_GATEWAY, SIZED_VNET = "rg-tenants", "agw-tenants", "vnet-tenants"
SIZED_NIC = "nic-tenant-000-0"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def baseline() -> None:
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


def sized_operations(network) -> dict[str, Callable[[], object]]:
    """What a diagnosis asks the simulator of a sized world, by label (NIC operations need NICs)."""
    return {
        "health": lambda: network.application_gateways.begin_backend_health(
            SIZED_GROUP, SIZED_GATEWAY
        ).result(),
        "gw GET": lambda: network.application_gateways.get(SIZED_GROUP, SIZED_GATEWAY),
        "vnet GET": lambda: network.virtual_networks.get(SIZED_GROUP, SIZED_VNET),
        "NIC list": lambda: list(network.network_interfaces.list(SIZED_GROUP)),
        "eff routes": lambda: network.network_interfaces.begin_get_effective_route_table(
            SIZED_GROUP, SIZED_NIC
        ).result(),
        "eff NSGs": lambda: network.network_interfaces.begin_list_effective_network_security_groups(
            SIZED_GROUP, SIZED_NIC
        ).result(),
        "gw PUT": lambda: network.application_gateways.begin_create_or_update(
            SIZED_GROUP, SIZED_GATEWAY, network.application_gateways.get(SIZED_GROUP, SIZED_GATEWAY)
        ).result(),
    }


def arm_request(method: str, path: str) -> ArmRequest:
    return ArmRequest.from_http(method, f"{path}?api-version=2024-05-01", {"Authorization": "Bearer x"}, b"")


def sized_paths(world: World) -> dict[str, str]:
    group = f"/subscriptions/{world.subscription_id}/resourceGroups/{SIZED_GROUP}/providers/Microsoft.Network"
    return {
        "gateway": f"{group}/applicationGateways/{SIZED_GATEWAY}",
        "vnet": f"{group}/virtualNetworks/{SIZED_VNET}",
        "nics": f"{group}/networkInterfaces",
        "nic": f"{group}/networkInterfaces/{SIZED_NIC}",
    }


def derivation_seconds(pools: int, *, nics: bool, repeat: int) -> float:
    """Median seconds the simulator's ARM API (no HTTP, no SDK) takes to answer the backend-health POST,
    which derives the health."""
    world = load_world(sized_world(pools, nics=nics))
    api = ArmApi(world, FaultPlan([]), clock=lambda: world.clock)
    request = arm_request("POST", sized_paths(world)["gateway"] + "/backendhealth")
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        _, response = api.handle(request)
        samples.append(time.perf_counter() - started)
        assert response.status == 202, response.body
    return statistics.median(samples)


def time_sized(pools: int, *, nics: bool, repeat: int) -> dict[str, float]:
    """Median seconds of each operation on the sized world of `pools` pools (health derived by the
    simulator alone, then each operation through the SDK)."""
    figures = {"derive": derivation_seconds(pools, nics=nics, repeat=repeat)}
    with Simulator(sized_world(pools, nics=nics)) as sim:
        clients = make_clients(
            sim.subscription_id, target=ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=POLLING_SECONDS
        )
        try:
            for label, operation in sized_operations(clients.network).items():
                if not nics and label.startswith("eff"):
                    continue
                samples = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    operation()
                    samples.append(time.perf_counter() - started)
                figures[label] = statistics.median(samples)
        finally:
            clients.close()
    return figures


def sized(sizes: list[int], repeat: int) -> None:
    print(f"\nsized worlds (10 servers per pool), median of {repeat}, ms:")
    for nics in (False, True):
        print(f"{'NIC' if nics else 'IP-address'} members:")
        rows = {pools: time_sized(pools, nics=nics, repeat=repeat) for pools in sizes}
        labels = list(next(iter(rows.values())))
        print(f"{'pools':>5} " + " ".join(f"{label:>10}" for label in labels))
        for pools, figures in rows.items():
            print(f"{pools:5d} " + " ".join(f"{figures[label] * 1000:10.1f}" for label in labels))
        if 10 in rows and max(rows) > 10:
            big, small = rows[max(rows)], rows[10]
            print(
                f"{max(rows)} / 10 pools: "
                + ", ".join(f"{label} {big[label] / small[label]:.1f}x" for label in labels)
            )


def profile(pools: int) -> None:
    """cProfile of the simulator's ARM API (no HTTP, in this thread) answering the sized operations."""
    world = load_world(sized_world(pools, nics=True))
    api = ArmApi(world, FaultPlan([]), clock=lambda: world.clock)
    paths = sized_paths(world)
    requests = [
        ("POST", paths["gateway"] + "/backendhealth"),
        ("GET", paths["gateway"]),
        ("GET", paths["vnet"]),
        ("GET", paths["nics"]),
        ("POST", paths["nic"] + "/effectiveRouteTable"),
        ("POST", paths["nic"] + "/effectiveNetworkSecurityGroups"),
    ]
    profiler = cProfile.Profile()
    for method, path in requests:
        _, response = profiler.runcall(api.handle, arm_request(method, path))
        assert response.status < 300, response.body
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="*", default=[10, 50, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0)
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return
    baseline()
    if args.pools:
        sized(args.pools, args.repeat)


if __name__ == "__main__":
    main()
