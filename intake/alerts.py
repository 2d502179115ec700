"""Azure Monitor alerts in the common alert schema, validated down to what the pipeline needs.

An action group posts one alert per request (docs/APPGW_FACTS.md, "Alerts and events"). We accept
metric alerts, log search alerts, and Resource Health and Administrative activity-log alerts about
Application Gateways in allowed subscriptions; anything else is refused with an IntakeError naming
what is wrong. A log search alert may target a Log Analytics workspace (or another scope): its
gateways are then the `_ResourceId` (or `ResourceId`) dimensions it was split by.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from core.arm_ids import is_gateway_id, subscription_of
from core.iso8601 import parse_duration
from core.iso8601 import parse_time as parse_iso_time
from core.settings import DEFAULT_MAX_ALERT_TARGETS
from intake.errors import IntakeError, bad_request
from intake.text import MAX_ID, MAX_NAME, MAX_SHORT, checked_text, shown, text_problem

SCHEMA_ID = "azureMonitorCommonAlertSchema"
MAX_BODY_BYTES = 1024 * 1024
FIRED = "Fired"
RESOLVED = "Resolved"
METRIC = "Metric"
LOG = "Log"
ACTIVITY_LOG = "Activity Log"
ACCEPTED_SIGNALS = (METRIC, LOG, ACTIVITY_LOG)
# The activity-log alerts we diagnose (monitoringService): a gateway's health changed, or an
# administrative operation on it (a write, a stop) fired a rule. Service Health, Policy, Autoscale,
# Security and Recommendation alerts are not about one gateway's traffic.
RESOURCE_HEALTH = "Resource Health"
ADMINISTRATIVE = "Activity Log - Administrative"
ACTIVITY_LOG_SERVICES = (RESOURCE_HEALTH, ADMINISTRATIVE)
# Dimensions of a log search alert that name the resource a row came from (Log Analytics writes the
# ids in lower case; `_ResourceId` is the standard column, `ResourceId` the AzureDiagnostics one).
RESOURCE_DIMENSIONS = ("_resourceid", "resourceid")
SPLIT_HINT = "split the alert rule by the _ResourceId dimension (one alert per gateway)"

# Alert times outside this range are not real (and break time arithmetic near year 1 or 9999).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE = timedelta(days=366)
TIME_RANGE = "2000-01-01 to a year from now"
MAX_DESCRIPTION = 1024  # longer descriptions are cut (free text, shown in messages, never a key)
MAX_METRIC_NAME = 256
# Azure Monitor evaluation windows: metric alerts up to P1D, log alerts up to P2D.
MAX_WINDOW = timedelta(days=2)


@dataclass(frozen=True)
class MetricCriterion:
    """One criterion of a metric alert (`alertContext.condition.allOf[]`): what crossed which line."""

    metric_name: str
    operator: str = ""
    threshold: str = ""
    metric_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metricName": self.metric_name,
            "operator": self.operator,
            "threshold": self.threshold,
            "metricValue": self.metric_value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricCriterion:
        return cls(
            metric_name=data["metricName"],
            operator=data.get("operator") or "",
            threshold=data.get("threshold") or "",
            metric_value=data.get("metricValue"),
        )

    @classmethod
    def first_of(cls, condition: dict[str, Any]) -> MetricCriterion | None:
        """The first well-formed criterion of a condition block; None for log alerts and odd shapes."""
        criteria = condition.get("allOf")
        first = criteria[0] if isinstance(criteria, list) and criteria else None
        if not isinstance(first, dict) or not isinstance(first.get("metricName"), str):
            return None
        threshold = first.get("threshold")
        return cls(
            metric_name=first["metricName"][:MAX_METRIC_NAME],
            operator=str(first.get("operator") or "")[:MAX_SHORT],
            threshold=str(threshold)[:MAX_SHORT] if isinstance(threshold, (str, int, float)) else "",
            metric_value=_finite(first.get("metricValue")),
        )


def _finite(value: Any) -> float | None:
    """A metric value as a float; None for anything else (booleans, NaN, infinities, huge integers)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Alert:
    """One alert instance about one gateway (a multi-target alert becomes one Alert per gateway)."""

    alert_id: str
    alert_rule: str
    severity: str
    signal_type: str
    monitor_condition: str
    gateway_id: str
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    window_end: datetime | None = None
    window_size: timedelta | None = None  # a metric alert's evaluation window (condition.windowSize)
    description: str = ""
    metric: MetricCriterion | None = None  # a metric alert's first criterion (what fired, how much)
    monitoring_service: str = ""  # essentials.monitoringService ("Platform", "Log Alerts V2", ...)

    @property
    def subscription_id(self) -> str:
        return subscription_of(self.gateway_id)

    @property
    def resolved(self) -> bool:
        return self.monitor_condition == RESOLVED

    @property
    def dedupe_key(self) -> str:
        """Same alert instance, same condition, same gateway = same delivery (action groups retry)."""
        return f"alert|{self.alert_id.lower()}|{self.monitor_condition}|{self.gateway_id.lower()}"

    def delivery_key(self, condition: str) -> str:
        """The dedupe key of this alert instance's `condition` (Fired or Resolved) delivery."""
        return replace(self, monitor_condition=condition).dedupe_key

    @property
    def incident_time(self) -> datetime | None:
        """When the problem was seen: the alert's fired time, else the end of its evaluation window."""
        return self.fired_at or self.window_end

    def common_schema_data(self) -> dict[str, Any]:
        """The `data` object of the common alert schema, with what this alert kept of it (what the
        notifications read)."""
        condition: dict[str, Any] = {}
        if self.metric is not None:
            condition["allOf"] = [self.metric.to_dict()]
        return {
            "essentials": {
                "alertId": self.alert_id,
                "alertRule": self.alert_rule,
                "severity": self.severity,
                "signalType": self.signal_type,
                "monitorCondition": self.monitor_condition,
                "monitoringService": self.monitoring_service,
                "alertTargetIDs": [self.gateway_id],
                "firedDateTime": _iso(self.fired_at),
                "resolvedDateTime": _iso(self.resolved_at),
                "description": self.description,
            },
            "alertContext": {"condition": condition},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "alertId": self.alert_id,
            "alertRule": self.alert_rule,
            "severity": self.severity,
            "signalType": self.signal_type,
            "monitorCondition": self.monitor_condition,
            "gatewayId": self.gateway_id,
            "firedDateTime": _iso(self.fired_at),
            "resolvedDateTime": _iso(self.resolved_at),
            "windowEndTime": _iso(self.window_end),
            "windowSizeSeconds": self.window_size.total_seconds() if self.window_size else None,
            "description": self.description,
            "metric": self.metric.to_dict() if self.metric else None,
            "monitoringService": self.monitoring_service,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(
            alert_id=data["alertId"],
            alert_rule=data["alertRule"],
            severity=data["severity"],
            signal_type=data["signalType"],
            monitor_condition=data["monitorCondition"],
            gateway_id=data["gatewayId"],
            fired_at=parse_time(data.get("firedDateTime")),
            resolved_at=parse_time(data.get("resolvedDateTime")),
            window_end=parse_time(data.get("windowEndTime")),
            window_size=timedelta(seconds=data["windowSizeSeconds"])
            if data.get("windowSizeSeconds")
            else None,
            description=data.get("description") or "",
            metric=MetricCriterion.from_dict(data["metric"]) if data.get("metric") else None,
            monitoring_service=data.get("monitoringService") or "",
        )


def parse_alert_body(
    body: bytes,
    *,
    allowed_subscriptions: Iterable[str] | None,
    max_targets: int = DEFAULT_MAX_ALERT_TARGETS,
) -> list[Alert]:
    """Validate a webhook body; one Alert per targeted gateway.

    `allowed_subscriptions=None` means no allow-list (local CLI use); an empty collection allows none.
    An alert naming more than `max_targets` gateways (MAX_ALERT_TARGETS) is refused.
    """
    if len(body) > MAX_BODY_BYTES:
        raise IntakeError(413, "body_too_large", f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad_request("malformed_json", "body is not valid JSON") from None
    return parse_alert_document(
        document, allowed_subscriptions=allowed_subscriptions, max_targets=max_targets
    )


def parse_alert_document(
    document: Any,
    *,
    allowed_subscriptions: Iterable[str] | None,
    max_targets: int = DEFAULT_MAX_ALERT_TARGETS,
) -> list[Alert]:
    if not isinstance(document, dict):
        raise bad_request("malformed_alert", "body must be a JSON object")
    if document.get("schemaId") != SCHEMA_ID:
        raise bad_request("wrong_schema", f"schemaId must be {SCHEMA_ID!r}")
    data = document.get("data")
    essentials = data.get("essentials") if isinstance(data, dict) else None
    if not isinstance(essentials, dict):
        raise bad_request("missing_field", "data.essentials is missing")

    alert_id = _required_text(essentials, "alertId")
    condition = _required_text(essentials, "monitorCondition")
    if condition not in (FIRED, RESOLVED):
        raise bad_request("invalid_field", f"monitorCondition must be {FIRED!r} or {RESOLVED!r}")
    signal = _required_text(essentials, "signalType")
    if signal not in ACCEPTED_SIGNALS:
        raise IntakeError(
            422,
            "unsupported_signal",
            f"signalType {shown(signal, 60)} is not a metric, log or activity-log alert",
        )
    service = _optional_text(essentials, "monitoringService")
    checked_text(service, "data.essentials.monitoringService", max_length=MAX_SHORT)
    if signal == ACTIVITY_LOG and _service_name(service) not in ACTIVITY_LOG_SERVICES:
        raise IntakeError(
            422,
            "unsupported_signal",
            f"activity-log alerts from monitoringService {shown(service, 60)} are not diagnosed "
            f"(only {' and '.join(repr(name) for name in ACTIVITY_LOG_SERVICES)})",
        )
    targets = essentials.get("alertTargetIDs")
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise bad_request("missing_field", "data.essentials.alertTargetIDs must be a non-empty list of ids")
    _check_count(len(targets), "targets", max_targets)
    condition_block = _alert_condition(data)
    not_gateways = [t for t in targets if not acceptable_gateway_id(t)]
    if not_gateways and signal == LOG:
        # A log search alert on a workspace (or a resource group, a subscription): its gateways are
        # the resources it was split by.
        targets = [t for t in targets if acceptable_gateway_id(t)] + _dimension_gateways(condition_block)
        if not targets:
            raise IntakeError(
                422,
                "no_gateway_in_alert",
                f"log alert target {shown(not_gateways[0], 200)} is not an Application Gateway and no "
                f"_ResourceId dimension names one: {SPLIT_HINT}",
            )
        _check_count(len({t.lower() for t in targets}), "gateways", max_targets)
    elif not_gateways:
        raise IntakeError(
            422,
            "not_application_gateway",
            f"alert target is not an Application Gateway: {shown(not_gateways[0], 200)}",
        )
    if allowed_subscriptions is not None:
        allowed = {s.strip().lower() for s in allowed_subscriptions}
        outside = [t for t in targets if subscription_of(t) not in allowed]
        if outside:
            raise IntakeError(
                403, "subscription_not_allowed", f"subscription {subscription_of(outside[0])} is not allowed"
            )

    first = Alert(
        alert_id=alert_id,
        alert_rule=_optional_text(essentials, "alertRule"),
        severity=_optional_text(essentials, "severity"),
        signal_type=signal,
        monitor_condition=condition,
        gateway_id=targets[0],
        fired_at=_field_time(essentials, "firedDateTime"),
        resolved_at=_field_time(essentials, "resolvedDateTime"),
        window_end=_field_time(condition_block, "windowEndTime"),
        window_size=_field_duration(condition_block, "windowSize"),
        description=_optional_text(essentials, "description")[:MAX_DESCRIPTION],
        metric=MetricCriterion.first_of(condition_block),
        monitoring_service=_service_name(service),
    )
    check_alert(first)
    unique: dict[str, str] = {}
    for target in targets:  # one alert per gateway, as first spelled (ARM ids compare case-insensitively)
        unique.setdefault(target.lower(), target)
    return [replace(first, gateway_id=target) for target in unique.values()]


def check_alert(alert: Alert) -> None:
    """IntakeError unless every field of `alert` is what intake accepts: text that is well-formed,
    one line where it becomes a key, header or log field, and bounded; known condition and signal; an
    Application Gateway id; times in range; a finite metric value. The parser applies it to what it
    builds, and a queue message is read back through it (`appgw_doctor.pipeline.WorkItem`), so what
    the door accepted is exactly what the worker accepts."""
    for field, value, max_length in (
        ("data.essentials.alertId", alert.alert_id, MAX_ID),
        ("data.essentials.alertRule", alert.alert_rule, MAX_NAME),
        ("data.essentials.severity", alert.severity, MAX_SHORT),
    ):
        checked_text(value, field, max_length=max_length)
    if not alert.alert_id.strip():
        raise bad_request("missing_field", "data.essentials.alertId is missing")
    checked_text(alert.description, "data.essentials.description", max_length=MAX_DESCRIPTION, multiline=True)
    if alert.monitor_condition not in (FIRED, RESOLVED):
        raise bad_request("invalid_field", f"monitorCondition must be {FIRED!r} or {RESOLVED!r}")
    checked_text(alert.monitoring_service, "data.essentials.monitoringService", max_length=MAX_SHORT)
    if alert.signal_type not in ACCEPTED_SIGNALS:
        raise IntakeError(422, "unsupported_signal", "signalType is not a metric, log or activity-log alert")
    if alert.signal_type == ACTIVITY_LOG and alert.monitoring_service not in ACTIVITY_LOG_SERVICES:
        raise IntakeError(
            422, "unsupported_signal", "activity-log alert from a monitoringService not diagnosed"
        )
    if not acceptable_gateway_id(alert.gateway_id):
        raise IntakeError(
            422,
            "not_application_gateway",
            f"alert target is not an Application Gateway: {shown(alert.gateway_id, 200)}",
        )
    for name, when in (
        ("firedDateTime", alert.fired_at),
        ("resolvedDateTime", alert.resolved_at),
        ("windowEndTime", alert.window_end),
    ):
        if when is not None:
            _check_range(when, name, when.isoformat() if when.tzinfo else "a time without a zone")
    if alert.window_size is not None and not timedelta(0) < alert.window_size <= MAX_WINDOW:
        raise bad_request("invalid_field", "windowSize is out of range (more than zero, up to P2D)")
    metric = alert.metric
    if metric is not None:
        criterion = "data.alertContext.condition.allOf[0]"
        checked_text(metric.metric_name, f"{criterion}.metricName", max_length=MAX_METRIC_NAME)
        checked_text(metric.operator, f"{criterion}.operator", max_length=MAX_SHORT)
        checked_text(metric.threshold, f"{criterion}.threshold", max_length=MAX_SHORT)
        if metric.metric_value is not None and not (
            isinstance(metric.metric_value, (int, float)) and math.isfinite(metric.metric_value)
        ):
            raise bad_request("invalid_field", f"{criterion}.metricValue is not a finite number")


def checked_time(text: str, name: str) -> datetime:
    """An alert (or incident) time: ISO 8601 as Azure writes it, from 2000-01-01 to a year from now
    (times outside are not real alerts and break time arithmetic near year 1 or 9999). IntakeError
    400 invalid_field naming `name` otherwise."""
    try:
        when = parse_iso_time(text)
    except (ValueError, OverflowError):
        raise bad_request("invalid_field", f"{name} is not an ISO 8601 date-time") from None
    _check_range(when, name, text)
    return when


def _check_range(when: datetime, name: str, text: str) -> None:
    if when.tzinfo is None:
        raise bad_request("invalid_field", f"{name} has no time zone")
    latest = datetime.now(timezone.utc) + MAX_FUTURE
    if not EARLIEST_TIME <= when <= latest:
        raise bad_request("invalid_field", f"{name} {shown(text, 40)} is out of range ({TIME_RANGE})")


def acceptable_gateway_id(target: str) -> bool:
    """An Application Gateway id intake accepts: bounded, well-formed, one line (core.arm_ids)."""
    return text_problem(target, max_length=MAX_NAME) is None and is_gateway_id(target)


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 as Azure writes it (`Z`, up to 7 fractional digits) -> aware UTC datetime; None stays None."""
    return None if value is None else parse_iso_time(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _alert_condition(data: Any) -> dict[str, Any]:
    context = data.get("alertContext")
    condition = context.get("condition") if isinstance(context, dict) else None
    return condition if isinstance(condition, dict) else {}


def _service_name(service: str) -> str:
    """monitoringService as the common schema spells it (Microsoft's samples also write `ResourceHealth`)."""
    return RESOURCE_HEALTH if service == "ResourceHealth" else service


def _check_count(count: int, what: str, max_targets: int) -> None:
    if count > max_targets:
        raise IntakeError(
            422,
            "too_many_targets",
            f"alert names {count} {what}; the limit is {max_targets} (MAX_ALERT_TARGETS)",
        )


def _dimension_gateways(condition: dict[str, Any]) -> list[str]:
    """The Application Gateway ids among a log search alert's `_ResourceId` / `ResourceId` dimensions
    (`alertContext.condition.allOf[].dimensions[]`), in order; other dimensions and values are not
    gateways and are skipped."""
    found: list[str] = []
    criteria = condition.get("allOf")
    for criterion in criteria if isinstance(criteria, list) else []:
        dimensions = criterion.get("dimensions") if isinstance(criterion, dict) else None
        for dimension in dimensions if isinstance(dimensions, list) else []:
            if not isinstance(dimension, dict):
                continue
            name, value = dimension.get("name"), dimension.get("value")
            if (
                isinstance(name, str)
                and name.lower() in RESOURCE_DIMENSIONS
                and isinstance(value, str)
                and acceptable_gateway_id(value)
            ):
                found.append(value)
    return found


def _required_text(block: dict[str, Any], name: str) -> str:
    value = block.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request("missing_field", f"data.essentials.{name} is missing")
    return checked_text(value, f"data.essentials.{name}", max_length=MAX_ID)


def _optional_text(block: dict[str, Any], name: str) -> str:
    value = block.get(name)
    return value if isinstance(value, str) else ""


def _field_time(block: dict[str, Any], name: str) -> datetime | None:
    value = block.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request("invalid_field", f"{name} must be an ISO 8601 date-time")
    return checked_time(value, name)


def _field_duration(block: dict[str, Any], name: str) -> timedelta | None:
    value = block.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        window = parse_duration(value)
    except (ValueError, OverflowError):
        raise bad_request("invalid_field", f"{name} must be an ISO 8601 duration such as PT5M") from None
    if not timedelta(0) < window <= MAX_WINDOW:
        raise bad_request(
            "invalid_field", f"{name} {shown(value, 40)} is out of range (more than zero, up to P2D)"
        )
    return window
