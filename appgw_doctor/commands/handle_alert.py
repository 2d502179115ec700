"""`appgw-doctor handle-alert`: run one alert through the pipeline locally and print the incident report.

    appgw-doctor handle-alert --alert FILE [--world FILE] [--format text|json] [--state PATH] [--outbox DIR]

Against Azure by default (DefaultAzureCredential). With `--world`, a simulator serves that world
in-process and the diagnosis runs against it; its incidents go to a throw-away state store unless
`--state` is given, so simulated incidents never mix with real ones. Without `--world` the state is
SQLite under the user's data dir (`$XDG_DATA_HOME/appgw-doctor/state.db`), or `--state PATH`.
Notifications go to the channels the environment configures (TEAMS_WEBHOOK_URL, NOTIFY_EMAIL_TO, ...;
docs/NOTIFICATIONS.md); with `--outbox DIR` the Teams card and the email are written there instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError
from appgw_doctor.commands.remediate import remediation_lines
from appgw_doctor.local import local_settings, open_pipeline
from appgw_doctor.pipeline import Outcome, Pipeline, Report
from intake.alerts import parse_alert_body
from intake.errors import IntakeError
from state import StateStore
from state.sqlite import default_state_path

EXIT_DIAGNOSIS_FAILED = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("handle-alert", help="Run an Azure Monitor alert through the pipeline.")
    parser.add_argument("--alert", required=True, type=Path, help="Alert JSON (common alert schema).")
    parser.add_argument("--world", type=Path, help="Diagnose against a simulator serving this world file.")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="Output format.")
    parser.add_argument("--state", type=Path, help=f"SQLite state file (default: {default_state_path()}).")
    parser.add_argument(
        "--outbox",
        type=Path,
        help="Write the Teams card (JSON) and the email (.eml) here instead of sending.",
    )
    parser.add_argument(
        "--world-out", type=Path, help="With --world: write the simulated estate as the run left it here."
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        body = args.alert.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {args.alert}: {error.strerror or error}") from None
    try:
        alerts = parse_alert_body(
            body, allowed_subscriptions=None, max_targets=local_settings().max_alert_targets
        )
    except IntakeError as error:
        raise UsageError(f"{args.alert}: {error.message}") from None
    with open_pipeline(
        args.world, state=args.state, outbox=args.outbox, world_out=args.world_out
    ) as pipeline:
        reports = [pipeline.process(item) for item in Pipeline.alert_items(alerts)]
        documents = [_document(pipeline.store, report) for report in reports]
    if args.format == "json":
        print(json.dumps({"reports": documents}, indent=2))
    else:
        print("\n\n".join(render_text(document) for document in documents))
    failed = any(report.outcome == Outcome.FAILED for report in reports)
    return EXIT_DIAGNOSIS_FAILED if failed else EXIT_OK


def _document(store: StateStore, report: Report) -> dict[str, Any]:
    """The report; for a duplicate or joined alert, with the findings of the incident it belongs to."""
    document = report.to_dict()
    if report.outcome in (Outcome.DUPLICATE, Outcome.JOINED) and report.incident_id:
        incident = store.get_incident(report.item.gateway_id, report.incident_id)
        if incident is not None:
            document["incident"] = {"status": incident.status.value, "report": incident.report}
            document["findings"] = list((incident.report or {}).get("findings") or [])
    return document


def render_text(document: dict[str, Any]) -> str:
    alert = document.get("alert") or {}
    condition = alert.get("monitorCondition")
    when = alert.get("resolvedDateTime" if condition == "Resolved" else "firedDateTime") or "-"
    lines = [
        f"Incident {document.get('incidentId') or '-'}: {document['outcome']}",
        f"  gateway  {document['gatewayId']}",
        f"  alert    {alert.get('alertRule') or '-'} {alert.get('severity') or ''} "
        f"{condition} at {when} ({alert.get('signalType')})",
    ]
    if document["outcome"] == Outcome.DUPLICATE.value and not document.get("incidentId"):
        lines.append("This alert is being handled already (an earlier delivery of it is in progress).")
        return "\n".join(lines)
    findings = document.get("findings") or []
    lines.append(f"Findings ({len(findings)}):")
    for finding in findings:
        lines.append(f"  [{finding['severity']}] {finding['code']}: {finding['title']}")
        lines.append(f"      resource: {finding['resource']}")
        fix = finding.get("fix") or {}
        if fix.get("summary"):
            lines.append(
                f"      fix: {fix['summary']}" + (f" (action {fix['action']})" if fix.get("action") else "")
            )
        if fix.get("command"):
            lines.append(f"      $ {fix['command']}")
    if not findings:
        lines.append("  none")
    lines += remediation_lines(document.get("remediation"))
    lines.append("Stages:")
    for stage in document.get("stages") or []:
        lines.append(f"  {stage['name']:<10} {stage['status']:<8} {stage['detail']}")
    return "\n".join(lines)
