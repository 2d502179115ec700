"""`appgw-doctor simulate` as a user runs it: a subprocess that announces itself on stdout,
serves the real SDK, and writes the world on SIGTERM; bad input is one line and exit 2."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.azure_clients import ArmTarget, make_clients

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("appgw-doctor")
SCENARIO = ROOT / "scenarios/request-timeout/world.json"


def test_simulate_serves_until_sigterm_and_dumps(tmp_path):
    dump = tmp_path / "dump.json"
    faults = json.dumps(
        [{"operation": "applicationGateways.get", "kind": "throttle", "times": 1, "retry_after": 0}]
    )
    process = subprocess.Popen(
        [str(CLI), "simulate", "--world", str(SCENARIO), "--dump-on-exit", str(dump), "--faults", faults],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        announcement = json.loads(process.stdout.readline())
        assert set(announcement) == {"endpoint", "caCert", "subscriptionId"}
        assert announcement["endpoint"].startswith("https://127.0.0.1:")
        clients = make_clients(
            announcement["subscriptionId"],
            target=ArmTarget(announcement["endpoint"], announcement["caCert"]),
            polling_interval=0.05,
        )
        network = clients.network
        gateway = network.application_gateways.get("rg-contoso-web", "agw-contoso")
        gateway.tags = {"written": "by-test"}
        network.application_gateways.begin_create_or_update("rg-contoso-web", "agw-contoso", gateway).result()
        clients.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    world = json.loads(dump.read_text())
    gateway = next(r for r in world["resources"] if r["name"] == "agw-contoso")
    assert gateway["tags"] == {"written": "by-test"}
    assert not Path(announcement["caCert"]).exists(), "the temporary CA is removed on exit"


def _bad_world(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "world.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{oops", "not JSON"),
        ('{"schema": "nope"}', "$.schema"),
        (
            '{"schema": "appgw-world/v1", "subscriptionId": "s", "resources": [{"type": "x"}]}',
            "$.resources[0].id",
        ),
    ],
)
def test_bad_world_is_one_line_and_exit_2(tmp_path, text, message):
    world = _bad_world(tmp_path, text)
    result = subprocess.run(
        [str(CLI), "simulate", "--world", str(world)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_world_bad_faults_and_unwritable_dump_exit_2(tmp_path):
    for arguments in (
        ["--world", str(tmp_path / "absent.json")],
        ["--world", str(SCENARIO), "--faults", '[{"operation": "*", "kind": "meteor"}]'],
        ["--world", str(SCENARIO), "--dump-on-exit", str(tmp_path / "absent" / "dump.json")],
        ["--world", str(SCENARIO), "--dump-on-exit", str(tmp_path)],
    ):
        result = subprocess.run(
            [str(CLI), "simulate", *arguments], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_port_out_of_range_is_bad_input() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "appgw_doctor.cli", "simulate", "--world", "scenarios/healthy/world.json",
         "--port", "99999"],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "appgw-doctor: error: argument --port: port 99999 is outside 0-65535"
    ]
