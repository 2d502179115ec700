"""The configuration of each gateway's path when a diagnosis last found it healthy (issue 14), so an
incident's diagnosis can say what changed since, property by property, even where the Activity Log
is not readable or has aged out.

Table `lasthealthy` (created on first use, like the store's): partition digest(gateway id), one row.
The record is `{"gatewayId", "at", "configuration"}`, where the configuration is the plain JSON
`diagnostics.changes.configuration` builds (`{"version", "gateway", "at", "resources": [...]}`,
resources most important first). It is bounded to MAX_CONFIGURATION_CHARS, within the store's
record limit: resources that do not fit are dropped from the end (`truncated`: true, so a diff
does not call a resource missing from it new or removed), and a resource too large on its own keeps
its properties without its children (its id listed in `partial`). Newest diagnosis wins: a record
is replaced only by one at least as recent, conditionally on its ETag.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.iso8601 import as_utc
from state.backend import RecordBackend, RecordChanged, RecordExists, StateError
from state.store import MAX_RECORD_CHARS, StateStore, digest

LAST_HEALTHY = "lasthealthy"
_ONE = "0"
# Room left in a record for its keys and the envelope around the configuration.
MAX_CONFIGURATION_CHARS = MAX_RECORD_CHARS - 10_000
_ATTEMPTS = 20


def size(value: Any) -> int:
    """Characters of `value` as the backends store it (compact JSON)."""
    return len(json.dumps(value, separators=(",", ":")))


def bounded_configuration(
    configuration: dict[str, Any], limit: int = MAX_CONFIGURATION_CHARS
) -> dict[str, Any]:
    """`configuration` within `limit` characters: resources kept in order while they fit; one that
    does not fit is kept without its `children` when that fits (its id in `partial`), else left
    out (and the configuration marked `truncated`)."""
    if size(configuration) <= limit:
        return configuration
    resources = [r for r in configuration.get("resources") or [] if isinstance(r, dict)]
    envelope = {k: v for k, v in configuration.items() if k not in ("resources", "partial", "truncated")}
    used = size({**envelope, "resources": [], "truncated": True, "partial": []})
    kept: list[dict[str, Any]] = []
    partial: list[str] = []
    for resource in resources:
        cost = size(resource) + 1
        if used + cost <= limit:
            kept.append(resource)
            used += cost
            continue
        slim = {k: v for k, v in resource.items() if k != "children"}
        cost = size(slim) + 1 + size(str(resource.get("id"))) + 1
        if used + cost <= limit:
            kept.append(slim)
            partial.append(str(resource.get("id")))
            used += cost
    return {**envelope, "resources": kept, "truncated": True, "partial": partial}


class LastHealthyStore:
    """The last healthy configuration per gateway, over a record backend. Share the backend of the
    pipeline's StateStore (`LastHealthyStore.for_store(store)`)."""

    def __init__(self, backend: RecordBackend) -> None:
        self._backend = backend

    @classmethod
    def for_store(cls, store: StateStore) -> LastHealthyStore:
        return cls(store._backend)

    def get(self, gateway_id: str) -> dict[str, Any] | None:
        """The configuration stored for `gateway_id` (case-insensitive), or None."""
        record = self._backend.get(LAST_HEALTHY, digest(gateway_id), _ONE)
        if record is None:
            return None
        configuration = record.data.get("configuration")
        return configuration if isinstance(configuration, dict) else None

    def save(self, gateway_id: str, configuration: dict[str, Any], *, at: datetime) -> bool:
        """Store `configuration` (bounded) as the gateway's last healthy one, seen healthy at `at`,
        unless a record of a later diagnosis is there already (newest wins). True when stored."""
        moment = as_utc(at)
        data = {
            "gatewayId": gateway_id,
            "at": moment.isoformat(),
            "configuration": bounded_configuration(configuration),
        }
        if size(data) > MAX_RECORD_CHARS:
            raise StateError(f"last healthy configuration of {size(data)} characters does not fit a record")
        partition = digest(gateway_id)
        for _ in range(_ATTEMPTS):
            current = self._backend.get(LAST_HEALTHY, partition, _ONE)
            try:
                if current is None:
                    self._backend.insert(LAST_HEALTHY, partition, _ONE, data)
                    return True
                stored_at = current.data.get("at")
                if isinstance(stored_at, str) and datetime.fromisoformat(stored_at) > moment:
                    return False  # a later diagnosis' configuration stays
                self._backend.replace(LAST_HEALTHY, partition, _ONE, data, etag=current.etag)
                return True
            except (RecordExists, RecordChanged):
                continue  # another instance wrote meanwhile: compare with theirs
        raise StateError(f"could not store the last healthy configuration after {_ATTEMPTS} attempts")
