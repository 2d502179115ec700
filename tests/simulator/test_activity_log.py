"""The Azure Activity Log in the simulator: the `activityLog` world section served, filtered as ARM
filters it, and the events the simulator logs for the writes it accepts, through the real
azure-mgmt-monitor and azure-mgmt-network clients."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import models

from core.azure_clients import StaticTokenCredential
from simulator import activity_log
from simulator.activity_log import FILTER_INVALID, RETENTION_MESSAGE
from simulator.authorization import DEFAULT_PRINCIPAL_ID
from simulator.faults import FaultRule
from simulator.world import WorldError, load_world

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "request-timeout" / "world.json"
SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-contoso-web"
NSG = "nsg-contoso-backend"
GROUP_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
GATEWAY_ID = f"{GROUP_ID}/providers/Microsoft.Network/applicationGateways/agw-contoso"
NSG_ID = f"{GROUP_ID}/providers/Microsoft.Network/networkSecurityGroups/{NSG}"
VM_ID = f"/subscriptions/{SUB}/resourceGroups/rg-compute/providers/Microsoft.Compute/virtualMachines/vm-1"
CLOCK = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)  # the scenario's clock
UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
SINCE = "eventTimestamp ge '2026-11-20T00:00:00Z'"


def event(
    when: str, resource_id: str, group: str, operation: str, correlation: str, caller: str, status: str
) -> dict:
    """An Activity Log event as the REST API returns it."""
    provider = operation.split("/", 1)[0]
    return {
        "authorization": {"action": operation, "scope": resource_id},
        "caller": caller,
        "claims": {UPN_CLAIM: caller, "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "name": "Someone"},
        "correlationId": correlation,
        "description": "",
        "eventDataId": f"evt-{correlation}-{status}",
        "eventName": {"value": "EndRequest", "localizedValue": "End request"},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "eventTimestamp": when,
        "id": f"{resource_id}/events/evt-{correlation}/ticks/1",
        "level": "Informational",
        "operationId": f"op-{correlation}",
        "operationName": {"value": operation, "localizedValue": operation},
        "resourceGroupName": group,
        "resourceProviderName": {"value": provider, "localizedValue": provider},
        "resourceId": resource_id,
        "status": {"value": status, "localizedValue": status},
        "subStatus": {"value": "OK", "localizedValue": "OK (HTTP Status Code: 200)"},
        "submissionTimestamp": when,
        "subscriptionId": SUB,
    }


RULE_CHANGE = event(
    "2026-11-23T09:00:00.1234567Z",
    f"{NSG_ID}/securityRules/deny-gateway-manager",
    RG,
    "Microsoft.Network/networkSecurityGroups/securityRules/write",
    "c-rule",
    "alice@contoso.com",
    "Succeeded",
)
GATEWAY_CHANGE = event(
    "2026-11-23T10:00:00Z",
    GATEWAY_ID,
    RG,
    "Microsoft.Network/applicationGateways/write",
    "c-gateway",
    "bob@contoso.com",
    "Succeeded",
)
VM_CHANGE = event(
    "2026-11-22T12:00:00Z",
    VM_ID,
    "rg-compute",
    "Microsoft.Compute/virtualMachines/write",
    "c-vm",
    "carol@contoso.com",
    "Succeeded",
)
OLD_GATEWAY_CHANGE = event(
    "2026-11-20T08:00:00Z",
    GATEWAY_ID.lower(),  # as Azure sometimes writes ids
    RG.upper(),
    "Microsoft.Network/applicationGateways/write",
    "c-old",
    "bob@contoso.com",
    "Failed",
)
EVENTS = [RULE_CHANGE, GATEWAY_CHANGE, VM_CHANGE, OLD_GATEWAY_CHANGE]  # not in time order


def world(events: list | None = None, **sections) -> dict:
    document = json.loads(SCENARIO.read_text())
    document["activityLog"] = EVENTS if events is None else events
    document.update(sections)
    return document


def unsigned_jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"


@pytest.fixture
def sim(simulator):
    return simulator(world())


@pytest.fixture
def monitor(sim, clients):
    return clients(sim).monitor


def ids(events) -> list[str]:
    return [found.correlation_id for found in events]


# -- the world's events, filtered --------------------------------------------------------------


def test_the_time_range_selects_events_newest_first(monitor):
    everything = list(monitor.activity_logs.list(filter=SINCE))
    assert ids(everything) == ["c-gateway", "c-rule", "c-vm", "c-old"]
    window = "eventTimestamp ge '2026-11-22T00:00:00Z' and eventTimestamp le '2026-11-23T09:30:00Z'"
    assert ids(monitor.activity_logs.list(filter=window)) == ["c-rule", "c-vm"]
    # Azure's 7 fractional digits, in the filter and in the event, compare to the microsecond.
    moment = "'2026-11-23T09:00:00.1234567Z'"
    exact = f"eventTimestamp ge {moment} and eventTimestamp le {moment}"
    assert ids(monitor.activity_logs.list(filter=exact)) == ["c-rule"]


def test_the_events_come_back_as_the_rest_api_gives_them(monitor):
    (found,) = monitor.activity_logs.list(filter=f"{SINCE} and correlationId eq 'c-rule'")
    assert found.caller == "alice@contoso.com"
    assert found.claims[UPN_CLAIM] == "alice@contoso.com"
    assert found.operation_name.value == "Microsoft.Network/networkSecurityGroups/securityRules/write"
    assert found.status.value == "Succeeded"
    assert found.category.value == "Administrative"
    assert found.resource_group_name == RG
    assert found.authorization.action == found.operation_name.value
    assert found.event_timestamp == datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=timezone.utc)


def test_resource_group_filter_is_case_insensitive(monitor):
    found = monitor.activity_logs.list(filter=f"{SINCE} and resourceGroupName eq 'RG-Contoso-Web'")
    assert ids(found) == ["c-gateway", "c-rule", "c-old"]


@pytest.mark.parametrize("field", ["resourceUri", "resourceId", "RESOURCEURI"])
def test_resource_uri_filter_is_case_insensitive_and_exact(monitor, field):
    found = monitor.activity_logs.list(filter=f"{SINCE} and {field} eq '{GATEWAY_ID.upper()}'")
    assert ids(found) == ["c-gateway", "c-old"]
    # the NSG's own id does not select its rules' events
    assert ids(monitor.activity_logs.list(filter=f"{SINCE} and {field} eq '{NSG_ID}'")) == []


def test_resource_provider_and_correlation_filters(monitor):
    provider = monitor.activity_logs.list(filter=f"{SINCE} and resourceProvider eq 'microsoft.compute'")
    assert ids(provider) == ["c-vm"]
    assert ids(monitor.activity_logs.list(filter=f"{SINCE} and correlationId eq 'C-GATEWAY'")) == [
        "c-gateway"
    ]


def test_keywords_are_case_insensitive_and_the_legacy_channels_term_is_accepted(monitor):
    text = (
        "EventTimestamp GE '2026-11-23T00:00:00Z' AND eventChannels eq 'Admin, Operation' "
        "and ResourceGroupName Eq 'rg-contoso-web'"
    )
    assert ids(monitor.activity_logs.list(filter=text)) == ["c-gateway", "c-rule"]


def test_select_keeps_only_the_named_fields(monitor):
    found = list(monitor.activity_logs.list(filter=SINCE, select="eventTimestamp, Caller,resourceId"))
    assert [event.caller for event in found] == [
        "bob@contoso.com",
        "alice@contoso.com",
        "carol@contoso.com",
        "bob@contoso.com",
    ]
    assert set(found[0].as_dict()) == {"event_timestamp", "caller", "resource_id"}
    assert found[0].operation_name is None and found[0].correlation_id is None


def test_results_are_paged_with_next_links(sim, monitor, monkeypatch):
    monkeypatch.setattr(activity_log, "PAGE_SIZE", 3)
    found = list(monitor.activity_logs.list(filter=SINCE, select="correlationId"))
    assert ids(found) == ["c-gateway", "c-rule", "c-vm", "c-old"]
    assert sim.requests.count("activityLogs.list", status=200) == 2


# -- ARM's refusals ---------------------------------------------------------------------------


def refused(raised: pytest.ExceptionInfo[HttpResponseError]) -> str:
    assert raised.value.status_code == 400
    assert raised.value.error is not None and raised.value.error.code == "BadRequest"
    return str(raised.value.error.message)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "eventTimestamp le '2026-11-23T10:00:00Z'",
        "resourceGroupName eq 'rg-contoso-web'",
        f"{SINCE} and resourceGroupName eq '{RG}' and resourceUri eq '{GATEWAY_ID}'",
        f"{SINCE} or resourceGroupName eq '{RG}'",
        f"{SINCE} and",
        f"{SINCE} and eventTimestamp ge '2026-11-21T00:00:00Z'",
        "eventTimestamp ge '2026-11-23T10:00:00Z' and eventTimestamp le '2026-11-23T09:00:00Z'",
        "eventTimestamp ge 'yesterday'",
        "eventTimestamp ge '2026-11-23T10:00:00Z",
    ],
)
def test_a_filter_without_a_start_time_or_outside_arms_patterns_is_invalid(monitor, text):
    with pytest.raises(HttpResponseError) as raised:
        list(monitor.activity_logs.list(filter=text))
    assert refused(raised) == FILTER_INVALID


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (f"{SINCE} and caller eq 'alice@contoso.com'", "caller"),
        (f"{SINCE} and status eq 'Failed'", "status"),
        ("eventTimestamp gt '2026-11-23T00:00:00Z'", "eventTimestamp"),
        (f"{SINCE} and resourceGroupName ne '{RG}'", "resourceGroupName"),
        ("eventTimestamp ge 2026-11-23T00:00:00Z", "eventTimestamp"),  # unquoted
    ],
)
def test_an_unsupported_field_or_operator_is_named(monitor, text, field):
    with pytest.raises(HttpResponseError) as raised:
        list(monitor.activity_logs.list(filter=text))
    assert refused(raised) == f"$filter={field} is not supported."


def test_the_start_may_be_at_most_90_days_back(monitor):
    too_old = (CLOCK - timedelta(days=91)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(HttpResponseError) as raised:
        list(monitor.activity_logs.list(filter=f"eventTimestamp ge '{too_old}'"))
    assert refused(raised) == RETENTION_MESSAGE
    recent = (CLOCK - timedelta(days=89)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(list(monitor.activity_logs.list(filter=f"eventTimestamp ge '{recent}'"))) == 4


def test_reading_it_needs_the_eventtypes_values_read_action(simulator, clients):
    sim = simulator(world(authorization={"actions": ["Microsoft.Network/*/read"]}))
    with pytest.raises(HttpResponseError) as raised:
        list(clients(sim).monitor.activity_logs.list(filter=SINCE))
    assert raised.value.status_code == 403
    message = str(raised.value.error.message)
    assert "'Microsoft.Insights/eventtypes/values/read'" in message
    assert f"over scope '/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management'" in message
    sim.set_authorization({"actions": ["*/read"]})
    assert len(list(clients(sim).monitor.activity_logs.list(filter=SINCE))) == 4


# -- the simulator logs the writes it accepts -------------------------------------------------------

ALLOW_RULE = models.SecurityRule(
    protocol="Tcp",
    source_address_prefix="GatewayManager",
    source_port_range="*",
    destination_address_prefix="*",
    destination_port_range="65200-65535",
    access="Allow",
    priority=3900,
    direction="Inbound",
)
RULE_ID = f"{NSG_ID}/securityRules/appgw-doctor-allow"


def test_a_write_logs_started_and_succeeded_naming_the_caller_and_the_resource(simulator, clients):
    sim = simulator(world())
    token = unsigned_jwt(
        {"upn": "ops@contoso.com", "name": "Ops", "appid": "app-1", "oid": "0id", "groups": ["g1", "g2"]}
    )
    azure = clients(sim, credential=StaticTokenCredential(token))
    azure.network.security_rules.begin_create_or_update(RG, NSG, "appgw-doctor-allow", ALLOW_RULE).result()
    after = sim.clock()
    found = list(azure.monitor.activity_logs.list(filter=f"{SINCE} and resourceUri eq '{RULE_ID.upper()}'"))
    assert [event.status.value for event in found] == ["Succeeded", "Started"]
    succeeded, started = found
    for logged in found:
        assert logged.caller == "ops@contoso.com"
        assert logged.claims[UPN_CLAIM] == "ops@contoso.com"
        assert logged.claims["name"] == "Ops" and logged.claims["appid"] == "app-1"
        assert logged.claims["groups"] == "g1,g2"
        assert logged.claims["http://schemas.microsoft.com/identity/claims/objectidentifier"] == "0id"
        assert logged.operation_name.value == "Microsoft.Network/networkSecurityGroups/securityRules/write"
        assert logged.authorization.action == logged.operation_name.value
        assert logged.authorization.scope == RULE_ID
        assert logged.resource_id == RULE_ID
        assert logged.resource_group_name == RG
        assert logged.resource_provider_name.value == "Microsoft.Network"
        assert logged.category.value == "Administrative"
        assert logged.subscription_id == SUB
        assert CLOCK <= logged.event_timestamp <= after
    assert succeeded.correlation_id == started.correlation_id
    assert succeeded.operation_id == started.operation_id
    assert succeeded.event_name.value == "EndRequest" and started.event_name.value == "BeginRequest"
    assert succeeded.sub_status.value == "Created"
    assert started.event_timestamp <= succeeded.event_timestamp
    # the group's log shows it first, before the world's events
    in_group = list(azure.monitor.activity_logs.list(filter=f"{SINCE} and resourceGroupName eq '{RG}'"))
    assert ids(in_group)[2:] == ["c-gateway", "c-rule", "c-old"]
    assert sim.dump()["activityLog"][-1]["status"]["value"] == "Succeeded"


def test_the_correlation_id_is_the_writes_request_id(simulator, clients):
    sim = simulator(world([]))
    azure = clients(sim)
    azure.network.security_rules.begin_create_or_update(
        RG, NSG, "appgw-doctor-allow", ALLOW_RULE, request_id="write-1"
    ).result()
    found = list(azure.monitor.activity_logs.list(filter=SINCE))
    assert [event.correlation_id for event in found] == ["write-1", "write-1"]


def test_without_a_jwt_the_caller_is_the_principal_id(simulator, clients):
    principal = "11111111-2222-3333-4444-555555555555"
    sim = simulator(world([], authorization={"actions": ["*"], "principalId": principal}))
    azure = clients(sim)
    azure.network.security_rules.begin_delete(RG, NSG, "allow-gateway-manager").result()
    found = list(azure.monitor.activity_logs.list(filter=SINCE))
    assert {event.caller for event in found} == {principal}
    assert {event.operation_name.value for event in found} == {
        "Microsoft.Network/networkSecurityGroups/securityRules/delete"
    }
    sim.set_authorization(None)
    azure.network.security_rules.begin_create_or_update(RG, NSG, "appgw-doctor-allow", ALLOW_RULE).result()
    newest = next(iter(azure.monitor.activity_logs.list(filter=SINCE)))
    assert newest.caller == DEFAULT_PRINCIPAL_ID


def test_a_failed_write_logs_failed(simulator, clients):
    sim = simulator(world([]), faults=[FaultRule("securityRules.createOrUpdate", "lro-fail", status=409)])
    azure = clients(sim)
    with pytest.raises(HttpResponseError):
        azure.network.security_rules.begin_create_or_update(
            RG, NSG, "appgw-doctor-allow", ALLOW_RULE
        ).result()
    found = list(azure.monitor.activity_logs.list(filter=SINCE))
    assert [(event.status.value, event.level) for event in found] == [
        ("Failed", "Error"),
        ("Started", "Informational"),
    ]


def test_a_refused_write_logs_nothing(simulator, clients):
    sim = simulator(world([]))
    azure = clients(sim)
    bad = models.SecurityRule(**{**ALLOW_RULE.as_dict(), "priority": 5})
    with pytest.raises(HttpResponseError):
        azure.network.security_rules.begin_create_or_update(RG, NSG, "appgw-doctor-allow", bad).result()
    assert list(azure.monitor.activity_logs.list(filter=SINCE)) == []


# -- the world section ------------------------------------------------------------------------------


def test_a_dump_keeps_the_events_and_loads_again(sim, clients):
    clients(sim).network.security_rules.begin_create_or_update(
        RG, NSG, "appgw-doctor-allow", ALLOW_RULE
    ).result()
    dumped = sim.dump()
    assert len(dumped["activityLog"]) == len(EVENTS) + 2
    assert len(load_world(dumped).activity_events()) == len(EVENTS) + 2


@pytest.mark.parametrize(
    ("events", "where", "problem"),
    [
        ({"not": "a list"}, "$.activityLog", "must be a list"),
        (["text"], "$.activityLog[0]", "must be a JSON object"),
        ([{"caller": "x"}], "$.activityLog[0].eventTimestamp", "missing"),
        ([{**RULE_CHANGE, "eventTimestamp": "yesterday"}], "$.activityLog[0].eventTimestamp", "ISO 8601"),
        (
            [{**RULE_CHANGE, "eventTimestamp": "2026-11-23T09:00:00"}],
            "$.activityLog[0].eventTimestamp",
            "time zone",
        ),
        (
            [{**RULE_CHANGE, "eventTimestamp": "2026-11-24T00:00:00Z"}],
            "$.activityLog[0].eventTimestamp",
            "after",
        ),
        ([RULE_CHANGE, {**RULE_CHANGE, "caller": 7}], "$.activityLog[1].caller", "must be a string"),
        ([{**RULE_CHANGE, "status": "Succeeded"}], "$.activityLog[0].status", "localizable string"),
        ([{**RULE_CHANGE, "claims": {"appid": 1}}], '$.activityLog[0].claims["appid"]', "must be a string"),
        ([{**RULE_CHANGE, "subscriptionId": "other"}], "$.activityLog[0].subscriptionId", "not the world's"),
        (
            [{**RULE_CHANGE, "authorization": {"action": 1}}],
            "$.activityLog[0].authorization.action",
            "string",
        ),
    ],
)
def test_a_malformed_section_is_refused_on_load(events, where, problem):
    with pytest.raises(WorldError) as raised:
        load_world(world(events))
    message = str(raised.value)
    assert message.startswith(f"world: {where}: "), message
    assert problem in message
