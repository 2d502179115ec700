"""Metrics queries through the real azure-mgmt-monitor client against the simulator."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

GW = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web"
    "/providers/Microsoft.Network/applicationGateways/agw-contoso"
)
TIMESPAN = "2026-11-23T10:00:00Z/2026-11-23T10:30:00Z"


@pytest.fixture
def monitor(simulator, clients):
    return clients(simulator("scenarios/request-timeout/world.json")).monitor


def test_split_by_backend_http_setting(monitor):
    result = monitor.metrics.list(
        GW,
        timespan=TIMESPAN,
        interval="PT5M",
        metricnames="BackendLastByteResponseTime",
        aggregation="Average,Maximum",
        filter="BackendHttpSetting eq '*'",
    )
    assert result.namespace == "Microsoft.Network/applicationGateways"
    assert result.resourceregion == "westeurope"
    (metric,) = result.value
    assert metric.name.value == "BackendLastByteResponseTime"
    by_setting = {series.metadatavalues[0].value: series.data for series in metric.timeseries}
    assert set(by_setting) == {"web-settings", "reports-settings"}
    web = by_setting["web-settings"]
    assert len(web) == 6
    assert {point.average for point in web} == {17500.0}
    assert all(point.total is None for point in web)
    assert max(point.maximum for point in by_setting["reports-settings"]) < min(
        point.maximum for point in web
    )


def test_status_groups_filtered_and_summed(monitor):
    result = monitor.metrics.list(
        GW,
        timespan="2026-11-23T10:10:00Z/PT10M",
        interval="PT10M",
        metricnames="ResponseStatus",
        aggregation="Total",
        filter="HttpStatusGroup eq '5xx'",
    )
    (series,) = result.value[0].timeseries
    assert [m.value for m in series.metadatavalues] == ["5xx"]
    (point,) = series.data
    assert point.total == 10 * 120.0


def test_unknown_metric_is_a_bad_request(monitor):
    with pytest.raises(HttpResponseError) as raised:
        monitor.metrics.list(GW, timespan=TIMESPAN, metricnames="NoSuchMetric")
    assert raised.value.status_code == 400
    assert "NoSuchMetric" in str(raised.value)


def test_bad_filter_is_a_bad_request(monitor):
    with pytest.raises(HttpResponseError) as raised:
        monitor.metrics.list(GW, metricnames="ResponseStatus", filter="HttpStatusGroup = 5xx")
    assert raised.value.status_code == 400
