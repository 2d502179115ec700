"""The clients' connections share one TLS context per trust store (`core.azure_clients.tls_context`)
and still verify the server against that store, as requests would on its own."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.mgmt.network import NetworkManagementClient

from core.azure_clients import ArmTarget, StaticTokenCredential, _pooled, make_clients, tls_context

WORLD = "scenarios/request-timeout/world.json"


def _nsg_names(network: NetworkManagementClient) -> list[str]:
    return [nsg.name for nsg in network.network_security_groups.list("rg-contoso-web")]


def test_connections_to_the_simulator_share_one_context(simulator):
    sim = simulator(WORLD)
    options = {"connection_verify": sim.ca_cert, "base_url": sim.endpoint}
    transport = _pooled(options)  # the transport make_clients gives each client
    network = NetworkManagementClient(
        StaticTokenCredential(), sim.subscription_id, transport=transport, **options
    )
    try:
        with ThreadPoolExecutor(8) as pool:  # concurrent reads open several connections
            listed = list(
                pool.map(
                    lambda _: [n.name for n in network.network_security_groups.list("rg-contoso-web")],
                    range(16),
                )
            )
        assert listed[0] and all(names == listed[0] for names in listed)
        context = tls_context(sim.ca_cert)
        assert tls_context(sim.ca_cert) is context
        # the connection pool opened wraps every socket with that context, not one of its own
        pools = transport.session.get_adapter(sim.endpoint).poolmanager.pools
        opened = [pools[pool_key] for pool_key in pools.keys()]
        assert opened and all(p.conn_kw["ssl_context"] is context and p.ca_certs is None for p in opened)
        assert sum(p.num_connections for p in opened) > 1
    finally:
        network.close()


def test_a_server_outside_the_trust_store_is_refused(simulator):
    served, other = simulator(WORLD), simulator(WORLD)  # each simulator has a CA of its own
    wrong = make_clients(served.subscription_id, target=ArmTarget(served.endpoint, other.ca_cert))
    try:
        with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
            wrong.network.network_security_groups.get("rg-contoso-web", "nsg-contoso-backend", retry_total=0)
    finally:
        wrong.close()


def test_a_trust_store_changed_on_disk_is_loaded_again(simulator, tmp_path):
    first, second = simulator(WORLD), simulator(WORLD)
    store = tmp_path / "ca.pem"
    shutil.copyfile(first.ca_cert, store)
    before = tls_context(str(store))
    assert tls_context(str(store)) is before
    shutil.copyfile(second.ca_cert, store)  # the same path, another CA
    after = tls_context(str(store))
    assert after is not before
    azure = make_clients(second.subscription_id, target=ArmTarget(second.endpoint, str(store)))
    try:  # the store as it is now is what verifies
        assert (
            azure.network.network_security_groups.get("rg-contoso-web", "nsg-contoso-backend").name
            == "nsg-contoso-backend"
        )
    finally:
        azure.close()


def test_a_missing_trust_store_is_named():
    with pytest.raises(OSError, match="invalid path: /nonexistent/ca.pem"):
        tls_context("/nonexistent/ca.pem")
