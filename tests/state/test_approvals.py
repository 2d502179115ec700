"""RemediationLedger's approvals (mode `approve`), identical on Table Storage (Azurite) and SQLite:
the `backend` fixture of this directory's conftest runs each test on both."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from model.remediation import APPROVED, PENDING, REJECTED, SUPERSEDED, Approval, Change
from remediation.ledger import Ledger
from state import RemediationLedger
from state.backend import RecordBackend, StateError
from state.remediation import APPROVALS, REMEDIATION_TABLES
from state.store import MAX_RECORD_CHARS, digest

T0 = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network"
GW = f"{RG}/applicationGateways/agw"
GW2 = f"{RG}/applicationGateways/agw2"
SETTINGS = f"{GW}/backendHttpSettingsCollection/app-settings"


@pytest.fixture
def ledger(backend: RecordBackend) -> RemediationLedger:
    return RemediationLedger(backend)


def approval(number: int, *, created: datetime = T0, gateway: str = GW, **changes) -> Approval:
    base = Approval(
        id=f"00000000-0000-4000-8000-{number:012d}",
        gateway_id=gateway,
        incident_id="i1",
        finding={"code": "REQUEST_TIMEOUT_TOO_SHORT", "severity": "critical", "evidence": ["20 s"]},
        action="raise-request-timeout",
        resource=SETTINGS,
        change=Change(
            resource=SETTINGS,
            before={"requestTimeout": 20},
            after={"requestTimeout": 60},
            summary="requestTimeout 20 s -> 60 s on settings app-settings",
        ),
        command=f"az network application-gateway http-settings update --ids {SETTINGS} --timeout 60",
        undo=f"az network application-gateway http-settings update --ids {SETTINGS} --timeout 20",
        etag='W/"arm-etag-1"',
        digest="d" * 64,
        requested_by="appgw-doctor, alert appgw-5xx (incident i1)",
        created_at=created,
        expires_at=created + timedelta(hours=4),
    )
    return replace(base, **changes)


def decided(item: Approval, *, by: str, state: str = APPROVED) -> Approval:
    return replace(item, state=state, decided_by=by, decided_at=T0 + timedelta(minutes=5), reason=f"by {by}")


def test_the_approval_methods_make_it_a_ledger(ledger: RemediationLedger) -> None:
    implementation: Ledger = ledger  # mypy checks the signatures against the Protocol
    assert implementation.approvals() == []
    assert APPROVALS in REMEDIATION_TABLES


def test_an_approval_comes_back_with_every_field(ledger: RemediationLedger) -> None:
    pending = approval(1)
    ledger.add_approval(pending)
    found = ledger.approval(pending.id)
    assert found is not None
    assert found[0] == pending and found[1]

    every_field = replace(
        decided(pending, by="alice@example.com"),
        incident_id=None,
        result={"action": "raise-request-timeout", "status": "verified", "change": None},
        replaced_by="00000000-0000-4000-8000-000000000009",
        state=SUPERSEDED,
    )
    assert ledger.save_approval(every_field, found[1])
    stored = ledger.approval(pending.id)
    assert stored is not None and stored[0] == every_field
    assert stored[0].to_dict() == every_field.to_dict()


def test_times_are_stored_in_utc(ledger: RemediationLedger) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = approval(1, created=datetime(2026, 11, 23, 12, 30, tzinfo=plus_two))
    ledger.add_approval(replace(local, decided_at=datetime(2026, 11, 23, 10, 35)))  # naive: UTC
    found = ledger.approval(local.id)
    assert found is not None
    stored = found[0]
    assert (stored.created_at, stored.expires_at) == (T0, T0 + timedelta(hours=4))
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.decided_at == T0 + timedelta(minutes=5)


def test_an_unknown_id_is_none(ledger: RemediationLedger) -> None:
    assert ledger.approval("00000000-0000-4000-8000-000000000001") is None
    ledger.add_approval(approval(1))
    assert ledger.approval("00000000-0000-4000-8000-000000000002") is None
    assert ledger.approval("") is None
    assert ledger.approval("../#?x") is None


def test_an_approval_is_one_point_read_by_its_id(ledger: RemediationLedger, backend: RecordBackend) -> None:
    item = approval(1)
    ledger.add_approval(item)
    (record,) = backend.query(APPROVALS, digest(item.id))
    assert (record.row, record.data["gatewayId"]) == (item.id, GW)


def test_adding_never_overwrites_another_approval(ledger: RemediationLedger) -> None:
    first = approval(1)
    ledger.add_approval(first)
    with pytest.raises(StateError, match="already stored"):
        ledger.add_approval(replace(first, command="az something else"))
    found = ledger.approval(first.id)
    assert found is not None and found[0] == first


def test_ids_with_characters_table_keys_forbid_are_stored(ledger: RemediationLedger) -> None:
    odd = approval(1, id="approval/#1?x")
    ledger.add_approval(odd)
    found = ledger.approval("approval/#1?x")
    assert found is not None and found[0] == odd
    assert ledger.save_approval(decided(odd, by="bob"), found[1])
    assert [a.state for a in ledger.approvals(GW)] == [APPROVED]


def test_a_save_with_a_stale_etag_writes_nothing(ledger: RemediationLedger) -> None:
    pending = approval(1)
    ledger.add_approval(pending)
    found = ledger.approval(pending.id)
    assert found is not None
    _, etag = found

    approved = decided(pending, by="alice")
    assert ledger.save_approval(approved, etag)
    after = ledger.approval(pending.id)
    assert after is not None and after[0] == approved and after[1] != etag

    assert not ledger.save_approval(decided(pending, by="bob", state=REJECTED), etag)  # decided meanwhile
    still = ledger.approval(pending.id)
    assert still is not None and still == after

    assert ledger.save_approval(replace(approved, result={"status": "verified"}), after[1])


def test_saving_an_approval_that_is_not_stored_is_false(ledger: RemediationLedger) -> None:
    stray = approval(1)
    ledger.add_approval(approval(2))
    found = ledger.approval(approval(2).id)
    assert found is not None
    assert not ledger.save_approval(stray, found[1])  # an etag, but of another record
    assert ledger.approval(stray.id) is None


def test_of_racing_deciders_exactly_one_wins(backend: RecordBackend) -> None:
    RemediationLedger(backend).add_approval(approval(1))
    ledgers = [RemediationLedger(backend) for _ in range(8)]  # one per instance, one shared backend
    found = ledgers[0].approval(approval(1).id)
    assert found is not None
    pending, etag = found
    start = threading.Barrier(8)

    def decide(number: int) -> bool:
        start.wait()
        state = APPROVED if number % 2 else REJECTED
        return ledgers[number].save_approval(decided(pending, by=f"person-{number}", state=state), etag)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(decide, range(8)))
    assert results.count(True) == 1
    winner = results.index(True)
    stored = ledgers[0].approval(pending.id)
    assert stored is not None
    assert stored[0].decided_by == f"person-{winner}"
    assert stored[0].state == (APPROVED if winner % 2 else REJECTED)


def test_approvals_are_listed_newest_first_and_by_gateway(ledger: RemediationLedger) -> None:
    plus_two = timezone(timedelta(hours=2))
    oldest = approval(1, created=T0)
    other = approval(2, created=T0 + timedelta(minutes=1), gateway=GW2)
    upper = approval(3, created=T0 + timedelta(minutes=2), gateway=GW.upper())
    newest = approval(4, created=datetime(2026, 11, 23, 12, 33, tzinfo=plus_two))  # 10:33Z
    tied = approval(5, created=T0)  # same time as `oldest`: the larger id first
    for item in (upper, oldest, newest, tied, other):
        ledger.add_approval(item)

    assert [a.id for a in ledger.approvals()] == [a.id for a in (newest, upper, other, tied, oldest)]
    assert [a.id for a in ledger.approvals(GW.lower())] == [a.id for a in (newest, upper, tied, oldest)]
    assert ledger.approvals(GW2.upper()) == [other]
    assert ledger.approvals(f"{RG}/applicationGateways/other") == []
    assert all(a.state == PENDING for a in ledger.approvals())


def test_an_approval_within_the_limit_is_kept_whole(ledger: RemediationLedger) -> None:
    rules = [{"name": f"rule-{n}", "description": "x" * 900} for n in range(200)]  # ~190,000 characters
    big = approval(1, change=Change(SETTINGS, {"rules": rules}, {"rules": rules[:-1]}, "drop a rule"))
    ledger.add_approval(big)
    found = ledger.approval(big.id)
    assert found is not None and found[0] == big


def test_an_approval_too_large_is_refused_not_shortened(ledger: RemediationLedger) -> None:
    huge = Change(SETTINGS, {"blob": "b" * MAX_RECORD_CHARS}, None, "too large")
    with pytest.raises(StateError):
        ledger.add_approval(approval(1, change=huge))
    assert ledger.approval(approval(1).id) is None

    pending = approval(2)
    ledger.add_approval(pending)
    found = ledger.approval(pending.id)
    assert found is not None
    with pytest.raises(StateError):
        ledger.save_approval(replace(pending, result={"verification": "v" * MAX_RECORD_CHARS}), found[1])
    assert ledger.approval(pending.id) == found
