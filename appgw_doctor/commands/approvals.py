"""`appgw-doctor approvals | approve | reject`: pending fixes (remediation mode `approve`), decided from
a terminal after `az login` with the same checks as the links (the approval must be pending and not
expired; the gateway is diagnosed again and the plan re-validated; applied through every guard,
verified and rolled back; audited with the approver).

    appgw-doctor approvals [--gateway ID] [--format text|json] [--state PATH]
    appgw-doctor approve ID [--world FILE] [--world-out OUT] [--state PATH] [--format text|json]
    appgw-doctor reject ID [--state PATH] [--format text|json]

The approver is the signed-in identity (the credential's user principal name or app id). Exit 0 when
the decision was taken (and, for approve, the fix was not rolled back or failed), 1 otherwise, 2 for
bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError, one_line
from appgw_doctor.local import local_settings, open_estate
from appgw_doctor.notify import approval_follow_up
from appgw_doctor.wiring import approval_desk
from core.arm_ids import is_gateway_id, name_of, resource_group_of, subscription_of
from core.iso8601 import format_time
from model.remediation import Approval
from notifications.delivery import Notifier
from remediation.desk import DONE, ApprovalDesk
from remediation.identity import principal_of
from state import StateStore
from state.remediation import RemediationLedger
from state.sqlite import SqliteBackend, default_state_path

EXIT_NOT_DONE = 1


def register(subparsers: Any) -> None:
    listing = subparsers.add_parser("approvals", help="list pending and decided approvals (mode approve)")
    listing.add_argument("--gateway", help="only this gateway (ARM id)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.add_argument("--state", type=Path, help=f"SQLite state file (default: {default_state_path()})")
    listing.set_defaults(func=run_list)
    for name, verb in (("approve", "apply"), ("reject", "reject")):
        parser = subparsers.add_parser(name, help=f"{name} a pending fix from a terminal ({verb} it)")
        parser.add_argument(
            "approval_id", metavar="ID", help="the approval's id (from the message or `approvals`)"
        )
        parser.add_argument(
            "--world", type=Path, help="the gateway lives in the local simulator serving this world"
        )
        parser.add_argument(
            "--world-out", type=Path, help="with --world: write the estate as the run left it"
        )
        parser.add_argument("--state", type=Path, help=f"SQLite state file (default: {default_state_path()})")
        parser.add_argument("--format", choices=("text", "json"), default="text")
        parser.add_argument(
            "--outbox", type=Path, help="write the follow-up card and email here instead of sending"
        )
        parser.set_defaults(func=run_decide, decision=name)


def _store(path: Path | None) -> StateStore:
    state = path or default_state_path()
    if not state.exists():
        raise UsageError(f"no state at {state} (give --state: the store the bot recorded the approval in)")
    try:
        return StateStore(SqliteBackend(state))
    except OSError as error:
        raise UsageError(f"cannot open state {state}: {error.strerror or error}") from None


def line(approval: Approval) -> str:
    where = f"{name_of(approval.gateway_id)} ({resource_group_of(approval.gateway_id)})"
    decided = f" by {approval.decided_by}" if approval.decided_by else ""
    return one_line(
        f"{approval.id}  {approval.state:<10}{decided}  {where}  {approval.action} for "
        f"{approval.finding.get('code')}: {approval.change.summary}  "
        f"(expires {format_time(approval.expires_at)})"
    )


def run_list(args: argparse.Namespace) -> int:
    if args.gateway and not is_gateway_id(args.gateway):
        raise UsageError(f"--gateway is not an Application Gateway ARM id: {args.gateway}")
    store = _store(args.state)
    try:
        approvals = RemediationLedger.for_store(store).approvals(args.gateway)
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps([a.to_dict() for a in approvals], indent=2))
    elif not approvals:
        print("no approvals" + (f" for {args.gateway}" if args.gateway else ""))
    else:
        print("\n".join(line(a) for a in approvals))
    return EXIT_OK


def run_decide(args: argparse.Namespace) -> int:
    settings = local_settings()
    if args.world is not None and args.state is None:
        raise UsageError("--world needs --state: the store holding the approval")
    if args.state is not None and not args.state.exists():
        raise UsageError(
            f"no state at {args.state} (give --state: the store the bot recorded the approval in)"
        )
    with open_estate(args.world, state=args.state, world_out=args.world_out) as estate:
        clients_for = estate.clients_for
        follow_up = approval_follow_up(
            Notifier(settings.notifications, outbox_dir=args.outbox),
            estate.store,
            record_url_template=settings.incident_url_template,
        )
        desk: ApprovalDesk = approval_desk(
            settings,
            store=estate.store,
            clients_for=clients_for,
            dns_servers=estate.dns_servers,
            notify=follow_up,
        )
        found = desk.ledger.approval(args.approval_id)
        if found is None:
            raise UsageError(f"no approval {args.approval_id} in {estate.state_path}")
        approver = principal_of(clients_for(subscription_of(found[0].gateway_id)).credential)
        decision = desk.decide(
            args.approval_id, args.decision, approver=f"{approver} (terminal)", from_link=False
        )
    document = {
        "outcome": decision.outcome,
        "message": decision.message,
        "approval": decision.approval.to_dict() if decision.approval else None,
        "result": decision.result.to_dict() if decision.result else None,
        "newApproval": decision.new_link.to_dict() if decision.new_link else None,
    }
    if args.format == "json":
        print(json.dumps(document, indent=2))
    else:
        print(one_line(f"{decision.outcome}: {decision.message}"))
        if decision.new_link is not None:
            print(
                one_line(
                    f"new approval: {decision.new_link.id}"
                    + (f" {decision.new_link.url}" if decision.new_link.url else "")
                )
            )
    failed = decision.result is not None and decision.result.status in ("rolled-back", "failed")
    return EXIT_OK if decision.outcome == DONE and not failed else EXIT_NOT_DONE
