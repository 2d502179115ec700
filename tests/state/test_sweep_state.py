"""The sweep's fleet-wide state, on both backends: ARM throttling per subscription (only ever
extended) and the sweep slots (at most N holders at once; a dead holder's slot expires)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from state import DiagnosisRecord

SUB = "00000000-0000-0000-0000-000000000001"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def test_throttling_is_recorded_per_subscription_and_only_extended(store) -> None:
    assert store.throttled_until(SUB) is None
    assert store.note_throttle(SUB.upper(), NOW + timedelta(seconds=30)) == NOW + timedelta(seconds=30)
    assert store.note_throttle(SUB, NOW + timedelta(seconds=5)) == NOW + timedelta(
        seconds=30
    )  # earlier: kept
    assert store.throttled_until(SUB) == NOW + timedelta(seconds=30)
    store.note_throttle(SUB, NOW + timedelta(minutes=2))
    assert store.throttled_until(SUB) == NOW + timedelta(minutes=2)
    assert store.throttled_until("00000000-0000-0000-0000-000000000002") is None


def test_sweep_slots_admit_at_most_their_number_and_free_on_release_or_expiry(store) -> None:
    ttl = timedelta(minutes=10)
    first = store.acquire_slot("sweep", slots=2, holder="a", now=NOW, ttl=ttl)
    second = store.acquire_slot("sweep", slots=2, holder="b", now=NOW, ttl=ttl)
    assert first is not None and second is not None and first.key != second.key
    assert store.acquire_slot("sweep", slots=2, holder="c", now=NOW, ttl=ttl) is None
    store.release_lease(first)
    assert store.acquire_slot("sweep", slots=2, holder="c", now=NOW, ttl=ttl) is not None
    # b died: its slot is taken over once its lease expired
    assert store.acquire_slot("sweep", slots=2, holder="d", now=NOW + ttl + timedelta(seconds=1), ttl=ttl)


def test_a_diagnosis_record_keeps_its_fingerprint_and_what_it_repeats(store) -> None:
    gateway = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/gw"
    fingerprint = {"resources": [["gateway", gateway, 'W/"1"']], "allHealthy": True, "fullId": "d1",
                   "fullAt": NOW.isoformat()}  # fmt: skip
    record = DiagnosisRecord("d2", gateway, "sweep", NOW, NOW, fingerprint=fingerprint, unchanged_since="d1")
    store.record_diagnosis(record)
    assert store.last_diagnosis(gateway) == record
