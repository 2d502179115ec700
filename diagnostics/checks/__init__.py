"""The registry of diagnosis checks: every check the engine runs, in report order.

Adding a check means writing its module (a pure `Snapshot -> list[Finding]` function wrapped in a
`Check`) and listing it here. Order: the gateway itself, its pools and health, the network path
(NSGs, routes, DNS), then probes, probe-log causes, TLS and time-outs.
"""

from __future__ import annotations

from diagnostics.checks import (
    backend_health,
    dns,
    gateway_state,
    nsg_backend,
    nsg_gateway_subnet,
    pools,
    private_gateway,
    probe_log,
    probes,
    request_timeout,
    routes,
    tls,
)
from diagnostics.checks.base import Check, NotApplicable

CHECKS: tuple[Check, ...] = (
    gateway_state.CHECK,
    pools.EMPTY,
    pools.NOT_PROVISIONED,
    backend_health.ALL_UNHEALTHY,
    backend_health.UNKNOWN,
    nsg_gateway_subnet.INFRA_PORTS,
    nsg_gateway_subnet.LOAD_BALANCER,
    nsg_gateway_subnet.INTERNET_OUTBOUND,
    nsg_backend.CHECK,
    routes.DEFAULT_ROUTE,
    routes.DIVERTS_BACKEND,
    routes.BGP_DEFAULT,
    private_gateway.CHECK,
    dns.CANNOT_RESOLVE,
    dns.UNVERIFIED,
    probes.DEFAULT_FAILING,
    probes.DETACHED,
    probes.REFERENCE_BROKEN,
    probes.INVALID,
    probe_log.CHECK,
    tls.CHECK,
    request_timeout.CHECK,
)

__all__ = ["CHECKS", "Check", "NotApplicable"]
