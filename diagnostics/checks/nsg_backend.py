"""NSG_BLOCKS_BACKEND: an NSG denies the gateway's connection to a backend server.

For every pool+settings pair that carries traffic, each server is checked on the settings' port
with the gateway subnet prefix as source: outbound through the gateway subnet's NSG, then inbound
through the backend's subnet NSG and NIC NSG — the NIC's effective rules when they were collected,
else the NSG models. FQDN members are checked at the addresses the VNet's DNS gave, when known.
One finding per deciding rule lists every server and port it blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from diagnostics.checks.base import Check, NotApplicable, collected
from diagnostics.checks.network import (
    blamed_resource,
    gateway_subnet,
    gateway_subnet_prefix,
    nsg_or_missing,
    propose_allow_rule,
    rule_summary,
    vnet_prefixes,
)
from diagnostics.findings import Finding, Fix, Severity
from diagnostics.snapshot import BackendMember, MissingData, Snapshot, key, name_of, subnet_containing
from netrules.nsg import Flow, PathVerdict, RuleMatch, evaluate_effective, evaluate_path


@dataclass(frozen=True)
class Target:
    """One server address and port the gateway connects to, and where it sits."""

    address: str
    port: int
    pool: str
    settings: str
    member: BackendMember


@dataclass(frozen=True)
class Blocked:
    target: Target
    direction: str
    deciding: RuleMatch


def _targets(snapshot: Snapshot, unchecked: list[str]) -> list[Target]:
    targets: list[Target] = []
    seen: set[tuple[str, int]] = set()
    answers = snapshot.dns_answers or {}
    for pair in snapshot.routing_pairs():
        settings = snapshot.settings(pair.settings_id)
        if settings is None or not settings.port:
            continue
        for member in snapshot.backend_members(pair.pool_id):
            if member.is_fqdn:
                addresses = answers.get(member.address) or answers.get(member.address.lower()) or []
                if not addresses:
                    unchecked.append(f"{member.address}: FQDN not resolved")
            elif not member.address:
                unchecked.append(f"{name_of(member.nic_id)}: NIC not collected")
                addresses = []
            else:
                addresses = [member.address]
            for address in addresses:
                if member.is_fqdn:  # the resolved address sits where the VNet's prefixes put it
                    member = replace(member, subnet_id=subnet_containing(snapshot.vnet, address))
                if (address, settings.port) not in seen:
                    seen.add((address, settings.port))
                    targets.append(
                        Target(
                            address, int(settings.port), name_of(pair.pool_id), settings.name or "", member
                        )
                    )
    return targets


def _subnet(snapshot: Snapshot, subnet_id: str | None) -> Any:
    if not subnet_id:
        return None
    subnet = snapshot.subnets.get(key(subnet_id))
    if subnet is None and snapshot.vnet is not None:
        subnet = next((s for s in snapshot.vnet.subnets or [] if key(s.id) == key(subnet_id)), None)
    return subnet


def _nic_for(snapshot: Snapshot, member: BackendMember, address: str) -> Any:
    """The member's NIC; for an IP member, the collected NIC holding that IP in the subnet it falls in."""
    if member.nic_id:
        return snapshot.nics.get(key(member.nic_id))
    if not member.subnet_id:
        return None
    for nic in snapshot.nics.values():
        for ipc in nic.ip_configurations or []:
            in_subnet = ipc.subnet is not None and key(ipc.subnet.id) == key(member.subnet_id)
            if in_subnet and ipc.private_ip_address == address:
                return nic
    return None


def _inbound_verdict(snapshot: Snapshot, target: Target, source: str, vnet: list[str]) -> PathVerdict | None:
    """The backend side's verdict; None when the backend sits outside the VNet (no NSG we can see)."""
    flow = Flow("Inbound", source, target.address, target.port)
    nic = _nic_for(snapshot, target.member, target.address)
    if nic is not None and key(nic.id) in snapshot.effective_nsgs:
        return evaluate_effective(snapshot.effective_nsgs[key(nic.id)], flow, vnet_prefixes=vnet)
    subnet_id = target.member.subnet_id
    if nic is not None and not subnet_id:
        subnet_id = next((ipc.subnet.id for ipc in nic.ip_configurations or [] if ipc.subnet), None)
    subnet = _subnet(snapshot, subnet_id)
    if subnet_id:
        collected(snapshot, "subnets", subnet, f"backend subnet {name_of(subnet_id)}")
    subnet_nsg = None
    if subnet is not None and subnet.network_security_group is not None:
        subnet_nsg = nsg_or_missing(snapshot, subnet.network_security_group.id)
    nic_nsg = None
    if nic is not None and nic.network_security_group is not None:
        nic_nsg = nsg_or_missing(snapshot, nic.network_security_group.id)
    if subnet is None and nic is None:
        return None
    return evaluate_path(flow, subnet_nsg=subnet_nsg, nic_nsg=nic_nsg, vnet_prefixes=vnet)


def _blocks(snapshot: Snapshot, targets: list[Target], unchecked: list[str]) -> list[Blocked]:
    subnet = gateway_subnet(snapshot)
    source = gateway_subnet_prefix(snapshot)
    vnet = vnet_prefixes(snapshot)
    gateway_nsg = None
    if subnet.network_security_group is not None:
        gateway_nsg = nsg_or_missing(snapshot, subnet.network_security_group.id)
    blocked: list[Blocked] = []
    for target in targets:
        outbound = evaluate_path(
            Flow("Outbound", source, target.address, target.port),
            subnet_nsg=gateway_nsg,
            nic_nsg=None,
            vnet_prefixes=vnet,
        )
        if not outbound.allowed and outbound.deciding is not None:
            blocked.append(Blocked(target, "Outbound", outbound.deciding))
            continue
        try:
            inbound = _inbound_verdict(snapshot, target, source, vnet)
        except MissingData as missing:
            unchecked.append(f"{target.address}:{target.port}: {missing}")
            continue
        if inbound is not None and not inbound.allowed and inbound.deciding is not None:
            blocked.append(Blocked(target, "Inbound", inbound.deciding))
    return blocked


def _finding(snapshot: Snapshot, group: list[Blocked], source: str, unchecked: list[str]) -> Finding:
    deciding, direction = group[0].deciding, group[0].direction
    nsg_id = deciding.nsg_id or ""
    addresses = tuple(dict.fromkeys(b.target.address for b in group))
    ports = tuple(dict.fromkeys(str(b.target.port) for b in group))
    where = "outbound from the gateway subnet" if direction == "Outbound" else "inbound at the backend"
    evidence: dict[str, Any] = {
        "nsg": nsg_id,
        "direction": direction,
        "source": source,
        "decidingRule": rule_summary(deciding),
        "blocked": [
            {
                "address": b.target.address,
                "port": b.target.port,
                "pool": b.target.pool,
                "settings": b.target.settings,
            }
            for b in group
        ],
    }
    if unchecked:
        evidence["notChecked"] = unchecked
    nsg = snapshot.nsg(nsg_id)
    rule = None
    if nsg is not None:
        rule = propose_allow_rule(
            nsg,
            name="AllowAppGatewayToBackend",
            direction=direction,
            deciding=deciding,
            sources=(source,),
            destinations=addresses,
            ports=ports,
        )
    summary = (
        f"Allow TCP {', '.join(ports)} from the gateway subnet {source} to {', '.join(addresses)} {where} on "
        f"NSG {name_of(nsg_id)}, ahead of rule {deciding.rule_name}."
    )
    if rule is not None:
        evidence["proposedRule"] = rule.to_evidence()
        fix = Fix(summary=summary, command=rule.command(), action="add-nsg-allow-rule")
    else:
        fix = Fix(summary=summary)
    return Finding(
        code="NSG_BLOCKS_BACKEND",
        severity=Severity.CRITICAL,
        title=f"NSG {name_of(nsg_id)} rule {deciding.rule_name} (priority {deciding.priority}) blocks the "
        f"gateway from backend {', '.join(addresses)} on port {', '.join(ports)} ({direction.lower()})",
        resource=blamed_resource(deciding, nsg_id),
        evidence=evidence,
        fix=fix,
    )


def nsg_blocks_backend(snapshot: Snapshot) -> list[Finding]:
    unchecked: list[str] = []
    targets = _targets(snapshot, unchecked)
    if not targets and not unchecked:
        raise NotApplicable("no backend server addresses to check")
    blocked = _blocks(snapshot, targets, unchecked)
    if not blocked:
        if unchecked:
            raise MissingData("could not check " + "; ".join(unchecked))
        return []
    groups: dict[tuple[str, str, str], list[Blocked]] = {}
    for item in blocked:
        rule_key = (key(item.deciding.nsg_id), item.deciding.rule_name.lower(), item.direction)
        groups.setdefault(rule_key, []).append(item)
    source = gateway_subnet_prefix(snapshot)
    return [_finding(snapshot, group, source, unchecked) for group in groups.values()]


CHECK = Check(name="nsg-backend", codes=("NSG_BLOCKS_BACKEND",), run=nsg_blocks_backend)
