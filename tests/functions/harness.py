"""Calling the Functions app's entry points the way the host does: user functions taken from
`function_app.app.get_functions()` (which may be called once per app, so it is cached here), fed
`azure.functions` request/message/event objects, with app settings in the environment, state on
Azurite and ARM served by the simulator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessageOutConverter

import function_app
from simulator import Simulator
from state import StateStore
from state.tables import TableBackend
from tests.azurite import AzuriteInstance

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
SETTINGS = (
    "ALLOWED_SUBSCRIPTIONS", "SWEEP_SUBSCRIPTIONS", "AzureWebJobsStorage", "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__tableServiceUri", "STATE_STORAGE_CONNECTION", "STATE_TABLE_ENDPOINT",
    "STATE_TABLE_PREFIX", "SECURE_WEBHOOK_TENANT_ID", "SECURE_WEBHOOK_AUDIENCE", "SECURE_WEBHOOK_JWKS_URL",
    "ARM_ENDPOINT", "ARM_CA_BUNDLE", "ARM_POLLING_INTERVAL", "DNS_SERVER_MAP", "LEASE_SECONDS",
    "INCIDENT_JOIN_HOURS", "APPLICATIONINSIGHTS_CONNECTION_STRING",
)  # fmt: skip


class OutputBinding(func.Out):
    """What the host hands a function for an output binding: holds the value the function sets."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


@dataclass
class AppEnvironment:
    monkeypatch: pytest.MonkeyPatch
    azurite: AzuriteInstance
    prefix: str
    _stores: list[StateStore] = field(default_factory=list)

    def point_at(self, sim: Simulator) -> None:
        """Send the app's ARM calls (and custom-DNS queries) to a simulator."""
        self.monkeypatch.setenv("ARM_ENDPOINT", sim.endpoint)
        self.monkeypatch.setenv("ARM_CA_BUNDLE", sim.ca_cert)
        dns = ",".join(f"{ip}={host}:{port}" for ip, (host, port) in sim.dns_servers.items())
        self.monkeypatch.setenv("DNS_SERVER_MAP", dns)

    def set(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)

    def store(self) -> StateStore:
        """The app's state, read through its own StateStore (same tables)."""
        store = StateStore(
            TableBackend.from_connection_string(self.azurite.connection_string, prefix=self.prefix)
        )
        self._stores.append(store)
        return store

    def close(self) -> None:
        for store in self._stores:
            store.close()


@functools.cache
def registered_functions() -> tuple[Any, ...]:
    return tuple(function_app.app.get_functions())


def user_functions() -> dict[str, Callable[..., Any]]:
    """Function name -> the user code the host would invoke."""
    return {f.get_function_name(): f.get_user_function() for f in registered_functions()}


def post_alert(functions: dict[str, Callable[..., Any]], body: bytes, headers: dict[str, str] | None = None):
    """POST /api/alerts; returns (response, queue messages the function emitted or None)."""
    work = OutputBinding()
    request = func.HttpRequest(
        method="POST",
        url="/api/alerts",
        body=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    response = functions["alert_webhook"](request, work)
    messages = work.get()
    if messages is not None:
        QueueMessageOutConverter.encode(messages, expected_type=list)  # what the host would enqueue
    return response, messages


def run_queue(functions: dict[str, Callable[..., Any]], messages: list[str] | None) -> None:
    for number, body in enumerate(messages or []):
        functions["process_work"](func.QueueMessage(id=f"m{number}", body=body.encode()))
