"""Embedded SQLite record backend for the local CLI: one file, safe across threads and processes
(each conditional write is a single statement, which SQLite runs atomically)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

from state.backend import Record, RecordChanged, RecordExists

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    tbl TEXT NOT NULL, pk TEXT NOT NULL, rk TEXT NOT NULL, etag TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (tbl, pk, rk)
)
"""


def default_state_path() -> Path:
    """`$XDG_DATA_HOME/appgw-doctor/state.db`, else `~/.local/share/appgw-doctor/state.db`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "appgw-doctor" / "state.db"


class SqliteBackend:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def get(self, table: str, partition: str, row: str) -> Record | None:
        with self._lock:
            found = self._db.execute(
                "SELECT body, etag FROM records WHERE tbl=? AND pk=? AND rk=?", (table, partition, row)
            ).fetchone()
        return Record(json.loads(found[0]), found[1], partition, row) if found else None

    def insert(self, table: str, partition: str, row: str, data: dict[str, Any]) -> str:
        etag = uuid.uuid4().hex
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO records (tbl, pk, rk, etag, body) VALUES (?, ?, ?, ?, ?)",
                    (table, partition, row, etag, json.dumps(data)),
                )
        except sqlite3.IntegrityError:
            raise RecordExists(f"{table}/{partition}/{row}") from None
        return etag

    def replace(self, table: str, partition: str, row: str, data: dict[str, Any], *, etag: str | None) -> str:
        new_etag = uuid.uuid4().hex
        body = json.dumps(data)
        with self._lock:
            if etag is None:
                self._db.execute(
                    "INSERT OR REPLACE INTO records (tbl, pk, rk, etag, body) VALUES (?, ?, ?, ?, ?)",
                    (table, partition, row, new_etag, body),
                )
                return new_etag
            changed = self._db.execute(
                "UPDATE records SET etag=?, body=? WHERE tbl=? AND pk=? AND rk=? AND etag=?",
                (new_etag, body, table, partition, row, etag),
            ).rowcount
        if changed != 1:
            raise RecordChanged(f"{table}/{partition}/{row}")
        return new_etag

    def delete(self, table: str, partition: str, row: str, *, etag: str | None) -> None:
        with self._lock:
            if etag is None:
                self._db.execute("DELETE FROM records WHERE tbl=? AND pk=? AND rk=?", (table, partition, row))
                return
            deleted = self._db.execute(
                "DELETE FROM records WHERE tbl=? AND pk=? AND rk=? AND etag=?", (table, partition, row, etag)
            ).rowcount
            exists = (
                deleted == 0
                and self._db.execute(
                    "SELECT 1 FROM records WHERE tbl=? AND pk=? AND rk=?", (table, partition, row)
                ).fetchone()
            )
        if exists:
            raise RecordChanged(f"{table}/{partition}/{row}")

    def query(self, table: str, partition: str | None) -> list[Record]:
        with self._lock:
            if partition is None:
                rows = self._db.execute(
                    "SELECT pk, rk, body, etag FROM records WHERE tbl=?", (table,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT pk, rk, body, etag FROM records WHERE tbl=? AND pk=?", (table, partition)
                ).fetchall()
        return [Record(json.loads(body), etag, pk, rk) for pk, rk, body, etag in rows]

    def scan(self, table: str, *, cursor: str | None, limit: int) -> tuple[list[Record], str | None]:
        """Pages by the primary key (tbl, pk, rk), so each page is an index range, not a table scan.
        The cursor is the next record's keys, like Table Storage's continuation token."""
        start = json.loads(cursor) if cursor else None
        with self._lock:
            if start is None:
                rows = self._db.execute(
                    "SELECT pk, rk, body, etag FROM records WHERE tbl=? ORDER BY pk, rk LIMIT ?",
                    (table, limit + 1),
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT pk, rk, body, etag FROM records WHERE tbl=? AND (pk, rk) >= (?, ?)"
                    " ORDER BY pk, rk LIMIT ?",
                    (table, start["PartitionKey"], start["RowKey"], limit + 1),
                ).fetchall()
        following = rows[limit] if len(rows) > limit else None
        records = [Record(json.loads(body), etag, pk, rk) for pk, rk, body, etag in rows[:limit]]
        return records, json.dumps(
            {"PartitionKey": following[0], "RowKey": following[1]}
        ) if following else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
