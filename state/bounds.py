"""Keep what a record stores within a size budget, so a record always fits its backend (a Table
Storage entity holds at most 1 MiB, 64 KiB per property) however much a diagnosis finds.

Findings are kept most severe first, as a prefix of the severity order (nothing is kept while a more
severe finding is left out), each capped on its own (an oversized `evidence` is replaced by a note);
what does not fit is counted, not stored.
"""

from __future__ import annotations

import json
from typing import Any

# Characters of compact JSON: the 60 findings of a gateway at Azure's limits (100 pools of 10 servers,
# every 5th pool failing) take 224,000; with the keys and checks a record stays within the 450,000 a
# table entity holds (state.tables).
FINDINGS_BUDGET = 280_000
FINDING_LIMIT = 20_000  # one finding's characters; above it its evidence is dropped
TEXT_LIMIT = 2_000  # a check's reason
KEYS_BUDGET = 60_000  # finding keys (code, resource) kept besides the findings
_RANK = {"critical": 0, "warning": 1, "info": 2}


def size(value: Any) -> int:
    """Characters of `value` as the backends store it (compact JSON, ASCII-escaped)."""
    return len(json.dumps(value, separators=(",", ":")))


def bounded_findings(
    findings: list[dict[str, Any]], budget: int = FINDINGS_BUDGET
) -> tuple[list[dict[str, Any]], int]:
    """The findings to store (in their original order) and how many were left out."""
    capped = [_capped(finding) for finding in findings]
    by_severity = sorted(range(len(capped)), key=lambda i: _RANK.get(str(capped[i].get("severity")), 3))
    kept: set[int] = set()
    used = 2  # the list's brackets
    for index in by_severity:
        cost = size(capped[index]) + 1
        if used + cost > budget:
            break
        kept.add(index)
        used += cost
    return [capped[i] for i in sorted(kept)], len(findings) - len(kept)


def bounded_checks(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checks are small (name, status, reason); only an overlong reason is cut."""
    return [
        {**check, "reason": check["reason"][:TEXT_LIMIT]} if isinstance(check.get("reason"), str) else check
        for check in checks
    ]


def _capped(finding: dict[str, Any]) -> dict[str, Any]:
    if size(finding) <= FINDING_LIMIT:
        return finding
    note = {"truncated": f"evidence of {size(finding.get('evidence'))} characters not stored"}
    smaller = {**finding, "evidence": note}
    for name in ("title", "detail", "description"):
        if isinstance(smaller.get(name), str):
            smaller[name] = smaller[name][:TEXT_LIMIT]
    return smaller


def bounded_keys(keys: list[tuple[str, str]], budget: int = KEYS_BUDGET) -> list[tuple[str, str]]:
    """Finding keys (code, resource), deduplicated, as many as fit the budget."""
    kept: list[tuple[str, str]] = []
    used = 2
    for key in dict.fromkeys(keys):
        used += size(list(key)) + 1
        if used > budget:
            break
        kept.append(key)
    return kept
