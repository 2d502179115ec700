"""`appgw-doctor remediate`: the bot's plans and guards for a person; dry-run unless asked."""

from __future__ import annotations

import json
from pathlib import Path

from appgw_doctor.cli import main
from tests.appgw_doctor.conftest import web_settings_timeout

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "request-timeout"
GATEWAY = json.loads((SCENARIO / "expected.json").read_text())["gateway"]


def _timeout(path: Path) -> int:
    return web_settings_timeout(json.loads(path.read_text()))


def _remediate(out: Path) -> list[str]:
    """`appgw-doctor remediate` of the scenario's gateway, the world after it written to `out`."""
    return [
        "remediate",
        "--gateway",
        GATEWAY,
        "--world",
        str(SCENARIO / "world.json"),
        "--world-out",
        str(out),
    ]


def test_dry_run_is_the_default_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "after.json"
    args = _remediate(out)
    assert main([*args, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["remediation"]["mode"] == "dry-run"
    (action,) = document["remediation"]["actions"]
    assert action["status"] == "planned" and "--timeout 30" in action["command"]
    assert _timeout(out) == 20


def test_auto_applies_and_verifies_ignoring_the_opt_in_tag(tmp_path, capsys):
    out = tmp_path / "after.json"
    state = tmp_path / "state.db"
    args = _remediate(out)
    assert main([*args, "--mode", "auto", "--state", str(state)]) == 0
    text = capsys.readouterr().out
    assert "[fixed and verified] raise-request-timeout" in text and "undo:" in text
    assert _timeout(out) == 30
    assert main(["audit", "--state", str(state), "--format", "json"]) == 0
    steps = [(e["step"], e["mode"]) for e in json.loads(capsys.readouterr().out)]
    assert steps == [("apply", "manual"), ("verify", "manual")]


def test_an_action_not_asked_for_is_skipped(tmp_path, capsys):
    out = tmp_path / "after.json"
    args = _remediate(out)
    assert main([*args, "--mode", "auto", "--action", "reattach-probe", "--format", "json"]) == 0
    (action,) = json.loads(capsys.readouterr().out)["remediation"]["actions"]
    assert action["status"] == "skipped" and "allow-list" in action["reason"]
    assert _timeout(out) == 20


def test_the_kill_switch_holds_for_a_person_too(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REMEDIATION", "off")
    out = tmp_path / "after.json"
    args = _remediate(out)
    assert main([*args, "--mode", "auto", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["remediation"]["mode"] == "off" and "REMEDIATION=off" in document["remediation"]["note"]
    assert _timeout(out) == 20


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert main(["remediate", "--gateway", "agw-contoso"]) == 2
    assert main(["remediate", "--gateway", GATEWAY, "--mode", "yolo"]) == 2
    assert main(["remediate", "--gateway", GATEWAY, "--world-out", "x.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err
