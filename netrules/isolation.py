"""Private (network-isolated) Application Gateway v2: how a tool tells one apart, and what counts
as an Internet destination for it (docs/APPGW_FACTS.md, "Private (network-isolated) Application
Gateway v2").

A v2 gateway deployed once the subscription registered `EnableApplicationGatewayNetworkIsolation`
is network-isolated, and Azure marks it with the tag `EnhancedNetworkControl` = `True`. The tag is
the one sign ARM shows, so it is read here once — for the checks (on the SDK model's `tags`) and
the simulator (on the ARM JSON's `tags`) alike — with its key and value compared case-insensitively.
Only the v2 family is isolated: callers combine this with their own SKU test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netrules.addresses import parse_ip

ISOLATION_TAG = "EnhancedNetworkControl"


def tagged_network_isolated(tags: Mapping[str, Any] | None) -> bool:
    """Whether the resource tags mark a network-isolated gateway (`EnhancedNetworkControl: True`,
    key and value in any case, surrounding blanks ignored)."""
    if not isinstance(tags, Mapping):
        return False  # absent, or not an object (a malformed body)
    for name, value in tags.items():
        if str(name).strip().lower() == ISOLATION_TAG.lower() and str(value).strip().lower() == "true":
            return True
    return False


def is_internet_address(address: str) -> bool:
    """Whether `address` is a literal public (globally routable) IP: reached over the Internet, not
    inside a VNet or on-premises. Names (FQDNs) and private, shared (100.64/10), link-local and
    reserved addresses are not."""
    ip = parse_ip(address)
    return ip is not None and ip.is_global
