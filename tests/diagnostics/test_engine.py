"""The engine runs each check in isolation and never turns a check that did not run into a pass."""

from __future__ import annotations

from diagnostics.checks import CHECKS
from diagnostics.checks.base import Check, NotApplicable
from diagnostics.engine import findings_of, run_checks
from diagnostics.snapshot import MissingData
from model.findings import CheckResult, CheckStatus, Finding, Severity

RESOURCE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/gw"


def finding(code: str, severity: Severity = Severity.CRITICAL, resource: str = RESOURCE) -> Finding:
    return Finding(code=code, severity=severity, title=code, resource=resource)


def fixed(*findings: Finding):
    return lambda snapshot: list(findings)


def raising(error: Exception):
    def run(snapshot):
        raise error

    return run


def test_each_outcome_maps_to_its_status_and_later_checks_still_run(kit):
    checks = (
        Check("needs-data", ("A",), raising(MissingData("backend_health: 403 AuthorizationFailed"))),
        Check("not-here", ("B",), raising(NotApplicable("no HTTPS settings"))),
        Check("buggy", ("C",), raising(ZeroDivisionError("division by zero"))),
        Check("finds", ("D",), fixed(finding("D"))),
        Check("clean", ("E",), fixed()),
    )
    results = run_checks(kit.snapshot(kit.healthy_world()), checks)
    assert [(r.name, r.status) for r in results] == [
        ("needs-data", CheckStatus.ERROR),
        ("not-here", CheckStatus.SKIPPED),
        ("buggy", CheckStatus.ERROR),
        ("finds", CheckStatus.FAILED),
        ("clean", CheckStatus.PASSED),
    ]
    assert results[0].reason == "backend_health: 403 AuthorizationFailed"
    assert results[1].reason == "no HTTPS settings"
    assert results[2].reason == "internal error: ZeroDivisionError: division by zero"
    assert [f.code for f in results[3].findings] == ["D"]


def test_a_failed_collection_is_an_error_of_the_checks_that_need_it_only(kit):
    world = kit.healthy_world()
    kit.nsg_rule(
        world,
        "nsg-contoso-appgw",
        "DenyGatewayManager",
        priority=200,
        access="Deny",
        source="GatewayManager",
        ports="65200-65535",
    )
    snapshot = kit.snapshot(world)
    snapshot.backend_health = None
    snapshot.errors["backend_health"] = "throttled past retries (429)"
    results = {r.name: r for r in run_checks(snapshot)}
    assert results["all-backends-unhealthy"].status == CheckStatus.ERROR
    assert "throttled past retries" in results["all-backends-unhealthy"].reason
    assert results["probe-log"].status == CheckStatus.ERROR
    assert results["nsg-infra-ports"].status == CheckStatus.PASSED  # the allow at 100 still wins


def test_findings_are_sorted_by_severity_then_code_and_deduplicated_case_insensitively():
    results = [
        CheckResult(
            "one", CheckStatus.FAILED, findings=(finding("Z_INFO", Severity.INFO), finding("B_CRIT"))
        ),
        CheckResult(
            "two",
            CheckStatus.FAILED,
            findings=(
                finding("A_WARN", Severity.WARNING),
                finding("B_CRIT", resource=RESOURCE.upper()),
                finding("A_CRIT"),
                finding("B_CRIT", resource=RESOURCE + "/other"),
            ),
        ),
    ]
    ordered = findings_of(results)
    assert [(f.code, f.resource) for f in ordered] == [
        ("A_CRIT", RESOURCE),
        ("B_CRIT", RESOURCE),
        ("B_CRIT", RESOURCE + "/other"),
        ("A_WARN", RESOURCE),
        ("Z_INFO", RESOURCE),
    ]


def test_causes_come_before_symptoms_of_the_same_severity():
    results = [
        CheckResult(
            "health",
            CheckStatus.FAILED,
            findings=(
                finding("ALL_BACKENDS_UNHEALTHY"),
                finding("BACKEND_HEALTH_UNKNOWN", Severity.WARNING),
            ),
        ),
        CheckResult(
            "causes",
            CheckStatus.FAILED,
            findings=(finding("PROBE_STATUS_MISMATCH"), finding("CUSTOM_PROBE_INVALID", Severity.WARNING)),
        ),
        CheckResult("info", CheckStatus.FAILED, findings=(finding("CUSTOM_DNS_UNVERIFIED", Severity.INFO),)),
    ]
    assert [f.code for f in findings_of(results)] == [
        "PROBE_STATUS_MISMATCH",
        "ALL_BACKENDS_UNHEALTHY",
        "CUSTOM_PROBE_INVALID",
        "BACKEND_HEALTH_UNKNOWN",
        "CUSTOM_DNS_UNVERIFIED",
    ]


def test_the_real_registry_never_errors_internally_on_a_minimal_gateway(kit):
    world = kit.healthy_world()
    gateway = kit.gateway_body(world)
    world["resources"] = [gateway]
    gateway["properties"] = {"sku": {"name": "Standard_v2", "tier": "Standard_v2"}}
    del world["backendHealth"]
    results = run_checks(kit.snapshot(world), CHECKS)
    assert len(results) == len(CHECKS)
    assert not [r for r in results if r.reason.startswith("internal error")]
    assert {r.status for r in results} <= {CheckStatus.ERROR, CheckStatus.SKIPPED, CheckStatus.PASSED}
