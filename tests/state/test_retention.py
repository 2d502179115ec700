"""Bounded history (identical on Table Storage and SQLite): the open incident is found through the
per-gateway index, not the gateway's history, and prune removes exactly what is old and done."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from state import CloseReason, DiagnosisRecord, Incident, IncidentStatus, StateStore
from state.backend import Record, RecordBackend
from state.store import (
    DELIVERIES,
    INCIDENTS,
    MAINTENANCE,
    OPEN_INCIDENTS,
    PruneCounts,
    digest,
)

T0 = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
DAY = timedelta(days=1)
RETENTION = timedelta(days=90)
TTL = timedelta(minutes=5)
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network"
GW = f"{RG}/applicationGateways/agw"
GW2 = GW + "2"


def _incident(incident_id: str, opened: datetime, status: IncidentStatus = IncidentStatus.OPEN) -> Incident:
    return Incident(incident_id, GW, status, opened_at=opened, updated_at=opened)


def _closed(store: StateStore, incident_id: str, opened: datetime, closed: datetime) -> Incident:
    return store.close_incident(store.create_incident(_incident(incident_id, opened)), now=closed)


def _diagnosis(record_id: str, at: datetime, incident_id: str | None = None) -> DiagnosisRecord:
    return DiagnosisRecord(
        id=record_id, gateway_id=GW, trigger="alert", started_at=at, finished_at=at, incident_id=incident_id
    )


def _alert(store: StateStore, incident_id: str, key: str, at: datetime) -> None:
    store.attach_alert(incident_id, key=key, alert={"alertId": key}, at=at)


def _prune_until_complete(store: StateStore, now: datetime, **options: Any) -> PruneCounts:
    total = PruneCounts()
    for _ in range(50):
        counts = store.prune(now=now, retention=RETENTION, **options)
        for name in ("incidents", "incident_alerts", "diagnoses", "deliveries", "index_entries"):
            setattr(total, name, getattr(total, name) + getattr(counts, name))
        if counts.complete:
            return total
    raise AssertionError("prune never went round every table")


class CountingBackend:
    """The real backend, counting the records each call hands back (how much a lookup reads)."""

    def __init__(self, inner: RecordBackend) -> None:
        self.inner = inner
        self.records_read = 0

    def get(self, table: str, partition: str, row: str) -> Record | None:
        found = self.inner.get(table, partition, row)
        self.records_read += found is not None
        return found

    def query(self, table: str, partition: str | None) -> list[Record]:
        found = self.inner.query(table, partition)
        self.records_read += len(found)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


# --- finding the open incident ---


def test_the_open_incident_is_found_among_many_closed_ones(store: StateStore) -> None:
    for n in range(40):
        _closed(store, f"c{n:02}", T0 + n * DAY, T0 + n * DAY + timedelta(hours=1))
    store.create_incident(_incident("open", T0 + 20 * DAY))
    assert store.open_incident(GW).id == "open"
    assert store.open_incident(GW2) is None


def test_finding_the_open_incident_reads_as_much_after_a_long_history_as_after_a_short_one(
    backend: RecordBackend,
) -> None:
    def records_read_by_lookup(closed: int) -> int:
        counting = CountingBackend(backend)
        store = StateStore(counting)  # type: ignore[arg-type]  # duck-typed RecordBackend
        gateway = f"{GW}-{closed}"
        for n in range(closed):
            incident = Incident(f"{closed}-{n}", gateway, IncidentStatus.OPEN, opened_at=T0, updated_at=T0)
            store.close_incident(store.create_incident(incident), now=T0 + DAY)
        store.create_incident(Incident(f"{closed}-open", gateway, IncidentStatus.OPEN, T0, T0))
        store.open_incident(gateway)  # the gateway's first lookup marks it indexed
        counting.records_read = 0
        assert store.open_incident(gateway).id == f"{closed}-open"
        return counting.records_read

    assert records_read_by_lookup(3) == records_read_by_lookup(60) == 3  # index entry, marker, incident


def test_the_newest_incident_not_closed_wins(store: StateStore) -> None:
    older = store.create_incident(_incident("older", T0, IncidentStatus.DIAGNOSING))
    newer = store.create_incident(_incident("newer", T0 + DAY))
    _closed(store, "newest-closed", T0 + 2 * DAY, T0 + 3 * DAY)
    assert store.open_incident(GW).id == "newer"
    store.close_incident(newer, now=T0 + 4 * DAY, reason=CloseReason.EXPIRED)
    assert store.open_incident(GW) == replace(older, etag=None)
    assert store.open_incident(GW).status is IncidentStatus.DIAGNOSING


def test_a_closer_that_died_before_unindexing_leaves_a_stale_entry_that_is_repaired(
    store: StateStore, backend: RecordBackend
) -> None:
    store.create_incident(_incident("older", T0))
    dying = store.create_incident(_incident("dying", T0 + DAY))
    closed = replace(dying, status=IncidentStatus.CLOSED, closed_at=T0 + 2 * DAY, close_reason="resolved")
    # close_incident's first write, then the worker dies: the index entry still names the incident
    backend.replace(INCIDENTS, digest(GW), "dying", closed.to_dict(), etag=dying.etag)
    assert backend.get(OPEN_INCIDENTS, digest(GW), "dying") is not None

    assert store.open_incident(GW).id == "older"
    assert backend.get(OPEN_INCIDENTS, digest(GW), "dying") is None  # repaired
    assert store.open_incident(GW).id == "older"


def test_a_creator_that_died_before_writing_the_incident_leaves_an_entry_that_is_skipped_then_pruned(
    store: StateStore, backend: RecordBackend
) -> None:
    store.create_incident(_incident("alive", T0))
    store.open_incident(GW)
    # create_incident's first write (the index entry), then the worker dies before inserting
    entry = {"gatewayId": GW, "openedAt": (T0 + DAY).isoformat()}
    backend.replace(OPEN_INCIDENTS, digest(GW), "never-written", entry, etag=None)

    assert store.open_incident(GW).id == "alive"
    first = store.prune(now=T0 + DAY, retention=RETENTION)  # notes it missing
    assert first.index_entries == 0 and backend.get(OPEN_INCIDENTS, digest(GW), "never-written")
    soon = store.prune(now=T0 + DAY + timedelta(hours=12), retention=RETENTION)  # within the grace
    assert soon.index_entries == 0 and backend.get(OPEN_INCIDENTS, digest(GW), "never-written")
    later = store.prune(now=T0 + 3 * DAY, retention=RETENTION)  # still missing a day later
    assert later.index_entries == 1
    assert backend.get(OPEN_INCIDENTS, digest(GW), "never-written") is None
    assert store.open_incident(GW).id == "alive"


def test_an_entry_noted_missing_is_kept_once_its_incident_is_written(
    store: StateStore, backend: RecordBackend
) -> None:
    slow = _incident("slow", T0)
    backend.replace(
        OPEN_INCIDENTS, digest(GW), "slow", {"gatewayId": GW, "openedAt": T0.isoformat()}, etag=None
    )
    store.prune(now=T0, retention=RETENTION)  # between the creator's two writes
    backend.insert(INCIDENTS, digest(GW), "slow", slow.to_dict())  # the creator's second write
    assert store.prune(now=T0 + 3 * DAY, retention=RETENTION).index_entries == 0
    assert store.open_incident(GW).id == "slow"


def test_incidents_written_before_the_index_existed_are_found_and_indexed(
    store: StateStore, backend: RecordBackend
) -> None:
    for incident in (
        _incident("old-closed", T0, IncidentStatus.CLOSED),
        _incident("old-open", T0 + DAY),
        _incident("older-open", T0 - DAY, IncidentStatus.DIAGNOSING),
    ):
        backend.insert(INCIDENTS, digest(GW), incident.id, incident.to_dict())  # no index entries
    assert store.open_incident(GW).id == "old-open"
    assert backend.get(OPEN_INCIDENTS, digest(GW), "old-open") is not None
    assert backend.get(OPEN_INCIDENTS, digest(GW), "old-closed") is None
    assert store.open_incident(GW).id == "old-open"


def test_saving_a_closed_incident_as_open_again_indexes_it(store: StateStore) -> None:
    closed = _closed(store, "i", T0, T0 + DAY)
    assert store.open_incident(GW) is None
    store.save_incident(replace(closed, status=IncidentStatus.OPEN, closed_at=None, close_reason=None))
    assert store.open_incident(GW).id == "i"


# --- prune ---


def _history(store: StateStore, now: datetime) -> None:
    """Old and recent, closed and open incidents with alerts and diagnoses, relative to `now`."""
    old = now - RETENTION - 10 * DAY
    _closed(store, "old-closed", old - DAY, old)
    _alert(store, "old-closed", "a1", old - DAY)
    _alert(store, "old-closed", "a2", old - DAY)
    _closed(store, "recent-closed", now - 11 * DAY, now - 10 * DAY)
    _alert(store, "recent-closed", "a3", now - 11 * DAY)
    store.create_incident(_incident("old-open", old - 50 * DAY))
    _alert(store, "old-open", "a4", old - 50 * DAY)
    store.record_diagnosis(_diagnosis("d-old-open", old - 50 * DAY, "old-open"))
    store.record_diagnosis(_diagnosis("d-old-closed", old - DAY, "old-closed"))
    store.record_diagnosis(_diagnosis("d-old-sweep", old))
    store.record_diagnosis(_diagnosis("d-recent", now - 11 * DAY, "recent-closed"))


def test_prune_removes_exactly_the_closed_incidents_and_diagnoses_older_than_the_retention(
    store: StateStore,
) -> None:
    now = T0 + 200 * DAY
    _history(store, now)
    counts = _prune_until_complete(store, now)

    assert (counts.incidents, counts.incident_alerts, counts.diagnoses) == (1, 2, 2)
    assert [i.id for i in store.list_incidents(GW)] == ["old-open", "recent-closed"]
    assert store.get_incident(GW, "old-closed") is None
    assert store.incident_alerts("old-closed") == []
    assert [a["alertId"] for a in store.incident_alerts("recent-closed")] == ["a3"]
    assert [a["alertId"] for a in store.incident_alerts("old-open")] == ["a4"]
    assert [d.id for d in store.list_diagnoses(GW)] == ["d-old-open", "d-recent"]
    assert store.open_incident(GW).id == "old-open"
    again = _prune_until_complete(store, now)
    assert (again.incidents, again.incident_alerts, again.diagnoses, again.index_entries) == (0, 0, 0, 0)


def test_prune_keeps_the_last_diagnosis_however_old(store: StateStore) -> None:
    now = T0 + 400 * DAY
    store.record_diagnosis(_diagnosis("d1", T0))
    store.record_diagnosis(_diagnosis("d2", T0 + DAY))
    assert _prune_until_complete(store, now).diagnoses == 1
    assert [d.id for d in store.list_diagnoses(GW)] == ["d2"]
    assert store.last_diagnosis(GW).id == "d2"


def test_prune_removes_settled_deliveries_and_dead_claims_but_keeps_live_claims(store: StateStore) -> None:
    now = T0 + 200 * DAY
    store.claim_delivery("settled-long-ago", holder="w", now=T0, ttl=TTL)
    store.settle_delivery("settled-long-ago", holder="w", outcome="diagnosed")
    store.claim_delivery("dead-claim", holder="dead", now=T0, ttl=TTL)  # expired long ago
    # the first pass notes when it saw each settled delivery; none is older than that yet
    assert _prune_until_complete(store, now).deliveries == 1
    assert store.delivery("dead-claim") is None
    assert store.delivery("settled-long-ago")["outcome"] == "diagnosed"
    assert not store.claim_delivery("settled-long-ago", holder="x", now=now, ttl=TTL)  # still a duplicate

    later = now + RETENTION + DAY
    store.claim_delivery("settled-lately", holder="w", now=later - DAY, ttl=TTL)
    store.settle_delivery("settled-lately", holder="w", outcome="duplicate")
    store.claim_delivery("live-claim", holder="busy", now=later, ttl=TTL)
    store.claim_delivery("just-expired", holder="dead", now=later - DAY, ttl=TTL)
    assert _prune_until_complete(store, later).deliveries == 1
    assert store.delivery("settled-long-ago") is None
    assert store.delivery("settled-lately")["outcome"] == "duplicate"
    assert store.delivery("live-claim")["holder"] == "busy"
    assert store.delivery("just-expired") is not None
    assert not store.claim_delivery("live-claim", holder="other", now=later, ttl=TTL)


def test_prune_is_bounded_per_run_and_goes_on_where_it_stopped(store: StateStore) -> None:
    now = T0 + 200 * DAY
    for n in range(7):
        _closed(store, f"old{n}", T0, T0 + DAY)
    for n in range(5):
        _closed(store, f"new{n}", now - DAY, now)

    runs = []
    for _ in range(10):
        counts = store.prune(now=now, retention=RETENTION, limit=4, page=2)
        runs.append(counts)
        if counts.complete:
            break
    assert all(run.examined <= 4 * 4 for run in runs)  # 4 tables, at most 4 records each
    assert all(run.incidents <= 4 for run in runs)
    assert len(runs) > 1 and runs[-1].complete
    assert sum(run.incidents for run in runs) == 7
    assert sorted(i.id for i in store.list_incidents(GW)) == [f"new{n}" for n in range(5)]


def test_a_prune_that_died_after_deleting_an_incident_is_finished_by_the_next(
    store: StateStore, backend: RecordBackend
) -> None:
    incident = _closed(store, "gone", T0, T0 + DAY)
    _alert(store, "gone", "a1", T0)
    # what prune writes before deleting an incident, then the delete; then it dies
    backend.replace(MAINTENANCE, "prunedincident", "gone", {"gatewayId": GW, "incidentId": "gone"}, etag=None)
    backend.delete(INCIDENTS, digest(GW), "gone", etag=incident.etag)
    assert store.incident_alerts("gone") != []

    assert store.prune(now=T0 + 2 * DAY, retention=RETENTION).incident_alerts == 1
    assert store.incident_alerts("gone") == []
    assert backend.query(MAINTENANCE, "prunedincident") == []


class WorkerWritesFirst(CountingBackend):
    """A worker rewrites each record just before prune's (conditional) delete of it lands."""

    def delete(self, table: str, partition: str, row: str, *, etag: str | None) -> None:
        if etag is not None and table in (INCIDENTS, DELIVERIES):
            record = self.inner.get(table, partition, row)
            if record is not None:
                self.inner.replace(table, partition, row, record.data, etag=None)
        self.inner.delete(table, partition, row, etag=etag)


def test_a_record_written_after_prune_read_it_is_kept(backend: RecordBackend) -> None:
    store = StateStore(WorkerWritesFirst(backend))  # type: ignore[arg-type]  # duck-typed RecordBackend
    _closed(store, "old", T0, T0 + DAY)
    store.claim_delivery("dead", holder="w", now=T0, ttl=TTL)
    counts = store.prune(now=T0 + 200 * DAY, retention=RETENTION)
    assert (counts.incidents, counts.deliveries) == (0, 0)
    assert store.get_incident(GW, "old") is not None
    assert store.delivery("dead") is not None


def test_concurrent_prunes_and_workers_leave_exactly_what_is_kept(store: StateStore) -> None:
    now = T0 + 200 * DAY
    for n in range(12):
        _closed(store, f"old{n}", T0, T0 + DAY)
        _alert(store, f"old{n}", f"k{n}", T0)

    def work(i: int) -> None:
        if i % 2:
            store.prune(now=now, retention=RETENTION, limit=5, page=2)
        else:
            store.create_incident(_incident(f"live{i}", now))
            store.open_incident(GW)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(12)))
    _prune_until_complete(store, now)
    assert sorted(i.id for i in store.list_incidents(GW)) == sorted(f"live{i}" for i in range(0, 12, 2))
    assert all(store.incident_alerts(f"old{n}") == [] for n in range(12))
    assert store.open_incident(GW).status is IncidentStatus.OPEN
