"""GATEWAY_NOT_RUNNING."""

from __future__ import annotations

import pytest

from diagnostics.checks.gateway_state import CHECK
from diagnostics.snapshot import MissingData
from model.findings import Severity


@pytest.mark.parametrize("state", ["Stopped", "Stopping", "Starting"])
def test_a_gateway_that_is_not_running_is_critical(kit, state):
    world = kit.healthy_world()
    kit.gateway_body(world)["properties"]["operationalState"] = state
    [finding] = CHECK.run(kit.snapshot(world))
    assert finding.code == "GATEWAY_NOT_RUNNING"
    assert finding.severity == Severity.CRITICAL
    assert finding.resource == kit.gateway_body(world)["id"]
    assert finding.evidence["operationalState"] == state
    assert state in finding.title and "agw-contoso" in finding.title
    if state == "Stopped":
        assert finding.fix.command == "az network application-gateway start -g rg-contoso-web -n agw-contoso"
    else:
        assert finding.fix.command is None
    assert finding.fix.action is None


def test_running_in_any_case_is_fine(kit):
    world = kit.healthy_world()
    kit.gateway_body(world)["properties"]["operationalState"] = "running"
    assert CHECK.run(kit.snapshot(world)) == []


def test_an_unreported_state_is_not_taken_for_running(kit):
    world = kit.healthy_world()
    del kit.gateway_body(world)["properties"]["operationalState"]
    with pytest.raises(MissingData, match="operationalState"):
        CHECK.run(kit.snapshot(world))
