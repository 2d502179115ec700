"""NSG_BLOCKS_BACKEND: an NSG denies the gateway's connection to a backend server.

For every pool+settings pair that carries traffic, each server is checked on the settings' port
from every part of the gateway subnet (a deny for part of it blocks the instances there): outbound
through the gateway subnet's NSG, then inbound through the backend's subnet NSG and NIC NSG — the
NIC's effective rules when they were collected, else the NSG models (for an IP member, the NIC the
collector found holding the address; the models are what the effective rules are made of, so effective
NSGs that could not be read only leave a note). FQDN members are checked at the addresses the VNet's DNS gave,
when known. The `VirtualNetwork` tag includes connected peerings' address space.
Every NSG on the path that denies gets its own finding (fixing one would leave the others
blocking), listing every server and port its rule blocks, with an allow rule for that NSG.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any, cast

from core.arm_ids import name_of, parent_id
from core.sdk_values import json_fields, json_properties
from diagnostics.checks.base import Check, Findings, NotApplicable, collected, listed, missing_reason
from diagnostics.checks.network import (
    blamed_resource,
    gateway_subnet,
    gateway_subnet_prefix,
    propose_allow_rule,
    rule_summary,
    vnet_prefixes,
)
from diagnostics.snapshot import BackendMember, MissingData, Snapshot, key
from model.findings import Finding, Fix, Severity
from netrules.nsg import Flow, NsgRules, PathVerdict, RuleMatch, evaluate_effective, evaluate_path


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
    source: str  # the part of the gateway subnet the rule blocks


@dataclass(frozen=True)
class Unresolved:
    """An FQDN member on Azure-provided DNS whose address is unknown, and the port it is reached on."""

    fqdn: str
    port: int


def _targets(snapshot: Snapshot, unchecked: list[str], unresolved: list[Unresolved]) -> list[Target]:
    """Addresses and ports to check. An unresolved FQDN goes to `unresolved` when the VNet resolves
    through Azure DNS (typically a public endpoint such as App Service), else to `unchecked`."""
    targets: list[Target] = []
    seen: set[tuple[str, int]] = set()
    answers = snapshot.dns_answers or {}
    custom_dns = bool(snapshot.custom_dns_servers())
    for pair in snapshot.routing_pairs():
        settings = snapshot.settings_wire(pair.settings_id)  # read by wire names
        port = int(json_properties(settings).get("port") or 0)
        if settings is None or not port:
            continue
        settings_name = json_fields(settings).get("name") or ""
        for member in snapshot.backend_members(pair.pool_id):
            if member.is_fqdn:
                addresses = answers.get(member.address) or answers.get(member.address.lower()) or []
                if not addresses and custom_dns:
                    unchecked.append(f"{member.address}: FQDN not resolved")
                elif not addresses and Unresolved(member.address, port) not in unresolved:
                    unresolved.append(Unresolved(member.address, port))
            elif not member.address:
                unchecked.append(missing_reason(snapshot, "nics", member.nic_id, "NIC"))
                addresses = []
            else:
                addresses = [member.address]
            for address in addresses:
                if member.is_fqdn:  # the resolved address sits where the VNet's prefixes put it
                    member = replace(member, subnet_id=snapshot.subnet_containing(snapshot.vnet, address))
                if (address, port) not in seen:
                    seen.add((address, port))
                    targets.append(Target(address, port, name_of(pair.pool_id), settings_name, member))
    return targets


def _subnet(snapshot: Snapshot, subnet_id: str | None) -> Any:
    if not subnet_id:
        return None
    subnet = snapshot.subnets.get(key(subnet_id))
    return subnet if subnet is not None else snapshot.vnet_subnet(subnet_id)


def _nic_for(snapshot: Snapshot, member: BackendMember, address: str) -> Any:
    """The member's NIC; for an IP member, the collected NIC holding that IP in the subnet it falls in."""
    if member.nic_id:
        return snapshot.nics.get(key(member.nic_id))
    if not member.subnet_id:
        return None
    return snapshot.nic_holding(member.subnet_id, address)


def _security_groups(nic: Any, target: Target) -> frozenset[str]:
    """Ids of the application security groups of the NIC IP configuration that holds the target."""
    if nic is None:
        return frozenset()
    configs = [
        json_properties(ipc)
        for ipc in json_properties(nic).get("ipConfigurations") or []
        if (
            target.member.ip_configuration_id
            and key(json_fields(ipc).get("id")) == key(target.member.ip_configuration_id)
        )
        or json_properties(ipc).get("privateIPAddress") == target.address
    ]
    return frozenset(
        group_id
        for fields in configs
        for group in fields.get("applicationSecurityGroups") or []
        if (group_id := json_fields(group).get("id"))
    )


def _backend_vnet_tag(snapshot: Snapshot, subnet_id: str | None, gateway_tag: list[str]) -> list[str]:
    """The `VirtualNetwork` tag as the backend's NSGs see it: its own VNet's, when that is a peered
    VNet the snapshot holds (a spoke's tag covers the hub through the peering)."""
    vnet = snapshot.peered_vnets.get(key(parent_id(subnet_id))) if subnet_id else None
    return snapshot.virtual_network_tag(vnet) if vnet is not None else gateway_tag


def _inbound_verdict(snapshot: Snapshot, target: Target, source: str, vnet: list[str]) -> PathVerdict | None:
    """The backend side's verdict; None when the backend sits outside the VNet (no NSG we can see).

    MissingData when an NSG on the way could not be read, or when the NIC behind an IP member could
    not be identified and the subnet's NSG alone lets the traffic through (the NIC's may not).
    """
    nic = _nic_for(snapshot, target.member, target.address)
    flow = Flow(
        "Inbound", source, target.address, target.port, destination_groups=_security_groups(nic, target)
    )
    nic_id = cast(str, json_fields(nic).get("id"))
    effective = snapshot.effective_nsg_rules(nic_id) if nic is not None else None
    if effective is not None:
        return evaluate_effective(effective, flow, vnet_prefixes=vnet)
    subnet_id = target.member.subnet_id
    if nic is not None and not subnet_id:
        subnet_id = next(
            (
                json_fields(subnet).get("id")
                for ipc in json_properties(nic).get("ipConfigurations") or []
                if (subnet := json_properties(ipc).get("subnet"))
            ),
            None,
        )
    subnet = _subnet(snapshot, subnet_id)
    if subnet_id:
        collected(snapshot, "subnets", subnet, f"backend subnet {name_of(subnet_id)}")
    subnet_nsg = None
    if (
        subnet is not None
        and (subnet_nsg_ref := json_properties(subnet).get("networkSecurityGroup")) is not None
    ):
        subnet_nsg = _nsg_rules(snapshot, cast(str, json_fields(subnet_nsg_ref).get("id")))
    nic_nsg = None
    if nic is not None and (nic_nsg_ref := json_properties(nic).get("networkSecurityGroup")) is not None:
        nic_nsg = _nsg_rules(snapshot, cast(str, json_fields(nic_nsg_ref).get("id")))
    unidentified = snapshot.unidentified_nics.get(target.address) if nic is None else None
    if subnet is None and nic is None:
        if unidentified:  # e.g. in a peered VNet that could not be read: its NSGs are unknown
            raise MissingData(unidentified)
        return None
    tag = _backend_vnet_tag(snapshot, subnet_id, vnet)
    verdict = evaluate_path(flow, subnet_nsg=subnet_nsg, nic_nsg=nic_nsg, vnet_prefixes=tag)
    # Without the NIC, its own NSG is unknown (an allow may not stand) and so are its application
    # security groups (a deny may not stand when a rule for a group could let it through).
    if unidentified and (verdict.allowed or _names_destination_groups(subnet_nsg)):
        raise MissingData(unidentified)
    return verdict


def _nsg_rules(snapshot: Snapshot, nsg_id: str) -> NsgRules:
    """The collected NSG's rules (converted once per snapshot, from its wire JSON: a listed NSG is
    never made a model for this), or MissingData naming it."""
    found = snapshot.nsgs.get(key(nsg_id)) if nsg_id else None
    return snapshot.nsg_rules(collected(snapshot, "nsgs", found, f"NSG {name_of(nsg_id)}"))


def _gateway_nsg_rules(snapshot: Snapshot) -> NsgRules | None:
    """The gateway subnet's NSG rules; None when the subnet has no NSG."""
    reference = json_properties(gateway_subnet(snapshot)).get("networkSecurityGroup")
    if reference is None:
        return None
    return _nsg_rules(snapshot, cast(str, json_fields(reference).get("id")))


def _names_destination_groups(nsg: NsgRules | None) -> bool:
    return nsg is not None and any(rule.destination_groups for rule in nsg.rules)


def _rule_sources(snapshot: Snapshot) -> list[str]:
    """Every source prefix of every collected NSG rule and effective rule (expanded tags included)."""
    groups = [snapshot.nsg_rules(nsg) for nsg in snapshot.nsgs.values()]
    for nic_id in snapshot.effective_nsgs:
        groups += snapshot.effective_nsg_rules(nic_id) or []
    prefixes: list[str] = []
    for group in dict.fromkeys(groups):  # NICs of a group of equal answers share its rules
        for rule in group.rules:
            prefixes += rule.sources
            prefixes += [str(network) for network in rule.expanded_sources]
    return prefixes


def _gateway_sources(snapshot: Snapshot) -> list[str]:
    """The parts of the gateway subnet that every NSG rule treats alike (`source_pieces`)."""
    return source_pieces(gateway_subnet_prefix(snapshot), _rule_sources(snapshot))


def source_pieces(prefix: str, boundaries: list[str]) -> list[str]:
    """`prefix` cut into CIDRs that each lie wholly inside or wholly outside every CIDR of `boundaries`.

    A rule matches a source range only when it covers all of it, but the gateway's instances take
    addresses anywhere in its subnet: a deny for part of the subnet blocks the instances there. Every
    address of one piece meets the same rules, so evaluating the pieces evaluates every instance.
    Entries of `boundaries` that are not CIDRs or IPs (service tags, `*`) do not cut.
    """
    network = ipaddress.ip_network(prefix, strict=False)
    low, high = int(network.network_address), int(network.broadcast_address)
    cuts = {low, high + 1}
    for text in dict.fromkeys(boundaries):  # the same prefix in many rules cuts once
        try:
            other = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            continue
        if other.version != network.version:
            continue
        cuts.update(
            e for e in (int(other.network_address), int(other.broadcast_address) + 1) if low < e <= high
        )
    edges = sorted(cuts)
    make = ipaddress.IPv4Address if network.version == 4 else ipaddress.IPv6Address
    return [
        str(piece)
        for start, end in zip(edges, edges[1:], strict=False)
        for piece in ipaddress.summarize_address_range(make(start), make(end - 1))
    ]


def _path_denies(
    snapshot: Snapshot, target: Target, source: str, gateway_nsg: NsgRules | None, vnet: list[str]
) -> list[Blocked]:
    """Every NSG rule that denies `source` -> `target` on the way: the gateway subnet's outbound, then
    the backend subnet's and NIC's inbound. Fixing one of them leaves the others blocking, so each
    is reported. MissingData when the backend side could not be read and nothing else denies."""
    outbound = evaluate_path(
        Flow("Outbound", source, target.address, target.port),
        subnet_nsg=gateway_nsg,
        nic_nsg=None,
        vnet_prefixes=vnet,
    )
    denies = [Blocked(target, "Outbound", m, source) for m in outbound.matches if not m.allows]
    try:
        inbound = _inbound_verdict(snapshot, target, source, vnet)
    except MissingData:
        if not denies:
            raise
        return denies  # the outbound deny stands whatever the backend side does
    matches = inbound.matches if inbound is not None else []
    return denies + [Blocked(target, "Inbound", m, source) for m in matches if not m.allows]


def _block_of(
    snapshot: Snapshot, target: Target, sources: list[str], gateway_nsg: NsgRules | None, vnet: list[str]
) -> list[Blocked]:
    """The denying rules the parts of the gateway subnet meet on their way to `target`, each rule
    once, with the first part of the subnet it blocks."""
    found: dict[tuple[str, str, str], Blocked] = {}
    for source in sources:
        for block in _path_denies(snapshot, target, source, gateway_nsg, vnet):
            rule_key = (key(block.deciding.nsg_id), block.deciding.rule_name.lower(), block.direction)
            found.setdefault(rule_key, block)
    return list(found.values())


def _blocks(
    snapshot: Snapshot,
    targets: list[Target],
    sources: list[str],
    gateway_nsg: NsgRules | None,
    unchecked: list[str],
) -> list[Blocked]:
    vnet = vnet_prefixes(snapshot)
    blocked: list[Blocked] = []
    for target in targets:
        try:
            blocked += _block_of(snapshot, target, sources, gateway_nsg, vnet)
        except MissingData as missing:
            unchecked.append(f"{target.address}:{target.port}: {missing}")
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
                "from": b.source,
            }
            for b in group
        ],
    }
    if unchecked:
        evidence["notChecked"] = unchecked
    nsg = snapshot.nsgs.get(key(nsg_id))  # read by wire names: a listed NSG is not made a model
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
        fix = Fix(summary=summary, command=rule.command(), plan=rule)
    else:
        fix = Fix(summary=summary)
    return Finding(
        code="NSG_BLOCKS_BACKEND",
        severity=Severity.CRITICAL,
        title=f"NSG {name_of(nsg_id)} rule {deciding.rule_name} (priority {deciding.priority}) blocks the "
        f"gateway from backend {listed(addresses)} on port {', '.join(ports)} ({direction.lower()})",
        resource=blamed_resource(deciding, nsg_id),
        evidence=evidence,
        fix=fix,
    )


def _internet_notes(
    snapshot: Snapshot,
    unresolved: list[Unresolved],
    sources: list[str],
    gateway_nsg: NsgRules | None,
    unchecked: list[str],
) -> list[str]:
    """What is known of FQDNs Azure DNS did not resolve for us: a public endpoint is reached over the
    Internet, so the gateway subnet's outbound rules for Internet on the port are checked; an NSG at a
    private address the name may have (a private DNS zone) is not. Where those rules deny, whether
    the backend is blocked depends on the unknown address: that goes to `unchecked`."""
    if not unresolved:
        return []
    vnet = vnet_prefixes(snapshot)
    notes = []
    for item in unresolved:
        why = _why_unresolved(snapshot, item.fqdn)
        deny = next(
            (
                verdict.deciding
                for verdict in (
                    evaluate_path(
                        Flow("Outbound", source, "Internet", item.port),
                        subnet_nsg=gateway_nsg,
                        nic_nsg=None,
                        vnet_prefixes=vnet,
                    )
                    for source in sources
                )
                if not verdict.allowed and verdict.deciding is not None
            ),
            None,
        )
        if deny is not None:
            unchecked.append(
                f"{item.fqdn}:{item.port}: {why}, and the gateway subnet NSG denies outbound Internet on "
                f"{item.port} (rule {deny.rule_name}), which blocks it if it is a public endpoint"
            )
        else:
            notes.append(
                f"{item.fqdn}:{item.port}: {why}; the gateway subnet NSG allows outbound Internet on "
                f"{item.port}, so a public endpoint is reachable; NSGs at a private address of the name "
                "were not checked"
            )
    return notes


def _why_unresolved(snapshot: Snapshot, fqdn: str) -> str:
    answers = {name.lower(): ips for name, ips in (snapshot.dns_answers or {}).items()}
    if answers.get(fqdn.lower()) == []:
        return "Azure DNS has no address for it"
    if fqdn.lower() in snapshot.errors.get("dns_answers", "").lower():
        return "Azure DNS did not answer"
    return "not resolved (Azure DNS could not be asked from here)"


def nsg_blocks_backend(snapshot: Snapshot) -> list[Finding]:
    unchecked: list[str] = []
    unresolved: list[Unresolved] = []
    targets = _targets(snapshot, unchecked, unresolved)
    if not targets and not unchecked and not unresolved:
        raise NotApplicable("no backend server addresses to check")
    gateway_subnet(snapshot)  # without the gateway's VNet, neither side of the path is known
    sources = _gateway_sources(snapshot)
    gateway_nsg = _gateway_nsg_rules(snapshot)
    notes = _internet_notes(snapshot, unresolved, sources, gateway_nsg, unchecked)
    if "effective_nsgs" in snapshot.errors:
        notes.append(
            f"effective NSGs not read ({snapshot.errors['effective_nsgs']}): judged from the subnet and "
            "NIC NSGs"
        )
    blocked = _blocks(snapshot, targets, sources, gateway_nsg, unchecked)
    if not blocked:
        if unchecked:
            raise MissingData("could not check " + "; ".join(unchecked + notes))
        return Findings(note="; ".join(notes))
    groups: dict[tuple[str, str, str], list[Blocked]] = {}
    for item in blocked:
        rule_key = (key(item.deciding.nsg_id), item.deciding.rule_name.lower(), item.direction)
        groups.setdefault(rule_key, []).append(item)
    source = gateway_subnet_prefix(snapshot)
    findings = [_finding(snapshot, group, source, unchecked) for group in groups.values()]
    return Findings(findings, note="; ".join(notes))


CHECK = Check(name="nsg-backend", codes=("NSG_BLOCKS_BACKEND",), run=nsg_blocks_backend)
