"""Network security group evaluation: would Azure allow this flow?

Azure evaluates the rules of one direction by ascending priority and the first rule that
matches decides; the six default rules (priorities 65000, 65001, 65500) sit below every
custom rule. Inbound traffic meets the subnet's NSG, then the NIC's; outbound the NIC's, then
the subnet's; the flow passes only if every NSG on the way allows it.

Rules come as ARM JSON (`SecurityRule` from an NSG, `EffectiveNetworkSecurityRule` from a NIC's
effective NSGs), as the SDK's models or as plain dicts (the simulator's), read by wire name through
`core.sdk_values.json_fields`, and are normalised into the immutable `Rule` first, so matching is
one code path; `NsgRules` holds one NSG's converted rules, so a caller evaluating many flows (a
diagnosis: every backend server) converts each NSG once. Flows carry no source port: the
client side of a TCP connection uses an ephemeral port chosen at connect time, so a rule's
source port ranges are treated as matching (the rules this bot reasons about all use `*` there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from core.sdk_values import folded, json_fields, json_properties, wire
from netrules.addresses import (
    AddressRange,
    Network,
    address_ranges,
    in_ranges,
    networks_cover,
    networks_ranges,
    parse_endpoint,
    parse_networks,
    parse_port_range,
    prefix_covers,
    single_address,
)

_DIRECTIONS = {"inbound": "Inbound", "outbound": "Outbound"}
_ACCESS = {"allow": "Allow", "deny": "Deny"}
_FLOW_PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah"}
_ANY_PROTOCOL = frozenset({"*", "any", "all"})
# the canonical spellings `Flow` takes as they are (plain strings only: an enum member is folded)
_CANONICAL_DIRECTIONS = frozenset(_DIRECTIONS.values())
_CANONICAL_PROTOCOLS = frozenset(_FLOW_PROTOCOLS.values())
_DEFAULT_RULES_TYPE = "Microsoft.Network/networkSecurityGroups/defaultSecurityRules"

# Azure's default rules: (name, direction, priority, access, source, destination, description).
_DEFAULT_RULES = (
    ("AllowVnetInBound", "Inbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow", "AzureLoadBalancer", "*",
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", "Inbound", 65500, "Deny", "*", "*", "Deny all inbound traffic"),
    ("AllowVnetOutBound", "Outbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", "Outbound", 65001, "Allow", "*", "Internet",
     "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", "Outbound", 65500, "Deny", "*", "*", "Deny all outbound traffic"),
)  # fmt: skip


@dataclass(frozen=True)
class Flow:
    """A connection attempt: direction relative to the NSG, endpoints, destination port, protocol.

    `source` / `destination` are an IP, a CIDR or a service tag (`GatewayManager`,
    `AzureLoadBalancer`, `Internet`, ...). `source_groups` / `destination_groups` are the ids of
    the application security groups the endpoint's NIC IP configuration belongs to (compared
    case-insensitively). Spellings are normalised (`inbound` -> `Inbound`, `TCP` -> `Tcp`); bad
    input raises a one-line ValueError.
    """

    direction: str
    source: str
    destination: str
    port: int
    protocol: str = "Tcp"
    source_groups: frozenset[str] = field(default_factory=lambda: _NO_GROUPS)
    destination_groups: frozenset[str] = field(default_factory=lambda: _NO_GROUPS)

    def __post_init__(self) -> None:
        # spellings already canonical (every flow a diagnosis makes) are taken as they are
        direction = _canonical(self.direction, _CANONICAL_DIRECTIONS, _DIRECTIONS)
        if direction is None:
            raise ValueError(f"flow direction must be Inbound or Outbound, got {self.direction!r}")
        protocol = _canonical(self.protocol, _CANONICAL_PROTOCOLS, _FLOW_PROTOCOLS)
        if protocol is None:
            raise ValueError(f"flow protocol must be one of Tcp, Udp, Icmp, Esp, Ah, got {self.protocol!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"flow port must be an integer 0-65535, got {self.port!r}")
        parse_endpoint(self.source)
        parse_endpoint(self.destination)
        # set only where the spelling changes (a diagnosis makes flows per server and port)
        if direction is not self.direction:
            object.__setattr__(self, "direction", direction)
        if protocol is not self.protocol:
            object.__setattr__(self, "protocol", protocol)
        if self.source_groups is not _NO_GROUPS:
            object.__setattr__(self, "source_groups", _group_ids(self.source_groups))
        if self.destination_groups is not _NO_GROUPS:
            object.__setattr__(self, "destination_groups", _group_ids(self.destination_groups))


def _canonical(value: Any, canonical: frozenset[str], by_folded: Mapping[str, str]) -> str | None:
    """`value`'s canonical spelling: a plain string already canonical as it is, else looked up folded."""
    if type(value) is str and value in canonical:
        return value
    return by_folded.get(folded(value))


def _group_ids(ids: Iterable[str]) -> frozenset[str]:
    if not ids:
        return _NO_GROUPS
    return frozenset(str(i).lower() for i in ids if i)


_NO_GROUPS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleMatch:
    """The rule that decided a flow in one NSG."""

    access: str  # "Allow" | "Deny"
    rule_name: str
    rule_id: str | None
    priority: int
    nsg_id: str | None
    is_default: bool

    @property
    def allows(self) -> bool:
        return self.access == "Allow"


# A candidate rule, the single addresses its destination covers (None: ask the rule), its match.
Decider = tuple["Rule", "tuple[AddressRange, ...] | None", RuleMatch]


@dataclass(frozen=True)
class PathVerdict:
    """The outcome over every NSG a flow crosses, in evaluation order.

    `deciding` is the first denying match, or the last allowing one when all allow; it is None
    only when no NSG is on the path (Azure then lets the traffic through).
    """

    allowed: bool
    deciding: RuleMatch | None
    matches: list[RuleMatch] = field(default_factory=list)


@dataclass(frozen=True)
class Rule:
    """One security rule, normalised from whichever SDK model it came from.

    A side written with application security groups (`*_groups`, lower-case ids) matches an
    endpoint whose flow names one of those groups; a side with neither prefixes nor groups, or
    empty port ranges, match nothing. `expanded_*` are the CIDRs Azure lists for
    tags in effective rules; when present they decide for address endpoints.
    """

    name: str
    rule_id: str | None
    priority: int
    access: str
    direction: str
    protocol: str  # lower-case wire value; "*" for any
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    destination_ports: tuple[tuple[int, int], ...]
    is_default: bool = False
    expanded_sources: tuple[Network, ...] = ()
    expanded_destinations: tuple[Network, ...] = ()
    source_groups: frozenset[str] = frozenset()
    destination_groups: frozenset[str] = frozenset()

    @classmethod
    def from_security_rule(cls, rule: Any, *, is_default: bool = False) -> Rule:
        """From an NSG's security rule (`securityRules` / `defaultSecurityRules`) as ARM JSON: a
        `models.SecurityRule` or the plain dict (see `json_fields`)."""
        fields = json_properties(rule)
        name = str(json_fields(rule).get("name") or "(unnamed)")
        return cls(
            name=name,
            rule_id=json_fields(rule).get("id"),
            **_what_it_matches(fields, name),
            is_default=is_default,
            source_groups=_group_ids(_ids(fields.get("sourceApplicationSecurityGroups"))),
            destination_groups=_group_ids(_ids(fields.get("destinationApplicationSecurityGroups"))),
        )

    @classmethod
    def from_effective_rule(cls, rule: Any, *, nsg_id: str | None) -> Rule:
        """From an effective security rule (`models.EffectiveNetworkSecurityRule` or its JSON), named
        `securityRules/X` or `defaultSecurityRules/X`."""
        fields = json_fields(rule)
        full_name = str(fields.get("name") or "(unnamed)")
        kind, slash, short = full_name.partition("/")
        if not slash:
            kind, short = "securityRules", full_name
        return cls(
            name=short,
            rule_id=f"{nsg_id}/{kind}/{short}" if nsg_id else None,
            **_what_it_matches(fields, full_name),
            is_default=kind.lower() == "defaultsecurityrules",
            expanded_sources=parse_networks(_texts(fields.get("expandedSourceAddressPrefix"))),
            expanded_destinations=parse_networks(_texts(fields.get("expandedDestinationAddressPrefix"))),
        )

    def matches(self, flow: Flow, vnet: tuple[Network, ...]) -> bool:
        """Whether this rule applies to the flow (direction, protocol, port, both endpoints)."""
        return self.matches_but_destination(flow, vnet) and self.covers_destination(flow, vnet)

    def matches_but_destination(self, flow: Flow, vnet: tuple[Network, ...]) -> bool:
        """Whether the flow's direction, protocol, port and source are this rule's."""
        if self.direction != flow.direction:
            return False
        if self.protocol != "*" and self.protocol != flow.protocol.lower():
            return False
        if not any(low <= flow.port <= high for low, high in self.destination_ports):
            return False
        return _side_covers(
            self.sources, self.expanded_sources, self.source_groups, flow.source, flow.source_groups, vnet
        )

    def covers_destination(self, flow: Flow, vnet: tuple[Network, ...]) -> bool:
        """Whether this rule's destination side covers the flow's destination."""
        return _side_covers(
            self.destinations,
            self.expanded_destinations,
            self.destination_groups,
            flow.destination,
            flow.destination_groups,
            vnet,
        )

    def destination_ranges(self, vnet: tuple[Network, ...]) -> tuple[AddressRange, ...] | None:
        """The single addresses this rule's destination side covers, as ranges (`covers_destination`
        for a flow to one address is whether the address lies in them); None when the side is
        written with application security groups or holds `Internet`: ask `covers_destination`."""
        if self.destination_groups and not self.destinations:
            return None
        if self.expanded_destinations:
            return networks_ranges(self.expanded_destinations)
        return address_ranges(self.destinations, vnet)


def _side_covers(
    prefixes: tuple[str, ...],
    expanded: tuple[Network, ...],
    groups: frozenset[str],
    endpoint_text: str,
    endpoint_groups: frozenset[str],
    vnet: tuple[Network, ...],
) -> bool:
    if groups and not prefixes:  # Azure takes either prefixes or application security groups per side
        return bool(groups & endpoint_groups)
    endpoint = parse_endpoint(endpoint_text)
    if expanded and endpoint.network is not None:
        return networks_cover(expanded, endpoint)
    return any(prefix_covers(prefix, endpoint, vnet) for prefix in prefixes)


def _what_it_matches(fields: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The `Rule` fields a security rule and an effective rule spell alike (their wire names)."""
    return {
        "priority": _priority(fields, name),
        "access": _access(fields, name),
        "direction": _direction(fields, name),
        "protocol": _protocol(fields, name),
        "sources": _prefixes(fields.get("sourceAddressPrefixes"), fields.get("sourceAddressPrefix")),
        "destinations": _prefixes(
            fields.get("destinationAddressPrefixes"), fields.get("destinationAddressPrefix")
        ),
        "destination_ports": _ports(
            fields.get("destinationPortRanges"), fields.get("destinationPortRange"), name
        ),
    }


def _priority(fields: Mapping[str, Any], name: str) -> int:
    priority = fields.get("priority")
    if priority is None:
        raise ValueError(f"security rule {name!r} has no priority")
    return int(priority)


def _access(fields: Mapping[str, Any], name: str) -> str:
    access = _ACCESS.get(folded(fields.get("access")))
    if access is None:
        raise ValueError(
            f"security rule {name!r} has access {wire(fields.get('access'))!r}, expected Allow or Deny"
        )
    return access


def _direction(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get("direction")
    direction = _DIRECTIONS.get(folded(value))
    if direction is None:
        raise ValueError(f"security rule {name!r} has direction {wire(value)!r}, expected Inbound/Outbound")
    return direction


def _protocol(fields: Mapping[str, Any], name: str) -> str:
    protocol = folded(fields.get("protocol")) or "*"
    if protocol in _ANY_PROTOCOL:
        return "*"
    if protocol not in _FLOW_PROTOCOLS:
        raise ValueError(f"security rule {name!r} has unknown protocol {wire(fields.get('protocol'))!r}")
    return protocol


def _prefixes(plural: list[str] | None, single: str | None) -> tuple[str, ...]:
    """Azure fills either the singular or the plural field; the plural one wins when non-empty."""
    if plural:
        return tuple(str(p) for p in plural)
    return (str(single),) if single else ()


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def _ids(references: Any) -> list[str]:
    """The ids of a list of sub-resource references ({"id": ...}) in ARM JSON."""
    return [str(json_fields(r).get("id") or "") for r in references or ()]


def _ports(plural: list[str] | None, single: str | None, name: str) -> tuple[tuple[int, int], ...]:
    try:
        return tuple(parse_port_range(text) for text in _prefixes(plural, single))
    except ValueError as error:
        raise ValueError(f"security rule {name!r}: {error}") from None


def _vnet_networks(vnet_prefixes: Iterable[Any]) -> tuple[Network, ...]:
    return _parsed_vnet(_vnet_key(vnet_prefixes))


@lru_cache(maxsize=256)
def _parsed_vnet(prefixes: tuple[str, ...]) -> tuple[Network, ...]:
    """A VNet's prefixes parsed once: every flow evaluated against the VNet reads them."""
    return parse_networks(prefixes)


def default_security_rules(nsg_id: str) -> list[dict[str, Any]]:
    """Azure's six default rules of an NSG, as the ARM REST API returns them."""
    return [
        {
            "id": f"{nsg_id}/defaultSecurityRules/{name}",
            "name": name,
            "type": _DEFAULT_RULES_TYPE,
            "properties": {
                "provisioningState": "Succeeded",
                "description": description,
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": source,
                "destinationAddressPrefix": destination,
                "access": access,
                "priority": priority,
                "direction": direction,
                "sourcePortRanges": [],
                "destinationPortRanges": [],
                "sourceAddressPrefixes": [],
                "destinationAddressPrefixes": [],
            },
        }
        for name, direction, priority, access, source, destination, description in _DEFAULT_RULES
    ]


@lru_cache(maxsize=1024)
def default_rules(nsg_id: str | None) -> tuple[Rule, ...]:
    """The six default rules as `Rule`s (ids under `nsg_id`), made once per NSG id (rules are frozen)."""
    return tuple(
        Rule(
            name=name,
            rule_id=f"{nsg_id}/defaultSecurityRules/{name}" if nsg_id else None,
            priority=priority,
            access=access,
            direction=direction,
            protocol="*",
            sources=(source,),
            destinations=(destination,),
            destination_ports=(parse_port_range("*"),),
            is_default=True,
        )
        for name, direction, priority, access, source, destination, _ in _DEFAULT_RULES
    )


@dataclass(frozen=True)
class NsgRules:
    """One NSG's rules as `Rule`s, with the NSG's id (which `RuleMatch` names): what evaluation reads.

    Made once from the NSG's JSON (`from_nsg`, `from_effective`) and evaluated any number of times:
    converting a rule costs far more than matching it. `attached_to` is where an effective group
    applies ("subnet", "nic", or None when its association names both or neither; always None for
    an NSG).
    """

    nsg_id: str | None
    rules: tuple[Rule, ...]
    attached_to: str | None = None
    # direction -> the rules of that direction by priority, sorted once (see `in_order`)
    _in_order: dict[str, tuple[Rule, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # what a flow is but its destination -> the rules that could decide such flows (see `candidates`)
    _candidates: dict[tuple[Any, ...], tuple[Rule, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # the same kind of flow -> each candidate with its destination ranges and its match (`deciders`)
    _deciders: dict[tuple[Any, ...], tuple[Decider, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def in_order(self, direction: str) -> tuple[Rule, ...]:
        """The rules of `direction`, lowest priority number first (as `first_match` tries them)."""
        ordered = self._in_order.get(direction)
        if ordered is None:
            ordered = self._in_order[direction] = _ordered(self.rules, direction)
        return ordered

    def candidates(
        self, flow: Flow, vnet: tuple[Network, ...], vnet_key: tuple[str, ...]
    ) -> tuple[Rule, ...]:
        """The rules, in the order they are tried (this NSG's, then Azure's defaults it lacks),
        whose direction, protocol, port and source take the flow: the first of them that also
        covers its destination decides it. Found once per kind of flow (all but the destination,
        and the `VirtualNetwork` tag's prefixes, `vnet_key`): a gateway's checks and probes send
        flows from a few sources on a few ports to many addresses."""
        kind = (flow.direction, flow.protocol, flow.port, flow.source, flow.source_groups, vnet_key)
        found = self._candidates.get(kind)
        if found is None:
            tried = (*self.in_order(flow.direction), *_defaults_in_order(self.nsg_id, flow.direction))
            found = self._candidates[kind] = tuple(r for r in tried if r.matches_but_destination(flow, vnet))
        return found

    def deciders(
        self, flow: Flow, vnet: tuple[Network, ...], vnet_key: tuple[str, ...]
    ) -> tuple[Decider, ...]:
        """`candidates`, each with its `Rule.destination_ranges` and the RuleMatch it decides with:
        made once per kind of flow, so a flow to one address is decided by comparing integers."""
        kind = (flow.direction, flow.protocol, flow.port, flow.source, flow.source_groups, vnet_key)
        found = self._deciders.get(kind)
        if found is None:
            found = self._deciders[kind] = tuple(
                (
                    rule,
                    rule.destination_ranges(vnet),
                    RuleMatch(
                        rule.access, rule.name, rule.rule_id, rule.priority, self.nsg_id, rule.is_default
                    ),
                )
                for rule in self.candidates(flow, vnet, vnet_key)
            )
        return found

    @classmethod
    def from_nsg(cls, nsg: Any) -> NsgRules:
        """An NSG as ARM JSON (`models.NetworkSecurityGroup` or the plain dict): its custom rules
        followed by its default rules (Azure's six when it lists none)."""
        fields = json_properties(nsg)
        nsg_id = json_fields(nsg).get("id")
        rules = [Rule.from_security_rule(r) for r in fields.get("securityRules") or []]
        if fields.get("defaultSecurityRules"):
            rules += [Rule.from_security_rule(r, is_default=True) for r in fields["defaultSecurityRules"]]
        else:
            rules += list(default_rules(nsg_id))
        return cls(nsg_id, tuple(rules))

    @classmethod
    def from_effective(cls, group: Any) -> NsgRules:
        """A NIC's effective NSG (`models.EffectiveNetworkSecurityGroup` or its JSON): its rules, and
        where it is associated."""
        fields = json_fields(group)
        nsg_id = json_fields(fields.get("networkSecurityGroup")).get("id")
        rules = tuple(
            Rule.from_effective_rule(r, nsg_id=nsg_id) for r in fields.get("effectiveSecurityRules") or []
        )
        association = json_fields(fields.get("association"))
        on_subnet = association.get("subnet") is not None
        on_nic = association.get("networkInterface") is not None
        attached_to = "subnet" if on_subnet and not on_nic else "nic" if on_nic and not on_subnet else None
        return cls(nsg_id, rules, attached_to)


def as_nsg_rules(nsg: Any) -> NsgRules:
    """`nsg` as NsgRules: as given when it already is, else converted from its `models.NetworkSecurityGroup`
    (for this one use: a caller evaluating an NSG repeatedly converts it once itself)."""
    return nsg if isinstance(nsg, NsgRules) else NsgRules.from_nsg(nsg)


def first_match(
    rules: Sequence[Rule], flow: Flow, *, vnet_prefixes: Iterable[Any], nsg_id: str | None = None
) -> RuleMatch | None:
    """The rule that decides the flow among `rules`: lowest priority number first, first match wins."""
    return _first_in_order(_ordered(rules, flow.direction), flow, _vnet_networks(vnet_prefixes), nsg_id)


def _ordered(rules: Iterable[Rule], direction: str) -> tuple[Rule, ...]:
    return tuple(sorted((r for r in rules if r.direction == direction), key=lambda r: r.priority))


def _first_in_order(
    ordered: Sequence[Rule], flow: Flow, vnet: tuple[Network, ...], nsg_id: str | None
) -> RuleMatch | None:
    for rule in ordered:
        if rule.matches(flow, vnet):
            return RuleMatch(rule.access, rule.name, rule.rule_id, rule.priority, nsg_id, rule.is_default)
    return None


@lru_cache(maxsize=2048)
def _defaults_in_order(nsg_id: str | None, direction: str) -> tuple[Rule, ...]:
    return _ordered(default_rules(nsg_id), direction)


def _vnet_key(vnet_prefixes: Iterable[Any]) -> tuple[str, ...]:
    """The `VirtualNetwork` tag's prefixes as texts: what flows are told apart by (`candidates`)."""
    return tuple(str(p) for p in vnet_prefixes or ())


def _decide(nsg: NsgRules, flow: Flow, vnet_key: tuple[str, ...]) -> RuleMatch:
    """First match; rule lists that lack Azure's defaults fall through to them (DenyAll always matches)."""
    vnet = _parsed_vnet(vnet_key)
    address = single_address(flow.destination)
    for rule, ranges, match in nsg.deciders(flow, vnet, vnet_key):
        if ranges is not None and address is not None:
            if in_ranges(address, ranges):
                return match
        elif rule.covers_destination(flow, vnet):
            return match
    raise AssertionError("DenyAllInBound / DenyAllOutBound match every flow")


def evaluate_nsg(nsg: Any, flow: Flow, *, vnet_prefixes: Iterable[Any]) -> RuleMatch:
    """The rule of `nsg` (NsgRules, or a `models.NetworkSecurityGroup`) that decides `flow`."""
    return _decide(as_nsg_rules(nsg), flow, _vnet_key(vnet_prefixes))


def _verdict(matches: list[RuleMatch]) -> PathVerdict:
    denied = next((m for m in matches if not m.allows), None)
    if denied is not None:
        return PathVerdict(allowed=False, deciding=denied, matches=matches)
    return PathVerdict(allowed=True, deciding=matches[-1] if matches else None, matches=matches)


def evaluate_path(flow: Flow, *, subnet_nsg: Any, nic_nsg: Any, vnet_prefixes: Iterable[Any]) -> PathVerdict:
    """Both NSGs a flow crosses at one end: subnet then NIC inbound, NIC then subnet outbound.

    Each NSG is NsgRules or a `models.NetworkSecurityGroup`; a missing NSG (None) allows. Every
    present NSG is evaluated, so `matches` also shows what the second NSG would do when the first
    already denies.
    """
    order = (subnet_nsg, nic_nsg) if flow.direction == "Inbound" else (nic_nsg, subnet_nsg)
    vnet_key = _vnet_key(vnet_prefixes)
    return _verdict([_decide(as_nsg_rules(nsg), flow, vnet_key) for nsg in order if nsg is not None])


# Where an effective group is attached -> its place on the path, per direction: inbound meets the
# subnet's NSG first, outbound the NIC's; a group attached to both or neither comes last.
_ASSOCIATION_RANKS = {"Inbound": {"subnet": 0, "nic": 1}, "Outbound": {"nic": 0, "subnet": 1}}


def _association_rank(group: NsgRules, direction: str) -> int:
    return _ASSOCIATION_RANKS[direction].get(group.attached_to or "", 2)


def evaluate_effective(groups: Sequence[Any], flow: Flow, *, vnet_prefixes: Iterable[Any]) -> PathVerdict:
    """A NIC's effective NSGs (NsgRules made `from_effective`, or the
    `models.EffectiveNetworkSecurityGroup`s themselves), ordered by association."""
    vnet_key = _vnet_key(vnet_prefixes)
    converted = [g if isinstance(g, NsgRules) else NsgRules.from_effective(g) for g in groups]
    ordered = sorted(converted, key=lambda g: _association_rank(g, flow.direction))
    return _verdict([_decide(group, flow, vnet_key) for group in ordered])
