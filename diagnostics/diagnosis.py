"""Diagnose one gateway: collect a Snapshot through the SDK, run every check, report the result.

`diagnose()` is the entry point the CLI and the alert pipeline call. The incident window ends at
the incident time (the alert's fired time, `--at`, the world's clock, or now) and spans 30
minutes, or the alert's window size when that is longer.

What changed (issue 14): the Activity Log of the path's resource groups over the look-back window
before the incident (`lookback`, default 24 h: the app setting CHANGE_LOOKBACK_HOURS) is read
alongside the other reads, kept to the path, and — when the gateway is not healthy — the path's
configuration is diffed against the last healthy one (`last_healthy`, what the caller stored from an
earlier diagnosis' `configuration`). Each finding carries the changes to its resource, parents or
children; the diagnosis carries every change on the path (`changes`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from core.arm import DEFAULT_BUDGET_SECONDS, Arm
from core.azure_clients import AzureClients
from core.iso8601 import as_utc, format_time
from diagnostics.changes import (
    ACTIVITY_LOG_PIECE,
    DEFAULT_LOOKBACK,
    LAST_HEALTHY_PIECE,
    attach,
    changes_from_events,
    configuration,
    diff,
    is_healthy,
    path_resources,
    relabel_own_writes,
    sorted_changes,
)
from diagnostics.collect import DEFAULT_WINDOW, collect
from diagnostics.engine import findings_of, run_checks
from diagnostics.snapshot import Snapshot
from model.changes import PathChange
from model.findings import CheckResult, CheckStatus, Finding

# What `diagnose` takes as the last healthy configuration: the stored JSON, None (none stored), or a
# callable reading it (called only when the diagnosis is not healthy; an exception it raises is
# recorded in `change_errors`, never fails the diagnosis).
LastHealthy = Mapping[str, Any] | Callable[[], Mapping[str, Any] | None] | None


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
    # Every change on the path (Activity Log, last-healthy diff), newest first.
    changes: list[PathChange] = field(default_factory=list)
    # Why some changes are unknown: "activity_log" (not readable), "last_healthy" (not readable).
    change_errors: dict[str, str] = field(default_factory=dict)
    # The path's configuration (diagnostics.changes.configuration): the caller stores it as the
    # gateway's last healthy one when `healthy`. Not part of the report.
    configuration: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def healthy(self) -> bool:
        """No critical or warning finding and every check passed or did not apply."""
        return is_healthy(self.findings, self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            "incidentTime": format_time(self.incident_time),
            "findings": [finding.to_dict() for finding in self.findings],
            "checks": [check.to_dict() for check in self.checks],
            "changes": [change.to_dict() for change in self.changes],
            **({"changesUnknown": dict(self.change_errors)} if self.change_errors else {}),
            "durationSeconds": round(self.duration_seconds, 3),
            "armCalls": self.arm_calls,
        }

    def with_own_writes(self, writes: Iterable[tuple[str, datetime]]) -> Diagnosis:
        """The diagnosis with the Activity Log changes that are the bot's own writes (resource id,
        when: its remediation audit's apply/rollback steps) labelled `appgw-doctor`."""
        writes = list(writes)
        if not writes or not self.changes:
            return self
        changes = relabel_own_writes(self.changes, writes)
        return replace(self, changes=changes, findings=attach(self.findings, changes))

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
    lookback: timedelta | None = None,
    last_healthy: LastHealthy = None,
) -> Diagnosis:
    """Diagnose `gateway_id` at `incident_time` (default: now).

    `dns_servers` redirects queries for a custom DNS server IP to (host, port); FQDN members are
    resolved when `resolve_dns` is true (default: when `dns_servers` is given; the app setting
    DNS_RESOLVE_CUSTOM turns it on in Azure, where the VNet's servers need VNet integration). ARM
    calls retry throttling and server errors within
    `budget_seconds` for the whole diagnosis. Raises GatewayUnavailable when the gateway cannot be
    read and ValueError for an id that is not an Application Gateway's.

    `lookback`: how far before the incident the Activity Log is read (default DEFAULT_LOOKBACK, 24 h;
    `timedelta(0)` reads none). `last_healthy`: the gateway's last healthy configuration (or a
    callable reading it), diffed against today's when this diagnosis is not healthy.
    """
    started = time.monotonic()
    start, end = incident_window(incident_time or datetime.now(timezone.utc), window_size)
    resolve = resolve_dns if resolve_dns is not None else dns_servers is not None
    arm = Arm(clients, budget_seconds=budget_seconds)
    span = DEFAULT_LOOKBACK if lookback is None else lookback
    snapshot = collect(
        gateway_id,
        arm=arm,
        incident_time=end,
        window=end - start,
        dns_servers=dns_servers,
        resolve_dns=resolve,
        progress=progress,
        changes_since=end - span if span > timedelta(0) else None,
    )
    if progress:
        progress("running checks")
    results = run_checks(snapshot)
    findings = findings_of(results)
    changes, change_errors, current = path_changes(snapshot, findings, list(results), last_healthy)
    return Diagnosis(
        gateway=snapshot.gateway_id,
        incident_time=end,
        findings=attach(findings, changes),
        checks=list(results),
        duration_seconds=time.monotonic() - started,
        arm_calls=arm.calls,
        snapshot=snapshot,
        changes=changes,
        change_errors=change_errors,
        configuration=current,
    )


def path_changes(
    snapshot: Snapshot, findings: list[Finding], checks: list[CheckResult], last_healthy: LastHealthy
) -> tuple[list[PathChange], dict[str, str], dict[str, Any]]:
    """(every change on the path newest first, why some are unknown, today's configuration): the
    Activity Log events kept to the path, and — when not healthy — the diff against `last_healthy`."""
    errors: dict[str, str] = {}
    path = path_resources(snapshot)
    changes: list[PathChange] = []
    if snapshot.changes_window is not None:
        changes += changes_from_events(snapshot.activity_log, path, start=snapshot.changes_window[0],
                                       end=snapshot.changes_window[1])  # fmt: skip
    if ACTIVITY_LOG_PIECE in snapshot.errors:
        errors[ACTIVITY_LOG_PIECE] = snapshot.errors[ACTIVITY_LOG_PIECE]
    current = configuration(snapshot, snapshot.incident_time)
    if not is_healthy(findings, checks):
        try:
            previous = last_healthy() if callable(last_healthy) else last_healthy
        except Exception as error:  # the state store: the diff is unknown, the diagnosis goes on
            errors[LAST_HEALTHY_PIECE] = f"the last healthy configuration could not be read: {error}"[:300]
            previous = None
        if previous:
            changes += diff(previous, current)
    return sorted_changes(changes), errors, current
