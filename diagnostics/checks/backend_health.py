"""ALL_BACKENDS_UNHEALTHY and BACKEND_HEALTH_UNKNOWN, read from the backend-health result.

Health is judged per pool+settings pair, as the gateway load-balances per pair; one finding per
pool lists the affected pairs. Both spellings (`Unhealthy`/`Down`) count as unhealthy.

On a private (network-isolated) v2 gateway, `Unknown` with the old infrastructure-ports message
("ports 65503-65534 ... 65200-65535") is a known artefact Microsoft says to ignore: such servers are
left out of BACKEND_HEALTH_UNKNOWN (the check's note counts them), and the fix of the Unknown servers
that remain does not point at GatewayManager or outbound Internet, which that gateway does not need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from core.arm_ids import name_of
from core.sdk_values import wire
from diagnostics.checks.base import Check, Findings, need
from diagnostics.snapshot import Snapshot, key
from model.findings import Finding, Fix, Severity
from netrules.probes import KIND_LABELS, ProbeLogKind, classify_probe_log, health_state

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
    need(snapshot, "backend_health", "backend health")
    pairs: PairServers = defaultdict(list)
    for server in snapshot.health_servers():
        pairs[(server.pool_id, server.settings_id)].append(
            (server.address, server_state(server.health), server.probe_log)
        )
    return pairs


INFRA_PORTS_MESSAGE_PORTS = ("65503-65534", "65200-65535")


def infra_ports_message(log: str) -> bool:
    """Whether a probe log is the old Unknown message that blames the infrastructure ports."""
    return any(ports in log for ports in INFRA_PORTS_MESSAGE_PORTS)


def _ignorable_on_isolated(state: str, log: str) -> bool:
    return state == "unknown" and infra_ports_message(log)


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


# Log classes that name no failure: a server that is Unhealthy with one of these is unexplained.
_NO_CAUSE = frozenset({ProbeLogKind.OTHER, ProbeLogKind.PROXY_PROTOCOL})
_NOT_A_FAILURE = frozenset({ProbeLogKind.HEALTHY, ProbeLogKind.UNKNOWN})


def _why_summary(pairs: list[tuple[str, str, list]]) -> tuple[str, dict]:
    """The fix summary of ALL_BACKENDS_UNHEALTHY and its evidence: what the probe logs say."""
    causes: list[str] = []
    unrecognised: dict[str, None] = {}
    no_failure: dict[str, None] = {}
    for _, _, servers in pairs:
        for address, _, log in servers:
            kind = classify_probe_log(log)
            if kind in _NO_CAUSE:
                unrecognised[address] = None
            elif kind in _NOT_A_FAILURE:
                no_failure[address] = None
            elif KIND_LABELS[kind] not in causes:
                causes.append(KIND_LABELS[kind])
    parts = ["The gateway has no healthy server to send to."]
    if causes:
        parts.append(f"The probe log reports: {'; '.join(causes)} (see the finding for each cause).")
    if unrecognised:
        parts.append(
            f"The probe log of {', '.join(unrecognised)} names no cause the checks recognise; read it "
            "(PROBE_LOG_UNRECOGNISED quotes it)."
        )
    if no_failure:
        parts.append(
            f"The probe log of {', '.join(no_failure)} states no failure although the server is "
            "unhealthy; probe the backend directly."
        )
    evidence = {
        "probeLogCauses": causes,
        "unrecognisedServers": list(unrecognised),
        "serversWithoutFailureLog": list(no_failure),
    }
    return " ".join(parts), evidence


def all_backends_unhealthy(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for pairs in _by_pool(servers_by_pair(snapshot), _all_unhealthy).values():
        pool_id = pairs[0][0]
        settings = ", ".join(name_of(s) for _, s, _ in pairs)
        count = sum(len(servers) for _, _, servers in pairs)
        summary, why = _why_summary(pairs)
        findings.append(
            Finding(
                code="ALL_BACKENDS_UNHEALTHY",
                severity=Severity.CRITICAL,
                title=f"Every server of backend pool {name_of(pool_id)} is unhealthy ({count} for settings "
                f"{settings})",
                resource=pool_id,
                evidence={"pairs": [_pair_evidence(p, s, servers) for p, s, servers in pairs], **why},
                fix=Fix(summary=summary),
            )
        )
    return findings


def backend_health_unknown(snapshot: Snapshot) -> list[Finding]:
    pairs_seen = servers_by_pair(snapshot)
    ignored: list[str] = []
    if snapshot.is_network_isolated:
        kept: PairServers = {}
        for pair, servers in pairs_seen.items():
            ignored.extend(a for a, state, log in servers if _ignorable_on_isolated(state, log))
            kept[pair] = [s for s in servers if not _ignorable_on_isolated(s[1], s[2])]
        pairs_seen = kept
    fix = (
        "Unknown health on a network-isolated gateway: check the AzureLoadBalancer allow, the backend "
        "routes and DNS (it needs no infrastructure-port rule and no outbound Internet); see the "
        "NSG/UDR/DNS findings."
        if snapshot.is_network_isolated
        else "Unknown health usually means the gateway subnet blocks the infrastructure "
        "ports (GatewayManager) or outbound Internet, or a UDR/DNS problem on the gateway "
        "subnet; see the NSG/UDR findings."
    )
    findings = []
    for pairs in _by_pool(pairs_seen, _some_unknown).values():
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
                fix=Fix(summary=fix),
            )
        )
    if not ignored:
        return findings
    unique = list(dict.fromkeys(ignored))
    return Findings(
        findings,
        note=f"{len(unique)} server(s) report Unknown with the infrastructure-ports message "
        f"({', '.join(unique[:3])}{' ...' if len(unique) > 3 else ''}), which Microsoft says to ignore on a "
        "network-isolated gateway: left out (the NSG findings say whether AzureLoadBalancer is blocked)",
    )


ALL_UNHEALTHY = Check(
    name="all-backends-unhealthy", codes=("ALL_BACKENDS_UNHEALTHY",), run=all_backends_unhealthy
)
UNKNOWN = Check(name="backend-health-unknown", codes=("BACKEND_HEALTH_UNKNOWN",), run=backend_health_unknown)
