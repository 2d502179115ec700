"""Fixtures for the Functions app tests (helpers live in harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.azurite import AzuriteInstance, azurite  # noqa: F401  (registers the session fixture)
from tests.entra import entra_tenant  # noqa: F401
from tests.functions.harness import SETTINGS, SUBSCRIPTION, AppEnvironment, user_functions


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, azurite: AzuriteInstance) -> Iterator[AppEnvironment]:  # noqa: F811
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    prefix = azurite.unique_prefix()
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("STATE_TABLE_PREFIX", prefix)
    monkeypatch.setenv("ALLOWED_SUBSCRIPTIONS", SUBSCRIPTION)
    monkeypatch.setenv("ARM_POLLING_INTERVAL", "0.05")
    environment = AppEnvironment(monkeypatch, azurite, prefix)
    yield environment
    environment.close()


@pytest.fixture(scope="session")
def functions() -> dict[str, Callable[..., Any]]:
    return user_functions()
