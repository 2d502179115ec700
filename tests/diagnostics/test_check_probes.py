"""DEFAULT_PROBE_FAILING, PROBE_DETACHED, PROBE_REFERENCE_BROKEN and CUSTOM_PROBE_INVALID."""

from __future__ import annotations

import copy

import pytest

from diagnostics.checks.base import NotApplicable
from diagnostics.checks.probes import DEFAULT_FAILING, DETACHED, INVALID, REFERENCE_BROKEN
from diagnostics.snapshot import MissingData
from model.findings import Severity
from model.plans import ProbeReattach
from netrules.probes import ProbeLogKind, probe_log_message
from simulator import FaultRule

REATTACH = (
    "az network application-gateway http-settings update -g rg-contoso-web --gateway-name agw-contoso "
    "-n web-settings --probe web-probe"
)


def default_probe(kit):
    return kit.load_world("scenarios/default-probe/world.json")


def add_probe(world, kit, name, **properties):
    probes = kit.gateway_body(world)["properties"]["probes"]
    probe = copy.deepcopy(probes[0])
    probe["id"] = probe["id"].rsplit("/", 1)[0] + "/" + name
    probe["name"] = name
    probe["properties"].update(properties)
    probes.append(probe)
    return probe


def test_settings_on_the_default_probe_with_failing_servers_get_the_one_detached_probe(kit):
    [finding] = DEFAULT_FAILING.run(kit.snapshot(default_probe(kit)))
    assert (finding.code, finding.severity) == ("DEFAULT_PROBE_FAILING", Severity.CRITICAL)
    assert finding.resource.endswith("/backendHttpSettingsCollection/web-settings")
    assert finding.evidence["defaultProbe"] == "http://127.0.0.1:8080/"
    assert finding.evidence["detachedProbes"] == ["web-probe"]
    assert (finding.fix.action, finding.fix.command) == ("reattach-probe", REATTACH)
    assert finding.fix.plan.to_dict()["probe"].endswith("/probes/web-probe")
    assert finding.fix.plan.to_dict()["settings"] == [finding.resource]


def test_two_candidate_probes_mean_no_automatic_choice(kit):
    world = default_probe(kit)
    add_probe(world, kit, "other-probe")
    [finding] = DEFAULT_FAILING.run(kit.snapshot(world))
    assert finding.fix.action is None and finding.fix.command is None
    assert sorted(finding.evidence["detachedProbes"]) == ["other-probe", "web-probe"]
    assert finding.fix.plan is None


def test_a_detached_probe_of_another_protocol_is_no_candidate(kit):
    world = default_probe(kit)
    kit.gateway_part(world, "probes", "web-probe")["properties"]["protocol"] = "Https"
    [finding] = DEFAULT_FAILING.run(kit.snapshot(world))
    assert finding.fix.action is None
    assert DETACHED.run(kit.snapshot(world)) == []


def test_the_default_probe_is_not_blamed_while_a_server_passes_it(kit):
    world = default_probe(kit)
    [gateway_health] = world["backendHealth"].values()
    server = gateway_health["backendAddressPools"][0]["backendHttpSettingsCollection"][0]["servers"][0]
    server.update(health="Healthy", healthProbeLog="Success. Received 200 status code")
    assert DEFAULT_FAILING.run(kit.snapshot(world)) == []


@pytest.mark.parametrize(
    "kind", [ProbeLogKind.CONNECT, ProbeLogKind.DNS, ProbeLogKind.UNKNOWN, ProbeLogKind.CERT_EXPIRED]
)
def test_failures_no_probe_definition_cures_get_no_automatic_reattach(kit, kind):
    world = default_probe(kit)
    kit.set_health(world, "Unhealthy", probe_log_message(kind))
    [finding] = DEFAULT_FAILING.run(kit.snapshot(world))
    assert finding.fix.action is None and finding.fix.command is None
    assert "fix that first" in finding.fix.summary
    assert finding.evidence["probeDefinitionCanCure"] is False


@pytest.mark.parametrize(
    ("kind", "details"),
    [
        (ProbeLogKind.STATUS_MISMATCH, {"received": 404}),
        (ProbeLogKind.BODY_MISMATCH, {"body": "ok"}),
        (ProbeLogKind.PROBE_TIMEOUT, {}),
        (ProbeLogKind.CN_MISMATCH, {}),
    ],
)
def test_the_default_probe_is_blamed_for_failures_its_definition_causes(kit, kind, details):
    world = default_probe(kit)
    kit.set_health(world, "Unhealthy", probe_log_message(kind, **details))
    [finding] = DEFAULT_FAILING.run(kit.snapshot(world))
    assert finding.fix.action == "reattach-probe"


def test_default_probe_check_needs_health_and_settings_on_the_default_probe(kit):
    with pytest.raises(NotApplicable):
        DEFAULT_FAILING.run(kit.snapshot(kit.healthy_world()))
    with pytest.raises(MissingData):
        DEFAULT_FAILING.run(
            kit.snapshot(
                default_probe(kit),
                faults=[FaultRule("applicationGateways.backendHealth", "error", status=403)],
            )
        )


def test_a_detached_probe_next_to_default_probe_settings_is_a_warning_with_reattach(kit):
    [finding] = DETACHED.run(kit.snapshot(default_probe(kit)))
    assert (finding.code, finding.severity) == ("PROBE_DETACHED", Severity.WARNING)
    assert finding.resource.endswith("/probes/web-probe")
    assert finding.evidence["settings"] == ["web-settings"]
    assert (finding.fix.action, finding.fix.command) == ("reattach-probe", REATTACH)
    assert finding.fix.plan.to_dict()["probe"] == finding.resource
    assert [s.rsplit("/", 1)[-1] for s in finding.fix.plan.to_dict()["settings"]] == ["web-settings"]


def test_two_detached_probes_of_one_protocol_are_both_reported_without_an_automatic_choice(kit):
    world = default_probe(kit)
    add_probe(world, kit, "other-probe")
    findings = DETACHED.run(kit.snapshot(world))
    assert sorted(f.resource.rsplit("/", 1)[-1] for f in findings) == ["other-probe", "web-probe"]
    for finding in findings:
        assert finding.fix.action is None and finding.fix.command is None
        assert finding.fix.plan is None
        assert len(finding.evidence["otherDetachedProbes"]) == 1


def test_settings_no_rule_uses_still_make_a_probe_detached(kit):
    world = kit.healthy_world()
    spare = add_probe(world, kit, "spare-probe")
    collection = kit.gateway_body(world)["properties"]["backendHttpSettingsCollection"]
    unused = copy.deepcopy(collection[0])
    unused["id"] = unused["id"].rsplit("/", 1)[0] + "/spare-settings"
    unused["name"] = "spare-settings"
    unused["properties"].pop("probe", None)
    collection.append(unused)
    [finding] = DETACHED.run(kit.snapshot(world))
    assert finding.resource == spare["id"]
    assert finding.evidence["settings"] == ["spare-settings"]


def test_an_unused_probe_is_not_detached_when_every_settings_has_a_probe(kit):
    world = kit.healthy_world()
    add_probe(world, kit, "spare-probe")
    assert DETACHED.run(kit.snapshot(world)) == []


def test_a_reference_to_a_missing_probe_is_critical(kit):
    world = kit.healthy_world()
    settings = kit.gateway_part(world, "backendHttpSettingsCollection", "web-settings")
    settings["properties"]["probe"]["id"] = settings["properties"]["probe"]["id"].replace(
        "web-probe", "ghost"
    )
    [finding] = REFERENCE_BROKEN.run(kit.snapshot(world))
    assert (finding.code, finding.severity) == ("PROBE_REFERENCE_BROKEN", Severity.CRITICAL)
    assert finding.resource == settings["id"]
    assert "ghost" in finding.title
    assert (finding.fix.action, finding.fix.command) == ("reattach-probe", REATTACH)
    probe_id = kit.gateway_part(world, "probes", "web-probe")["id"]
    assert finding.fix.plan == ProbeReattach(probe_id, (settings["id"],))
    add_probe(world, kit, "second-probe")
    [finding] = REFERENCE_BROKEN.run(kit.snapshot(world))
    assert finding.fix.action is None


def test_references_are_compared_case_insensitively(kit):
    world = kit.healthy_world()
    probe = kit.gateway_part(world, "backendHttpSettingsCollection", "web-settings")["properties"]["probe"]
    probe["id"] = probe["id"].upper()
    assert REFERENCE_BROKEN.run(kit.snapshot(world)) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"path": "health"}, "path"),
        ({"timeout": 60, "interval": 30}, "greater than the interval"),
        ({"unhealthyThreshold": 25}, "threshold"),
        ({"protocol": "Https"}, "protocol"),
        ({"host": None, "pickHostNameFromBackendHttpSettings": False}, "host"),
    ],
)
def test_an_invalid_custom_probe_is_a_warning(kit, change, fragment):
    world = kit.healthy_world()
    probe = kit.gateway_part(world, "probes", "web-probe")
    probe["properties"].update(change)
    [finding] = INVALID.run(kit.snapshot(world))
    assert (finding.code, finding.severity, finding.resource) == (
        "CUSTOM_PROBE_INVALID",
        Severity.WARNING,
        probe["id"],
    )
    assert any(fragment in problem for problem in finding.evidence["problems"])


def test_valid_probes_or_none_at_all(kit):
    world = kit.healthy_world()
    assert INVALID.run(kit.snapshot(world)) == []
    kit.gateway_body(world)["properties"]["probes"] = []
    with pytest.raises(NotApplicable):
        INVALID.run(kit.snapshot(world))
