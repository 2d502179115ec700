"""The remediation actions, one module each, registered here (docs/FINDINGS.md action ids)."""

from __future__ import annotations

from remediation.actions.base import Action, Context, Dropped, Planned, Refused
from remediation.actions.nsg_rule import AddNsgAllowRule
from remediation.actions.reattach_probe import ReattachProbe
from remediation.actions.request_timeout import RaiseRequestTimeout

ACTIONS: dict[str, Action] = {
    action.id: action for action in (AddNsgAllowRule(), RaiseRequestTimeout(), ReattachProbe())
}

__all__ = ["ACTIONS", "Action", "Context", "Dropped", "Planned", "Refused"]
