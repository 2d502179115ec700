"""The approval desk: a person's decision on a pending fix (mode `approve`), from a link or a terminal.

`view` (the page a link opens; GET never changes anything) checks the link and says what the fix
would change, or why the link cannot be used. `decide` takes the decision once:

1. the link's token is checked (signed, this approval, this plan, not expired) — a terminal
   (`appgw-doctor approve ID`, after `az login`) needs no token;
2. the approval must still be pending and the approver allowed (`APPROVERS`, when set);
3. the decision is claimed with a conditional write on the approval record: of two decisions sent at
   once, exactly one is taken, the other is told it was decided already;
4. reject: recorded and audited, nothing changes;
5. approve: the gateway is diagnosed again and the plan made again from what is there now. If the
   finding is gone the approval is cancelled; if anything changed since the plan (its etag, the
   change itself) it is re-planned and shown again (a new approval with new links) instead of
   applied; else the guards run (per incident, cooldown, pre-flight, the fleet-wide change budget)
   and the fix is applied, verified and rolled back exactly as in `auto`, the audit naming the
   approver.
Every outcome goes to `notify` (the follow-up message) when given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from core.arm import ArmCallFailed
from core.arm_ids import subscription_of
from core.azure_clients import AzureClients
from core.iso8601 import format_time
from model.findings import Finding
from model.remediation import (
    APPROVED,
    CANCELLED,
    EXPIRED,
    PENDING,
    REFUSED,
    REJECTED,
    SKIPPED,
    SUPERSEDED,
    ActionResult,
    Approval,
    ApprovalLink,
)
from remediation.actions import Refused
from remediation.engine import Rediagnose, Remediator, _key, _Run, plan_fields
from remediation.policy import APPROVE, Policy
from remediation.tokens import TokenInvalid, plan_digest, verify

log = logging.getLogger("remediation.desk")

APPROVE_DECISION, REJECT_DECISION = "approve", "reject"
# Decision outcomes (what the page and the CLI say).
DONE, REPLANNED, GONE, ALREADY, INVALID, NOT_ALLOWED, UNKNOWN, EXPIRED_LINK = (
    "done",
    "re-planned",
    "finding-gone",
    "already-decided",
    "invalid",
    "not-allowed",
    "unknown",
    "expired",
)


@dataclass(frozen=True)
class View:
    """What the approval page shows: the approval, or why the link cannot be used (`problem`)."""

    approval: Approval | None
    problem: str | None = None
    outcome: str | None = None  # INVALID | EXPIRED_LINK | ALREADY | UNKNOWN when there is a problem


@dataclass(frozen=True)
class Decision:
    outcome: str
    message: str
    approval: Approval | None = None
    result: ActionResult | None = None
    new_link: ApprovalLink | None = None  # REPLANNED: where to approve the new plan


Notify = Callable[[Approval, str, str, ActionResult | None, str, ApprovalLink | None], None]


class ApprovalDesk:
    def __init__(
        self,
        remediator: Remediator,
        clients_for: Callable[[str], AzureClients],
        rediagnose_for: Callable[[str, AzureClients, datetime | None], Rediagnose],
        *,
        approvers: frozenset[str] | None = None,
        notify: Notify | None = None,
    ) -> None:
        """`rediagnose_for(gateway, clients, incident_time)` diagnoses the gateway now, its metrics at the
        planning diagnosis' incident time (its findings); `approvers`
        (lower-case user names or group object ids) allow-lists who may decide from a link."""
        self.remediator = remediator
        self.ledger = remediator.ledger
        self._clients_for = clients_for
        self._rediagnose_for = rediagnose_for
        self._approvers = approvers
        self._notify = notify

    # --- reading ---

    def listing(self, gateway_id: str | None = None) -> list[Approval]:
        return self.ledger.approvals(gateway_id)

    def view(self, approval_id: str, token: str | None) -> View:
        found = self.ledger.approval(approval_id)
        if found is None:
            return View(None, "no such approval (the link is wrong, or the record was pruned)", UNKNOWN)
        approval = found[0]
        problem = self._token_problem(approval, token)
        if problem is not None:
            return View(approval, problem.reason, EXPIRED_LINK if problem.expired else INVALID)
        if approval.state != PENDING:
            return View(approval, describe_state(approval), ALREADY)
        if self.remediator.now() >= approval.expires_at:
            return View(approval, f"the link expired at {format_time(approval.expires_at)}", EXPIRED_LINK)
        return View(approval)

    def allowed(self, approver: str | None, groups: frozenset[str] = frozenset()) -> bool:
        if self._approvers is None:
            return True
        names = {n.lower() for n in (approver or "", *groups) if n}
        return bool(names & self._approvers)

    def _token_problem(self, approval: Approval, token: str | None) -> TokenInvalid | None:
        key = self.remediator.approval_settings.key
        if key is None:
            return TokenInvalid("approval links are not enabled (APPROVAL_SIGNING_KEY is not set)")
        try:
            verify(
                token or "",
                approval_id=approval.id,
                digest=approval.digest,
                key=key,
                now=self.remediator.now(),
            )
        except TokenInvalid as problem:
            return problem
        return None

    # --- deciding ---

    def decide(
        self,
        approval_id: str,
        decision: str,
        *,
        approver: str | None,
        token: str | None = None,
        from_link: bool = True,
        groups: frozenset[str] = frozenset(),
    ) -> Decision:
        if decision not in (APPROVE_DECISION, REJECT_DECISION):
            return Decision(INVALID, f"unknown decision {decision!r} (approve or reject)")
        found = self.ledger.approval(approval_id)
        if found is None:
            return Decision(UNKNOWN, "no such approval")
        approval, etag = found
        if from_link:
            problem = self._token_problem(approval, token)
            if problem is not None:
                if problem.expired:
                    self._expire(approval, etag)
                    return Decision(EXPIRED_LINK, f"{problem.reason}; nothing was changed", approval)
                return Decision(INVALID, f"{problem.reason}; nothing was changed", approval)
            if not self.allowed(approver, groups):
                who = approver or "an anonymous visitor"
                return Decision(
                    NOT_ALLOWED,
                    f"{who} is not on the approvers' list (APPROVERS); nothing was changed",
                    approval,
                )
        if approval.state != PENDING:
            return Decision(ALREADY, describe_state(approval), approval)
        now = self.remediator.now()
        if now >= approval.expires_at:
            self._expire(approval, etag)
            return Decision(
                EXPIRED_LINK,
                f"the approval expired at {format_time(approval.expires_at)}; nothing was changed",
                approval,
            )
        who = approver or "anonymous"
        claimed = replace(
            approval,
            state=APPROVED if decision == APPROVE_DECISION else REJECTED,
            decided_by=who,
            decided_at=now,
        )
        if not self.ledger.save_approval(claimed, etag):
            latest = self.ledger.approval(approval_id)
            return Decision(ALREADY, describe_state(latest[0] if latest else approval), approval)
        if decision == REJECT_DECISION:
            return self._rejected(claimed, who)
        return self._approved(claimed, who)

    def _expire(self, approval: Approval, etag: str) -> None:
        if approval.state == PENDING:
            expired = replace(
                approval, state=EXPIRED, reason="expired without a decision", decided_at=self.remediator.now()
            )
            self.ledger.save_approval(expired, etag)

    def _run(self, approval: Approval, who: str, clients: AzureClients) -> _Run:
        policy = Policy(APPROVE, None, f"approved by {who}")
        run = _Run(self.remediator, approval.gateway_id, approval.incident_id, clients, policy, manual=False)
        run.mode_label = f"approve ({who})"
        run.approver = who
        return run

    def _finish(
        self,
        approval: Approval,
        who: str,
        decision: str,
        result: ActionResult | None,
        message: str,
        *,
        outcome: str = DONE,
        new_link: ApprovalLink | None = None,
    ) -> Decision:
        found = self.ledger.approval(approval.id)
        if found is not None:
            stored, etag = found
            updated = replace(stored, result=result.to_dict() if result else None, reason=message)
            if outcome == GONE:
                updated = replace(updated, state=CANCELLED)
            if outcome == REPLANNED and new_link is not None:
                updated = replace(updated, state=SUPERSEDED, replaced_by=new_link.id)
            self.ledger.save_approval(updated, etag)
            approval = updated
        if self._notify is not None:
            try:
                self._notify(approval, decision, who, result, message, new_link)
            except Exception:  # the decision stands; the log says the follow-up was not sent
                log.exception("the follow-up message for approval %s could not be sent", approval.id)
        return Decision(outcome, message, approval, result, new_link)

    def _rejected(self, approval: Approval, who: str) -> Decision:
        finding = Finding.from_dict(approval.finding)
        clients = self._clients_for(subscription_of(approval.gateway_id))
        run = self._run(approval, who, clients)
        message = f"rejected by {who}; nothing was changed"
        run.audit(
            "reject", SKIPPED, finding.code, approval.action, resource=approval.resource, reason=message
        )
        result = ActionResult(
            approval.action,
            finding.code,
            approval.resource,
            SKIPPED,
            message,
            approval.change,
            approval.command,
        )
        return self._finish(approval, who, REJECT_DECISION, result, message)

    def _approved(self, approval: Approval, who: str) -> Decision:
        finding = Finding.from_dict(approval.finding)
        clients = self._clients_for(subscription_of(approval.gateway_id))
        run = self._run(approval, who, clients)
        action = self.remediator.action(approval.action)
        if action is None:
            return self._finish(
                approval, who, APPROVE_DECISION, None, f"no action {approval.action} in this version"
            )
        rediagnose = self._rediagnose_for(approval.gateway_id, clients, approval.incident_time)
        try:
            current = rediagnose()
        except Exception as error:
            message = (
                f"approved by {who}, but the gateway could not be diagnosed again: {error}; "
                "nothing was changed"
            )
            return self._finish(approval, who, APPROVE_DECISION, None, message)
        if _key(finding) not in {_key(f) for f in current}:
            message = f"approved by {who}, but {finding.code} is no longer found; nothing was changed"
            return self._finish(approval, who, APPROVE_DECISION, None, message, outcome=GONE)
        fresh = next(f for f in current if _key(f) == _key(finding))
        ctx = run.context()
        try:
            planned = action.plan(ctx, fresh)
        except (Refused, ArmCallFailed) as error:
            reason = getattr(error, "reason", str(error))
            result = run.result(
                fresh, approval.action, REFUSED, f"approved by {who}, but: {reason}", step="refuse"
            )
            return self._finish(approval, who, APPROVE_DECISION, result, result.reason)
        if plan_digest(plan_fields(planned, approval.gateway_id)) != approval.digest or planned.needs_person:
            replanned = run.request_approval(planned, fresh)
            message = (
                f"approved by {who}, but the gateway changed since the plan was made; "
                "the fix was planned again "
                "from what is there now and waits for a new approval; nothing was changed"
            )
            return self._finish(
                approval,
                who,
                APPROVE_DECISION,
                replanned,
                message,
                outcome=REPLANNED,
                new_link=replanned.approval,
            )
        stopped = run.guards(action, ctx, planned, fresh)
        if stopped is not None:
            return self._finish(
                approval, who, APPROVE_DECISION, stopped, f"approved by {who}, but: {stopped.reason}"
            )
        result = run.reserve_and_apply(action, planned, fresh, current, rediagnose)
        message = f"approved by {who}: {result.status}" + (f" ({result.reason})" if result.reason else "")
        return self._finish(approval, who, APPROVE_DECISION, result, message)


def describe_state(approval: Approval) -> str:
    """One line on an approval that is no longer pending."""
    when = f" at {format_time(approval.decided_at)}" if approval.decided_at else ""
    if approval.state in (APPROVED, REJECTED):
        verb = "approved" if approval.state == APPROVED else "rejected"
        outcome = ""
        if approval.result:
            outcome = f"; the fix was {approval.result.get('status')}"
        return f"already decided: {verb} by {approval.decided_by or 'anonymous'}{when}{outcome}"
    if approval.state == EXPIRED:
        return f"the approval expired{when}; nothing was changed"
    if approval.state == CANCELLED:
        return (
            f"the approval was cancelled{when}: {approval.reason or 'no longer needed'}; nothing was changed"
        )
    if approval.state == SUPERSEDED:
        return f"the plan was made again (approval {approval.replaced_by}); use the newer link"
    return f"the approval is {approval.state}"
