"""The roles infra/subscription-roles.bicep gives the bot's identity: least privilege for diagnosis
and for the guarded fixes, each permission saying which action needs it; the simulator, granting
exactly what the file grants, lets every remediation call through and refuses each one whose
permission is taken away; checkov (offline) still passes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import models

from tests.infra.role import bicep_granted_actions, bicep_role_actions

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "infra" / "subscription-roles.bicep"
CHECKOV = ROOT / ".venv-infra" / "bin" / "checkov"

REMEDIATION = {
    "Microsoft.Network/applicationGateways/write",
    "Microsoft.Network/applicationGateways/getBackendHealthOnDemand/action",
    "Microsoft.Network/networkSecurityGroups/securityRules/write",
    "Microsoft.Network/networkSecurityGroups/securityRules/delete",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/publicIPAddresses/join/action",
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
}
DIAGNOSIS = {
    "Microsoft.Network/applicationGateways/backendhealth/action",
    "Microsoft.Network/networkInterfaces/effectiveRouteTable/action",
    "Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action",
}
ACTION_NAMES = ("raise-request-timeout", "reattach-probe", "add-nsg-allow-rule", "diagnosis")


def test_the_remediation_role_grants_exactly_the_writes_the_fixes_call():
    assert set(bicep_role_actions(ROLES, "remediationRole")) == REMEDIATION
    assert len(bicep_role_actions(ROLES, "remediationRole")) == len(REMEDIATION)


def test_the_diagnosis_role_keeps_its_post_actions_and_reader_its_reads():
    assert set(bicep_role_actions(ROLES, "diagnosticsRole")) == DIAGNOSIS
    granted = bicep_granted_actions(ROLES)
    assert set(granted) == REMEDIATION | DIAGNOSIS | {"*/read"}
    assert set(bicep_role_actions(ROLES)) == REMEDIATION | DIAGNOSIS


def test_no_broad_built_in_role_is_assigned_any_more():
    text = ROLES.read_text()
    assert "4d97b98b-1d4f-4787-a291-c67834d212e7" not in text  # Network Contributor
    assert not re.search(r"'[^']*\*'", text.replace("*/read", "")), "a wildcard action"


def test_every_permission_says_which_action_needs_it():
    lines = ROLES.read_text().splitlines()
    actions = REMEDIATION | DIAGNOSIS
    for index, line in enumerate(lines):
        if line.strip().strip("'") in actions:
            comment = lines[index - 1].strip()
            assert comment.startswith("//") and any(name in comment for name in ACTION_NAMES), line


# -- the parser ----------------------------------------------------------------------------------


def _bicep(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roles.bicep"
    path.write_text(text)
    return path


def test_the_parser_reads_comments_commas_vars_and_escapes(tmp_path):
    path = _bicep(
        tmp_path,
        """
// 'Microsoft.Fake/commented/out' in a comment is not granted
var extra = [
  'Microsoft.Network/b/read' // trailing comment
  /* 'Microsoft.Fake/block' */ 'Microsoft.Network/c/read'
]
resource one 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid('x')
  properties: {
    description: 'it\\'s a role: actions: [\\'Microsoft.Fake/in-a-string\\'] https://example.com/a'
    permissions: [
      {
        actions: ['Microsoft.Network/a/read', 'Microsoft.Network/a/write']
        notActions: ['Microsoft.Network/a/delete']
        dataActions: []
      }
    ]
  }
}
resource two 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  properties: { permissions: [ { actions: extra, notActions: [] } ] }
}
""",
    )
    assert bicep_role_actions(path, "one") == ["Microsoft.Network/a/read", "Microsoft.Network/a/write"]
    assert bicep_role_actions(path, "two") == ["Microsoft.Network/b/read", "Microsoft.Network/c/read"]
    assert bicep_role_actions(path) == [
        "Microsoft.Network/a/read",
        "Microsoft.Network/a/write",
        "Microsoft.Network/b/read",
        "Microsoft.Network/c/read",
    ]


@pytest.mark.parametrize(
    ("actions", "problem"),
    [
        ("['Microsoft.Network/${kind}/read']", "interpolated"),
        ("[concat('a', 'b')]", "not a string literal"),
        ("[readerActions]", "not a string literal"),
        ("undeclared", "not a var"),
    ],
)
def test_the_parser_refuses_what_it_cannot_evaluate(tmp_path, actions, problem):
    path = _bicep(
        tmp_path,
        f"resource r 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {{\n"
        f"  properties: {{ permissions: [ {{ actions: {actions} }} ] }}\n}}\n",
    )
    with pytest.raises(ValueError, match=problem):
        bicep_role_actions(path)


def test_the_parser_names_a_missing_role(tmp_path):
    with pytest.raises(ValueError, match="no role definition resource named absent"):
        bicep_role_actions(ROLES, "absent")
    with pytest.raises(ValueError, match="no Microsoft.Authorization/roleDefinitions"):
        bicep_role_actions(_bicep(tmp_path, "param x string\n"))


# -- the simulator grants what the file grants ------------------------------------------------

RG = "rg-contoso-web"
GATEWAY = "agw-contoso"
NSG = "nsg-contoso-backend"
SCENARIO = ROOT / "scenarios" / "request-timeout" / "world.json"


def _remediation_calls(network) -> None:
    """The SDK calls the three guarded fixes make (raise-request-timeout, reattach-probe with its
    pre-flight, add-nsg-allow-rule with its rollback)."""
    gateway = network.application_gateways.get(RG, GATEWAY)
    probe = models.ApplicationGatewayOnDemandProbe(
        protocol="Http",
        path="/",
        timeout=30,
        pick_host_name_from_backend_http_settings=False,
        host="127.0.0.1",
        backend_address_pool=models.SubResource(id=gateway.backend_address_pools[0].id),
        backend_http_settings=models.SubResource(id=gateway.backend_http_settings_collection[0].id),
    )
    network.application_gateways.begin_backend_health_on_demand(RG, GATEWAY, probe).result()
    gateway.backend_http_settings_collection[0].request_timeout = 120
    network.application_gateways.begin_create_or_update(
        RG, GATEWAY, gateway, headers={"If-Match": gateway.etag}
    ).result()
    rule = models.SecurityRule(
        protocol="Tcp",
        source_address_prefix="GatewayManager",
        source_port_range="*",
        destination_address_prefix="*",
        destination_port_range="65200-65535",
        access="Allow",
        priority=3900,
        direction="Inbound",
    )
    created = network.security_rules.begin_create_or_update(
        RG, NSG, "appgw-doctor-allow", rule, headers={"If-None-Match": "*"}
    ).result()
    network.security_rules.begin_delete(
        RG, NSG, "appgw-doctor-allow", headers={"If-Match": created.etag}
    ).result()


IDENTITY_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-agw-keyvault"
)


def _world(actions: list[str]) -> dict:
    """The request-timeout scenario, its gateway with a user-assigned identity (as one reading
    Key Vault certificates has), granting exactly `actions`."""
    world = json.loads(SCENARIO.read_text())
    gateway = next(r for r in world["resources"] if r["type"].endswith("/applicationGateways"))
    gateway["identity"] = {
        "type": "UserAssigned",
        "userAssignedIdentities": {
            IDENTITY_ID: {
                "principalId": "00000000-0000-0000-0000-0000000000a1",
                "clientId": "00000000-0000-0000-0000-0000000000a2",
            }
        },
    }
    world["authorization"] = {"actions": actions}
    return world


def test_the_granted_actions_let_every_remediation_call_through(simulator, clients):
    sim = simulator(_world(bicep_granted_actions(ROLES)))
    _remediation_calls(clients(sim).network)
    assert sim.requests.count(status=403) == 0


def test_the_granted_actions_let_the_activity_log_be_read(simulator, clients):
    """Reading the Activity Log (`Microsoft.Insights/eventtypes/values/read`) is covered by Reader's
    `*/read`: no permission of its own, and the fixes' writes are there to read."""
    granted = bicep_granted_actions(ROLES)
    assert "Microsoft.Insights/eventtypes/values/read" not in granted
    sim = simulator(_world(granted))
    azure = clients(sim)
    _remediation_calls(azure.network)
    events = list(
        azure.monitor.activity_logs.list(
            filter=f"eventTimestamp ge '2026-11-23T00:00:00Z' and resourceGroupName eq '{RG}'",
            select="operationName,status,resourceId",
        )
    )
    assert sim.requests.count(status=403) == 0
    written = {(event.operation_name.value, event.status.value) for event in events}
    assert ("Microsoft.Network/applicationGateways/write", "Succeeded") in written
    assert ("Microsoft.Network/networkSecurityGroups/securityRules/delete", "Succeeded") in written


@pytest.mark.parametrize("removed", sorted(REMEDIATION))
def test_each_remediation_permission_is_needed(simulator, clients, removed):
    sim = simulator(_world([action for action in bicep_granted_actions(ROLES) if action != removed]))
    with pytest.raises(HttpResponseError) as raised:
        _remediation_calls(clients(sim).network)
    assert raised.value.status_code == 403
    assert removed in str(raised.value.error.message)


# -- checkov -------------------------------------------------------------------------------------


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov is not installed: `make check-infra` installs it")
def test_checkov_passes_offline():
    result = subprocess.run(
        [
            str(CHECKOV),
            "--quiet",
            "--compact",
            "--skip-download",
            "--framework",
            "bicep",
            "-d",
            str(ROOT / "infra"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout
