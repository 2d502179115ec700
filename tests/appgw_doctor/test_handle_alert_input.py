"""`appgw-doctor handle-alert --alert` refuses what the webhook refuses: exit 2 and one line, before
any diagnosis, state or notification (the installed script, in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "appgw-doctor"
SCENARIO = ROOT / "scenarios" / "request-timeout"
GATEWAY = json.loads((SCENARIO / "alert.json").read_text())["data"]["essentials"]["alertTargetIDs"][0]


def handle_alert(
    tmp_path: Path, env: dict[str, str] | None = None, **essentials
) -> subprocess.CompletedProcess[str]:
    document = json.loads((SCENARIO / "alert.json").read_text())
    document["data"]["essentials"].update(essentials)
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(document))  # a lone surrogate travels as the JSON escape \ud800
    state = tmp_path / "state.db"
    return subprocess.run(
        [str(SCRIPT), "handle-alert", "--alert", str(alert), "--world", str(SCENARIO / "world.json"),
         "--state", str(state), "--outbox", str(tmp_path / "outbox")],
        capture_output=True, text=True, timeout=120, cwd=ROOT, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("essentials", "fragment"),
    [
        ({"alertId": "\ud800"}, "data.essentials.alertId is not well-formed Unicode (lone surrogate U+D800)"),
        ({"alertId": "id\r\nappgw-doctor: forged"}, "data.essentials.alertId contains a control"),
        ({"alertRule": "rule\nBcc: x@example.com"}, "data.essentials.alertRule contains a control"),
        ({"resolvedDateTime": "0001-01-01T00:00:00Z"}, "'0001-01-01T00:00:00Z' is out of range"),
        ({"alertTargetIDs": [GATEWAY.replace("agw-contoso", f"agw-{n}") for n in range(51)]},
         "alert names 51 targets; the limit is 50 (MAX_ALERT_TARGETS)"),
    ],
)  # fmt: skip
def test_an_alert_the_door_refuses_is_exit_2_one_line_and_nothing_happens(tmp_path, essentials, fragment):
    result = handle_alert(tmp_path, **essentials)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1 and fragment in result.stderr
    assert not (tmp_path / "outbox").exists() and not (tmp_path / "state.db").exists()


def test_max_alert_targets_from_the_environment_applies(tmp_path):
    targets = [GATEWAY, GATEWAY.replace("agw-contoso", "agw-other")]
    result = handle_alert(tmp_path, {"MAX_ALERT_TARGETS": "1"}, alertTargetIDs=targets)
    assert result.returncode == 2 and "the limit is 1 (MAX_ALERT_TARGETS)" in result.stderr

    result = handle_alert(tmp_path, {"MAX_ALERT_TARGETS": "none"}, alertTargetIDs=targets)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "MAX_ALERT_TARGETS must be a whole number" in result.stderr


def test_an_alert_with_unusual_but_valid_text_is_handled(tmp_path):
    result = handle_alert(tmp_path, alertId="ünïcødé-😀", alertRule="règle — 5xx", description="a\r\nb\tc")
    assert result.returncode == 0, result.stderr
    assert "règle — 5xx" in result.stdout
