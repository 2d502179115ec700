"""The record interface a state backend implements: rows of JSON data in named tables, addressed by
(partition, row), with ETag-conditional replace and delete. Everything else lives in StateStore."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class RecordExists(Exception):
    """insert() found a record under that key."""


class RecordChanged(Exception):
    """A conditional write lost: the record's ETag differs (someone else wrote it) or it is gone."""


class StateError(Exception):
    """The state backend could not do what was asked (e.g. a record too large to store)."""


@dataclass(frozen=True)
class Record:
    data: dict[str, Any]
    etag: str
    partition: str = ""  # the record's keys, as stored
    row: str = ""


class RecordBackend(Protocol):
    def get(self, table: str, partition: str, row: str) -> Record | None: ...

    def insert(self, table: str, partition: str, row: str, data: dict[str, Any]) -> str:
        """Create the record and return its ETag; RecordExists if there is one already."""
        ...

    def replace(self, table: str, partition: str, row: str, data: dict[str, Any], *, etag: str | None) -> str:
        """Write the record. With `etag`, only if it is unchanged (else RecordChanged); without, upsert."""
        ...

    def delete(self, table: str, partition: str, row: str, *, etag: str | None) -> None:
        """Remove the record (no-op if absent). With `etag`, only if unchanged (else RecordChanged)."""
        ...

    def query(self, table: str, partition: str | None) -> list[Record]:
        """All records of a partition, or of the whole table when `partition` is None."""
        ...

    def scan(self, table: str, *, cursor: str | None, limit: int) -> tuple[list[Record], str | None]:
        """One page of the table in key order (partition, then row): up to `limit` records from
        `cursor` (None: from the start), and the cursor where the next page starts (None: at the end).
        A page may hold fewer than `limit` records (Table Storage may even return none) before the end."""
        ...

    def close(self) -> None: ...
