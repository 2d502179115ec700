"""TLS_HOSTNAME_MISMATCH."""

from __future__ import annotations

import pytest

from diagnostics.checks.base import NotApplicable
from diagnostics.checks.tls import CHECK
from diagnostics.engine import findings_of, run_checks
from model.findings import Severity
from netrules.probes import ProbeLogKind, probe_log_message

CN_V1 = "The Common Name (CN) of the backend certificate doesn't match the host header of the probe."


def tls_world(kit):
    return kit.load_world("scenarios/tls-cn-mismatch/world.json")


def test_a_cn_mismatch_on_https_settings_names_the_host_sent(kit):
    [finding] = CHECK.run(kit.snapshot(tls_world(kit)))
    assert (finding.code, finding.severity) == ("TLS_HOSTNAME_MISMATCH", Severity.CRITICAL)
    assert finding.resource.endswith("/backendHttpSettingsCollection/web-settings")
    assert finding.evidence["hosts"] == ["www.contoso.com"]  # the probe picks the settings' host name
    assert "www.contoso.com" in finding.title and "10.1.1.4, 10.1.1.5" in finding.title


def test_the_probe_host_is_what_is_sent_when_the_probe_sets_one(kit):
    world = tls_world(kit)
    probe = kit.gateway_part(world, "probes", "web-probe")["properties"]
    probe.update(pickHostNameFromBackendHttpSettings=False, host="health.contoso.com")
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.evidence["hosts"] == ["health.contoso.com"]


def test_the_v1_wording_is_recognised(kit):
    world = tls_world(kit)
    kit.set_health(world, "Unhealthy", CN_V1)
    assert [f.code for f in CHECK.run(kit.snapshot(world))] == ["TLS_HOSTNAME_MISMATCH"]


def test_raised_once_per_settings_across_the_whole_registry(kit):
    findings = findings_of(run_checks(kit.snapshot(tls_world(kit))))
    assert [f.code for f in findings].count("TLS_HOSTNAME_MISMATCH") == 1


def test_other_tls_failures_are_not_a_hostname_mismatch(kit):
    world = tls_world(kit)
    kit.set_health(world, "Unhealthy", probe_log_message(ProbeLogKind.CERT_EXPIRED))
    assert CHECK.run(kit.snapshot(world)) == []


def test_http_only_gateways_are_not_applicable(kit):
    world = kit.healthy_world()
    kit.set_health(world, "Unhealthy", probe_log_message(ProbeLogKind.CN_MISMATCH))
    with pytest.raises(NotApplicable):
        CHECK.run(kit.snapshot(world))
