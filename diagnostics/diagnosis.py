"""Diagnose one gateway: collect a Snapshot through the SDK, run every check, report the result.

`diagnose()` is the entry point the CLI and the alert pipeline call. The incident window ends at
the incident time (the alert's fired time, `--at`, the world's clock, or now) and spans 30
minutes, or the alert's window size when that is longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from core.arm import DEFAULT_BUDGET_SECONDS, Arm
from core.azure_clients import AzureClients
from core.iso8601 import as_utc, format_time
from diagnostics.collect import DEFAULT_WINDOW, collect
from diagnostics.engine import findings_of, run_checks
from diagnostics.snapshot import Snapshot
from model.findings import CheckResult, CheckStatus, Finding


@dataclass(frozen=True)
class Diagnosis:
    gateway: str
    incident_time: datetime
    findings: list[Finding]
    checks: list[CheckResult]
    duration_seconds: float
    arm_calls: int
    # What the checks saw; kept for callers that act on the result (not part of the report).
    snapshot: Snapshot | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            "incidentTime": format_time(self.incident_time),
            "findings": [finding.to_dict() for finding in self.findings],
            "checks": [check.to_dict() for check in self.checks],
            "durationSeconds": round(self.duration_seconds, 3),
            "armCalls": self.arm_calls,
        }

    def checks_with(self, status: CheckStatus) -> list[CheckResult]:
        return [check for check in self.checks if check.status == status]


def incident_window(
    incident_time: datetime, window_size: timedelta | None = None
) -> tuple[datetime, datetime]:
    """(start, end) of the metrics window: 30 minutes up to the incident, or the alert's window if longer."""
    end = as_utc(incident_time)
    return end - max(DEFAULT_WINDOW, window_size or DEFAULT_WINDOW), end


def diagnose(
    gateway_id: str,
    *,
    clients: AzureClients,
    incident_time: datetime | None = None,
    window_size: timedelta | None = None,
    dns_servers: Mapping[str, tuple[str, int]] | None = None,
    resolve_dns: bool | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    progress: Callable[[str], None] | None = None,
) -> Diagnosis:
    """Diagnose `gateway_id` at `incident_time` (default: now).

    `dns_servers` redirects queries for a custom DNS server IP to (host, port); FQDN members are
    resolved when `resolve_dns` is true (default: when `dns_servers` is given; the app setting
    DNS_RESOLVE_CUSTOM turns it on in Azure, where the VNet's servers need VNet integration). ARM
    calls retry throttling and server errors within
    `budget_seconds` for the whole diagnosis. Raises GatewayUnavailable when the gateway cannot be
    read and ValueError for an id that is not an Application Gateway's.
    """
    started = time.monotonic()
    start, end = incident_window(incident_time or datetime.now(timezone.utc), window_size)
    resolve = resolve_dns if resolve_dns is not None else dns_servers is not None
    arm = Arm(clients, budget_seconds=budget_seconds)
    snapshot = collect(
        gateway_id,
        arm=arm,
        incident_time=end,
        window=end - start,
        dns_servers=dns_servers,
        resolve_dns=resolve,
        progress=progress,
    )
    if progress:
        progress("running checks")
    results = run_checks(snapshot)
    return Diagnosis(
        gateway=snapshot.gateway_id,
        incident_time=end,
        findings=findings_of(results),
        checks=list(results),
        duration_seconds=time.monotonic() - started,
        arm_calls=arm.calls,
        snapshot=snapshot,
    )
