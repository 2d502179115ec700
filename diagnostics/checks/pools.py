"""BACKEND_POOL_EMPTY and BACKEND_POOL_NOT_PROVISIONED: pools with nothing (ready) to send to."""

from __future__ import annotations

from typing import Any

from core.arm_ids import name_of
from core.sdk_values import json_fields, json_properties, wire
from diagnostics.checks.base import Check, gateway_cli, same
from diagnostics.snapshot import Snapshot, key, models, ref_id
from model.findings import Finding, Fix, Severity


def _member_count(pool: Any) -> int:
    """Servers the pool names, read by wire names (a model attribute read per member would make a
    model of each of the 1,000 a large gateway's pools hold)."""
    fields = json_properties(pool)
    addresses = [a for a in models(fields.get("backendAddresses")) if _named(a, "ipAddress", "fqdn")]
    configurations = [c for c in models(fields.get("backendIPConfigurations")) if ref_id(c)]
    return len(addresses) + len(configurations)


def _named(item: Any, *names: str) -> bool:
    fields = json_fields(item)
    return any(fields.get(name) for name in names)


def pool_empty(snapshot: Snapshot) -> list[Finding]:
    """Only pools that carry traffic count: an unused empty pool is tidy-up, not a 502."""
    rules_by_pool: dict[str, list[str]] = {}
    for pair in snapshot.routing_pairs():
        rules_by_pool.setdefault(key(pair.pool_id), []).append(name_of(pair.rule_id))
    findings = []
    for fields in snapshot.gateway_collection("backendAddressPools"):  # by wire names: see `_member_count`
        pool_id = ref_id(fields)
        rules = rules_by_pool.get(key(pool_id))
        if pool_id is None or not rules or _member_count(fields):
            continue
        pool = snapshot.pool(pool_id)  # an empty pool's model costs next to nothing
        if pool is None:  # unreadable as a pool: a shape problem, reported as such
            continue
        snapshot.backend_members(pool_id)  # MissingData when it holds only what ARM would not return
        findings.append(
            Finding(
                code="BACKEND_POOL_EMPTY",
                severity=Severity.CRITICAL,
                title=f"Backend pool {pool.name} has no members but routing rule {rules[0]} sends traffic "
                "to it",
                resource=pool_id,
                evidence={
                    "pool": pool.name,
                    "rules": sorted(set(rules)),
                    "backendAddresses": 0,
                    "backendIPConfigurations": 0,
                },
                fix=Fix(
                    summary=f"Add the backend servers to pool {pool.name} (IP/FQDN or VM/VMSS NICs).",
                    command=(
                        f"az network application-gateway address-pool update {gateway_cli(snapshot)} "
                        f"-n {pool.name} --servers <ip-or-fqdn> [<ip-or-fqdn> ...]"
                    ),
                ),
            )
        )
    return findings


def pool_not_provisioned(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for fields in snapshot.gateway_collection("backendAddressPools"):
        state = wire(json_properties(fields).get("provisioningState"))
        if not state or same(state, "Succeeded"):
            continue
        pool_id = ref_id(fields)
        pool = snapshot.pool(pool_id)
        if pool_id is None or pool is None:
            continue
        findings.append(
            Finding(
                code="BACKEND_POOL_NOT_PROVISIONED",
                severity=Severity.WARNING,
                title=f"Backend pool {pool.name} is in provisioning state {state}, not Succeeded",
                resource=pool_id,
                evidence={"pool": pool.name, "provisioningState": state},
                fix=Fix(
                    summary="Wait for the running update to finish; if it failed, re-apply the gateway "
                    "configuration and read the activity log for the error."
                ),
            )
        )
    return findings


EMPTY = Check(name="backend-pool-empty", codes=("BACKEND_POOL_EMPTY",), run=pool_empty)
NOT_PROVISIONED = Check(
    name="backend-pool-provisioned", codes=("BACKEND_POOL_NOT_PROVISIONED",), run=pool_not_provisioned
)
