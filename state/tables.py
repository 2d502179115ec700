"""Azure Table Storage record backend (`azure-data-tables`).

Each record is one entity: the JSON data split over string properties `d0`, `d1`, ... (a property
holds at most 64 KiB), plus the service's ETag. Conditional writes use `MatchConditions.IfNotModified`,
so a lease or claim is taken over by at most one worker.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from state.backend import Record, RecordChanged, RecordExists, StateError

_CHUNK = 30_000  # characters; stored as UTF-16, so < 64 KiB per property
_MAX_CHUNKS = 15  # entities are limited to 1 MiB


class TableBackend:
    def __init__(self, service: TableServiceClient, *, prefix: str = "appgwdoctor") -> None:
        if not prefix.isalnum() or not prefix[:1].isalpha():
            raise ValueError(f"table prefix must be letters and digits, starting with a letter: {prefix!r}")
        self._service = service
        self._prefix = prefix
        self._tables: dict[str, TableClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_connection_string(cls, connection_string: str, *, prefix: str = "appgwdoctor") -> TableBackend:
        return cls(TableServiceClient.from_connection_string(connection_string), prefix=prefix)

    @classmethod
    def from_endpoint(
        cls, endpoint: str, credential: TokenCredential, *, prefix: str = "appgwdoctor"
    ) -> TableBackend:
        """For a managed identity: `https://<account>.table.core.windows.net` and a TokenCredential."""
        return cls(TableServiceClient(endpoint=endpoint, credential=credential), prefix=prefix)

    def _table(self, name: str) -> TableClient:
        with self._lock:
            client = self._tables.get(name)
            if client is None:
                client = self._service.get_table_client(f"{self._prefix}{name}")
                try:
                    client.create_table()
                except ResourceExistsError:
                    pass
                self._tables[name] = client
            return client

    def get(self, table: str, partition: str, row: str) -> Record | None:
        """A point read (GET of the entity's URI), which the service answers from its key index."""
        try:
            return _record(self._table(table).get_entity(partition, row))
        except ResourceNotFoundError:
            return None

    def insert(self, table: str, partition: str, row: str, data: dict[str, Any]) -> str:
        try:
            answer = self._table(table).create_entity(_entity(partition, row, data))
        except ResourceExistsError:
            raise RecordExists(f"{table}/{partition}/{row}") from None
        return str(answer["etag"])

    def replace(self, table: str, partition: str, row: str, data: dict[str, Any], *, etag: str | None) -> str:
        entity = _entity(partition, row, data)
        client = self._table(table)
        if etag is None:
            return str(client.upsert_entity(entity, mode=UpdateMode.REPLACE)["etag"])
        try:
            answer = client.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as error:
            if error.status_code in (404, 412):
                raise RecordChanged(f"{table}/{partition}/{row}") from None
            raise
        return str(answer["etag"])

    def delete(self, table: str, partition: str, row: str, *, etag: str | None) -> None:
        client = self._table(table)
        try:
            if etag is None:
                client.delete_entity(partition, row)
            else:
                client.delete_entity(partition, row, etag=etag, match_condition=MatchConditions.IfNotModified)
        except HttpResponseError as error:
            if error.status_code == 412:
                raise RecordChanged(f"{table}/{partition}/{row}") from None
            raise

    def query(self, table: str, partition: str | None) -> list[Record]:
        client = self._table(table)
        if partition is None:
            entities = client.list_entities()
        else:
            entities = client.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
        return [_record(e) for e in entities]

    def scan(self, table: str, *, cursor: str | None, limit: int) -> tuple[list[Record], str | None]:
        """One service request; the cursor is the service's continuation (next partition and row key)."""
        pages = (
            self._table(table)
            .list_entities(results_per_page=limit)
            .by_page(continuation_token=json.loads(cursor) if cursor else None)
        )
        page = next(pages, None)
        records = [_record(e) for e in page] if page is not None else []
        token = pages.continuation_token  # type: ignore[attr-defined]
        return records, json.dumps(token) if token else None

    def close(self) -> None:
        with self._lock:
            for client in self._tables.values():
                client.close()
            self._service.close()


def _entity(partition: str, row: str, data: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(data, separators=(",", ":"))
    chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
    if len(chunks) > _MAX_CHUNKS:
        raise StateError(f"record of {len(text)} characters is too large for a table entity")
    return {"PartitionKey": partition, "RowKey": row, **{f"d{i}": chunk for i, chunk in enumerate(chunks)}}


def _record(entity: Any) -> Record:
    text = "".join(entity[f"d{i}"] for i in range(_MAX_CHUNKS) if f"d{i}" in entity)
    return Record(
        json.loads(text), str(entity.metadata["etag"]), str(entity["PartitionKey"]), str(entity["RowKey"])
    )
