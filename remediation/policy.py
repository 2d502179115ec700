"""Who may fix what: the mode a gateway is remediated in, from the app setting `REMEDIATION`, the
gateway's tags and (for a person at the CLI) an explicit request.

- tag `appgw-doctor-remediation`: `off` (also when absent) | `dry-run` | `approve` (plan as `auto`,
  apply when a person approves) | `auto`; any other value is
  `off`, and the note says the value is not understood.
- tag `appgw-doctor-actions`: optional comma-separated allow-list of action ids.
- setting `REMEDIATION`: `tags` (follow the tags) | `dry-run` (caps every gateway at dry-run) |
  `off` (kill switch: nothing is planned or written).
- only an alert's incident is fixed automatically: a change event or the sweep shows dry-run plans
  (a person's fresh change is not for the bot to overrule before any 502 is seen).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from model.remediation import ACTION_IDS

MODE_TAG = "appgw-doctor-remediation"
ACTIONS_TAG = "appgw-doctor-actions"
OFF, DRY_RUN, APPROVE, AUTO = "off", "dry-run", "approve", "auto"
_RANK = {OFF: 0, DRY_RUN: 1, APPROVE: 2, AUTO: 3}


@dataclass(frozen=True)
class Policy:
    mode: str  # off | dry-run | auto
    allowed: frozenset[str] | None  # action ids the gateway allows (None: every action)
    note: str | None = None  # why the mode is what it is, when a person would wonder

    def allows(self, action: str) -> bool:
        return self.allowed is None or action in self.allowed


def _tag(tags: Mapping[str, str], name: str) -> str | None:
    for key, value in tags.items():
        if key.lower() == name:
            return value
    return None


def _allow_list(tags: Mapping[str, str]) -> tuple[frozenset[str] | None, str | None]:
    raw = _tag(tags, ACTIONS_TAG)
    if raw is None or not raw.strip():
        return None, None
    listed = {part.strip().lower() for part in raw.split(",") if part.strip()}
    unknown = sorted(listed - set(ACTION_IDS))
    note = (
        f"tag {ACTIONS_TAG} names unknown action(s) {', '.join(unknown)}; known: {', '.join(ACTION_IDS)}"
        if unknown
        else None
    )
    return frozenset(listed & set(ACTION_IDS)), note


def policy_for(
    setting: str,
    tags: Mapping[str, str],
    *,
    alerted: bool = True,
    requested: str | None = None,
    requested_actions: frozenset[str] | None = None,
) -> Policy:
    """The gateway's remediation policy. `requested` (dry-run | auto) is a person's explicit ask at the
    CLI: it replaces the gateway's opt-in tag (and the alert-only rule), never the kill switch."""
    allowed, list_note = _allow_list(tags)
    if requested_actions is not None:
        allowed = requested_actions if allowed is None else allowed & requested_actions
    if setting == OFF:
        return Policy(OFF, allowed, "remediation is switched off for the whole app (REMEDIATION=off)")
    notes = [list_note] if list_note else []
    if requested is not None:
        mode = requested
        notes.insert(0, f"{mode} requested by a person (the gateway's {MODE_TAG} tag does not apply)")
    else:
        raw = _tag(tags, MODE_TAG)
        value = (raw or "").strip().lower()
        if raw is None or value == OFF:
            return Policy(
                OFF,
                allowed,
                None,  # not opted in: nothing to say in every message
            )
        if value not in (DRY_RUN, APPROVE, AUTO):
            return Policy(
                OFF,
                allowed,
                f"tag {MODE_TAG} value {raw!r} is not understood (off | dry-run | approve | auto): "
                "remediation is off for this gateway",
            )
        mode = value
        notes.insert(0, f"gateway tag {MODE_TAG}={value}")
        if mode in (APPROVE, AUTO) and not alerted:
            mode = DRY_RUN
            notes.append("fixes are applied for an alert's incident only; this diagnosis shows the plans")
    if setting == DRY_RUN and _RANK[mode] > _RANK[DRY_RUN]:
        mode = DRY_RUN
        notes.append("capped at dry-run by the app setting REMEDIATION=dry-run")
    return Policy(mode, allowed, "; ".join(notes) or None)


def approval_tagged(tags: Mapping[str, str]) -> bool:
    """The gateway's tag asks for approvals (its pending ones are kept in step with its diagnoses)."""
    return (_tag(tags, MODE_TAG) or "").strip().lower() == APPROVE
