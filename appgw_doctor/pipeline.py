"""The one pipeline every trigger and the CLI use:
intake -> dedupe -> diagnose -> remediate -> notify -> record.

Triggers turn what arrives into WorkItems (intake: `alert_items`, `change_items`, `sweep_items`);
`process(item)` runs the rest for one gateway:

- dedupe: each delivery (alert id + condition + gateway, Event Grid event id, sweep item) is claimed
  once; a repeat is acknowledged as a duplicate without a second diagnosis.
- one worker per gateway: a Fired alert takes the gateway's lease (its holder is the new incident)
  or joins the incident in progress, or the open one while it is live (last diagnosed within the
  join window); an older open incident is closed as expired and a new one opened. The lease is
  renewed between stages (ETag-conditional) and incident saves are conditional, so a worker whose
  lease was taken over stops before it reports. Different gateways proceed in parallel.
- `Resolved` marks its alert resolved on the incident it belongs to; the incident closes when every
  alert attached to it has resolved. A Resolved processed before its Fired is remembered (its
  delivery is recorded): that Fired is diagnosed and reported, and its incident closed at once.
- a failed diagnosis closes its incident (reason `diagnosis-failed`), so the next alert diagnoses again.
- a change event or sweep diagnoses preventively and reports only findings that are new since the
  gateway's last diagnosis.
- the sweep is paced (its items are never the ones that wait: alerts and changes go straight on):
  its items are spread over the hour (`sweep_items(spread=...)` gives each a `not_before`); a sweep
  item waits, or is deferred (outcome `deferred` with `retry_at`: the caller queues it again for
  then), while its subscription is throttled by ARM — a 429 seen by any worker (`ThrottleWatch`,
  recorded in the state store for the other instances) — and while every one of the fleet-wide
  sweep slots (`sweep_slots`) is taken. A sweep item of a gateway whose path resources' etags are
  unchanged and whose servers are all healthy since its last full diagnosis skips the full
  collection and records "unchanged since diagnosis X" (outcome `unchanged`; `appgw_doctor.incremental`).
- record before notify: the diagnosis and the incident are saved (bounded in size) before anything
  is sent, and updated with the notify result after; a redelivery after a failure past that point
  joins the saved incident (or finds the change covered) instead of notifying again.
- notify exactly once, even across crashes: the message an incident owes is in its outbox (pending,
  then each channel as it is delivered, then done). Whoever next works on the incident — the
  redelivery of the dead worker's message, a later alert joining, its Resolved — first sends what is
  still pending, to the channels not yet delivered. A delivery whose claim another worker holds is
  waited for: it settles (a duplicate) or, its worker dead, expires and is taken over; nothing waits
  much longer than one lease.

Remediate and notify are pluggable stages: `Stage = Callable[[Report], StageResult]`; they see the
report so far (findings, incident id) and must not raise (an exception is recorded as a stage error).
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, overload

from appgw_doctor.incremental import fingerprint_of, light_read
from appgw_doctor.throttle import ThrottleWatch
from core.arm_ids import subscription_of
from core.azure_clients import AzureClients
from core.iso8601 import format_time
from core.sdk_values import json_fields, json_properties
from diagnostics.diagnosis import Diagnosis
from diagnostics.diagnosis import diagnose as diagnose_gateway
from diagnostics.snapshot import ref_id
from intake.alerts import FIRED, RESOLVED, Alert, acceptable_gateway_id, check_alert
from intake.errors import IntakeError
from intake.events import ResourceChange, check_change
from intake.text import is_clean_text
from state import CloseReason, DiagnosisRecord, Incident, IncidentStatus, Lease, StateStore
from state.backend import RecordChanged
from state.bounds import bounded_checks, bounded_findings, bounded_keys
from state.last_healthy import LastHealthyStore
from state.model import DONE, PENDING, finding_key
from state.remediation import RemediationLedger
from state.store import new_id

log = logging.getLogger("appgw_doctor.pipeline")

ALERT, CHANGE, SWEEP = "alert", "change", "sweep"
_INCIDENT_HOLDER = "incident:"
_CHECK_HOLDER = "check:"
_RESOLVE_HOLDER = "resolve:"
_FINISH_HOLDER = "finish:"  # sending what a dead worker's incident still owes
_POLL_SECONDS = 0.1  # how often work waiting for a claim or a lease looks again
_WAIT_LEASES = 3  # a live holder renews its lease between stages; give up after this many lease terms
_SLOT_POLL_SECONDS = 0.2  # how often a sweep item waiting for a sweep slot looks again
MAX_RECORDED_CHANGES = 100  # the newest changes on the path an incident's record keeps
INCIDENT_MESSAGE, RESOLUTION_MESSAGE = "incident", "resolution"  # the kinds of message an incident owes


class Outcome(str, Enum):
    DIAGNOSED = "diagnosed"
    DUPLICATE = "duplicate"  # this delivery was already processed (or is being processed)
    JOINED = "joined"  # another alert's incident for the gateway is in progress or open
    CLOSED = "closed"  # Resolved: the last firing alert of the incident resolved; it is closed
    ALERT_RESOLVED = "alert-resolved"  # Resolved: this alert resolved; others of its incident still fire
    NOT_ATTACHED = "not-attached"  # Resolved for an alert that is not part of the open incident
    NO_OPEN_INCIDENT = "no-open-incident"  # Resolved, but nothing was open
    SUPERSEDED = "superseded"  # the gateway's lease was taken over mid-way; stopped before reporting
    COVERED = "covered"  # change: a diagnosis started after the change already saw it
    FAILED = "failed"  # the diagnosis could not run (see the diagnose stage)
    UNCHANGED = "unchanged"  # sweep: path resources' etags unchanged, all servers healthy: not re-collected
    DEFERRED = "deferred"  # sweep: not started (ARM throttling, sweep slots busy); queue it again at retry_at


@dataclass(frozen=True)
class StageResult:
    name: str
    status: str  # "ok" | "skipped" | "error"
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class WorkItem:
    """One gateway to look at, and why. Travels as a queue message (`to_message`/`from_message`)."""

    kind: str  # ALERT | CHANGE | SWEEP
    gateway_id: str
    alert: Alert | None = None
    change: ResourceChange | None = None
    sweep_id: str | None = None
    not_before: datetime | None = None  # a sweep item's slot in the sweep's spread (UTC)

    @property
    def dedupe_key(self) -> str:
        if self.alert is not None:
            return self.alert.dedupe_key
        if self.change is not None:
            return f"{self.change.dedupe_key}|{self.gateway_id.lower()}"
        return f"sweep|{self.sweep_id}|{self.gateway_id.lower()}"

    def to_message(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "gatewayId": self.gateway_id,
                "alert": self.alert.to_dict() if self.alert else None,
                "change": self.change.to_dict() if self.change else None,
                "sweepId": self.sweep_id,
                **({"notBefore": self.not_before.isoformat()} if self.not_before else {}),
            }
        )

    @classmethod
    def from_message(cls, text: str) -> WorkItem:
        """ValueError when the message is not one we wrote, or carries what intake would refuse."""
        try:
            data = json.loads(text)
            item = cls(
                kind=data["kind"],
                gateway_id=data["gatewayId"],
                alert=Alert.from_dict(data["alert"]) if data.get("alert") else None,
                change=ResourceChange.from_dict(data["change"]) if data.get("change") else None,
                sweep_id=data.get("sweepId"),
                not_before=_aware_time(data.get("notBefore")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a work item message: {error}") from None
        if item.kind not in (ALERT, CHANGE, SWEEP) or not (
            isinstance(item.gateway_id, str) and acceptable_gateway_id(item.gateway_id)
        ):
            raise ValueError("not a work item message: bad kind or gateway id")
        if (item.kind == ALERT) != (item.alert is not None) or (item.kind == CHANGE) != (
            item.change is not None
        ):
            raise ValueError("not a work item message: kind does not match its payload")
        if item.sweep_id is not None and not is_clean_text(item.sweep_id, max_length=128):
            raise ValueError("not a work item message: bad sweep id")
        try:  # the rules intake applied: a message that would fail later for its shape fails here, once
            if item.alert is not None:
                check_alert(item.alert)
            if item.change is not None:
                check_change(item.change)
        except IntakeError as error:
            raise ValueError(f"not a work item message: {error.message}") from None
        return item


@dataclass
class Report:
    """What happened to one work item: the incident report the CLI prints and notifiers render."""

    item: WorkItem
    outcome: Outcome | None = None
    incident_id: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)  # everything the diagnosis found
    reported: list[dict[str, Any]] = field(default_factory=list)  # what to tell people (new ones for checks)
    checks: list[dict[str, Any]] = field(default_factory=list)
    stages: list[StageResult] = field(default_factory=list)
    gateway_tags: dict[str, str] = field(default_factory=dict)  # per-gateway routing of notifications
    diagnosis_id: str | None = None  # the DiagnosisRecord, set before the notify stage runs
    diagnosis: Diagnosis | None = field(default=None, repr=False)  # for in-process callers; not recorded
    # For the notify stage: channels an earlier attempt already delivered this message to (skip them),
    # and where to record each channel as it is delivered. Not recorded.
    delivered: frozenset[str] = field(default=frozenset(), repr=False)
    on_delivered: Callable[[str], None] | None = field(default=None, repr=False)
    retry_at: datetime | None = None  # DEFERRED: when to process the item again
    remediation: dict[str, Any] | None = None  # the remediate stage's RemediationResult.to_dict()
    changes: list[dict[str, Any]] = field(default_factory=list)  # every change on the path, newest first

    def to_dict(self) -> dict[str, Any]:
        """Every finding once; what was reported, as their keys [code, resource]."""
        return {
            "outcome": self.outcome.value if self.outcome else None,
            "incidentId": self.incident_id,
            "diagnosisId": self.diagnosis_id,
            "trigger": self.item.kind,
            "gatewayId": self.item.gateway_id,
            "alert": self.item.alert.to_dict() if self.item.alert else None,
            "change": self.item.change.to_dict() if self.item.change else None,
            "findings": self.findings,
            "reportedKeys": [list(finding_key(f)) for f in self.reported],
            "checks": self.checks,
            "stages": [stage.to_dict() for stage in self.stages],
            "gatewayTags": self.gateway_tags,
            "remediation": self.remediation,
            "changes": self.changes,
            **({"retryAt": self.retry_at.isoformat()} if self.retry_at else {}),
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Report:
        """The report `to_record` saved (for sending what a dead worker left pending)."""
        kind = data.get("trigger") or ALERT
        item = WorkItem(
            kind=kind,
            gateway_id=data["gatewayId"],
            alert=Alert.from_dict(data["alert"]) if data.get("alert") else None,
            change=ResourceChange.from_dict(data["change"]) if data.get("change") else None,
            sweep_id=None,  # only an alert's incident owes messages; its dedupe key needs no sweep id
        )
        findings = list(data.get("findings") or [])
        reported_keys = {tuple(key) for key in data.get("reportedKeys") or []}
        return cls(
            item=item,
            outcome=Outcome(data["outcome"]) if data.get("outcome") else None,
            incident_id=data.get("incidentId"),
            diagnosis_id=data.get("diagnosisId"),
            findings=findings,
            reported=[f for f in findings if finding_key(f) in reported_keys],
            checks=list(data.get("checks") or []),
            stages=[StageResult(**stage) for stage in data.get("stages") or []],
            gateway_tags=dict(data.get("gatewayTags") or {}),
            remediation=data.get("remediation"),
            changes=list(data.get("changes") or []),
        )

    def to_record(self) -> dict[str, Any]:
        """to_dict bounded to fit a state record: the most severe findings within a budget, the rest
        counted (`findingsOmitted`, `truncated`)."""
        findings, omitted = bounded_findings(self.findings)
        reported = bounded_keys([finding_key(f) for f in self.reported])
        return {
            **self.to_dict(),
            "findings": findings,
            "findingsOmitted": omitted,
            "truncated": omitted > 0 or len(reported) < len(self.reported),
            "reportedKeys": [list(key) for key in reported],
            "checks": bounded_checks(self.checks),
            "changes": self.changes[:MAX_RECORDED_CHANGES],
        }


Stage = Callable[[Report], StageResult]
ClientsFor = Callable[[str], AzureClients]
Diagnose = Callable[..., Diagnosis]  # diagnostics.diagnosis.diagnose's signature


def no_remediation(report: Report) -> StageResult:
    return StageResult("remediate", "skipped", "no remediation configured")


def no_notification(report: Report) -> StageResult:
    return StageResult("notify", "skipped", "no notifier configured")


class Pipeline:
    def __init__(
        self,
        *,
        store: StateStore,
        clients_for: ClientsFor,
        diagnose: Diagnose = diagnose_gateway,
        remediate: Stage = no_remediation,
        notify: Stage = no_notification,
        allowed_subscriptions: Iterable[str] | None = None,
        dns_servers: Mapping[str, tuple[str, int]] | None = None,
        resolve_dns: bool | None = None,
        lease_ttl: timedelta = timedelta(minutes=10),
        join_window: timedelta = timedelta(hours=6),
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        progress: Callable[[str], None] | None = None,
        wait_for_claims: bool = True,
        throttle: ThrottleWatch | None = None,
        sweep_slots: int | None = None,
        sweep_full_every: timedelta | None = None,
        sweep_wait: timedelta = timedelta(seconds=20),
        defer_jitter: timedelta = timedelta(seconds=30),
        on_incident_closed: Callable[[str, str, str], object] | None = None,
        change_lookback: timedelta | None = None,
    ) -> None:
        """`progress` hears each step as it completes ("claimed", "diagnosed", "recorded",
        "delivered <key>", "notified", "closed"): progress lines, and the crash tests' kill points.
        Without `wait_for_claims` (a person at the CLI), a delivery another worker holds is answered as
        a duplicate at once instead of waited for.

        The sweep's pacing: `throttle` is the SDK clients' ThrottleWatch (429s seen in this process);
        `sweep_slots` caps the sweep items worked on at once fleet-wide (None: no cap);
        `sweep_full_every` turns the incremental sweep on, with a full diagnosis at least that often
        (None: every sweep item diagnoses in full). A sweep item waits up to `sweep_wait` for its
        turn, else is deferred to when it may go (plus up to `defer_jitter`, so deferred items do not
        all come back at once)."""
        self.store = store
        self._clients_for = clients_for
        self._diagnose = diagnose
        self._remediate = remediate
        self._notify = notify
        self._allowed = None if allowed_subscriptions is None else {s.lower() for s in allowed_subscriptions}
        self._dns_servers = dns_servers
        self._resolve_dns = resolve_dns
        self._lease_ttl = lease_ttl
        self._join_window = join_window
        self._clock = clock
        self._progress = progress or (lambda step: None)
        self._wait_for_claims = wait_for_claims
        self._throttle = throttle
        if throttle is not None:
            throttle.listen(self._record_throttles)
        self._sweep_slots = sweep_slots
        self._sweep_full_every = sweep_full_every
        self._sweep_wait = sweep_wait
        self._defer_jitter = defer_jitter
        self._on_incident_closed = on_incident_closed
        self._change_lookback = change_lookback  # CHANGE_LOOKBACK_HOURS (None: diagnose's default)

    # --- intake: what each trigger hands over ---

    @staticmethod
    def alert_items(alerts: Iterable[Alert]) -> list[WorkItem]:
        return [WorkItem(kind=ALERT, gateway_id=alert.gateway_id, alert=alert) for alert in alerts]

    def change_items(self, change: ResourceChange, *, limit: int | None = None) -> list[WorkItem]:
        """The gateways a change may affect: the gateway written, or the gateways whose last diagnosis
        depends on the written subnet, NSG or route table. At most `limit` (MAX_EVENT_TARGETS), the
        first by id; the rest are left to the sweep, with a warning saying how many."""
        gateways = (
            [change.resource_id]
            if change.is_gateway_write
            else self.store.gateways_watching(change.resource_id)
        )
        unique: dict[str, str] = {}  # once each (ids compare case-insensitively), ordered by id
        for gateway in gateways:
            if acceptable_gateway_id(gateway) and (
                self._allowed is None or subscription_of(gateway) in self._allowed
            ):
                unique.setdefault(gateway.lower(), gateway)
        chosen = [unique[key] for key in sorted(unique)]
        if limit is not None and len(chosen) > limit:
            log.warning(
                "change %s of %s affects %d gateways; checking the first %d (MAX_EVENT_TARGETS), "
                "leaving %d to the next sweep",
                change.event_id,
                change.resource_id,
                len(chosen),
                limit,
                len(chosen) - limit,
            )
            chosen = chosen[:limit]
        return [WorkItem(kind=CHANGE, gateway_id=gateway, change=change) for gateway in chosen]

    def sweep_items(
        self, subscriptions: Iterable[str], *, limit: int | None = None, spread: timedelta | None = None
    ) -> list[WorkItem]:
        """One item per gateway in the subscriptions; a subscription that cannot be listed is logged
        and skipped so the others are still swept. At most `limit` (MAX_SWEEP_GATEWAYS): the gateways,
        ordered by id, are taken in turn, each sweep starting where the one an hour earlier stopped, so
        consecutive hourly sweeps cover them all; a warning says how many this one left out.

        With `spread` (SWEEP_SPREAD_MINUTES), item i of n gets `not_before` = now + i/n of it, the
        subscriptions taking turns, so each subscription's gateways (and ARM reads: ARM's limits are
        per subscription) are spread evenly over it too."""
        sweep_id = new_id()
        listed: list[str | None] = []
        for subscription in subscriptions:
            try:
                listed += [
                    gw.id for gw in self._clients_for(subscription).network.application_gateways.list_all()
                ]
            except Exception as error:  # one subscription's failure must not stop the sweep
                log.warning("sweep could not list gateways of subscription %s: %s", subscription, error)
                continue
        unique = {gw.lower(): gw for gw in reversed(listed) if gw and acceptable_gateway_id(gw)}
        chosen = [unique[key] for key in sorted(unique)]  # once each, ordered by id
        if limit is not None and len(chosen) > limit:
            start = int(self._clock().timestamp() // 3600) * limit % len(chosen)  # this hour's turn
            left_out = len(chosen) - limit
            chosen = (chosen[start:] + chosen[:start])[:limit]
            log.warning(
                "sweep %s found %d gateways; queued %d (MAX_SWEEP_GATEWAYS), left out %d for the next sweeps",
                sweep_id,
                len(chosen) + left_out,
                limit,
                left_out,
            )
        if not spread or not chosen:
            return [WorkItem(kind=SWEEP, gateway_id=gw, sweep_id=sweep_id) for gw in chosen]
        by_subscription: dict[str, list[str]] = {}
        for gateway in chosen:
            by_subscription.setdefault(subscription_of(gateway), []).append(gateway)
        turns = [gw for round_ in itertools.zip_longest(*by_subscription.values()) for gw in round_ if gw]
        first, step = self._clock(), spread / len(turns)
        return [
            WorkItem(kind=SWEEP, gateway_id=gw, sweep_id=sweep_id, not_before=first + step * number)
            for number, gw in enumerate(turns)
        ]

    # --- the rest of the pipeline, per item ---

    def process(self, item: WorkItem) -> Report:
        if item.kind != SWEEP:
            try:
                return self._process(item)
            finally:
                self._record_throttles()
        deferred, slot = self._admit(item)
        if deferred is not None:
            _log_outcome(deferred)
            return deferred
        try:
            return self._process(item)
        finally:
            if slot is not None:
                self.store.release_lease(slot)
            self._record_throttles()

    def _admit(self, item: WorkItem) -> tuple[Report | None, Lease | None]:
        """A sweep item's turn: (None, its sweep slot or None without a cap) once its `not_before` has
        come, its subscription is not throttled and a slot is free; else, after waiting up to
        `sweep_wait`, (a DEFERRED report naming when to try again, None)."""
        subscription = subscription_of(item.gateway_id)
        give_up = time.monotonic() + self._sweep_wait.total_seconds()
        while True:
            now = self._clock()
            later = [when for when in (item.not_before, self._throttled_until(subscription)) if when]
            until = max(later) if later and max(later) > now else None
            if until is None and self._sweep_slots:
                slot = self.store.acquire_slot(
                    "sweep", slots=self._sweep_slots, holder=new_id(), now=now, ttl=self._lease_ttl
                )
                if slot is not None:
                    return None, slot
                why, retry_at = f"all {self._sweep_slots} sweep slots are busy", now + self._jitter()
            elif until is None:
                return None, None
            elif item.not_before is not None and until == item.not_before:
                why, retry_at = "its turn in the sweep's spread has not come", until
            else:
                why, retry_at = f"ARM throttles subscription {subscription}", until + self._jitter()
            left = give_up - time.monotonic()
            if left <= 0 or (until is not None and (until - now).total_seconds() > left):
                report = Report(item=item, outcome=Outcome.DEFERRED, retry_at=retry_at)
                report.stages.append(
                    StageResult("diagnose", "skipped", f"deferred to {format_time(retry_at)}: {why}")
                )
                return report, None
            pause = (until - now).total_seconds() if until is not None else _SLOT_POLL_SECONDS
            time.sleep(max(0.01, min(left, pause)))

    def _jitter(self) -> timedelta:
        return self._defer_jitter * random.random()

    def _throttled_until(self, subscription: str) -> datetime | None:
        """The later of the 429s this process saw and the ones recorded fleet-wide."""
        times = [self._throttle.until(subscription) if self._throttle else None,
                 self.store.throttled_until(subscription)]  # fmt: skip
        known = [t for t in times if t is not None]
        return max(known) if known else None

    def _record_throttles(self) -> None:
        """Record the 429s this process saw in the state store, for every instance's sweep items. A
        failure is logged, not raised: the work itself is done."""
        if self._throttle is None:
            return
        for subscription, until in self._throttle.unsaved().items():
            try:
                self.store.note_throttle(subscription, until)
            except Exception:
                log.exception("could not record that ARM throttles subscription %s", subscription)
                return
            self._throttle.saved(subscription, until)

    def _process(self, item: WorkItem) -> Report:
        run_id = new_id()
        report = Report(item=item)
        settled, dead_claim = self._claim(item.dedupe_key, run_id)
        left_behind = (dead_claim or {}).get("incidentId")
        if settled is not None:
            report.outcome = Outcome.DUPLICATE
            report.incident_id = settled.get("incidentId")
            if report.incident_id:  # e.g. joined an incident whose worker then died: finish its messages
                self._finish_left(item.gateway_id, report.incident_id)
            report.stages.append(StageResult("dedupe", "ok", "duplicate delivery; acknowledged"))
            _log_outcome(report)
            return report
        self._progress("claimed")
        report.stages.append(StageResult("dedupe", "ok", "new delivery"))
        try:
            finished = self._finish_left(item.gateway_id, left_behind) if left_behind else None
            if finished is not None:  # the dead worker's incident is done now: this delivery with it
                report.outcome, report.incident_id = finished
                report.stages.append(
                    StageResult("notify", "ok", f"sent what incident {report.incident_id} still owed")
                )
            elif item.kind == ALERT:
                self._alert(report, run_id, redelivered=dead_claim is not None)
            else:
                self._check(report)
            assert report.outcome is not None
            self.store.settle_delivery(
                item.dedupe_key,
                holder=run_id,
                outcome=report.outcome.value,
                incident_id=report.incident_id,
                now=self._clock(),
            )
        except BaseException:
            # let a redelivery retry; what it finds recorded (open incident, last diagnosis) keeps it
            # from notifying again
            self.store.abandon_delivery(item.dedupe_key, holder=run_id)
            raise
        _log_outcome(report)
        return report

    def _claim(self, key: str, holder: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Claim the delivery: (None, the expired claim of a dead worker we took over, if any) once it
        is ours, or (its record, None) when it was settled: a duplicate. A claim another worker holds
        is waited for until it settles or, its worker dead, expires and is taken over."""
        give_up = time.monotonic() + self._lease_ttl.total_seconds() * _WAIT_LEASES
        while True:
            previous = self.store.delivery(key)
            if previous is not None and not previous.get("expiresAt"):
                return previous, None
            if self.store.claim_delivery(key, holder=holder, now=self._clock(), ttl=self._lease_ttl):
                return None, previous
            if not self._wait_for_claims:
                return self.store.delivery(key) or {}, None
            if time.monotonic() > give_up:
                raise TimeoutError(f"delivery {key} stayed claimed by another worker")
            time.sleep(_POLL_SECONDS)

    def _finish_left(self, gateway: str, incident_id: str) -> tuple[Outcome, str] | None:
        """Under the gateway's lease, send what the incident still owes (its worker died). Returns the
        outcome of the work finished, None when nothing was owed."""
        incident = self.store.get_incident(gateway, incident_id)
        if incident is None or not incident.pending():
            return None
        lease = self._wait_for_lease(gateway, _FINISH_HOLDER + new_id())
        try:
            incident = self.store.get_incident(gateway, incident_id)
            if incident is None or not incident.pending():
                return None  # someone finished it while we waited
            owed = incident.pending()
            self._send_owed(incident)
        finally:
            self.store.release_lease(lease)
        return (Outcome.CLOSED if RESOLUTION_MESSAGE in owed else Outcome.JOINED), incident_id

    def _send_owed(self, incident: Incident) -> Incident:
        """Send the messages the incident's outbox still owes, skipping channels already delivered."""
        writer = _IncidentWriter(self.store, incident, self._progress)
        for kind in incident.pending():
            entry = writer.incident.outbox[kind]
            saved = Report.from_record(writer.incident.report or {"gatewayId": incident.gateway_id})
            if kind == RESOLUTION_MESSAGE:
                report = Report(
                    item=WorkItem(kind=ALERT, gateway_id=incident.gateway_id,
                                  alert=Alert.from_dict(entry["alert"])),
                    outcome=Outcome.CLOSED, incident_id=incident.id, findings=saved.findings,
                    gateway_tags=saved.gateway_tags,
                )  # fmt: skip
            else:
                report = saved
            log.info("incident %s of %s: sending the %s message its worker left pending", incident.id,
                     incident.gateway_id, kind, extra=_fields(report))  # fmt: skip
            report.delivered = frozenset(entry.get("sent") or [])
            report.on_delivered = writer.delivered(kind)
            result = self._run_stage("notify", self._notify, report)
            writer.done(kind, result)
        self._progress("notified")
        return writer.incident

    def _alert(self, report: Report, run_id: str, *, redelivered: bool) -> None:
        """A Fired alert. It joins an incident still being diagnosed at once (unless it is that
        incident's own alert, redelivered after its worker died: then it waits to take over); any other
        incident of the gateway is looked at under the gateway's lease, sending first what it still owes."""
        alert, gateway = report.item.alert, report.item.gateway_id
        assert alert is not None
        if alert.resolved:
            self._resolve(report, run_id)
            return
        incident_id = new_id()
        lease = self._wait_for_lease(gateway, _INCIDENT_HOLDER + incident_id, join=not redelivered)
        if isinstance(lease, str):
            self._join(report, lease, "in progress")
            return
        guard = _LeaseGuard(self.store, lease, ttl=self._lease_ttl, clock=self._clock)
        try:
            now = self._clock()
            existing = self.store.open_incident(gateway)
            if existing is not None and existing.status == IncidentStatus.OPEN:
                if existing.pending():  # its worker died before every channel heard of it
                    existing = self._send_owed(existing)
                if self._live(existing, alert, now):
                    self._join(report, existing.id, "open")
                    return
                self.store.close_incident(existing, now=now, reason=CloseReason.EXPIRED)
                log.info("incident %s of %s expired; a new one is opened", existing.id, gateway)
            incident = self.store.create_incident(
                Incident(id=incident_id, gateway_id=gateway, status=IncidentStatus.DIAGNOSING,
                         opened_at=now, updated_at=now, alert_time=alert.incident_time)
            )  # fmt: skip
            if existing is not None and existing.status == IncidentStatus.DIAGNOSING:
                self._supersede(existing, incident_id)  # its worker died mid-diagnosis: take over its alerts
            self.store.note_delivery(report.item.dedupe_key, holder=run_id, incident_id=incident_id)
            resolved_already = self._attach(incident_id, alert, now)
            report.incident_id = incident_id
            self._diagnose_and_act(
                report,
                guard,
                incident=incident,
                incident_time=alert.incident_time,
                window_size=alert.window_size,
                only_new=False,
                close=CloseReason.RESOLVED_BEFORE_FIRED if resolved_already else None,
            )
        finally:
            self.store.release_lease(guard.lease)

    def _live(self, incident: Incident, alert: Alert, now: datetime) -> bool:
        """Whether a Fired alert may join the open incident: it was diagnosed within the join window,
        and the alert fired within the join window of the alert that opened it. An older one was
        left open by a lost (or early) Resolved and must not swallow new outages."""
        if now - incident.updated_at > self._join_window:
            return False
        fired = alert.incident_time
        return (
            fired is None or incident.alert_time is None or fired - incident.alert_time <= self._join_window
        )

    def _attach(self, incident_id: str, alert: Alert, now: datetime) -> bool:
        """Attach a Fired alert to the incident. When its Resolved delivery was processed (or is being
        processed) before it, attach that too, so it counts as resolved; True then."""
        self.store.attach_alert(incident_id, key=alert.dedupe_key, alert=alert.to_dict(), at=now)
        if self.store.delivery(alert.delivery_key(RESOLVED)) is None:
            return False
        resolved = replace(alert, monitor_condition=RESOLVED)
        self.store.attach_alert(incident_id, key=resolved.dedupe_key, alert=resolved.to_dict(), at=now)
        return True

    @overload
    def _wait_for_lease(self, gateway: str, holder: str) -> Lease: ...
    @overload
    def _wait_for_lease(self, gateway: str, holder: str, *, join: bool) -> Lease | str: ...
    def _wait_for_lease(self, gateway: str, holder: str, *, join: bool = False) -> Lease | str:
        """Our lease on the gateway; or, with `join`, the id of the incident being diagnosed under it
        (not yet recorded: once it is, its message is under way and we wait to see it sent). Another
        holder finishes its work (a live worker, within seconds) or, dead, lets its lease expire, which
        we then take over; so we wait, at most a few lease terms (a live holder renews between
        stages), then TimeoutError lets the queue retry later."""
        give_up = time.monotonic() + self._lease_ttl.total_seconds() * _WAIT_LEASES
        while True:
            lease = self.store.acquire_lease(gateway, holder=holder, now=self._clock(), ttl=self._lease_ttl)
            if lease is not None:
                return lease
            current = self.store.current_lease(gateway, now=self._clock()) if join else None
            if current is not None and current.holder.startswith(_INCIDENT_HOLDER):
                running = current.holder.removeprefix(_INCIDENT_HOLDER)
                incident = self.store.get_incident(gateway, running)
                if incident is None or incident.status is IncidentStatus.DIAGNOSING:
                    return running
            if time.monotonic() > give_up:
                raise TimeoutError(f"gateway {gateway} stayed busy for {_WAIT_LEASES} lease terms")
            time.sleep(_POLL_SECONDS)

    def _join(self, report: Report, incident_id: str, state: str) -> None:
        alert = report.item.alert
        assert alert is not None
        self._attach(incident_id, alert, self._clock())
        report.outcome = Outcome.JOINED
        report.incident_id = incident_id
        report.stages.append(StageResult("diagnose", "skipped", f"joined incident {incident_id} ({state})"))

    def _supersede(self, stale: Incident, incident_id: str) -> None:
        self.store.copy_alerts(stale.id, incident_id)
        self.store.close_incident(
            replace(stale, report={"supersededBy": incident_id, "reason": "diagnosis did not finish"}),
            now=self._clock(),
            reason=CloseReason.SUPERSEDED,
        )

    def _resolve(self, report: Report, run_id: str) -> None:
        """Mark the alert resolved on the open incident it is attached to; close the incident when no
        alert of it still fires. Under the gateway's lease, so a diagnosis still in progress finishes
        first and cannot reopen what this closes."""
        alert, gateway = report.item.alert, report.item.gateway_id
        assert alert is not None
        lease = self._wait_for_lease(gateway, _RESOLVE_HOLDER + new_id())
        try:
            incident = self.store.open_incident(gateway)
            if incident is not None and incident.pending():  # the incident's own message goes first
                incident = self._send_owed(incident)
            if incident is None:
                report.outcome = Outcome.NO_OPEN_INCIDENT
                report.stages.append(StageResult("diagnose", "skipped", "resolved; no open incident"))
                return
            attached = self.store.incident_alerts(incident.id)
            firing, resolved = _alert_ids(attached, FIRED), _alert_ids(attached, RESOLVED)
            this = alert.alert_id.lower()
            if this not in firing:
                report.outcome = Outcome.NOT_ATTACHED
                report.stages.append(StageResult(
                    "diagnose", "skipped",
                    f"resolved; the alert is not part of open incident {incident.id}, which stays open",
                ))  # fmt: skip
                return
            now = self._clock()
            self.store.attach_alert(incident.id, key=alert.dedupe_key, alert=alert.to_dict(), at=now)
            report.incident_id = incident.id
            still_firing = firing - resolved - {this}
            if still_firing:
                report.outcome = Outcome.ALERT_RESOLVED
                report.stages.append(StageResult(
                    "diagnose", "skipped",
                    f"resolved; {len(still_firing)} other alert(s) of incident {incident.id} still firing",
                ))  # fmt: skip
                return
            self.store.note_delivery(report.item.dedupe_key, holder=run_id, incident_id=incident.id)
            owed = {"state": PENDING, "sent": [], "alert": alert.to_dict()}
            closed = self.store.close_incident(
                replace(incident, outbox={**incident.outbox, RESOLUTION_MESSAGE: owed}),
                now=now,
                reason=CloseReason.RESOLVED,
            )
            self._incident_closed(gateway, closed.id, "its incident resolved")
        finally:
            self.store.release_lease(lease)
        self._progress("closed")
        report.outcome = Outcome.CLOSED
        report.findings = list((closed.report or {}).get("findings") or [])
        report.gateway_tags = dict((closed.report or {}).get("gatewayTags") or {})
        report.stages.append(StageResult("diagnose", "skipped", f"resolved; closed incident {closed.id}"))
        writer = _IncidentWriter(self.store, closed, self._progress)
        report.on_delivered = writer.delivered(RESOLUTION_MESSAGE)
        notified = self._run_stage("notify", self._notify, report)
        report.stages.append(notified)
        self._progress("notified")
        resolution = {"alert": alert.to_dict(), "stages": [stage.to_dict() for stage in report.stages]}
        report.stages.append(StageResult("record", "ok", "resolution recorded on the incident"))
        self._finish_record(
            report, writer, RESOLUTION_MESSAGE, notified,
            incident_report={**(closed.report or {}), "resolution": resolution},
        )  # fmt: skip

    def _incident_closed(self, gateway: str, incident_id: str, why: str) -> None:
        """Tell remediation an incident closed (its pending approvals are cancelled); never raises."""
        if self._on_incident_closed is None:
            return
        try:
            self._on_incident_closed(gateway, incident_id, why)
        except Exception:
            log.exception("could not cancel the approvals of closed incident %s", incident_id)

    def _check(self, report: Report) -> None:
        """Preventive diagnosis after a change, or during a sweep. Runs under the gateway's lease
        (waiting for a diagnosis in progress), and is skipped when a diagnosis that started after
        the change has already seen it."""
        item = report.item
        lease = self._wait_for_lease(item.gateway_id, _CHECK_HOLDER + new_id())
        guard = _LeaseGuard(self.store, lease, ttl=self._lease_ttl, clock=self._clock)
        try:
            change_time = item.change.event_time if item.change else None
            last = self.store.last_diagnosis(item.gateway_id)
            if change_time is not None and last is not None and last.started_at >= change_time:
                report.outcome = Outcome.COVERED
                report.stages.append(
                    StageResult("diagnose", "skipped", f"diagnosis {last.id} ran after the change")
                )
                return
            if item.kind == SWEEP and last is not None and self._unchanged(report, guard, last):
                return
            self._diagnose_and_act(
                report, guard, incident=None, incident_time=None, window_size=None, only_new=True
            )
        finally:
            self.store.release_lease(guard.lease)

    def _unchanged(self, report: Report, guard: _LeaseGuard, last: DiagnosisRecord) -> bool:
        """The incremental sweep: True when the light read found the gateway as its last full diagnosis
        saw it and the result is recorded (or the lease was lost meanwhile); False: diagnose in full."""
        fingerprint = last.fingerprint
        gateway = report.item.gateway_id
        if self._sweep_full_every is None or not fingerprint or not fingerprint.get("allHealthy"):
            return False
        started = self._clock()
        try:
            full_at = _aware_time(fingerprint.get("fullAt"))
        except (TypeError, ValueError):
            full_at = None
        if full_at is None or started - full_at >= self._sweep_full_every:
            log.info("sweep of %s: full diagnosis (the last one is due for renewal)", gateway,
                     extra=_fields(report))  # fmt: skip
            return False
        read = light_read(gateway, fingerprint, clients=self._clients_for(subscription_of(gateway)))
        if not read.unchanged:
            log.info("sweep of %s: full diagnosis, %s (light read: %d requests)", gateway, read.reason,
                     read.requests, extra=_fields(report))  # fmt: skip
            return False
        if not guard.renew():
            self._stop(report)
            return True
        base = str(fingerprint.get("fullId") or last.id)
        report.outcome = Outcome.UNCHANGED
        report.findings = list(last.findings)
        report.checks = list(last.checks)
        report.stages.append(StageResult("diagnose", "skipped", f"unchanged since diagnosis {base}: "
                                         f"{read.reason} ({read.requests} ARM requests)"))  # fmt: skip
        report.stages.append(StageResult("notify", "skipped", "no new findings since the last diagnosis"))
        record = DiagnosisRecord(
            id=new_id(),
            gateway_id=gateway,
            trigger=report.item.kind,
            started_at=started,
            finished_at=self._clock(),
            findings=last.findings,
            checks=last.checks,
            watched_resources=last.watched_resources,
            keys=last.keys,
            findings_omitted=last.findings_omitted,
            fingerprint=fingerprint,
            unchanged_since=base,
        )
        report.diagnosis_id = record.id
        report.stages.append(StageResult("record", "ok", f"diagnosis {record.id} (unchanged since {base})"))
        self.store.record_diagnosis(replace(record, stages=[s.to_dict() for s in report.stages]))
        self._progress("recorded")
        return True

    def _diagnose_and_act(
        self,
        report: Report,
        guard: _LeaseGuard,
        *,
        incident: Incident | None,
        incident_time: datetime | None,
        window_size: timedelta | None,
        only_new: bool,
        close: CloseReason | None = None,
    ) -> None:
        """Diagnose, remediate, record, notify, then record the notify result. The lease is renewed
        before each stage that acts; if it was taken over, stop before reporting (fail safe)."""
        gateway = report.item.gateway_id
        started = self._clock()
        previous = self.store.last_diagnosis(gateway) if only_new else None
        try:
            diagnosis = self._diagnose(
                gateway,
                clients=self._clients_for(subscription_of(gateway)),
                incident_time=incident_time,
                window_size=window_size,
                dns_servers=self._dns_servers,
                resolve_dns=self._resolve_dns,
                lookback=self._change_lookback,
                last_healthy=lambda: LastHealthyStore.for_store(self.store).get(gateway),
            )
        except Exception as error:  # recorded on the report; the incident says it could not be diagnosed
            log.exception("diagnosis of %s failed", gateway, extra=_fields(report))
            report.outcome = Outcome.FAILED
            report.stages.append(StageResult("diagnose", "error", f"{type(error).__name__}: {error}"[:500]))
            if incident is not None:  # closed, not joinable: the next alert diagnoses again
                incident = self._save_incident(incident, report, CloseReason.DIAGNOSIS_FAILED)
                lost = incident is None
            else:
                lost = not guard.renew()
            if lost:
                self._stop(report)
                return
            self._notify_and_record(report, "incident closed: diagnosis failed", incident=incident)
            return
        self._progress("diagnosed")
        diagnosis = diagnosis.with_own_writes(self._own_writes(gateway))  # the bot's writes, labelled
        report.outcome = Outcome.DIAGNOSED
        report.diagnosis = diagnosis
        report.gateway_tags = gateway_tags(diagnosis)
        report.findings = [finding.to_dict() for finding in diagnosis.findings]
        report.checks = [check.to_dict() for check in diagnosis.checks]
        report.changes = [change.to_dict() for change in diagnosis.changes]
        known = previous.finding_keys if previous else set()
        report.reported = [f for f in report.findings if finding_key(f) not in known]
        errors = sum(1 for check in report.checks if check.get("status") == "error")
        report.stages.append(
            StageResult("diagnose", "ok", f"{len(report.findings)} findings, {len(report.checks)} checks"
                        + (f" ({errors} could not run)" if errors else ""))
        )  # fmt: skip
        if not guard.renew():  # remediation may write to Azure: only while the gateway is ours
            self._stop(report)
            return
        report.stages.append(self._run_stage("remediate", self._remediate, report))
        if not guard.renew():
            self._stop(report)
            return
        findings, omitted = bounded_findings(report.findings)
        record_id = new_id()
        record = DiagnosisRecord(
            id=record_id,
            gateway_id=gateway,
            trigger=report.item.kind,
            started_at=started,
            finished_at=self._clock(),
            findings=findings,
            checks=bounded_checks(report.checks),
            watched_resources=watched_resources(diagnosis),
            incident_id=report.incident_id,
            keys=bounded_keys([finding_key(f) for f in report.findings]),
            findings_omitted=omitted,
            stages=[stage.to_dict() for stage in report.stages],
            fingerprint=fingerprint_of(diagnosis, diagnosis_id=record_id, started_at=started)
            if self._sweep_full_every is not None
            else None,
        )
        report.diagnosis_id = record.id
        self.store.record_diagnosis(record)  # before notifying: a failure here is retried, nothing sent yet
        self._note_healthy(gateway, diagnosis)
        if incident is not None:
            incident = self._save_incident(incident, report, close)
            if incident is None:
                self._stop(report)
                return
        self._progress("recorded")
        closed = incident is not None and incident.status is IncidentStatus.CLOSED
        if closed and incident is not None:
            self._incident_closed(gateway, incident.id, "its incident resolved")
        detail = f"diagnosis {record.id}" + (
            "; incident closed: its alert's Resolved was processed first" if closed else ""
        )
        if incident is None and only_new and not report.reported:
            report.stages.append(StageResult("notify", "skipped", "no new findings since the last diagnosis"))
            self._record_after_notify(report, detail, record=record)
            return
        self._notify_and_record(report, detail, incident=incident, record=record)

    def _own_writes(self, gateway: str) -> list[tuple[str, datetime]]:
        """(resource, when) of the bot's own writes to the gateway's path (its remediation audit's
        apply and rollback steps), so the Activity Log's events of them are labelled as the bot's.
        Unreadable: none (the events keep their caller)."""
        try:
            entries = RemediationLedger.for_store(self.store).audit_entries(gateway)
        except Exception:
            log.warning("remediation audit of %s not readable for change labels", gateway, exc_info=True)
            return []
        return [(e.resource or e.gateway_id, e.at) for e in entries if e.step in ("apply", "rollback")]

    def _note_healthy(self, gateway: str, diagnosis: Diagnosis) -> None:
        """A healthy diagnosis' configuration becomes the gateway's last healthy one (what a later
        incident's diagnosis diffs against). A failure to store it is logged, never fatal."""
        if not diagnosis.healthy or not diagnosis.configuration:
            return
        try:
            LastHealthyStore.for_store(self.store).save(
                gateway, diagnosis.configuration, at=diagnosis.incident_time
            )
        except Exception:
            log.warning("last healthy configuration of %s not stored", gateway, exc_info=True)

    def _notify_and_record(
        self, report: Report, detail: str, *, incident: Incident | None, record: DiagnosisRecord | None = None
    ) -> None:
        """Notify, recording each channel on the incident's outbox as it is delivered, then record the
        notify result (the incident's message marked done)."""
        if incident is None:
            report.stages.append(self._run_stage("notify", self._notify, report))
            self._progress("notified")
            self._record_after_notify(report, detail, record=record)
            return
        writer = _IncidentWriter(self.store, incident, self._progress)
        report.on_delivered = writer.delivered(INCIDENT_MESSAGE)
        notified = self._run_stage("notify", self._notify, report)
        report.stages.append(notified)
        self._progress("notified")
        report.stages.append(StageResult("record", "ok", detail))
        if record is not None:
            try:
                self.store.update_diagnosis(replace(record, stages=[s.to_dict() for s in report.stages]))
            except Exception as error:
                self._record_failed(report, detail, error)
        self._finish_record(report, writer, INCIDENT_MESSAGE, notified, incident_report=None)

    def _finish_record(
        self,
        report: Report,
        writer: _IncidentWriter,
        kind: str,
        notified: StageResult,
        *,
        incident_report: dict[str, Any] | None,
    ) -> None:
        """Mark the message done on the incident with the report (never raises: the message went
        out; if this write is lost, a later worker finds every delivered channel recorded)."""
        try:
            writer.done(kind, notified, report=incident_report or report.to_record())
        except Exception as error:
            self._record_failed(report, report.stages[-1].detail, error)

    def _record_failed(self, report: Report, detail: str, error: Exception) -> None:
        log.exception("could not record the notify result", extra=_fields(report))
        reason = f"{detail}; the notify result was not saved: {type(error).__name__}: {error}"
        report.stages[-1] = StageResult("record", "error", reason[:500])

    def _save_incident(
        self, incident: Incident, report: Report, close: CloseReason | None
    ) -> Incident | None:
        """Save the diagnosed incident (open, or closed for `close`), conditional on it being unchanged
        since we created it; None when another worker took it over meanwhile. An incident whose own
        alert resolved first stays open while alerts that joined it meanwhile still fire."""
        if close is CloseReason.RESOLVED_BEFORE_FIRED:
            attached = self.store.incident_alerts(incident.id)
            if _alert_ids(attached, FIRED) - _alert_ids(attached, RESOLVED):
                close = None
        now = self._clock()
        saved = replace(
            incident,
            status=IncidentStatus.CLOSED if close else IncidentStatus.OPEN,
            updated_at=now,
            closed_at=now if close else None,
            close_reason=close.value if close else None,
            report=report.to_record(),
            outbox={**incident.outbox, INCIDENT_MESSAGE: {"state": PENDING, "sent": []}},
        )
        try:
            return self.store.save_incident(saved)
        except RecordChanged:
            return None

    def _record_after_notify(self, report: Report, detail: str, *, record: DiagnosisRecord | None) -> None:
        """Add the notify result to the diagnosis recorded before notifying (work without an incident:
        a preventive check). A failure here is logged and reported, never raised: the message went
        out, and a redelivery must not send it again."""
        report.stages.append(StageResult("record", "ok", detail))
        try:
            if record is not None:
                self.store.update_diagnosis(replace(record, stages=[s.to_dict() for s in report.stages]))
        except Exception as error:
            self._record_failed(report, detail, error)

    def _stop(self, report: Report) -> None:
        log.warning("lease on %s was taken over; stopping before reporting", report.item.gateway_id,
                    extra=_fields(report))  # fmt: skip
        report.outcome = Outcome.SUPERSEDED
        report.stages.append(StageResult(
            "record", "skipped", "another worker took over the gateway's lease; stopped before reporting"
        ))  # fmt: skip

    def _run_stage(self, name: str, stage: Stage, report: Report) -> StageResult:
        try:
            return stage(report)
        except Exception as error:  # a failing notifier must not lose the incident record
            log.exception("%s stage failed", name, extra=_fields(report))
            return StageResult(name, "error", f"{type(error).__name__}: {error}"[:500])


class _IncidentWriter:
    """The incident as this worker last wrote it, for the writes after notifying: each delivered
    channel, then the message marked done with the report. Saves are conditional; when another worker
    changed the incident meanwhile (a joining alert, a Resolved), it is re-read and the change applied
    again, so neither write is lost. Thread-safe: channels report from their own threads."""

    def __init__(self, store: StateStore, incident: Incident, progress: Callable[[str], None]) -> None:
        self._store = store
        self._progress = progress
        self._lock = threading.Lock()
        self.incident = incident

    def delivered(self, kind: str) -> Callable[[str], None]:
        def record(key: str) -> None:
            def add(incident: Incident) -> Incident:
                entry = dict(incident.outbox.get(kind) or {"state": PENDING})
                entry["sent"] = sorted({*(entry.get("sent") or []), key})
                return replace(incident, outbox={**incident.outbox, kind: entry})

            self._apply(add)
            self._progress(f"delivered {key}")

        return record

    def done(self, kind: str, notified: StageResult, *, report: dict[str, Any] | None = None) -> None:
        def finish(incident: Incident) -> Incident:
            entry = {**(incident.outbox.get(kind) or {}), "state": DONE, "result": notified.to_dict()}
            changed = replace(incident, outbox={**incident.outbox, kind: entry})
            return replace(changed, report=report) if report is not None else changed

        self._apply(finish)

    def _apply(self, change: Callable[[Incident], Incident]) -> None:
        with self._lock:
            for _ in range(5):
                try:
                    self.incident = self._store.save_incident(change(self.incident))
                    return
                except RecordChanged:
                    fresh = self._store.get_incident(self.incident.gateway_id, self.incident.id)
                    if fresh is None:
                        raise
                    self.incident = fresh
            raise RecordChanged(f"incident {self.incident.id} kept changing")


class _LeaseGuard:
    """Our lease on a gateway, renewed between stages so a long run keeps it (ETag-conditional:
    `renew` is False once another worker has taken it over, and the run must stop)."""

    def __init__(
        self, store: StateStore, lease: Lease, *, ttl: timedelta, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self.lease = lease

    def renew(self) -> bool:
        renewed = self._store.renew_lease(self.lease, now=self._clock(), ttl=self._ttl)
        if renewed is None:
            return False
        self.lease = renewed
        return True


def _alert_ids(alerts: list[dict[str, Any]], condition: str) -> set[str]:
    """Ids (lower-cased) of the attached alert records with this monitor condition."""
    return {str(a.get("alertId") or "").lower() for a in alerts if a.get("monitorCondition") == condition}


def gateway_tags(diagnosis: Diagnosis) -> dict[str, str]:
    snapshot = diagnosis.snapshot
    tags = json_fields(snapshot.gateway_wire).get("tags") if snapshot is not None else None
    return {str(name): str(value) for name, value in tags.items()} if isinstance(tags, dict) else {}


def watched_resources(diagnosis: Diagnosis) -> list[str]:
    """The gateway subnet, its virtual network (a whole-VNet PUT rewrites the subnet) and the NSG and
    route table on it: writes to these can break the gateway."""
    snapshot = diagnosis.snapshot
    subnet_id = snapshot.gateway_subnet_id if snapshot is not None else None
    if snapshot is None or not subnet_id:
        return []
    lowered = subnet_id.lower()
    vnet = [subnet_id[: lowered.rindex("/subnets/")]] if "/subnets/" in lowered else []
    subnet = snapshot.gateway_subnet
    if subnet is None:
        return [subnet_id, *vnet]
    fields = json_properties(subnet)  # from its VNet's JSON (or an SDK model): read by wire names
    attached = [ref_id(fields.get("networkSecurityGroup")), ref_id(fields.get("routeTable"))]
    return [ref_id(subnet) or subnet_id, *vnet, *(resource_id for resource_id in attached if resource_id)]


def _aware_time(text: Any) -> datetime | None:
    """An ISO 8601 time with its zone (as `WorkItem.to_message` writes it); None for None."""
    if text is None:
        return None
    when = datetime.fromisoformat(str(text))
    if when.tzinfo is None:
        raise ValueError("a time without its zone")
    return when


def _fields(report: Report) -> dict[str, Any]:
    return {
        "incident_id": report.incident_id,
        "gateway_id": report.item.gateway_id,
        "trigger": report.item.kind,
        "dedupe_key": report.item.dedupe_key,
    }


def _log_outcome(report: Report) -> None:
    outcome = report.outcome.value if report.outcome else "none"
    log.info(
        "incident=%s gateway=%s trigger=%s outcome=%s findings=%d",
        report.incident_id or "-", report.item.gateway_id, report.item.kind, outcome, len(report.findings),
        extra={**_fields(report), "outcome": outcome},
    )  # fmt: skip
