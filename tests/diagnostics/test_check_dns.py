"""CUSTOM_DNS_CANNOT_RESOLVE and CUSTOM_DNS_UNVERIFIED."""

from __future__ import annotations

import pytest

from diagnostics.checks.base import NotApplicable
from diagnostics.checks.dns import CANNOT_RESOLVE, UNVERIFIED
from diagnostics.snapshot import MissingData
from model.findings import Severity
from simulator import FaultRule

FQDN = "api.internal.contoso.net"
DNS_LOG = (
    "Application Gateway could not create a probe for this backend. This usually happens when the FQDN of "
    "the backend has not been entered correctly."
)


def custom_dns(kit):
    return kit.load_world("scenarios/custom-dns/world.json")


def test_a_name_the_custom_dns_does_not_know_is_critical(kit):
    [finding] = CANNOT_RESOLVE.run(kit.snapshot(custom_dns(kit)))
    assert (finding.code, finding.severity) == ("CUSTOM_DNS_CANNOT_RESOLVE", Severity.CRITICAL)
    assert finding.resource.endswith("/backendAddressPools/web-pool")
    [member] = finding.evidence["members"]
    assert member["fqdn"] == FQDN and member["customDnsAnswer"] == []
    assert member["healthProbeLog"] == DNS_LOG
    assert finding.evidence["dnsServers"] == ["10.50.0.10", "10.50.0.11"]
    assert FQDN in finding.title and "10.50.0.10" in finding.title
    assert UNVERIFIED.run(kit.snapshot(custom_dns(kit))) == []  # already known not to resolve


def test_the_dns_answer_alone_is_enough(kit):
    world = custom_dns(kit)
    kit.set_health(world, "Unknown", "The backend health status could not be retrieved.")
    [finding] = CANNOT_RESOLVE.run(kit.snapshot(world))
    assert finding.evidence["members"][0]["healthProbeLog"] is None


def test_the_probe_log_alone_is_enough_even_with_azure_dns(kit):
    world = custom_dns(kit)
    del kit.resource(world, "vnet-contoso")["properties"]["dhcpOptions"]
    [finding] = CANNOT_RESOLVE.run(kit.snapshot(world))
    assert finding.evidence["members"][0]["customDnsAnswer"] is None
    assert "probe log" in finding.title
    with pytest.raises(NotApplicable):
        UNVERIFIED.run(kit.snapshot(world))


def test_a_name_that_resolves_and_is_healthy_raises_nothing(kit):
    snapshot = kit.snapshot(kit.load_world("tests/worlds/custom-dns-resolves/world.json"))
    assert CANNOT_RESOLVE.run(snapshot) == [] and UNVERIFIED.run(snapshot) == []


def test_custom_dns_with_ip_only_pools_raises_no_dns_finding(kit):
    snapshot = kit.snapshot(kit.load_world("tests/worlds/decoy-network/world.json"))
    for check in (CANNOT_RESOLVE, UNVERIFIED):
        with pytest.raises(NotApplicable):
            check.run(snapshot)


def unanswered(kit):
    """custom-dns-resolves, but no custom DNS server answered (resolution unknown)."""
    world = kit.load_world("tests/worlds/custom-dns-resolves/world.json")
    del world["dns"]
    return world


def test_unknown_resolution_with_healthy_servers_is_not_reported(kit):
    snapshot = kit.snapshot(unanswered(kit))
    assert snapshot.dns_answers == {} and "dns_answers" in snapshot.errors
    assert UNVERIFIED.run(snapshot) == [] and CANNOT_RESOLVE.run(snapshot) == []


def test_unknown_resolution_without_healthy_servers_is_info_and_not_a_pass(kit):
    world = unanswered(kit)
    kit.set_health(world, "Unhealthy", "Application Gateway could not connect to the backend.")
    snapshot = kit.snapshot(world)
    [finding] = UNVERIFIED.run(snapshot)
    assert (finding.code, finding.severity) == ("CUSTOM_DNS_UNVERIFIED", Severity.INFO)
    assert finding.evidence["fqdns"] == ["www.contoso.net"]
    # the servers were asked and did not answer: the critical check cannot say "resolves"
    with pytest.raises(MissingData, match="dns_answers: www.contoso.net: no custom DNS server answered"):
        CANNOT_RESOLVE.run(snapshot)


def test_an_unreadable_vnet_is_an_error_for_both_checks_not_azure_dns(kit):
    snapshot = kit.snapshot(
        kit.load_world("tests/worlds/custom-dns-resolves/world.json"),
        faults=[FaultRule("virtualNetworks.get", "error", status=403)],
    )
    assert snapshot.custom_dns_servers() == []  # what the checks must not read as "Azure DNS"
    with pytest.raises(MissingData, match="vnet: vnet-contoso: 403 AuthorizationFailed"):
        UNVERIFIED.run(snapshot)
    with pytest.raises(MissingData, match="vnet: vnet-contoso: 403 .*DNS servers are unknown"):
        CANNOT_RESOLVE.run(snapshot)


def test_an_unreadable_vnet_still_reports_a_dns_failure_the_probe_log_shows(kit):
    snapshot = kit.snapshot(custom_dns(kit), faults=[FaultRule("virtualNetworks.get", "error", status=403)])
    [finding] = CANNOT_RESOLVE.run(snapshot)
    assert finding.evidence["members"][0]["healthProbeLog"] == DNS_LOG


def test_without_backend_health_a_dns_failure_in_the_probe_log_cannot_be_ruled_out(kit):
    refused = [FaultRule("applicationGateways.backendHealth", "error", status=403)]
    ip_only = kit.snapshot(kit.healthy_world(), faults=refused)
    with pytest.raises(MissingData, match="backend_health: 403 .*cannot be ruled out"):
        CANNOT_RESOLVE.run(ip_only)
    resolved = kit.snapshot(kit.load_world("tests/worlds/custom-dns-resolves/world.json"), faults=refused)
    assert resolved.dns_answers == {"www.contoso.net": ["10.1.1.4"]}
    with pytest.raises(MissingData, match="backend_health: 403"):
        CANNOT_RESOLVE.run(resolved)
    assert UNVERIFIED.run(resolved) == []  # the custom DNS answered: resolution is verified


def test_nothing_known_at_all_is_missing_data_for_the_critical_check(kit):
    snapshot = kit.snapshot(
        unanswered(kit), faults=[FaultRule("applicationGateways.backendHealth", "error", status=403)]
    )
    with pytest.raises(MissingData):
        CANNOT_RESOLVE.run(snapshot)
    [finding] = UNVERIFIED.run(snapshot)
    assert finding.evidence["backendHealthCollected"] is False


def test_azure_dns_listed_explicitly_is_not_a_custom_server(kit):
    world = custom_dns(kit)
    kit.resource(world, "vnet-contoso")["properties"]["dhcpOptions"] = {"dnsServers": ["168.63.129.16"]}
    kit.set_health(world, "Healthy", "Success. Received 200 status code")
    snapshot = kit.snapshot(world)
    assert snapshot.custom_dns_servers() == []
    assert CANNOT_RESOLVE.run(snapshot) == []
    with pytest.raises(NotApplicable, match="Azure-provided DNS"):
        UNVERIFIED.run(snapshot)
    kit.resource(world, "vnet-contoso")["properties"]["dhcpOptions"] = {
        "dnsServers": ["10.50.0.10", "168.63.129.16"]
    }
    assert kit.snapshot(world).custom_dns_servers() == ["10.50.0.10"]


def test_a_dns_failure_in_the_probe_log_counts_even_for_ip_members(kit):
    world = kit.healthy_world()  # IP/NIC members only, Azure-provided DNS
    with pytest.raises(NotApplicable):
        CANNOT_RESOLVE.run(kit.snapshot(world))
    kit.set_health(
        world,
        "Unhealthy",
        "Application Gateway could not create a probe for this backend. This usually happens when the "
        "FQDN of the backend has not been entered correctly.",
    )
    [finding] = CANNOT_RESOLVE.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("CUSTOM_DNS_CANNOT_RESOLVE", Severity.CRITICAL)
    assert all(member["healthProbeLog"] for member in finding.evidence["members"])
