"""`appgw-doctor simulate`: serve a world file as a local ARM endpoint until stopped.

    appgw-doctor simulate --world scenarios/request-timeout/world.json [--port N] [--faults SPEC]
                          [--dump-on-exit FILE] [--seed N]

The first line on stdout is one JSON object, `{"endpoint", "caCert", "subscriptionId"}`, so a
caller can start the simulator as a subprocess and read where it is; it comes once the simulator
is warmed up (`Simulator.warm_up`: each gateway's backend health derived once, so the first
request does not wait on one-off costs). It then serves until
SIGINT or SIGTERM, writes the current world to `--dump-on-exit` if given, and exits 0. `--faults`
takes a JSON file path or inline JSON list of fault rules (see `simulator.faults`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError, port_number
from appgw_doctor.local import simulator_module


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("simulate", help="Serve a world file as a local Azure (ARM) endpoint.")
    parser.add_argument("--world", required=True, help="World file (appgw-world/v1).")
    parser.add_argument(
        "--port", type=port_number, default=0, help="Port to listen on (default: an ephemeral port)."
    )
    parser.add_argument("--faults", help="Fault rules: a JSON file path or an inline JSON list.")
    parser.add_argument("--dump-on-exit", type=Path, help="Write the world, with every write applied, here.")
    parser.add_argument("--seed", type=int, default=0, help="Seed for fault rates (default 0).")
    parser.set_defaults(func=run)


def _check_dump_target(path: Path) -> None:
    """Refuse at start a `--dump-on-exit` file that could not be written at the end."""
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"--dump-on-exit {path}: is a directory")
    if not directory.is_dir():
        raise UsageError(f"--dump-on-exit {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--dump-on-exit {path}: not writable")


def run(args: argparse.Namespace) -> int:
    if args.dump_on_exit is not None:
        _check_dump_target(args.dump_on_exit)
    module = simulator_module()
    try:
        faults = module.parse_fault_spec(args.faults) if args.faults else []
        simulator = module.Simulator(args.world, faults=faults, seed=args.seed, port=args.port).warm_up()
    except (module.WorldError, ValueError) as error:
        raise UsageError(str(error)) from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            simulator.start()
        except OSError as error:
            raise UsageError(f"cannot listen on port {args.port}: {error.strerror or error}") from None
        try:
            announcement = {
                "endpoint": simulator.endpoint,
                "caCert": simulator.ca_cert,
                "subscriptionId": simulator.subscription_id,
            }
            print(json.dumps(announcement), flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            simulator.stop()
        if args.dump_on_exit is not None:
            try:
                args.dump_on_exit.write_text(json.dumps(simulator.dump(), indent=2) + "\n", encoding="utf-8")
            except OSError as error:
                raise UsageError(f"--dump-on-exit {args.dump_on_exit}: {error.strerror or error}") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.stdout.flush()
    return EXIT_OK
