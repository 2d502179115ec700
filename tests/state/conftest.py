"""Every state test runs against both backends: Azure Table Storage (on Azurite) and SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from state import StateStore
from state.backend import RecordBackend
from state.sqlite import SqliteBackend
from state.tables import TableBackend
from tests.azurite import azurite  # noqa: F401  (registers the session fixture)


@pytest.fixture(params=["tables", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[RecordBackend]:
    if request.param == "tables":
        instance = request.getfixturevalue("azurite")
        backend: RecordBackend = TableBackend.from_connection_string(
            instance.connection_string, prefix=instance.unique_prefix()
        )
    else:
        backend = SqliteBackend(tmp_path / "state.db")
    yield backend
    backend.close()


@pytest.fixture
def store(backend: RecordBackend) -> StateStore:
    """The store over `backend` (a test may also write records as a dying worker would leave them)."""
    return StateStore(backend)
