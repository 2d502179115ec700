"""`appgw-doctor changes`, and the bundled scenario whose finding has a change behind it."""

from __future__ import annotations

import json
from pathlib import Path

from appgw_doctor.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "nsg-change-by-alice"
GATEWAY = json.loads((SCENARIO / "expected.json").read_text())["gateway"]


def test_the_timeline_names_who_changed_what_on_the_path_only(capsys):
    assert (
        main(["changes", "--gateway", GATEWAY, "--world", str(SCENARIO / "world.json"), "--format", "json"])
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    (change,) = document["changes"]  # bob's edit of an NSG off the path is left out
    assert change["caller"] == "alice@contoso.com" and change["source"] == "activity-log"
    assert change["resource"].endswith("/securityRules/DenyGatewayManager")
    assert change["status"] == "Succeeded" and change["time"].startswith("2026-11-23T10:21:09")
    assert "nsg rule delete" in change["undo"]
    assert main(["changes", "--gateway", GATEWAY, "--world", str(SCENARIO / "world.json")]) == 0
    text = capsys.readouterr().out
    assert "alice@contoso.com (Azure CLI)" in text and "bob@contoso.com" not in text


def test_a_window_that_ends_before_the_change_shows_none(capsys):
    args = [
        "changes",
        "--gateway",
        GATEWAY,
        "--world",
        str(SCENARIO / "world.json"),
        "--at",
        "2026-11-23T10:00:00Z",
    ]
    assert main([*args, "--hours", "1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert main(["changes", "--gateway", "agw-contoso"]) == 2
    assert main(["changes", "--gateway", GATEWAY, "--hours", "0"]) == 2
    assert main(["changes", "--gateway", GATEWAY, "--at", "yesterday"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err


def test_the_card_and_email_lead_with_the_culprit(tmp_path, capsys):
    outbox = tmp_path / "outbox"
    args = ["handle-alert", "--alert", str(SCENARIO / "alert.json"), "--world", str(SCENARIO / "world.json")]
    assert main([*args, "--outbox", str(outbox), "--format", "json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["reports"]
    (change,) = report["changes"]
    assert change["caller"] == "alice@contoso.com"
    (card,) = outbox.glob("*-teams.json")
    (email,) = outbox.glob("*-email.eml")
    card_text = card.read_text()
    lead = card_text.find("alice@contoso.com")
    assert 0 <= lead < card_text.find("NSG_BLOCKS_INFRA_PORTS")  # before the findings
    assert "nsg rule delete" in card_text
    body = email.read_text()
    assert "alice@contoso.com" in body.split("\n\n", 1)[0]  # the subject line / headers name the culprit
