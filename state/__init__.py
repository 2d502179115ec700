"""Pipeline state: dedupe claims, per-gateway leases, incidents and the last diagnosis per gateway.

One `StateStore` holds the logic; a backend only stores records with ETag-conditional writes:
Azure Table Storage in the Functions app (`state.tables`), embedded SQLite for the CLI (`state.sqlite`).
"""

from state.model import CloseReason, DiagnosisRecord, Incident, IncidentStatus, Lease
from state.store import StateStore

__all__ = ["CloseReason", "DiagnosisRecord", "Incident", "IncidentStatus", "Lease", "StateStore"]
