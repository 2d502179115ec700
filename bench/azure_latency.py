"""Latency like Azure's, injected by the simulator, shared by the benchmarks that measure a
diagnosis against its critical path (diagnosis_bench.py, size_bench.py).

80 ms per GET (resource reads, long-running-operation status polls and metrics queries), backend
health in progress for 3 s, effective routes and effective NSGs for 1.5 s each.
"""

from __future__ import annotations

from simulator import FaultRule

POLLING_SECONDS = 0.25  # what production uses: the SDK default of 30 s would dominate everything
GET_SECONDS = 0.08
IN_PROGRESS = {
    "applicationGateways.backendHealth": 3.0,
    "networkInterfaces.getEffectiveRouteTable": 1.5,
    "networkInterfaces.listEffectiveNetworkSecurityGroups": 1.5,
}
FAULTS = [
    FaultRule("*.get", "latency", seconds=GET_SECONDS),  # includes operations.get / operationResults.get
    FaultRule("*.list", "latency", seconds=GET_SECONDS),  # metrics queries and resource-group lists
    *(FaultRule(operation, "latency", seconds=seconds) for operation, seconds in IN_PROGRESS.items()),
]

# Each call's cost: a GET its latency; a long-running operation its time in progress plus the
# status poll that sees it finished and the GET of its result.
POLL_TAIL = 2 * GET_SECONDS


def cost(operation: str) -> float:
    return IN_PROGRESS[operation] + POLL_TAIL if operation in IN_PROGRESS else GET_SECONDS


def chain_cost(chain: list[str]) -> float:
    return sum(cost(operation) for operation in chain)
