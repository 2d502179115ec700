"""`appgw-doctor handle-alert` with Microsoft's samples of the other alert kinds: a log search alert
on a workspace is diagnosed for the gateway its `_ResourceId` dimension names, a Resource Health
alert on a gateway is diagnosed, and a log search alert naming no gateway is refused (exit 2) with
the fix."""

from __future__ import annotations

import json
from pathlib import Path

from appgw_doctor.cli import main
from tests.intake.samples import RG, alert_sample, sample, with_dimensions

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios/request-timeout"
ESSENTIALS = json.loads((SCENARIO / "alert.json").read_text())["data"]["essentials"]
GATEWAY = ESSENTIALS["alertTargetIDs"][0]
WORKSPACE = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/law-contoso"


def handle(capsys, tmp_path: Path, document: dict) -> tuple[int, str, str]:
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(document))
    code = main(
        ["handle-alert", "--alert", str(alert), "--world", str(SCENARIO / "world.json"), "--format", "json"]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_log_alert_naming_no_gateway_exits_2_with_the_fix(capsys, tmp_path) -> None:
    code, out, err = handle(capsys, tmp_path, sample("alert-log-search-v2.json"))
    assert code == 2 and out == ""
    assert "split the alert rule by the _ResourceId dimension" in err and len(err.strip().splitlines()) == 1


def test_a_workspace_log_alert_is_diagnosed_for_its_resource_id_gateway(capsys, tmp_path) -> None:
    document = with_dimensions(
        alert_sample(
            "alert-log-search-v2.json", targets=[WORKSPACE], firedDateTime=ESSENTIALS["firedDateTime"]
        ),
        ("_ResourceId", GATEWAY.lower()),
    )
    code, out, err = handle(capsys, tmp_path, document)
    assert code == 0, err
    (report,) = json.loads(out)["reports"]
    assert report["outcome"] == "diagnosed" and report["gatewayId"] == GATEWAY.lower()
    assert "REQUEST_TIMEOUT_TOO_LOW" in {f["code"] for f in report["findings"]}


def test_a_resource_health_alert_on_a_gateway_is_diagnosed(capsys, tmp_path) -> None:
    document = alert_sample(
        "alert-resource-health.json", targets=[GATEWAY], firedDateTime=ESSENTIALS["firedDateTime"]
    )
    code, out, err = handle(capsys, tmp_path, document)
    assert code == 0, err
    (report,) = json.loads(out)["reports"]
    assert report["outcome"] == "diagnosed" and report["alert"]["signalType"] == "Activity Log"
    assert "REQUEST_TIMEOUT_TOO_LOW" in {f["code"] for f in report["findings"]}
