"""What a notification says, built once and rendered by every channel (Teams card, email).

`build_message` turns a diagnosis (findings, check results, remediation results) and what started it
(an alert, a resource change, a scheduled sweep) into an `IncidentMessage`: plain immutable data with
everything a person needs at 3 a.m. already worded. The renderers only lay it out.

A message reads like an engineer's: the causes first, worst first (`model.findings.reading_order`),
then the symptoms they explain (every server of a pool unhealthy), then notes; the headline names the
top cause and counts causes, not symptoms, and when only symptoms were found it says so. Evidence is a
few readable facts (notifications.evidence), not data.

Remediation is `model.remediation.ActionResult`, one per action, with the mode it ran in and its note.
The wording every renderer shares is here (`status_word`, `action_title`, `change_text`,
`action_command`, `remediation_heading`): a rolled-back or failed fix makes the message critical and
opens its headline (`Fix rolled back on agw: ...`), so a rollback is never a quiet message, and a
verified fix is named in the headline (`...; fixed: requestTimeout 20 s -> 60 s ...`).

Mode `approve`: a fix awaiting a person's approval (status `planned` with an `ApprovalLink`) reads
"Awaiting your approval", with its Approve and Reject links (`approval_links`; the page behind them
asks to confirm, a GET never decides), or the CLI commands when the app has no public URL
(`approval_commands`), and when the link expires (`approval_expiry`); the headline counts them
(`...; 1 fix awaits approval`). `build_approval_message` is the follow-up once a person decided:
approved (and how the fix went), rejected, or re-planned (the gateway changed: a new link).

What changed (`model.changes.PathChange`, on `Finding.changes`, newest first): when the top cause
(`IncidentMessage.causes[0]`) has changes, the message leads with its newest one (`Culprit`): the
headline says what changed, when (relative to the alert's fired time, else to this check: `6 min
before the alert`, `2 h before this check`; a diff: `since the last healthy check at 09:10 UTC`), who
(`an unknown caller` when the log does not say; the bot's own change is labelled so) and with what,
and every renderer shows it first with the `az` command that would undo it ("To undo (for a person)").
Each finding carries its changes worded (`ChangeLine`): at most `CHANGES_SHOWN`, the rest counted.
A change-triggered message names who made the change: `alice@contoso.com's edit of NSG nsg-web at
10:21 UTC: <the new cause> — 502s will follow`.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from core.arm_ids import ArmId
from core.iso8601 import spoken_duration
from model.changes import ACTIVITY_LOG, APPGW_DOCTOR, LAST_HEALTHY_DIFF, PathChange
from model.findings import CheckResult, CheckStatus, Finding, Role, Severity, reading_order, role_of
from model.remediation import (
    APPLIED,
    FAILED,
    PLANNED,
    REFUSED,
    ROLLED_BACK,
    SKIPPED,
    VERIFIED,
    ActionResult,
    Approval,
    ApprovalLink,
)
from notifications.bounds import CLI, LINK_MAX, count, cut
from notifications.evidence import evidence_facts
from notifications.text import clean

Kind = Literal["incident", "resolved", "approval"]
PORTAL_BASE = "https://portal.azure.com/#@/resource"
_REASON_IN_HEADLINE = 160  # the full reason is in the summary
_FIX_IN_HEADLINE = 120  # a fix named in the headline (its block below has it whole)

# What each remediation status means, in words a person reads at 3 a.m.
STATUS_WORDS = {
    PLANNED: "Would do (dry-run)",
    APPLIED: "Applied, not yet verified",
    VERIFIED: "Fixed and verified",
    ROLLED_BACK: "Rolled back",
    REFUSED: "Refused",
    SKIPPED: "Skipped",
    FAILED: "Failed",
}
AWAITING_APPROVAL = "Awaiting your approval"  # a plan with an approval link (mode `approve`)
# Statuses that need a person now: the message is critical and its headline says so.
ALARMING = frozenset({ROLLED_BACK, FAILED})
_MODE_WORDS = {
    "dry-run": "dry-run (nothing was changed)",
    "approve": "approve (each fix waits for a person's approval)",
}
# What a person decided about a planned fix (`build_approval_message`), and the spellings accepted.
APPROVED, REJECTED, REPLANNED, EXPIRED = "approved", "rejected", "re-planned", "expired"
DECISIONS = (APPROVED, REJECTED, REPLANNED, EXPIRED)
_DECISION_ALIASES = {"approve": APPROVED, "reject": REJECTED, "replanned": REPLANNED, "replan": REPLANNED}
_APPROVER_MAX = 120
_DECISION_LINKS = (("Approve", "approve"), ("Reject", "reject"))  # (button, `decision=` the page preselects)
_MODE_MAX = 60
# What changed (model.changes): how much of each change a message words, and how many per finding.
CHANGES_SHOWN = 3  # a finding's changes shown, newest first; the rest counted (`and N more`)
UNDO_LABEL = "To undo (for a person)"  # the `az` command is text to read, never run by the bot
BOT_CALLER = "appgw-doctor (the bot's own change)"
UNKNOWN_CALLER = "an unknown caller"
_CHANGE_SUMMARY_MAX = 240
_CALLER_MAX = 120
_CLIENT_MAX = 60
_STATUS_MAX = 40
_UNDO_MAX = 4_000
_SOURCE_WORDS = {
    ACTIVITY_LOG: "the Activity Log",
    LAST_HEALTHY_DIFF: "a diff against the gateway's last healthy configuration",
    APPGW_DOCTOR: "appgw-doctor's own record of its changes",
}
_QUIET_STATUSES = frozenset({"", "succeeded", "changed", "accepted"})  # not worth a word

# Child-resource segments of an ARM id, as a person calls them.
_CHILD_KINDS = {
    "backendaddresspools": "backend pool",
    "backendhttpsettingscollection": "backend settings",
    "probes": "health probe",
    "requestroutingrules": "routing rule",
    "httplisteners": "listener",
    "urlpathmaps": "URL path map",
    "pathrules": "path rule",
    "sslcertificates": "certificate",
    "securityrules": "NSG rule",
    "routes": "route",
    "subnets": "subnet",
    "ipconfigurations": "IP configuration",
}
_OPERATORS = {
    "GreaterThan": ">",
    "GreaterThanOrEqual": ">=",
    "LessThan": "<",
    "LessThanOrEqual": "<=",
    "Equals": "=",
}
_TOP_KINDS = {
    "applicationgateways": "application gateway",
    "networksecuritygroups": "NSG",
    "routetables": "route table",
    "virtualnetworks": "virtual network",
    "networkinterfaces": "network interface",
    "publicipaddresses": "public IP",
}


class MessageError(ValueError):
    """Input that cannot become a message (a malformed resource id)."""


@dataclass(frozen=True)
class ResourceRef:
    """An ARM resource id split into what a person reads: name, kind, group, subscription, portal link."""

    id: str
    name: str
    kind: str
    parent: str | None
    resource_group: str
    subscription: str
    portal_url: str

    @classmethod
    def parse(cls, resource_id: str) -> ResourceRef:
        try:
            arm = ArmId.parse(resource_id)
        except ValueError as error:
            raise MessageError(str(error)) from None
        kinds = _CHILD_KINDS if arm.is_child else _TOP_KINDS
        return cls(
            id=resource_id,
            name=arm.name,
            kind=kinds.get(arm.resource_type.lower(), arm.resource_type),
            parent=arm.holder,
            resource_group=arm.resource_group,
            subscription=arm.subscription,
            # Child resources have no portal blade of their own; the parent's blade shows them. The id
            # is percent-encoded: a name is outside text, and must not end or change the link.
            portal_url=f"{PORTAL_BASE}{quote(clean(arm.top_id), safe='/')}/overview",
        )

    @property
    def label(self) -> str:
        """`deny-all (NSG rule in nsg-agw)`: the name, what it is and what holds it."""
        return f"{self.name} ({self.kind} in {self.parent})" if self.parent else f"{self.name} ({self.kind})"


@dataclass(frozen=True)
class AlertFacts:
    """The essentials of the Azure Monitor alert that started the incident (common alert schema)."""

    rule: str
    severity: str
    fired_at: str
    condition: str
    metric: str | None = None
    metric_value: str | None = None

    @classmethod
    def from_common_schema(cls, data: Mapping[str, Any]) -> AlertFacts:
        """Read the `data` object of a common-alert-schema payload; missing parts read as empty."""
        essentials = data.get("essentials") or {}
        metric = value = None
        context = data.get("alertContext") or {}
        criteria = ((context.get("condition") or {}).get("allOf")) or []
        if criteria:
            first = criteria[0]
            metric = first.get("metricName")
            if first.get("metricValue") is not None:
                value = _number(first["metricValue"])
                if first.get("threshold") is not None:
                    operator = _OPERATORS.get(str(first.get("operator")), str(first.get("operator") or ""))
                    value += f" (alert when {operator} {first['threshold']})"
        return cls(
            rule=str(essentials.get("alertRule") or "unnamed alert rule"),
            severity=str(essentials.get("severity") or ""),
            fired_at=str(essentials.get("firedDateTime") or ""),
            condition=str(essentials.get("monitorCondition") or ""),
            metric=metric,
            metric_value=value,
        )


@dataclass(frozen=True)
class ChangeFacts:
    """The resource write (or deletion) that made the doctor look at a gateway again."""

    resource_id: str
    operation: str
    event_time: str | None = None
    caller: str | None = None  # who made it (the event's claims: alice@contoso.com, `app <appid>`)

    @property
    def who(self) -> str | None:
        """The caller on one bounded line; None when unknown."""
        caller = " ".join(self.caller.split()) if self.caller else ""
        return cut(caller, _CALLER_MAX) if caller else None

    @property
    def resource(self) -> ResourceRef | None:
        try:
            return ResourceRef.parse(self.resource_id)
        except MessageError:
            return None

    @property
    def what(self) -> str:
        """`NSG nsg-agw`: the changed resource as a person names it."""
        ref = self.resource
        if ref is None:
            return self.resource_id
        return f"{ref.kind} {ref.name}" if ref.parent is None else f"{ref.kind} {ref.name} in {ref.parent}"

    @property
    def verb(self) -> str:
        """`deleted` when the resource itself was deleted; `changed` for any write, or a child's deletion
        (a rule deleted from an NSG changes the NSG)."""
        types = self.operation.strip("/").split("/")[1:-1]
        deleted = self.operation.lower().endswith("/delete") and len(types) <= 1
        return "deleted" if deleted else "changed"

    @property
    def sentence(self) -> str:
        """`NSG nsg-agw was changed at 2026-11-25T09:40:00+00:00 by alice@contoso.com` (the operation is
        one of the facts)."""
        when = f" at {self.event_time}" if self.event_time else ""
        who = f" by {self.who}" if self.who else ""
        return f"{self.what} was {self.verb}{when}{who}"

    @property
    def edit(self) -> str | None:
        """`alice@contoso.com's edit of NSG nsg-web at 10:21 UTC` (`deletion` for a deletion); None
        when the caller is unknown."""
        if not self.who:
            return None
        noun = "deletion" if self.verb == "deleted" else "edit"
        when = f" at {clock(self.event_time)}" if self.event_time else ""
        return f"{self.who}'s {noun} of {self.what}{when}"


@dataclass(frozen=True)
class ChangeLine:
    """One change on a finding's path (`model.changes.PathChange`), worded: what (`summary`), when
    (`when`, relative: `6 min before the alert`; `at`, the clock time), who (`who`: the caller and
    the client, `an unknown caller`, or the bot's own change) and how to undo it. Every part is
    outside text (Activity Log claims): renderers escape it like any other."""

    summary: str
    when: str
    at: str | None
    who: str
    source: str
    undo: str | None = None
    status: str = ""

    @property
    def own(self) -> bool:
        """The change is the bot's own (a fix it applied)."""
        return self.source == APPGW_DOCTOR

    @property
    def sentence(self) -> str:
        """`Rule DenyAllInbound added to NSG nsg-agw, 6 min before the alert by alice@contoso.com
        (Azure CLI)`."""
        return f"{self.summary}, {self.when} by {self.who}{self._status}"

    @property
    def line(self) -> str:
        """The compact form a finding lists: `Rule DenyAllInbound added to NSG nsg-agw — 6 min before
        the alert (10:21 UTC), by alice@contoso.com (Azure CLI)`."""
        at = f" ({self.at})" if self.at else ""
        return f"{self.summary} — {self.when}{at}, by {self.who}{self._status}"

    @property
    def _status(self) -> str:
        return "" if self.status.lower() in _QUIET_STATUSES else f" (status: {self.status})"


@dataclass(frozen=True)
class Culprit:
    """The newest change to the top cause's resource or its parents: what the message leads with."""

    change: ChangeLine
    finding_title: str

    @property
    def text(self) -> str:
        """`Rule DenyAllInbound added to NSG nsg-agw, 6 min before the alert by alice@contoso.com (Azure
        CLI): NSG blocks infrastructure ports 65200-65535 from GatewayManager`."""
        return f"{self.change.sentence}: {self.finding_title}"

    @property
    def undo(self) -> str | None:
        return self.change.undo

    @property
    def source(self) -> str:
        """Where the change is known from, in words (`the Activity Log`)."""
        return _SOURCE_WORDS.get(self.change.source, self.change.source)


@dataclass(frozen=True)
class FindingLine:
    """One finding as it is shown: worded, its resource resolved, its evidence as a few (label, value)
    facts, and whether it is a cause, a symptom or a note (`model.findings.role_of`)."""

    code: str
    severity: Severity
    title: str
    resource: ResourceRef | None
    resource_id: str
    evidence: tuple[tuple[str, str], ...]
    fix_summary: str
    fix_command: str | None
    fix_action: str | None
    role: Role = Role.CAUSE
    changes: tuple[ChangeLine, ...] = ()  # the newest `CHANGES_SHOWN` changes on its path, worded
    changes_not_shown: int = 0  # how many older changes there are besides

    @property
    def resource_label(self) -> str:
        return self.resource.label if self.resource else self.resource_id

    @property
    def more_changes(self) -> str | None:
        """`and 4 more changes (the incident record lists them)`; None when every change is shown."""
        hidden = self.changes_not_shown
        if not hidden:
            return None
        return f"and {count(hidden, 'more change')} (the incident record lists them)"


@dataclass(frozen=True)
class CheckLine:
    name: str
    status: CheckStatus
    reason: str


@dataclass(frozen=True)
class IncidentMessage:
    """Everything a notification says. `level` decides routing: see `message_level`.

    `message_id` names the message (files, email threading): the incident id when there is an
    incident, else the id of the diagnosis that produced it. `incident_id` is None for preventive
    messages (a change or a sweep), which belong to no incident.
    """

    kind: Kind
    gateway: ResourceRef
    message_id: str
    incident_id: str | None
    record_url: str | None
    alert: AlertFacts | None
    findings: tuple[FindingLine, ...]
    checks: tuple[CheckLine, ...]
    actions: tuple[ActionResult, ...]
    level: Severity
    headline: str
    summary: str
    resolved_at: str | None = None
    change: ChangeFacts | None = None
    diagnosis_error: str | None = None
    findings_not_recorded: int = 0  # the incident record keeps the most severe; this many did not fit
    remediation_mode: str | None = None  # off | dry-run | auto, when remediation ran
    remediation_note: str | None = None  # why the mode is what it is (e.g. a tag value not understood)
    decision: str | None = None  # kind `approval`: what was decided (`DECISIONS`)
    decision_facts: tuple[tuple[str, str], ...] = ()  # kind `approval`: the approval, who decided, a note
    culprit: Culprit | None = None  # the top cause's newest change: what the message leads with

    @property
    def shows_remediation(self) -> bool:
        """Whether the message has a Remediation section: an action to show, or a note to read."""
        return bool(self.actions or self.remediation_note)

    @property
    def pending_approvals(self) -> tuple[ActionResult, ...]:
        """The actions awaiting a person's approval (mode `approve`)."""
        return tuple(a for a in self.actions if awaits_approval(a))

    @property
    def causes(self) -> tuple[FindingLine, ...]:
        """Findings that cause 502s (critical and warning, not symptoms), the top cause first."""
        return tuple(f for f in self.findings if f.role is Role.CAUSE)

    @property
    def symptoms(self) -> tuple[FindingLine, ...]:
        """Findings that say *that* backends fail, not why (every server unhealthy, health unknown)."""
        return tuple(f for f in self.findings if f.role is Role.SYMPTOM)

    @property
    def notes(self) -> tuple[FindingLine, ...]:
        """Info findings: worth knowing, not a cause."""
        return tuple(f for f in self.findings if f.role is Role.NOTE)

    @property
    def findings_tally(self) -> str:
        """`2 causes, 1 symptom, 1 note`: what the findings are, for the findings heading."""
        counts = ((len(self.causes), "cause"), (len(self.symptoms), "symptom"), (len(self.notes), "note"))
        return ", ".join(count(number, noun) for number, noun in counts if number)

    @property
    def checks_not_run(self) -> tuple[CheckLine, ...]:
        """Checks that should have run and could not (an error): the diagnosis is partial."""
        return tuple(c for c in self.checks if c.status is CheckStatus.ERROR)

    @property
    def checks_not_applicable(self) -> tuple[CheckLine, ...]:
        """Checks that do not apply to this gateway (skipped: no route table, no HTTPS settings...)."""
        return tuple(c for c in self.checks if c.status is CheckStatus.SKIPPED)

    @property
    def checks_run(self) -> tuple[CheckLine, ...]:
        return tuple(c for c in self.checks if c.status in (CheckStatus.PASSED, CheckStatus.FAILED))

    def facts(self) -> list[tuple[str, str]]:
        """The (title, value) pairs both renderers show under the headline."""
        gateway = self.gateway
        facts = [
            ("Gateway", gateway.name),
            ("Resource group", gateway.resource_group),
            ("Subscription", gateway.subscription),
        ]
        alert = self.alert
        if alert:
            details = ", ".join(part for part in (alert.severity, alert.condition) if part)
            facts.append(("Alert", f"{alert.rule} ({details})" if details else alert.rule))
            if alert.fired_at:
                facts.append(("Fired", alert.fired_at))
            if alert.metric:
                metric = f"{alert.metric} = {alert.metric_value}" if alert.metric_value else alert.metric
                facts.append(("Metric", metric))
        change = self.change
        if change:
            facts.append(("Changed", f"{change.what} ({change.operation})"))
            if change.event_time:
                facts.append(("Changed at", change.event_time))
            if change.who:
                facts.append(("Changed by", change.who))
        if self.resolved_at:
            facts.append(("Resolved", self.resolved_at))
        facts += self.decision_facts
        if self.incident_id:
            facts.append(("Incident", self.incident_id))
        elif self.kind != "approval":  # an approval's id is among its decision facts
            facts.append(("Diagnosis", self.message_id))
        return facts

    def links(self) -> list[tuple[str, str]]:
        """(title, url) pairs: the gateway in the portal, and the incident record when there is one."""
        links = [("Open in portal", self.gateway.portal_url)]
        if self.record_url:
            links.append(("Incident record", self.record_url))
        return links

    @property
    def subject(self) -> str:
        """`[CRITICAL] agw-contoso: 2 causes of 502s — NSG blocks infrastructure ports`; for an approval's
        follow-up `[CRITICAL] agw-contoso: Approved by alice@contoso.com: requestTimeout ...`."""
        tag = "RESOLVED" if self.kind == "resolved" else self.level.value.upper()
        return f"[{tag}] {self.gateway.name}: {self.headline}"


def build_message(
    gateway_id: str,
    *,
    findings: Iterable[Finding],
    incident_id: str | None = None,
    diagnosis_id: str | None = None,
    checks: Iterable[CheckResult] = (),
    alert: Mapping[str, Any] | None = None,
    change: ChangeFacts | None = None,
    new_only: bool = False,
    diagnosis_error: str | None = None,
    actions: Iterable[ActionResult] = (),
    remediation_mode: str | None = None,
    remediation_note: str | None = None,
    record_url: str | None = None,
    findings_not_recorded: int = 0,
    checked_at: datetime | str | None = None,
) -> IncidentMessage:
    """The message for one diagnosed gateway.

    What started it: `alert` (the `data` object of a common-alert-schema payload), or `change` (a
    resource write), or neither (a scheduled sweep). `new_only` says the findings are only those the
    previous diagnosis had not seen (preventive checks tell only what is new). `diagnosis_error` is
    why the diagnosis itself failed, when it did. The message is named by `incident_id`, else
    `diagnosis_id`, else a fresh id. `findings_not_recorded`: how many findings the incident record
    could not keep (it keeps the most severe within its size budget), so the message does not
    promise the full list there. `actions`, `remediation_mode` and `remediation_note`: what the
    remediate stage did (`model.remediation.RemediationResult`); a rolled-back or failed action makes
    the message critical. `checked_at`: when the gateway was diagnosed (the incident time; default:
    now), what a finding's changes are timed against when no alert fired (`2 h before this check`).
    """
    gateway = ResourceRef.parse(gateway_id)
    action_results = tuple(actions)
    alert_facts = AlertFacts.from_common_schema(alert) if alert is not None else None
    reference = _reference(alert_facts, checked_at)
    lines = tuple(
        sorted(
            (_finding_line(f, reference) for f in findings),
            key=lambda f: (*reading_order(f.code, f.severity), f.title),
        )
    )
    check_lines = tuple(CheckLine(c.name, CheckStatus(c.status), c.reason) for c in checks)
    level = message_level(lines, check_lines, alerted=alert_facts is not None, actions=action_results)
    if diagnosis_error is not None:
        level = _at_least_warning(level)
    culprit = _culprit(lines) if diagnosis_error is None else None
    headline, summary = _wording(lines, check_lines, alert_facts, change, new_only, diagnosis_error, culprit)
    headline, summary = _remediation_wording(headline, summary, gateway, action_results)
    return IncidentMessage(
        kind="incident",
        gateway=gateway,
        message_id=incident_id or diagnosis_id or uuid.uuid4().hex,
        incident_id=incident_id,
        record_url=record_url,
        alert=alert_facts,
        findings=lines,
        checks=check_lines,
        actions=action_results,
        level=level,
        headline=headline,
        summary=summary,
        change=change,
        diagnosis_error=diagnosis_error,
        findings_not_recorded=findings_not_recorded,
        remediation_mode=remediation_mode,
        remediation_note=remediation_note,
        culprit=culprit,
    )


def build_resolution_message(
    gateway_id: str,
    *,
    incident_id: str,
    incident_level: Severity,
    alert: Mapping[str, Any] | None = None,
    resolved_at: datetime | str | None = None,
    record_url: str | None = None,
) -> IncidentMessage:
    """The short message sent when the alert resolves.

    `incident_level` is the level the incident's message had (`message_level` of its findings and
    checks, alerted): routing then sends the resolution to exactly the channels that got the incident.
    """
    gateway = ResourceRef.parse(gateway_id)
    alert_facts = AlertFacts.from_common_schema(alert) if alert is not None else None
    when = resolved_at.isoformat() if isinstance(resolved_at, datetime) else resolved_at
    rule = f"Alert {alert_facts.rule}" if alert_facts else "Incident"
    summary = f"{rule} on {gateway.name} resolved" + (f" at {when}." if when else ".")
    return IncidentMessage(
        kind="resolved",
        gateway=gateway,
        message_id=incident_id,
        incident_id=incident_id,
        record_url=record_url,
        alert=alert_facts,
        findings=(),
        checks=(),
        actions=(),
        level=incident_level,
        headline=f"{rule} resolved",
        summary=summary,
        resolved_at=when,
    )


def build_approval_message(
    approval: Approval,
    *,
    decision: str,
    approver: str,
    result: ActionResult | None,
    note: str | None,
    new_link: ApprovalLink | None,
    record_url: str | None = None,
) -> IncidentMessage:
    """The follow-up once a person decided about a planned fix (mode `approve`), about the incident
    the approval belongs to (kind `approval`, named by the approval's id; its email threads under the
    incident's).

    `decision` (`approve`/`reject` are read as `approved`/`rejected`): `approved` (`result` is what
    applying did: verified, applied, rolled back, failed, refused; None: it was not applied, and
    `note` says why), `rejected` (nothing was changed; `result` the skipped plan, when given),
    `re-planned` (the gateway changed since the plan, so
    the approval was superseded: `new_link` is the new approval's, and `result` the new plan when the
    caller has it, else the old plan is shown with the new link) or `expired`. `approver` is who
    decided; `note` what they (or the doctor) said. The headline says who decided what and how it
    went: `Approved by alice@contoso.com: requestTimeout 20 s -> 30 s on settings web-settings — fixed
    and verified`, `Approved by ... but rolled back: ...`, `Rejected by ...`, `Re-planned: the gateway
    changed since the plan; approve the new plan`.

    The level is the one the approval request had (its finding's severity, at least `warning` for an
    incident), so the follow-up reaches the channels that got the request; a fix rolled back or
    failed makes it critical (`message_level`).
    """
    gateway = ResourceRef.parse(approval.gateway_id)
    decided = _DECISION_ALIASES.get(decision.strip().lower(), decision.strip().lower())
    if decided not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}; expected one of {', '.join(DECISIONS)}")
    who = cut(" ".join(approver.split()) or "someone", _APPROVER_MAX)
    finding_code = str(approval.finding.get("code") or "")
    planned = ActionResult(
        action=approval.action,
        finding=finding_code,
        resource=approval.resource,
        status=PLANNED,
        change=approval.change,
        command=approval.command or None,
        undo=approval.undo or None,
    )
    what = cut(change_text(planned) or action_title(planned), _FIX_IN_HEADLINE)
    requested = f" (requested by {approval.requested_by})" if approval.requested_by else ""
    asked = f"The fix {action_title(planned)}{requested}"
    shown: ActionResult | None
    if decided == APPROVED:
        shown = result
        headline, said = _approved_wording(who, what, result, note)
        summary = f"{asked} was approved by {who}; {said}"
    elif decided == REJECTED:
        shown = result or replace(
            planned, status=SKIPPED, reason=f"rejected by {who}" + (f": {note}" if note else "")
        )
        headline = f"Rejected by {who}: {what} — nothing was changed"
        summary = f"{asked} was rejected by {who}; nothing was changed."
    elif decided == REPLANNED:
        base = result if result is not None and result.status == PLANNED else planned
        link = new_link or base.approval
        reason = base.reason or "re-planned: the gateway changed since the first plan"
        shown = replace(base, approval=link, reason=reason)
        headline = "Re-planned: the gateway changed since the plan; " + (
            "approve the new plan" if link else "nothing was changed"
        )
        summary = (
            f"{asked} was approved by {who} but not applied: the gateway changed after it was planned, "
            "so it was planned again"
            + (f"; the new plan awaits your approval until {utc_time(link.expires_at)}." if link else ".")
        )
    else:  # expired
        until = utc_time(approval.expires_at)
        shown = replace(planned, status=SKIPPED, reason=f"nobody approved it before {until}")
        headline = f"Approval expired: {what} — nothing was changed"
        summary = f"{asked} was not decided before {until}; nothing was changed."
    actions = (shown,) if shown is not None else ()
    finding = _approval_finding(approval)
    alerted = approval.incident_id is not None
    level = message_level([finding] if finding else [], [], alerted=alerted, actions=actions)
    if finding is None:
        level = _at_least_warning(level)
    facts: list[tuple[str, str]] = []
    title = approval.finding.get("title")
    if title:
        facts.append(("Finding", f"{title} ({finding_code})" if finding_code else str(title)))
    facts.append(("Approval", approval.id))
    verb = {APPROVED: "Approved by", REJECTED: "Rejected by", REPLANNED: "Approved by"}.get(decided)
    if verb:
        when = f" at {utc_time(approval.decided_at)}" if approval.decided_at else ""
        facts.append((verb, who + when))
    if note:
        facts.append(("Note", note))
    return IncidentMessage(
        kind="approval",
        gateway=gateway,
        message_id=approval.id,
        incident_id=approval.incident_id,
        record_url=record_url,
        alert=None,
        findings=(),
        checks=(),
        actions=actions,
        level=level,
        headline=headline,
        summary=summary,
        remediation_mode="approve",
        decision=decided,
        decision_facts=tuple(facts),
    )


def _approved_wording(who: str, what: str, result: ActionResult | None, note: str | None) -> tuple[str, str]:
    """(headline, the summary's end) for an approved fix, by what applying it did; without a result
    it was not applied (the finding is gone, the gateway could not be diagnosed again...): `note`
    says why."""
    status = result.status if result is not None else None
    why = f": {cut(result.reason, _REASON_IN_HEADLINE)}" if result is not None and result.reason else ""
    if result is None:
        said = f"{cut(note, _REASON_IN_HEADLINE * 2)}." if note else "it was not applied."
        return f"Approved by {who} but not applied: {what} — nothing was changed", said
    if status == VERIFIED:
        seen = f": {cut(result.verification, _REASON_IN_HEADLINE)}" if result.verification else ""
        return f"Approved by {who}: {what} — fixed and verified", f"the fix is verified{seen}."
    if status == APPLIED:
        return (
            f"Approved by {who}: {what} — applied, not yet verified",
            "it was applied; the next diagnosis verifies it.",
        )
    if status == ROLLED_BACK:
        return f"Approved by {who} but rolled back: {what}{why}", f"it was applied and rolled back{why}."
    if status == FAILED:
        return f"Approved by {who} but failed: {what}{why}", f"applying it failed{why}."
    if status == REFUSED:
        return f"Approved by {who} but refused: {what}{why}", f"a guard refused it{why}; nothing was changed."
    return f"Approved by {who} but not applied: {what}{why}", f"it was not applied{why}."


def _approval_finding(approval: Approval) -> Finding | None:
    """The finding the approval answers, as recorded with it; None when the record cannot say."""
    try:
        return Finding.from_dict(approval.finding)
    except (KeyError, TypeError, ValueError):
        return None


def message_level(
    findings: Iterable[FindingLine | Finding],
    checks: Iterable[CheckLine | CheckResult],
    *,
    alerted: bool,
    actions: Iterable[ActionResult] = (),
) -> Severity:
    """How loud the message is: the worst finding's severity, at least `warning` when an alert fired
    or a check could not run, and `critical` when a fix was rolled back or failed.

    An alert that fired needs a person whatever was found (a 502 alert explained only by an info note
    is not explained), and a partial diagnosis is not an all-clear. A fix that did not heal (rolled
    back) or could not be made or undone (failed) changed, or tried to change, production: a person
    looks now, whatever the findings were. Otherwise the message is info.
    """
    if any(action.status in ALARMING for action in actions):
        return Severity.CRITICAL
    severities = [Severity(f.severity) for f in findings]
    level = min(severities, key=lambda s: s.rank) if severities else Severity.INFO
    if alerted or any(CheckStatus(c.status) is CheckStatus.ERROR for c in checks):
        level = _at_least_warning(level)
    return level


def status_word(action: ActionResult) -> str:
    """`Fixed and verified`, `Would do (dry-run)`, `Awaiting your approval`, `Rolled back`...: the
    status as a person reads it."""
    return AWAITING_APPROVAL if awaits_approval(action) else STATUS_WORDS[action.status]


def awaits_approval(action: ActionResult) -> bool:
    """A planned fix waiting for a person (mode `approve`): planned, with an approval link."""
    return action.status == PLANNED and action.approval is not None


def approval_links(action: ActionResult) -> list[tuple[str, str]]:
    """`[("Approve", url&decision=approve), ("Reject", url&decision=reject)]` for a fix awaiting
    approval whose page has a URL (the page preselects the decision; deciding still takes its POST);
    empty otherwise, and for a URL too long to show (a cut link opens the wrong page)."""
    link = action.approval if awaits_approval(action) else None
    if link is None or not link.url:
        return []
    joiner = "&" if "?" in link.url else "?"
    links = [(title, f"{link.url}{joiner}decision={decision}") for title, decision in _DECISION_LINKS]
    return links if all(len(url) <= LINK_MAX for _, url in links) else []


def approval_commands(action: ActionResult) -> list[tuple[str, str]]:
    """For a fix awaiting approval that has no link to show (the app has no public URL): the CLI
    commands that decide it, `[("Approve from a terminal", "appgw-doctor approve ID"), ("Reject",
    "appgw-doctor reject ID")]`; empty otherwise."""
    link = action.approval if awaits_approval(action) else None
    if link is None or approval_links(action):
        return []
    approval_id = shlex.quote(cut(link.id, 200))
    return [
        ("Approve from a terminal", f"{CLI} approve {approval_id}"),
        ("Reject", f"{CLI} reject {approval_id}"),
    ]


def approval_expiry(action: ActionResult) -> str | None:
    """When a fix awaiting approval stops being approvable: `2026-11-25 11:27 UTC` (as given when it
    is not an ISO 8601 time); None for any other action."""
    link = action.approval if awaits_approval(action) else None
    if link is None or not link.expires_at:
        return None
    return utc_time(link.expires_at)


def utc_time(value: str | datetime) -> str:
    """`2026-11-25 11:27 UTC` for an ISO 8601 time (or a datetime; naive means UTC); other text as is."""
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except ValueError:
        return str(value)
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return f"{when:%Y-%m-%d %H:%M} UTC"


def action_title(action: ActionResult) -> str:
    """`raise-request-timeout for REQUEST_TIMEOUT_TOO_LOW`: the action and the finding it answers."""
    return f"{action.action} for {action.finding}" if action.finding else action.action


def action_target(action: ActionResult) -> str:
    """`web_settings (backend settings in agw)`: the resource the action writes, as a person names it
    (the raw id when it is not one); empty when the action names none."""
    if not action.resource:
        return ""
    try:
        return ResourceRef.parse(action.resource).label
    except MessageError:
        return action.resource


def change_text(action: ActionResult) -> str | None:
    """The change as `before -> after`: its summary (`requestTimeout 20 s -> 60 s on settings x`), else
    the changed properties (`{requestTimeout: 20} -> {requestTimeout: 60}`); None without a change."""
    change = action.change
    if change is None:
        return None
    if change.summary:
        return change.summary
    if change.before is None and change.after is None:
        return None
    return f"{_compact(change.before)} -> {_compact(change.after)}"


def action_command(action: ActionResult) -> tuple[str, str] | None:
    """(label, `az` command) a block shows: for a change made (applied, verified) the command that
    undoes it; for one rolled back, the command that undid it; for a plan or a refusal, the command
    that would make it; for a failure, the undo when there is one (what may be left to revert), else
    the command that was tried. None for a skip, or when the action has no such command."""
    status = action.status
    if awaits_approval(action) and action.command:
        return "Approving runs", action.command
    if status in (APPLIED, VERIFIED) and action.undo:
        return "To undo", action.undo
    if status == ROLLED_BACK and action.undo:
        return "Undone with", action.undo
    if status == PLANNED and action.command:
        return "To apply", action.command
    if status == REFUSED and action.command:
        return "To apply by hand", action.command
    if status == FAILED:
        if action.undo:
            return "To undo", action.undo
        if action.command:
            return "Tried", action.command
    return None


def remediation_heading(message: IncidentMessage) -> str:
    """`Remediation: dry-run (nothing was changed)`: the section's heading, with the mode when known."""
    mode = message.remediation_mode
    if not mode:
        return "Remediation"
    return f"Remediation: {cut(_MODE_WORDS.get(mode, mode), _MODE_MAX)}"


def _compact(properties: Mapping[str, Any] | None) -> str:
    """`{requestTimeout: 20}`; `(none)` for an absent resource or property."""
    if properties is None:
        return "(none)"
    return "{" + ", ".join(f"{key}: {_number(value)}" for key, value in properties.items()) + "}"


def more_actions(hidden: Iterable[ActionResult]) -> str:
    """`and 5 more remediation statuses not shown (3 await approval: the incident record lists them;
    `appgw-doctor approve <id>` approves one).`: the actions a rendering had no room for."""
    hidden = tuple(hidden)
    waiting = sum(1 for action in hidden if awaits_approval(action))
    text = f"and {len(hidden)} more remediation statuses not shown"
    if waiting:
        verb = "awaits" if waiting == 1 else "await"
        text += (
            f" ({waiting} {verb} approval: the incident record lists them; `{CLI} approve <id>` approves one)"
        )
    return text + "."


def pending_wording(actions: Iterable[ActionResult]) -> str | None:
    """`1 fix awaits approval`, `3 fixes await approval`; None when none does."""
    waiting = sum(1 for action in actions if awaits_approval(action))
    if not waiting:
        return None
    return "1 fix awaits approval" if waiting == 1 else f"{waiting} fixes await approval"


def _remediation_wording(
    headline: str, summary: str, gateway: ResourceRef, actions: tuple[ActionResult, ...]
) -> tuple[str, str]:
    """A rolled-back or failed fix opens the headline (`Fix rolled back on agw: <change>; ...`) and the
    summary says why; a verified fix ends the headline (`...; fixed: requestTimeout 20 s -> 60 s on
    settings x`) and the summary says what the verification saw; fixes awaiting approval are counted
    at the end (`...; 1 fix awaits approval`), the summary says until when."""
    headline, summary = _outcome_wording(headline, summary, gateway, actions)
    pending = pending_wording(actions)
    if pending:
        first = next(a for a in actions if awaits_approval(a))
        until = approval_expiry(first)
        headline = f"{headline}; {pending}"
        summary += f" The fix {action_title(first)} awaits your approval" + (
            f" until {until}." if until else "."
        )
    return headline, summary


def _outcome_wording(
    headline: str, summary: str, gateway: ResourceRef, actions: tuple[ActionResult, ...]
) -> tuple[str, str]:
    # Failed first: a rollback that could not complete (or a write ARM refused) leaves the most to do.
    alarming = sorted((a for a in actions if a.status in ALARMING), key=lambda a: a.status != FAILED)
    if alarming:
        first = alarming[0]
        verb = "failed" if first.status == FAILED else "rolled back"
        what = cut(change_text(first) or action_title(first), _FIX_IN_HEADLINE)
        others = len(alarming) - 1
        more = (
            f" (and {others} more {'fix' if others == 1 else 'fixes'} rolled back or failed)"
            if others
            else ""
        )
        why = f": {cut(first.reason, _REASON_IN_HEADLINE)}" if first.reason else ""
        outcome = "failed" if first.status == FAILED else "was rolled back"
        said = f" The fix {action_title(first)} {outcome}{why}."
        return f"Fix {verb} on {gateway.name}: {what}{more}; {headline}", summary + said
    verified = [a for a in actions if a.status == VERIFIED]
    if verified:
        first = verified[0]
        what = cut(change_text(first) or action_title(first), _FIX_IN_HEADLINE)
        more = f" (and {len(verified) - 1} more)" if len(verified) > 1 else ""
        seen = f": {cut(first.verification, _REASON_IN_HEADLINE)}" if first.verification else ""
        return (
            f"{headline}; fixed: {what}{more}",
            f"{summary} The fix {action_title(first)} is verified{seen}.",
        )
    return headline, summary


def _at_least_warning(level: Severity) -> Severity:
    return level if level.rank <= Severity.WARNING.rank else Severity.WARNING


def _finding_line(finding: Finding, reference: tuple[datetime | None, str]) -> FindingLine:
    try:
        resource = ResourceRef.parse(finding.resource) if finding.resource else None
    except MessageError:
        resource = None
    shown = finding.changes[:CHANGES_SHOWN]  # newest first (model.findings.Finding.changes)
    return FindingLine(
        code=finding.code,
        severity=Severity(finding.severity),
        title=finding.title,
        resource=resource,
        resource_id=finding.resource,
        evidence=evidence_facts(finding.code, finding.evidence),
        fix_summary=finding.fix.summary,
        fix_command=finding.fix.command,
        fix_action=finding.fix.action,
        role=role_of(finding.code, finding.severity),
        changes=tuple(change_line(change, *reference) for change in shown),
        changes_not_shown=len(finding.changes) - len(shown),
    )


def change_line(change: PathChange, reference: datetime | None = None, event: str = "") -> ChangeLine:
    """`change` worded for a person: its summary, when it happened relative to `reference` (the
    alert's fired time, `event` = `the alert`; or the check's time, `this check`), who made it and
    with what, and its undo command. Every part is bounded; none is trusted."""
    summary = cut(" ".join(change.summary.split()) or _fallback_summary(change), _CHANGE_SUMMARY_MAX)
    return ChangeLine(
        summary=summary,
        when=_change_when(change, reference, event),
        at=clock(change.time, reference) if change.time is not None else None,
        who=_change_who(change),
        source=change.source,
        undo=cut(change.undo, _UNDO_MAX) if change.undo else None,
        status=cut(" ".join(change.status.split()), _STATUS_MAX),
    )


def _fallback_summary(change: PathChange) -> str:
    """`networkSecurityGroups/securityRules/write on DenyAll`: a change with no summary of its own."""
    name = change.resource.rstrip("/").rsplit("/", 1)[-1] if change.resource else "?"
    operation = "/".join(change.operation.split("/")[1:]) or change.operation or "change"
    return f"{operation} on {name}"


def _change_who(change: PathChange) -> str:
    """`alice@contoso.com (Azure CLI)`, `an unknown caller`, or the bot's own change."""
    if change.source == APPGW_DOCTOR:
        who = BOT_CALLER
    else:
        caller = " ".join((change.caller or "").split())
        who = cut(caller, _CALLER_MAX) if caller else UNKNOWN_CALLER
    client = " ".join((change.client or "").split())
    return f"{who} ({cut(client, _CLIENT_MAX)})" if client else who


def _change_when(change: PathChange, reference: datetime | None, event: str) -> str:
    """`6 min before the alert`, `2 h before this check`, `since the last healthy check at 09:10 UTC`;
    `at 10:21 UTC` without a reference, `at an unknown time` without a time."""
    if change.source == LAST_HEALTHY_DIFF:
        since = f" at {clock(change.since, reference)}" if change.since is not None else ""
        return f"since the last healthy check{since}"
    if change.time is None:
        return "at an unknown time"
    if reference is None or not event:
        return f"at {clock(change.time)}"
    return relative(change.time, reference, event)


def relative(when: datetime, reference: datetime, event: str) -> str:
    """`6 min before the alert`, `1 h 20 min before this check`, `3 days before ...`, `less than a
    minute after the alert`."""
    delta = _aware(reference) - _aware(when)
    side = "before" if delta >= timedelta(0) else "after"
    return f"{duration(abs(delta))} {side} {event}"


duration = spoken_duration  # the wording `diagnose` reports use too (core.iso8601)


def clock(value: datetime | str | None, reference: datetime | None = None) -> str:
    """`10:21 UTC`; `2026-11-24 10:21 UTC` when it is not the same day as `reference` (when given);
    text that is not an ISO 8601 time as is."""
    if value is None:
        return "an unknown time"
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except ValueError:
        return " ".join(str(value).split())
    when = _aware(when)
    if reference is not None and when.date() != _aware(reference).date():
        return f"{when:%Y-%m-%d %H:%M} UTC"
    return f"{when:%H:%M} UTC"


def _aware(when: datetime) -> datetime:
    """`when` in UTC (naive means UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _reference(alert: AlertFacts | None, checked_at: datetime | str | None) -> tuple[datetime | None, str]:
    """What a change's time is told against: the alert's fired time (`the alert`), else the time of
    this check (`this check`; default now)."""
    if alert is not None and alert.fired_at:
        try:
            return _aware(datetime.fromisoformat(alert.fired_at)), "the alert"
        except ValueError:
            pass
    if isinstance(checked_at, str):
        try:
            checked_at = datetime.fromisoformat(checked_at)
        except ValueError:
            checked_at = None
    return _aware(checked_at or datetime.now(UTC)), "this check"


def _culprit(findings: tuple[FindingLine, ...]) -> Culprit | None:
    """The top cause's newest change, when it has one."""
    top = next((f for f in findings if f.role is Role.CAUSE), None)
    if top is None or not top.changes:
        return None
    return Culprit(top.changes[0], " ".join(top.title.split()))


def _wording(
    findings: tuple[FindingLine, ...],
    checks: tuple[CheckLine, ...],
    alert: AlertFacts | None,
    change: ChangeFacts | None,
    new_only: bool,
    diagnosis_error: str | None,
    culprit: Culprit | None = None,
) -> tuple[str, str]:
    """Headline (what went wrong, in one line) and summary (what started it, what the doctor did).

    When the top cause has a change, the headline leads with it (`1 cause of 502s — <what changed,
    when, by whom>: <the cause>`); a change-triggered message whose caller is known says whose edit
    made the new cause (`alice@contoso.com's edit of NSG nsg-web at 10:21 UTC: <the cause> — 502s
    will follow`)."""
    if alert:
        trigger = f"Alert {alert.rule} fired"
    elif change:
        trigger = change.sentence[0].upper() + change.sentence[1:]
    else:
        trigger = "A scheduled check ran"
    prefix = f"{change.what} was {change.verb}: " if change else ("scheduled check: " if not alert else "")
    if diagnosis_error is not None:
        reason = diagnosis_error.strip().splitlines()[0] if diagnosis_error.strip() else "unknown error"
        headline = f"{prefix}could not be diagnosed — {cut(reason, _REASON_IN_HEADLINE)}"
        return headline, f"{trigger}; the doctor could not diagnose the gateway (the reason is below)."
    causes = [f for f in findings if f.role is Role.CAUSE]
    symptoms = [f for f in findings if f.role is Role.SYMPTOM]
    new = "new " if new_only else ""
    not_run = [c for c in checks if c.status is CheckStatus.ERROR]
    not_applicable = [c for c in checks if c.status is CheckStatus.SKIPPED]
    ran = len(checks) - len(not_run) - len(not_applicable)
    edit = change.edit if change is not None else None
    if causes and edit:
        # Whose edit made the new problem: the headline says who, what and that 502s will follow.
        follow = "will" if causes[0].severity is Severity.CRITICAL else "may"
        more = f" (and {count(len(causes) - 1, f'more {new}cause')})" if len(causes) > 1 else ""
        headline = f"{edit}: {cut(causes[0].title, _REASON_IN_HEADLINE)} — 502s {follow} follow{more}"
        prefix = ""
    elif causes:
        # Counted: causes, not the symptoms they explain; named: the top cause (findings are in order),
        # after what changed on its path when something did.
        noun = "cause" if len(causes) == 1 else "causes"
        named = culprit.text if culprit is not None else causes[0].title
        headline = f"{len(causes)} {new}{noun} of 502s — {named}"
    elif symptoms:
        # Backends fail and nothing found says why: say that, not "a cause" that is only a symptom.
        more = f" (and {count(len(symptoms) - 1, f'more {new}symptom')})" if len(symptoms) > 1 else ""
        headline = f"{symptoms[0].title}{more}; no cause found — see the probe log"
    elif findings:
        headline = f"no cause of 502s found; {len(findings)} {new}note{'s' if len(findings) > 1 else ''}"
    else:
        headline = "no cause of 502s found"
    if not_run and not causes:
        # "No cause" from a partial diagnosis is not an all-clear; say so where it is read first.
        headline += f" ({count(len(not_run), 'check')} could not run)"
    headline = prefix + headline
    known = f" What changed is from {culprit.source}." if culprit is not None and causes else ""
    if not checks:
        return headline, f"{trigger}.{known}"
    summary = f"{trigger}; the doctor ran {count(ran, 'check')}"
    details = []
    if not_run:
        details.append(f"{len(not_run)} could not run")
    if not_applicable:
        details.append(f"{len(not_applicable)} did not apply")
    summary += (", " + ", ".join(details) if details else "") + "." + known
    return headline, summary


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
