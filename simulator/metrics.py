"""Azure Monitor metrics queries over a world's stored metric items.

The simulator keeps, per resource, metric items shaped like the ``value`` array of the
Azure Monitor metrics REST response. :func:`query_metrics` answers
``GET {resource}/providers/Microsoft.Insights/metrics`` the way Azure does: it selects
metrics by name, cuts the time span, evaluates the ``$filter`` on dimensions (the
dimensions it names are kept as series, all others are aggregated away), re-buckets to
the requested interval and keeps only the requested aggregations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from core.iso8601 import format_duration, format_time, parse_duration, parse_time

AGGREGATION_FIELDS = ("average", "count", "maximum", "minimum", "total")

# Primary aggregation of the Application Gateway metrics (what Azure returns when the
# request names none); metrics not listed fall back to the first field their data has.
PRIMARY_AGGREGATION = {
    "responsestatus": "total",
    "backendresponsestatus": "total",
    "failedrequests": "total",
    "totalrequests": "total",
    "throughput": "average",
    "healthyhostcount": "average",
    "unhealthyhostcount": "average",
    "backendconnecttime": "average",
    "backendfirstbyteresponsetime": "average",
    "backendlastbyteresponsetime": "average",
    "applicationgatewaytotaltime": "average",
}

# Every Application Gateway metric Azure defines (canonical name -> unit). One the world records no
# data for is answered with no time series, as Azure answers a metric with no traffic; only a
# name outside this list is an error.
APPLICATION_GATEWAY_METRICS = {
    "ResponseStatus": "Count",
    "BackendResponseStatus": "Count",
    "FailedRequests": "Count",
    "TotalRequests": "Count",
    "Throughput": "BytesPerSecond",
    "HealthyHostCount": "Count",
    "UnhealthyHostCount": "Count",
    "BackendConnectTime": "MilliSeconds",
    "BackendFirstByteResponseTime": "MilliSeconds",
    "BackendLastByteResponseTime": "MilliSeconds",
    "ApplicationGatewayTotalTime": "MilliSeconds",
}

DEFAULT_INTERVAL = "PT1M"


def parse_timespan(text: str) -> tuple[datetime, datetime]:
    """Parse a metrics ``timespan``: ``start/end``, ``start/duration`` or ``duration/end``."""
    pieces = text.split("/")
    if len(pieces) != 2 or not all(piece.strip() for piece in pieces):
        raise ValueError(f"Invalid timespan {text!r}: expected 'start/end' or 'start/duration'")
    first, second = (piece.strip() for piece in pieces)
    if first.upper().startswith("P"):
        end = parse_time(second)
        return end - parse_duration(first), end
    start = parse_time(first)
    end = start + parse_duration(second) if second.upper().startswith("P") else parse_time(second)
    if end < start:
        raise ValueError(f"Invalid timespan {text!r}: the end is before the start")
    return start, end


# --- the $filter grammar -------------------------------------------------------------
# expr   := term ("or" term)*
# term   := factor ("and" factor)*
# factor := "(" expr ")" | NAME ("eq" | "ne" | "sw") STRING
# STRING is single-quoted; a doubled quote inside stands for one quote. Keywords are
# case-insensitive. Value '*' with eq means "any value, split by this dimension".


@dataclass(frozen=True)
class Comparison:
    """``dimension op 'value'``."""

    dimension: str
    op: str
    value: str


@dataclass(frozen=True)
class BoolOp:
    """``and`` / ``or`` over two or more operands."""

    op: str
    operands: tuple[Comparison | BoolOp, ...]


FilterExpr = Comparison | BoolOp

_TOKEN = re.compile(r"\s*(?:(?P<lparen>\()|(?P<rparen>\))|'(?P<string>(?:[^']|'')*)'|(?P<word>[^\s()']+))")


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    stripped_end = len(text.rstrip())
    while position < stripped_end:
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"Invalid $filter {text!r}: unexpected text at position {position}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        tokens.append((kind, value.replace("''", "'") if kind == "string" else value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def error(self, what: str) -> ValueError:
        return ValueError(f"Invalid $filter {self.text!r}: {what}")

    def peek_word(self) -> str | None:
        if self.index < len(self.tokens) and self.tokens[self.index][0] == "word":
            return self.tokens[self.index][1].lower()
        return None

    def take(self, kind: str) -> str:
        if self.index >= len(self.tokens) or self.tokens[self.index][0] != kind:
            found = self.tokens[self.index][1] if self.index < len(self.tokens) else "end of filter"
            raise self.error(f"expected {kind}, found {found!r}")
        self.index += 1
        return self.tokens[self.index - 1][1]

    def parse(self) -> FilterExpr:
        expr = self.expr()
        if self.index != len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.index][1]!r}")
        return expr

    def expr(self) -> FilterExpr:
        operands = [self.term()]
        while self.peek_word() == "or":
            self.index += 1
            operands.append(self.term())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def term(self) -> FilterExpr:
        operands = [self.factor()]
        while self.peek_word() == "and":
            self.index += 1
            operands.append(self.factor())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def factor(self) -> FilterExpr:
        if self.index < len(self.tokens) and self.tokens[self.index][0] == "lparen":
            self.index += 1
            inner = self.expr()
            self.take("rparen")
            return inner
        name = self.take("word")
        if name.lower() in ("and", "or", "eq", "ne", "sw"):
            raise self.error(f"expected a dimension name, found {name!r}")
        op = self.take("word").lower()
        if op not in ("eq", "ne", "sw"):
            raise self.error(f"unknown operator {op!r} (use eq, ne or sw)")
        return Comparison(name, op, self.take("string"))


def parse_filter(text: str) -> FilterExpr:
    """Parse a metrics ``$filter`` over dimensions; raises ValueError on bad syntax."""
    if not text.strip():
        raise ValueError("Invalid $filter: it is empty")
    return _Parser(text).parse()


def filter_dimensions(expr: FilterExpr) -> list[str]:
    """The dimension names a filter mentions, first spelling kept, in order of appearance."""
    if isinstance(expr, Comparison):
        return [expr.dimension]
    names: list[str] = []
    for operand in expr.operands:
        for name in filter_dimensions(operand):
            if name.lower() not in (known.lower() for known in names):
                names.append(name)
    return names


def evaluate_filter(expr: FilterExpr, values: dict[str, str | None]) -> bool:
    """Whether a series with dimension ``values`` (keys lower-cased) passes the filter.

    Values compare case-insensitively. ``eq '*'`` accepts any value; a series without
    the dimension only passes ``eq '*'`` and ``ne``.
    """
    if isinstance(expr, BoolOp):
        results = (evaluate_filter(operand, values) for operand in expr.operands)
        return all(results) if expr.op == "and" else any(results)
    actual = values.get(expr.dimension.lower())
    wanted = expr.value.lower()
    if expr.op == "eq":
        return wanted == "*" or (actual is not None and actual.lower() == wanted)
    if expr.op == "ne":
        return actual is None or actual.lower() != wanted
    return actual is not None and actual.lower().startswith(wanted)


# --- aggregation ---------------------------------------------------------------------


def combine_points(points: Iterable[dict]) -> dict:
    """Combine data points of one time bucket (or of several series at one time).

    Totals and counts add up, maximum/minimum take the extreme, averages are weighted
    by ``count`` when every point has one, else plain means of the averages.
    """
    points = list(points)
    combined: dict = {}
    for field in ("total", "count"):
        present = [point[field] for point in points if point.get(field) is not None]
        if present:
            combined[field] = float(sum(present))
    for field, pick in (("maximum", max), ("minimum", min)):
        present = [point[field] for point in points if point.get(field) is not None]
        if present:
            combined[field] = float(pick(present))
    averaged = [point for point in points if point.get("average") is not None]
    if averaged:
        weights = [point.get("count") or 0.0 for point in averaged]
        if all(weights):
            total_weight = sum(weights)
            combined["average"] = (
                sum(p["average"] * w for p, w in zip(averaged, weights, strict=True)) / total_weight
            )
        else:
            combined["average"] = sum(point["average"] for point in averaged) / len(averaged)
    return combined


def _series_values(series: dict) -> dict[str, tuple[str, str | None]]:
    """Lower-cased dimension name -> (name as spelled in the data, value)."""
    values: dict[str, tuple[str, str | None]] = {}
    for item in series.get("metadatavalues") or []:
        name = (item.get("name") or {}).get("value") or ""
        values[name.lower()] = (name, item.get("value"))
    return values


def _grain(series_list: list[dict]) -> timedelta:
    stamps = sorted({parse_time(point["timeStamp"]) for series in series_list for point in series["data"]})
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False) if later > earlier]
    return min(gaps) if gaps else parse_duration(DEFAULT_INTERVAL)


def _bucket_start(stamp: datetime, size: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return epoch + ((stamp - epoch) // size) * size


def _rebucket(data: list[dict], size: timedelta | None, origin: datetime | None) -> list[dict]:
    """Group points into epoch-aligned buckets of ``size``, or all into one bucket at ``origin``."""
    buckets: dict[datetime, list[dict]] = {}
    for point in data:
        stamp = parse_time(point["timeStamp"])
        key = origin if origin is not None else _bucket_start(stamp, size or timedelta(minutes=1))
        buckets.setdefault(key, []).append(point)
    return [
        {"timeStamp": format_time(stamp), **combine_points(points)}
        for stamp, points in sorted(buckets.items())
    ]


def _aggregations_for(item: dict, aggregation: str | None) -> list[str]:
    if aggregation:
        fields = [part.strip().lower() for part in aggregation.split(",") if part.strip()]
        unknown = [field for field in fields if field not in AGGREGATION_FIELDS]
        if unknown:
            raise ValueError(
                f"Invalid aggregation {unknown[0]!r}: use Average, Count, Maximum, Minimum or Total"
            )
        return fields
    name = ((item.get("name") or {}).get("value") or "").lower()
    if name in PRIMARY_AGGREGATION:
        return [PRIMARY_AGGREGATION[name]]
    for series in item.get("timeseries") or []:
        for point in series.get("data") or []:
            for field in AGGREGATION_FIELDS:
                if point.get(field) is not None:
                    return [field]
    return ["average"]


def _query_item(
    item: dict,
    *,
    resource_id: str,
    window: tuple[datetime, datetime] | None,
    interval: timedelta | None,
    full_origin: datetime | None,
    expr: FilterExpr | None,
    aggregation: str | None,
) -> dict:
    fields = _aggregations_for(item, aggregation)
    split = filter_dimensions(expr) if expr is not None else []
    groups: dict[tuple, tuple[list[dict], dict[datetime, list[dict]]]] = {}
    for series in item.get("timeseries") or []:
        values = _series_values(series)
        if expr is not None and not evaluate_filter(expr, {k: v for k, (_, v) in values.items()}):
            continue
        key = tuple((values.get(name.lower()) or (name, None))[1] for name in split)
        metadata = [
            {"name": {"value": spelled, "localizedValue": spelled}, "value": value}
            for spelled, value in (values[name.lower()] for name in split if name.lower() in values)
        ]
        _, by_time = groups.setdefault(key, (metadata, {}))
        for point in series.get("data") or []:
            stamp = parse_time(point["timeStamp"])
            if window is not None and not (window[0] <= stamp < window[1]):
                continue
            by_time.setdefault(stamp, []).append(point)
    timeseries = []
    for metadata, by_time in groups.values():
        merged = [
            {"timeStamp": format_time(stamp), **combine_points(pts)} for stamp, pts in sorted(by_time.items())
        ]
        if split and not merged:
            continue  # as Azure: a dimension value without data in the time span is not listed
        rebucket = interval is not None or full_origin is not None
        data = _rebucket(merged, interval, full_origin) if rebucket else merged
        timeseries.append(
            {
                "metadatavalues": metadata,
                "data": [
                    {"timeStamp": point["timeStamp"], **{f: point[f] for f in fields if f in point}}
                    for point in data
                ],
            }
        )
    name = (item.get("name") or {}).get("value") or ""
    result = {
        "id": f"{resource_id}/providers/Microsoft.Insights/metrics/{name}",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": name, "localizedValue": (item.get("name") or {}).get("localizedValue") or name},
        "unit": item.get("unit", "Unspecified"),
        "timeseries": timeseries,
        "errorCode": "Success",
    }
    if item.get("displayDescription"):
        result["displayDescription"] = item["displayDescription"]
    return result


def _namespace(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    lowered = [part.lower() for part in parts]
    if "providers" not in lowered:
        return ""
    index = len(lowered) - 1 - lowered[::-1].index("providers")
    return "/".join(parts[index + 1 : index + 3])


def _select(items: list[dict], metricnames: str | None, namespace: str) -> list[dict]:
    by_name = {((item.get("name") or {}).get("value") or "").lower(): item for item in items}
    if not metricnames:
        return items[:1]
    selected = []
    for wanted in (part.strip() for part in metricnames.split(",")):
        if not wanted:
            continue
        if wanted.lower() not in by_name and namespace.lower() == "microsoft.network/applicationgateways":
            known = {name.lower(): name for name in APPLICATION_GATEWAY_METRICS}
            if wanted.lower() in known:
                name = known[wanted.lower()]
                unit = APPLICATION_GATEWAY_METRICS[name]
                by_name[wanted.lower()] = {
                    "name": {"value": name, "localizedValue": name},
                    "unit": unit,
                    "timeseries": [],
                }
        if wanted.lower() not in by_name:
            provider, _, kind = namespace.partition("/")
            valid = ", ".join((item.get("name") or {}).get("value", "") for item in items)
            raise ValueError(
                f"Failed to find metric configuration for provider: {provider}, resource Type: {kind}, "
                f"metric: {wanted}, Valid metrics: {valid}"
            )
        selected.append(by_name[wanted.lower()])
    return selected


def query_metrics(
    items: list[dict],
    *,
    resource_id: str,
    metricnames: str | None,
    timespan: str | None,
    interval: str | None,
    aggregation: str | None,
    filter: str | None,
    region: str | None = None,
) -> dict:
    """Answer a metrics query over ``items`` (the world's metric items of one resource).

    Raises ValueError (the server answers 400 ``BadRequest``) for an unknown metric
    name, a malformed timespan, interval, aggregation or ``$filter``. Without
    ``metricnames`` Azure returns the resource's default metric: here, the first item.
    """
    namespace = _namespace(resource_id)
    selected = _select(items, metricnames, namespace)
    window = parse_timespan(timespan) if timespan else None
    full = interval is not None and interval.strip().upper() == "FULL"
    requested = None if full or not interval else parse_duration(interval)
    if requested is not None and requested <= timedelta(0):
        raise ValueError(f"Invalid interval {interval!r}: it must be positive")
    expr = parse_filter(filter) if filter and filter.strip() else None
    all_series = [series for item in selected for series in item.get("timeseries") or []]
    grain = _grain(all_series)
    rebucket = requested if requested is not None and requested > grain else None
    stamps = [parse_time(point["timeStamp"]) for series in all_series for point in series.get("data") or []]
    if window is not None:
        stamps = [stamp for stamp in stamps if window[0] <= stamp < window[1]]
    full_origin = (window[0] if window is not None else min(stamps, default=None)) if full else None
    value = [
        _query_item(
            item,
            resource_id=resource_id,
            window=window,
            interval=rebucket,
            full_origin=full_origin,
            expr=expr,
            aggregation=aggregation,
        )
        for item in selected
    ]
    if window is not None:
        span = f"{format_time(window[0])}/{format_time(window[1])}"
    else:
        span = f"{format_time(min(stamps))}/{format_time(max(stamps) + grain)}" if stamps else ""
    response = {
        "cost": 0,
        "timespan": span,
        "interval": "FULL" if full else format_duration(requested or grain),
        "namespace": namespace,
        "value": value,
    }
    if region:
        response["resourceregion"] = region
    return response
