"""What a check is, and the small helpers every check shares.

A check is a pure function `Snapshot -> list[Finding]` with a name and the finding codes it can
raise, registered once in `diagnostics.checks.CHECKS`. It never does I/O. It raises
`MissingData` (from `diagnostics.snapshot`) when a piece it needs could not be collected, and
`NotApplicable` when the gateway has nothing for it to look at; the engine turns both into a
per-check status instead of "no problem found".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from core.arm_ids import ArmId, name_of
from core.sdk_values import wire
from diagnostics.snapshot import MissingData, Snapshot
from model.findings import Finding


class NotApplicable(Exception):
    """The check has nothing to examine on this gateway (e.g. no HTTPS settings)."""


class Findings(list[Finding]):
    """A check's findings with a note on what it could only partly examine; the engine reports the
    note as the check's reason, so a pass that left something out says what."""

    def __init__(self, findings: Iterable[Finding] = (), *, note: str = "") -> None:
        super().__init__(findings)
        self.note = note


@dataclass(frozen=True)
class Check:
    name: str  # kebab-case, stable: it names the check in reports and the audit log
    codes: tuple[str, ...]
    run: Callable[[Snapshot], list[Finding]]


def same(value: Any, expected: str) -> bool:
    """Case-insensitive comparison of an SDK enum/str against its wire spelling."""
    return wire(value).lower() == expected.lower()


TITLE_LIST_LIMIT = 3


def listed(items: Iterable[str], limit: int = TITLE_LIST_LIMIT) -> str:
    """Names for a one-line title: `a, b` or, past `limit`, `a, b, c and 22 more` (duplicates dropped).

    Titles are read at a glance; the full list belongs in the finding's evidence.
    """
    unique = list(dict.fromkeys(items))
    if len(unique) <= limit:
        return ", ".join(unique)
    return f"{', '.join(unique[:limit])} and {len(unique) - limit} more"


def need(snapshot: Snapshot, piece: str, what: str) -> Any:
    """`snapshot.require(piece)`, also treating a piece that is simply absent as missing."""
    value = snapshot.require(piece)
    if value is None:
        raise MissingData(f"{piece}: {what} was not collected")
    return value


def collected(snapshot: Snapshot, piece: str, value: Any, what: str) -> Any:
    """One item of a piece that is collected per resource (an NSG of `nsgs`, a metric of `metrics`).

    Other items of the piece may have failed without this one being affected, so only an absent
    item raises MissingData, with the piece's recorded failures as the reason when there are any.
    """
    if value is not None:
        return value
    if piece in snapshot.errors:
        raise MissingData(f"{piece}: {what} was not collected ({snapshot.errors[piece]})")
    raise MissingData(f"{piece}: {what} was not collected")


def missing_reason(snapshot: Snapshot, piece: str, resource_id: str | None, what: str) -> str:
    """`<name>: <why>` for one resource of a per-resource piece that was not collected: its entry in
    `errors[piece]` (`name: reason; name: reason`), else the piece's whole reason, else "not collected"."""
    name = name_of(resource_id or "")
    recorded = snapshot.errors.get(piece, "")
    entry = next((item for item in recorded.split("; ") if item.lower().startswith(f"{name.lower()}:")), None)
    if entry is not None:
        return f"{what} {entry}"
    return f"{what} {name}: not collected ({recorded})" if recorded else f"{what} {name}: not collected"


def gateway_cli(snapshot: Snapshot) -> str:
    """`-g RG --gateway-name GW`, the arguments every `az network application-gateway <child>` takes."""
    arm = ArmId.parse(snapshot.gateway_id)
    return f"-g {arm.resource_group} --gateway-name {arm.name}"
