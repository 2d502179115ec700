"""TLS_HOSTNAME_MISMATCH: HTTPS settings whose backends present a certificate that does not cover
the host name the gateway sends (the probe log's CN/SAN mismatch). One finding per settings;
`probe_log.py` leaves this code to this check so it is never raised twice.
"""

from __future__ import annotations

from typing import Any

from core.arm_ids import name_of
from core.sdk_values import json_fields, json_properties
from diagnostics.checks.backend_health import servers_by_pair
from diagnostics.checks.base import Check, NotApplicable, gateway_cli, listed, same
from diagnostics.checks.probe_log import effective_probe
from diagnostics.snapshot import Snapshot, key
from model.findings import Finding, Fix, Severity
from netrules.probes import ProbeLogKind, classify_probe_log


def sent_host(snapshot: Snapshot, settings: Any, address: str) -> str:
    """The host name (SNI / Host) the gateway's probe sends to `address` for these settings."""
    probe = effective_probe(snapshot, settings.id)
    if probe is not None and probe.host and not probe.pick_host_name_from_backend_http_settings:
        return probe.host
    if settings.pick_host_name_from_backend_address:
        return address
    return settings.host_name or address


def tls_hostname_mismatch(snapshot: Snapshot) -> list[Finding]:
    https: list[Any] = [  # the HTTPS settings' models: read by attribute below
        model
        for s in snapshot.gateway_items_wire("backend_http_settings_collection")
        if same(json_properties(s).get("protocol"), "Https")
        and (model := snapshot.settings(json_fields(s).get("id"))) is not None
    ]
    if not https:
        raise NotApplicable("no backend settings use HTTPS")
    pairs = servers_by_pair(snapshot)
    findings = []
    for settings in https:
        servers = [
            {
                "pool": name_of(pool_id),
                "address": address,
                "health": state,
                "healthProbeLog": log,
                "host": sent_host(snapshot, settings, address),
            }
            for (pool_id, settings_id), items in pairs.items()
            if key(settings_id) == key(settings.id)
            for address, state, log in items
            if classify_probe_log(log) == ProbeLogKind.CN_MISMATCH
        ]
        if not servers:
            continue
        hosts = listed(s["host"] for s in servers)
        addresses = listed(s["address"] for s in servers)
        findings.append(
            Finding(
                code="TLS_HOSTNAME_MISMATCH",
                severity=Severity.CRITICAL,
                title=f"Backend certificate on {addresses} does not cover host {hosts} that the gateway "
                f"sends for settings {settings.name}",
                resource=settings.id,
                evidence={"settings": settings.name, "hosts": hosts.split(", "), "servers": servers},
                fix=Fix(
                    summary=f"Either give the backends a certificate whose CN/SAN covers {hosts}, or make "
                    f"settings {settings.name} send a host name the certificate covers.",
                    command=(
                        f"az network application-gateway http-settings update {gateway_cli(snapshot)} "
                        f"-n {settings.name} --host-name <name-on-the-certificate>"
                    ),
                ),
            )
        )
    return findings


CHECK = Check(name="tls-hostname", codes=("TLS_HOSTNAME_MISMATCH",), run=tls_hostname_mismatch)
