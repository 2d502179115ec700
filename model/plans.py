"""The typed plan of each automatic fix: exactly what the remediation action will change.

A check that offers a safe fix puts its plan on `Fix.plan`; remediation applies the plan and nothing
else, and messages show it. Each plan names its action (`docs/FINDINGS.md`) and travels as JSON
(`to_dict` / `plan_from_dict`) through the pipeline's records.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from core.arm_ids import ArmId


@dataclass(frozen=True)
class RuleMove:
    """Renumber an existing rule (to make room for the allow rule right in front of it)."""

    rule_id: str
    name: str
    from_priority: int
    to_priority: int


@dataclass(frozen=True)
class AllowRule:
    """A proposed NSG allow rule: ARM properties for the remediation action, and the az command.

    `move`, when set, must be applied first: the deny it renumbers holds the only priority that
    could precede it, and moving it one step (to a free number) keeps its order against every
    other rule, so the only change in behaviour is the new allow.
    """

    nsg_id: str
    name: str
    priority: int
    direction: str
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    ports: tuple[str, ...]
    protocol: str = "Tcp"
    move: RuleMove | None = None

    action = "add-nsg-allow-rule"

    def to_dict(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "action": self.action,
            "nsg": self.nsg_id,
            "name": self.name,
            "properties": {
                "priority": self.priority,
                "direction": self.direction,
                "access": "Allow",
                "protocol": self.protocol,
                "sourcePortRange": "*",
                "sourceAddressPrefixes": list(self.sources),
                "destinationAddressPrefixes": list(self.destinations),
                "destinationPortRanges": list(self.ports),
            },
        }
        if self.move is not None:
            evidence["moveRule"] = {
                "id": self.move.rule_id,
                "name": self.move.name,
                "fromPriority": self.move.from_priority,
                "toPriority": self.move.to_priority,
            }
        return evidence

    def command(self) -> str:
        arm = ArmId.parse(self.nsg_id)

        def words(values: tuple[str, ...]) -> str:
            return " ".join(shlex.quote(v) for v in values)

        create = (
            f"az network nsg rule create -g {arm.resource_group} --nsg-name {arm.name} -n {self.name} "
            f"--priority {self.priority} --direction {self.direction} --access Allow "
            f"--protocol {self.protocol} "
            f"--source-address-prefixes {words(self.sources)} --source-port-ranges '*' "
            f"--destination-address-prefixes {words(self.destinations)} "
            f"--destination-port-ranges {words(self.ports)}"
        )
        if self.move is None:
            return create
        return (
            f"az network nsg rule update -g {arm.resource_group} --nsg-name {arm.name} -n {self.move.name} "
            f"--priority {self.move.to_priority} && {create}"
        )


@dataclass(frozen=True)
class RequestTimeoutRaise:
    """Raise one backend settings' request time-out."""

    settings_id: str
    settings_name: str
    from_seconds: int
    to_seconds: int

    action = "raise-request-timeout"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "settings": self.settings_id,
            "settingsName": self.settings_name,
            "fromSeconds": self.from_seconds,
            "toSeconds": self.to_seconds,
        }


@dataclass(frozen=True)
class ProbeReattach:
    """Reference custom probe `probe_id` from the backend settings `settings_ids`."""

    probe_id: str
    settings_ids: tuple[str, ...]

    action = "reattach-probe"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "probe": self.probe_id, "settings": list(self.settings_ids)}


FixPlan = AllowRule | RequestTimeoutRaise | ProbeReattach


def plan_from_dict(data: dict[str, Any] | None) -> FixPlan | None:
    """The inverse of each plan's `to_dict`; None for no plan (or one this version does not know)."""
    if not data:
        return None
    action = data.get("action")
    if action == AllowRule.action:
        properties = data["properties"]
        move = data.get("moveRule")
        return AllowRule(
            nsg_id=data["nsg"],
            name=data["name"],
            priority=int(properties["priority"]),
            direction=properties["direction"],
            sources=tuple(properties["sourceAddressPrefixes"]),
            destinations=tuple(properties["destinationAddressPrefixes"]),
            ports=tuple(properties["destinationPortRanges"]),
            protocol=properties.get("protocol", "Tcp"),
            move=RuleMove(move["id"], move["name"], int(move["fromPriority"]), int(move["toPriority"]))
            if move
            else None,
        )
    if action == RequestTimeoutRaise.action:
        return RequestTimeoutRaise(
            data["settings"], data["settingsName"], int(data["fromSeconds"]), int(data["toSeconds"])
        )
    if action == ProbeReattach.action:
        return ProbeReattach(data["probe"], tuple(data["settings"]))
    return None
