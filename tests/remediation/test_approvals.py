"""Mode approve: plans wait for a person; a decision is taken once, re-validated, then applied as in
auto. Links are signed, expiring, bound to the plan and single-use."""

from __future__ import annotations

import threading
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from remediation.desk import ALREADY, DONE, EXPIRED_LINK, GONE, INVALID, NOT_ALLOWED, REPLANNED, ApprovalDesk
from remediation.engine import ApprovalSettings, Limits, Remediator
from remediation.tokens import sign
from tests.remediation.conftest import GATEWAY

KEY = b"k" * 32
APPROVE = {"appgw-doctor-remediation": "approve"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def desk_for(ledger):
    def make(world, *, approvers=None, sent=None):
        clock = Clock()
        remediator = Remediator(
            ledger=ledger,
            limits=Limits(verify_seconds=1, verify_interval=0.1),
            clock=clock,
            sleep=lambda s: None,
            approvals=ApprovalSettings(KEY, timedelta(minutes=60), "https://app.example"),
        )
        desk = ApprovalDesk(
            remediator,
            lambda sub: world.clients,
            lambda gateway, clients, at: world.findings,
            approvers=approvers,
            notify=(lambda *args: sent.append(args)) if sent is not None else None,
        )
        return remediator, desk, clock

    return make


def plan(world, remediator, **options):
    result = remediator.run(
        gateway_id=GATEWAY,
        incident_id=options.pop("incident_id", "incident-1"),
        findings=world.findings(),
        tags=APPROVE,
        clients=world.clients,
        rediagnose=world.findings,
        **options,
    )
    (action,) = [a for a in result.actions if a.approval is not None]
    return action


def token_of(url: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["t"][0]


def test_approve_mode_plans_and_waits_changing_nothing(estate, ledger, desk_for):
    world = estate("request-timeout")
    remediator, desk, _ = desk_for(world)
    before = world.resources()
    action = plan(world, remediator)
    assert action.status == "planned" and "awaiting approval" in action.reason
    assert action.approval.url.startswith(f"https://app.example/api/approvals/{action.approval.id}?t=")
    assert world.resources() == before
    view = desk.view(action.approval.id, token_of(action.approval.url))
    assert view.problem is None and view.approval.change.after == {"requestTimeout": 30}
    assert world.resources() == before  # looking never changes anything
    again = plan(world, remediator)  # the same plan while it waits: the same approval
    assert again.approval.id == action.approval.id


def test_approving_applies_verifies_and_names_the_approver(estate, ledger, desk_for):
    world = estate("request-timeout")
    sent = []
    remediator, desk, _ = desk_for(world, sent=sent)
    action = plan(world, remediator)
    decision = desk.decide(
        action.approval.id, "approve", approver="alice@contoso.com", token=token_of(action.approval.url)
    )
    assert decision.outcome == DONE and decision.result.status == "verified", decision
    assert "REQUEST_TIMEOUT_TOO_LOW" not in {f.code for f in world.findings()}
    (apply,) = [e for e in ledger.audit_entries(GATEWAY) if e.step == "apply"]
    assert "approved by alice@contoso.com" in apply.identity
    assert ledger.approval(action.approval.id)[0].state == "approved"
    (note,) = sent
    assert note[1] == "approve" and note[2] == "alice@contoso.com" and note[3].status == "verified"
    replay = desk.decide(action.approval.id, "approve", approver="bob", token=token_of(action.approval.url))
    assert replay.outcome == ALREADY and "alice@contoso.com" in replay.message
    assert sum(1 for e in ledger.audit_entries(GATEWAY) if e.step == "apply") == 1


def test_rejecting_changes_nothing(estate, ledger, desk_for):
    world = estate("request-timeout")
    remediator, desk, _ = desk_for(world)
    action = plan(world, remediator)
    before = world.resources()
    decision = desk.decide(
        action.approval.id, "reject", approver="alice", token=token_of(action.approval.url)
    )
    assert (
        decision.outcome == DONE
        and decision.result.status == "skipped"
        and "rejected by alice" in decision.message
    )
    assert world.resources() == before
    assert desk.view(action.approval.id, token_of(action.approval.url)).outcome == ALREADY


def test_tampered_expired_and_foreign_tokens_change_nothing(estate, ledger, desk_for):
    world = estate("request-timeout")
    remediator, desk, clock = desk_for(world)
    action = plan(world, remediator)
    token = token_of(action.approval.url)
    before = world.resources()
    payload, signature = token.split(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    for bad in (tampered, token[:-3] + "xyz", "", "not-a-token"):
        assert desk.decide(action.approval.id, "approve", approver="a", token=bad).outcome == INVALID
    stored = ledger.approval(action.approval.id)[0]
    foreign = sign("another-approval", stored.digest, stored.expires_at, KEY)  # genuine, for another approval
    other_plan = sign(stored.id, "0" * 64, stored.expires_at, KEY)  # genuine, for another plan
    other_key = sign(stored.id, stored.digest, stored.expires_at, b"x" * 32)
    for bad in (foreign, other_plan, other_key):
        assert desk.decide(action.approval.id, "approve", approver="a", token=bad).outcome == INVALID
    clock.now += timedelta(minutes=61)
    assert desk.view(action.approval.id, token).outcome == EXPIRED_LINK
    assert desk.decide(action.approval.id, "approve", approver="a", token=token).outcome == EXPIRED_LINK
    assert ledger.approval(action.approval.id)[0].state == "expired"
    assert world.resources() == before


def test_two_decisions_at_once_apply_exactly_once(estate, ledger, desk_for):
    world = estate("request-timeout")
    remediator, desk, _ = desk_for(world)
    action = plan(world, remediator)
    token = token_of(action.approval.url)
    outcomes = []
    start = threading.Barrier(4)

    def press() -> None:
        start.wait()
        outcomes.append(desk.decide(action.approval.id, "approve", approver="a", token=token).outcome)

    threads = [threading.Thread(target=press) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [ALREADY, ALREADY, ALREADY, DONE]
    assert sum(1 for e in ledger.audit_entries(GATEWAY) if e.step == "apply") == 1


def test_a_resolved_incident_cancels_its_pending_approval(estate, ledger, desk_for):
    world = estate("request-timeout")
    remediator, desk, _ = desk_for(world)
    action = plan(world, remediator)
    before = world.resources()
    assert remediator.cancel_for_incident(GATEWAY, "incident-1") == 1
    decision = desk.decide(action.approval.id, "approve", approver="a", token=token_of(action.approval.url))
    assert decision.outcome == ALREADY and "cancelled" in decision.message and "resolved" in decision.message
    assert world.resources() == before


def test_a_newer_diagnosis_without_the_finding_cancels_it(estate, ledger, desk_for):
    world = estate("request-timeout")
    remediator, desk, _ = desk_for(world)
    action = plan(world, remediator)
    remediator.run(
        gateway_id=GATEWAY,
        incident_id="incident-2",
        findings=[],
        tags=APPROVE,
        clients=world.clients,
        rediagnose=world.findings,
    )
    stored = ledger.approval(action.approval.id)[0]
    assert stored.state == "cancelled" and "no longer shows REQUEST_TIMEOUT_TOO_LOW" in stored.reason


def test_a_gateway_changed_since_the_plan_is_planned_again_not_applied(estate, ledger, desk_for):
    world = estate("request-timeout")
    sent = []
    remediator, desk, _ = desk_for(world, sent=sent)
    action = plan(world, remediator)
    network = world.clients.network  # someone edits the gateway (a tag) after the plan was made
    gateway = network.application_gateways.get("rg-contoso-web", "agw-contoso")
    gateway.tags = {**(gateway.tags or {}), "owner": "team-b"}
    network.application_gateways.begin_create_or_update("rg-contoso-web", "agw-contoso", gateway).result()
    decision = desk.decide(action.approval.id, "approve", approver="a", token=token_of(action.approval.url))
    assert decision.outcome == REPLANNED and decision.new_link is not None
    assert decision.new_link.id != action.approval.id
    assert ledger.approval(action.approval.id)[0].state == "superseded"
    assert not any(e.step == "apply" for e in ledger.audit_entries(GATEWAY))
    assert sent[-1][5] == decision.new_link
    second = desk.decide(decision.new_link.id, "approve", approver="a", token=token_of(decision.new_link.url))
    assert second.outcome == DONE and second.result.status == "verified"


def test_the_finding_gone_before_approval_changes_nothing(estate, ledger, desk_for):
    world = estate("request-timeout")
    remediator, _, _ = desk_for(world)
    action = plan(world, remediator)
    desk = ApprovalDesk(remediator, lambda sub: world.clients, lambda gateway, clients, at: lambda: [])
    decision = desk.decide(action.approval.id, "approve", approver="a", token=token_of(action.approval.url))
    assert decision.outcome == GONE
    assert ledger.approval(action.approval.id)[0].state == "cancelled"


def test_the_approvers_list_is_enforced(estate, ledger, desk_for):
    world = estate("request-timeout")
    remediator, desk, _ = desk_for(world, approvers=frozenset({"alice@contoso.com", "group-oid-1"}))
    action = plan(world, remediator)
    token = token_of(action.approval.url)
    assert desk.decide(action.approval.id, "approve", approver=None, token=token).outcome == NOT_ALLOWED
    assert desk.decide(action.approval.id, "approve", approver="mallory", token=token).outcome == NOT_ALLOWED
    by_group = desk.decide(
        action.approval.id, "reject", approver="bob", token=token, groups=frozenset({"GROUP-OID-1"})
    )
    assert by_group.outcome == DONE


def test_a_terminal_decision_needs_no_token(estate, ledger, desk_for):
    world = estate("request-timeout")
    remediator, desk, _ = desk_for(world)
    action = plan(world, remediator)
    decision = desk.decide(action.approval.id, "approve", approver="ops@contoso.com", from_link=False)
    assert decision.outcome == DONE and decision.result.status == "verified"
