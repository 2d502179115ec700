"""The guard every NSG rule passes before it is written: a rule the bot adds may only open what the
finding proved blocked, from where the gateway sends it, and never more.

- the infrastructure-ports rule (`NSG_BLOCKS_INFRA_PORTS`): inbound, from service tag
  `GatewayManager` only, to exactly the SKU's range (65200-65535 on v2, 65503-65534 on v1);
- a backend rule (`NSG_BLOCKS_BACKEND`): from the gateway subnet's prefix(es) to exactly the blocked
  backend addresses (or the subnet holding them), on exactly the blocked port(s), in the direction
  that denies; never a source or destination of `*`, `Any`, `Internet`, `VirtualNetwork` or
  `0.0.0.0/0`, never a port range wider than what was blocked;
- priority 100-4096, a name starting with `appgw-doctor-`, access Allow, protocol Tcp.
`unsafe_reason` answers None for a safe rule, else the reason it is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from model.plans import AllowRule

RULE_PREFIX = "appgw-doctor-"
BROAD = frozenset({"*", "any", "internet", "virtualnetwork", "0.0.0.0/0", "::/0"})
INFRA_RANGES = {"v2": "65200-65535", "v1": "65503-65534"}
HIGHEST_PRIORITY, LOWEST_PRIORITY = 100, 4096


def _port_span(text: str) -> tuple[int, int] | None:
    text = text.strip()
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
        else:
            low = high = int(text)
    except ValueError:
        return None
    if not 0 <= low <= high <= 65535:
        return None
    return low, high


def _within(ports: Iterable[str], allowed: Iterable[str]) -> bool:
    spans = [_port_span(p) for p in allowed]
    for port in ports:
        span = _port_span(port)
        if span is None:
            return False
        if not any(a is not None and a[0] <= span[0] and span[1] <= a[1] for a in spans):
            return False
    return True


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _covers_only_blocked(destinations: Iterable[str], addresses: list[str], subnets: list[str]) -> bool:
    """Each destination is a blocked address, or a subnet (given) that holds a blocked address."""
    wanted = {a.lower() for a in addresses}
    subnet_set = {s.lower() for s in subnets}
    for destination in destinations:
        value = destination.strip().lower()
        if value in wanted or value.removesuffix("/32") in wanted:
            continue
        if value in subnet_set:
            network = _network(value)
            if network is not None and any(
                (ip := _address(a)) is not None and ip in network for a in addresses
            ):
                continue
        return False
    return True


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def unsafe_reason(
    rule: AllowRule, finding_code: str, evidence: dict[str, Any], *, backend_subnets: Iterable[str] = ()
) -> str | None:
    """None when `rule` may be written for this finding; else why not (one line)."""
    if not rule.name.lower().startswith(RULE_PREFIX):
        return f"the rule's name {rule.name!r} does not start with {RULE_PREFIX!r}"
    if not HIGHEST_PRIORITY <= rule.priority <= LOWEST_PRIORITY:
        return f"priority {rule.priority} is outside {HIGHEST_PRIORITY}-{LOWEST_PRIORITY}"
    if rule.protocol.lower() != "tcp":
        return f"protocol {rule.protocol} is not Tcp"
    if not rule.sources or not rule.destinations or not rule.ports:
        return "the rule names no source, destination or port"
    if finding_code == "NSG_BLOCKS_INFRA_PORTS":
        wanted = str(evidence.get("requiredPorts") or "")
        if wanted not in INFRA_RANGES.values():
            return f"the finding's infrastructure range {wanted!r} is not one Azure documents"
        if rule.direction != "Inbound":
            return "the infrastructure-ports rule must be inbound"
        if [s.lower() for s in rule.sources] != ["gatewaymanager"]:
            return (
                "the infrastructure-ports rule's source must be GatewayManager only, "
                f"not {', '.join(rule.sources)}"
            )
        if list(rule.ports) != [wanted]:
            return f"the infrastructure-ports rule must open exactly {wanted}, not {', '.join(rule.ports)}"
        return None
    if finding_code != "NSG_BLOCKS_BACKEND":
        return f"no NSG rule is added for finding {finding_code}"
    if rule.direction != evidence.get("direction"):
        return f"the rule is {rule.direction} but the blocking rule is {evidence.get('direction')}"
    broad = [v for v in (*rule.sources, *rule.destinations) if v.strip().lower() in BROAD]
    if broad:
        return f"the rule would open {', '.join(broad)}: a backend rule names exact prefixes and addresses"
    source = str(evidence.get("source") or "")
    allowed_sources = {s.strip().lower() for s in source.split(",") if s.strip()}
    if not allowed_sources or any(s.strip().lower() not in allowed_sources for s in rule.sources):
        return (
            f"the rule's source {', '.join(rule.sources)} is not the gateway subnet ({source or 'unknown'})"
        )
    blocked = [b for b in evidence.get("blocked") or [] if isinstance(b, dict)]
    addresses = [str(b.get("address")) for b in blocked if b.get("address")]
    ports = [str(b.get("port")) for b in blocked if b.get("port") is not None]
    if not _covers_only_blocked(rule.destinations, addresses, list(backend_subnets)):
        return (
            f"the rule's destination {', '.join(rule.destinations)} is not the blocked backend "
            f"{', '.join(addresses) or '(none)'}"
        )
    if not ports or not _within(rule.ports, ports):
        return (
            f"the rule's ports {', '.join(rule.ports)} are wider than the blocked "
            f"{', '.join(ports) or '(none)'}"
        )
    return None
