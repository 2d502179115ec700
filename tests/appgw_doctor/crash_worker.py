"""A queue worker process for the crash tests: runs the real pipeline on one work item and, when the
pipeline reports the step named by `crashAt`, kills itself with SIGKILL — no cleanup, no finally
blocks, exactly what a host crash or an OOM kill leaves behind.

    python tests/appgw_doctor/crash_worker.py '<json config>'

config: {"state": {"sqlite": PATH} | {"tables": CONNECTION, "prefix": P}, "arm": {"endpoint", "caCert"},
"notifications": {app settings}, "item": <WorkItem message>, "leaseSeconds": N, "crashAt": STEP | null}
A step is what `Pipeline(progress=...)` reports: claimed, diagnosed, recorded, delivered (the first
channel delivered and recorded), notified, closed. Prints the outcome when it was not killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import timedelta

from appgw_doctor.notify import NotifyStage
from appgw_doctor.pipeline import Pipeline, WorkItem
from appgw_doctor.wiring import clients_for_target
from core.azure_clients import ArmTarget
from notifications.delivery import Notifier
from notifications.dispatch import RetryPolicy
from state import StateStore
from state.sqlite import SqliteBackend
from state.tables import TableBackend


def main(config: dict) -> int:
    state = config["state"]
    if "sqlite" in state:
        backend = SqliteBackend(state["sqlite"])
    else:
        backend = TableBackend.from_connection_string(state["tables"], prefix=state["prefix"])
    store = StateStore(backend)
    crash_at = config.get("crashAt")

    def progress(step: str) -> None:
        if crash_at is not None and step.split(" ", 1)[0] == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    notifier = Notifier(config["notifications"], retry=RetryPolicy(max_attempts=2, initial_wait=0.1))
    pipeline = Pipeline(
        store=store,
        clients_for=clients_for_target(
            ArmTarget(config["arm"]["endpoint"], config["arm"]["caCert"]), polling_interval=0.05
        ),
        notify=NotifyStage(notifier),
        lease_ttl=timedelta(seconds=config["leaseSeconds"]),
        progress=progress,
    )
    report = pipeline.process(WorkItem.from_message(config["item"]))
    store.close()
    print(json.dumps({"outcome": report.outcome.value if report.outcome else None,
                      "incidentId": report.incident_id}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
