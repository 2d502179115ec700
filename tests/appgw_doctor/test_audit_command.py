"""`appgw-doctor audit`: the remediation audit trail of the local state, as text or JSON; bad input is
exit 2 with one line on stderr."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from appgw_doctor.cli import main
from model.remediation import AuditEntry
from state import RemediationLedger
from state.sqlite import SqliteBackend

T0 = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-web/providers/Microsoft.Network"
GW = f"{RG}/applicationGateways/agw-contoso"
GW2 = f"{RG}/applicationGateways/agw-fabrikam"


def entry(number: int, at: datetime, gateway: str = GW, **fields) -> AuditEntry:
    values = {
        "id": f"e{number}",
        "at": at,
        "gateway_id": gateway,
        "incident_id": "i1",
        "finding": "REQUEST_TIMEOUT_TOO_SHORT",
        "action": "raise-request-timeout",
        "mode": "auto",
        "step": "apply",
        "outcome": "applied",
        "resource": f"{gateway}/backendHttpSettingsCollection/app-settings",
        "before": {"requestTimeout": 20},
        "after": {"requestTimeout": 60},
        "reason": "written, not yet verified",
        **fields,
    }
    return AuditEntry(**values)


ENTRIES = [
    entry(1, T0),
    entry(2, T0 + timedelta(minutes=1), gateway=GW2, step="refuse", outcome="refused",
          finding="NSG_BLOCKS_GATEWAY_MANAGER", action="add-nsg-allow-rule",
          reason="cooldown: applied 5 min ago"),
    entry(3, T0 + timedelta(minutes=2), step="verify", outcome="verified", reason=""),
]  # fmt: skip


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    ledger = RemediationLedger(SqliteBackend(path))
    for item in reversed(ENTRIES):  # written out of order: listed by time
        ledger.audit(item)
    ledger.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["audit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_is_one_line_per_entry_oldest_first(state: Path, capsys) -> None:
    code, out, err = run(capsys, "--state", str(state))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].split() == [
        "2026-11-23T10:30:00Z", "agw-contoso", "(rg-web)", "raise-request-timeout", "apply", "->", "applied",
        "finding", "REQUEST_TIMEOUT_TOO_SHORT", "[auto]", "written,", "not", "yet", "verified",
    ]  # fmt: skip
    assert lines[1].startswith(
        "2026-11-23T10:31:00Z  agw-fabrikam (rg-web)  add-nsg-allow-rule  refuse -> refused"
    )
    assert lines[1].endswith("finding NSG_BLOCKS_GATEWAY_MANAGER  [auto]  cooldown: applied 5 min ago")
    assert lines[2].startswith("2026-11-23T10:32:00Z  agw-contoso (rg-web)")
    assert "verify -> verified" in lines[2]


def test_json_is_the_list_of_entries(state: Path, capsys) -> None:
    code, out, _ = run(capsys, "--state", str(state), "--format", "json")
    assert code == 0
    assert json.loads(out) == [item.to_dict() for item in ENTRIES]


def test_gateway_filter_is_case_insensitive_and_since_is_inclusive(state: Path, capsys) -> None:
    code, out, _ = run(capsys, "--state", str(state), "--format", "json", "--gateway", GW.upper())
    assert code == 0 and [e["id"] for e in json.loads(out)] == ["e1", "e3"]
    code, out, _ = run(capsys, "--state", str(state), "--format", "json", "--since", "2026-11-23T10:31:00Z")
    assert code == 0 and [e["id"] for e in json.loads(out)] == ["e2", "e3"]
    code, out, _ = run(
        capsys, "--state", str(state), "--gateway", GW, "--since", "2026-11-23T11:31:00+01:00"
    )  # 10:31Z
    assert code == 0 and len(out.splitlines()) == 1 and "verify -> verified" in out


def test_no_entries_is_said_in_text_and_an_empty_list_in_json(state: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "--state", str(state), "--since", "2026-11-24T00:00:00Z")
    assert code == 0
    assert out == "No remediation audit entries since 2026-11-24T00:00:00Z.\n"
    code, out, _ = run(capsys, "--state", str(state), "--gateway", f"{RG}/applicationGateways/other")
    assert code == 0 and out.startswith("No remediation audit entries of other (rg-web)")
    code, out, _ = run(capsys, "--state", str(state), "--format", "json", "--since", "2027-01-01")
    assert code == 0 and json.loads(out) == []


def test_a_missing_state_file_has_no_entries_and_is_not_created(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "none" / "state.db"
    code, out, _ = run(capsys, "--state", str(missing), "--format", "json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run(capsys, "--state", str(missing))
    assert code == 0 and "No remediation audit entries" in out and "no state file" in out
    assert not missing.parent.exists()


def test_text_from_outside_cannot_break_the_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "state.db"
    ledger = RemediationLedger(SqliteBackend(path))
    ledger.audit(entry(1, T0, reason="ARM said:\nappgw-doctor: forged line\u202e"))
    ledger.close()
    code, out, _ = run(capsys, "--state", str(path))
    assert code == 0
    assert out.splitlines() == [out.rstrip("\n")]
    assert "ARM said:\\nappgw-doctor: forged line\\u202e" in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--since", "yesterday"], "--since: not an ISO-8601 time: 'yesterday'"),
        (["--since", "2026-13-01T00:00:00Z"], "--since: not an ISO-8601 time"),
        (["--format", "yaml"], "invalid choice: 'yaml'"),
        (["--gateway", "agw-contoso"], "--gateway: not an Application Gateway resource id"),
    ],
)
def test_bad_input_is_exit_2_and_one_line(state: Path, capsys, argv: list[str], fragment: str) -> None:
    code, out, err = run(capsys, "--state", str(state), *argv)
    assert code == 2 and out == ""
    assert err.startswith("appgw-doctor: error: ") and fragment in err
    assert len(err.splitlines()) == 1


def test_a_state_file_that_is_not_a_database_is_exit_2(tmp_path: Path, capsys) -> None:
    bogus = tmp_path / "state.db"
    bogus.write_text("not sqlite " * 100)
    code, _, err = run(capsys, "--state", str(bogus))
    assert code == 2 and f"cannot open state {bogus}" in err and len(err.splitlines()) == 1
