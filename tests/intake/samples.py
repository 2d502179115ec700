"""Microsoft's published sample payloads (tests/intake/payloads/README.md says where each comes from),
and the one change a test makes to them: the resource they name becomes an Application Gateway."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).resolve().parent / "payloads"
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web"
GATEWAY = f"{RG}/providers/Microsoft.Network/applicationGateways/agw-contoso"
EVENT_SAMPLES = ("resource-write-success", "resource-delete-success", "resource-action-success")
SCHEMAS = ("eventgrid", "cloudevents")


def sample(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def event_sample(schema: str, kind: str) -> dict[str, Any]:
    """The one event of Microsoft's sample (each sample is an array of one, as Event Grid posts it)."""
    (event,) = sample(f"{schema}-{kind}.json")
    return event


def about(event: dict[str, Any], resource: str, operation: str) -> dict[str, Any]:
    """The sample event, about `operation` on `resource` in the test subscription."""
    event = copy.deepcopy(event)
    topic_key = "source" if "specversion" in event else "topic"
    event[topic_key] = RG
    event["subject"] = resource
    data = event["data"]
    data.update(resourceUri=resource, operationName=operation, subscriptionId=SUB)
    data["authorization"].update(scope=resource, action=operation)
    data["resourceProvider"] = operation.split("/")[0]
    if "httpRequest" in data:
        data["httpRequest"]["url"] = f"https://management.azure.com{resource}?api-version=2024-05-01"
    return event


def alert_sample(name: str, *, targets: list[str] | None = None, **essentials: Any) -> dict[str, Any]:
    document = sample(name)
    if targets is not None:
        document["data"]["essentials"]["alertTargetIDs"] = targets
    document["data"]["essentials"].update(essentials)
    return document


def with_dimensions(document: dict[str, Any], *dimensions: tuple[str, str]) -> dict[str, Any]:
    """The log search alert split by these dimensions (name, value), as Azure Monitor sends it."""
    document = copy.deepcopy(document)
    (criterion,) = document["data"]["alertContext"]["condition"]["allOf"]
    criterion["dimensions"] = [{"name": name, "value": value} for name, value in dimensions]
    return document
