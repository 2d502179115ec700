"""What the health-probe log says went wrong, per server (netrules.probes.classify_probe_log).

PROBE_STATUS_MISMATCH, PROBE_BODY_MISMATCH and PROBE_TIMEOUT blame the probe in effect (the custom
probe, or the settings when they use the default probe); BACKEND_CONNECT_FAILED, TLS_CERT_EXPIRED
and TLS_CHAIN_INVALID blame the settings (port / TLS to the backend). One finding per code and
resource lists every server. CN/SAN mismatch is `tls.py`'s, DNS failure `dns.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.arm_ids import name_of
from core.sdk_values import json_fields, json_properties
from diagnostics.checks.backend_health import servers_by_pair
from diagnostics.checks.base import Check, NotApplicable, listed
from diagnostics.snapshot import Snapshot, key
from model.findings import Finding, Fix, Severity
from netrules.probes import KIND_LABELS, ProbeLogKind, classify_probe_log, parse_status_mismatch

DEFAULT_PROBE_TIMEOUT = 30
MESSAGE_LIMIT = 1000  # characters of an unrecognised message quoted in evidence
TITLE_QUOTE_LIMIT = 120
# Kinds no check turns into a root cause: an Unhealthy server with one of these is unexplained.
UNDIAGNOSED = frozenset({ProbeLogKind.OTHER, ProbeLogKind.PROXY_PROTOCOL})


@dataclass(frozen=True)
class LogCode:
    code: str
    severity: Severity
    blames_probe: bool
    what: str  # "{subject}" is the probe or settings phrase, "{servers}" the addresses
    fix: str


LOG_CODES: dict[ProbeLogKind, LogCode] = {
    ProbeLogKind.STATUS_MISMATCH: LogCode(
        "PROBE_STATUS_MISMATCH",
        Severity.CRITICAL,
        True,
        "{subject} gets status {received} from {servers}, expected {expected}",
        "Point the probe at a path (and host) the backend answers with an expected status, or widen the "
        "probe's match status codes.",
    ),
    ProbeLogKind.BODY_MISMATCH: LogCode(
        "PROBE_BODY_MISMATCH",
        Severity.WARNING,
        True,
        "{subject}: response body from {servers} does not contain the expected text",
        "Fix the probe's match body, or make the health endpoint return it.",
    ),
    ProbeLogKind.PROBE_TIMEOUT: LogCode(
        "PROBE_TIMEOUT",
        Severity.CRITICAL,
        True,
        "{subject} times out (>{timeout} s) on {servers}",
        "Make the health endpoint answer within the probe time-out (or probe a cheaper path); raise the "
        "probe time-out only if the backend is known to be slow.",
    ),
    ProbeLogKind.CONNECT: LogCode(
        "BACKEND_CONNECT_FAILED",
        Severity.CRITICAL,
        False,
        "Gateway cannot connect to {servers} on port {port} ({subject})",
        "Check that the backend listens on the port and that no NSG, UDR or firewall blocks the gateway "
        "subnet from reaching it.",
    ),
    ProbeLogKind.CERT_EXPIRED: LogCode(
        "TLS_CERT_EXPIRED",
        Severity.CRITICAL,
        False,
        "Backend certificate on {servers} is expired or not yet valid ({subject})",
        "Renew the backend server's TLS certificate.",
    ),
    ProbeLogKind.CHAIN: LogCode(
        "TLS_CHAIN_INVALID",
        Severity.CRITICAL,
        False,
        "Backend certificate chain on {servers} is not trusted ({subject})",
        "Serve the full chain (leaf first, then intermediates) from the backend, or upload the right trusted "
        "root certificate to the backend settings.",
    ),
}

UNRECOGNISED = LogCode(
    "PROBE_LOG_UNRECOGNISED",
    Severity.WARNING,
    False,
    "Probe log of {servers} ({subject}) is not a failure the checks recognise: {quote}",
    "Read the probe log quoted in the evidence (Azure rewords these messages over time) and fix what it "
    "names; the diagnosis could not tell the cause.",
)


def referenced_probe_id(settings: Any) -> str | None:
    """The id of the probe backend settings reference (read by wire names: their JSON or model);
    None when they reference none."""
    return json_fields(json_properties(settings).get("probe")).get("id") or None


def effective_probe(snapshot: Snapshot, settings_id: str) -> Any:
    """The custom probe the settings use, or None for the default probe."""
    probe_id = referenced_probe_id(snapshot.settings_wire(settings_id))  # per server: no model
    return snapshot.probe(probe_id) if probe_id else None


def _subject(snapshot: Snapshot, settings_id: str, blames_probe: bool) -> tuple[str, str]:
    """(resource id, phrase) of what a log finding blames."""
    probe = effective_probe(snapshot, settings_id)
    if blames_probe and probe is not None:
        return probe.id, f"Probe {probe.name}"
    if blames_probe:
        return settings_id, f"Default probe of settings {name_of(settings_id)}"
    return settings_id, f"settings {name_of(settings_id)}"


def _details(snapshot: Snapshot, settings_id: str, logs: list[str]) -> dict[str, Any]:
    settings = snapshot.settings(settings_id)
    probe = effective_probe(snapshot, settings_id)
    expected, received = parse_status_mismatch(logs[0]) if logs else (None, None)
    received_all = sorted({r for r in (parse_status_mismatch(log)[1] for log in logs) if r})
    return {
        "expected": expected,
        "received": received,
        "receivedCodes": received_all,
        "port": (probe.port if probe is not None and probe.port else None)
        or (settings.port if settings else None),
        "timeout": (probe.timeout if probe is not None else None) or DEFAULT_PROBE_TIMEOUT,
    }


@dataclass
class LogGroup:
    """The servers whose probe logs raise one code against one resource."""

    spec: LogCode
    resource: str
    subject: str
    settings_id: str
    servers: list[dict[str, Any]] = field(default_factory=list)


def _group_servers(snapshot: Snapshot) -> list[LogGroup]:
    pairs = servers_by_pair(snapshot)
    if not pairs:
        raise NotApplicable("backend health lists no servers")
    groups: dict[tuple[str, str], LogGroup] = {}
    for (pool_id, settings_id), servers in pairs.items():
        for address, state, log in servers:
            kind = classify_probe_log(log)
            spec = LOG_CODES.get(kind)
            if spec is None and kind in UNDIAGNOSED and state == "unhealthy":
                spec = UNRECOGNISED
            if spec is None:
                continue
            resource, subject = _subject(snapshot, settings_id, spec.blames_probe)
            group = groups.setdefault(
                (spec.code, key(resource)), LogGroup(spec, resource, subject, settings_id)
            )
            group.servers.append(
                {
                    "pool": name_of(pool_id),
                    "settings": name_of(settings_id),
                    "address": address,
                    "health": state,
                    "healthProbeLog": log,
                }
            )
    return list(groups.values())


def _quoted(message: str, limit: int) -> str:
    """`message` verbatim, cut at `limit` characters (marked with an ellipsis)."""
    return message if len(message) <= limit else message[:limit] + "\u2026"


def _unrecognised_finding(group: LogGroup) -> Finding:
    spec = group.spec
    servers = []
    for server in group.servers:
        message = server.pop("healthProbeLog")
        kind = classify_probe_log(message)
        servers.append(
            server
            | {
                "healthProbeLog": _quoted(message, MESSAGE_LIMIT),
                "healthProbeLogTruncated": len(message) > MESSAGE_LIMIT,
                "recognisedAs": None if kind is ProbeLogKind.OTHER else KIND_LABELS[kind],
            }
        )
    first = servers[0]["healthProbeLog"]
    quote = f"\u201c{_quoted(first, TITLE_QUOTE_LIMIT)}\u201d" if first else "(empty probe log)"
    title = spec.what.format(
        subject=group.subject, servers=listed(s["address"] for s in servers), quote=quote
    )
    return Finding(
        code=spec.code,
        severity=spec.severity,
        title=title,
        resource=group.resource,
        evidence={"servers": servers, "messages": sorted({s["healthProbeLog"] for s in servers})},
        fix=Fix(summary=spec.fix),
    )


def _finding(snapshot: Snapshot, group: LogGroup) -> Finding:
    spec = group.spec
    if spec is UNRECOGNISED:
        return _unrecognised_finding(group)
    details = _details(snapshot, group.settings_id, [s["healthProbeLog"] for s in group.servers])
    title = spec.what.format(
        subject=group.subject,
        servers=listed(s["address"] for s in group.servers),
        expected=", ".join(details["expected"] or ["?"]),
        received=", ".join(details["receivedCodes"] or ["?"]),
        port=details["port"],
        timeout=details["timeout"],
    )
    evidence: dict[str, Any] = {"servers": group.servers}
    if spec.code == "PROBE_STATUS_MISMATCH":
        evidence.update(
            expected=details["expected"], received=details["received"], receivedCodes=details["receivedCodes"]
        )
    elif spec.code == "PROBE_TIMEOUT":
        evidence["probeTimeoutSeconds"] = details["timeout"]
    elif spec.code == "BACKEND_CONNECT_FAILED":
        evidence["port"] = details["port"]
    return Finding(
        code=spec.code,
        severity=spec.severity,
        title=title[0].upper() + title[1:],
        resource=group.resource,
        evidence=evidence,
        fix=Fix(summary=spec.fix),
    )


def probe_log_findings(snapshot: Snapshot) -> list[Finding]:
    return [_finding(snapshot, group) for group in _group_servers(snapshot)]


CHECK = Check(
    name="probe-log",
    codes=(*(spec.code for spec in LOG_CODES.values()), UNRECOGNISED.code),
    run=probe_log_findings,
)
