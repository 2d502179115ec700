"""What changed on the path (issue 14): Activity Log changes kept to the path and the look-back
window, named by who made them, tied to the findings; the last-healthy diff where the Activity Log
is not readable; the bound of the stored configuration."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from azure.mgmt.network import models as net

from diagnostics.changes import (
    ACTIVITY_LOG_PIECE,
    changes_from_events,
    diff,
    on_path,
    relabel_own_writes,
)
from diagnostics.diagnosis import diagnose
from model.changes import ACTIVITY_LOG, APPGW_DOCTOR, LAST_HEALTHY_DIFF
from state.last_healthy import LastHealthyStore, bounded_configuration, size
from state.sqlite import SqliteBackend

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web/providers/Microsoft.Network"
GATEWAY = f"{RG}/applicationGateways/agw-contoso"
NSG = f"{RG}/networkSecurityGroups/nsg-contoso-appgw"
BLOCKING_RULE = f"{NSG}/securityRules/DenyGatewayManager"
OTHER_NSG = f"{RG}/networkSecurityGroups/nsg-contoso-other"
INCIDENT = datetime(2026, 11, 23, 10, 27, tzinfo=timezone.utc)
APP_ID = "11111111-2222-3333-4444-555555555555"
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"


def world(name: str) -> dict:
    return copy.deepcopy(json.loads((ROOT / "scenarios" / name / "world.json").read_text()))


def event(
    resource_id: str,
    at: str,
    *,
    status: str = "Succeeded",
    operation: str = "Microsoft.Network/networkSecurityGroups/securityRules/write",
    caller: str = "alice@contoso.com",
    claims: dict | None = None,
    operation_id: str = "op-1",
    sub_status: str = "Created",
) -> dict:
    return {
        "eventTimestamp": at,
        "submissionTimestamp": at,
        "operationName": {"value": operation, "localizedValue": operation},
        "resourceId": resource_id,
        "resourceGroupName": "rg-contoso-web",
        "subscriptionId": SUB,
        "caller": caller,
        "claims": claims
        if claims is not None
        else {UPN: caller, "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"},
        "status": {"value": status, "localizedValue": status},
        "subStatus": {"value": sub_status if status == "Succeeded" else "", "localizedValue": ""},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "level": "Informational",
        "correlationId": f"corr-{operation_id}",
        "operationId": operation_id,
        "eventDataId": f"{operation_id}-{status}",
        "authorization": {"action": operation, "scope": resource_id},
    }


def test_a_blocking_rules_finding_names_its_author_and_time_and_nothing_off_the_path(simulator, clients):
    data = world("nsg-infra-ports-v2")
    data["activityLog"] = [
        event(BLOCKING_RULE, "2026-11-23T10:21:00Z", status="Started"),
        event(BLOCKING_RULE, "2026-11-23T10:21:05Z"),  # the same operation: one change, Succeeded
        event(f"{OTHER_NSG}/securityRules/Whatever", "2026-11-23T10:22:00Z", operation_id="op-2"),
        event(f"{RG}/virtualNetworks/vnet-contoso/subnets/unrelated", "2026-11-23T10:23:00Z",
              operation="Microsoft.Network/virtualNetworks/subnets/write", operation_id="op-3"),
        event(BLOCKING_RULE, "2026-11-22T09:00:00Z", operation_id="op-old"),  # before the 24 h window
    ]  # fmt: skip
    sim = simulator(data)
    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT)

    assert [c.resource for c in diagnosis.changes] == [BLOCKING_RULE]
    (change,) = diagnosis.changes
    assert (change.source, change.status, change.caller, change.client) == (
        ACTIVITY_LOG, "Succeeded", "alice@contoso.com", "Azure CLI"
    )  # fmt: skip
    assert change.time == datetime(2026, 11, 23, 10, 21, 5, tzinfo=timezone.utc)
    assert change.undo == (
        "az network nsg rule delete -g rg-contoso-web --nsg-name nsg-contoso-appgw -n DenyGatewayManager"
    )
    blocking = next(f for f in diagnosis.findings if f.code == "NSG_BLOCKS_INFRA_PORTS")
    assert blocking.changes == (change,)
    assert blocking.changes[0].caller == "alice@contoso.com"
    assert blocking.changes[0].summary == "security rule DenyGatewayManager of nsg-contoso-appgw created"
    document = diagnosis.to_dict()
    assert document["changes"] == [change.to_dict()]
    assert next(f for f in document["findings"] if f["code"] == "NSG_BLOCKS_INFRA_PORTS")["changes"]
    queries = [s for s in sim.requests.served if s.operation == "activityLogs.list"]
    assert len(queries) == 1  # one resource group on the path


def test_a_service_principals_change_is_named_by_its_app_id(simulator, clients):
    data = world("nsg-infra-ports-v2")
    object_id = "99999999-8888-7777-6666-555555555555"
    data["activityLog"] = [
        event(BLOCKING_RULE, "2026-11-23T10:20:00Z", caller=object_id,
              claims={"appid": APP_ID, "idtyp": "app",
                      "http://schemas.microsoft.com/identity/claims/objectidentifier": object_id}),
    ]  # fmt: skip
    sim = simulator(data)
    diagnosis = diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT)
    assert [c.caller for c in diagnosis.changes] == [f"app {APP_ID}"]
    assert APP_ID not in diagnosis.changes[0].summary  # who is the caller field; the summary says what


def test_the_activity_log_query_starts_with_the_first_reads(simulator, clients):
    """The gateway's resource group's Activity Log is asked right after the gateway GET, before the
    network reads that depend on it: it runs alongside them instead of after them."""
    sim = simulator(world("nsg-infra-ports-v2"))
    diagnose(GATEWAY, clients=clients(sim), incident_time=INCIDENT)
    operations = [s.operation for s in sim.requests.served]
    # the gateway GET before anything its answer names (backend health, naming the gateway only,
    # goes alongside it)
    assert operations.index("applicationGateways.get") < operations.index("virtualNetworks.get")
    assert "activityLogs.list" in operations
    assert operations.index("activityLogs.list") < operations.index("virtualNetworks.get") or (
        operations.index("activityLogs.list") < operations.index("networkSecurityGroups.get")
    )


def test_without_the_activity_log_the_last_healthy_diff_names_the_new_rule(simulator, clients):
    data = world("healthy")
    data["authorization"] = {"actions": ["*"], "notActions": ["Microsoft.Insights/eventtypes/*"]}
    sim = simulator(data)
    azure = clients(sim)
    healthy = diagnose(GATEWAY, clients=azure, incident_time=INCIDENT)
    assert healthy.healthy, [(c.name, c.status, c.reason) for c in healthy.checks]
    assert ACTIVITY_LOG_PIECE in healthy.change_errors  # forbidden: the changes are just unknown
    assert "403" in healthy.change_errors[ACTIVITY_LOG_PIECE]
    store = LastHealthyStore(SqliteBackend(":memory:"))
    assert store.save(GATEWAY, healthy.configuration, at=healthy.incident_time)

    rule = net.SecurityRule(
        protocol="*", source_address_prefix="*", source_port_range="*", destination_address_prefix="Internet",
        destination_port_range="*", access="Deny", priority=100, direction="Outbound",
    )  # fmt: skip
    azure.network.security_rules.begin_create_or_update(
        "rg-contoso-web", "nsg-contoso-appgw", "DenyAll", rule
    ).result()

    broken = diagnose(GATEWAY, clients=azure, incident_time=INCIDENT, last_healthy=lambda: store.get(GATEWAY))
    assert not broken.healthy
    diffs = [c for c in broken.changes if c.source == LAST_HEALTHY_DIFF]
    assert [c.summary for c in diffs] == [
        "security rule DenyAll added to nsg-contoso-appgw (priority 100, Deny Outbound * *)"
    ]
    (added,) = diffs
    assert added.resource == f"{NSG}/securityRules/DenyAll" and added.operation == "added"
    assert added.since == INCIDENT and added.time is None and added.status == "changed"
    assert (
        added.undo == "az network nsg rule delete -g rg-contoso-web --nsg-name nsg-contoso-appgw -n DenyAll"
    )
    blamed = [f for f in broken.findings if f.resource.lower() == added.resource.lower()]
    assert blamed and all(added in f.changes for f in blamed), [(f.code, f.resource) for f in broken.findings]


def test_a_healthy_diagnosis_diffs_nothing():
    assert diff({"at": "2026-11-23T10:00:00Z", "resources": []}, {"resources": []}) == []


def test_property_changes_name_the_old_and_new_value_and_how_to_undo():
    settings_before = {"requestTimeout": 60, "probe": "web-probe", "port": 80}
    gateway = {"id": GATEWAY, "kind": "gateway", "name": "agw-contoso", "props": {}}
    subnet_id = f"{RG}/virtualNetworks/vnet-contoso/subnets/snet-web"
    previous = {
        "at": "2026-11-23T08:00:00Z",
        "resources": [
            {**gateway, "children": {"backendHttpSettingsCollection": {"web-settings": settings_before}}},
            {"id": subnet_id, "kind": "subnet", "name": "snet-web", "props": {"routeTable": None}},
        ],
    }
    current = {
        "resources": [
            {**gateway, "children": {"backendHttpSettingsCollection": {
                "web-settings": {"requestTimeout": 20, "probe": None, "port": 80}}}},
            {"id": subnet_id, "kind": "subnet", "name": "snet-web",
             "props": {"routeTable": f"{RG}/routeTables/rt-x"}},
        ]
    }  # fmt: skip
    changes = {c.summary: c for c in diff(previous, current)}
    assert set(changes) == {
        "requestTimeout of web-settings lowered 60 s -> 20 s",
        "probe web-probe detached from settings web-settings",
        "route table rt-x associated with subnet snet-web",
    }
    assert changes["requestTimeout of web-settings lowered 60 s -> 20 s"].undo == (
        "az network application-gateway http-settings update -g rg-contoso-web --gateway-name agw-contoso "
        "-n web-settings --timeout 60"
    )
    assert changes["route table rt-x associated with subnet snet-web"].undo == (
        "az network vnet subnet update -g rg-contoso-web --vnet-name vnet-contoso -n snet-web "
        "--remove routeTable"
    )


def test_the_path_excludes_a_vnets_other_subnets_but_keeps_children_of_path_resources():
    vnet = f"{RG}/virtualNetworks/vnet-contoso"
    path = [GATEWAY, NSG, vnet, f"{vnet}/subnets/snet-appgw"]
    assert on_path(f"{NSG}/securityRules/X", path)
    assert on_path(vnet, path) and on_path(f"{vnet}/subnets/snet-appgw", path)
    assert not on_path(f"{vnet}/subnets/other", path)
    assert not on_path(OTHER_NSG, path) and not on_path(f"{OTHER_NSG}/securityRules/X", path)


def test_started_and_succeeded_fold_into_one_change_with_the_final_status():
    events = [
        event(BLOCKING_RULE, "2026-11-23T10:21:05Z"),
        event(BLOCKING_RULE, "2026-11-23T10:21:00Z", status="Started"),
        event(BLOCKING_RULE, "2026-11-23T10:25:00Z", status="Started", operation_id="op-2"),
    ]
    changes = changes_from_events(events, [NSG], start=INCIDENT - timedelta(hours=1), end=INCIDENT)
    assert [(c.status, c.time.minute) for c in changes] == [("Started", 25), ("Succeeded", 21)]


def test_the_bots_own_writes_are_labelled_as_such():
    (change,) = changes_from_events(
        [event(BLOCKING_RULE, "2026-11-23T10:21:05Z")],
        [NSG],
        start=INCIDENT - timedelta(hours=1),
        end=INCIDENT,
    )
    near = datetime(2026, 11, 23, 10, 20, 30, tzinfo=timezone.utc)
    assert relabel_own_writes([change], [(NSG, near)])[0].source == APPGW_DOCTOR
    far = datetime(2026, 11, 23, 10, 10, tzinfo=timezone.utc)
    assert relabel_own_writes([change], [(NSG, far)])[0].source == ACTIVITY_LOG


def test_the_stored_configuration_is_bounded_and_the_newest_wins():
    rules = {f"rule-{i}": {"priority": 100 + i, "access": "Allow", "note": "x" * 400} for i in range(2000)}
    huge = {
        "at": "2026-11-23T10:00:00Z",
        "resources": [
            {"id": GATEWAY, "kind": "gateway", "name": "agw-contoso", "props": {"sku": "Standard_v2"}},
            {"id": NSG, "kind": "nsg", "name": "nsg-contoso-appgw", "props": {},
             "children": {"securityRules": rules}},
            *({"id": f"{RG}/networkInterfaces/nic-{i}", "kind": "nic", "name": f"nic-{i}",
               "props": {"pad": "y" * 300}} for i in range(3000)),
        ],
    }  # fmt: skip
    bounded = bounded_configuration(huge, limit=200_000)
    assert size(bounded) <= 200_000
    assert bounded["resources"][0]["id"] == GATEWAY  # the most important first, kept
    assert NSG in bounded["partial"] and "children" not in bounded["resources"][1]
    assert bounded["truncated"] and 2 < len(bounded["resources"]) < 3002

    store = LastHealthyStore(SqliteBackend(":memory:"))
    assert store.save(GATEWAY, huge, at=INCIDENT)  # fits the state store's record limit
    assert len(json.dumps(store.get(GATEWAY.upper()), separators=(",", ":"))) < 450_000
    small = {"at": "2026-11-23T09:00:00Z", "resources": []}
    assert not store.save(GATEWAY, small, at=INCIDENT - timedelta(hours=1))  # older: the newer stays
    assert store.get(GATEWAY)["resources"]
    assert store.save(GATEWAY, small, at=INCIDENT + timedelta(hours=1))
    assert store.get(GATEWAY) == small
