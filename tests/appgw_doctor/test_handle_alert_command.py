"""`appgw-doctor handle-alert`: the pipeline from the command line, against an in-process simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appgw_doctor.cli import main
from state.sqlite import default_state_path

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios/request-timeout"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["handle-alert", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_text_report_shows_alert_findings_and_stages(capsys) -> None:
    code, out, err = run(
        capsys, "--alert", str(SCENARIO / "alert.json"), "--world", str(SCENARIO / "world.json")
    )
    assert code == 0, err
    assert ": diagnosed" in out
    assert "appgw-5xx Sev1 Fired" in out
    assert "[critical] REQUEST_TIMEOUT_TOO_LOW" in out
    assert "$ az network application-gateway http-settings update" in out
    for stage in ("dedupe", "diagnose", "remediate", "notify", "record"):
        assert f"\n  {stage}" in out


def test_json_report_and_persistent_state_recognise_a_repeated_alert(capsys, tmp_path) -> None:
    args = [
        "--alert",
        str(SCENARIO / "alert.json"),
        "--world",
        str(SCENARIO / "world.json"),
        "--format",
        "json",
    ]
    state = tmp_path / "state.db"
    code, out, _ = run(capsys, *args, "--state", str(state))
    (first,) = json.loads(out)["reports"]
    assert code == 0 and first["outcome"] == "diagnosed"
    assert "REQUEST_TIMEOUT_TOO_LOW" in {f["code"] for f in first["findings"]}
    assert first["alert"]["alertRule"] == "appgw-5xx"

    code, out, _ = run(capsys, *args, "--state", str(state))
    (again,) = json.loads(out)["reports"]
    assert code == 0 and again["outcome"] == "duplicate"
    assert again["incidentId"] == first["incidentId"]
    assert {f["code"] for f in again["findings"]} == {f["code"] for f in first["findings"]}


def test_simulated_runs_without_state_do_not_share_incidents(capsys) -> None:
    args = [
        "--alert",
        str(SCENARIO / "alert.json"),
        "--world",
        str(SCENARIO / "world.json"),
        "--format",
        "json",
    ]
    outcomes = [json.loads(run(capsys, *args)[1])["reports"][0]["outcome"] for _ in range(2)]
    assert outcomes == ["diagnosed", "diagnosed"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{", "body is not valid JSON"),
        (b'{"schemaId": "x"}', "schemaId must be"),
    ],
)
def test_bad_alert_file_is_one_line_exit_2(capsys, tmp_path, content, message) -> None:
    alert = tmp_path / "alert.json"
    alert.write_bytes(content)
    code, out, err = run(capsys, "--alert", str(alert), "--world", str(SCENARIO / "world.json"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_missing_files_are_one_line_exit_2(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "--alert", str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read" in err and err.count("\n") == 1
    code, _, err = run(
        capsys, "--alert", str(SCENARIO / "alert.json"), "--world", str(tmp_path / "nope.json")
    )
    assert code == 2 and err.count("\n") == 1


def test_unknown_gateway_fails_the_diagnosis_with_exit_1(capsys, tmp_path) -> None:
    document = json.loads((SCENARIO / "alert.json").read_text())
    targets = document["data"]["essentials"]["alertTargetIDs"]
    targets[0] = targets[0].replace("agw-contoso", "agw-missing")
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(document))
    code, out, _ = run(capsys, "--alert", str(alert), "--world", str(SCENARIO / "world.json"))
    assert code == 1
    assert ": failed" in out and "diagnose   error" in out


def test_default_state_lives_in_the_users_data_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_state_path() == tmp_path / "xdg" / "appgw-doctor" / "state.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_path() == tmp_path / "home" / ".local" / "share" / "appgw-doctor" / "state.db"


def test_resolved_alert_prints_its_resolved_time(capsys, tmp_path) -> None:
    document = json.loads((SCENARIO / "alert.json").read_text())
    document["data"]["essentials"].update(
        monitorCondition="Resolved", resolvedDateTime="2026-11-23T11:02:00Z"
    )
    alert = tmp_path / "resolved.json"
    alert.write_text(json.dumps(document))
    code, out, err = run(capsys, "--alert", str(alert), "--world", str(SCENARIO / "world.json"))
    assert code == 0, err
    assert "Resolved at 2026-11-23T11:02:00+00:00" in out
    assert "10:27" not in out.splitlines()[2]  # not the fired time


def test_a_delivery_in_progress_elsewhere_is_said_to_be_handled_already(capsys, tmp_path) -> None:
    from datetime import datetime, timedelta, timezone

    from intake.alerts import parse_alert_body
    from state import StateStore
    from state.sqlite import SqliteBackend

    state = tmp_path / "state.db"
    (alert,) = parse_alert_body((SCENARIO / "alert.json").read_bytes(), allowed_subscriptions=None)
    store = StateStore(SqliteBackend(state))  # another worker has claimed this delivery and is working
    assert store.claim_delivery(
        alert.dedupe_key, holder="other", now=datetime.now(timezone.utc), ttl=timedelta(minutes=10)
    )
    store.close()
    code, out, err = run(
        capsys, "--alert", str(SCENARIO / "alert.json"), "--world", str(SCENARIO / "world.json"),
        "--state", str(state),
    )  # fmt: skip
    assert code == 0, err
    assert "being handled already" in out and "Findings" not in out
