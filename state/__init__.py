"""Pipeline state: dedupe claims, per-gateway leases, incidents and the last diagnosis per gateway,
and remediation's ledger (audit trail, cooldowns, change budget, intents, approvals).

One `StateStore` holds the logic; a backend only stores records with ETag-conditional writes:
Azure Table Storage in the Functions app (`state.tables`), embedded SQLite for the CLI (`state.sqlite`).
`RemediationLedger` is written over the same backends (`RemediationLedger.for_store(store)`).
"""

from state.model import CloseReason, DiagnosisRecord, Incident, IncidentStatus, Lease
from state.remediation import RemediationLedger
from state.store import StateStore

__all__ = [
    "CloseReason",
    "DiagnosisRecord",
    "Incident",
    "IncidentStatus",
    "Lease",
    "RemediationLedger",
    "StateStore",
]
