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
- record before notify: the diagnosis and the incident are saved (bounded in size) before anything
  is sent, and updated with the notify result after; a redelivery after a failure past that point
  joins the saved incident (or finds the change covered) instead of notifying again.

Remediate and notify are pluggable stages: `Stage = Callable[[Report], StageResult]`; they see the
report so far (findings, incident id) and must not raise (an exception is recorded as a stage error).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from core.arm_ids import is_gateway_id, subscription_of
from core.azure_clients import AzureClients
from diagnostics.diagnosis import Diagnosis
from diagnostics.diagnosis import diagnose as diagnose_gateway
from intake.alerts import FIRED, RESOLVED, Alert
from intake.events import ResourceChange
from state import CloseReason, DiagnosisRecord, Incident, IncidentStatus, Lease, StateStore
from state.backend import RecordChanged
from state.bounds import bounded_checks, bounded_findings, bounded_keys
from state.model import finding_key
from state.store import new_id

log = logging.getLogger("appgw_doctor.pipeline")

ALERT, CHANGE, SWEEP = "alert", "change", "sweep"
_INCIDENT_HOLDER = "incident:"
_CHECK_HOLDER = "check:"
_RESOLVE_HOLDER = "resolve:"
_WAIT_SECONDS = 120.0  # how long work waits for another holder of its gateway's lease


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
            }
        )

    @classmethod
    def from_message(cls, text: str) -> WorkItem:
        """ValueError when the message is not one we wrote."""
        try:
            data = json.loads(text)
            item = cls(
                kind=data["kind"],
                gateway_id=data["gatewayId"],
                alert=Alert.from_dict(data["alert"]) if data.get("alert") else None,
                change=ResourceChange.from_dict(data["change"]) if data.get("change") else None,
                sweep_id=data.get("sweepId"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a work item message: {error}") from None
        if item.kind not in (ALERT, CHANGE, SWEEP) or not is_gateway_id(item.gateway_id):
            raise ValueError("not a work item message: bad kind or gateway id")
        if (item.kind == ALERT) != (item.alert is not None) or (item.kind == CHANGE) != (
            item.change is not None
        ):
            raise ValueError("not a work item message: kind does not match its payload")
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
        }

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
    ) -> None:
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

    # --- intake: what each trigger hands over ---

    @staticmethod
    def alert_items(alerts: Iterable[Alert]) -> list[WorkItem]:
        return [WorkItem(kind=ALERT, gateway_id=alert.gateway_id, alert=alert) for alert in alerts]

    def change_items(self, change: ResourceChange) -> list[WorkItem]:
        """The gateways a change may affect: the gateway written, or the gateways whose last diagnosis
        depends on the written subnet, NSG or route table."""
        gateways = (
            [change.resource_id]
            if change.is_gateway_write
            else self.store.gateways_watching(change.resource_id)
        )
        return [
            WorkItem(kind=CHANGE, gateway_id=gateway, change=change)
            for gateway in gateways
            if self._allowed is None or subscription_of(gateway) in self._allowed
        ]

    def sweep_items(self, subscriptions: Iterable[str]) -> list[WorkItem]:
        """One item per gateway in the subscriptions; a subscription that cannot be listed is logged
        and skipped so the others are still swept."""
        sweep_id = new_id()
        items: list[WorkItem] = []
        for subscription in subscriptions:
            try:
                gateways = [
                    gw.id for gw in self._clients_for(subscription).network.application_gateways.list_all()
                ]
            except Exception as error:  # one subscription's failure must not stop the sweep
                log.warning("sweep could not list gateways of subscription %s: %s", subscription, error)
                continue
            items += [WorkItem(kind=SWEEP, gateway_id=gw, sweep_id=sweep_id) for gw in gateways if gw]
        return items

    # --- the rest of the pipeline, per item ---

    def process(self, item: WorkItem) -> Report:
        run_id = new_id()
        report = Report(item=item)
        if not self.store.claim_delivery(
            item.dedupe_key, holder=run_id, now=self._clock(), ttl=self._lease_ttl
        ):
            previous = self.store.delivery(item.dedupe_key) or {}
            report.outcome = Outcome.DUPLICATE
            report.incident_id = previous.get("incidentId")
            report.stages.append(StageResult("dedupe", "ok", "duplicate delivery; acknowledged"))
            _log_outcome(report)
            return report
        report.stages.append(StageResult("dedupe", "ok", "new delivery"))
        try:
            if item.kind == ALERT:
                self._alert(report)
            else:
                self._check(report)
            assert report.outcome is not None
            self.store.settle_delivery(
                item.dedupe_key, holder=run_id, outcome=report.outcome.value, incident_id=report.incident_id
            )
        except BaseException:
            # let a redelivery retry; what it finds recorded (open incident, last diagnosis) keeps it
            # from notifying again
            self.store.abandon_delivery(item.dedupe_key, holder=run_id)
            raise
        _log_outcome(report)
        return report

    def _alert(self, report: Report) -> None:
        alert, gateway = report.item.alert, report.item.gateway_id
        assert alert is not None
        if alert.resolved:
            self._resolve(report)
            return
        incident_id = new_id()
        lease = self._wait_for_lease(gateway, _INCIDENT_HOLDER + incident_id, join=True)
        if isinstance(lease, str):
            self._join(report, lease, "in progress")
            return
        guard = _LeaseGuard(self.store, lease, ttl=self._lease_ttl, clock=self._clock)
        try:
            now = self._clock()
            existing = self.store.open_incident(gateway)
            if existing is not None and existing.status == IncidentStatus.OPEN:
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

    def _wait_for_lease(self, gateway: str, holder: str, *, join: bool) -> Lease | str:
        """Our lease on the gateway; or, with `join`, the id of the incident being diagnosed under it.
        Other holders (a preventive check, a resolution) finish within seconds, so we wait for them;
        if they do not, TimeoutError lets the queue retry later."""
        deadline = time.monotonic() + _WAIT_SECONDS
        while True:
            lease = self.store.acquire_lease(gateway, holder=holder, now=self._clock(), ttl=self._lease_ttl)
            if lease is not None:
                return lease
            current = self.store.current_lease(gateway, now=self._clock())
            if join and current is not None and current.holder.startswith(_INCIDENT_HOLDER):
                return current.holder.removeprefix(_INCIDENT_HOLDER)
            if time.monotonic() > deadline:
                raise TimeoutError(f"gateway {gateway} stayed busy for {_WAIT_SECONDS:.0f} s")
            time.sleep(0.05 if current is None else 0.25)  # just released / someone is working

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

    def _resolve(self, report: Report) -> None:
        """Mark the alert resolved on the open incident it is attached to; close the incident when no
        alert of it still fires. Under the gateway's lease, so a diagnosis still in progress finishes
        first and cannot reopen what this closes."""
        alert, gateway = report.item.alert, report.item.gateway_id
        assert alert is not None
        lease = self._wait_for_lease(gateway, _RESOLVE_HOLDER + new_id(), join=False)
        assert not isinstance(lease, str)
        try:
            incident = self.store.open_incident(gateway)
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
            closed = self.store.close_incident(incident, now=now, reason=CloseReason.RESOLVED)
        finally:
            self.store.release_lease(lease)
        report.outcome = Outcome.CLOSED
        report.findings = list((closed.report or {}).get("findings") or [])
        report.gateway_tags = dict((closed.report or {}).get("gatewayTags") or {})
        report.stages.append(StageResult("diagnose", "skipped", f"resolved; closed incident {closed.id}"))
        report.stages.append(self._run_stage("notify", self._notify, report))
        resolution = {"alert": alert.to_dict(), "stages": [stage.to_dict() for stage in report.stages]}
        self._record_after_notify(
            report, "resolution recorded on the incident",
            incident=closed, incident_report={**(closed.report or {}), "resolution": resolution},
        )  # fmt: skip

    def _check(self, report: Report) -> None:
        """Preventive diagnosis after a change, or during a sweep. Runs under the gateway's lease
        (waiting for a diagnosis in progress), and is skipped when a diagnosis that started after
        the change has already seen it."""
        item = report.item
        lease = self._wait_for_lease(item.gateway_id, _CHECK_HOLDER + new_id(), join=False)
        assert not isinstance(lease, str)
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
            self._diagnose_and_act(
                report, guard, incident=None, incident_time=None, window_size=None, only_new=True
            )
        finally:
            self.store.release_lease(guard.lease)

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
            report.stages.append(self._run_stage("notify", self._notify, report))
            self._record_after_notify(report, "incident closed: diagnosis failed", incident=incident)
            return
        report.outcome = Outcome.DIAGNOSED
        report.diagnosis = diagnosis
        report.gateway_tags = gateway_tags(diagnosis)
        report.findings = [finding.to_dict() for finding in diagnosis.findings]
        report.checks = [check.to_dict() for check in diagnosis.checks]
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
        record = DiagnosisRecord(
            id=new_id(),
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
        )
        report.diagnosis_id = record.id
        self.store.record_diagnosis(record)  # before notifying: a failure here is retried, nothing sent yet
        if incident is not None:
            incident = self._save_incident(incident, report, close)
            if incident is None:
                self._stop(report)
                return
        if only_new and not report.reported:
            report.stages.append(StageResult("notify", "skipped", "no new findings since the last diagnosis"))
        else:
            report.stages.append(self._run_stage("notify", self._notify, report))
        closed = incident is not None and incident.status is IncidentStatus.CLOSED
        detail = f"diagnosis {record.id}" + (
            "; incident closed: its alert's Resolved was processed first" if closed else ""
        )
        self._record_after_notify(report, detail, incident=incident, record=record)

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
        )
        try:
            return self.store.save_incident(saved)
        except RecordChanged:
            return None

    def _record_after_notify(
        self,
        report: Report,
        detail: str,
        *,
        incident: Incident | None,
        record: DiagnosisRecord | None = None,
        incident_report: dict[str, Any] | None = None,
    ) -> None:
        """Add the notify result to what was recorded before notifying (the incident's report is
        `incident_report`, by default this report). A failure here is logged and reported, never
        raised: the message went out, and a redelivery must not send it again."""
        report.stages.append(StageResult("record", "ok", detail))
        try:
            if record is not None:
                self.store.update_diagnosis(replace(record, stages=[s.to_dict() for s in report.stages]))
            if incident is not None:
                self.store.save_incident(replace(incident, report=incident_report or report.to_record()))
        except Exception as error:
            log.exception("could not record the notify result", extra=_fields(report))
            report.stages[-1] = StageResult(
                "record",
                "error",
                f"{detail}; the notify result was not saved: {type(error).__name__}: {error}"[:500],
            )

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
    tags = snapshot.gateway.tags if snapshot is not None else None
    return {str(name): str(value) for name, value in (tags or {}).items()}


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
    attached = [subnet.network_security_group, subnet.route_table]
    return [subnet.id or subnet_id, *vnet,
            *(resource.id for resource in attached if resource is not None and resource.id)]  # fmt: skip


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
