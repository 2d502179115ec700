"""Health probes: which probe Azure runs for backend settings, and whether a custom probe is valid.

Backend settings use the custom probe they reference (`probe.id`); without one, Azure runs the
default probe `<protocol>://<host>:<port>/` every 30 s with a 30 s timeout, unhealthy after 3
failures, healthy on 200-399. The host sent is 127.0.0.1 unless the settings name a host or take
it from the backend address. The probe-log helpers live in `netrules.probe_log` and are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from core.sdk_values import folded, json_fields, json_properties, wire
from netrules.probe_log import (
    KIND_LABELS,
    WORDINGS,
    ProbeLogKind,
    Wording,
    classify_probe_log,
    parse_status_mismatch,
    probe_log_message,
)

__all__ = [
    "DEFAULT_STATUS_CODES",
    "KIND_LABELS",
    "WORDINGS",
    "ProbeLogKind",
    "ProbeSpec",
    "Wording",
    "classify_probe_log",
    "effective_probe",
    "effective_probes",
    "health_state",
    "parse_status_mismatch",
    "probe_log_message",
    "probe_problems",
    "status_matches",
]

DEFAULT_STATUS_CODES = ("200-399",)
DEFAULT_INTERVAL = 30
DEFAULT_TIMEOUT = 30
DEFAULT_UNHEALTHY_THRESHOLD = 3
DEFAULT_HOST = "127.0.0.1"
_ADDRESS_PLACEHOLDER = "\x00backend address"  # no host name holds a NUL
_PROTOCOLS = {"http": "Http", "https": "Https", "tcp": "Tcp", "tls": "Tls"}
_DEFAULT_PORTS = {"Http": 80, "Https": 443}
_HEALTH_STATES = {
    "healthy": "healthy",
    "up": "healthy",
    "unhealthy": "unhealthy",
    "down": "unhealthy",
    "unknown": "unknown",
    "partial": "partial",
    "draining": "draining",
}


@dataclass(frozen=True)
class ProbeSpec:
    """The probe Azure runs for one backend server under one backend settings.

    `reference_broken` is set when the settings reference a probe the gateway does not have; Azure
    rejects such a configuration on write, and until then the spec describes the default probe.
    """

    protocol: str
    host: str
    path: str
    port: int | None
    timeout: int
    interval: int
    unhealthy_threshold: int
    status_codes: list[str] = field(default_factory=lambda: list(DEFAULT_STATUS_CODES))
    body: str | None = None
    is_default: bool = True
    probe_id: str | None = None
    reference_broken: bool = False

    @property
    def url(self) -> str:
        return f"{self.protocol.lower()}://{self.host}:{self.port}{self.path}"


def _protocol(value: Any) -> str:
    return _PROTOCOLS.get(folded(value), wire(value))


def _settings_host(settings: Mapping[str, Any], backend_address: str) -> str:
    """The host the settings send: their host name, else the backend address if picked, else 127.0.0.1."""
    if settings.get("hostName"):
        return str(settings["hostName"])
    if settings.get("pickHostNameFromBackendAddress"):
        return backend_address
    return DEFAULT_HOST


def _settings_port(settings: Mapping[str, Any], protocol: str) -> int | None:
    return settings.get("port") or _DEFAULT_PORTS.get(protocol)


def _default_spec(settings: Mapping[str, Any], backend_address: str) -> ProbeSpec:
    protocol = _protocol(settings.get("protocol")) or "Http"
    return ProbeSpec(
        protocol=protocol,
        host=_settings_host(settings, backend_address),
        path="/",
        port=_settings_port(settings, protocol),
        timeout=DEFAULT_TIMEOUT,
        interval=DEFAULT_INTERVAL,
        unhealthy_threshold=DEFAULT_UNHEALTHY_THRESHOLD,
    )


def _picks_host_from_settings(probe: Mapping[str, Any]) -> bool:
    """Whether a probe (its properties, by wire names) takes its host from the backend settings."""
    return bool(
        probe.get("pickHostNameFromBackendHttpSettings") or probe.get("pickHostNameFromBackendSettings")
    )


def _custom_spec(probe: Any, settings: Mapping[str, Any], backend_address: str) -> ProbeSpec:
    fields = json_properties(probe)
    protocol = _protocol(fields.get("protocol")) or _protocol(settings.get("protocol")) or "Http"
    if fields.get("host") and not _picks_host_from_settings(fields):
        host = str(fields["host"])
    else:
        host = _settings_host(settings, backend_address)
    match = json_fields(fields.get("match"))
    return ProbeSpec(
        protocol=protocol,
        host=host,
        path=fields.get("path") or "/",
        port=fields.get("port") or _settings_port(settings, protocol),
        timeout=fields.get("timeout") or DEFAULT_TIMEOUT,
        interval=fields.get("interval") or DEFAULT_INTERVAL,
        unhealthy_threshold=fields.get("unhealthyThreshold") or DEFAULT_UNHEALTHY_THRESHOLD,
        status_codes=list(match.get("statusCodes") or DEFAULT_STATUS_CODES),
        body=match.get("body") or None,
        is_default=False,
        probe_id=json_fields(probe).get("id"),
    )


def _find_probe(gateway: Any, probe_id: str) -> Any | None:
    wanted = probe_id.lower()
    probes = json_properties(gateway).get("probes") or []
    return next((p for p in probes if str(json_fields(p).get("id") or "").lower() == wanted), None)


def effective_probe(gateway: Any, settings: Any, backend_address: str) -> ProbeSpec:
    """The probe Azure runs for `backend_address` under `settings`, both read by their wire names: the
    gateway's and the settings' JSON as ARM sends it, or their SDK models (see `json_fields`)."""
    fields = json_properties(settings)
    reference = json_fields(fields.get("probe")).get("id")
    if not reference:
        return _default_spec(fields, backend_address)
    probe = _find_probe(gateway, str(reference))
    if probe is None:
        return replace(_default_spec(fields, backend_address), reference_broken=True)
    return _custom_spec(probe, fields, backend_address)


def effective_probes(gateway: Any, settings: Any) -> Callable[[str], ProbeSpec]:
    """`effective_probe` for any number of backend addresses under one `settings`: the settings and
    the probe are read once. Only the host can depend on the address (when it comes from it), so the
    spec is made once with a placeholder no host name can equal, and the address put in its place;
    a spec that does not depend on the address is the same object for every address (specs are
    read, never changed: a thousand servers' copies cost more than probing them)."""
    template = effective_probe(gateway, settings, _ADDRESS_PLACEHOLDER)
    if template.host != _ADDRESS_PLACEHOLDER:
        return lambda address: template
    return lambda address: replace(template, host=address, status_codes=list(template.status_codes))


def _outside(value: int | None, low: int, high: int) -> bool:
    return value is not None and not low <= value <= high


def probe_problems(probe: Any, settings_protocols: set[str]) -> list[str]:
    """Why a custom probe is invalid, one sentence each; the probe is read by its wire names (its ARM
    JSON, or its `models.ApplicationGatewayProbe`: see `json_fields`).

    `settings_protocols` are the protocols of the backend settings that use the probe. Fields the
    probe leaves unset are not judged, except the path, which every probe needs.
    """
    fields = json_properties(probe)
    path, interval, timeout = fields.get("path"), fields.get("interval"), fields.get("timeout")
    threshold = fields.get("unhealthyThreshold")
    problems = []
    if not (path or "").startswith("/"):
        problems.append(f"Probe path {path or ''!r} does not start with '/'.")
    if _outside(interval, 1, 86400):
        problems.append(f"Interval {interval} s is outside 1-86400 s.")
    if _outside(timeout, 1, 86400):
        problems.append(f"Timeout {timeout} s is outside 1-86400 s.")
    if _outside(threshold, 1, 20):
        problems.append(f"Unhealthy threshold {threshold} is outside 1-20.")
    if timeout is not None and interval is not None and timeout > interval:
        problems.append(f"Timeout {timeout} s is greater than the interval {interval} s.")
    if not fields.get("host") and not _picks_host_from_settings(fields):
        problems.append("No host is set and pickHostNameFromBackendHttpSettings is false.")
    protocol = _protocol(fields.get("protocol"))
    for other in sorted({_protocol(p) for p in settings_protocols}):
        if protocol and other and other.lower() != protocol.lower():
            problems.append(
                f"Probe protocol {protocol} differs from the {other} protocol of backend settings using it."
            )
    return problems


@lru_cache(maxsize=1024)
def _code_range(entry: str) -> tuple[int, int]:
    low_text, dash, high_text = entry.strip().partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if dash else low
    except ValueError:
        raise ValueError(f"invalid status code match {entry!r}") from None
    if not 100 <= low <= high <= 999:
        raise ValueError(f"invalid status code match {entry!r}")
    return low, high


def status_matches(code: int, status_codes: list[str]) -> bool:
    """Whether an HTTP status is among probe match codes like `["200-399", "404"]`."""
    return any(low <= int(code) <= high for low, high in map(_code_range, status_codes))


def health_state(value: Any) -> str:
    """`healthy` / `unhealthy` / `unknown` / `partial` / `draining` from either spelling Azure uses."""
    state = _HEALTH_STATES.get(folded(value))
    if state is None:
        raise ValueError(f"unknown backend health value {wire(value)!r}")
    return state
