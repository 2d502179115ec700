"""What the gateway subnet's NSG must let through for the gateway itself to work.

- NSG_BLOCKS_INFRA_PORTS: inbound TCP from `GatewayManager` to 65200-65535 (v2) / 65503-65534 (v1);
  without it backend health turns Unknown and the gateway cannot be managed.
- NSG_BLOCKS_LOAD_BALANCER: inbound from `AzureLoadBalancer`, judged on the same infrastructure
  ports (a deny of some unrelated port from `*` is not a block of the platform's probes).
- NSG_BLOCKS_INTERNET_OUTBOUND (v2): outbound to `Internet` on 443 and 80, which the v2 control
  plane and certificate revocation checks use (a deny of e.g. SMTP is not a problem).
Every verdict comes from netrules' first-match evaluation, so a deny shadowed by a
higher-precedence allow is not a block.

A private (network-isolated) v2 gateway (`Snapshot.is_network_isolated`) needs neither the
GatewayManager rule nor outbound Internet: those two checks are not applicable there (and so never
propose a GatewayManager rule); the AzureLoadBalancer allow it still needs.
"""

from __future__ import annotations

from typing import Any

from diagnostics.checks.base import Check, NotApplicable
from diagnostics.checks.network import (
    BlockedRange,
    blamed_resource,
    blocked_ranges,
    gateway_subnet_nsg,
    gateway_subnet_prefix,
    propose_allow_rule,
    rule_summary,
    vnet_prefixes,
)
from diagnostics.snapshot import Snapshot
from model.findings import Finding, Fix, Severity
from netrules.nsg import Flow

V2_INFRA_PORTS = (65200, 65535)
V1_INFRA_PORTS = (65503, 65534)
INTERNET_PORTS = (443, 80)


def infra_ports(snapshot: Snapshot) -> tuple[int, int]:
    return V2_INFRA_PORTS if snapshot.is_v2 else V1_INFRA_PORTS


def _blocked_evidence(nsg: Any, blocked: list[BlockedRange], flow: Flow, wanted: str) -> dict[str, Any]:
    return {
        "nsg": nsg.id,
        "direction": flow.direction,
        "source": flow.source,
        "destination": flow.destination,
        "protocol": flow.protocol,
        "requiredPorts": wanted,
        "blockedPorts": [b.ports for b in blocked],
        "decidingRules": [rule_summary(b.deciding) for b in blocked],
    }


def not_for_isolated(snapshot: Snapshot, what: str) -> None:
    """NotApplicable on a private (network-isolated) v2 gateway, which does not need `what`."""
    if snapshot.is_network_isolated:
        raise NotApplicable(f"a network-isolated (private) v2 gateway does not need {what}")


def nsg_blocks_infra_ports(snapshot: Snapshot) -> list[Finding]:
    not_for_isolated(snapshot, "inbound GatewayManager on the infrastructure ports")
    nsg = gateway_subnet_nsg(snapshot)
    low, high = infra_ports(snapshot)
    wanted = f"{low}-{high}"
    flow = Flow("Inbound", "GatewayManager", gateway_subnet_prefix(snapshot), low)
    blocked = blocked_ranges(snapshot.nsg_rules(nsg), flow, low, high, vnet=vnet_prefixes(snapshot))
    if not blocked:
        return []
    first = min(blocked, key=lambda b: b.deciding.priority).deciding
    sku = "v2" if snapshot.is_v2 else "v1"
    evidence = _blocked_evidence(nsg, blocked, flow, wanted)
    evidence["sku"] = sku
    rule = propose_allow_rule(
        nsg,
        name="AllowGatewayManagerInfra",
        direction="Inbound",
        deciding=first,
        sources=("GatewayManager",),
        destinations=("*",),
        ports=(wanted,),
    )
    summary = (
        f"Allow inbound TCP {wanted} from GatewayManager on NSG {nsg.name}, ahead of rule {first.rule_name}."
    )
    if rule is not None:
        fix = Fix(summary=summary, command=rule.command(), plan=rule)
    else:
        fix = Fix(
            summary=summary + f" No priority is free ahead of {first.rule_name}: change that rule instead."
        )
    deciding = "" if first.is_default else f" (rule {first.rule_name}, priority {first.priority})"
    return [
        Finding(
            code="NSG_BLOCKS_INFRA_PORTS",
            severity=Severity.CRITICAL,
            title=f"NSG {nsg.name} blocks GatewayManager on {', '.join(b.ports for b in blocked)} "
            f"({sku} infrastructure ports){deciding}",
            resource=blamed_resource(first, nsg.id),
            evidence=evidence,
            fix=fix,
        )
    ]


def nsg_blocks_load_balancer(snapshot: Snapshot) -> list[Finding]:
    nsg = gateway_subnet_nsg(snapshot)
    low, high = infra_ports(snapshot)
    flow = Flow("Inbound", "AzureLoadBalancer", gateway_subnet_prefix(snapshot), low)
    blocked = blocked_ranges(snapshot.nsg_rules(nsg), flow, low, high, vnet=vnet_prefixes(snapshot))
    if not blocked:
        return []
    first = min(blocked, key=lambda b: b.deciding.priority).deciding
    return [
        Finding(
            code="NSG_BLOCKS_LOAD_BALANCER",
            severity=Severity.CRITICAL,
            title=f"NSG {nsg.name} denies inbound from AzureLoadBalancer (rule {first.rule_name}, "
            f"priority {first.priority})",
            resource=blamed_resource(first, nsg.id),
            evidence=_blocked_evidence(nsg, blocked, flow, f"{low}-{high}"),
            fix=_allow_fix(
                nsg,
                first,
                f"Allow inbound from the AzureLoadBalancer service tag on NSG {nsg.name} with a priority "
                f"ahead of {first.rule_name}; Azure's health probes come from it.",
                name="AllowAzureLoadBalancerInbound",
                direction="Inbound",
                sources=("AzureLoadBalancer",),
                destinations=("*",),
                ports=(f"{low}-{high}",),
            ),
        )
    ]


def _allow_fix(nsg: Any, deciding: Any, summary: str, **rule: Any) -> Fix:
    """A person's fix with a ready `az` command for an allow rule ahead of `deciding` (no automatic
    action: FINDINGS.md names no safe fix for these codes)."""
    proposed = propose_allow_rule(nsg, deciding=deciding, **rule)
    return Fix(summary=summary, command=proposed.command() if proposed is not None else None)


def nsg_blocks_internet_outbound(snapshot: Snapshot) -> list[Finding]:
    if not snapshot.is_v2:
        raise NotApplicable("v1 gateways do not need outbound Internet")
    not_for_isolated(snapshot, "outbound Internet")
    nsg = gateway_subnet_nsg(snapshot)
    flow = Flow("Outbound", gateway_subnet_prefix(snapshot), "Internet", INTERNET_PORTS[0])
    vnet = vnet_prefixes(snapshot)
    rules = snapshot.nsg_rules(nsg)
    blocked = [b for port in INTERNET_PORTS for b in blocked_ranges(rules, flow, port, port, vnet=vnet)]
    if not blocked:
        return []
    first = min(blocked, key=lambda b: b.deciding.priority).deciding
    return [
        Finding(
            code="NSG_BLOCKS_INTERNET_OUTBOUND",
            severity=Severity.CRITICAL,
            title=f"NSG {nsg.name} denies outbound Internet on port(s) {', '.join(b.ports for b in blocked)} "
            f"(rule {first.rule_name}); a v2 gateway needs it",
            resource=blamed_resource(first, nsg.id),
            evidence=_blocked_evidence(nsg, blocked, flow, ", ".join(str(p) for p in INTERNET_PORTS)),
            fix=_allow_fix(
                nsg,
                first,
                f"Remove or narrow rule {first.rule_name} on NSG {nsg.name}, or allow outbound Internet "
                "ahead of it: a v2 gateway subnet must keep outbound Internet connectivity.",
                name="AllowInternetOutbound",
                direction="Outbound",
                sources=("*",),
                destinations=("Internet",),
                ports=tuple(str(port) for port in INTERNET_PORTS),
            ),
        )
    ]


INFRA_PORTS = Check(name="nsg-infra-ports", codes=("NSG_BLOCKS_INFRA_PORTS",), run=nsg_blocks_infra_ports)
LOAD_BALANCER = Check(
    name="nsg-load-balancer", codes=("NSG_BLOCKS_LOAD_BALANCER",), run=nsg_blocks_load_balancer
)
INTERNET_OUTBOUND = Check(
    name="nsg-internet-outbound", codes=("NSG_BLOCKS_INTERNET_OUTBOUND",), run=nsg_blocks_internet_outbound
)
