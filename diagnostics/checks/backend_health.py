"""ALL_BACKENDS_UNHEALTHY and BACKEND_HEALTH_UNKNOWN, read from the backend-health result.

Health is judged per pool+settings pair, as the gateway load-balances per pair; one finding per
pool lists the affected pairs. Both spellings (`Unhealthy`/`Down`) count as unhealthy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from core.arm_ids import name_of
from core.sdk_values import wire
from diagnostics.checks.base import Check, need
from diagnostics.snapshot import Snapshot, iter_health_servers, key
from model.findings import Finding, Fix, Severity
from netrules.probes import health_state

# (pool id, settings id) -> [(address, state, probe log)]
PairServers = dict[tuple[str, str], list[tuple[str, str, str]]]


def server_state(value: object) -> str:
    """The normalised health of one server; a value Azure did not document counts as unknown."""
    try:
        return health_state(wire(value))
    except ValueError:
        return "unknown"


def servers_by_pair(snapshot: Snapshot) -> PairServers:
    """The backend-health result grouped by pool+settings pair (MissingData when not collected)."""
    health = need(snapshot, "backend_health", "backend health")
    pairs: PairServers = defaultdict(list)
    for pool_id, settings_id, server in iter_health_servers(health):
        pairs[(pool_id, settings_id)].append(
            (server.address or "", server_state(server.health), server.health_probe_log or "")
        )
    return pairs


def _pair_evidence(pool_id: str, settings_id: str, servers: list[tuple[str, str, str]]) -> dict:
    return {
        "pool": name_of(pool_id),
        "settings": name_of(settings_id),
        "servers": [{"address": a, "health": s, "healthProbeLog": log} for a, s, log in servers],
    }


def _by_pool(
    pairs: PairServers, wanted: Callable[[list[tuple[str, str, str]]], bool]
) -> dict[str, list[tuple[str, str, list]]]:
    grouped: dict[str, list[tuple[str, str, list]]] = defaultdict(list)
    for (pool_id, settings_id), servers in pairs.items():
        if wanted(servers):
            grouped[key(pool_id)].append((pool_id, settings_id, servers))
    return grouped


def _all_unhealthy(servers: list[tuple[str, str, str]]) -> bool:
    return bool(servers) and all(state == "unhealthy" for _, state, _ in servers)


def _some_unknown(servers: list[tuple[str, str, str]]) -> bool:
    return any(state == "unknown" for _, state, _ in servers) and not _all_unhealthy(servers)


def all_backends_unhealthy(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for pairs in _by_pool(servers_by_pair(snapshot), _all_unhealthy).values():
        pool_id = pairs[0][0]
        settings = ", ".join(name_of(s) for _, s, _ in pairs)
        count = sum(len(servers) for _, _, servers in pairs)
        findings.append(
            Finding(
                code="ALL_BACKENDS_UNHEALTHY",
                severity=Severity.CRITICAL,
                title=f"Every server of backend pool {name_of(pool_id)} is unhealthy ({count} for settings "
                f"{settings})",
                resource=pool_id,
                evidence={"pairs": [_pair_evidence(p, s, servers) for p, s, servers in pairs]},
                fix=Fix(
                    summary="The gateway has no healthy server to send to; the other findings say why the "
                    "health probe fails."
                ),
            )
        )
    return findings


def backend_health_unknown(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for pairs in _by_pool(servers_by_pair(snapshot), _some_unknown).values():
        pool_id = pairs[0][0]
        unknown = [a for _, _, servers in pairs for a, state, _ in servers if state == "unknown"]
        findings.append(
            Finding(
                code="BACKEND_HEALTH_UNKNOWN",
                severity=Severity.WARNING,
                title=f"Backend health of {len(unknown)} server(s) in pool {name_of(pool_id)} is Unknown",
                resource=pool_id,
                evidence={
                    "unknownServers": unknown,
                    "pairs": [_pair_evidence(p, s, servers) for p, s, servers in pairs],
                },
                fix=Fix(
                    summary="Unknown health usually means the gateway subnet blocks the infrastructure "
                    "ports (GatewayManager) or outbound Internet, or a UDR/DNS problem on the gateway "
                    "subnet; see the NSG/UDR findings."
                ),
            )
        )
    return findings


ALL_UNHEALTHY = Check(
    name="all-backends-unhealthy", codes=("ALL_BACKENDS_UNHEALTHY",), run=all_backends_unhealthy
)
UNKNOWN = Check(name="backend-health-unknown", codes=("BACKEND_HEALTH_UNKNOWN",), run=backend_health_unknown)
