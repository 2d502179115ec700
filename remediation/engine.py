"""The remediate stage's logic for one gateway: policy -> plan -> guards -> apply -> verify -> roll back.

`Remediator.run` takes the current diagnosis' findings and returns a `RemediationResult`. Guards, in
order: the policy (mode and allow-list), critical findings only, the action's own preconditions and
safety checks, at most `max_applied_per_incident` applied actions per incident, a cooldown per
gateway and action, the fleet-wide hourly change budget, and the action's pre-flight. The gateway's
lease (held by the caller) keeps it to one remediation at a time per gateway.

A write is recorded as an intent before it is sent and is conditional on the etag read when
planning; on 412 the plan is made again once from what is there now, else abandoned. After applying,
the diagnosis runs again (every `verify_interval` seconds, for up to `verify_seconds`): verified when
the motivating finding is gone and no new critical finding appeared; otherwise the previous state is
put back (conditionally) and the rollback checked. An intent a crashed run left open is finished by
the next run for the gateway (`recover`): verified if it healed, else rolled back. Every step is an
audit entry.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from core.arm import Arm, ArmCallFailed, PreconditionFailed
from core.azure_clients import AzureClients
from core.iso8601 import format_time
from model.findings import Finding, Severity, reading_order
from model.remediation import (
    APPLIED,
    CANCELLED,
    EXPIRED,
    FAILED,
    PENDING,
    PLANNED,
    REFUSED,
    ROLLED_BACK,
    SKIPPED,
    VERIFIED,
    ActionResult,
    Approval,
    ApprovalLink,
    AuditEntry,
    Change,
    Intent,
    RemediationResult,
)
from remediation.actions import ACTIONS, Action, Context, Planned, Refused
from remediation.identity import principal_of
from remediation.ledger import Ledger
from remediation.policy import APPROVE, DRY_RUN, OFF, Policy, approval_tagged, policy_for
from remediation.tokens import plan_digest, sign

log = logging.getLogger("remediation.engine")

Rediagnose = Callable[[], list[Finding]]  # the findings of a fresh diagnosis of the same gateway


@dataclass(frozen=True)
class Limits:
    max_request_timeout: int = 120
    cooldown: timedelta = timedelta(minutes=60)
    max_changes_per_hour: int = 10
    verify_seconds: float = 300.0
    verify_interval: float = 10.0
    max_applied_per_incident: int = 1
    arm_seconds: float = 600.0  # one step's ARM deadline (an Application Gateway PUT takes minutes)


def _key(finding: Finding) -> tuple[str, str]:
    return finding.code, finding.resource.lower()


def healed(motivating: Finding, before: list[Finding], after: list[Finding]) -> tuple[bool, str]:
    """(verified, what was seen): the motivating finding is gone and no new critical finding appeared."""
    known = {_key(f) for f in before}
    if any(_key(f) == _key(motivating) for f in after):
        return False, f"{motivating.code} is still reported"
    new = [f for f in after if f.severity is Severity.CRITICAL and _key(f) not in known]
    if new:
        return False, "new critical finding(s): " + ", ".join(f"{f.code} ({f.title})" for f in new[:3])
    remaining = sum(1 for f in after if f.severity is Severity.CRITICAL)
    return True, f"{motivating.code} is gone" + (
        f"; {remaining} other critical finding(s) remain" if remaining else ""
    )


@dataclass(frozen=True)
class ApprovalSettings:
    """Mode `approve`: links signed with `key` (APPROVAL_SIGNING_KEY), valid for `ttl`
    (APPROVAL_TTL_MINUTES), on the app at `base_url` (APPROVAL_BASE_URL). Without a key or a base
    URL a pending approval has no link; `appgw-doctor approve ID` still decides it."""

    key: bytes | None = None
    ttl: timedelta = timedelta(minutes=60)
    base_url: str | None = None


def plan_fields(planned: Planned, gateway_id: str) -> dict[str, Any]:
    """What an approval is bound to: the action, the resource, the change and the etag it was planned on."""
    return {
        "action": planned.action,
        "gateway": gateway_id.lower(),
        "resource": planned.resource.lower(),
        "before": planned.change.before,
        "after": planned.change.after,
        "etag": planned.etag,
    }


class Remediator:
    def __init__(
        self,
        *,
        ledger: Ledger,
        setting: str = "tags",
        limits: Limits = Limits(),
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        sleep: Callable[[float], None] = time.sleep,
        actions: Mapping[str, Action] = ACTIONS,
        approvals: ApprovalSettings = ApprovalSettings(),
    ) -> None:
        self.ledger = ledger
        self.setting = setting
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._actions = actions
        self.approval_settings = approvals

    def now(self) -> datetime:
        return self._clock()

    def action(self, action_id: str) -> Action | None:
        return self._actions.get(action_id)

    def link_for(self, approval: Approval) -> ApprovalLink:
        settings = self.approval_settings
        url = None
        if settings.key and settings.base_url:
            token = sign(approval.id, approval.digest, approval.expires_at, settings.key)
            url = f"{settings.base_url.rstrip('/')}/api/approvals/{approval.id}?t={token}"
        return ApprovalLink(approval.id, url, format_time(approval.expires_at))

    def close_approvals(self, gateway_id: str, *, keep: Callable[[Approval], str | None]) -> list[Approval]:
        """Expire the gateway's pending approvals past their time, and cancel those `keep` gives a
        reason for (their finding is gone, their incident resolved). Returns those closed."""
        closed = []
        now = self._clock()
        for approval in self.ledger.approvals(gateway_id):
            if approval.state != PENDING:
                continue
            if now >= approval.expires_at:
                state, reason = EXPIRED, f"expired at {format_time(approval.expires_at)} without a decision"
            else:
                why = keep(approval)
                if why is None:
                    continue
                state, reason = CANCELLED, why
            found = self.ledger.approval(approval.id)
            if found is None or found[0].state != PENDING:
                continue
            changed = replace(found[0], state=state, reason=reason, decided_at=now)
            if self.ledger.save_approval(changed, found[1]):
                closed.append(changed)
        return closed

    def cancel_for_incident(
        self, gateway_id: str, incident_id: str, why: str = "its incident resolved"
    ) -> int:
        """An incident closed: its pending approvals are cancelled (the link then says so)."""
        closed = self.close_approvals(
            gateway_id, keep=lambda a: why if a.incident_id == incident_id else None
        )
        return len(closed)

    # --- the stage ---

    def run(
        self,
        *,
        gateway_id: str,
        incident_id: str | None,
        findings: list[Finding],
        tags: Mapping[str, str],
        clients: AzureClients,
        rediagnose: Rediagnose,
        alerted: bool = True,
        requested: str | None = None,
        requested_actions: frozenset[str] | None = None,
        manual: bool = False,
        incident_time: datetime | None = None,
    ) -> RemediationResult:
        """`incident_time`: the diagnosis' incident time (an approval is re-validated at it)."""
        policy = policy_for(
            self.setting, tags, alerted=alerted, requested=requested, requested_actions=requested_actions
        )
        run = _Run(self, gateway_id, incident_id, clients, policy, manual=manual)
        run.incident_time = incident_time
        results: list[ActionResult] = []
        if self.setting != OFF:
            results += run.recover(rediagnose)
        if approval_tagged(tags):  # only such a gateway has pending approvals worth a look (others expire)
            current = {_key(f) for f in findings}
            self.close_approvals(
                gateway_id,
                keep=lambda a: (
                    None
                    if (str(a.finding.get("code")), str(a.finding.get("resource", "")).lower()) in current
                    else f"a newer diagnosis no longer shows {a.finding.get('code')}"
                ),
            )
        if policy.mode == OFF:  # nothing planned: the note says why (quiet when the gateway never opted in)
            return RemediationResult(OFF, tuple(results), policy.note)
        candidates = sorted(
            (f for f in findings if f.fix.plan is not None), key=lambda f: reading_order(f.code, f.severity)
        )
        for finding in candidates:
            results.append(run.one(finding, findings, rediagnose))
        return RemediationResult(policy.mode, tuple(results), policy.note)


class _Run:
    """One remediation run for one gateway (the state shared by its actions)."""

    def __init__(
        self,
        owner: Remediator,
        gateway_id: str,
        incident_id: str | None,
        clients: AzureClients,
        policy: Policy,
        *,
        manual: bool,
    ) -> None:
        self.owner = owner
        self.ledger = owner.ledger
        self.limits = owner.limits
        self.gateway_id = gateway_id
        self.incident_id = incident_id
        self.clients = clients
        self.policy = policy
        self.mode_label = "manual" if manual else policy.mode
        self.applied = self._applied_before()
        self._identity: str | None = None
        self.approver: str | None = None  # mode approve: the person who approved (the audit names them)
        self.incident_time: datetime | None = None

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = principal_of(self.clients.credential)
        return self._identity

    def context(self) -> Context:
        return Context(
            arm=Arm(self.clients, budget_seconds=self.limits.arm_seconds),
            gateway_id=self.gateway_id,
            incident_id=self.incident_id,
            max_request_timeout=self.limits.max_request_timeout,
        )

    def _applied_before(self) -> int:
        if self.incident_id is None:
            return 0
        return sum(
            1
            for e in self.ledger.audit_entries(self.gateway_id)
            if e.incident_id == self.incident_id and e.step == "apply" and e.outcome == APPLIED
        )

    def audit(
        self,
        step: str,
        outcome: str,
        finding: str,
        action: str,
        *,
        resource: str = "",
        reason: str = "",
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        entry = AuditEntry(
            id=uuid.uuid4().hex,
            at=self.owner._clock(),
            gateway_id=self.gateway_id,
            incident_id=self.incident_id,
            finding=finding,
            action=action,
            mode=self.mode_label,
            step=step,
            outcome=outcome,
            resource=resource,
            before=before,
            after=after,
            identity=(self.identity + (f" (approved by {self.approver})" if self.approver else ""))
            if step in ("apply", "rollback")
            else None,
            reason=reason,
        )
        try:
            self.ledger.audit(entry)
        except Exception:  # the audit must not stop a rollback; the log keeps what was lost
            log.exception("could not write the audit entry %s", entry.to_dict())

    def result(
        self,
        finding: Finding,
        action: str,
        status: str,
        reason: str,
        planned: Planned | None = None,
        *,
        verification: str | None = None,
        step: str | None = None,
    ) -> ActionResult:
        if step is not None:
            self.audit(
                step,
                status,
                finding.code,
                action,
                resource=planned.resource if planned else finding.resource,
                reason=reason,
                before=planned.change.before if planned else None,
                after=planned.change.after if planned else None,
            )
        return ActionResult(
            action=action,
            finding=finding.code,
            resource=planned.resource if planned else finding.resource,
            status=status,
            reason=reason,
            change=planned.change if planned else None,
            command=planned.command if planned else finding.fix.command,
            undo=planned.undo if planned and status in (APPLIED, VERIFIED, ROLLED_BACK, FAILED) else None,
            verification=verification,
        )

    # --- one finding ---

    def one(self, finding: Finding, findings: list[Finding], rediagnose: Rediagnose) -> ActionResult:
        action_id = finding.fix.action or ""
        action = self.owner._actions.get(action_id)
        if self.policy.mode == OFF:
            return self.result(finding, action_id, SKIPPED, self.policy.note or "remediation is off")
        if action is None:
            return self.result(finding, action_id, SKIPPED, f"no action {action_id!r} in this version")
        if not self.policy.allows(action_id):
            listed = ", ".join(sorted(self.policy.allowed or ())) or "none"
            return self.result(
                finding,
                action_id,
                SKIPPED,
                f"{action_id} is not on the gateway's allow-list (appgw-doctor-actions: {listed})",
                step="skip",
            )
        if finding.severity is not Severity.CRITICAL:
            return self.result(
                finding,
                action_id,
                SKIPPED,
                f"only critical findings are fixed; this one is {finding.severity.value}",
            )
        ctx = self.context()
        try:
            planned = action.plan(ctx, finding)
        except Refused as refused:
            return self.result(finding, action_id, REFUSED, refused.reason, step="refuse")
        except ArmCallFailed as error:
            return self.result(
                finding,
                action_id,
                FAILED,
                f"could not read what the fix would change: {error.reason}",
                step="fail",
            )
        if self.policy.mode == DRY_RUN:
            reason = "dry-run: nothing was changed" + (
                f"; {planned.needs_person}" if planned.needs_person else ""
            )
            return self.result(finding, action_id, PLANNED, reason, planned, step="plan")
        if planned.needs_person:
            return self.result(
                finding,
                action_id,
                REFUSED,
                planned.needs_person + "; the command is for a person",
                planned,
                step="refuse",
            )
        stopped = self.guards(action, ctx, planned, finding)
        if stopped is not None:
            return stopped
        if self.policy.mode == APPROVE:
            return self.request_approval(planned, finding)
        return self.reserve_and_apply(action, planned, finding, findings, rediagnose)

    def guards(self, action: Action, ctx: Context, planned: Planned, finding: Finding) -> ActionResult | None:
        """The guards between a plan and its write (per incident, cooldown, pre-flight): a refusal or None."""
        action_id = action.id
        if self.applied >= self.limits.max_applied_per_incident:
            return self.result(
                finding,
                action_id,
                SKIPPED,
                f"at most {self.limits.max_applied_per_incident} fix per incident; one was applied already",
                planned,
                step="skip",
            )
        now = self.owner._clock()
        last = self.ledger.last_applied(self.gateway_id, action_id)
        if last is not None and now - last < self.limits.cooldown:
            until = last + self.limits.cooldown
            return self.result(
                finding,
                action_id,
                REFUSED,
                f"cooldown: {action_id} changed this gateway at {last:%H:%M} UTC; not again before "
                f"{until:%H:%M} UTC (REMEDIATION_COOLDOWN_MINUTES)",
                planned,
                step="refuse",
            )
        try:
            action.preflight(ctx, planned)
        except Refused as refused:
            return self.result(finding, action_id, REFUSED, refused.reason, planned, step="refuse")
        except ArmCallFailed as error:
            return self.result(
                finding, action_id, FAILED, f"pre-flight failed: {error.reason}", planned, step="fail"
            )
        return None

    def reserve_and_apply(
        self,
        action: Action,
        planned: Planned,
        finding: Finding,
        findings: list[Finding],
        rediagnose: Rediagnose,
    ) -> ActionResult:
        """Take one change of the fleet-wide budget, then apply, verify and (if need be) roll back."""
        action_id = action.id
        now = self.owner._clock()
        try:
            reserved = self.ledger.take_change(now=now, per_hour=self.limits.max_changes_per_hour)
        except Exception as error:  # cannot count: do not write uncounted
            return self.result(
                finding,
                action_id,
                REFUSED,
                f"the fleet-wide change budget could not be read: {error}",
                planned,
                step="refuse",
            )
        if not reserved:
            return self.result(
                finding,
                action_id,
                REFUSED,
                f"the fleet-wide limit of {self.limits.max_changes_per_hour} changes per hour is "
                "reached (REMEDIATION_MAX_CHANGES_PER_HOUR)",
                planned,
                step="refuse",
            )
        return self.apply_and_verify(action, planned, finding, findings, rediagnose)

    def apply_and_verify(
        self,
        action: Action,
        planned: Planned,
        finding: Finding,
        findings: list[Finding],
        rediagnose: Rediagnose,
    ) -> ActionResult:
        replanned = False
        while True:
            intent = Intent(
                id=uuid.uuid4().hex,
                gateway_id=self.gateway_id,
                incident_id=self.incident_id,
                finding=finding.code,
                action=action.id,
                resource=planned.resource,
                before=planned.change.before,
                after=planned.change.after,
                created_at=self.owner._clock(),
                state="applying",
                details={
                    **planned.details,
                    "findingResource": finding.resource,
                    "findingKey": list(_key(finding)),
                    "summary": planned.change.summary,
                    "undo": planned.undo,
                    "command": planned.command,
                },
            )
            self.ledger.record_intent(intent)
            ctx = self.context()
            try:
                written = action.apply(ctx, planned)
                break
            except PreconditionFailed as error:
                self.ledger.settle_intent(self.gateway_id, intent.id)
                if replanned:
                    return self.result(
                        finding,
                        action.id,
                        REFUSED,
                        f"the resource changed again while re-planning ({error.reason}); aborted, "
                        "nothing written",
                        planned,
                        step="refuse",
                    )
                self.audit(
                    "plan",
                    PLANNED,
                    finding.code,
                    action.id,
                    resource=planned.resource,
                    reason=f"re-planning: {error.reason}",
                )
                replanned = True
                try:
                    planned = action.plan(self.context(), finding)
                except Refused as refused:
                    return self.result(
                        finding,
                        action.id,
                        REFUSED,
                        f"re-planned after a concurrent change: {refused.reason}",
                        step="refuse",
                    )
                if planned.needs_person:
                    return self.result(
                        finding, action.id, REFUSED, planned.needs_person, planned, step="refuse"
                    )
            except ArmCallFailed as error:
                still = self._present(action, intent)
                if still is not True:
                    self.ledger.settle_intent(self.gateway_id, intent.id)
                    return self.result(
                        finding,
                        action.id,
                        FAILED,
                        f"ARM refused the change: {error.reason}",
                        planned,
                        step="fail",
                    )
                written = {}
                break
        self.applied += 1
        self.ledger.mark_applied(self.gateway_id, action.id, self.owner._clock())
        intent = replace(
            intent, state="applied", details={**intent.details, **{k: v for k, v in written.items() if v}}
        )
        self.ledger.record_intent(intent)
        self.audit(
            "apply",
            APPLIED,
            finding.code,
            action.id,
            resource=planned.resource,
            reason=planned.change.summary,
            before=planned.change.before,
            after=planned.change.after,
        )
        preflight = planned.details.get("preflight")
        return self.verify_or_roll_back(
            action, intent, finding, findings, rediagnose, planned, note=preflight
        )

    def _present(self, action: Action, intent: Intent) -> bool | None:
        try:
            return action.is_applied(self.context(), intent)
        except (Refused, ArmCallFailed):
            return None

    def verify_or_roll_back(
        self,
        action: Action,
        intent: Intent,
        finding: Finding,
        before: list[Finding],
        rediagnose: Rediagnose,
        planned: Planned | None,
        *,
        note: str | None = None,
    ) -> ActionResult:
        deadline = time.monotonic() + self.limits.verify_seconds
        seen = "not verified"
        while True:
            try:
                ok, seen = healed(finding, before, rediagnose())
            except (
                Exception
            ) as error:  # a diagnosis that cannot run cannot verify: keep trying, then roll back
                ok, seen = False, f"the diagnosis could not run: {type(error).__name__}: {error}"
            if ok or time.monotonic() + self.limits.verify_interval > deadline:
                break
            self.owner._sleep(self.limits.verify_interval)
        seen = f"{note}; {seen}" if note else seen
        if ok:
            self.ledger.settle_intent(self.gateway_id, intent.id)
            self.audit("verify", VERIFIED, finding.code, action.id, resource=intent.resource, reason=seen)
            return self._intent_result(intent, finding, VERIFIED, "", seen, planned)
        return self.roll_back(action, intent, finding, planned, why=seen)

    def roll_back(
        self, action: Action, intent: Intent, finding: Finding, planned: Planned | None, *, why: str
    ) -> ActionResult:
        try:
            ctx = self.context()
            action.rollback(ctx, intent)
            restored = action.rolled_back(ctx, intent)
        except Refused as refused:
            self.ledger.settle_intent(self.gateway_id, intent.id)
            reason = f"did not heal ({why}) and was not rolled back: {refused.reason}"
            self.audit("rollback", FAILED, finding.code, action.id, resource=intent.resource, reason=reason)
            return self._intent_result(intent, finding, FAILED, reason, why, planned)
        except ArmCallFailed as error:  # left open: the next run for the gateway tries again
            reason = f"did not heal ({why}); the rollback failed and will be retried: {error.reason}"
            self.audit("rollback", FAILED, finding.code, action.id, resource=intent.resource, reason=reason)
            return self._intent_result(intent, finding, FAILED, reason, why, planned)
        if not restored:
            reason = f"did not heal ({why}); after the rollback the resource is still not as before"
            self.audit("rollback", FAILED, finding.code, action.id, resource=intent.resource, reason=reason)
            return self._intent_result(intent, finding, FAILED, reason, why, planned)
        self.ledger.settle_intent(self.gateway_id, intent.id)
        reason = f"did not heal: {why}; the previous state is restored"
        self.audit(
            "rollback",
            ROLLED_BACK,
            finding.code,
            action.id,
            resource=intent.resource,
            reason=reason,
            before=intent.after,
            after=intent.before,
        )
        return self._intent_result(intent, finding, ROLLED_BACK, reason, why + "; rollback verified", planned)

    def _intent_result(
        self,
        intent: Intent,
        finding: Finding,
        status: str,
        reason: str,
        verification: str,
        planned: Planned | None,
    ) -> ActionResult:
        return ActionResult(
            action=intent.action,
            finding=finding.code,
            resource=intent.resource,
            status=status,
            reason=reason,
            change=planned.change
            if planned
            else Change(intent.resource, intent.before, intent.after, intent.details.get("summary", "")),
            command=intent.details.get("command"),
            undo=intent.details.get("undo"),
            verification=verification,
        )

    # --- mode approve ---

    def request_approval(self, planned: Planned, finding: Finding) -> ActionResult:
        """Record the plan as pending a person's decision (or find the same plan already pending)."""
        now = self.owner.now()
        digest = plan_digest(plan_fields(planned, self.gateway_id))
        approval = next(
            (
                a
                for a in self.ledger.approvals(self.gateway_id)
                if a.state == PENDING and a.digest == digest and a.expires_at > now
            ),
            None,
        )
        if approval is None:
            subject = f"incident {self.incident_id}" if self.incident_id else "a diagnosis"
            approval = Approval(
                id=uuid.uuid4().hex,
                gateway_id=self.gateway_id,
                incident_id=self.incident_id,
                finding=finding.to_dict(),
                action=planned.action,
                resource=planned.resource,
                change=planned.change,
                command=planned.command,
                undo=planned.undo,
                etag=planned.etag,
                digest=digest,
                requested_by=f"appgw-doctor, for {subject}",
                created_at=now,
                expires_at=now + self.owner.approval_settings.ttl,
                incident_time=self.incident_time,
            )
            self.ledger.add_approval(approval)
            self.audit(
                "plan",
                PLANNED,
                finding.code,
                planned.action,
                resource=planned.resource,
                reason=f"awaiting approval {approval.id} until {format_time(approval.expires_at)}",
                before=planned.change.before,
                after=planned.change.after,
            )
        result = self.result(
            finding,
            planned.action,
            PLANNED,
            f"awaiting approval until {approval.expires_at:%H:%M} UTC",
            planned,
        )
        return replace(result, approval=self.owner.link_for(approval))

    # --- what a crashed run left ---

    def recover(self, rediagnose: Rediagnose) -> list[ActionResult]:
        results = []
        for intent in self.ledger.open_intents(self.gateway_id):
            action = self.owner._actions.get(intent.action)
            if action is None:
                continue
            code, resource = (intent.details.get("findingKey") or [intent.finding, intent.resource])[:2]
            finding = Finding(
                code=code,
                severity=Severity.CRITICAL,
                title=intent.details.get("summary", ""),
                resource=resource,
            )
            present = self._present(action, intent)
            if present is None:
                continue  # cannot tell now; the next run looks again
            if not present:
                self.ledger.settle_intent(self.gateway_id, intent.id)
                self.audit(
                    "recover",
                    SKIPPED,
                    code,
                    intent.action,
                    resource=intent.resource,
                    reason="a run that stopped mid-way had not written its change; nothing to undo",
                )
                continue
            self.audit(
                "recover",
                APPLIED,
                code,
                intent.action,
                resource=intent.resource,
                reason="found a change a run that stopped mid-way did not verify; verifying it now",
            )
            results.append(
                self.verify_or_roll_back(
                    action,
                    intent,
                    finding,
                    [],
                    rediagnose,
                    None,
                    note="left unverified by a run that stopped",
                )
            )
        return results
