"""SDK values as ARM writes them: one normaliser for the rules, the checks and the snapshot.

SDK models hand back enum members for some fields (e.g. `SecurityRuleProtocol.TCP`, whose
`str()` is not the wire value) and plain strings for others; everything here compares the wire
value, case-insensitively, as Azure does.
"""

from __future__ import annotations

from collections.abc import Mapping
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


_NO_FIELDS: Mapping[str, Any] = {}


def json_fields(item: Any) -> Mapping[str, Any]:
    """An ARM JSON object's fields by their wire names: the plain dict itself, or the wire JSON an SDK
    model holds (azure-mgmt-network's models keep it, `_data`, and are mappings of it). Reading a field
    this way gives the wire value as ARM sent it (an enum as its string, a nested object as its model
    or dict), where reading the model's attribute deserializes it anew on every access; the model's
    own mapping reads check for attribute reads that changed a value first, which costs more than
    the read. Anything else (None, a malformed element) has no fields."""
    if type(item) is dict:  # plain JSON, the commonest case: first
        return item
    data = getattr(item, "_data", None)
    if isinstance(data, dict):
        return data
    return item if isinstance(item, Mapping) else _NO_FIELDS


def json_properties(item: Any) -> Mapping[str, Any]:
    """The `properties` of an ARM JSON object (see `json_fields`), empty when it has none."""
    return json_fields(json_fields(item).get("properties"))
