"""The Bicep templates agree with the code they deploy: every app setting the code reads is set by
infra/main.bicep or documented as optional, secrets reach the app only as Key Vault references,
and the names the templates wire up (functions, the work queue, Event Grid operations) exist.

Reads the templates as text, so it runs without the Bicep CLI or checkov (`make check-infra` runs
checkov's security checks).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import function_app
from core.settings import Settings
from intake import alerts, events
from notifications.routing import targets_for
from tests.functions.harness import registered_functions

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = (INFRA / "main.bicep").read_text()
EVENTS = (INFRA / "events.bicep").read_text()
SETTINGS_MODULES = [ROOT / "core" / "settings.py", ROOT / "notifications" / "routing.py"]
SETTINGS_DOCS = [ROOT / "docs" / "CONFIGURATION.md", ROOT / "docs" / "NOTIFICATIONS.md"]
# The functions' accessors of app settings: core/settings.py's `get(name)`, routing.py's `_setting(settings,
# name)` and `_severity(settings, name)`.
ACCESSORS = {"get", "_setting", "_severity"}
# Settings the Functions host (not the app) reads; main.bicep may set them.
HOST_SETTING = re.compile(r"^(AzureWebJobs\w*|FUNCTIONS_\w+|WEBSITE_\w+|APPLICATIONINSIGHTS_\w+)$")
SETTING_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def settings_read_by_code() -> tuple[set[str], set[str]]:
    """(names, name prefixes) passed to the settings accessors; a prefix comes from an f-string
    such as f"TEAMS_WEBHOOK_URL_{channel}"."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for module in SETTINGS_MODULES:
        for node in ast.walk(ast.parse(module.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in ACCESSORS:
                continue
            for arg in node.args:
                value = arg.value if isinstance(arg, ast.Constant) else None
                if isinstance(value, str) and SETTING_NAME.match(value):
                    names.add(value)
                elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                    prefixes.add(str(arg.values[0].value))
    return names, prefixes


def bicep_block(text: str, opening: str) -> str:
    """The lines after `opening` (ending in `{` or `[`) up to the line that closes it at column 0."""
    start = text.index(opening) + len(opening)
    return text[start : text.index("\n" + {"{": "}", "[": "]"}[opening[-1]], start)]


def bicep_app_settings() -> dict[str, str]:
    """Setting name -> Bicep expression, from main.bicep's `baseSettings` object."""
    block = bicep_block(MAIN, "var baseSettings = {")
    return dict(re.findall(r"^  ([A-Za-z_][A-Za-z0-9_]*): (.+)$", block, re.M))


def secure_params(text: str) -> set[str]:
    return set(re.findall(r"@secure\(\)\s*\n\s*param (\w+)", text))


def documented_settings() -> dict[str, bool]:
    """Setting name -> documented as required, from the settings tables of the docs. A table row may
    name several settings; `` `X__a` / `__b` `` abbreviates `X__b`."""
    documented: dict[str, bool] = {}
    for doc in SETTINGS_DOCS:
        for row in (line for line in doc.read_text().splitlines() if line.startswith("|")):
            required = re.search(r"\bRequired\b", row) is not None
            base = ""
            for token in re.findall(r"`([^`]+)`", row):
                for name in (part.strip() for part in token.split(",")):
                    if name.startswith("__") and base:
                        name = base + name
                    if re.match(r"^[A-Za-z][A-Za-z0-9_]*(<\w+>)?$", name):
                        documented[name] = documented.get(name, False) or required
                        base = name.split("__", 1)[0] if "__" in name else base
    return documented


class RecordingEnv(Mapping[str, str]):
    """App settings that remember which names were asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.read.add(key)
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def test_the_extractor_finds_every_setting_the_code_reads_at_run_time() -> None:
    names, prefixes = settings_read_by_code()
    env = RecordingEnv(
        {
            "ALLOWED_SUBSCRIPTIONS": "00000000-0000-0000-0000-000000000001",
            "SECURE_WEBHOOK_TENANT_ID": "00000000-0000-0000-0000-000000000002",
            "SECURE_WEBHOOK_AUDIENCE": "api://appgw-doctor",
            "TEAMS_WEBHOOK_URL": "https://example.invalid/workflow",
            "NOTIFY_EMAIL_TO": "oncall@example.com",
            "SMTP_HOST": "smtp.example.com",
            "SMTP_FROM": "doctor@example.com",
        }
    )
    Settings.from_env(env)
    targets_for(env, {"appgw-doctor-teams-channel": "payments"})

    unexplained = {name for name in env.read if name not in names and not name.startswith(tuple(prefixes))}
    assert env.read and not unexplained


def test_every_setting_the_code_reads_is_deployed_or_documented_as_optional() -> None:
    names, prefixes = settings_read_by_code()
    deployed = set(bicep_app_settings())
    documented = documented_settings()

    undocumented = {name for name in names - deployed if name not in documented}
    required_missing = {name for name in names if documented.get(name) and name not in deployed}
    undocumented_prefixes = {p for p in prefixes if not any(d.startswith(p + "<") for d in documented)}
    assert not undocumented, f"read by the code, neither in main.bicep nor documented: {undocumented}"
    assert not required_missing, f"documented as required but not set by main.bicep: {required_missing}"
    assert not undocumented_prefixes, f"undocumented setting families: {undocumented_prefixes}"


def test_main_bicep_sets_only_settings_the_app_or_the_functions_host_reads() -> None:
    names, _ = settings_read_by_code()
    unknown = {name for name in bicep_app_settings() if name not in names and not HOST_SETTING.match(name)}
    assert not unknown, f"main.bicep sets settings nothing reads (typo?): {unknown}"


def test_secret_parameters_reach_the_app_only_as_key_vault_references() -> None:
    secrets = secure_params(MAIN)
    assert secrets, "main.bicep declares no @secure() parameter"
    for name, expression in bicep_app_settings().items():
        outside_checks = re.sub(r"empty\(\w+\)", "", expression)
        leaked = {param for param in secrets if re.search(rf"\b{param}\b", outside_checks)}
        assert not leaked, f"{name} carries the secret parameter(s) {leaked} in clear"
        if any(re.search(rf"\b{param}\b", expression) for param in secrets):
            assert "@Microsoft.KeyVault(SecretUri=" in expression, name
    for param in secrets:
        assert re.search(rf"properties: \{{ value: {param}\b", MAIN), f"{param} is not stored in Key Vault"


def test_the_functions_the_templates_name_exist_in_the_app() -> None:
    # get_functions() may run once per process (it registers names); the harness caches it.
    functions = {f.get_function_name(): f for f in registered_functions()}
    named = set(re.findall(r"/functions/(\w+)", MAIN + EVENTS))
    assert named and named <= set(functions), f"not in function_app: {named - set(functions)}"
    target = functions["resource_changes"]
    assert "eventGridTrigger" in {binding.type for binding in target.get_bindings()}


def test_the_work_queue_main_bicep_creates_is_the_one_the_functions_use() -> None:
    declared = re.search(r"^var workQueue = '([^']+)'", MAIN, re.M)
    assert declared and declared.group(1) == function_app.WORK_QUEUE


def event_filter() -> tuple[list[str], list[str]]:
    operations = re.findall(r"'([^']+)'", bicep_block(EVENTS, "var watchedOperations = ["))
    included = re.search(r"includedEventTypes: \[([^\]]*)\]", EVENTS)
    assert included
    return operations, re.findall(r"'([^']+)'", included.group(1))


def test_the_event_grid_filter_passes_exactly_the_writes_intake_acts_on() -> None:
    operations, event_types = event_filter()
    assert {op.lower() for op in operations} == set(events.WATCHED_OPERATIONS)
    assert set(event_types) == set(events.EVENT_TYPES)
    for event_type in event_types:
        for operation in operations:
            change = events.parse_resource_write(
                event_id="e1",
                event_type=event_type,
                subject="/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/x/y/z/w",
                data={"operationName": operation},
                event_time=None,
            )
            # A deletion arrives as a delete event, an action (stop, start) as an action event, a write
            # as a write event; the filter passes all three.
            expected = (
                events.RESOURCE_DELETE_SUCCESS
                if operation.lower().endswith("/delete")
                else events.RESOURCE_ACTION_SUCCESS
                if operation.lower().endswith("/action")
                else events.RESOURCE_WRITE_SUCCESS
            )
            acts = event_type == expected
            assert (change is not None) == acts, f"{event_type} {operation}: intake acts on it: {change}"


@pytest.mark.parametrize("template", sorted(INFRA.glob("*.bicep")), ids=lambda path: path.name)
def test_every_suppressed_checkov_check_says_why(template: Path) -> None:
    for line in template.read_text().splitlines():
        if "checkov:skip=" in line:
            assert re.search(r"checkov:skip=CKV\w*_\d+: \S.{10,}", line), line.strip()


ALERTS = (INFRA / "alerts.bicep").read_text()


def test_the_alert_rules_post_to_the_webhook_in_the_common_alert_schema() -> None:
    assert "useCommonAlertSchema: true" in ALERTS  # what intake/alerts.py reads (SCHEMA_ID)
    rules = re.findall(
        r"^resource (\w+) 'Microsoft\.Insights/(metricAlerts|scheduledQueryRules)@", ALERTS, re.M
    )
    assert {name for name, _ in rules} == {"fiveXx", "unhealthy", "accessLog502"}
    assert ALERTS.count("actions: [{ actionGroupId: notify }]") == 2  # the two metric rules
    assert "actions: { actionGroups: [notify] }" in ALERTS  # the log search rule


def test_the_metric_alerts_are_the_recommended_ones() -> None:
    five = bicep_block(ALERTS, "resource fiveXx 'Microsoft.Insights/metricAlerts@2018-03-01' = [")
    assert "metricName: 'ResponseStatus'" in five
    assert "dimensions: [{ name: 'HttpStatusGroup', operator: 'Include', values: ['5xx'] }]" in five
    unhealthy = bicep_block(ALERTS, "resource unhealthy 'Microsoft.Insights/metricAlerts@2018-03-01' = [")
    assert "metricName: 'UnhealthyHostCount'" in unhealthy
    assert "operator: 'GreaterThan'" in unhealthy and "threshold: 0\n" in unhealthy


def test_the_log_search_alert_is_split_by_the_dimension_intake_reads() -> None:
    opening = "resource accessLog502 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview'"
    rule = bicep_block(ALERTS, opening + " = if (!empty(accessLogWorkspaceId)) {")
    (dimension,) = re.findall(
        r"dimensions: \[\{ name: '(\w+)', operator: 'Include', values: \['\*'\] \}\]", rule
    )
    assert dimension.lower() in alerts.RESOURCE_DIMENSIONS
    queries = dict(re.findall(r"^  (\w+): '(.+)'$", bicep_block(ALERTS, "var queries = {"), re.M))
    assert set(queries) == {"AGWAccessLogs", "AzureDiagnostics"}
    assert "| where HttpStatus == 502" in queries["AGWAccessLogs"]
    assert 'Category == "ApplicationGatewayAccessLog" and httpStatus_d == 502' in queries["AzureDiagnostics"]
    for table, query in queries.items():  # each reads its table, and the split column survives it
        assert query.startswith(f"{table}\\n") and query.endswith("| project TimeGenerated, _ResourceId")
