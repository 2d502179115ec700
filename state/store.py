"""StateStore: dedupe claims, per-gateway leases, incidents, diagnosis records, written once over any
RecordBackend (Table Storage or SQLite) so both backends behave the same and share one test suite.

Keys: ARM ids and alert ids contain characters Table Storage forbids in keys ('/', '#', '?'), so
partition and row keys are SHA-256 digests of the lower-cased value; the value itself is in the data.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
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
TABLES = (LEASES, DELIVERIES, INCIDENTS, INCIDENT_ALERTS, DIAGNOSES, LAST_DIAGNOSIS, WATCHES)

_ONE = "0"  # row key of single-row partitions
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

    # --- deliveries: each alert/event/sweep item is processed once ---

    def claim_delivery(self, key: str, *, holder: str, now: datetime, ttl: timedelta) -> bool:
        """True when this delivery is new (or its previous worker died mid-way and the claim expired);
        False when it was already processed or is being processed."""
        return self._acquire(DELIVERIES, key, holder=holder, now=now, ttl=ttl) is not None

    def settle_delivery(self, key: str, *, holder: str, outcome: str, incident_id: str | None = None) -> None:
        """Mark the delivery processed for good: later deliveries of it are duplicates."""
        data = {
            "key": key,
            "holder": holder,
            "expiresAt": None,
            "outcome": outcome,
            "incidentId": incident_id,
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
        """Store a new incident; the returned copy carries the ETag later saves are conditional on."""
        data = _fitting(incident.to_dict())
        etag = self._backend.insert(INCIDENTS, digest(incident.gateway_id), incident.id, data)
        return replace(incident, etag=etag)

    def save_incident(self, incident: Incident) -> Incident:
        """Write the incident. With its `etag` (as read or last written) only if nobody changed it since
        (else RecordChanged); without, unconditionally. Returns it with the new ETag."""
        data = _fitting(incident.to_dict())
        etag = self._backend.replace(
            INCIDENTS, digest(incident.gateway_id), incident.id, data, etag=incident.etag
        )
        return replace(incident, etag=etag)

    def get_incident(self, gateway_id: str, incident_id: str) -> Incident | None:
        record = self._backend.get(INCIDENTS, digest(gateway_id), incident_id)
        return Incident.from_dict(record.data, record.etag) if record else None

    def open_incident(self, gateway_id: str) -> Incident | None:
        """The gateway's newest incident that is not closed."""
        candidates = [i for i in self.list_incidents(gateway_id) if i.status != IncidentStatus.CLOSED]
        return max(candidates, key=lambda i: i.opened_at, default=None)

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


def _lease(key: str, record: Record) -> Lease:
    return Lease(
        key=key,
        holder=record.data["holder"],
        expires_at=datetime.fromisoformat(record.data["expiresAt"]),
        etag=record.etag,
    )
