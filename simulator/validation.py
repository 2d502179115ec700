"""What ARM rejects in an Application Gateway PUT body before it accepts the operation (400).

- a reference between the gateway's own sub-resources (a settings' probe, a rule's pool, settings,
  listener, URL path map or redirect, a path rule's pool or settings, a listener's frontend IP
  configuration or port) that names no sub-resource of the body: `InvalidResourceReference`;
- a backend settings `requestTimeout` outside 1-86400 s:
  `ApplicationGatewayBackendHttpSettingsInvalidRequestTimeout`;
- a probe `interval` or `timeout` outside 1-86400 s, or `unhealthyThreshold` outside 0-20:
  `ApplicationGatewayProbeIntervalIsInvalid`, `...TimeoutIsInvalid`, `...UnhealthyThresholdIsInvalid`.

`gateway_problem` returns the first one as (code, message), in the order listed, or None.
References to other resources (subnets, public IPs) are not checked here.
"""

from __future__ import annotations

from typing import Any

MAX_SECONDS = 86400

# Per collection of sub-resources: the properties that reference another sub-resource of the gateway.
_REFERENCES = {
    "backendHttpSettingsCollection": ("probe",),
    "requestRoutingRules": (
        "backendAddressPool",
        "backendHttpSettings",
        "httpListener",
        "urlPathMap",
        "redirectConfiguration",
        "rewriteRuleSet",
    ),
    "urlPathMaps": (
        "defaultBackendAddressPool",
        "defaultBackendHttpSettings",
        "defaultRedirectConfiguration",
        "defaultRewriteRuleSet",
    ),
    "httpListeners": ("frontendIPConfiguration", "frontendPort", "sslCertificate", "sslProfile"),
}
_PATH_RULE_REFERENCES = (
    "backendAddressPool",
    "backendHttpSettings",
    "redirectConfiguration",
    "rewriteRuleSet",
)
# (property, low, high, error code, wording) of each probe range check.
_PROBE_RANGES = (
    ("interval", 1, MAX_SECONDS, "ApplicationGatewayProbeIntervalIsInvalid", "Interval"),
    ("timeout", 1, MAX_SECONDS, "ApplicationGatewayProbeTimeoutIsInvalid", "Timeout"),
    (
        "unhealthyThreshold",
        0,
        20,
        "ApplicationGatewayProbeUnhealthyThresholdIsInvalid",
        "Unhealthy threshold",
    ),
)

Problem = tuple[str, str]


def _children(properties: dict[str, Any], collection: str) -> list[dict[str, Any]]:
    return [child for child in properties.get(collection) or [] if isinstance(child, dict)]


def _props(child: dict[str, Any]) -> dict[str, Any]:
    value = child.get("properties")
    return value if isinstance(value, dict) else {}


def _in_range(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _dangling(
    gateway_id: str, known: set[str], referrer: dict[str, Any], keys: tuple[str, ...]
) -> Problem | None:
    for key in keys:
        target = _props(referrer).get(key)
        target_id = str((target or {}).get("id") or "") if isinstance(target, dict) else ""
        inside = target_id.lower().startswith(gateway_id.lower() + "/")
        if inside and target_id.lower() not in known:
            return (
                "InvalidResourceReference",
                f"Resource {target_id} referenced by resource {referrer.get('id')} was not found. "
                "Please make sure that the referenced resource exists, "
                "and that both resources are in the same region.",
            )
    return None


def _reference_problem(gateway: dict[str, Any]) -> Problem | None:
    gateway_id = str(gateway.get("id") or "")
    properties = _props(gateway)
    known = {
        str(child.get("id") or "").lower()
        for value in properties.values()
        if isinstance(value, list)
        for child in value
        if isinstance(child, dict)
    }
    for collection, keys in _REFERENCES.items():
        for child in _children(properties, collection):
            problem = _dangling(gateway_id, known, child, keys)
            if problem is not None:
                return problem
            if collection == "urlPathMaps":
                for path_rule in _children(_props(child), "pathRules"):
                    problem = _dangling(gateway_id, known, path_rule, _PATH_RULE_REFERENCES)
                    if problem is not None:
                        return problem
    return None


def gateway_problem(gateway: dict[str, Any]) -> Problem | None:
    """The first reason ARM would refuse this gateway body (ids already assigned), or None."""
    problem = _reference_problem(gateway)
    if problem is not None:
        return problem
    properties = _props(gateway)
    for settings in _children(properties, "backendHttpSettingsCollection"):
        timeout = _props(settings).get("requestTimeout")
        if timeout is not None and not _in_range(timeout, 1, MAX_SECONDS):
            return (
                "ApplicationGatewayBackendHttpSettingsInvalidRequestTimeout",
                f"RequestTimeout {timeout} specified for BackendHttpSettings {settings.get('id')} "
                f"is not valid. Supported range is [1, {MAX_SECONDS}].",
            )
    for probe in _children(properties, "probes"):
        for key, low, high, code, wording in _PROBE_RANGES:
            value = _props(probe).get(key)
            if value is not None and not _in_range(value, low, high):
                return (
                    code,
                    f"{wording} specified for Probe {probe.get('id')} is not valid. "
                    f"Supported range is [{low}, {high}].",
                )
    return None
