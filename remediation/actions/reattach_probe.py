"""`reattach-probe`: reference the one compatible custom probe from the settings that fall back to
the default probe (or reference a probe that is gone). Only when exactly one custom probe is
compatible (same protocol; same port where the probe sets one) and a pre-flight on-demand probe
(`getBackendHealthOnDemand` with that probe's definition against each pool the settings serve)
sees the servers healthy with it."""

from __future__ import annotations

from typing import Any

from azure.mgmt.network.models import ApplicationGatewayOnDemandProbe, SubResource

from model.findings import Finding
from model.plans import ProbeReattach
from model.remediation import Change, Intent
from remediation.actions.base import Context, Dropped, Planned, Refused, child, same_id


def _protocol(item: Any) -> str:
    value = item.protocol
    return str(getattr(value, "value", value) or "").lower()


def _compatible(probe: Any, settings: Any) -> bool:
    return _protocol(probe) == _protocol(settings) and (not probe.port or probe.port == settings.port)


def _pools_of(gateway: Any, settings_id: str) -> list[str]:
    """The pools the settings serve: routing rules and URL path maps (default and path rules)."""
    pools: list[str] = []

    def add(pool: Any, settings: Any) -> None:
        if pool is not None and settings is not None and same_id(settings.id, settings_id):
            if not any(same_id(pool.id, p) for p in pools):
                pools.append(pool.id)

    for rule in gateway.request_routing_rules or []:
        add(rule.backend_address_pool, rule.backend_http_settings)
    for path_map in gateway.url_path_maps or []:
        add(path_map.default_backend_address_pool, path_map.default_backend_http_settings)
        for path_rule in path_map.path_rules or []:
            add(path_rule.backend_address_pool, path_rule.backend_http_settings)
    return pools


def _command(ctx: Context, settings_name: str, probe_name: str | None) -> str:
    return ctx.settings_command(settings_name, f"--probe {probe_name}" if probe_name else "--remove probe")


class ReattachProbe:
    id = "reattach-probe"

    def plan(self, ctx: Context, finding: Finding) -> Planned:
        plan = finding.fix.plan
        if not isinstance(plan, ProbeReattach):
            raise Refused("the finding carries no probe plan")
        gateway = ctx.read_gateway()
        probe = child(gateway.probes, plan.probe_id)
        if probe is None:
            raise Dropped(f"probe {plan.probe_id.rsplit('/', 1)[-1]} no longer exists on the gateway")
        probe_ids = {(p.id or "").lower() for p in gateway.probes or []}
        before: dict[str, str | None] = {}
        names: list[str] = []
        for settings_id in plan.settings_ids:
            settings = child(gateway.backend_http_settings_collection, settings_id)
            if settings is None:
                raise Dropped(f"settings {settings_id.rsplit('/', 1)[-1]} no longer exist on the gateway")
            current = settings.probe.id if settings.probe is not None and settings.probe.id else None
            if current is not None and current.lower() in probe_ids:
                raise Dropped(f"settings {settings.name} already use probe {current.rsplit('/', 1)[-1]}")
            compatible = [p for p in gateway.probes or [] if _compatible(p, settings)]
            if len(compatible) != 1 or not same_id(compatible[0].id, probe.id):
                listed = ", ".join(p.name for p in compatible) or "none"
                raise Refused(
                    f"{len(compatible)} custom probes are compatible with settings {settings.name} "
                    f"({listed}); "
                    "reattaching needs exactly one: which probe is right is a person's decision"
                )
            before[settings.id] = current
            names.append(settings.name)
        after = {settings_id: probe.id for settings_id in before}
        was = ", ".join(
            f"{name}: {(before[sid] or '').rsplit('/', 1)[-1] or 'default probe'}"
            for sid, name in zip(before, names, strict=True)
        )
        return Planned(
            action=self.id,
            finding=finding,
            resource=next(iter(before)),
            etag=gateway.etag,
            change=Change(
                gateway.id,
                {"probe": before},
                {"probe": after},
                f"probe ({was}) -> {probe.name} on settings {', '.join(names)}",
            ),
            command=" && ".join(_command(ctx, n, probe.name) for n in names),
            undo=" && ".join(
                _command(ctx, n, (before[sid] or "").rsplit("/", 1)[-1] or None)
                for sid, n in zip(before, names, strict=True)
            ),
            details={"probe": probe.id, "probeName": probe.name, "before": before, "names": names},
            body=gateway,
        )

    def preflight(self, ctx: Context, planned: Planned) -> None:
        gateway = planned.body
        probe = child(gateway.probes, planned.details["probe"])
        group, name = ctx.gateway_names
        seen: list[str] = []
        for settings_id in planned.details["before"]:
            pools = _pools_of(gateway, settings_id)
            if not pools:
                raise Refused(
                    f"no routing rule uses settings {settings_id.rsplit('/', 1)[-1]}: nothing to probe"
                )
            for pool in pools:
                request = ApplicationGatewayOnDemandProbe(
                    protocol=probe.protocol,
                    host=probe.host,
                    path=probe.path,
                    timeout=probe.timeout,
                    pick_host_name_from_backend_http_settings=probe.pick_host_name_from_backend_http_settings,
                    match=probe.match,
                    backend_address_pool=SubResource(id=pool),
                    backend_http_settings=SubResource(id=settings_id),
                )
                result = ctx.arm.long_running(
                    ctx.network.application_gateways.begin_backend_health_on_demand, group, name, request
                )
                servers = (
                    (result.backend_health_http_settings.servers or [])
                    if result.backend_health_http_settings
                    else []
                )
                if not servers:
                    raise Refused(
                        f"pre-flight with probe {probe.name}: pool {pool.rsplit('/', 1)[-1]} "
                        "answered no servers"
                    )
                for server in servers:
                    health = str(getattr(server.health, "value", server.health) or "Unknown")
                    if health.lower() != "healthy":
                        log = " ".join((server.health_probe_log or "").split())[:160]
                        raise Refused(
                            f"pre-flight with probe {probe.name}: {server.address} is {health}"
                            + (f" ({log})" if log else "")
                        )
                    seen.append(server.address or "?")
        planned.details["preflight"] = f"pre-flight with probe {probe.name}: {len(seen)} server(s) healthy"

    def apply(self, ctx: Context, planned: Planned) -> dict[str, Any]:
        gateway = planned.body
        for settings_id in planned.details["before"]:
            child(gateway.backend_http_settings_collection, settings_id).probe = SubResource(
                id=planned.details["probe"]
            )
        written = ctx.write_gateway(gateway, planned.etag)
        return {"etag": getattr(written, "etag", None)}

    def _probes(self, ctx: Context, intent: Intent) -> tuple[Any, dict[str, Any]]:
        gateway = ctx.read_gateway()
        found = {}
        for settings_id in intent.details["before"]:
            settings = child(gateway.backend_http_settings_collection, settings_id)
            if settings is None:
                raise Refused(
                    f"settings {settings_id.rsplit('/', 1)[-1]} no longer exist; nothing to roll back"
                )
            found[settings_id] = settings
        return gateway, found

    @staticmethod
    def _probe_of(settings: Any) -> str | None:
        return settings.probe.id if settings.probe is not None and settings.probe.id else None

    def is_applied(self, ctx: Context, intent: Intent) -> bool:
        _, found = self._probes(ctx, intent)
        return all(same_id(self._probe_of(s), intent.details["probe"]) for s in found.values())

    def rollback(self, ctx: Context, intent: Intent) -> None:
        gateway, found = self._probes(ctx, intent)
        for settings_id, settings in found.items():
            if not same_id(self._probe_of(settings), intent.details["probe"]):
                raise Refused(
                    f"settings {settings.name} no longer use probe {intent.details['probeName']}: "
                    "someone changed them since; left as they are"
                )
            previous = intent.details["before"][settings_id]
            settings.probe = SubResource(id=previous) if previous else None
        ctx.write_gateway(gateway, gateway.etag)

    def rolled_back(self, ctx: Context, intent: Intent) -> bool:
        _, found = self._probes(ctx, intent)
        return all(same_id(self._probe_of(s), intent.details["before"][sid]) for sid, s in found.items())
