"""Which Event Grid resource events mean "a gateway's health may have changed"."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from intake.events import (
    RESOURCE_DELETE_SUCCESS,
    RESOURCE_WRITE_SUCCESS,
    ResourceChange,
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
