"""The probe-log causes: PROBE_STATUS_MISMATCH, PROBE_BODY_MISMATCH, PROBE_TIMEOUT,
BACKEND_CONNECT_FAILED, TLS_CERT_EXPIRED and TLS_CHAIN_INVALID."""

from __future__ import annotations

import pytest

from diagnostics.checks.base import NotApplicable
from diagnostics.checks.probe_log import CHECK
from diagnostics.snapshot import MissingData
from model.findings import Severity
from netrules.probes import ProbeLogKind, probe_log_message
from simulator import FaultRule

PROBE = "/probes/web-probe"
SETTINGS = "/backendHttpSettingsCollection/web-settings"


@pytest.mark.parametrize(
    ("kind", "details", "code", "severity", "blamed"),
    [
        (ProbeLogKind.STATUS_MISMATCH, {"received": 503}, "PROBE_STATUS_MISMATCH", Severity.CRITICAL, PROBE),
        (ProbeLogKind.BODY_MISMATCH, {"body": "ok"}, "PROBE_BODY_MISMATCH", Severity.WARNING, PROBE),
        (ProbeLogKind.PROBE_TIMEOUT, {}, "PROBE_TIMEOUT", Severity.CRITICAL, PROBE),
        (ProbeLogKind.CONNECT, {}, "BACKEND_CONNECT_FAILED", Severity.CRITICAL, SETTINGS),
        (ProbeLogKind.CERT_EXPIRED, {}, "TLS_CERT_EXPIRED", Severity.CRITICAL, SETTINGS),
        (
            ProbeLogKind.CHAIN,
            {"chain": "missing-intermediate"},
            "TLS_CHAIN_INVALID",
            Severity.CRITICAL,
            SETTINGS,
        ),
        (ProbeLogKind.CHAIN, {"chain": "untrusted-root"}, "TLS_CHAIN_INVALID", Severity.CRITICAL, SETTINGS),
    ],
)
def test_each_log_kind_raises_its_code_once_for_all_servers(kit, kind, details, code, severity, blamed):
    world = kit.healthy_world()
    kit.set_health(world, "Unhealthy", probe_log_message(kind, **details))
    [finding] = CHECK.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == (code, severity)
    assert finding.resource.endswith(blamed)
    assert [s["address"] for s in finding.evidence["servers"]] == ["10.1.1.4", "10.1.1.5"]
    assert finding.evidence["servers"][0]["healthProbeLog"] == probe_log_message(kind, **details)
    assert "10.1.1.4, 10.1.1.5" in finding.title


def test_status_mismatch_carries_expected_and_received_codes(kit):
    world = kit.load_world("scenarios/default-probe/world.json")
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.code == "PROBE_STATUS_MISMATCH"
    assert (finding.evidence["expected"], finding.evidence["received"]) == (["200-399"], "404")
    assert finding.resource.endswith(SETTINGS)  # the default probe: the settings are what to change
    assert finding.title == (
        "Default probe of settings web-settings gets status 404 from 10.1.1.4, 10.1.1.5, expected 200-399"
    )


def test_probe_timeout_names_the_probe_timeout(kit):
    [finding] = CHECK.run(kit.snapshot(kit.load_world("scenarios/probe-timeout/world.json")))
    assert finding.evidence["probeTimeoutSeconds"] == 30
    assert finding.title == "Probe web-probe times out (>30 s) on 10.1.1.4, 10.1.1.5"


def test_connect_failure_names_the_port(kit):
    [finding] = CHECK.run(kit.snapshot(kit.load_world("scenarios/nsg-backend-subnet/world.json")))
    assert finding.evidence["port"] == 8080
    assert (
        finding.title == "Gateway cannot connect to 10.1.1.4, 10.1.1.5 on port 8080 (settings web-settings)"
    )


def test_different_causes_per_server_are_separate_findings(kit):
    world = kit.healthy_world()
    [gateway_health] = world["backendHealth"].values()
    first, second = gateway_health["backendAddressPools"][0]["backendHttpSettingsCollection"][0]["servers"]
    first.update(health="Unhealthy", healthProbeLog=probe_log_message(ProbeLogKind.PROBE_TIMEOUT))
    second.update(health="Unhealthy", healthProbeLog=probe_log_message(ProbeLogKind.CONNECT))
    findings = {f.code: f for f in CHECK.run(kit.snapshot(world))}
    assert set(findings) == {"PROBE_TIMEOUT", "BACKEND_CONNECT_FAILED"}
    assert [s["address"] for s in findings["PROBE_TIMEOUT"].evidence["servers"]] == ["10.1.1.4"]


@pytest.mark.parametrize(
    "kind", [ProbeLogKind.HEALTHY, ProbeLogKind.UNKNOWN, ProbeLogKind.DNS, ProbeLogKind.CN_MISMATCH]
)
def test_logs_owned_elsewhere_or_healthy_raise_nothing_here(kit, kind):
    world = kit.healthy_world()
    kit.set_health(world, "Unhealthy", probe_log_message(kind))
    assert CHECK.run(kit.snapshot(world)) == []


def test_without_health_there_is_no_log_to_read(kit):
    with pytest.raises(MissingData, match="403"):
        CHECK.run(
            kit.snapshot(
                kit.healthy_world(),
                faults=[FaultRule("applicationGateways.backendHealth", "error", status=403)],
            )
        )
    world = kit.healthy_world()
    [gateway_health] = world["backendHealth"].values()
    gateway_health["backendAddressPools"] = []
    with pytest.raises(NotApplicable):
        CHECK.run(kit.snapshot(world))


UNRECOGNISED_LOG = "The backend server closed the connection during the TLS handshake (error 0x80090326)."


def test_unrecognised_log_on_unhealthy_servers_is_a_warning_quoting_it(kit):
    world = kit.healthy_world()
    kit.set_health(world, "Down", UNRECOGNISED_LOG)
    [finding] = CHECK.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("PROBE_LOG_UNRECOGNISED", Severity.WARNING)
    assert finding.resource.endswith(SETTINGS)
    assert finding.evidence["messages"] == [UNRECOGNISED_LOG]
    assert [s["healthProbeLog"] for s in finding.evidence["servers"]] == [UNRECOGNISED_LOG] * 2
    assert UNRECOGNISED_LOG in finding.title


def test_long_unrecognised_log_is_quoted_up_to_a_bound(kit):
    world = kit.healthy_world()
    kit.set_health(world, "Unhealthy", "x" * 5000)
    [finding] = CHECK.run(kit.snapshot(world))
    server = finding.evidence["servers"][0]
    assert server["healthProbeLog"].startswith("x" * 1000) and len(server["healthProbeLog"]) == 1001
    assert server["healthProbeLogTruncated"] is True
    assert len(finding.title) < 300


def test_unrecognised_log_on_healthy_servers_is_not_reported(kit):
    world = kit.healthy_world()
    kit.set_health(world, "Healthy", UNRECOGNISED_LOG)
    assert CHECK.run(kit.snapshot(world)) == []


def test_proxy_protocol_log_is_reported_as_undiagnosed(kit):
    world = kit.healthy_world()
    kit.set_health(world, "Unhealthy", probe_log_message(ProbeLogKind.PROXY_PROTOCOL))
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.code == "PROBE_LOG_UNRECOGNISED"
    assert finding.evidence["servers"][0]["recognisedAs"] == "backend rejects the Proxy protocol header"
