"""Network facts the NSG and route checks share: the gateway subnet, its NSG, VNet prefixes,
port-range evaluation of an NSG, and the allow rule that would fix a block.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from core.arm_ids import name_of
from core.sdk_values import json_fields, json_properties
from diagnostics.checks.base import NotApplicable, collected, need, same
from diagnostics.snapshot import MissingData, Snapshot, ref_id
from model.plans import AllowRule, RuleMove
from netrules.nsg import Flow, RuleMatch, as_nsg_rules, evaluate_nsg

LOWEST_CUSTOM_PRIORITY = 4096
HIGHEST_CUSTOM_PRIORITY = 100


def vnet_prefixes(snapshot: Snapshot) -> list[str]:
    """What the `VirtualNetwork` tag covers for the gateway's VNet: its address space and its
    connected peerings' (a spoke's backends are "VirtualNetwork" to the hub's gateway)."""
    return snapshot.virtual_network_tag(snapshot.vnet)


def gateway_subnet(snapshot: Snapshot) -> Any:
    if snapshot.gateway_subnet_id is None:
        raise MissingData("gateway: no gateway IP configuration names a subnet")
    return need(snapshot, "gateway_subnet", "the gateway subnet")


def gateway_subnet_prefix(snapshot: Snapshot) -> str:
    """The gateway subnet's (first) address prefix: the source of everything the gateway sends."""
    fields = json_properties(gateway_subnet(snapshot))  # its VNet's JSON, or an SDK model
    single = fields.get("addressPrefix")
    prefixes = [single] if single else list(fields.get("addressPrefixes") or [])
    if not prefixes:
        raise MissingData("gateway_subnet: the gateway subnet reports no address prefix")
    return str(ipaddress.ip_network(prefixes[0], strict=False))


def nsg_or_missing(snapshot: Snapshot, nsg_id: str) -> Any:
    """The collected NSG, or MissingData naming it."""
    return collected(snapshot, "nsgs", snapshot.nsg(nsg_id), f"NSG {name_of(nsg_id)}")


def gateway_subnet_nsg(snapshot: Snapshot) -> Any:
    """The gateway subnet's NSG; NotApplicable when the subnet has none (nothing is filtered)."""
    nsg_id = ref_id(json_properties(gateway_subnet(snapshot)).get("networkSecurityGroup"))
    if nsg_id is None:
        raise NotApplicable("the gateway subnet has no NSG")
    return nsg_or_missing(snapshot, nsg_id)


@dataclass(frozen=True)
class BlockedRange:
    low: int
    high: int
    deciding: RuleMatch

    @property
    def ports(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


def blocked_ranges(nsg: Any, flow: Flow, low: int, high: int, *, vnet: list[str]) -> list[BlockedRange]:
    """The parts of ports low..high that `nsg` (NsgRules, or the NSG model) denies for `flow` (its
    port is ignored).

    A rule matches a port range piecewise: its verdict can only change where some rule's port range
    starts or ends, so evaluating one port per piece is exact.
    """
    nsg = as_nsg_rules(nsg)
    cuts = {low, high + 1}
    for rule in nsg.rules:
        for start, end in rule.destination_ports:
            cuts.update(p for p in (start, end + 1) if low < p <= high)
    edges = sorted(cuts)
    blocked: list[BlockedRange] = []
    for start, next_start in zip(edges, edges[1:], strict=False):
        match = evaluate_nsg(
            nsg, Flow(flow.direction, flow.source, flow.destination, start, flow.protocol), vnet_prefixes=vnet
        )
        if match.allows:
            continue
        if blocked and blocked[-1].deciding == match and blocked[-1].high == start - 1:
            blocked[-1] = BlockedRange(blocked[-1].low, next_start - 1, match)
        else:
            blocked.append(BlockedRange(start, next_start - 1, match))
    return blocked


def rule_summary(match: RuleMatch) -> dict[str, Any]:
    return {
        "name": match.rule_name,
        "id": match.rule_id,
        "priority": match.priority,
        "access": match.access,
        "default": match.is_default,
        "nsg": name_of(match.nsg_id) if match.nsg_id else None,
    }


def blamed_resource(match: RuleMatch, nsg_id: str) -> str:
    """A custom rule that denies is at fault; when a default rule decides, the NSG lacks an allow."""
    return match.rule_id if (match.rule_id and not match.is_default) else (match.nsg_id or nsg_id)


def _security_rules(nsg: Any) -> list[Any]:
    """The NSG's custom rules (an SDK model's, or plain JSON's as a list gave it), each by its wire
    fields."""
    rules = json_properties(nsg).get("securityRules")
    return [rule for rule in rules if json_fields(rule)] if isinstance(rules, list) else []


def _taken(nsg: Any, direction: str) -> set[int]:
    taken = set()
    for rule in _security_rules(nsg):
        fields = json_properties(rule)
        if same(fields.get("direction"), direction) and fields.get("priority"):
            taken.add(int(fields["priority"]))
    return taken


def free_priority(nsg: Any, direction: str, *, below: int) -> int | None:
    """The free priority closest below `below` (so it wins over that rule and disturbs least)."""
    taken = _taken(nsg, direction)
    for priority in range(min(below - 1, LOWEST_CUSTOM_PRIORITY), HIGHEST_CUSTOM_PRIORITY - 1, -1):
        if priority not in taken:
            return priority
    return None


def _free_name(nsg: Any, wanted: str) -> str:
    names = {str(json_fields(r).get("name") or "").lower() for r in _security_rules(nsg)}
    name, suffix = wanted, 2
    while name.lower() in names:
        name, suffix = f"{wanted}-{suffix}", suffix + 1
    return name


def propose_allow_rule(
    nsg: Any,
    *,
    name: str,
    direction: str,
    deciding: RuleMatch,
    sources: tuple[str, ...],
    destinations: tuple[str, ...],
    ports: tuple[str, ...],
) -> AllowRule | None:
    """An allow rule that takes precedence over the `deciding` deny, or None if none fits.

    It takes the free priority closest in front of the deny; when the deny already holds the first
    usable number, the deny moves one step back if that number is free.
    """
    rule_name = _free_name(nsg, name)
    priority = free_priority(nsg, direction, below=deciding.priority)
    nsg_id = json_fields(nsg).get("id")
    if not isinstance(nsg_id, str) or not nsg_id:
        return None  # nowhere to put it
    if priority is not None:
        return AllowRule(nsg_id, rule_name, priority, direction, sources, destinations, ports)
    behind = deciding.priority + 1
    if deciding.is_default or not deciding.rule_id or behind > LOWEST_CUSTOM_PRIORITY:
        return None
    if behind in _taken(nsg, direction):
        return None
    move = RuleMove(deciding.rule_id, deciding.rule_name, deciding.priority, behind)
    return AllowRule(nsg_id, rule_name, deciding.priority, direction, sources, destinations, ports, move=move)
