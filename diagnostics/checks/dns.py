"""Name resolution of FQDN backend members.

- CUSTOM_DNS_CANNOT_RESOLVE: the VNet's custom DNS servers do not answer a backend FQDN
  (`snapshot.dns_answers` maps it to no address), or the probe log reports a DNS failure.
- CUSTOM_DNS_UNVERIFIED: custom DNS servers and FQDN members, but whether they resolve could not
  be checked and backend health does not show those servers healthy either.
Pools with IP or NIC members raise nothing here unless backend health itself reports a DNS failure
for one of their servers (FINDINGS.md: "or the probe log reports a DNS resolution failure").

What could not be read is an `error`, never a pass or a skip: without the VNet, whether it uses
custom DNS servers (and which) is unknown; without backend health, a DNS failure in the probe log
cannot be ruled out; when the DNS servers were asked and did not answer, a name backend health does
not show healthy may not resolve.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.arm_ids import name_of
from diagnostics.checks.backend_health import server_state
from diagnostics.checks.base import Check, NotApplicable, listed
from diagnostics.snapshot import AZURE_DNS, MissingData, Snapshot, key
from model.findings import Finding, Fix, Severity
from netrules.probes import ProbeLogKind, classify_probe_log


@dataclass(frozen=True)
class FqdnMember:
    pool_id: str
    fqdn: str


def _fqdn_members(snapshot: Snapshot) -> list[FqdnMember]:
    used = {key(pair.pool_id): pair.pool_id for pair in snapshot.routing_pairs()}
    members = []
    for pool_id in used.values():
        for member in snapshot.backend_members(pool_id):
            fqdn = FqdnMember(pool_id, member.address)
            if member.is_fqdn and fqdn not in members:
                members.append(fqdn)
    if not members:
        raise NotApplicable("no backend pool in use has FQDN members")
    return members


def _answer(snapshot: Snapshot, fqdn: str) -> list[str] | None:
    """What the custom DNS answered for `fqdn`: addresses, [] for no answer, None if not asked."""
    if snapshot.dns_answers is None:
        return None
    for name, addresses in snapshot.dns_answers.items():
        if name.lower().rstrip(".") == fqdn.lower().rstrip("."):
            return list(addresses)
    return None


def _health_by_address(snapshot: Snapshot) -> dict[str, list[tuple[str, str]]] | None:
    """Address (lower-case) -> [(health state, probe log)], or None when health was not collected."""
    if snapshot.backend_health is None or "backend_health" in snapshot.errors:
        return None
    result: dict[str, list[tuple[str, str]]] = {}
    for server in snapshot.health_servers():
        state = server_state(server.health)
        result.setdefault(server.address.lower(), []).append((state, server.probe_log))
    return result


def _dns_failures(snapshot: Snapshot) -> dict[FqdnMember, dict]:
    """FQDN members that demonstrably do not resolve, with what shows it."""
    servers = snapshot.custom_dns_servers()
    health = _health_by_address(snapshot) or {}
    failures: dict[FqdnMember, dict] = {}
    for member in _fqdn_members(snapshot):
        answer = _answer(snapshot, member.fqdn) if servers else None
        logs = [
            log
            for _, log in health.get(member.fqdn.lower(), [])
            if classify_probe_log(log) == ProbeLogKind.DNS
        ]
        if answer == [] or logs:
            failures[member] = {
                "fqdn": member.fqdn,
                "dnsServers": servers or ["Azure-provided DNS"],
                "customDnsAnswer": answer,
                "healthProbeLog": logs[0] if logs else None,
            }
    return failures


def _probe_log_failures(snapshot: Snapshot, known: set[str]) -> dict[FqdnMember, dict]:
    """Servers (of any kind) whose probe log reports a DNS failure, beyond the FQDNs in `known`."""
    if snapshot.backend_health is None or "backend_health" in snapshot.errors:
        return {}
    failures: dict[FqdnMember, dict] = {}
    for server in snapshot.health_servers():
        pool_id, address, log = server.pool_id, server.address, server.probe_log
        if address.lower() in known or classify_probe_log(log) != ProbeLogKind.DNS:
            continue
        failures.setdefault(
            FqdnMember(pool_id, address),
            {
                "fqdn": address,
                "dnsServers": snapshot.custom_dns_servers() or ["Azure-provided DNS"],
                "customDnsAnswer": None,
                "healthProbeLog": log,
            },
        )
    return failures


def _health_missing(snapshot: Snapshot) -> str | None:
    """Why backend health (the probe log) is unknown, or None when it was collected."""
    if "backend_health" in snapshot.errors:
        return f"backend_health: {snapshot.errors['backend_health']}"
    return "backend_health: backend health was not collected" if snapshot.backend_health is None else None


def _vnet_missing(snapshot: Snapshot) -> str | None:
    """Why the VNet's DNS servers are unknown (the VNet could not be read), or None."""
    return f"vnet: {snapshot.errors['vnet']}" if "vnet" in snapshot.errors else None


def _shown_healthy(snapshot: Snapshot, fqdn: str) -> bool:
    """Backend health reports the name's servers healthy: the gateway resolved it."""
    states = (_health_by_address(snapshot) or {}).get(fqdn.lower(), [])
    return bool(states) and all(state == "healthy" for state, _ in states)


def _unknown_resolution(snapshot: Snapshot) -> str | None:
    """Why resolution of the FQDN members could not be judged (no failure being known), or None."""
    members = _fqdn_members(snapshot)
    unknown = [m.fqdn for m in members if _answer(snapshot, m.fqdn) is None]
    names = ", ".join(dict.fromkeys(unknown))
    health = _health_missing(snapshot)
    if health and unknown:
        return f"neither backend health nor DNS answers were collected for {names} ({health})"
    if health:
        return f"{health}: a DNS failure in the probe log cannot be ruled out"
    vnet = _vnet_missing(snapshot)
    if vnet:
        return f"{vnet}: the VNet's DNS servers are unknown, so {names or 'FQDNs'} could not be checked"
    silent = [fqdn for fqdn in unknown if not _shown_healthy(snapshot, fqdn)]
    if silent and "dns_answers" in snapshot.errors:
        return f"dns_answers: {snapshot.errors['dns_answers']}"
    return None


def dns_cannot_resolve(snapshot: Snapshot) -> list[Finding]:
    try:
        failures = _dns_failures(snapshot)
    except NotApplicable:  # no FQDN members: only a DNS failure in the probe log can still count
        failures = _probe_log_failures(snapshot, known=set())
        if failures:
            return _cannot_resolve_findings(snapshot, failures)
        health = _health_missing(snapshot)
        if health:
            raise MissingData(f"{health}: a DNS failure in the probe log cannot be ruled out") from None
        raise
    failures.update(_probe_log_failures(snapshot, known={m.fqdn.lower() for m in failures}))
    if not failures:
        unknown = _unknown_resolution(snapshot)
        if unknown:
            raise MissingData(unknown)
    return _cannot_resolve_findings(snapshot, failures)


def _cannot_resolve_findings(snapshot: Snapshot, failures: dict[FqdnMember, dict]) -> list[Finding]:
    by_pool: dict[str, list[dict]] = {}
    for member, evidence in failures.items():
        by_pool.setdefault(member.pool_id, []).append(evidence)
    findings = []
    for pool_id, items in by_pool.items():
        names = listed(item["fqdn"] for item in items)
        servers = snapshot.custom_dns_servers()
        through = (
            f"through custom DNS {', '.join(servers)}" if servers else "(probe log reports a DNS failure)"
        )
        findings.append(
            Finding(
                code="CUSTOM_DNS_CANNOT_RESOLVE",
                severity=Severity.CRITICAL,
                title=f"Backend {names} in pool {name_of(pool_id)} does not resolve {through}",
                resource=pool_id,
                evidence={"pool": name_of(pool_id), "dnsServers": servers, "members": items},
                fix=Fix(
                    summary=f"Make {names} resolvable from the gateway's VNet: add the record on the custom "
                    f"DNS servers or forward its zone to Azure DNS ({AZURE_DNS}); then stop and start the "
                    "gateway so it picks up the change."
                ),
            )
        )
    return findings


def dns_unverified(snapshot: Snapshot) -> list[Finding]:
    members = _fqdn_members(snapshot)
    vnet = _vnet_missing(snapshot)
    if vnet:
        raise MissingData(f"{vnet}: whether the VNet uses custom DNS servers is unknown")
    servers = snapshot.custom_dns_servers()
    if not servers:
        raise NotApplicable(f"the VNet uses Azure-provided DNS ({AZURE_DNS})")
    failing = _dns_failures(snapshot)
    health = _health_by_address(snapshot)
    by_pool: dict[str, list[str]] = {}
    for member in members:
        if member in failing or _answer(snapshot, member.fqdn) is not None:
            continue
        states = (health or {}).get(member.fqdn.lower(), [])
        if states and all(state == "healthy" for state, _ in states):
            continue
        by_pool.setdefault(member.pool_id, []).append(member.fqdn)
    return [
        Finding(
            code="CUSTOM_DNS_UNVERIFIED",
            severity=Severity.INFO,
            title=f"Could not verify that {listed(names)} (pool {name_of(pool_id)}) resolves through "
            f"custom DNS {', '.join(servers)}",
            resource=pool_id,
            evidence={
                "pool": name_of(pool_id),
                "fqdns": names,
                "dnsServers": servers,
                "backendHealthCollected": health is not None,
            },
            fix=Fix(
                summary=f"From a VM in the gateway's VNet, check that `nslookup <fqdn> {servers[0]}` answers "
                "with the backend's address."
            ),
        )
        for pool_id, names in by_pool.items()
    ]


CANNOT_RESOLVE = Check(name="dns-resolution", codes=("CUSTOM_DNS_CANNOT_RESOLVE",), run=dns_cannot_resolve)
UNVERIFIED = Check(name="dns-unverified", codes=("CUSTOM_DNS_UNVERIFIED",), run=dns_unverified)
