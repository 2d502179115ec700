"""What a message shows when it cannot show everything (issue 11).

Every channel has a byte budget: the Teams post (`teams.PAYLOAD_BUDGET`, under Workflows' 28 KB
limit) and each part of the email (`email.PART_BUDGET`). Whatever a diagnosis found, a rendering
stays within it by the same three means, all kept here:

- a text longer than its field is `cut` (and ends with `…`);
- a list longer than a few items is `listed`: the first ones, then `and N more`;
- the findings (worst first) are shown in tiers (`select`): the first ones in full (evidence, fix,
  command), the next ones as one line each, the rest counted by `more_findings`, which says how
  many of each severity were left out and where the full list is. Checks that could not run and
  remediation actions (`model.remediation.ActionResult`, one block each) are shown as far as they
  fit and the rest counted the same way (`and N more remediation statuses not shown.`).

A rendering is bounded by construction: the channel first renders its frame with nothing selected
(every "N more" line then at its longest), then `select` spends what the budget has left on exact
costs (the bytes each shown item adds to the rendering), in priority order: the top findings in
full, the checks that could not run, the remediation statuses, then the one-line findings. What is
shown is always a prefix, worst first: nothing is shown after something left out.

Only renderings are bounded. The findings themselves are never cut: the pipeline records each one
whole (`Finding.to_dict`) with its incident or diagnosis, and that record is "the full list".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from model.findings import Severity
from model.remediation import ActionResult

if TYPE_CHECKING:
    from notifications.content import CheckLine, FindingLine, IncidentMessage

T = TypeVar("T")
CLI = "appgw-doctor"
LINK_MAX = 2_048  # characters of a link a message shows; a longer one is left out, not cut


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit - 1` characters and an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listed(items: Sequence[str], limit: int, *, separator: str = ", ") -> str:
    """`a, b, c and 2 more`: the first `limit` items, the rest counted."""
    if len(items) <= limit:
        return separator.join(items)
    return f"{separator.join(items[:limit])} and {len(items) - limit} more"


def count(number: int, noun: str) -> str:
    """`1 finding`, `3 findings`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


@dataclass
class Budget:
    """Bytes a rendering has left; spent only on what fits."""

    left: int

    def fit(
        self, items: Sequence[T], cost: Callable[[T], int], *, limit: int
    ) -> tuple[tuple[T, ...], tuple[T, ...]]:
        """(shown, hidden): the longest prefix of `items`, at most `limit` long, whose costs fit, spent."""
        shown = 0
        for item in items[:limit]:
            price = cost(item)
            if price > self.left:
                break
            self.left -= price
            shown += 1
        return tuple(items[:shown]), tuple(items[shown:])


@dataclass(frozen=True)
class Limits:
    """How much of each list a channel shows at most, budget permitting."""

    full: int  # findings in full
    lines: int  # findings after those, one line each
    checks: int  # checks that could not run, each with its reason
    actions: int  # remediation actions (one block each)


@dataclass(frozen=True)
class Costs:
    """The bytes one shown item adds to a channel's rendering, by what it is and how it is shown."""

    full: Callable[[FindingLine], int]
    line: Callable[[FindingLine], int]
    check: Callable[[CheckLine], int]
    action: Callable[[ActionResult], int]


@dataclass(frozen=True)
class Selection:
    """What a rendering shows of a message's lists, and what it only counts."""

    full: tuple[FindingLine, ...]
    lines: tuple[FindingLine, ...]
    hidden: tuple[FindingLine, ...]
    checks: tuple[CheckLine, ...]
    hidden_checks: tuple[CheckLine, ...]
    actions: tuple[ActionResult, ...]
    hidden_actions: tuple[ActionResult, ...]

    @classmethod
    def nothing(cls, message: IncidentMessage) -> Selection:
        """Every list counted, none shown: the frame of a rendering, with its "N more" lines longest."""
        return cls((), (), message.findings, (), message.checks_not_run, (), message.actions)


def select(message: IncidentMessage, room: int, limits: Limits, costs: Costs) -> Selection:
    """What fits in `room` bytes besides the frame (`Selection.nothing`), most needed first."""
    budget = Budget(room)
    full, rest = budget.fit(message.findings, costs.full, limit=limits.full)
    checks, hidden_checks = budget.fit(message.checks_not_run, costs.check, limit=limits.checks)
    actions, hidden_actions = budget.fit(message.actions, costs.action, limit=limits.actions)
    lines, hidden = budget.fit(rest, costs.line, limit=limits.lines)
    return Selection(full, lines, hidden, checks, hidden_checks, actions, hidden_actions)


def more_findings(message: IncidentMessage, hidden: Sequence[FindingLine], *, record_link_apart: bool) -> str:
    """`and 45 more findings not shown (5 critical, 40 warning); the full list is in the incident
    record: <url>`. `record_link_apart`: the rendering shows the record's link as a button of its own."""
    counts = ", ".join(
        f"{sum(1 for f in hidden if f.severity is s)} {s.value}"
        for s in Severity
        if any(f.severity is s for f in hidden)
    )
    where = _full_list(message, record_link_apart)
    return f"and {count(len(hidden), 'more finding')} not shown ({counts}); {where}"


def more_items(number: int, noun: str) -> str:
    """`and 3 more checks that could not run not shown.`"""
    return f"and {number} more {noun} not shown."


def _full_list(message: IncidentMessage, record_link_apart: bool) -> str:
    """Where every finding is: the incident record when it has a link (and kept them all), else the
    recorded incident or diagnosis, and the command that lists every finding of the gateway."""
    command = f"`{CLI} diagnose --gateway {cut(message.gateway.id, 400)}` lists every finding."
    if message.findings_not_recorded:
        return (
            f"the incident record keeps the most severe ({message.findings_not_recorded} did not fit its "
            f"size limit); {command}"
        )
    if message.record_url and len(message.record_url) <= LINK_MAX:
        where = "the Incident record link below" if record_link_apart else message.record_url
        return f"the full list is in the incident record ({where})."
    recorded = f"incident {message.incident_id}" if message.incident_id else f"diagnosis {message.message_id}"
    return f"the full list is recorded with {cut(recorded, 120)}; {command}"
