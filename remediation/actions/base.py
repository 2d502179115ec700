"""What every remediation action is: plan -> preconditions -> apply -> (verify) -> roll back.

An action reads the resource it would change (its etag with it), checks the finding's plan still
holds against what it read (a precondition that no longer holds drops the plan: `Dropped`; a guard
that says no: `Refused`), and returns a `Planned` change. `apply` writes exactly that change,
conditionally on the etag read when planning (ARM answers 412 -> `PreconditionFailed` when anyone
wrote in between: the engine re-plans once). `is_applied` / `rollback` / `rolled_back` work from the
`Intent` recorded before the write, so a later run can finish what a crashed one started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from azure.mgmt.network import NetworkManagementClient

from core.arm import Arm
from core.arm_ids import ArmId
from model.findings import Finding
from model.remediation import Change, Intent


class Refused(Exception):
    """A guard or a precondition says no: nothing is written. `reason` is one line for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Dropped(Refused):
    """The plan's precondition no longer holds (the resource is not as the diagnosis saw it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"plan dropped: {reason}")


@dataclass
class Context:
    """What an action works with: ARM under a deadline, and the gateway and incident it acts for."""

    arm: Arm
    gateway_id: str
    incident_id: str | None
    max_request_timeout: int

    @property
    def network(self) -> NetworkManagementClient:
        return self.arm.clients.network

    @property
    def gateway_names(self) -> tuple[str, str]:
        arm = ArmId.parse(self.gateway_id)
        return arm.resource_group, arm.name

    def settings_command(self, settings_name: str, change: str) -> str:
        """`az network application-gateway http-settings update ... -n <settings> <change>`."""
        group, name = self.gateway_names
        return (
            f"az network application-gateway http-settings update -g {group} --gateway-name {name} "
            f"-n {settings_name} {change}"
        )

    def read_gateway(self) -> Any:
        group, name = self.gateway_names
        return self.arm.call(self.network.application_gateways.get, group, name)

    def write_gateway(self, gateway: Any, etag: str) -> Any:
        group, name = self.gateway_names
        return self.arm.write_if_match(
            self.network.application_gateways.begin_create_or_update, group, name, gateway, etag=etag
        )


@dataclass
class Planned:
    """One change ready to apply. `body` is the resource as read when planning (with `etag`);
    `details` is what rollback needs (JSON, kept on the intent). `needs_person` is set when the only
    safe way needs a change the bot never makes itself (e.g. moving someone's rule): dry-run text."""

    action: str
    finding: Finding
    resource: str
    etag: str
    change: Change
    command: str
    undo: str
    details: dict[str, Any]
    body: Any = field(default=None, repr=False)
    needs_person: str | None = None


class Action(Protocol):
    id: str

    def plan(self, ctx: Context, finding: Finding) -> Planned:
        """Read, check preconditions and guards, and say what would change; raises Refused/Dropped."""
        ...

    def preflight(self, ctx: Context, planned: Planned) -> None:
        """Checks that need ARM to try something without changing anything; raises Refused."""
        ...

    def apply(self, ctx: Context, planned: Planned) -> dict[str, Any]:
        """Write the change conditionally; returns details to add to the intent (e.g. new etags)."""
        ...

    def is_applied(self, ctx: Context, intent: Intent) -> bool:
        """Whether the intent's change is in place now."""
        ...

    def rollback(self, ctx: Context, intent: Intent) -> None:
        """Put the previous state back, conditionally; raises Refused when someone changed it since."""
        ...

    def rolled_back(self, ctx: Context, intent: Intent) -> bool:
        """Whether the resource is as it was before the intent's change."""
        ...


def same_id(a: str | None, b: str | None) -> bool:
    return (a or "").lower() == (b or "").lower()


def child(items: Any, resource_id: str) -> Any:
    return next((item for item in items or [] if same_id(item.id, resource_id)), None)
