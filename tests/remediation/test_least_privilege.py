"""Every action runs under exactly the roles infra/subscription-roles.bicep grants, and fails with any
one of the remediation role's permissions removed (the simulator answers 403 as ARM does)."""

from __future__ import annotations

import pytest

from tests.infra.role import bicep_granted_actions, bicep_role_actions
from tests.remediation.conftest import ROOT, scenario_world, with_rule_priority

ROLES = ROOT / "infra" / "subscription-roles.bicep"
IDENTITY = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/id-agw-contoso"
)


def with_identity(world: dict) -> dict:
    """The gateway with a user-assigned identity (Key Vault certificates): its PUT must assign it."""
    for resource in world["resources"]:
        if "/applicationgateways/" in resource["id"].lower():
            resource["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}
    return world


NSG_WORLD = lambda: with_rule_priority(scenario_world("nsg-backend-subnet"), "DenyAppGateway", 200)  # noqa: E731
# (action, world, heals): a case that does not heal is rolled back, which needs the rollback's permissions.
CASES = {
    "raise-request-timeout": ("raise-request-timeout", lambda: scenario_world("request-timeout"), True),
    "reattach-probe": ("reattach-probe", lambda: with_identity(scenario_world("default-probe")), True),
    "add-nsg-allow-rule": ("add-nsg-allow-rule", NSG_WORLD, True),
    "add-nsg-allow-rule, rolled back": ("add-nsg-allow-rule", NSG_WORLD, False),
}
EXPECTED = {True: "verified", False: "rolled-back"}


def _status(estate, ledger, case: str, granted: list[str]) -> str:
    action, make, heals = CASES[case]
    world = make()
    world["authorization"] = {"actions": granted}
    served = estate(world)
    findings = served.findings()
    result = served.remediate(
        ledger, incident_id=f"incident-{case}", rediagnose=None if heals else lambda: findings
    )
    return next(a for a in result.actions if a.action == action and a.status != "skipped").status


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_action_works_under_exactly_the_bicep_roles(estate, ledger, case):
    assert _status(estate, ledger, case, bicep_granted_actions(ROLES)) == EXPECTED[CASES[case][2]]


def test_each_remediation_permission_is_needed_by_some_action(estate, tmp_path):
    from state.remediation import RemediationLedger
    from state.sqlite import SqliteBackend

    granted = bicep_granted_actions(ROLES)
    for n, permission in enumerate(bicep_role_actions(ROLES, "remediationRole")):
        without = [p for p in granted if p != permission]
        backend = SqliteBackend(tmp_path / f"state-{n}.db")
        try:
            statuses = {
                case: _status(estate, RemediationLedger(backend), case, without) for case in sorted(CASES)
            }
        finally:
            backend.close()
        assert any(s in ("failed", "refused") for s in statuses.values()), (permission, statuses)
