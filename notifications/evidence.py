"""A finding's evidence as a few facts a person reads: `Rule: DenyAppGateway (priority 100)`, not JSON.

The checks record their evidence as data (docs/FINDINGS.md); the full data stays in the incident record
and the CLI's JSON report. A message shows at most `MAX_FACTS` short `label: value` facts: for each known
code, the ones an engineer looks at first (the server, the probe's message, the rule, the port, the
settings, what was observed against what limit); for any other code, or evidence in an unexpected shape,
the first items with readable labels and values. Values are plain text, never markup: each renderer
escapes them as it escapes any outside text (notifications.text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from core.arm_ids import name_of
from notifications.bounds import cut, listed

MAX_FACTS = 4
VALUE_MAX = 400  # characters of one fact's value (a probe log message whole); renderers may cut further
LISTED = 4  # items of a list named before "and N more"

Evidence = Mapping[str, Any]
Maker = Callable[[Evidence], str | None]


def evidence_facts(code: str, evidence: Evidence) -> tuple[tuple[str, str], ...]:
    """At most `MAX_FACTS` (label, value) facts for a finding's evidence."""
    if not isinstance(evidence, Mapping) or not evidence:
        return ()
    recipe = _RECIPES.get(code, ())
    facts = [(label, value) for label, maker in recipe if (value := _safe(maker, evidence))]
    if not facts:
        return _generic(evidence)
    return tuple((label, _cut(value)) for label, value in facts[:MAX_FACTS])


# --- reading the evidence ---------------------------------------------------------------------------


def _safe(maker: Maker, evidence: Evidence) -> str | None:
    """A fact, or None when the evidence does not have what it needs (or has it in another shape)."""
    try:
        return maker(evidence)
    except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _name(value: Any) -> str:
    """An ARM id as the name a person knows it by; other text as is."""
    text = _scalar(value)
    return name_of(text) if text.lower().startswith("/subscriptions/") else text


def _scalar(value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple)):
        return _readable(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    if value is None:
        return "none"
    return str(value)


def _listing(items: Iterable[Any], limit: int = LISTED) -> str:
    """`a, b, c and 2 more`: distinct items, in order."""
    texts = (
        _readable(item) if isinstance(item, (Mapping, list, tuple)) else _name(item)
        for item in items
        if item is not None
    )
    return listed(list(dict.fromkeys(text for text in texts if text)), limit)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in _as_list(value) if isinstance(item, Mapping)]


def _servers(evidence: Evidence) -> list[Any]:
    """Server entries (dicts with `address`, or plain addresses) wherever the evidence keeps them."""
    servers = _as_list(evidence.get("servers"))
    for pair in _dicts(evidence.get("pairs")):
        servers += _as_list(pair.get("servers"))
    return servers


def _field(evidence: Evidence, key: str, *holders: str) -> list[Any]:
    """`key` of the evidence itself, or of the dicts listed under `holders` (servers, pairs...)."""
    found = _as_list(evidence.get(key))
    for holder in holders:
        items = _servers(evidence) if holder == "servers" else evidence.get(holder)
        found += [item.get(key) for item in _dicts(items)]
    return found


def _addresses(evidence: Evidence) -> str | None:
    addresses = [s.get("address") if isinstance(s, Mapping) else s for s in _servers(evidence)]
    listed = _listing(addresses)
    if not listed:
        return None
    health = _listing(s.get("health") for s in _dicts(_servers(evidence)))
    return f"{listed} ({health})" if health else listed


def _probe_log(evidence: Evidence) -> str | None:
    """What the backend health probe said: the first distinct message, and how many others there are."""
    messages = _field(evidence, "healthProbeLog", "servers", "members")
    unique = list(dict.fromkeys(text for m in messages if m and (text := _scalar(m).strip())))
    if not unique:
        return None
    more = len(unique) - 1
    return unique[0] + (f" (+{more} other message{'s' if more > 1 else ''})" if more else "")


def _pools(evidence: Evidence) -> str | None:
    return _listing(_field(evidence, "pool", "pairs", "servers", "blocked", "backends")) or None


def _settings(evidence: Evidence) -> str | None:
    return _listing(_field(evidence, "settings", "pairs", "servers", "blocked")) or None


def _rule(evidence: Evidence) -> str | None:
    """`DenyGatewayManager (priority 100)`: the NSG rule that decides, as its name and priority."""
    rules = _as_list(evidence.get("decidingRule")) + _as_list(evidence.get("decidingRules"))
    if not rules and evidence.get("rule") is not None:
        rules = [{"name": evidence["rule"], "priority": evidence.get("priority")}]
    shown = []
    for rule in rules:
        if isinstance(rule, Mapping):
            priority = rule.get("priority")
            text = _name(rule.get("name") or rule.get("id") or "?")
            shown.append(f"{text} (priority {_scalar(priority)})" if priority is not None else text)
        else:
            shown.append(_name(rule))
    return _listing(shown) or None


def _traffic(evidence: Evidence) -> str | None:
    """`Inbound Tcp from GatewayManager to 10.1.0.0/24`."""
    direction, protocol = evidence.get("direction"), evidence.get("protocol")
    source, destination = evidence.get("source"), evidence.get("destination")
    if not (direction or source or destination):
        return None
    parts = [_scalar(part) for part in (direction, protocol) if part]
    if source:
        parts.append(f"from {_scalar(source)}")
    if destination:
        parts.append(f"to {_scalar(destination)}")
    return " ".join(parts)


def _ports(evidence: Evidence) -> str | None:
    """`65200-65535 blocked (needs 65200-65535)`."""
    blocked = _listing(_as_list(evidence.get("blockedPorts")) or _as_list(evidence.get("ports")))
    required = evidence.get("requiredPorts")
    if blocked and required:
        return f"{blocked} blocked (needs {_scalar(required)})"
    if blocked:
        return f"{blocked} blocked"
    return f"needs {_scalar(required)}" if required else None


def _blocked(evidence: Evidence) -> str | None:
    """`10.1.1.4:8080, 10.1.1.5:8080`: the backends the NSG keeps the gateway from."""
    targets = [
        f"{_scalar(b.get('address'))}:{_scalar(b.get('port'))}"
        if b.get("port") is not None
        else b.get("address")
        for b in _dicts(evidence.get("blocked"))
    ]
    return _listing(targets) or None


def _route(evidence: Evidence) -> str | None:
    route, prefix = evidence.get("route"), evidence.get("addressPrefix")
    if route and prefix:
        return f"{_name(route)} ({_scalar(prefix)})"
    return _scalar(route or prefix) if (route or prefix) else None


def _next_hop(evidence: Evidence) -> str | None:
    kind = evidence.get("nextHopType")
    if not kind:
        return None
    address = _listing(_as_list(evidence.get("nextHopIpAddress")))
    return f"{_scalar(kind)} {address}" if address else _scalar(kind)


def _observed(evidence: Evidence) -> str | None:
    """`25.1 s against the 20 s request time-out (126%)`: observed vs limit."""
    observed = evidence.get("observedMs")
    limit = evidence.get("requestTimeoutSeconds")
    if observed is None or limit is None:
        return None
    ratio = evidence.get("ratio")
    share = f" ({float(ratio):.0%})" if ratio is not None else ""
    return f"{float(observed) / 1000:.1f} s against the {_scalar(limit)} s request time-out{share}"


def _metric(evidence: Evidence) -> str | None:
    metric = evidence.get("metric")
    if not metric:
        return None
    aggregation = evidence.get("aggregation")
    threshold = evidence.get("threshold")
    text = f"{_scalar(metric)} ({_scalar(aggregation)})" if aggregation else _scalar(metric)
    return text + (f"; flagged from {float(threshold):.0%} of the time-out" if threshold is not None else "")


def _status(evidence: Evidence) -> str | None:
    expected, received = evidence.get("expected"), evidence.get("received")
    if expected is None and received is None:
        return None
    parts = []
    if received is not None:
        parts.append(f"received {_listing(_as_list(evidence.get('receivedCodes')) or [received])}")
    if expected is not None:
        parts.append(f"expected {_listing(_as_list(expected))}")
    return ", ".join(parts)


def _seconds(key: str) -> Maker:
    return lambda evidence: f"{_scalar(evidence[key])} s" if evidence.get(key) is not None else None


def _text(key: str, *holders: str) -> Maker:
    """The value(s) under `key` (of the evidence, or of its `holders`), listed."""
    return lambda evidence: _listing(_field(evidence, key, *holders)) or None


def _first(*makers: Maker) -> Maker:
    """The first of `makers` that the evidence has."""
    return lambda evidence: next((v for maker in makers if (v := _safe(maker, evidence))), None)


def _probe_target(evidence: Evidence) -> str | None:
    """`Http www.contoso.com/healthz`: what a custom probe asks for."""
    protocol, host, path = evidence.get("protocol"), evidence.get("host"), evidence.get("path")
    if not (host or path):
        return None
    target = (_scalar(host) if host else "") + (_scalar(path) if path else "")
    return f"{_scalar(protocol)} {target}" if protocol else target


def _members(evidence: Evidence) -> str | None:
    addresses, configurations = evidence.get("backendAddresses"), evidence.get("backendIPConfigurations")
    if addresses is None and configurations is None:
        return None
    return f"{_scalar(addresses or 0)} addresses, {_scalar(configurations or 0)} NIC IP configurations"


def _state(evidence: Evidence) -> str | None:
    state = evidence.get("operationalState")
    if not state:
        return None
    provisioning = evidence.get("provisioningState")
    return f"{_scalar(state)} (provisioning {_scalar(provisioning)})" if provisioning else _scalar(state)


def _dns_answer(evidence: Evidence) -> str | None:
    members = _dicts(evidence.get("members"))
    if not members or not any("customDnsAnswer" in m for m in members):
        return None
    answers = [a for m in members for a in _as_list(m.get("customDnsAnswer"))]
    return _listing(answers) or "no address"


_PROBE_LOG = ("Probe log", _probe_log)
_SERVERS = ("Servers", _addresses)
_POOL = ("Pool", _pools)
_SETTINGS = ("Settings", _settings)
_NSG = [("NSG", _text("nsg")), ("Rule", _rule), ("Traffic", _traffic), ("Ports", _ports)]
_TLS = [_SERVERS, _PROBE_LOG, ("Host", _text("hosts")), _SETTINGS]

# Per code, the facts in the order an engineer reads them; `evidence_facts` keeps the first MAX_FACTS
# that the evidence has.
_RECIPES: dict[str, list[tuple[str, Maker]]] = {
    "GATEWAY_NOT_RUNNING": [("State", _state)],
    "BACKEND_POOL_EMPTY": [_POOL, ("Routing rules", _text("rules")), ("Members", _members)],
    "BACKEND_POOL_NOT_PROVISIONED": [_POOL, ("State", _text("provisioningState"))],
    "ALL_BACKENDS_UNHEALTHY": [_POOL, _SETTINGS, _SERVERS, _PROBE_LOG],
    "BACKEND_HEALTH_UNKNOWN": [_POOL, ("Servers", _first(_text("unknownServers"), _addresses)), _PROBE_LOG],
    "NSG_BLOCKS_INFRA_PORTS": _NSG,
    "NSG_BLOCKS_LOAD_BALANCER": _NSG,
    "NSG_BLOCKS_INTERNET_OUTBOUND": _NSG,
    "NSG_BLOCKS_BACKEND": [
        ("NSG", _text("nsg")),
        ("Rule", _rule),
        ("Blocked", _blocked),
        ("Traffic", _traffic),
    ],
    "UDR_DEFAULT_ROUTE_NOT_INTERNET": [
        ("Route table", _text("routeTable")),
        ("Route", _route),
        ("Next hop", _next_hop),
        ("Public addresses routed", _text("publicAddressesRouted")),
    ],
    "UDR_DIVERTS_BACKEND_TRAFFIC": [
        ("Route table", _text("routeTable")),
        ("Route", _route),
        ("Next hop", _next_hop),
        ("Backends", _text("address", "backends")),
    ],
    "BGP_DEFAULT_ROUTE": [
        ("NIC", _text("nic")),
        ("Route", _route),
        ("Next hop", _next_hop),
        ("Learned from", _text("source")),
    ],
    "CUSTOM_DNS_CANNOT_RESOLVE": [
        ("Name", _text("fqdn", "members")),
        ("DNS servers", _text("dnsServers")),
        ("Answer", _dns_answer),
        _PROBE_LOG,
        _POOL,
    ],
    "CUSTOM_DNS_UNVERIFIED": [_POOL, ("Names", _text("fqdns")), ("DNS servers", _text("dnsServers"))],
    "DEFAULT_PROBE_FAILING": [
        _SETTINGS,
        ("Default probe", _text("defaultProbe")),
        _SERVERS,
        _PROBE_LOG,
        ("Detached probes", _text("detachedProbes")),
    ],
    "PROBE_DETACHED": [("Probe", _text("probe")), ("Probe request", _probe_target), _SETTINGS],
    "PROBE_REFERENCE_BROKEN": [
        _SETTINGS,
        ("Missing probe", _text("probeId")),
        ("Probes on the gateway", _text("probes")),
    ],
    "CUSTOM_PROBE_INVALID": [("Probe", _text("probe")), ("Problems", _text("problems")), _SETTINGS],
    "PROBE_STATUS_MISMATCH": [_SERVERS, ("Status", _status), _PROBE_LOG, _SETTINGS],
    "PROBE_BODY_MISMATCH": [_SERVERS, _PROBE_LOG, _SETTINGS, _POOL],
    "PROBE_TIMEOUT": [_SERVERS, ("Probe time-out", _seconds("probeTimeoutSeconds")), _PROBE_LOG, _SETTINGS],
    "BACKEND_CONNECT_FAILED": [_SERVERS, ("Port", _text("port")), _PROBE_LOG, _SETTINGS],
    "REQUEST_TIMEOUT_TOO_LOW": [
        _SETTINGS,
        ("Observed vs limit", _observed),
        ("Metric", _metric),
        _POOL,
    ],
    "TLS_HOSTNAME_MISMATCH": _TLS,
    "TLS_CERT_EXPIRED": _TLS,
    "TLS_CHAIN_INVALID": _TLS,
    "PRIVATE_GATEWAY_NO_INTERNET_EGRESS": [
        ("Internet backends", _first(_text("member", "backends"), _text("address", "backends"))),
        ("Subnet", _text("subnet")),
        ("Frontends", _text("frontendIPConfigurations")),
    ],
    # Seen in the probe log but not recognised: the probe's own words are the fact to read.
    "PROBE_LOG_UNRECOGNISED": [_SERVERS, _PROBE_LOG, _SETTINGS, _POOL],
}


# --- any other evidence -----------------------------------------------------------------------------

_WORDS = {
    "nsg": "NSG",
    "nsgs": "NSGs",
    "dns": "DNS",
    "ip": "IP",
    "ips": "IPs",
    "fqdn": "FQDN",
    "fqdns": "FQDNs",
    "nic": "NIC",
    "udr": "UDR",
    "tls": "TLS",
    "url": "URL",
    "id": "ID",
    "sku": "SKU",
    "ms": "ms",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _label(key: str, *, capital: bool = True) -> str:
    """`backendLastByteResponseTimeMs` -> `Backend last byte response time ms`; `dnsServers` -> `DNS
    servers`."""
    words = []
    for word in _CAMEL.sub(" ", key).replace("_", " ").split(" "):
        capitalised = word[:1].isupper() and word[1:] == word[1:].lower()
        words.append(_WORDS.get(word.lower(), word.lower() if capitalised else word))
    label = " ".join(words)
    return label[:1].upper() + label[1:] if capital else label


def _readable(value: Any) -> str:
    """Any JSON value as a line of text: lists listed, objects as `key value` pairs, no braces."""
    if isinstance(value, Mapping):
        pairs = (
            f"{_label(str(k), capital=False)} {_readable(v)}" for k, v in value.items() if v not in (None, "")
        )
        return ", ".join(pairs)
    if isinstance(value, (list, tuple)):
        if all(not isinstance(item, (Mapping, list, tuple)) for item in value):
            return _listing(value)
        return listed([_readable(item) for item in value], LISTED, separator="; ")
    return _name(value)


def _generic(evidence: Evidence) -> tuple[tuple[str, str], ...]:
    """The first items, readable; when there are more than MAX_FACTS, the last fact counts the rest."""
    items = [(str(key), value) for key, value in evidence.items() if value not in (None, "", [], {})]
    if len(items) <= MAX_FACTS:
        return tuple((_label(key), _cut(_readable(value))) for key, value in items)
    shown = items[: MAX_FACTS - 1]
    facts = [(_label(key), _cut(_readable(value))) for key, value in shown]
    facts.append(("…", f"{len(items) - len(shown)} more evidence items not shown"))
    return tuple(facts)


def _cut(text: str) -> str:
    return cut(text, VALUE_MAX)
