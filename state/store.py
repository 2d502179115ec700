"""StateStore: dedupe claims, per-gateway leases, incidents, diagnosis records, written once over any
RecordBackend (Table Storage or SQLite) so both backends behave the same and share one test suite.

Keys: ARM ids and alert ids contain characters Table Storage forbids in keys ('/', '#', '?'), so
partition and row keys are SHA-256 digests of the lower-cased value; the value itself is in the data.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from state.backend import Record, RecordBackend, RecordChanged, RecordExists, StateError
from state.model import CloseReason, DiagnosisRecord, Incident, IncidentStatus, Lease

LEASES = "leases"
DELIVERIES = "deliveries"
INCIDENTS = "incidents"
INCIDENT_ALERTS = "incidentalerts"
DIAGNOSES = "diagnoses"
LAST_DIAGNOSIS = "lastdiagnosis"
WATCHES = "watches"
# Per gateway, a row per incident that may be open (not known to be closed), keyed by incident id, and
# a marker row once the gateway's older incidents were indexed: open_incident reads this partition,
# not the gateway's whole history. A hint, verified against the incident and repaired when stale.
OPEN_INCIDENTS = "openincidents"
MAINTENANCE = "maintenance"  # prune: where each table's pass stands, and prunes to finish after a crash
THROTTLES = "throttles"  # per subscription: ARM throttled us until then (fleet-wide backoff of the sweep)
TABLES = (
    LEASES, DELIVERIES, INCIDENTS, INCIDENT_ALERTS, DIAGNOSES, LAST_DIAGNOSIS, WATCHES, OPEN_INCIDENTS,
    MAINTENANCE, THROTTLES,
)  # fmt: skip

_ONE = "0"  # row key of single-row partitions
_INDEXED = "~indexed"  # OPEN_INCIDENTS row: the gateway's incidents from before the index are indexed
_CURSORS, _PRUNED_INCIDENTS = "cursor", "prunedincident"  # MAINTENANCE partitions
_ORPHAN_GRACE = timedelta(days=1)
PRUNE_LIMIT = 1000  # records read per table per prune run
PRUNE_PAGE = 100  # records per read (an incident with its report can be ~100 kB)
MAX_RECORD_CHARS = 450_000  # compact JSON; what a Table Storage entity holds (state.tables: 15 x 30,000)


def digest(value: str) -> str:
    return hashlib.sha256(value.lower().encode()).hexdigest()


class StateStore:
    def __init__(self, backend: RecordBackend) -> None:
        self._backend = backend

    def close(self) -> None:
        self._backend.close()

    # --- leases: one worker per gateway at a time ---

    def acquire_lease(self, gateway_id: str, *, holder: str, now: datetime, ttl: timedelta) -> Lease | None:
        """The gateway's lease for `holder`, or None while someone else's is unexpired. An expired lease
        (its worker died) is taken over with an ETag-conditional write, so two takers cannot both win."""
        return self._acquire(LEASES, gateway_id, holder=holder, now=now, ttl=ttl)

    def current_lease(self, gateway_id: str, *, now: datetime) -> Lease | None:
        record = self._backend.get(LEASES, digest(gateway_id), _ONE)
        if record is None:
            return None
        lease = _lease(gateway_id, record)
        return lease if lease.expires_at > now else None

    def renew_lease(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease | None:
        """Extend our lease (ETag-conditional); None when it was taken over, i.e. no longer ours."""
        data = {"key": lease.key, "holder": lease.holder, "expiresAt": (now + ttl).isoformat()}
        try:
            etag = self._backend.replace(LEASES, digest(lease.key), _ONE, data, etag=lease.etag)
        except RecordChanged:
            return None
        return replace(lease, expires_at=now + ttl, etag=etag)

    def release_lease(self, lease: Lease) -> None:
        """Give the lease back; if it expired and someone else took it, leave theirs alone."""
        try:
            self._backend.delete(LEASES, digest(lease.key), _ONE, etag=lease.etag)
        except RecordChanged:
            pass

    # --- slots: at most N holders of a pool at a time, fleet-wide (the sweep's concurrency cap) ---

    def acquire_slot(
        self, pool: str, *, slots: int, holder: str, now: datetime, ttl: timedelta
    ) -> Lease | None:
        """One of the `slots` leases of `pool` (tried from a random one), or None while all are held.
        Released with `release_lease`; a dead holder's slot frees itself when its lease expires."""
        first = random.randrange(slots)
        for number in range(slots):
            key = f"slot|{pool}|{(first + number) % slots}"
            lease = self._acquire(LEASES, key, holder=holder, now=now, ttl=ttl)
            if lease is not None:
                return lease
        return None

    # --- throttling: ARM answered 429 with Retry-After, per subscription ---

    def note_throttle(self, subscription: str, until: datetime) -> datetime:
        """Record that ARM throttles `subscription` until `until` (only ever extended: a later time
        already recorded stays). Returns the time recorded."""
        partition = digest(subscription)
        for _ in range(5):
            current = self._backend.get(THROTTLES, partition, _ONE)
            recorded = datetime.fromisoformat(current.data["until"]) if current else None
            if recorded is not None and recorded >= until:
                return recorded
            data = {"subscription": subscription.lower(), "until": _utc(until)}
            try:
                if current is None:
                    self._backend.insert(THROTTLES, partition, _ONE, data)
                else:
                    self._backend.replace(THROTTLES, partition, _ONE, data, etag=current.etag)
                return until
            except (RecordExists, RecordChanged):
                continue  # another worker recorded meanwhile: compare with theirs
        return self.throttled_until(subscription) or until

    def throttled_until(self, subscription: str) -> datetime | None:
        """Until when ARM throttles `subscription`, as last recorded (may be in the past)."""
        record = self._backend.get(THROTTLES, digest(subscription), _ONE)
        return datetime.fromisoformat(record.data["until"]) if record else None

    # --- deliveries: each alert/event/sweep item is processed once ---

    def claim_delivery(self, key: str, *, holder: str, now: datetime, ttl: timedelta) -> bool:
        """True when this delivery is new (or its previous worker died mid-way and the claim expired);
        False when it was already processed or is being processed."""
        return self._acquire(DELIVERIES, key, holder=holder, now=now, ttl=ttl) is not None

    def settle_delivery(
        self,
        key: str,
        *,
        holder: str,
        outcome: str,
        incident_id: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Mark the delivery processed for good: later deliveries of it are duplicates (until it is
        pruned, `STATE_RETENTION_DAYS` after `now`)."""
        data = {
            "key": key,
            "holder": holder,
            "expiresAt": None,
            "outcome": outcome,
            "incidentId": incident_id,
            "settledAt": _utc(now) if now is not None else None,
        }
        self._backend.replace(DELIVERIES, digest(key), _ONE, data, etag=None)

    def abandon_delivery(self, key: str, *, holder: str) -> None:
        """Processing failed: drop our claim so a redelivery is processed instead of ignored."""
        record = self._backend.get(DELIVERIES, digest(key), _ONE)
        if record is not None and record.data.get("holder") == holder and record.data.get("expiresAt"):
            try:
                self._backend.delete(DELIVERIES, digest(key), _ONE, etag=record.etag)
            except RecordChanged:
                pass

    def note_delivery(self, key: str, *, holder: str, incident_id: str) -> None:
        """Record on our claim which incident the delivery is working on, so whoever takes the claim
        over after a crash can finish what that incident still owes. Nothing when the claim is gone."""
        record = self._backend.get(DELIVERIES, digest(key), _ONE)
        if record is None or record.data.get("holder") != holder or not record.data.get("expiresAt"):
            return
        try:
            self._backend.replace(
                DELIVERIES, digest(key), _ONE, {**record.data, "incidentId": incident_id}, etag=record.etag
            )
        except RecordChanged:
            pass  # taken over meanwhile: the new holder finds the incident itself

    def delivery(self, key: str) -> dict[str, Any] | None:
        """What became of a delivery: `outcome` and `incidentId` once settled."""
        record = self._backend.get(DELIVERIES, digest(key), _ONE)
        return record.data if record else None

    def _acquire(self, table: str, key: str, *, holder: str, now: datetime, ttl: timedelta) -> Lease | None:
        data = {"key": key, "holder": holder, "expiresAt": (now + ttl).isoformat()}
        partition = digest(key)
        try:
            etag = self._backend.insert(table, partition, _ONE, data)
            return Lease(key=key, holder=holder, expires_at=now + ttl, etag=etag)
        except RecordExists:
            pass
        current = self._backend.get(table, partition, _ONE)
        if current is not None:
            expires = current.data.get("expiresAt")
            if expires is None or datetime.fromisoformat(expires) > now:
                return None  # settled for good, or held and unexpired
        try:
            if current is None:
                etag = self._backend.insert(table, partition, _ONE, data)
            else:
                etag = self._backend.replace(table, partition, _ONE, data, etag=current.etag)
        except (RecordExists, RecordChanged):
            return None  # another worker won the race
        return Lease(key=key, holder=holder, expires_at=now + ttl, etag=etag)

    # --- incidents ---

    def create_incident(self, incident: Incident) -> Incident:
        """Store a new incident; the returned copy carries the ETag later saves are conditional on.
        Indexed first: a worker dying in between leaves an index entry without an incident (skipped,
        and pruned), never an open incident open_incident cannot find."""
        data = _fitting(incident.to_dict())
        if incident.status != IncidentStatus.CLOSED:
            self._index(incident)
        etag = self._backend.insert(INCIDENTS, digest(incident.gateway_id), incident.id, data)
        return replace(incident, etag=etag)

    def save_incident(self, incident: Incident) -> Incident:
        """Write the incident. With its `etag` (as read or last written) only if nobody changed it since
        (else RecordChanged); without, unconditionally. Returns it with the new ETag.

        Then its open-incidents index entry: removed once it is closed (a worker dying before that
        leaves a stale entry, which open_incident repairs); rewritten while it is not, which also
        undoes an open_incident repair that raced with this save."""
        data = _fitting(incident.to_dict())
        etag = self._backend.replace(
            INCIDENTS, digest(incident.gateway_id), incident.id, data, etag=incident.etag
        )
        if incident.status == IncidentStatus.CLOSED:
            self._backend.delete(OPEN_INCIDENTS, digest(incident.gateway_id), incident.id, etag=None)
        else:
            self._index(incident)
        return replace(incident, etag=etag)

    def get_incident(self, gateway_id: str, incident_id: str) -> Incident | None:
        record = self._backend.get(INCIDENTS, digest(gateway_id), incident_id)
        return Incident.from_dict(record.data, record.etag) if record else None

    def open_incident(self, gateway_id: str) -> Incident | None:
        """The gateway's newest incident that is not closed. Reads the gateway's open-incidents index
        (a few rows, however long its history) and the incidents it names, newest first; an entry
        whose incident is closed is stale (its closer died before removing it) and is removed."""
        partition = digest(gateway_id)
        entries = self._backend.query(OPEN_INCIDENTS, partition)
        if not any(entry.row == _INDEXED for entry in entries):
            self._index_history(gateway_id)
            entries = self._backend.query(OPEN_INCIDENTS, partition)
        entries = [entry for entry in entries if entry.row != _INDEXED]
        for entry in sorted(entries, key=lambda e: (e.data["openedAt"], e.row), reverse=True):
            incident = self.get_incident(gateway_id, entry.row)
            if incident is None:
                continue  # its creator is about to write it, or died first: prune removes the entry
            if incident.status != IncidentStatus.CLOSED:
                return incident
            try:  # conditional: a save that reopened it meanwhile rewrote the entry
                self._backend.delete(OPEN_INCIDENTS, partition, entry.row, etag=entry.etag)
            except RecordChanged:
                pass
        return None

    def _index(self, incident: Incident) -> None:
        entry = {"gatewayId": incident.gateway_id, "openedAt": _utc(incident.opened_at)}
        self._backend.replace(OPEN_INCIDENTS, digest(incident.gateway_id), incident.id, entry, etag=None)

    def _index_history(self, gateway_id: str) -> None:
        """Once per gateway (state written before the index existed): index its incidents that are not
        closed, then mark the gateway indexed. Incidents created meanwhile index themselves."""
        for incident in self.list_incidents(gateway_id):
            if incident.status != IncidentStatus.CLOSED:
                self._index(incident)
        try:
            self._backend.insert(OPEN_INCIDENTS, digest(gateway_id), _INDEXED, {"gatewayId": gateway_id})
        except RecordExists:
            pass

    def list_incidents(self, gateway_id: str | None = None) -> list[Incident]:
        partition = digest(gateway_id) if gateway_id else None
        incidents = [Incident.from_dict(r.data, r.etag) for r in self._backend.query(INCIDENTS, partition)]
        return sorted(incidents, key=lambda i: i.opened_at)

    def close_incident(
        self, incident: Incident, *, now: datetime, reason: CloseReason = CloseReason.RESOLVED
    ) -> Incident:
        """Close it, saying why (conditional on its ETag like save_incident)."""
        closed = replace(
            incident, status=IncidentStatus.CLOSED, closed_at=now, updated_at=now, close_reason=reason.value
        )
        return self.save_incident(closed)

    def attach_alert(self, incident_id: str, *, key: str, alert: dict[str, Any], at: datetime) -> None:
        """Record that an alert belongs to the incident (idempotent per alert key)."""
        data = {"key": key, "alert": alert, "at": at.isoformat()}
        try:
            self._backend.insert(INCIDENT_ALERTS, incident_id, digest(key), data)
        except RecordExists:
            pass

    def copy_alerts(self, source_id: str, target_id: str) -> None:
        """Attach every alert of one incident to another, keeping when each arrived."""
        for record in self._backend.query(INCIDENT_ALERTS, source_id):
            self.attach_alert(
                target_id,
                key=record.data["key"],
                alert=record.data["alert"],
                at=datetime.fromisoformat(record.data["at"]),
            )

    def incident_alerts(self, incident_id: str) -> list[dict[str, Any]]:
        records = sorted(self._backend.query(INCIDENT_ALERTS, incident_id), key=lambda r: r.data["at"])
        return [r.data["alert"] for r in records]

    # --- diagnoses ---

    def record_diagnosis(self, record: DiagnosisRecord) -> None:
        """Append to the gateway's diagnosis log, make it the last diagnosis, and index the resources it
        depends on (dropping the previous diagnosis' resources that are no longer used)."""
        previous = self.last_diagnosis(record.gateway_id)
        data = _fitting(record.to_dict())
        self._backend.insert(DIAGNOSES, digest(record.gateway_id), _diagnosis_row(record), data)
        self._backend.replace(LAST_DIAGNOSIS, digest(record.gateway_id), _ONE, data, etag=None)
        watch = {"gatewayId": record.gateway_id}
        for resource in record.watched_resources:
            self._backend.replace(
                WATCHES,
                digest(resource),
                digest(record.gateway_id),
                {**watch, "resourceId": resource},
                etag=None,
            )
        current = {r.lower() for r in record.watched_resources}
        for resource in previous.watched_resources if previous else []:
            if resource.lower() not in current:
                self._backend.delete(WATCHES, digest(resource), digest(record.gateway_id), etag=None)

    def update_diagnosis(self, record: DiagnosisRecord) -> None:
        """Rewrite a recorded diagnosis (e.g. with the notify stage's result); the gateway's last
        diagnosis too, unless a newer one replaced it meanwhile."""
        data = _fitting(record.to_dict())
        self._backend.replace(DIAGNOSES, digest(record.gateway_id), _diagnosis_row(record), data, etag=None)
        last = self._backend.get(LAST_DIAGNOSIS, digest(record.gateway_id), _ONE)
        if last is not None and last.data.get("id") == record.id:
            try:
                self._backend.replace(LAST_DIAGNOSIS, digest(record.gateway_id), _ONE, data, etag=last.etag)
            except RecordChanged:
                pass  # a newer diagnosis became the last one

    def last_diagnosis(self, gateway_id: str) -> DiagnosisRecord | None:
        record = self._backend.get(LAST_DIAGNOSIS, digest(gateway_id), _ONE)
        return DiagnosisRecord.from_dict(record.data) if record else None

    def list_diagnoses(self, gateway_id: str | None = None) -> list[DiagnosisRecord]:
        partition = digest(gateway_id) if gateway_id else None
        records = [DiagnosisRecord.from_dict(r.data) for r in self._backend.query(DIAGNOSES, partition)]
        return sorted(records, key=lambda r: r.started_at)

    def gateways_watching(self, resource_id: str) -> list[str]:
        """Gateways whose last diagnosis depends on this subnet, NSG or route table."""
        return sorted(r.data["gatewayId"] for r in self._backend.query(WATCHES, digest(resource_id)))

    # --- retention ---

    def prune(
        self, *, now: datetime, retention: timedelta, limit: int = PRUNE_LIMIT, page: int = PRUNE_PAGE
    ) -> PruneCounts:
        """Delete what is older than `retention`: closed incidents (by when they closed) with their
        attached alerts, diagnoses (by when they started), settled deliveries and claims that expired
        that long ago. Kept: incidents not closed and their diagnoses, each gateway's last diagnosis,
        unexpired leases and claims.

        Bounded: each run reads at most `limit` records of each table, `page` at a time, from where
        the previous run stopped (the cursors are stored), so successive runs go round each table.
        Safe beside workers and other prunes: every delete is conditional on the ETag read, so a record
        written meanwhile is kept, and the alerts of an incident are deleted after it, from a note
        written before it, so a prune dying in between leaves nothing unreachable behind.

        A settled delivery does not say when it was settled: the first pass that finds it notes the
        time (`settledBy`), and a later pass deletes it once that is older than `retention`."""
        cutoff = now - retention
        counts = PruneCounts()
        counts.incident_alerts += self._finish_pruned_incidents()
        last_ids: dict[str, str | None] = {}  # per gateway, read once per run
        open_ids: dict[tuple[str, str], bool] = {}  # (gateway, incident id) -> not closed
        visits: dict[str, Callable[[Record], None]] = {
            INCIDENTS: lambda r: self._prune_incident(r, cutoff, counts),
            DIAGNOSES: lambda r: self._prune_diagnosis(r, cutoff, counts, last_ids, open_ids),
            DELIVERIES: lambda r: self._prune_delivery(r, cutoff, now, counts),
            OPEN_INCIDENTS: lambda r: self._prune_index_entry(r, now, counts),
        }
        counts.complete = True
        for table, visit in visits.items():
            counts.complete &= self._pass(table, visit, counts, limit=limit, page=page)
        return counts

    def _pass(
        self, table: str, visit: Callable[[Record], None], counts: PruneCounts, *, limit: int, page: int
    ) -> bool:
        """Visit up to `limit` records of `table` from the stored cursor; store where it stopped. True
        when the pass reached the table's end (the next one starts over)."""
        state = self._backend.get(MAINTENANCE, _CURSORS, table)
        cursor = state.data.get("cursor") if state else None
        read, reached_end = 0, False
        for _ in range(max(1, limit // page) * 2):  # pages may come back short, or empty
            records, cursor = self._backend.scan(table, cursor=cursor, limit=min(page, limit - read))
            for record in records:
                visit(record)
            read += len(records)
            counts.examined += len(records)
            if cursor is None:
                reached_end = True
                break
            if read >= limit:
                break
        try:  # a concurrent prune may have moved it already: either position is fine
            if state is None:
                self._backend.insert(MAINTENANCE, _CURSORS, table, {"cursor": cursor})
            else:
                self._backend.replace(MAINTENANCE, _CURSORS, table, {"cursor": cursor}, etag=state.etag)
        except (RecordExists, RecordChanged):
            pass
        return reached_end

    def _prune_incident(self, record: Record, cutoff: datetime, counts: PruneCounts) -> None:
        data = record.data
        closed_at = data.get("closedAt")
        if data.get("status") != IncidentStatus.CLOSED.value or not closed_at:
            return
        if datetime.fromisoformat(closed_at) >= cutoff:
            return
        incident_id = data["id"]
        note = {"gatewayId": data["gatewayId"], "incidentId": incident_id}
        self._backend.replace(MAINTENANCE, _PRUNED_INCIDENTS, incident_id, note, etag=None)
        try:
            self._backend.delete(INCIDENTS, record.partition, record.row, etag=record.etag)
        except RecordChanged:  # written meanwhile: judged again next time round
            self._backend.delete(MAINTENANCE, _PRUNED_INCIDENTS, incident_id, etag=None)
            return
        counts.incidents += 1
        counts.incident_alerts += self._drop_incident_rest(data["gatewayId"], incident_id)

    def _drop_incident_rest(self, gateway_id: str, incident_id: str) -> int:
        """After its incident is deleted: its alerts, a stale index entry, then the note."""
        alerts = self._backend.query(INCIDENT_ALERTS, incident_id)
        for alert in alerts:
            self._backend.delete(INCIDENT_ALERTS, incident_id, alert.row, etag=None)
        self._backend.delete(OPEN_INCIDENTS, digest(gateway_id), incident_id, etag=None)
        self._backend.delete(MAINTENANCE, _PRUNED_INCIDENTS, incident_id, etag=None)
        return len(alerts)

    def _finish_pruned_incidents(self) -> int:
        """Finish prunes that died between deleting an incident and deleting its alerts. (A note whose
        incident still exists died before the delete: dropped, the incident is judged again.)"""
        deleted = 0
        for note in self._backend.query(MAINTENANCE, _PRUNED_INCIDENTS):
            gateway_id, incident_id = note.data["gatewayId"], note.data["incidentId"]
            if self.get_incident(gateway_id, incident_id) is None:
                deleted += self._drop_incident_rest(gateway_id, incident_id)
            else:
                try:
                    self._backend.delete(MAINTENANCE, _PRUNED_INCIDENTS, incident_id, etag=note.etag)
                except RecordChanged:  # a concurrent prune is at this incident right now: it finishes it
                    pass
        return deleted

    def _prune_diagnosis(
        self,
        record: Record,
        cutoff: datetime,
        counts: PruneCounts,
        last_ids: dict[str, str | None],
        open_ids: dict[tuple[str, str], bool],
    ) -> None:
        data = record.data
        if datetime.fromisoformat(data["startedAt"]) >= cutoff:
            return
        gateway_id = data["gatewayId"]
        if gateway_id.lower() not in last_ids:
            last = self._backend.get(LAST_DIAGNOSIS, digest(gateway_id), _ONE)
            last_ids[gateway_id.lower()] = last.data.get("id") if last else None
        if last_ids[gateway_id.lower()] == data["id"]:
            return  # the gateway's last diagnosis: what the next one is compared with
        incident_id = data.get("incidentId")
        if incident_id:
            key = (gateway_id.lower(), incident_id)
            if key not in open_ids:
                incident = self._backend.get(INCIDENTS, digest(gateway_id), incident_id)
                open_ids[key] = (
                    incident is not None and incident.data.get("status") != IncidentStatus.CLOSED.value
                )
            if open_ids[key]:
                return  # the diagnosis of an incident still open
        try:
            self._backend.delete(DIAGNOSES, record.partition, record.row, etag=record.etag)
        except RecordChanged:
            return
        counts.diagnoses += 1

    def _prune_delivery(self, record: Record, cutoff: datetime, now: datetime, counts: PruneCounts) -> None:
        data = record.data
        expires = data.get("expiresAt")
        if expires is not None:  # a claim: kept until it expired `retention` ago (its worker died)
            old = datetime.fromisoformat(expires) < cutoff
        elif data.get("settledAt"):
            old = datetime.fromisoformat(data["settledAt"]) < cutoff
        else:  # settled before deliveries carried their time: aged from the first prune that saw it
            old = self._stamped_before(DELIVERIES, record, "settledBy", now, cutoff)
        if not old:
            return
        try:
            self._backend.delete(DELIVERIES, record.partition, record.row, etag=record.etag)
        except RecordChanged:
            return
        counts.deliveries += 1

    def _stamped_before(
        self, table: str, record: Record, stamp: str, now: datetime, cutoff: datetime
    ) -> bool:
        """Whether the record's `stamp` time is before `cutoff`. A record without one is stamped `now`
        (conditional on its ETag) and is not old yet: what a later prune run ages it from."""
        when = record.data.get(stamp)
        if when is not None:
            return datetime.fromisoformat(when) < cutoff
        try:
            self._backend.replace(
                table, record.partition, record.row, {**record.data, stamp: _utc(now)}, etag=record.etag
            )
        except RecordChanged:
            pass
        return False

    def _prune_index_entry(self, record: Record, now: datetime, counts: PruneCounts) -> None:
        """Index entries whose incident is closed (stale), or missing for a day (its creator died
        before writing it): noted missing on one pass, deleted on a later one if still missing."""
        if record.row == _INDEXED:
            return
        incident = self._backend.get(INCIDENTS, record.partition, record.row)
        if incident is not None and incident.data.get("status") != IncidentStatus.CLOSED.value:
            return
        if incident is None and not self._stamped_before(
            OPEN_INCIDENTS, record, "missingSince", now, now - _ORPHAN_GRACE
        ):
            return
        try:
            self._backend.delete(OPEN_INCIDENTS, record.partition, record.row, etag=record.etag)
        except RecordChanged:
            return
        counts.index_entries += 1


@dataclass
class PruneCounts:
    """What one prune run deleted, how many records it read, and whether it went round every table."""

    incidents: int = 0
    incident_alerts: int = 0
    diagnoses: int = 0
    deliveries: int = 0
    index_entries: int = 0  # stale open-incident index entries
    examined: int = 0
    complete: bool = False  # each table's pass reached its end (the next run starts over)

    def to_dict(self) -> dict[str, int | bool]:
        return dict(self.__dict__)


def new_id() -> str:
    return uuid.uuid4().hex


def _diagnosis_row(record: DiagnosisRecord) -> str:
    return f"{record.started_at.strftime('%Y%m%dT%H%M%S%f')}-{record.id}"


def _fitting(data: dict[str, Any]) -> dict[str, Any]:
    """The same size limit on every backend, checked before anything is written."""
    length = len(json.dumps(data, separators=(",", ":")))
    if length > MAX_RECORD_CHARS:
        raise StateError(f"record of {length} characters exceeds the {MAX_RECORD_CHARS} a record may hold")
    return data


def _utc(moment: datetime) -> str:
    """ISO 8601 in UTC (so stored times compare as text too); a naive time as given."""
    return moment.astimezone(timezone.utc).isoformat() if moment.tzinfo else moment.isoformat()


def _lease(key: str, record: Record) -> Lease:
    return Lease(
        key=key,
        holder=record.data["holder"],
        expires_at=datetime.fromisoformat(record.data["expiresAt"]),
        etag=record.etag,
    )
