"""`add-nsg-allow-rule`: one new allow rule on the NSG at fault, ahead of the rule that blocks.

The rule is the finding's plan, checked again against the NSG as it is now: the blocking rule still
there and still denying, the priority still free (else the free number closest below the blocking
rule's, 100-4096), a name of its own starting with `appgw-doctor-`, and `remediation.safety`'s guard
(exact sources, destinations and ports; never a broad prefix). It is created with
`If-None-Match: *` (never replacing a rule of that name) after checking the NSG's etag is still the
one read when planning. When no priority is free ahead of the blocking rule the bot does not move or
edit anyone's rule: the plan (the move included) is text for a person.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from typing import Any

from azure.mgmt.network.models import SecurityRule

from core.arm import PreconditionFailed
from core.arm_ids import ArmId
from model.findings import Finding
from model.plans import AllowRule
from model.remediation import Change, Intent
from remediation.actions.base import Context, Dropped, Planned, Refused, same_id
from remediation.safety import HIGHEST_PRIORITY, LOWEST_PRIORITY, RULE_PREFIX, unsafe_reason

_DESCRIPTION = 250


def _value(item: Any) -> str:
    return str(getattr(item, "value", item) or "")


def _deciding(finding: Finding) -> dict[str, Any] | None:
    evidence = finding.evidence
    if isinstance(evidence.get("decidingRule"), dict):
        return evidence["decidingRule"]
    rules = [r for r in evidence.get("decidingRules") or [] if isinstance(r, dict)]
    return min(rules, key=lambda r: r.get("priority") or 0) if rules else None


def _rule_name(plan: AllowRule, taken: set[str]) -> str:
    base = plan.name if plan.name.lower().startswith(RULE_PREFIX) else RULE_PREFIX + plan.name
    name, suffix = base, 2
    while name.lower() in taken:
        name, suffix = f"{base}-{suffix}", suffix + 1
    return name


def _words(values: tuple[str, ...]) -> str:
    return " ".join(shlex.quote(v) for v in values)


class AddNsgAllowRule:
    id = "add-nsg-allow-rule"

    def plan(self, ctx: Context, finding: Finding) -> Planned:
        plan = finding.fix.plan
        if not isinstance(plan, AllowRule):
            raise Refused("the finding carries no NSG rule plan")
        nsg_arm = ArmId.parse(plan.nsg_id)
        nsg = ctx.arm.call(ctx.network.network_security_groups.get, nsg_arm.resource_group, nsg_arm.name)
        rules = list(nsg.security_rules or [])
        deciding = _deciding(finding)
        deciding_priority = plan.move.from_priority if plan.move else None
        if deciding is not None and not deciding.get("default"):
            current = next(
                (
                    r
                    for r in rules
                    if same_id(r.id, deciding.get("id"))
                    or (r.name or "").lower() == str(deciding.get("name") or "").lower()
                ),
                None,
            )
            if current is None:
                raise Dropped(
                    f"rule {deciding.get('name')} is gone from NSG {nsg.name}: nothing blocks ahead any more"
                )
            if _value(current.access).lower() != "deny":
                raise Dropped(f"rule {current.name} no longer denies")
            deciding_priority = int(current.priority)
        elif deciding is not None:
            deciding_priority = int(deciding.get("priority") or 65000)
        taken = {int(r.priority) for r in rules if _value(r.direction) == plan.direction and r.priority}
        name = _rule_name(plan, {(r.name or "").lower() for r in rules})
        priority = plan.priority
        needs_person = None
        if plan.move is not None:
            needs_person = (
                f"no priority is free ahead of rule {plan.move.name} ({plan.move.from_priority}); "
                f"the plan moves that "
                f"rule to {plan.move.to_priority}, and the bot never moves or edits anyone's rule"
            )
        elif priority in taken or (deciding_priority is not None and priority >= deciding_priority):
            below = deciding_priority if deciding_priority is not None else priority
            free = [
                p for p in range(min(below - 1, LOWEST_PRIORITY), HIGHEST_PRIORITY - 1, -1) if p not in taken
            ]
            if not free:
                raise Refused(f"no priority is free ahead of the blocking rule on NSG {nsg.name}")
            priority = free[0]
        rule = replace(plan, name=name, priority=priority)
        unsafe = unsafe_reason(rule, finding.code, finding.evidence)
        if unsafe is not None:
            raise Refused(f"unsafe rule refused: {unsafe}")
        description = f"Added by appgw-doctor for {finding.code}" + (
            f" (incident {ctx.incident_id})" if ctx.incident_id else ""
        )
        properties = {
            "priority": rule.priority,
            "direction": rule.direction,
            "access": "Allow",
            "protocol": rule.protocol,
            "sourcePortRange": "*",
            "sourceAddressPrefixes": list(rule.sources),
            "destinationAddressPrefixes": list(rule.destinations),
            "destinationPortRanges": list(rule.ports),
            "description": description[:_DESCRIPTION],
        }
        rule_id = f"{nsg.id}/securityRules/{name}"
        ahead = f", ahead of rule {deciding.get('name')} ({deciding_priority})" if deciding else ""
        undo = f"az network nsg rule delete -g {nsg_arm.resource_group} --nsg-name {nsg.name} -n {name}"
        return Planned(
            action=self.id,
            finding=finding,
            resource=rule_id,
            etag=nsg.etag or "",
            change=Change(
                rule_id,
                None,
                properties,
                f"new rule {name} on NSG {nsg.name}: Allow {rule.direction.lower()} {rule.protocol} "
                f"{', '.join(rule.ports)} from {', '.join(rule.sources)} to {', '.join(rule.destinations)}, "
                f"priority {rule.priority}{ahead}",
            ),
            command=rule.command(),
            undo=undo,
            details={"nsg": nsg.id, "name": name, "properties": properties},
            body=nsg,
            needs_person=needs_person,
        )

    def preflight(self, ctx: Context, planned: Planned) -> None:
        return None

    def apply(self, ctx: Context, planned: Planned) -> dict[str, Any]:
        nsg_arm = ArmId.parse(planned.details["nsg"])
        current = ctx.arm.call(ctx.network.network_security_groups.get, nsg_arm.resource_group, nsg_arm.name)
        if current.etag != planned.etag:
            raise PreconditionFailed(f"NSG {nsg_arm.name} changed since it was read (etag)", status=412)
        p = planned.details["properties"]
        rule = SecurityRule(  # type: ignore[call-overload]
            priority=p["priority"],
            direction=p["direction"],
            access="Allow",
            protocol=p["protocol"],
            source_port_range="*",
            source_address_prefixes=p["sourceAddressPrefixes"],
            destination_address_prefixes=p["destinationAddressPrefixes"],
            destination_port_ranges=p["destinationPortRanges"],
            description=p["description"],
        )
        written = ctx.arm.long_running(
            ctx.network.security_rules.begin_create_or_update,
            nsg_arm.resource_group,
            nsg_arm.name,
            planned.details["name"],
            rule,
            headers={"If-None-Match": "*"},
        )
        return {"ruleEtag": getattr(written, "etag", None)}

    def _read(self, ctx: Context, intent: Intent) -> Any:
        nsg_arm = ArmId.parse(intent.details["nsg"])
        nsg = ctx.arm.call(ctx.network.network_security_groups.get, nsg_arm.resource_group, nsg_arm.name)
        return next(
            (r for r in nsg.security_rules or [] if (r.name or "").lower() == intent.details["name"].lower()),
            None,
        )

    def is_applied(self, ctx: Context, intent: Intent) -> bool:
        return self._read(ctx, intent) is not None

    def rollback(self, ctx: Context, intent: Intent) -> None:
        rule = self._read(ctx, intent)
        if rule is None:
            return
        p = intent.details["properties"]
        ours = (
            int(rule.priority or 0) == p["priority"]
            and _value(rule.access) == "Allow"
            and list(rule.destination_port_ranges or []) == p["destinationPortRanges"]
            and list(rule.source_address_prefixes or []) == p["sourceAddressPrefixes"]
            and list(rule.destination_address_prefixes or []) == p["destinationAddressPrefixes"]
        )
        if not ours:
            raise Refused(f"rule {rule.name} was changed since the bot added it; left as it is")
        nsg_arm = ArmId.parse(intent.details["nsg"])
        ctx.arm.long_running(
            ctx.network.security_rules.begin_delete,
            nsg_arm.resource_group,
            nsg_arm.name,
            rule.name,
            headers={"If-Match": rule.etag},
        )

    def rolled_back(self, ctx: Context, intent: Intent) -> bool:
        return self._read(ctx, intent) is None
