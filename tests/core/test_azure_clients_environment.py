"""The clients trust the environment's proxy, CA bundle and .netrc settings only when it has some:
requests would otherwise look for them again on every request."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ServiceRequestError

from core.azure_clients import environment_configures_requests

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def bare_environment(monkeypatch, tmp_path):
    """No proxy, CA bundle or .netrc anywhere requests would look."""
    for name in PROXY_VARIABLES + ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_a_bare_environment_configures_nothing(bare_environment):
    assert environment_configures_requests() is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTPS_PROXY", "http://proxy.contoso.net:3128"),
        ("https_proxy", "http://proxy.contoso.net:3128"),
        ("ALL_PROXY", "http://proxy.contoso.net:3128"),
        ("REQUESTS_CA_BUNDLE", "/etc/ssl/contoso.pem"),
        ("CURL_CA_BUNDLE", "/etc/ssl/contoso.pem"),
        ("NETRC", "/secrets/netrc"),
    ],
)
def test_each_setting_requests_reads_is_seen(bare_environment, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert environment_configures_requests() is True


@pytest.mark.parametrize("name", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_does_not_count_for_clients_with_a_ca_of_their_own(bare_environment, monkeypatch, name):
    monkeypatch.setenv(name, "/etc/ssl/contoso.pem")
    assert environment_configures_requests(own_ca=True) is False
    assert environment_configures_requests() is True


def test_a_netrc_in_the_home_directory_is_seen(bare_environment):
    (bare_environment / ".netrc").write_text("machine example.net login a password b\n")
    assert environment_configures_requests() is True


def test_a_proxy_in_the_environment_is_still_used(bare_environment, monkeypatch, simulator, clients):
    sim = simulator("scenarios/request-timeout/world.json")
    assert list(clients(sim).network.network_security_groups.list("rg-contoso-web"))  # straight there

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    proxied = clients(sim)
    with pytest.raises(ServiceRequestError):
        list(proxied.network.network_security_groups.list("rg-contoso-web", retry_total=0))
