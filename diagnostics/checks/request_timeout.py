"""REQUEST_TIMEOUT_TOO_LOW: backends answer in 80% or more of the settings' request time-out.

`BackendLastByteResponseTime` (ms) is split by the `BackendHttpSetting` dimension, so each series
is compared with the time-out of the settings it names; a slow report endpoint does not blame the
web settings next to it. The collector asked Azure Monitor for the incident window only, so every
point counts. The series maximum is used where reported (a time-out is hit by the slowest
request), else the average.
"""

from __future__ import annotations

import math
from typing import Any

from core.sdk_values import json_fields, json_properties
from diagnostics.checks.base import Check, NotApplicable, collected, gateway_cli
from diagnostics.snapshot import Snapshot
from model.findings import Finding, Fix, Severity
from model.plans import RequestTimeoutRaise

METRIC = "BackendLastByteResponseTime"
SETTINGS_DIMENSION = "backendhttpsetting"
POOL_DIMENSION = "backendpool"
THRESHOLD = 0.8
MAX_TIMEOUT_SECONDS = 86400
HEADROOM = 1.5


def reaches_threshold(observed_ms: float, timeout_seconds: int) -> bool:
    """observed >= 80% of the time-out, in exact arithmetic (no float rounding at the boundary)."""
    return observed_ms * 5 >= timeout_seconds * 4000


def proposed_timeout(observed_ms: float, current_seconds: int) -> int:
    """1.5x the slowest response, rounded up to 5 s, above the current value, within Azure's limit."""
    wanted = math.ceil(observed_ms * HEADROOM / 1000 / 5) * 5
    return min(MAX_TIMEOUT_SECONDS, max(current_seconds + 1, wanted))


def _dimension(series: Any, name: str) -> str | None:
    for item in series.metadatavalues or []:
        if item.name is not None and (item.name.value or "").lower() == name:
            return item.value
    return None


def _series_peak(series: Any) -> tuple[float, str] | None:
    """(largest value, aggregation it came from) over the series, or None when it has no data."""
    maxima = [p.maximum for p in series.data or [] if p.maximum is not None]
    if maxima:
        return max(maxima), "maximum"
    averages = [p.average for p in series.data or [] if p.average is not None]
    return (max(averages), "average") if averages else None


def _peaks_by_settings(snapshot: Snapshot, metric: Any) -> dict[str, dict[str, Any]]:
    """Settings name (lower-case) -> {observed, aggregation, pools}."""
    settings_names = [
        str(json_fields(s).get("name") or "")
        for s in snapshot.gateway_items_wire("backend_http_settings_collection")
    ]
    peaks: dict[str, dict[str, Any]] = {}
    for series in metric.timeseries or []:
        name = _dimension(series, SETTINGS_DIMENSION)
        if name is None:
            if len(settings_names) != 1:
                continue  # a total over several settings cannot be attributed to one of them
            name = settings_names[0]
        peak = _series_peak(series)
        if peak is None:
            continue
        entry = peaks.setdefault(name.lower(), {"observed": peak[0], "aggregation": peak[1], "pools": []})
        if peak[0] > entry["observed"]:
            entry.update(observed=peak[0], aggregation=peak[1])
        pool = _dimension(series, POOL_DIMENSION)
        if pool and pool not in entry["pools"]:
            entry["pools"].append(pool)
    return peaks


def _fix(snapshot: Snapshot, settings_id: str, settings_name: str, timeout: int, proposed: int) -> Fix:
    if proposed <= timeout:
        return Fix(
            summary=f"Settings {settings_name} already use the longest request time-out Azure allows; "
            "the backend must answer faster."
        )
    return Fix(
        summary=f"Raise the request time-out of settings {settings_name} from {timeout} s to {proposed} s "
        "(and find out why the backend is this slow).",
        command=(
            f"az network application-gateway http-settings update {gateway_cli(snapshot)} "
            f"-n {settings_name} --timeout {proposed}"
        ),
        plan=RequestTimeoutRaise(settings_id, settings_name, timeout, proposed),
    )


def request_timeout_too_low(snapshot: Snapshot) -> list[Finding]:
    # One metrics query can fail alone (`errors["metrics/<name>"]`); name its reason, not just "missing".
    piece = f"metrics/{METRIC}" if f"metrics/{METRIC}" in snapshot.errors else "metrics"
    metric = collected(snapshot, piece, snapshot.metrics.get(METRIC), METRIC)
    peaks = _peaks_by_settings(snapshot, metric)
    if not peaks:
        # No data is not "fast enough": there was no traffic to measure (or it cannot be attributed).
        raise NotApplicable(f"no {METRIC} data attributable to a backend settings in the incident window")
    findings = []
    for wire_settings in snapshot.gateway_items_wire("backend_http_settings_collection"):
        peak = peaks.get(str(json_fields(wire_settings).get("name") or "").lower())
        timeout = int(json_properties(wire_settings).get("requestTimeout") or 20)
        if peak is None or not reaches_threshold(peak["observed"], timeout):
            continue
        settings: Any = snapshot.settings(json_fields(wire_settings).get("id"))  # reported: its model
        if settings is None:  # not an object the SDK could read as settings: reported as malformed
            continue
        observed = peak["observed"]
        proposed = proposed_timeout(observed, timeout)
        ratio = observed / (timeout * 1000)
        findings.append(
            Finding(
                code="REQUEST_TIMEOUT_TOO_LOW",
                severity=Severity.CRITICAL,
                title=f"Backends of settings {settings.name} take up to {observed / 1000:.1f} s, "
                f"{math.floor(ratio * 100)}% of its {timeout} s request time-out",
                resource=settings.id,
                evidence={
                    "settings": settings.name,
                    "metric": METRIC,
                    "aggregation": peak["aggregation"],
                    "observedMs": observed,
                    "requestTimeoutSeconds": timeout,
                    "ratio": round(ratio, 3),
                    "threshold": THRESHOLD,
                    "pools": peak["pools"],
                },
                fix=_fix(snapshot, settings.id, settings.name, timeout, proposed),
            )
        )
    return findings


CHECK = Check(name="request-timeout", codes=("REQUEST_TIMEOUT_TOO_LOW",), run=request_timeout_too_low)
