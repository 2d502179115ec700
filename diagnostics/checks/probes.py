"""Probe configuration: which probe each backend settings really uses, and whether it can work.

- DEFAULT_PROBE_FAILING: settings without a custom probe whose servers are unhealthy (the default
  probe asks `/` of 127.0.0.1 or the settings' host, which many apps do not answer with 2xx/3xx in
  time). The safe automatic fix (reattach a detached probe) is offered only when the failures are
  ones a probe definition can cure — a status or body mismatch, a time-out, a certificate name
  mismatch; a connect, DNS or Unknown failure is not the probe's doing and a new probe would not
  fix it.
- PROBE_DETACHED: a custom probe no settings use while settings of its protocol fall back to the
  default probe — typically a probe someone forgot to attach.
- PROBE_REFERENCE_BROKEN: settings point at a probe id the gateway does not have.
- CUSTOM_PROBE_INVALID: the probe's own fields break Azure's rules (netrules.probes.probe_problems).
A reattach fix is offered only when exactly one probe fits, so an automatic fix never guesses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.arm_ids import name_of
from core.sdk_values import json_fields, json_properties, wire
from diagnostics.checks.backend_health import servers_by_pair
from diagnostics.checks.base import Check, NotApplicable, gateway_cli
from diagnostics.checks.probe_log import referenced_probe_id
from diagnostics.snapshot import Snapshot, key, ref_id
from model.findings import Finding, Fix, Severity
from model.plans import ProbeReattach
from netrules.probes import KIND_LABELS, ProbeLogKind, classify_probe_log, probe_problems

# Probe-log failures a different probe definition (path, host, match, time-out) can cure.
PROBE_CAUSED = frozenset(
    {
        ProbeLogKind.STATUS_MISMATCH,
        ProbeLogKind.BODY_MISMATCH,
        ProbeLogKind.PROBE_TIMEOUT,
        ProbeLogKind.CN_MISMATCH,
    }
)


# Settings and probes are read by their wire names where every item is read (`gateway_items_wire`,
# `json_fields`), and made models only when reported: a model costs more to make than to read, and
# its attributes deserialize the field anew on each read.


def _protocol(item: Any) -> str:
    return wire(json_properties(item).get("protocol")).lower()


def _used_settings(snapshot: Snapshot) -> list[Any]:
    """Backend settings that some routing rule uses, each once (as ARM sent them)."""
    found: dict[str, Any] = {}
    for pair in snapshot.routing_pairs():
        settings = snapshot.settings_wire(pair.settings_id)
        if settings is not None:
            found.setdefault(key(ref_id(settings)), settings)
    return list(found.values())


def _settings(snapshot: Snapshot) -> list[Any]:
    """Every backend settings, as ARM sent them."""
    return snapshot.gateway_items_wire("backend_http_settings_collection")


def _models(model_of: Callable[[str | None], Any], items: list[Any]) -> list[Any]:
    """The models of some of a collection's items (those a check reports): `model_of` is
    `Snapshot.settings` or `Snapshot.probe`."""
    return [model for item in items if (model := model_of(ref_id(item))) is not None]


def _referenced_probe_ids(snapshot: Snapshot) -> set[str]:
    return {key(probe_id) for s in _settings(snapshot) if (probe_id := referenced_probe_id(s))}


def _detached_probes(snapshot: Snapshot) -> list[Any]:
    """The models of the probes no settings reference."""
    referenced = _referenced_probe_ids(snapshot)
    detached = [p for p in snapshot.gateway_items_wire("probes") if key(ref_id(p)) not in referenced]
    return _models(snapshot.probe, detached)


def _falls_back(settings: Any) -> bool:
    return referenced_probe_id(settings) is None


def _reattach_command(snapshot: Snapshot, settings: Any, probe: Any) -> str:
    return (
        f"az network application-gateway http-settings update {gateway_cli(snapshot)} "
        f"-n {settings.name} --probe {probe.name}"
    )


def _reattach(probe: Any, settings: list[Any]) -> ProbeReattach:
    """What the `reattach-probe` action needs: which probe to reference from which settings."""
    return ProbeReattach(probe.id, tuple(s.id for s in settings))


def _default_probe_url(settings: Any) -> str:
    if settings.pick_host_name_from_backend_address:
        host = "<backend address>"
    else:
        host = settings.host_name or "127.0.0.1"
    return f"{_protocol(settings)}://{host}:{settings.port}/"


def default_probe_failing(snapshot: Snapshot) -> list[Finding]:
    fallback = _models(snapshot.settings, [s for s in _used_settings(snapshot) if _falls_back(s)])
    if not fallback:
        raise NotApplicable("every backend settings in use has a custom probe")
    servers_of: dict[str, list[dict[str, str]]] = {}  # settings id key -> its servers, pair by pair
    for (pool_id, settings_id), items in servers_by_pair(snapshot).items():
        servers_of.setdefault(key(settings_id), []).extend(
            {"pool": name_of(pool_id), "address": address, "health": state, "healthProbeLog": log}
            for address, state, log in items
        )
    detached: list[Any] | None = None  # read when first needed
    findings = []
    for settings in fallback:
        servers = servers_of.get(key(settings.id), [])
        unhealthy_servers = [s for s in servers if s["health"] == "unhealthy"]
        if not unhealthy_servers or any(s["health"] == "healthy" for s in servers):
            continue
        probe_caused = [
            s for s in unhealthy_servers if classify_probe_log(s["healthProbeLog"]) in PROBE_CAUSED
        ]
        if detached is None:
            detached = _detached_probes(snapshot)
        candidates = [p for p in detached if _protocol(p) == _protocol(settings)]
        evidence: dict[str, Any] = {
            "settings": settings.name,
            "defaultProbe": _default_probe_url(settings),
            "servers": servers,
            "detachedProbes": [p.name for p in candidates],
            "probeDefinitionCanCure": bool(probe_caused),
        }
        if not probe_caused:
            said = sorted({KIND_LABELS[classify_probe_log(s["healthProbeLog"])] for s in unhealthy_servers})
            fix = Fix(
                summary=f"The servers of settings {settings.name} fail before the probe's path or host "
                f"matters (their probe logs say: {'; '.join(said)}); fix that first, then check that "
                "the default probe suits the backend."
            )
        elif len(candidates) == 1:
            fix = Fix(
                summary=f"Attach custom probe {candidates[0].name} to settings {settings.name}.",
                command=_reattach_command(snapshot, settings, candidates[0]),
                plan=_reattach(candidates[0], [settings]),
            )
        else:
            fix = Fix(
                summary=f"Create a custom probe with a path and host the backend answers with 200-399 and "
                f"attach it to settings {settings.name}."
            )
        unhealthy = len(unhealthy_servers)
        findings.append(
            Finding(
                code="DEFAULT_PROBE_FAILING",
                severity=Severity.CRITICAL,
                title=f"Settings {settings.name} use the default probe ({_default_probe_url(settings)}) and "
                f"{unhealthy} server(s) fail it",
                resource=settings.id,
                evidence=evidence,
                fix=fix,
            )
        )
    return findings


def probe_detached(snapshot: Snapshot) -> list[Finding]:
    """One finding per detached probe; the reattach action only when no other detached probe of the
    same protocol competes for the same settings (then which one is meant is a person's call)."""
    detached = _detached_probes(snapshot)
    findings = []
    for probe in detached:
        # Every settings of the protocol counts, used by a rule or not (as FINDINGS.md words it).
        fallback = _models(
            snapshot.settings,
            [s for s in _settings(snapshot) if _falls_back(s) and _protocol(s) == _protocol(probe)],
        )
        if not fallback:
            continue
        rivals = [p.name for p in detached if p is not probe and _protocol(p) == _protocol(probe)]
        names = ", ".join(s.name for s in fallback)
        evidence: dict[str, Any] = {
            "probe": probe.name,
            "protocol": wire(probe.protocol),
            "host": probe.host,
            "path": probe.path,
            "settings": [s.name for s in fallback],
        }
        if rivals:
            evidence["otherDetachedProbes"] = rivals
            fix = Fix(
                summary=f"Attach probe {probe.name} or {', '.join(rivals)} (whichever the backend answers) "
                f"to {names}."
            )
        else:
            fix = Fix(
                summary=f"Attach probe {probe.name} to {names}.",
                command=" && ".join(_reattach_command(snapshot, s, probe) for s in fallback),
                plan=_reattach(probe, fallback),
            )
        findings.append(
            Finding(
                code="PROBE_DETACHED",
                severity=Severity.WARNING,
                title=f"Custom probe {probe.name} is attached to no settings while {names} use the "
                "default probe",
                resource=probe.id,
                evidence=evidence,
                fix=fix,
            )
        )
    return findings


def probe_reference_broken(snapshot: Snapshot) -> list[Finding]:
    probes = snapshot.gateway_items_wire("probes")
    existing = {key(ref_id(p)) for p in probes}
    findings = []
    for wire_settings in _settings(snapshot):
        probe_id = referenced_probe_id(wire_settings)
        if probe_id is None or key(probe_id) in existing:
            continue
        settings: Any = snapshot.settings(ref_id(wire_settings))
        if settings is None:  # not an object the SDK could read as settings: reported as malformed
            continue
        candidates = _models(snapshot.probe, [p for p in probes if _protocol(p) == _protocol(settings)])
        evidence: dict[str, Any] = {
            "settings": settings.name,
            "probeId": probe_id,
            "probes": [json_fields(p).get("name") for p in probes],
            "candidates": [p.name for p in candidates],
        }
        if len(candidates) == 1:
            fix = Fix(
                summary=f"Point settings {settings.name} at probe {candidates[0].name}.",
                command=_reattach_command(snapshot, settings, candidates[0]),
                plan=_reattach(candidates[0], [settings]),
            )
        else:
            fix = Fix(
                summary=f"Point settings {settings.name} at an existing {wire(settings.protocol)} probe, "
                "or create the probe it names."
            )
        findings.append(
            Finding(
                code="PROBE_REFERENCE_BROKEN",
                severity=Severity.CRITICAL,
                title=f"Settings {settings.name} reference probe {name_of(probe_id)}, which the "
                "gateway does not have",
                resource=settings.id,
                evidence=evidence,
                fix=fix,
            )
        )
    return findings


def custom_probe_invalid(snapshot: Snapshot) -> list[Finding]:
    probes = snapshot.gateway_items_wire("probes")
    if not probes:
        raise NotApplicable("the gateway has no custom probes")
    users_of: dict[str, list[Any]] = {}  # probe id key -> the settings that reference it
    for settings in _settings(snapshot):
        if (probe_id := referenced_probe_id(settings)) is not None:
            users_of.setdefault(key(probe_id), []).append(settings)
    findings = []
    for probe in probes:
        users = users_of.get(key(ref_id(probe)), [])
        protocols = {wire(protocol) for s in users if (protocol := json_properties(s).get("protocol"))}
        problems = probe_problems(probe, protocols)
        if not problems:
            continue
        reported: Any = snapshot.probe(ref_id(probe))  # a reported probe, and its settings, as models
        if reported is None:  # not an object the SDK could read as a probe: reported as malformed
            continue
        probe, users = reported, _models(snapshot.settings, users)
        findings.append(
            Finding(
                code="CUSTOM_PROBE_INVALID",
                severity=Severity.WARNING,
                title=f"Custom probe {probe.name} is misconfigured: {problems[0]}"
                + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
                resource=probe.id,
                evidence={"probe": probe.name, "problems": problems, "settings": [s.name for s in users]},
                fix=Fix(summary=f"Correct probe {probe.name}: " + " ".join(problems)),
            )
        )
    return findings


DEFAULT_FAILING = Check(name="default-probe", codes=("DEFAULT_PROBE_FAILING",), run=default_probe_failing)
DETACHED = Check(name="probe-detached", codes=("PROBE_DETACHED",), run=probe_detached)
REFERENCE_BROKEN = Check(
    name="probe-reference", codes=("PROBE_REFERENCE_BROKEN",), run=probe_reference_broken
)
INVALID = Check(name="probe-config", codes=("CUSTOM_PROBE_INVALID",), run=custom_probe_invalid)
