"""SDK values as ARM writes them: one normaliser for the rules, the checks and the snapshot.

SDK models hand back enum members for some fields (e.g. `SecurityRuleProtocol.TCP`, whose
`str()` is not the wire value) and plain strings for others; everything here compares the wire
value, case-insensitively, as Azure does.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


def wire(value: Any) -> str:
    """The wire (ARM JSON) spelling of an enum member or string; "" for None."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def folded(value: Any) -> str:
    """`wire(value)` lower-cased and stripped, for case-insensitive comparison."""
    return wire(value).strip().lower()
