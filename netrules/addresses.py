"""Address prefixes, service tags and port ranges as NSG rules use them.

A flow endpoint is an IP address, a CIDR (read as "every address in it") or a service tag
such as `GatewayManager`: the platform sources the gateway depends on are known only by tag,
so a flow can start at a tag. A rule prefix is `*`/`Any`, a CIDR, a single IP or a tag.

How a prefix covers an endpoint:
- `*` covers everything; a CIDR covers addresses inside it. A CIDR never covers a tag
  endpoint (we do not know the tag's addresses), except that `0.0.0.0/0` / `::/0` cover every
  address of their family, and a CIDR containing 168.63.129.16 covers the tag
  `AzureLoadBalancer` (the tag is that one address).
- `VirtualNetwork` covers addresses inside the VNet prefixes the caller passes, `AzureLoadBalancer`
  covers 168.63.129.16, `Internet` covers public addresses outside the VNet (168.63.129.16 is the
  host's virtual IP, not Internet) and the tag endpoints whose addresses are public Azure ranges
  (`GatewayManager`, `AzureCloud`, ...). `AzureCloud` (every Azure datacenter public address)
  covers the tags of Azure services inside it, `GatewayManager` among them — but not
  `AzureLoadBalancer`, the host's 168.63.129.16. Any tag covers an endpoint that is the same tag;
  a region suffix (`GatewayManager.WestEurope`) is ignored on both sides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

AZURE_LOAD_BALANCER_IP = ipaddress.ip_address("168.63.129.16")
ANY_PREFIXES = frozenset({"*", "any"})
ALL_PORTS = (0, 65535)

# Tags whose address ranges are public Azure addresses, hence inside `Internet`.
_PUBLIC_TAGS = frozenset(
    {
        "gatewaymanager",
        "azurecloud",
        "storage",
        "sql",
        "azuremonitor",
        "azureactivedirectory",
        "appservice",
        "azurefrontdoor",
        "azuretrafficmanager",
    }
)


# Service tags whose addresses all lie in `AzureCloud` (Azure's public datacenter ranges).
_AZURE_CLOUD_TAGS = frozenset({"gatewaymanager", "storage", "sql", "azuremonitor", "appservice"})


@dataclass(frozen=True)
class Endpoint:
    """One end of a flow: an address range (a single IP is a /32 or /128) or a service tag."""

    network: Network | None = None
    tag: str | None = None  # lower-case base name, region suffix removed


def tag_base(tag: str) -> str:
    """`GatewayManager.WestEurope` -> `gatewaymanager`: the region suffix does not change the tag."""
    return tag.strip().split(".", 1)[0].lower()


@lru_cache(maxsize=4096)
def parse_endpoint(text: str) -> Endpoint:
    """A flow endpoint from an IP, a CIDR or a service tag name."""
    value = (text or "").strip()
    if not value or value.lower() in ANY_PREFIXES:
        raise ValueError(f"flow endpoint must be an IP address, CIDR or service tag, got {text!r}")
    network = _as_network(value)
    if network is not None:
        return Endpoint(network=network)
    return Endpoint(tag=tag_base(value))


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=16384)
def parse_ip(text: str) -> Address | None:
    """An IP address from its text (surrounding blanks ignored); None when it is not one. Remembered
    for the last 16,384 texts: a large gateway's thousand servers are each looked up several times
    (their route, their subnet, their NSGs' rules)."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _as_network(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def parse_networks(prefixes: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single IPs) as networks; a one-line ValueError names the first bad one."""
    networks = []
    for prefix in prefixes:
        network = _as_network(str(prefix))
        if network is None:
            raise ValueError(f"not an IP prefix: {prefix!r}")
        networks.append(network)
    return tuple(networks)


def _within(inner: Network, outer: Network) -> bool:
    """`inner.subnet_of(outer)` for networks of the same version (False across versions), on their
    first and last addresses as integers, worked out once per network."""
    inner_version, inner_first, inner_last = _bounds(inner)
    outer_version, outer_first, outer_last = _bounds(outer)
    return inner_version == outer_version and outer_first <= inner_first and inner_last <= outer_last


@lru_cache(maxsize=8192)
def _bounds(network: Network) -> tuple[int, int, int]:
    return network.version, int(network.network_address), int(network.broadcast_address)


def _overlaps(a: Network, b: Network) -> bool:
    return a.version == b.version and a.overlaps(b)  # type: ignore[arg-type]


def _is_public(network: Network, vnet: tuple[Network, ...]) -> bool:
    first, last = network.network_address, network.broadcast_address
    if not (first.is_global and last.is_global):
        return False
    if network.version == 4 and AZURE_LOAD_BALANCER_IP in network:
        return False
    return not any(_overlaps(network, v) for v in vnet)


def prefix_covers(prefix: str, endpoint: Endpoint, vnet: tuple[Network, ...]) -> bool:
    """Whether one rule prefix (`*`, CIDR, IP or tag) covers the flow endpoint."""
    text = prefix.strip()
    if text.lower() in ANY_PREFIXES:
        return True
    network = _as_network(text)
    if network is not None:
        if endpoint.network is not None:
            return _within(endpoint.network, network)
        if network.prefixlen == 0:
            return True
        return (
            endpoint.tag == "azureloadbalancer" and network.version == 4 and AZURE_LOAD_BALANCER_IP in network
        )
    tag = tag_base(text)
    if endpoint.tag is not None:
        return (
            tag == endpoint.tag
            or (tag == "internet" and endpoint.tag in _PUBLIC_TAGS)
            or (tag == "azurecloud" and endpoint.tag in _AZURE_CLOUD_TAGS)
        )
    target = endpoint.network
    assert target is not None
    if tag == "virtualnetwork":
        return any(_within(target, v) for v in vnet)
    if tag == "azureloadbalancer":
        return target.num_addresses == 1 and target.network_address == AZURE_LOAD_BALANCER_IP
    if tag == "internet":
        return _is_public(target, vnet)
    return False  # a tag whose addresses we do not know covers no address


# (IP version, first address, last address) as integers: the addresses a rule side covers, as
# `address_ranges` lists them for a single-address endpoint.
AddressRange = tuple[int, int, int]
_EVERY_ADDRESS: tuple[AddressRange, ...] = ((4, 0, 2**32 - 1), (6, 0, 2**128 - 1))


@lru_cache(maxsize=16384)
def single_address(text: str) -> tuple[int, int] | None:
    """(IP version, the address as an integer) when the flow endpoint `text` is one address (an IP,
    or a /32 or /128), else None (a wider CIDR, or a tag)."""
    network = parse_endpoint(text).network
    if network is None or network.prefixlen != network.max_prefixlen:
        return None
    return network.version, int(network.network_address)


def address_ranges(prefixes: tuple[str, ...], vnet: tuple[Network, ...]) -> tuple[AddressRange, ...] | None:
    """The single addresses the rule prefixes cover, as `prefix_covers` judges them, as ranges:
    `*` every address, a CIDR or IP its own range, `VirtualNetwork` the VNet's prefixes,
    `AzureLoadBalancer` 168.63.129.16; any other tag covers no address. None when a prefix is
    `Internet`, whose addresses (public, outside the VNet) no short list of ranges describes: the
    caller then asks `prefix_covers`."""
    ranges: list[AddressRange] = []
    for prefix in prefixes:
        text = prefix.strip()
        if text.lower() in ANY_PREFIXES:
            ranges += _EVERY_ADDRESS
            continue
        network = _as_network(text)
        if network is not None:
            ranges.append(_bounds(network))
            continue
        tag = tag_base(text)
        if tag == "virtualnetwork":
            ranges += [_bounds(v) for v in vnet]
        elif tag == "azureloadbalancer":
            ranges.append((4, int(AZURE_LOAD_BALANCER_IP), int(AZURE_LOAD_BALANCER_IP)))
        elif tag == "internet":
            return None
    return tuple(ranges)


def networks_ranges(networks: tuple[Network, ...]) -> tuple[AddressRange, ...]:
    """The single addresses `networks_cover` finds covered by expanded CIDRs, as ranges."""
    return tuple(_bounds(n) for n in networks)


def in_ranges(address: tuple[int, int], ranges: tuple[AddressRange, ...]) -> bool:
    """Whether a `single_address` lies in one of `ranges`."""
    version, value = address
    for range_version, first, last in ranges:
        if range_version == version and first <= value <= last:
            return True
    return False


def networks_cover(networks: tuple[Network, ...], endpoint: Endpoint) -> bool:
    """Whether expanded CIDRs (from effective rules) cover an address endpoint."""
    return endpoint.network is not None and any(_within(endpoint.network, n) for n in networks)


@lru_cache(maxsize=4096)
def parse_port_range(text: str) -> tuple[int, int]:
    """`*` / `Any` -> (0, 65535); `80` -> (80, 80); `8000-9000` -> (8000, 9000)."""
    value = str(text).strip()
    if value.lower() in ANY_PREFIXES:
        return ALL_PORTS
    low_text, dash, high_text = value.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if dash else low
    except ValueError:
        raise ValueError(f"invalid port range {text!r}") from None
    if not 0 <= low <= high <= 65535:
        raise ValueError(f"invalid port range {text!r}")
    return (low, high)
