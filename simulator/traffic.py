"""Traffic metrics a gateway produces under its current configuration (after a write).

The world's ``metrics`` describe the incident as it was recorded. Once the gateway (or
what it depends on) is written to, the simulator can tell what traffic looks like from
then on with the same backend model that drives health (``docs/WORLD_FORMAT.md``):
requests go to the healthy members of each pool/settings pair a rule uses; a member
whose ``responseSeconds`` exceeds the settings' ``requestTimeout`` fails the request —
v1 answers 502, v2 retries once on another member and answers 504 if that fails too; a
pair with no healthy member answers 502. :func:`overlay_metrics` then replaces the
recorded data points from the write on with the synthesized ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from core.iso8601 import format_time, parse_time
from simulator.effective import Lookup, props
from simulator.health import HEALTHY, Estate, Probing, is_v1, pool_members, probed_pairs, resolve

DEFAULT_REQUEST_TIMEOUT = 20
MINUTE = timedelta(minutes=1)


@dataclass
class PairTraffic:
    """What one minute of requests through one pool/settings pair amounts to."""

    pool: str
    settings: str
    healthy: int = 0
    unhealthy: int = 0
    failed: float = 0.0
    gateway_5xx: float = 0.0  # answers the gateway generated itself (502/504)
    backend_status: dict[tuple[str, str], float] = field(default_factory=dict)  # (server, group) -> count
    latencies_ms: list[tuple[float, float]] = field(default_factory=list)  # (count, ms)


def _status_group(status: int) -> str:
    return f"{status // 100}xx"


def _pair_traffic(probing: Probing, pool: dict, settings: dict, requests: float) -> PairTraffic:
    gateway, site, estate = probing.gateway, probing.site, probing.estate
    servers = probing.pool(pool, settings)
    members = pool_members(pool, estate.lookup)
    traffic = PairTraffic(pool["name"], settings["name"])
    rotation = []
    for member, server in zip(members, servers, strict=True):
        if server["health"] != HEALTHY:
            traffic.unhealthy += 1
            continue
        traffic.healthy += 1
        ip = resolve(member.address, site.vnet, estate.backends, estate.dns) or member.address
        behaviour = estate.backends.behaviour(member.address, ip) or {}
        status = int((behaviour.get("paths") or {}).get("/", 200))
        rotation.append((member.address, float(behaviour.get("responseSeconds") or 0.0), status))
    if not rotation:
        traffic.failed = traffic.gateway_5xx = requests
        return traffic
    timeout = float(props(settings).get("requestTimeout") or DEFAULT_REQUEST_TIMEOUT)
    share = requests / len(rotation)
    for index, (address, seconds, status) in enumerate(rotation):
        if seconds <= timeout:
            _answered(traffic, address, status, share, seconds)
            continue
        traffic.latencies_ms.append((share, timeout * 1000))
        retry = rotation[(index + 1) % len(rotation)] if len(rotation) > 1 else None
        if is_v1(gateway) or retry is None or retry[1] > timeout:
            traffic.failed += share
            traffic.gateway_5xx += share
            if retry is not None and not is_v1(gateway):
                traffic.latencies_ms.append((share, timeout * 1000))
        else:
            _answered(traffic, retry[0], retry[2], share, retry[1])
    return traffic


def _answered(traffic: PairTraffic, address: str, status: int, count: float, seconds: float) -> None:
    key = (address, _status_group(status))
    traffic.backend_status[key] = traffic.backend_status.get(key, 0.0) + count
    traffic.latencies_ms.append((count, seconds * 1000))
    if status >= 500:
        traffic.failed += count


def _dimension(name: str, value: str) -> dict:
    return {"name": {"value": name, "localizedValue": name}, "value": value}


def _item(name: str, unit: str, series: list[tuple[list[dict], dict]], stamps: list[str]) -> dict:
    return {
        "id": f"metric/{name}",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": name, "localizedValue": name},
        "unit": unit,
        "timeseries": [
            {"metadatavalues": metadata, "data": [{"timeStamp": stamp, **values} for stamp in stamps]}
            for metadata, values in series
        ],
    }


def _minutes(start: datetime, end: datetime) -> list[str]:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    first = epoch + -((epoch - start) // MINUTE) * MINUTE  # start rounded up to a whole minute
    stamps = []
    while first < end:
        stamps.append(format_time(first))
        first += MINUTE
    return stamps


def synthesize_traffic_metrics(
    gateway: dict,
    lookup: Lookup,
    backends: dict,
    dns: dict,
    *,
    start: datetime,
    end: datetime,
    requests_per_minute: float,
    recorded: dict | None = None,
) -> list[dict]:
    """Per-minute metric items for ``[start, end)`` under the gateway's current configuration.

    Requests split evenly over the pairs the routing rules use and over each pair's
    healthy members (health as derived, with ``recorded`` the world's recorded backend
    health of the gateway; a member healthy only by its record answers 200 at once).
    Produces ResponseStatus, BackendResponseStatus, FailedRequests, HealthyHostCount,
    UnhealthyHostCount and BackendLastByteResponseTime with the dimensions Azure gives them.
    """
    pairs = probed_pairs(gateway)
    share = requests_per_minute / len(pairs) if pairs else 0.0
    traffic: list[PairTraffic] = []
    if pairs:
        probing = Probing(gateway, Estate(lookup, backends, dns), start, recorded)
        traffic = [_pair_traffic(probing, pool, settings, share) for pool, settings in pairs]
    stamps = _minutes(start, end)
    gateway_5xx = sum(t.gateway_5xx for t in traffic)
    by_group: dict[str, float] = {}
    for pair in traffic:
        for (_, group), count in pair.backend_status.items():
            by_group[group] = by_group.get(group, 0.0) + count
    by_group["5xx"] = by_group.get("5xx", 0.0) + gateway_5xx
    group = "HttpStatusGroup"
    response_status = [
        ([_dimension(group, g)], {"total": count}) for g, count in sorted(by_group.items()) if count
    ]
    backend_status = [
        (
            [_dimension("BackendServer", server), _dimension("BackendPool", t.pool),
             _dimension("BackendHttpSetting", t.settings), _dimension(group, g)],
            {"total": count},
        )
        for t in traffic
        for (server, g), count in sorted(t.backend_status.items())
    ]  # fmt: skip
    latency = []
    for t in traffic:
        weight = sum(count for count, _ in t.latencies_ms)
        if weight:
            average = sum(count * ms for count, ms in t.latencies_ms) / weight
            maximum = max(ms for _, ms in t.latencies_ms)
            metadata = [_dimension("BackendHttpSetting", t.settings), _dimension("BackendPool", t.pool)]
            latency.append((metadata, {"average": average, "maximum": maximum}))

    def per_pair(value) -> list[tuple[list[dict], dict]]:
        return [([_dimension("BackendSettingsPool", f"{t.pool}~{t.settings}")], value(t)) for t in traffic]

    return [
        _item("ResponseStatus", "Count", response_status, stamps),
        _item("BackendResponseStatus", "Count", backend_status, stamps),
        _item("FailedRequests", "Count", per_pair(lambda t: {"total": t.failed}), stamps),
        _item("HealthyHostCount", "Count", per_pair(lambda t: {"average": float(t.healthy)}), stamps),
        _item("UnhealthyHostCount", "Count", per_pair(lambda t: {"average": float(t.unhealthy)}), stamps),
        _item("BackendLastByteResponseTime", "MilliSeconds", latency, stamps),
    ]


def requests_per_minute(items: list[dict], before: datetime, default: float = 600.0) -> float:
    """The traffic level recorded in ResponseStatus in the last minute before ``before``."""
    totals: dict[datetime, float] = {}
    for item in items:
        if ((item.get("name") or {}).get("value") or "").lower() != "responsestatus":
            continue
        for series in item.get("timeseries") or []:
            for point in series.get("data") or []:
                stamp = parse_time(point["timeStamp"])
                if stamp < before and point.get("total") is not None:
                    totals[stamp] = totals.get(stamp, 0.0) + float(point["total"])
    return totals[max(totals)] if totals else default


def overlay_metrics(recorded: list[dict], synthesized: list[dict], since: datetime) -> list[dict]:
    """The recorded items with every data point at or after ``since`` replaced by synthesized ones.

    Metrics only recorded keep their points before ``since``; metrics only synthesized are
    added. Series are matched by their dimension values.
    """
    by_name = {((i.get("name") or {}).get("value") or "").lower(): i for i in synthesized}
    merged = []
    for item in recorded:
        name = ((item.get("name") or {}).get("value") or "").lower()
        kept = []
        for series in item.get("timeseries") or []:
            data = [p for p in series.get("data") or [] if parse_time(p["timeStamp"]) < since]
            kept.append({**series, "data": data})
        new = by_name.pop(name, None)
        for series in (new or {}).get("timeseries") or []:
            key = _series_key(series)
            match = next((s for s in kept if _series_key(s) == key), None)
            if match is None:
                kept.append(series)
            else:
                match["data"] = match["data"] + series["data"]
        merged.append({**item, "timeseries": kept})
    return merged + list(by_name.values())


def _series_key(series: dict) -> frozenset[tuple[str, str]]:
    return frozenset(
        (((m.get("name") or {}).get("value") or "").lower(), str(m.get("value")).lower())
        for m in series.get("metadatavalues") or []
    )
