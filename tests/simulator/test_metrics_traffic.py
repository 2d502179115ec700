"""Traffic metrics synthesized from the backend model after a write (simulator/traffic.py)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from simulator.metrics import query_metrics
from simulator.traffic import overlay_metrics, requests_per_minute, synthesize_traffic_metrics

ROOT = Path(__file__).resolve().parents[2]
GW = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web"
    "/providers/Microsoft.Network/applicationGateways/agw-contoso"
)
START = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
END = datetime(2026, 11, 23, 10, 35, tzinfo=timezone.utc)


class World:
    def __init__(self, scenario: str) -> None:
        self.data = json.loads((ROOT / "scenarios" / scenario / "world.json").read_text())
        self.resources = {r["id"].lower(): copy.deepcopy(r) for r in self.data["resources"]}
        self.backends = copy.deepcopy(self.data.get("backends") or {})

    def lookup(self, resource_id: str) -> dict | None:
        return self.resources.get(resource_id.lower())

    @property
    def gateway(self) -> dict:
        return self.resources[GW.lower()]

    @property
    def settings(self) -> dict:
        return self.gateway["properties"]["backendHttpSettingsCollection"][0]["properties"]

    def metrics(self, rpm: float = 1200.0) -> dict[str, dict]:
        items = synthesize_traffic_metrics(
            self.gateway, self.lookup, self.backends, {}, start=START, end=END, requests_per_minute=rpm
        )
        return {item["name"]["value"]: item for item in items}


def values(item: dict, field: str) -> dict[frozenset, float]:
    """Dimension values -> the field of the first data point, per series."""
    return {
        frozenset(m["value"] for m in series["metadatavalues"]): series["data"][0][field]
        for series in item["timeseries"]
    }


@pytest.fixture
def slow() -> World:
    return World("live-slow-backend")  # both members answer in 25 s, requestTimeout 20 s, v2


def test_every_request_times_out_when_all_members_are_slow(slow):
    metrics = slow.metrics()
    assert values(metrics["ResponseStatus"], "total") == {frozenset({"5xx"}): 1200.0}
    assert metrics["BackendResponseStatus"]["timeseries"] == []
    assert values(metrics["FailedRequests"], "total") == {frozenset({"web-pool~web-settings"}): 1200.0}
    assert values(metrics["HealthyHostCount"], "average") == {frozenset({"web-pool~web-settings"}): 2.0}
    assert values(metrics["BackendLastByteResponseTime"], "average") == {
        frozenset({"web-settings", "web-pool"}): 20000.0
    }
    stamps = [p["timeStamp"] for p in metrics["ResponseStatus"]["timeseries"][0]["data"]]
    assert stamps == [f"2026-11-23T10:3{m}:00Z" for m in range(5)]


def test_raising_the_request_timeout_brings_the_requests_back(slow):
    slow.settings["requestTimeout"] = 30
    metrics = slow.metrics()
    assert values(metrics["ResponseStatus"], "total") == {frozenset({"2xx"}): 1200.0}
    assert values(metrics["BackendResponseStatus"], "total") == {
        frozenset({"10.1.1.4", "web-pool", "web-settings", "2xx"}): 600.0,
        frozenset({"10.1.1.5", "web-pool", "web-settings", "2xx"}): 600.0,
    }
    assert values(metrics["FailedRequests"], "total") == {frozenset({"web-pool~web-settings"}): 0.0}
    assert values(metrics["BackendLastByteResponseTime"], "average") == {
        frozenset({"web-settings", "web-pool"}): 25000.0
    }


def test_v2_retries_a_timed_out_request_on_another_member(slow):
    slow.backends["10.1.1.5"]["responseSeconds"] = 0.5
    metrics = slow.metrics()
    assert values(metrics["ResponseStatus"], "total") == {frozenset({"2xx"}): 1200.0}
    assert values(metrics["BackendResponseStatus"], "total") == {
        frozenset({"10.1.1.5", "web-pool", "web-settings", "2xx"}): 1200.0
    }


def test_v1_answers_502_without_retrying(slow):
    slow.gateway["properties"]["sku"] = {"name": "Standard_Medium", "tier": "Standard", "capacity": 2}
    nsg = slow.lookup(
        GW.split("/providers/")[0] + "/providers/Microsoft.Network/networkSecurityGroups/nsg-contoso-appgw"
    )
    nsg["properties"]["securityRules"][0]["properties"]["destinationPortRange"] = "65503-65534"
    slow.backends["10.1.1.5"]["responseSeconds"] = 0.5
    metrics = slow.metrics()
    assert values(metrics["ResponseStatus"], "total") == {
        frozenset({"2xx"}): 600.0,
        frozenset({"5xx"}): 600.0,
    }
    assert values(metrics["FailedRequests"], "total") == {frozenset({"web-pool~web-settings"}): 600.0}


def test_no_healthy_member_means_the_gateway_answers_every_request():
    world = World("live-infra-ports")
    metrics = world.metrics(rpm=100)
    assert values(metrics["ResponseStatus"], "total") == {frozenset({"5xx"}): 100.0}
    assert values(metrics["HealthyHostCount"], "average") == {frozenset({"web-pool~web-settings"}): 0.0}
    assert values(metrics["UnhealthyHostCount"], "average") == {frozenset({"web-pool~web-settings"}): 2.0}
    assert metrics["BackendLastByteResponseTime"]["timeseries"] == []


def test_requests_per_minute_comes_from_the_recorded_response_status(slow):
    items = slow.data["metrics"][GW]
    assert requests_per_minute(items, before=START) == 300.0 + 900.0
    assert requests_per_minute([], before=START, default=42.0) == 42.0


def test_overlay_replaces_points_from_the_write_on(slow):
    recorded = slow.data["metrics"][GW]
    since = datetime(2026, 11, 23, 10, 20, tzinfo=timezone.utc)
    slow.settings["requestTimeout"] = 30
    synthesized = synthesize_traffic_metrics(
        slow.gateway, slow.lookup, slow.backends, {}, start=since, end=START, requests_per_minute=1200.0
    )
    merged = overlay_metrics(recorded, synthesized, since)
    assert [i["name"]["value"] for i in merged][:2] == ["BackendLastByteResponseTime", "ResponseStatus"]
    assert {i["name"]["value"] for i in merged} >= {"FailedRequests", "HealthyHostCount"}

    def status(timespan: str) -> dict[str, float]:
        body = query_metrics(
            merged,
            resource_id=GW,
            metricnames="ResponseStatus",
            timespan=timespan,
            interval="PT10M",
            aggregation="Total",
            filter="HttpStatusGroup eq '*'",
        )
        series = body["value"][0]["timeseries"]
        return {s["metadatavalues"][0]["value"]: s["data"][0]["total"] for s in series}

    assert status("2026-11-23T10:10:00Z/PT10M") == {"5xx": 3000.0, "2xx": 9000.0}
    assert status("2026-11-23T10:20:00Z/PT10M") == {"2xx": 12000.0}
    latency = query_metrics(merged, resource_id=GW, metricnames="BackendLastByteResponseTime",
                            timespan="2026-11-23T10:20:00Z/PT10M", interval="PT10M", aggregation="Average",
                            filter=None)  # fmt: skip
    assert latency["value"][0]["timeseries"][0]["data"][0]["average"] == 25000.0


def test_minutes_start_on_the_next_whole_minute(slow):
    items = synthesize_traffic_metrics(
        slow.gateway,
        slow.lookup,
        slow.backends,
        {},
        start=datetime(2026, 11, 23, 10, 30, 30, tzinfo=timezone.utc),
        end=datetime(2026, 11, 23, 10, 32, 0, tzinfo=timezone.utc),
        requests_per_minute=10,
    )
    stamps = [p["timeStamp"] for p in items[0]["timeseries"][0]["data"]]
    assert stamps == ["2026-11-23T10:31:00Z"]
