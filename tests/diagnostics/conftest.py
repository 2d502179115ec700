"""Test scaffolding for the pure checks: turn a world (appgw-world/v1) into a Snapshot the way
the collector fills one from the simulator, without any server. Worlds without `backendHealth`
get it recorded as missing (only the simulator can derive it from `backends`).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from azure.mgmt.monitor import models as monitor
from azure.mgmt.network import models as net

from core.arm_ids import parent_id
from diagnostics.snapshot import Snapshot, backend_members, key

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
WORLDS = ROOT / "tests" / "worlds"


def load_world(path: str | Path) -> dict[str, Any]:
    return json.loads((ROOT / path).read_text())


def healthy_world() -> dict[str, Any]:
    """A fresh copy of the bundled healthy scenario, for tests to break one thing in."""
    return copy.deepcopy(load_world(SCENARIOS / "healthy" / "world.json"))


def resource(world: dict[str, Any], name: str) -> dict[str, Any]:
    """The world resource called `name` (its ARM body, to edit in place)."""
    return next(r for r in world["resources"] if r["name"] == name)


def gateway_body(world: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in world["resources"] if r["type"].lower() == "microsoft.network/applicationgateways")


def _by_key(mapping: dict[str, Any] | None, resource_id: str) -> Any:
    return next((v for k, v in (mapping or {}).items() if key(k) == key(resource_id)), None)


def _dns_answers(
    world: dict[str, Any], servers: list[str], fqdns: list[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """What the first answering custom DNS server says per FQDN; FQDNs no server answered."""
    answers, silent = {}, []
    tables = world.get("dns") or {}
    for fqdn in fqdns:
        server = next((s for s in servers if s in tables), None)
        if server is None:
            silent.append(fqdn)
            continue
        table = {name.lower().rstrip("."): ips for name, ips in tables[server].items()}
        answers[fqdn] = list(table.get(fqdn.lower().rstrip("."), []))
    return answers, silent


def snapshot_from_world(world: dict[str, Any] | str | Path, *, gateway_id: str | None = None) -> Snapshot:
    if not isinstance(world, dict):
        world = load_world(world)
    bodies = {key(r["id"]): r for r in world["resources"]}
    gw_body = bodies[key(gateway_id)] if gateway_id else gateway_body(world)
    gateway = net.ApplicationGateway(gw_body)
    clock = datetime.fromisoformat(world["clock"].replace("Z", "+00:00"))
    snapshot = Snapshot(
        gateway_id=gateway.id,
        incident_time=clock,
        window_start=clock - timedelta(minutes=30),
        gateway=gateway,
    )
    for body in world["resources"]:
        kind = body["type"].lower().rsplit("/", 1)[-1]
        if kind == "networksecuritygroups":
            snapshot.nsgs[key(body["id"])] = net.NetworkSecurityGroup(body)
        elif kind == "routetables":
            snapshot.route_tables[key(body["id"])] = net.RouteTable(body)
        elif kind == "networkinterfaces":
            snapshot.nics[key(body["id"])] = net.NetworkInterface(body)
        elif kind == "virtualnetworks":
            vnet = net.VirtualNetwork(body)
            for subnet in vnet.subnets or []:
                snapshot.subnets[key(subnet.id)] = subnet
            if snapshot.gateway_subnet_id and key(parent_id(snapshot.gateway_subnet_id)) == key(vnet.id):
                snapshot.vnet = vnet
    if snapshot.gateway_subnet_id:
        snapshot.gateway_subnet = snapshot.subnets.get(key(snapshot.gateway_subnet_id))
    for peering in (snapshot.vnet.virtual_network_peerings or []) if snapshot.vnet else []:
        remote = bodies.get(
            key(peering.remote_virtual_network.id if peering.remote_virtual_network else None)
        )
        if remote is not None:  # the collector reads a peered VNet that holds an IP pool member
            snapshot.peered_vnets[key(remote["id"])] = net.VirtualNetwork(remote)
    health = _by_key(world.get("backendHealth"), gateway.id)
    if health is not None:
        snapshot.backend_health = net.ApplicationGatewayBackendHealth(health)
    else:
        snapshot.errors["backend_health"] = "derived by the simulator from `backends` (not in the world file)"
    for nic_id in snapshot.nics:
        routes = _by_key(world.get("effectiveRouteTables"), nic_id)
        if routes is not None:
            snapshot.effective_routes[nic_id] = [net.EffectiveRoute(r) for r in routes["value"]]
        groups = _by_key(world.get("effectiveNetworkSecurityGroups"), nic_id)
        if groups is not None:
            snapshot.effective_nsgs[nic_id] = [net.EffectiveNetworkSecurityGroup(g) for g in groups["value"]]
    metric_items = _by_key(world.get("metrics"), gateway.id)
    if metric_items is None:
        snapshot.errors["metrics"] = "the world has no metrics for the gateway (Azure Monitor answers 400)"
    for item in metric_items or []:
        metric = monitor.Metric.deserialize(item)
        snapshot.metrics[metric.name.value] = metric
    # Like the collector: custom DNS servers when the VNet has them, else Azure DNS if the world has it.
    servers = snapshot.custom_dns_servers() or (
        ["168.63.129.16"] if "168.63.129.16" in world.get("dns", {}) else []
    )
    if servers:
        fqdns = sorted({m.address for m in backend_members(gateway, snapshot.vnet) if m.is_fqdn})
        snapshot.dns_answers, silent = _dns_answers(world, servers, fqdns)
        if silent:
            snapshot.errors["dns_answers"] = "; ".join(f"{f}: no custom DNS server answered" for f in silent)
    return snapshot


def nsg_rule(
    world: dict[str, Any],
    nsg_name: str,
    name: str,
    *,
    priority: int,
    access: str,
    source: str = "*",
    destination: str = "*",
    ports: str | list[str] = "*",
    direction: str = "Inbound",
    protocol: str = "Tcp",
) -> dict[str, Any]:
    """Add a security rule (ARM JSON) to an NSG of the world and return it."""
    nsg = resource(world, nsg_name)
    properties: dict[str, Any] = {
        "protocol": protocol,
        "sourcePortRange": "*",
        "priority": priority,
        "direction": direction,
        "access": access,
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": destination,
    }
    if isinstance(ports, list):
        properties["destinationPortRanges"] = ports
    else:
        properties["destinationPortRange"] = ports
    rule = {"id": f"{nsg['id']}/securityRules/{name}", "name": name, "properties": properties}
    nsg["properties"].setdefault("securityRules", []).append(rule)
    return rule


def set_health(world: dict[str, Any], health: str, log: str) -> None:
    """Every server in the world's backend health reports `health` with probe log `log`."""
    for gateway_health in world["backendHealth"].values():
        for pool in gateway_health["backendAddressPools"]:
            for collection in pool["backendHttpSettingsCollection"]:
                for server in collection["servers"]:
                    server.update(health=health, healthProbeLog=log)


def gateway_part(world: dict[str, Any], collection: str, name: str) -> dict[str, Any]:
    """A child of the gateway body (`backendAddressPools`, `probes`, ...) by name, to edit in place."""
    return next(item for item in gateway_body(world)["properties"][collection] if item["name"] == name)


def scenario_dirs() -> list[Path]:
    return sorted(
        p for p in list(SCENARIOS.iterdir()) + list(WORLDS.iterdir()) if (p / "expected.json").exists()
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`scenario_dir`: every bundled scenario and test world that has an expected.json."""
    if "scenario_dir" in metafunc.fixturenames:
        dirs = scenario_dirs()
        metafunc.parametrize("scenario_dir", dirs, ids=[d.name for d in dirs])


@pytest.fixture
def kit() -> SimpleNamespace:
    """The world helpers above, for test modules (conftest is not importable under importlib mode)."""
    return SimpleNamespace(
        healthy_world=healthy_world,
        load_world=load_world,
        snapshot=snapshot_from_world,
        resource=resource,
        gateway_body=gateway_body,
        gateway_part=gateway_part,
        nsg_rule=nsg_rule,
        set_health=set_health,
    )
