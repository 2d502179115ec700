"""An alert storm against the Functions app: many gateways (clones of the healthy scenario's) and
many repeated deliveries, delivered concurrently through the HTTP function and the queue worker.
Shared by the storm test and bench/webhook_bench.py."""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.functions.harness import post_alert, run_queue

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = ROOT / "scenarios/healthy"
GATEWAY_TYPE = "Microsoft.Network/applicationGateways"


def world_with_gateways(count: int) -> tuple[dict[str, Any], list[str]]:
    """The healthy world with its gateway cloned `count` times (agw-00, agw-01, ...), sharing its
    network; returns the world and the gateway ids."""
    world = json.loads((HEALTHY / "world.json").read_text())
    (template,) = [r for r in world["resources"] if r["type"] == GATEWAY_TYPE]
    health = world["backendHealth"].pop(template["id"])
    world["resources"].remove(template)
    ids = []
    for number in range(count):
        name = f"agw-{number:02d}"

        def rename(value: Any, name: str = name) -> Any:
            text = json.dumps(value).replace("applicationGateways/agw-contoso", f"applicationGateways/{name}")
            return json.loads(text)

        gateway = rename(copy.deepcopy(template))
        gateway["name"] = name
        world["resources"].append(gateway)
        world["backendHealth"][gateway["id"]] = rename(health)
        ids.append(gateway["id"])
    return world, ids


def alert_for(gateway_id: str, alert_id: str) -> bytes:
    document = json.loads((HEALTHY / "alert.json").read_text())
    essentials = document["data"]["essentials"]
    essentials["alertId"] = (
        f"/subscriptions/{gateway_id.split('/')[2]}/providers/Microsoft.AlertsManagement/alerts/{alert_id}"
    )
    essentials["alertTargetIDs"] = [gateway_id.lower()]
    essentials["configurationItems"] = [gateway_id.rsplit("/", 1)[-1]]
    return json.dumps(document).encode()


@dataclass
class StormResult:
    statuses: list[int] = field(default_factory=list)
    webhook_seconds: list[float] = field(default_factory=list)
    elapsed_seconds: float = 0.0


def storm(
    functions: dict[str, Callable[..., Any]],
    gateways: list[str],
    *,
    repeats: int,
    workers: int,
    seed: int = 7,
    headers: dict[str, str] | None = None,
) -> StormResult:
    """`repeats` deliveries of one alert for the first gateway plus one distinct alert per gateway,
    shuffled and delivered concurrently; each delivery is posted, then its queue messages processed."""
    bodies = [alert_for(gateways[0], "storm")] * repeats + [
        alert_for(gw, f"a-{i}") for i, gw in enumerate(gateways)
    ]
    random.Random(seed).shuffle(bodies)
    result = StormResult()

    def deliver(body: bytes) -> tuple[int, float]:
        started = time.perf_counter()
        response, messages = post_alert(functions, body, headers)
        took = time.perf_counter() - started
        run_queue(functions, messages)
        return response.status_code, took

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for status, took in pool.map(deliver, bodies):
            result.statuses.append(status)
            result.webhook_seconds.append(took)
    result.elapsed_seconds = time.perf_counter() - started
    return result
