"""Does a backend certificate cover the host name the gateway sends?

Follows RFC 6125 as TLS clients apply it: DNS subject alternative names, when present, are the
only names that count; otherwise the subject's common name. Comparison ignores case and a
trailing dot. A wildcard is allowed only as the whole leftmost label and stands for exactly one
label (`*.contoso.com` covers `a.contoso.com`, not `a.b.contoso.com` nor `contoso.com`); partial
wildcards such as `f*.contoso.com` cover nothing. An IP-address host is covered only by the
identical address.
"""

from __future__ import annotations

import ipaddress
import re

_CN = re.compile(r"(?:^|[,;/+])\s*CN\s*=\s*([^,;/+]+)", re.IGNORECASE)
_SAN_TYPE = re.compile(r"^\s*(?:DNS|IP(?: Address)?)\s*:\s*", re.IGNORECASE)


def common_names(subject: str | None) -> list[str]:
    """The CN values of a subject such as `CN=app.contoso.com, O=Contoso` (or `/O=.../CN=...`)."""
    return [value.strip() for value in _CN.findall(subject or "")]


def _normal(name: str) -> str:
    return _SAN_TYPE.sub("", name).strip().rstrip(".").lower()


def _as_ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _name_covers(pattern: str, host: str) -> bool:
    if "*" not in pattern:
        return pattern == host
    first, dot, rest = pattern.partition(".")
    if first != "*" or not dot or not rest or "*" in rest:
        return False
    host_first, host_dot, host_rest = host.partition(".")
    return bool(host_first) and bool(host_dot) and host_rest == rest


def _covers(pattern: str, host: str) -> bool:
    host_ip = _as_ip(host)
    if host_ip is not None:
        return _as_ip(pattern) == host_ip
    return _name_covers(pattern, host)


def hostname_matches(host: str, *, subject: str | None, sans: list[str]) -> bool:
    """Whether the certificate (subject, SAN list) covers `host`."""
    wanted = _normal(host or "")
    if not wanted:
        return False
    names = [_normal(san) for san in sans or [] if san and san.strip()]
    if not names:
        names = [_normal(cn) for cn in common_names(subject)]
    return any(name and _covers(name, wanted) for name in names)
