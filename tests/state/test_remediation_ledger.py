"""RemediationLedger (audit, cooldowns, change budget, intents), identical on Table Storage (Azurite)
and SQLite: the `backend` fixture of this directory's conftest runs each test on both."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from model.remediation import AuditEntry, Intent
from remediation.ledger import Ledger
from state import RemediationLedger, StateStore
from state.backend import RecordBackend, StateError
from state.remediation import AUDIT
from state.store import MAX_RECORD_CHARS, digest

T0 = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network"
GW = f"{RG}/applicationGateways/agw"
GW2 = f"{RG}/applicationGateways/agw2"
NSG = f"{RG}/networkSecurityGroups/nsg"


@pytest.fixture
def ledger(backend: RecordBackend) -> RemediationLedger:
    return RemediationLedger(backend)


def entry(number: int, *, at: datetime = T0, gateway: str = GW, **changes) -> AuditEntry:
    base = AuditEntry(
        id=f"e{number}",
        at=at,
        gateway_id=gateway,
        incident_id="i1",
        finding="NSG_BLOCKS_GATEWAY_MANAGER",
        action="add-nsg-allow-rule",
        mode="auto",
        step="apply",
        outcome="applied",
        resource=NSG,
        before={"rules": []},
        after={"rules": [{"name": "allow-gwm", "priority": 100}]},
        identity="mi-appgw-doctor",
        reason="written, not yet verified",
    )
    return replace(base, **changes)


def intent(number: int, *, created: datetime, gateway: str = GW, state: str = "applying") -> Intent:
    return Intent(
        id=f"n{number}",
        gateway_id=gateway,
        incident_id="i1",
        finding="REQUEST_TIMEOUT_TOO_SHORT",
        action="raise-request-timeout",
        resource=f"{GW}/backendHttpSettingsCollection/s{number}",
        before={"requestTimeout": 20},
        after={"requestTimeout": 60},
        created_at=created,
        state=state,
        details={"settings": f"s{number}"},
    )


def test_it_is_a_ledger(ledger: RemediationLedger) -> None:
    implementation: Ledger = ledger  # mypy checks the signatures against the Protocol
    assert implementation.audit_entries() == []


def test_the_ledger_of_a_store_shares_its_backend(backend: RecordBackend) -> None:
    RemediationLedger.for_store(StateStore(backend)).audit(entry(1))
    assert [e.id for e in RemediationLedger(backend).audit_entries(GW)] == ["e1"]


# --- audit ---


def test_audit_entries_come_back_whole_and_oldest_first(ledger: RemediationLedger) -> None:
    written = [
        entry(3, at=T0 + timedelta(minutes=2), step="verify", outcome="verified", reason=""),
        entry(1, at=T0),
        entry(2, at=T0 + timedelta(seconds=1, microseconds=5), step="refuse", outcome="refused"),
    ]
    for item in written:
        ledger.audit(item)
    assert ledger.audit_entries(GW) == sorted(written, key=lambda e: e.at)


def test_entries_at_the_same_time_are_all_kept(ledger: RemediationLedger) -> None:
    for number in range(3):
        ledger.audit(entry(number))
    assert sorted(e.id for e in ledger.audit_entries(GW)) == ["e0", "e1", "e2"]


def test_auditing_never_overwrites_another_entry(ledger: RemediationLedger) -> None:
    ledger.audit(entry(1))
    ledger.audit(entry(1))  # a retry of the same entry: kept once
    with pytest.raises(StateError):
        ledger.audit(entry(1, outcome="failed"))  # another entry under the same id and time
    assert [(e.id, e.outcome) for e in ledger.audit_entries()] == [("e1", "applied")]


def test_times_in_other_zones_sort_by_the_instant(ledger: RemediationLedger) -> None:
    plus_two = timezone(timedelta(hours=2))
    ledger.audit(entry(1, at=T0))  # 10:30Z
    ledger.audit(entry(2, at=datetime(2026, 11, 23, 11, 0, tzinfo=plus_two)))  # 09:00Z
    entries = ledger.audit_entries(GW)
    assert [e.id for e in entries] == ["e2", "e1"]
    assert entries[0].at == datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def test_audit_filters_by_gateway_case_insensitively_and_by_since(ledger: RemediationLedger) -> None:
    ledger.audit(entry(1, at=T0))
    ledger.audit(entry(2, at=T0 + timedelta(minutes=1), gateway=GW2))
    ledger.audit(entry(3, at=T0 + timedelta(minutes=2), gateway=GW.upper()))
    ledger.audit(entry(4, at=T0 + timedelta(minutes=3)))

    assert [e.id for e in ledger.audit_entries()] == ["e1", "e2", "e3", "e4"]
    assert [e.id for e in ledger.audit_entries(GW.lower())] == ["e1", "e3", "e4"]
    assert [e.id for e in ledger.audit_entries(GW2.upper())] == ["e2"]
    assert [e.id for e in ledger.audit_entries(since=T0 + timedelta(minutes=1))] == ["e2", "e3", "e4"]
    assert [e.id for e in ledger.audit_entries(GW, since=T0 + timedelta(minutes=2))] == ["e3", "e4"]
    assert ledger.audit_entries(GW, since=T0 + timedelta(hours=1)) == []
    assert ledger.audit_entries(f"{RG}/applicationGateways/other") == []


def test_audit_entries_are_partitioned_per_gateway(ledger: RemediationLedger, backend: RecordBackend) -> None:
    ledger.audit(entry(1))
    ledger.audit(entry(2, gateway=GW.upper()))
    ledger.audit(entry(3, gateway=GW2))
    assert len(backend.query(AUDIT, digest(GW))) == 2
    assert len(backend.query(AUDIT, digest(GW2))) == 1


def test_an_entry_with_large_before_and_after_within_the_limit_is_kept_whole(
    ledger: RemediationLedger,
) -> None:
    rules = [{"name": f"rule-{n}", "description": "x" * 900} for n in range(200)]  # ~190,000 characters
    big = entry(1, before={"rules": rules}, after={"rules": [*rules, {"name": "allow-gwm"}]})
    ledger.audit(big)
    assert ledger.audit_entries(GW) == [big]


def test_an_entry_too_large_for_a_record_keeps_all_but_its_largest_change(
    ledger: RemediationLedger,
) -> None:
    before = {"rules": ["x" * 1000] * 150}  # ~150,000 characters
    after = {"rules": ["y" * 1000] * 350}  # ~350,000: together over MAX_RECORD_CHARS
    ledger.audit(entry(1, before=before, after=after))
    (stored,) = ledger.audit_entries(GW)
    assert stored.before == before
    assert stored.after is not None and "not stored" in stored.after["truncated"]
    assert (stored.id, stored.outcome, stored.reason) == ("e1", "applied", "written, not yet verified")


def test_an_entry_with_both_changes_and_its_reason_too_large_still_fits(ledger: RemediationLedger) -> None:
    huge = {"blob": "z" * MAX_RECORD_CHARS}
    ledger.audit(entry(1, before=huge, after=huge, reason="r" * MAX_RECORD_CHARS))
    (stored,) = ledger.audit_entries(GW)
    assert stored.before is not None and "truncated" in stored.before
    assert stored.after is not None and "truncated" in stored.after
    assert stored.reason.startswith("rrrr") and len(stored.reason) < 3_000


# --- cooldowns ---


def test_cooldown_is_per_gateway_and_action(ledger: RemediationLedger) -> None:
    assert ledger.last_applied(GW, "add-nsg-allow-rule") is None
    ledger.mark_applied(GW, "add-nsg-allow-rule", T0)
    assert ledger.last_applied(GW, "add-nsg-allow-rule") == T0
    assert ledger.last_applied(GW.upper(), "add-nsg-allow-rule") == T0
    assert ledger.last_applied(GW, "raise-request-timeout") is None
    assert ledger.last_applied(GW2, "add-nsg-allow-rule") is None


def test_cooldown_moves_forward_only(ledger: RemediationLedger) -> None:
    later = T0 + timedelta(minutes=30)
    ledger.mark_applied(GW, "reattach-probe", T0)
    ledger.mark_applied(GW.lower(), "reattach-probe", later)
    assert ledger.last_applied(GW, "reattach-probe") == later
    ledger.mark_applied(GW, "reattach-probe", T0 + timedelta(minutes=5))  # an instance running late
    assert ledger.last_applied(GW, "reattach-probe") == later


# --- the fleet-wide change budget ---


def test_the_budget_allows_per_hour_changes_in_the_window(ledger: RemediationLedger) -> None:
    taken = [ledger.take_change(now=T0 + timedelta(minutes=m), per_hour=3) for m in range(5)]
    assert taken == [True, True, True, False, False]
    assert not ledger.take_change(now=T0 + timedelta(minutes=59, seconds=59), per_hour=3)
    # the first change (T0) leaves the window at T0 + 1 h; the second at T0 + 1 h + 1 min
    assert ledger.take_change(now=T0 + timedelta(hours=1), per_hour=3)
    assert not ledger.take_change(now=T0 + timedelta(hours=1, seconds=30), per_hour=3)
    assert ledger.take_change(now=T0 + timedelta(hours=1, minutes=1), per_hour=3)


def test_the_budget_honours_the_window_and_a_larger_limit(ledger: RemediationLedger) -> None:
    window = timedelta(minutes=10)
    assert ledger.take_change(now=T0, per_hour=1, window=window)
    assert not ledger.take_change(now=T0 + timedelta(minutes=9), per_hour=1, window=window)
    assert ledger.take_change(now=T0 + timedelta(minutes=9), per_hour=2, window=window)
    assert ledger.take_change(now=T0 + timedelta(minutes=20), per_hour=1, window=window)


def test_a_budget_of_zero_allows_nothing(ledger: RemediationLedger) -> None:
    assert not ledger.take_change(now=T0, per_hour=0)


def test_racing_instances_never_exceed_the_budget(backend: RecordBackend) -> None:
    ledgers = [RemediationLedger(backend) for _ in range(8)]  # one per instance, one shared backend
    start = threading.Barrier(8)

    def take(ledger: RemediationLedger) -> bool:
        start.wait()
        return ledger.take_change(now=T0, per_hour=5)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(take, ledgers))
    assert results.count(True) == 5
    assert not ledgers[0].take_change(now=T0 + timedelta(minutes=59), per_hour=5)

    later = T0 + timedelta(hours=1, seconds=1)  # all five left the window
    start = threading.Barrier(8)

    def take_later(ledger: RemediationLedger) -> bool:
        start.wait()
        return ledger.take_change(now=later, per_hour=5)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(take_later, ledgers))
    assert results.count(True) == 5


# --- intents ---


def test_intents_record_update_settle_and_come_back_oldest_first(ledger: RemediationLedger) -> None:
    first = intent(1, created=T0)
    second = intent(2, created=T0 + timedelta(minutes=1))
    other = intent(3, created=T0, gateway=GW2)
    for item in (second, first, other):
        ledger.record_intent(item)
    assert ledger.open_intents(GW) == [first, second]
    assert ledger.open_intents(GW2.upper()) == [other]

    applied = replace(first, state="applied", details={"settings": "s1", "armEtag": "W/1"})
    ledger.record_intent(applied)
    assert ledger.open_intents(GW.lower()) == [applied, second]

    ledger.settle_intent(GW.upper(), first.id)
    assert ledger.open_intents(GW) == [second]
    ledger.settle_intent(GW, first.id)  # again: nothing to do
    ledger.settle_intent(GW, second.id)
    assert ledger.open_intents(GW) == []
    assert ledger.open_intents(GW2) == [other]


def test_an_intent_recorded_as_settled_is_not_open(ledger: RemediationLedger) -> None:
    ledger.record_intent(intent(1, created=T0, state="settled"))
    assert ledger.open_intents(GW) == []


def test_an_intent_too_large_is_refused_not_shortened(ledger: RemediationLedger) -> None:
    huge = replace(intent(1, created=T0), before={"blob": "b" * MAX_RECORD_CHARS})
    with pytest.raises(StateError):
        ledger.record_intent(huge)
    assert ledger.open_intents(GW) == []


def test_ids_with_characters_table_keys_forbid_are_stored(ledger: RemediationLedger) -> None:
    odd = replace(intent(1, created=T0), id="rule/#1?x")
    ledger.record_intent(odd)
    ledger.audit(entry(1, id="audit/#1?"))
    assert ledger.open_intents(GW) == [odd]
    assert [e.id for e in ledger.audit_entries(GW)] == ["audit/#1?"]
    ledger.settle_intent(GW, "rule/#1?x")
    assert ledger.open_intents(GW) == []
