"""Which Event Grid resource events mean "a gateway's health may have changed"."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from appgw_doctor.pipeline import CHANGE, WorkItem
from intake.errors import IntakeError
from intake.events import (
    MAX_CALLER,
    RESOURCE_DELETE_SUCCESS,
    RESOURCE_WRITE_SUCCESS,
    ResourceChange,
    check_change,
    parse_resource_write,
)

RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network"
N = "Microsoft.Network"
NSG = f"{RG}/networkSecurityGroups/nsg"
AT = datetime(2026, 11, 23, 10, 40, tzinfo=timezone.utc)


def change(operation: str, resource: str, *, event_type: str = RESOURCE_WRITE_SUCCESS, data=None):
    data = (
        {"operationName": operation, "resourceUri": resource, "status": "Succeeded"} if data is None else data
    )
    return parse_resource_write(
        event_id="e1", event_type=event_type, subject=resource, data=data, event_time=AT
    )


@pytest.mark.parametrize(
    ("operation", "resource", "watched"),
    [
        (f"{N}/applicationGateways/write", f"{RG}/applicationGateways/agw", f"{RG}/applicationGateways/agw"),
        (f"{N}/networkSecurityGroups/write", NSG, NSG),
        (f"{N}/networkSecurityGroups/securityRules/write",
         f"{RG}/networkSecurityGroups/nsg/securityRules/DenyAll", f"{RG}/networkSecurityGroups/nsg"),
        (f"{N}/networkSecurityGroups/securityRules/delete",
         f"{RG}/networkSecurityGroups/nsg/securityRules/Allow", f"{RG}/networkSecurityGroups/nsg"),
        (f"{N}/routeTables/write", f"{RG}/routeTables/rt", f"{RG}/routeTables/rt"),
        (f"{N}/routeTables/routes/write", f"{RG}/routeTables/rt/routes/default", f"{RG}/routeTables/rt"),
        (f"{N}/virtualNetworks/subnets/write",
         f"{RG}/virtualNetworks/vnet/subnets/appgw", f"{RG}/virtualNetworks/vnet/subnets/appgw"),
        (f"{N}/virtualNetworks/write", f"{RG}/virtualNetworks/vnet", f"{RG}/virtualNetworks/vnet"),
    ],
)  # fmt: skip
def test_writes_that_can_break_a_gateway_name_the_watched_resource(operation, resource, watched) -> None:
    # Azure reports a deletion with a ResourceDeleteSuccess event, everything else with ResourceWriteSuccess.
    deletion = operation.endswith("/delete")
    result = change(
        operation, resource, event_type=RESOURCE_DELETE_SUCCESS if deletion else RESOURCE_WRITE_SUCCESS
    )
    assert result == ResourceChange(event_id="e1", resource_id=watched, operation=operation, event_time=AT)
    assert result.is_gateway_write == operation.startswith(f"{N}/applicationGateways")


def test_operation_names_compare_case_insensitively() -> None:
    assert change(
        "MICROSOFT.NETWORK/APPLICATIONGATEWAYS/WRITE", f"{RG}/applicationGateways/agw"
    ).is_gateway_write


def test_subject_is_used_when_resource_uri_is_absent() -> None:
    result = change("x", "", data={"operationName": "Microsoft.Network/routeTables/write"})
    assert result is None  # subject "" is not an ARM id
    subject = f"{RG}/routeTables/rt"
    result = parse_resource_write(
        event_id="e2", event_type=RESOURCE_WRITE_SUCCESS, subject=subject,
        data={"operationName": "Microsoft.Network/routeTables/write"}, event_time=None,
    )  # fmt: skip
    assert result is not None and result.resource_id == subject


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        (
            "Microsoft.Resources.ResourceWriteFailure",
            {"operationName": "Microsoft.Network/routeTables/write"},
        ),
        (
            "Microsoft.Resources.ResourceDeleteSuccess",
            {"operationName": "Microsoft.Network/routeTables/delete"},
        ),
        (RESOURCE_WRITE_SUCCESS, {"operationName": "Microsoft.Compute/virtualMachines/write"}),
        (RESOURCE_WRITE_SUCCESS, {"operationName": 7}),
        (RESOURCE_WRITE_SUCCESS, {}),
        (RESOURCE_WRITE_SUCCESS, "not an object"),
    ],
)
def test_other_events_are_ignored(event_type, data) -> None:
    assert change("", f"{RG}/routeTables/rt", event_type=event_type, data=data) is None


def test_a_deleted_rule_or_route_is_a_change_of_its_parent() -> None:
    deleted = change(
        "Microsoft.Network/networkSecurityGroups/securityRules/delete",
        f"{RG}/networkSecurityGroups/nsg/securityRules/AllowGatewayManager",
        event_type="Microsoft.Resources.ResourceDeleteSuccess",
    )
    assert deleted is not None and deleted.resource_id == f"{RG}/networkSecurityGroups/nsg"
    as_write = change(
        "Microsoft.Network/networkSecurityGroups/securityRules/delete",
        f"{RG}/networkSecurityGroups/nsg/securityRules/AllowGatewayManager",
    )
    assert as_write is None


def test_change_round_trips_and_dedupes_on_event_id() -> None:
    result = change(f"{N}/routeTables/write", f"{RG}/routeTables/rt")
    assert ResourceChange.from_dict(result.to_dict()) == result
    assert result.dedupe_key == "event|e1"


# --- who made the change: the event's claims ------------------------------------------------------------

UPN_URI = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
APP = "11111111-2222-3333-4444-555555555555"


def claimed(claims) -> ResourceChange | None:
    return change(
        f"{N}/networkSecurityGroups/write",
        NSG,
        data={"operationName": f"{N}/networkSecurityGroups/write", "resourceUri": NSG, "claims": claims},
    )


@pytest.mark.parametrize(
    ("claims", "caller"),
    [
        ({UPN_URI: "alice@contoso.com", "upn": "u@x", "name": "Alice", "appid": APP}, "alice@contoso.com"),
        ({"upn": "bob@contoso.com", "unique_name": "b@x", "appid": APP}, "bob@contoso.com"),
        ({"unique_name": "live.com#carol@outlook.com", "name": "Carol"}, "live.com#carol@outlook.com"),
        ({"name": "Dave Operator", "appid": APP}, "Dave Operator"),
        ({"appid": APP, "appidacr": "2"}, f"app {APP}"),
        ({UPN_URI: "  alice@contoso.com  "}, "alice@contoso.com"),
        ({}, None),
        (None, None),
        ("not claims", None),
        ([{"upn": "x@y"}], None),
        ({"upn": 42, "appid": None}, None),
        # Claims as JSON text, as the Activity Log carries them.
        ('{"upn": "erin@contoso.com"}', "erin@contoso.com"),
        ('{"upn": ', None),
    ],
)
def test_the_caller_comes_from_the_claims(claims, caller) -> None:
    result = claimed(claims)
    assert result is not None and result.caller == caller
    assert ResourceChange.from_dict(result.to_dict()) == result


@pytest.mark.parametrize(
    "hostile",
    [
        "alice@contoso.com\r\nX-Forged: 1",
        "\u202emoc.osotnoc@ecila",
        "a\ud800b",
        "a\x00b",
        "\x1b[31mred",
        "x" * 257,
        "",
        "   ",
    ],
)
def test_an_unusable_claim_is_passed_over_for_the_next_and_never_refuses_the_event(hostile) -> None:
    assert claimed({UPN_URI: hostile, "upn": "ok@contoso.com"}).caller == "ok@contoso.com"
    assert claimed({UPN_URI: hostile, "appid": APP}).caller == f"app {APP}"
    assert claimed({UPN_URI: hostile, "appid": hostile}).caller is None


def test_a_caller_at_the_bound_is_kept_and_oversized_claims_text_is_not_parsed() -> None:
    assert claimed({"upn": "y" * MAX_CALLER}).caller == "y" * MAX_CALLER
    assert claimed({"appid": "z" * (MAX_CALLER - 4)}).caller == "app " + "z" * (MAX_CALLER - 4)
    assert claimed({"appid": "z" * (MAX_CALLER - 3)}).caller is None
    huge = json.dumps({"upn": "big@contoso.com", "pad": "p" * 70_000})
    assert claimed(huge).caller is None


def test_the_caller_survives_the_queue_and_an_unusable_one_is_not_a_work_item() -> None:
    result = claimed({UPN_URI: "alice@contoso.com"})
    item = WorkItem(kind=CHANGE, gateway_id=f"{RG}/applicationGateways/agw", change=result)
    again = WorkItem.from_message(item.to_message())
    assert again == item and again.change.caller == "alice@contoso.com"
    assert "caller" not in replace(result, caller=None).to_dict()  # older messages read the same
    for bad in ("a\r\nb", "x" * (MAX_CALLER + 1), " ", 7):
        forged = WorkItem(kind=CHANGE, gateway_id=item.gateway_id, change=replace(result, caller=bad))
        with pytest.raises(ValueError, match="not a work item message: caller"):
            WorkItem.from_message(forged.to_message())
    with pytest.raises(IntakeError, match="caller"):
        check_change(replace(result, caller="\u2028"))
