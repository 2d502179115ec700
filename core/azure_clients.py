"""The Azure SDK clients, built one way for Azure and for the local simulator.

Against Azure: DefaultAzureCredential (az login, managed identity, ...). Against the simulator:
its HTTPS endpoint as `base_url`, its test CA as `connection_verify`, and a static bearer token
(the simulator checks only that one is sent, as ARM checks that one is valid).
"""

from __future__ import annotations

import os
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import DefaultAzureCredential
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.network import NetworkManagementClient
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context

ARM_ENDPOINT = "https://management.azure.com"
# Seconds between long-running-operation polls when ARM names no Retry-After (the SDK's default, 30 s,
# would dominate a diagnosis).
POLLING_INTERVAL = 0.25

# Concurrent requests one client can keep open: a diagnosis's 16 reads and its up to 65 long-running
# operations at once (diagnostics.collect's DEFAULT_WORKERS and OPERATION_WORKERS), wider than
# requests' default of 10.
CONNECTION_POOL_SIZE = 96


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


class CallCountingPolicy(SansIOHTTPPolicy):
    """Counts every HTTP request the clients send, each SDK retry and each long-running-operation
    poll included (it sits after the SDK's RetryPolicy, via the documented `per_retry_policies`).

    An operation called with the keyword `arm_call_observer=<callable>` also reports each of its
    requests to that callable, so one diagnosis can count its own calls on shared clients.
    """

    OBSERVER_OPTION = "arm_call_observer"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0

    def on_request(self, request: PipelineRequest[Any]) -> None:
        context = request.context
        observer: Callable[[Any], None] | None = context.options.pop(self.OBSERVER_OPTION, None)
        if observer is not None:  # keep it for retried attempts; the transport must not see it
            context[self.OBSERVER_OPTION] = observer
        observer = context.get(self.OBSERVER_OPTION)
        with self._lock:
            self.total += 1
        if observer is not None:
            observer(request.http_request)


@dataclass
class AzureClients:
    network: NetworkManagementClient
    monitor: MonitorManagementClient
    # Set when the clients were built with the policy installed (make_clients); None otherwise.
    call_counter: CallCountingPolicy | None = None
    credential: TokenCredential | None = None  # who the clients act as (remediation's audit names it)
    # What the clients were built with, for a polling method made outside an operation (core.arm)
    endpoint: str = ARM_ENDPOINT
    polling_interval: float = POLLING_INTERVAL

    def close(self) -> None:
        self.network.close()
        self.monitor.close()


def make_clients(
    subscription_id: str,
    *,
    target: ArmTarget | None = None,
    credential: TokenCredential | None = None,
    polling_interval: float = POLLING_INTERVAL,
    **client_options: Any,
) -> AzureClients:
    """Clients for one subscription. `polling_interval` replaces the SDK's 30 s default so a
    diagnosis does not sit idle between long-running-operation polls (Retry-After still wins)."""
    target = target or ArmTarget()
    if credential is None:
        if target.is_simulator:
            credential = StaticTokenCredential()
        else:
            credential = DefaultAzureCredential()
    counter = CallCountingPolicy()
    options: dict[str, Any] = {"polling_interval": polling_interval, **client_options}
    options["per_retry_policies"] = [*options.get("per_retry_policies", []), counter]
    if target.is_simulator:
        options["base_url"] = target.endpoint
        if target.ca_cert:
            options["connection_verify"] = target.ca_cert
    return AzureClients(
        network=NetworkManagementClient(credential, subscription_id, transport=_pooled(options), **options),
        monitor=MonitorManagementClient(credential, subscription_id, transport=_pooled(options), **options),
        call_counter=counter,
        credential=credential,
        endpoint=target.endpoint,
        polling_interval=polling_interval,
    )


# What requests reads from the environment when it trusts it: proxies (and who bypasses them), CA
# bundles (for requests that verify against the default CAs), and a .netrc's credentials.
_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def environment_configures_requests(*, own_ca: bool = False) -> bool:
    """Whether the environment holds anything requests would read from it: a proxy, a .netrc, or a
    CA bundle (ignored when the clients verify against a CA of their own, `own_ca`). When it trusts
    the environment, requests looks for them again on every request (it scans every environment
    variable twice: a sixth of the clients' CPU per request here, more on a Functions host with its
    app settings); with nothing there to find, not trusting it changes nothing else."""
    if urllib.request.getproxies() or os.environ.get("NETRC"):
        return True
    if not own_ca and any(os.environ.get(name) for name in _CA_BUNDLE_VARIABLES):
        return True
    return any(os.path.exists(os.path.expanduser(f"~/{name}")) for name in (".netrc", "_netrc"))


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS context connections verifying with requests' `verify` value share: True trusts
    requests' CA bundle (certifi's), a path the bundle file or directory there. Made once per process
    and trust store (a file that changes on disk is loaded again), not per connection: urllib3 would
    make a context and load the store for every connection it opens, 28 ms of CPU for certifi's
    bundle, so a diagnosis opening 20 connections would spend half a second on it."""
    location = DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify)
    try:
        found = os.stat(location)
    except OSError:  # requests names the bad path itself (`cert_verify`), as without a shared context
        raise OSError(
            f"Could not find a suitable TLS CA certificate bundle, invalid path: {location}"
        ) from None
    signature = (location, found.st_mtime_ns, found.st_size, found.st_ino)
    with _CONTEXTS_LOCK:  # connections opened at once wait for the one store loading
        context = _CONTEXTS.get(signature)
        if context is None:
            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            if os.path.isdir(location):
                context.load_verify_locations(capath=location)
            else:
                context.load_verify_locations(cafile=location)
            if len(_CONTEXTS) >= _MAX_CONTEXTS:  # stores replaced on disk (test CAs) are dropped first
                del _CONTEXTS[next(iter(_CONTEXTS))]
            _CONTEXTS[signature] = context
        return context


_CONTEXTS: dict[tuple[str, int, int, int], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()
_MAX_CONTEXTS = 16


class _TrustedOnceAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, whose HTTPS connections that verify certificates use `tls_context` instead
    of a context (and trust store) of their own: through the two methods requests documents for
    subclasses that bring their own SSLContext. Verification is unchanged (the same store, the same
    hostname check by urllib3); `verify=False` connections are left as requests makes them."""

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        if verify and host.get("scheme") == "https":
            pool.pop("ca_certs", None)
            pool.pop("ca_cert_dir", None)
            pool["ssl_context"] = tls_context(verify)
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # checks the store exists, sets CERT_REQUIRED
        if verify and url.lower().startswith("https") and conn.conn_kw.get("ssl_context") is not None:
            conn.ca_certs = conn.ca_cert_dir = None  # the shared context holds the store already


def _pooled(options: dict[str, Any]) -> RequestsTransport:
    """The SDK's requests transport, with a connection pool wide enough for concurrent fetches
    (requests' default of 10 would drop and reopen connections beyond that), whose connections
    verify certificates against a trust store loaded once (`tls_context`)."""
    session = requests.Session()
    session.trust_env = environment_configures_requests(
        own_ca=isinstance(options.get("connection_verify"), str)
    )
    adapter = _TrustedOnceAdapter(
        pool_maxsize=CONNECTION_POOL_SIZE,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=True, **options)
