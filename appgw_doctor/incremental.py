"""The incremental sweep: a gateway whose path resources are unchanged and whose servers are all
healthy since its last full diagnosis is not collected and checked again.

After a full diagnosis, `fingerprint_of` records the etags of the path resources it read (the gateway,
its VNet and peered VNets holding pool members, subnets read on their own, NSGs, route tables, NICs)
and that backend health was all healthy. A later sweep item does `light_read`: the gateway GET first
(a changed gateway ends it there), then the other resources' GETs and backend health concurrently.
Every etag the same and every server `Healthy` means the full diagnosis would see what the last one
saw, and the sweep records "unchanged since diagnosis X" instead.

A diagnosis records no fingerprint — so the next sweep diagnoses in full — when a check could not run
(`error`), a path piece could not be collected, a server was not `Healthy` (or there were none), a
resource came without an etag, or the path holds more than `MAX_FINGERPRINT_RESOURCES` resources.
(Metrics are not path resources: a gateway is diagnosed in full at least every
`SWEEP_FULL_EVERY_HOURS` anyway, so findings from its metrics still come.)
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.arm import DEFAULT_BUDGET_SECONDS, Arm, ArmCallFailed
from core.arm_ids import gateway_names, name_of, parent_id, parse
from core.azure_clients import AzureClients
from core.sdk_values import folded, json_fields
from diagnostics.diagnosis import Diagnosis
from diagnostics.snapshot import Snapshot, iter_health_servers, key
from model.findings import CheckStatus

MAX_FINGERPRINT_RESOURCES = 200  # [kind, id, etag] rows: ~40 kB of a diagnosis record at most
LIGHT_READ_WORKERS = 8
GATEWAY = "gateway"
_KINDS = ("gateway", "vnet", "subnet", "nsg", "route_table", "nic")


def all_healthy(health: Any) -> bool:
    """At least one server, and every server of every pool and settings `Healthy`."""
    servers = [server for _, _, server in iter_health_servers(health)]
    return bool(servers) and all(folded(json_fields(server).get("health")) == "healthy" for server in servers)


def fingerprint_of(diagnosis: Diagnosis, *, diagnosis_id: str, started_at: datetime) -> dict[str, Any] | None:
    """What a later sweep compares with (see the module), or None when it must diagnose in full."""
    snapshot = diagnosis.snapshot
    if snapshot is None or any(check.status == CheckStatus.ERROR for check in diagnosis.checks):
        return None
    if any(not piece.startswith("metrics") for piece in snapshot.errors):
        return None
    if not all_healthy(snapshot.backend_health):
        return None
    resources = path_resources(snapshot)
    if resources is None or len(resources) > MAX_FINGERPRINT_RESOURCES:
        return None
    return {
        "resources": [list(resource) for resource in resources],
        "allHealthy": True,
        "fullId": diagnosis_id,
        "fullAt": started_at.isoformat(),
    }


def path_resources(snapshot: Snapshot) -> list[tuple[str, str, str]] | None:
    """(kind, id, etag) of every resource the snapshot read; None when one has no etag."""
    found: list[tuple[str, Any]] = [(GATEWAY, snapshot.gateway_wire)]
    vnets = [vnet for vnet in (snapshot.vnet, *snapshot.peered_vnets.values()) if vnet is not None]
    found += [("vnet", vnet) for vnet in vnets]
    in_vnets = {key(json_fields(vnet).get("id")) for vnet in vnets}
    found += [
        ("subnet", subnet)
        for subnet_id, subnet in snapshot.subnets.items()
        if key(parent_id(subnet_id)) not in in_vnets
    ]
    found += [("nsg", nsg) for nsg in snapshot.nsgs.values()]
    found += [("route_table", table) for table in snapshot.route_tables.values()]
    found += [("nic", nic) for nic in snapshot.nics.values()]
    resources: dict[tuple[str, str], tuple[str, str, str]] = {}
    for kind, model in found:
        fields = json_fields(model)  # an SDK model, or plain JSON (the NICs of a resource group's list)
        resource_id, etag = fields.get("id"), fields.get("etag")
        if not (isinstance(resource_id, str) and resource_id and isinstance(etag, str) and etag):
            return None
        resources.setdefault((kind, key(resource_id)), (kind, resource_id, etag))
    return sorted(resources.values(), key=lambda r: (_KINDS.index(r[0]), key(r[1])))


@dataclass(frozen=True)
class LightRead:
    """What the light read found: `unchanged` (every etag the same, every server healthy) or the
    reason it is not; and the ARM requests it sent."""

    unchanged: bool
    reason: str
    requests: int
    resources: int = 0


def light_read(
    gateway_id: str,
    fingerprint: dict[str, Any],
    *,
    clients: AzureClients,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
) -> LightRead:
    """Read the gateway, the fingerprint's other resources and backend health (see the module)."""
    arm = Arm(clients, budget_seconds=budget_seconds)
    try:
        recorded = [(str(k), str(i), str(e)) for k, i, e in fingerprint.get("resources") or []]
    except (TypeError, ValueError):
        return LightRead(False, "the recorded fingerprint is unreadable", 0)
    gateways = [r for r in recorded if r[0] == GATEWAY]
    if len(gateways) != 1 or any(kind not in _KINDS for kind, _, _ in recorded):
        return LightRead(False, "the recorded fingerprint is unreadable", 0)
    network = clients.network
    try:
        group, name = gateway_names(gateway_id)
        gateway = arm.call(network.application_gateways.get, group, name)
    except (ArmCallFailed, ValueError) as error:
        return LightRead(False, f"the gateway could not be read: {error}", arm.calls)
    if getattr(gateway, "etag", None) != gateways[0][2]:
        return LightRead(False, "the gateway changed", arm.calls, 1)
    others = [r for r in recorded if r[0] != GATEWAY]
    with ThreadPoolExecutor(LIGHT_READ_WORKERS, thread_name_prefix="light-read") as pool:
        health = pool.submit(arm.long_running, network.application_gateways.begin_backend_health, group, name)
        reads = [(resource, pool.submit(_get, arm, resource[0], resource[1])) for resource in others]
        changed, failed = [], []
        for (kind, resource_id, etag), future in reads:
            try:
                current = future.result()
            except (ArmCallFailed, ValueError) as error:
                failed.append(f"{kind} {name_of(resource_id)}: {error}")
                continue
            if getattr(current, "etag", None) != etag:
                changed.append(f"{kind.replace('_', ' ')} {name_of(resource_id)}")
        try:
            healthy = all_healthy(health.result())
            health_error = None
        except ArmCallFailed as error:
            healthy, health_error = False, str(error)
    count = len(recorded)
    if failed:
        return LightRead(False, f"could not be read: {'; '.join(failed)}"[:500], arm.calls, count)
    if changed:
        return LightRead(False, f"changed: {', '.join(changed)}"[:500], arm.calls, count)
    if health_error is not None:
        return LightRead(False, f"backend health could not be read: {health_error}"[:500], arm.calls, count)
    if not healthy:
        return LightRead(False, "backend health is no longer all healthy", arm.calls, count)
    return LightRead(
        True, f"{count} path resources' etags unchanged, backend health all healthy", arm.calls, count
    )


def _get(arm: Arm, kind: str, resource_id: str) -> Any:
    parts = parse(resource_id)
    group, name = parts.get("resource_group"), parts.get("name")
    if not group or not name:
        raise ValueError(f"not an ARM resource id: {resource_id}")
    network = arm.clients.network
    getters: dict[str, Callable[..., Any]] = {
        "vnet": network.virtual_networks.get,
        "nsg": network.network_security_groups.get,
        "route_table": network.route_tables.get,
        "nic": network.network_interfaces.get,
    }
    if kind == "subnet":
        subnet = parts.get("child_name_1")
        if not subnet:
            raise ValueError(f"not a subnet id: {resource_id}")
        return arm.call(network.subnets.get, group, name, subnet)
    return arm.call(getters[kind], group, name)
