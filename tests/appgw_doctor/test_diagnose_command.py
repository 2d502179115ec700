"""`appgw-doctor diagnose` and `appgw-doctor demo` as a person runs them: the installed script, in a
subprocess, against the in-process simulator (--world)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "appgw-doctor"
GATEWAY = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-contoso-web/providers/"
    "Microsoft.Network/applicationGateways/agw-contoso"
)
WORLD = str(ROOT / "scenarios" / "request-timeout" / "world.json")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, cwd=ROOT, stdin=subprocess.DEVNULL
    )


def test_json_output_is_the_diagnosis_document():
    result = run(
        "diagnose", "--gateway", GATEWAY, "--world", WORLD, "--at", "2026-11-23T10:27:00Z", "--format", "json"
    )

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {
        "gateway", "incidentTime", "findings", "checks", "durationSeconds", "armCalls", "changes",
    }  # fmt: skip
    assert document["changes"] == []  # the scenario's world has no Activity Log and no write was made
    assert document["incidentTime"] == "2026-11-23T10:27:00Z"
    assert document["gateway"].lower() == GATEWAY.lower()
    codes = [finding["code"] for finding in document["findings"]]
    assert "REQUEST_TIMEOUT_TOO_LOW" in codes
    finding = document["findings"][codes.index("REQUEST_TIMEOUT_TOO_LOW")]
    assert set(finding) == {"code", "severity", "title", "resource", "evidence", "fix", "changes"}
    assert all(set(check) == {"name", "status", "reason"} for check in document["checks"])
    assert document["armCalls"] > 0
    assert result.stderr == ""  # no progress lines unless asked for (stderr is not a TTY here)


def test_text_output_has_one_line_per_finding_and_the_checks_summary():
    result = run(
        "diagnose", "--gateway", GATEWAY, "--world", str(ROOT / "scenarios/nsg-backend-subnet/world.json")
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Application Gateway agw-contoso (resource group rg-contoso-web)"
    finding_lines = [line for line in lines if line.startswith(("CRITICAL", "WARNING", "INFO"))]
    assert any("NSG_BLOCKS_BACKEND" in line and "DenyAppGateway" in line for line in finding_lines)
    assert any("ALL_BACKENDS_UNHEALTHY" in line for line in finding_lines)
    assert any(line.strip().startswith("fix:") for line in lines)
    assert any(line.startswith("Checks: ") and " passed" in line for line in lines)


def test_markdown_output_and_verbose_progress():
    result = run("diagnose", "--gateway", GATEWAY, "--world", WORLD, "--format", "markdown", "--verbose")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Application Gateway diagnosis: agw-contoso")
    assert "`REQUEST_TIMEOUT_TOO_LOW`" in result.stdout
    assert "| check | status | reason |" in result.stdout
    progress = result.stderr.splitlines()
    assert progress and all(line.startswith("appgw-doctor: ") for line in progress)


def test_the_alert_gives_the_incident_time():
    alert = str(ROOT / "scenarios" / "request-timeout" / "alert.json")
    result = run("diagnose", "--gateway", GATEWAY, "--world", WORLD, "--alert", alert, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["incidentTime"] == "2026-11-23T10:27:00Z"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--gateway", "not-an-id", "--world", WORLD], "not an Application Gateway resource id"),
        (
            ["--gateway", GATEWAY.replace("applicationGateways", "virtualNetworks"), "--world", WORLD],
            "not an",
        ),
        (["--gateway", GATEWAY + "-nope", "--world", WORLD], "gateway not found"),
        (["--gateway", GATEWAY, "--world", str(ROOT / "no-such-world.json")], "cannot read"),
        (["--gateway", GATEWAY, "--world", str(ROOT / "pyproject.toml")], "not JSON"),
        (["--gateway", GATEWAY, "--world", WORLD, "--at", "yesterday"], "--at"),
        (["--gateway", GATEWAY, "--world", WORLD, "--format", "yaml"], "format"),
        (["--world", WORLD], "--gateway"),
        (
            ["--gateway", GATEWAY, "--world", WORLD, "--alert", str(ROOT / "no-such-alert.json")],
            "cannot read",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    result = run("diagnose", *args)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr


def bad_fired_time() -> dict:
    document = json.loads((ROOT / "scenarios" / "request-timeout" / "alert.json").read_text())
    document["data"]["essentials"]["firedDateTime"] = "yesterday"
    return document


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({}, "alert.json: not a usable alert: schemaId"),
        (bad_fired_time(), "firedDateTime is not an ISO 8601"),
    ],
)
def test_an_alert_the_webhook_parser_refuses_is_bad_input(document, fragment, tmp_path):
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(document))
    result = run("diagnose", "--gateway", GATEWAY, "--world", WORLD, "--alert", str(alert))

    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert fragment in result.stderr


def test_world_that_is_not_a_world_is_bad_input(tmp_path):
    broken = tmp_path / "world.json"
    broken.write_text(json.dumps({"schema": "appgw-world/v1", "resources": "nope"}))
    result = run("diagnose", "--gateway", GATEWAY, "--world", str(broken))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_demo_diagnoses_every_bundled_scenario():
    result = run("demo")

    assert result.returncode == 0, result.stderr
    scenarios = sorted(p.name for p in (ROOT / "scenarios").iterdir() if (p / "world.json").is_file())
    lines = result.stdout.splitlines()
    headings = [line.split()[1] for line in lines if line.startswith("=== ") and "remediation" not in line]
    assert headings == scenarios
    sections = result.stdout.split("=== ")[1:]
    by_name = {section.split()[0]: section for section in sections}
    for name in scenarios:
        expected = json.loads((ROOT / "scenarios" / name / "expected.json").read_text())
        for code in expected["must"]:
            assert f"  {code}  " in by_name[name], f"{name}: {code} not shown"
    # then remediation: a verified fix, a dry-run plan, and a fix awaiting approval with its link
    remediation = result.stdout.split("=== remediation", 1)[1]
    assert "[fixed and verified] raise-request-timeout" in remediation
    assert "[would do (dry-run)] reattach-probe" in remediation
    assert "[awaiting approval] raise-request-timeout" in remediation
    assert "open:   http://127.0.0.1:7071/api/approvals/" in remediation
    assert "appgw-doctor serve" in remediation


def test_a_gateway_in_another_subscription_than_the_world_is_not_found():
    other = GATEWAY.replace("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002")
    result = run("diagnose", "--gateway", other, "--world", str(ROOT / "scenarios/healthy/world.json"))
    assert result.returncode == 2
    assert "SubscriptionNotFound" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --- validate at the door: what the webhook would refuse, the command line refuses: exit 2, one line ---


@pytest.mark.parametrize(
    ("at", "fragment"),
    [
        (
            "0001-01-01T00:00:00Z",
            "--at '0001-01-01T00:00:00Z' is out of range (2000-01-01 to a year from now)",
        ),
        ("9999-12-31T23:59:59Z", "is out of range"),
        ("1999-12-31T23:59:59+00:00", "is out of range"),
        ("2026-11-23T10:27:00Z\r\nappgw-doctor: forged line", "--at is not an ISO 8601 date-time"),
        ("\udcff", "--at is not an ISO 8601 date-time"),  # an undecodable argv byte
    ],
)
def test_an_incident_time_out_of_range_or_malformed_is_bad_input(at, fragment):
    result = run("diagnose", "--gateway", GATEWAY, "--world", WORLD, "--at", at)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert fragment in result.stderr


def alert_file(tmp_path, **essentials) -> str:
    document = json.loads((ROOT / "scenarios" / "request-timeout" / "alert.json").read_text())
    document["data"]["essentials"].update(essentials)
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(document))  # a lone surrogate is written as the JSON escape \ud800
    return str(path)


@pytest.mark.parametrize(
    ("essentials", "fragment"),
    [
        ({"alertId": "\ud800"}, "alertId is not well-formed Unicode"),
        ({"alertId": "id\r\nappgw-doctor: forged"}, "alertId contains a control or format character"),
        ({"firedDateTime": "0001-01-01T00:00:00Z"}, "firedDateTime '0001-01-01T00:00:00Z' is out of range"),
        ({"alertTargetIDs": [GATEWAY.replace("agw-contoso", f"agw-{n}") for n in range(51)]},
         "the limit is 50 (MAX_ALERT_TARGETS)"),
    ],
)  # fmt: skip
def test_an_alert_the_door_refuses_is_bad_input_for_diagnose(tmp_path, essentials, fragment):
    result = run(
        "diagnose", "--gateway", GATEWAY, "--world", WORLD, "--alert", alert_file(tmp_path, **essentials)
    )

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert fragment in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--gateway", GATEWAY + "\r\nappgw-doctor: forged", "--world", WORLD],
        ["--gateway", GATEWAY.replace("agw-contoso", "agw-\udcff"), "--world", WORLD],
        ["--gateway", GATEWAY, "--world", WORLD, "--alert", "/no/such\nalert.json"],
    ],
)
def test_what_an_error_quotes_cannot_break_its_line(args):
    result = run("diagnose", *args)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("appgw-doctor: error: ") and result.stderr.isprintable() is False
    assert result.stderr.rstrip("\n").isprintable()  # control characters and surrogates shown escaped


def test_the_rest_api_spec_example_world_diagnoses_with_exit_0():
    """ApplicationGatewayGet.json's bare-string pool members used to end `diagnose` with exit 70."""
    world = str(ROOT / "tests" / "worlds" / "rest-spec-examples" / "world.json")
    gateway = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/applicationGateways/appgw"

    result = run("diagnose", "--gateway", gateway, "--world", world)

    assert result.returncode == 0, result.stderr
    assert "BACKEND_POOL_EMPTY" in result.stdout
    assert any(line.strip().startswith("error ") for line in result.stdout.splitlines())
