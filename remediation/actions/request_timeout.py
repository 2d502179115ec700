"""`raise-request-timeout`: raise the request time-out of the settings the finding names, to the
finding's proposed value, never above REMEDIATION_MAX_REQUEST_TIMEOUT. Nothing else changes."""

from __future__ import annotations

from typing import Any

from model.findings import Finding
from model.plans import RequestTimeoutRaise
from model.remediation import Change, Intent
from remediation.actions.base import Context, Dropped, Planned, Refused, child


class RaiseRequestTimeout:
    id = "raise-request-timeout"

    def plan(self, ctx: Context, finding: Finding) -> Planned:
        plan = finding.fix.plan
        if not isinstance(plan, RequestTimeoutRaise):
            raise Refused("the finding carries no request time-out plan")
        gateway = ctx.read_gateway()
        settings = child(gateway.backend_http_settings_collection, plan.settings_id)
        if settings is None:
            raise Dropped(f"settings {plan.settings_name} no longer exist on the gateway")
        current = settings.request_timeout
        if current is None:
            raise Dropped(f"settings {plan.settings_name} show no requestTimeout")
        if current >= plan.to_seconds:
            raise Dropped(f"settings {plan.settings_name} already have requestTimeout {current} s")
        if current != plan.from_seconds:
            raise Dropped(
                f"requestTimeout of {plan.settings_name} is {current} s now, "
                f"not {plan.from_seconds} s as diagnosed"
            )
        if plan.to_seconds > ctx.max_request_timeout:
            raise Refused(
                f"the proposed {plan.to_seconds} s is above REMEDIATION_MAX_REQUEST_TIMEOUT "
                f"({ctx.max_request_timeout} s); raising it further is a person's decision"
            )
        return Planned(
            action=self.id,
            finding=finding,
            resource=settings.id,
            etag=gateway.etag,
            change=Change(
                settings.id,
                {"requestTimeout": current},
                {"requestTimeout": plan.to_seconds},
                f"requestTimeout {current} s -> {plan.to_seconds} s on settings {settings.name}",
            ),
            command=ctx.settings_command(settings.name, f"--timeout {plan.to_seconds}"),
            undo=ctx.settings_command(settings.name, f"--timeout {current}"),
            details={
                "settings": settings.id,
                "settingsName": settings.name,
                "from": current,
                "to": plan.to_seconds,
            },
            body=gateway,
        )

    def preflight(self, ctx: Context, planned: Planned) -> None:
        return None

    def apply(self, ctx: Context, planned: Planned) -> dict[str, Any]:
        gateway = planned.body
        settings = child(gateway.backend_http_settings_collection, planned.details["settings"])
        settings.request_timeout = planned.details["to"]
        written = ctx.write_gateway(gateway, planned.etag)
        return {"etag": getattr(written, "etag", None)}

    def _current(self, ctx: Context, intent: Intent) -> tuple[Any, Any]:
        gateway = ctx.read_gateway()
        settings = child(gateway.backend_http_settings_collection, intent.details["settings"])
        if settings is None:
            raise Refused(f"settings {intent.details['settingsName']} no longer exist; nothing to roll back")
        return gateway, settings

    def is_applied(self, ctx: Context, intent: Intent) -> bool:
        return self._current(ctx, intent)[1].request_timeout == intent.details["to"]

    def rollback(self, ctx: Context, intent: Intent) -> None:
        gateway, settings = self._current(ctx, intent)
        if settings.request_timeout != intent.details["to"]:
            raise Refused(
                f"requestTimeout of {intent.details['settingsName']} is {settings.request_timeout} s now, "
                "not the "
                f"{intent.details['to']} s written: someone changed it since; left as it is"
            )
        settings.request_timeout = intent.details["from"]
        ctx.write_gateway(gateway, gateway.etag)

    def rolled_back(self, ctx: Context, intent: Intent) -> bool:
        return self._current(ctx, intent)[1].request_timeout == intent.details["from"]
