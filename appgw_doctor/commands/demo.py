"""`appgw-doctor demo`: the main job on every bundled broken scenario, with no Azure account.

Each scenario's alert goes through the one pipeline (intake -> dedupe -> diagnose -> remediate ->
notify -> record) against a local simulator of its world; the diagnosis is printed, and the Teams
card and email the on-call engineer would get are written to an outbox whose paths are printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError
from appgw_doctor.commands.remediate import remediation_lines
from appgw_doctor.local import open_pipeline
from appgw_doctor.pipeline import Pipeline
from appgw_doctor.scenarios import SCENARIOS, bundled_scenarios
from diagnostics.report import render_text
from intake.alerts import parse_alert_body
from intake.errors import IntakeError
from remediation.policy import MODE_TAG

OUTBOX = SCENARIOS.parent / "out" / "demo"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the main job on every bundled broken scenario (local simulator, no Azure account)",
        description=f"For each scenario in {SCENARIOS}: its alert through the pipeline against a local "
        "simulator of its world; prints the findings and where the Teams card and email were written.",
    )
    parser.add_argument("--outbox", type=Path, default=OUTBOX, help=f"where messages go (default {OUTBOX})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not SCENARIOS.is_dir():
        raise UsageError(f"no scenarios directory at {SCENARIOS}")
    logging.getLogger("azure").setLevel(logging.ERROR)  # credential/retry chatter; findings say what matters
    for index, scenario in enumerate(bundled_scenarios()):
        heading = f"=== {scenario.name} "
        print(("\n" if index else "") + heading + "=" * max(3, 78 - len(heading)), flush=True)
        alert_path = scenario.world.parent / "alert.json"
        try:
            alerts = parse_alert_body(alert_path.read_bytes(), allowed_subscriptions=None)
        except (OSError, IntakeError) as error:
            print(f"skipped: no usable alert.json ({error})")
            continue
        outbox = args.outbox / scenario.name
        for stale in outbox.glob("*-teams.json"):  # keep only this run's messages
            stale.unlink()
        for stale in outbox.glob("*-email.eml"):
            stale.unlink()
        with open_pipeline(scenario.world, state=None, outbox=outbox) as pipeline:
            for report in map(pipeline.process, Pipeline.alert_items(alerts)):
                if report.diagnosis is not None:
                    print(render_text(report.diagnosis, compact=True))
                for stage in report.stages:
                    if stage.status == "error" or stage.name == "notify":
                        print(f"{stage.name}: {stage.status}: {stage.detail}")
        sys.stdout.flush()
    remediation_demo(args.outbox)
    approval_demo(args.outbox)
    print(f"\nTeams cards (JSON) and emails (.eml) are in {args.outbox}/<scenario>/")
    return EXIT_OK


# Scenarios whose gateway the demo tags to opt in to remediation: one fixed and verified, one planned.
OPTED_IN = (("request-timeout", "auto"), ("default-probe", "dry-run"))


def remediation_demo(outbox_root: Path) -> None:
    """Guarded remediation on two scenarios, their gateway tagged `appgw-doctor-remediation`."""
    for name, mode in OPTED_IN:
        heading = f"=== remediation ({MODE_TAG}={mode}): {name} "
        print("\n" + heading + "=" * max(3, 78 - len(heading)), flush=True)
        folder = SCENARIOS / name
        try:
            world = json.loads((folder / "world.json").read_text())
            alerts = parse_alert_body((folder / "alert.json").read_bytes(), allowed_subscriptions=None)
        except (OSError, ValueError, IntakeError) as error:
            print(f"skipped: {error}")
            continue
        for resource in world.get("resources") or []:
            if "/applicationgateways/" in str(resource.get("id", "")).lower():
                resource.setdefault("tags", {})[MODE_TAG] = mode
        outbox = outbox_root / f"remediation-{name}"
        with open_pipeline(world, state=None, outbox=outbox) as pipeline:
            for report in map(pipeline.process, Pipeline.alert_items(alerts)):
                print("\n".join(remediation_lines(report.remediation)))
        sys.stdout.flush()


APPROVAL_PORT = 7071  # `appgw-doctor serve`'s default port


def approval_demo(outbox_root: Path) -> None:
    """Mode approve on the request-timeout scenario: the fix waits for a person. Its link (and the
    card's Approve/Reject buttons) work once `appgw-doctor serve` runs with the printed command."""
    name = "request-timeout"
    heading = f"=== remediation ({MODE_TAG}=approve): {name} "
    print("\n" + heading + "=" * max(3, 78 - len(heading)), flush=True)
    folder = outbox_root / "approve"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        world = json.loads((SCENARIOS / name / "world.json").read_text())
        alerts = parse_alert_body((SCENARIOS / name / "alert.json").read_bytes(), allowed_subscriptions=None)
    except (OSError, ValueError, IntakeError) as error:
        print(f"skipped: {error}")
        return
    for resource in world.get("resources") or []:
        if "/applicationgateways/" in str(resource.get("id", "")).lower():
            resource.setdefault("tags", {})[MODE_TAG] = "approve"
    world_path, state, key_file = folder / "world.json", folder / "state.db", folder / "signing-key"
    world_path.write_text(json.dumps(world, indent=2) + "\n")
    state.unlink(missing_ok=True)  # a fresh pending approval on each run
    key = os.environ.get("APPROVAL_SIGNING_KEY") or secrets.token_urlsafe(48)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    overrides = {"APPROVAL_SIGNING_KEY": key, "APPROVAL_BASE_URL": f"http://127.0.0.1:{APPROVAL_PORT}"}
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        with open_pipeline(world_path, state=state, outbox=folder / "outbox") as pipeline:
            for report in map(pipeline.process, Pipeline.alert_items(alerts)):
                print("\n".join(remediation_lines(report.remediation)))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    print(
        "\nTo approve it in a browser, serve the app's routes on this estate:\n"
        f'  APPROVAL_SIGNING_KEY="$(cat {key_file})" .venv/bin/appgw-doctor serve --port {APPROVAL_PORT} '
        f"--world {world_path} --state {state}\n"
        f"then open the link above, or the card's Approve button ({folder / 'outbox'}/*-teams.json)."
    )
    sys.stdout.flush()
