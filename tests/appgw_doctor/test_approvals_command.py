"""`appgw-doctor approvals | approve | reject` from a terminal, against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appgw_doctor.cli import main
from tests.appgw_doctor.conftest import web_settings_timeout

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "request-timeout"


@pytest.fixture
def pending(tmp_path, monkeypatch, capsys):
    """An alert on a gateway tagged approve has left one pending approval in the state file."""
    monkeypatch.setenv("APPROVAL_SIGNING_KEY", "s" * 40)
    monkeypatch.setenv("APPROVAL_BASE_URL", "http://127.0.0.1:8080")
    world = json.loads((SCENARIO / "world.json").read_text())
    for resource in world["resources"]:
        if "/applicationGateways/" in resource["id"]:
            resource.setdefault("tags", {})["appgw-doctor-remediation"] = "approve"
    world_path, state = tmp_path / "world.json", tmp_path / "state.db"
    world_path.write_text(json.dumps(world))
    args = ["handle-alert", "--alert", str(SCENARIO / "alert.json"), "--world", str(world_path)]
    assert main([*args, "--state", str(state), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)["reports"][0]
    (action,) = report["remediation"]["actions"]
    assert action["status"] == "planned" and action["approval"]["url"].startswith(
        "http://127.0.0.1:8080/api/"
    )
    return world_path, state, action["approval"]["id"]


def test_list_then_approve_from_a_terminal(pending, tmp_path, capsys):
    world, state, approval_id = pending
    assert main(["approvals", "--state", str(state)]) == 0
    assert approval_id in capsys.readouterr().out
    out = tmp_path / "after.json"
    code = main(
        ["approve", approval_id, "--world", str(world), "--state", str(state), "--world-out", str(out)]
    )
    assert code == 0, capsys.readouterr()
    assert "verified" in capsys.readouterr().out
    assert web_settings_timeout(json.loads(out.read_text())) == 30
    assert main(["approve", approval_id, "--world", str(world), "--state", str(state)]) == 1
    assert "already decided" in capsys.readouterr().out
    assert main(["approvals", "--state", str(state), "--format", "json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["state"] == "approved" and listed["result"]["status"] == "verified"


def test_reject_from_a_terminal_changes_nothing(pending, tmp_path, capsys):
    world, state, approval_id = pending
    out = tmp_path / "after.json"
    assert (
        main(["reject", approval_id, "--world", str(world), "--state", str(state), "--world-out", str(out)])
        == 0
    )
    assert "rejected" in capsys.readouterr().out
    assert web_settings_timeout(json.loads(out.read_text())) == 20


def test_bad_input_is_one_line_and_exit_2(pending, capsys):
    world, state, _ = pending
    assert main(["approve", "no-such-id", "--world", str(world), "--state", str(state)]) == 2
    assert main(["approvals", "--state", str(state.parent / "missing.db")]) == 2
    assert main(["approvals", "--gateway", "agw-contoso", "--state", str(state)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err


def test_the_incident_resolving_cancels_its_pending_approval(pending, tmp_path, capsys):
    world, state, approval_id = pending
    resolved = json.loads((SCENARIO / "alert.json").read_text())
    resolved["data"]["essentials"].update(
        monitorCondition="Resolved", resolvedDateTime="2026-11-23T10:45:00Z"
    )
    path = tmp_path / "resolved.json"
    path.write_text(json.dumps(resolved))
    assert main(["handle-alert", "--alert", str(path), "--world", str(world), "--state", str(state)]) == 0
    capsys.readouterr()
    assert main(["approvals", "--state", str(state), "--format", "json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["state"] == "cancelled" and "resolved" in listed["reason"]
    assert main(["approve", approval_id, "--world", str(world), "--state", str(state)]) == 1
    assert "cancelled" in capsys.readouterr().out


def test_a_terminal_decision_sends_the_follow_up(pending, tmp_path, capsys):
    world, state, approval_id = pending
    outbox = tmp_path / "outbox"
    assert (
        main(["approve", approval_id, "--world", str(world), "--state", str(state), "--outbox", str(outbox)])
        == 0
    )
    capsys.readouterr()
    (card,) = outbox.glob("approval-*-teams.json")
    text = card.read_text()
    assert "Approved by" in text and "(terminal)" in text and "verified" in text.lower()
