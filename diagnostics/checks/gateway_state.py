"""GATEWAY_NOT_RUNNING: a stopped (or starting/stopping) gateway answers nothing from its backends."""

from __future__ import annotations

from core.arm_ids import ArmId
from core.sdk_values import json_properties, wire
from diagnostics.checks.base import Check, same
from diagnostics.snapshot import MissingData, Snapshot
from model.findings import Finding, Fix, Severity


def gateway_not_running(snapshot: Snapshot) -> list[Finding]:
    gateway = json_properties(snapshot.gateway_wire)
    state = wire(gateway.get("operationalState"))
    if not state:
        raise MissingData("gateway: operationalState was not reported")
    if same(state, "Running"):
        return []
    arm = ArmId.parse(snapshot.gateway_id)
    start = f"az network application-gateway start -g {arm.resource_group} -n {arm.name}"
    return [
        Finding(
            code="GATEWAY_NOT_RUNNING",
            severity=Severity.CRITICAL,
            title=f"Application gateway {arm.name} is {state}, not Running",
            resource=snapshot.gateway_id,
            evidence={
                "operationalState": state,
                "provisioningState": wire(gateway.get("provisioningState")) or None,
            },
            fix=Fix(
                summary=f"Start the gateway (or wait for its {state} operation to finish) and re-check.",
                command=start if same(state, "Stopped") else None,
            ),
        )
    ]


CHECK = Check(name="gateway-running", codes=("GATEWAY_NOT_RUNNING",), run=gateway_not_running)
