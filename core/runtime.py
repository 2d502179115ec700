"""Process-wide settings the entry points apply once, at start: the Functions app (function_app.py),
the command line (appgw_doctor.cli) and the benchmarks that measure them.

The cyclic garbage collector: a diagnosis of a large gateway allocates millions of objects (the SDK's
models of the gateway, its NICs and NSGs, backend health, and what checks derive from them), nearly
all freed by reference counting as soon as they are dropped. With CPython's default thresholds
(700, 10, 10) the cycle collector still runs about 170 times in a diagnosis of 100 pools of NIC-backed
servers, each full pass walking every live model: 0.12-0.3 s of it, measured with `gc.callbacks`,
and a cost that grows faster than the gateway (more passes, each over more live objects). At
(50,000, 20, 20) it ran once (0.01-0.03 s): such a diagnosis holds up to 63,000 objects the collector
tracks at once (the NIC list's JSON, mostly), so a pass came mid-diagnosis and walked them all. A
diagnosis frees what it made by reference counting (collection breaks its own cycles:
`diagnostics.collect._Graph.close`), leaving about 500 objects in cycles, so the first generation's
threshold sits above the largest gateway's peak: the collector runs between diagnoses, once every
few dozen, and still collects every cycle.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (200_000, 20, 20)


def tune_garbage_collector() -> None:
    """Collect cycles less often (see the module docstring). Idempotent."""
    gc.set_threshold(*GC_THRESHOLDS)
