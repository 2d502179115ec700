"""The Azure SDK clients, built one way for Azure and for the local simulator.

Against Azure: DefaultAzureCredential (az login, managed identity, ...). Against the simulator:
its HTTPS endpoint as `base_url`, its test CA as `connection_verify`, and a static bearer token
(the simulator checks only that one is sent, as ARM checks that one is valid).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.network import NetworkManagementClient

ARM_ENDPOINT = "https://management.azure.com"


class StaticTokenCredential(TokenCredential):
    """A bearer token for the local simulator; never used against Azure."""

    def __init__(self, token: str = "simulator-token") -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


@dataclass(frozen=True)
class ArmTarget:
    """Where ARM is: Azure itself, or a simulator (endpoint + CA bundle)."""

    endpoint: str = ARM_ENDPOINT
    ca_cert: str | None = None

    @property
    def is_simulator(self) -> bool:
        return self.endpoint != ARM_ENDPOINT


@dataclass
class AzureClients:
    network: NetworkManagementClient
    monitor: MonitorManagementClient

    def close(self) -> None:
        self.network.close()
        self.monitor.close()


def make_clients(
    subscription_id: str,
    *,
    target: ArmTarget | None = None,
    credential: TokenCredential | None = None,
    polling_interval: float = 1.0,
    **client_options: Any,
) -> AzureClients:
    """Clients for one subscription. `polling_interval` replaces the SDK's 30 s default so a
    diagnosis does not sit idle between long-running-operation polls (Retry-After still wins)."""
    target = target or ArmTarget()
    if credential is None:
        if target.is_simulator:
            credential = StaticTokenCredential()
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
    options: dict[str, Any] = {"polling_interval": polling_interval, **client_options}
    if target.is_simulator:
        options["base_url"] = target.endpoint
        if target.ca_cert:
            options["connection_verify"] = target.ca_cert
    return AzureClients(
        network=NetworkManagementClient(credential, subscription_id, **options),
        monitor=MonitorManagementClient(credential, subscription_id, **options),
    )
