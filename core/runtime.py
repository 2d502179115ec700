"""Process-wide settings the entry points apply once, at start: the Functions app (function_app.py),
the command line (appgw_doctor.cli) and the benchmarks that measure them.

The cyclic garbage collector: a diagnosis of a large gateway allocates millions of objects (the SDK's
models of the gateway, its NICs and NSGs, backend health, and what checks derive from them), nearly
all freed by reference counting as soon as they are dropped. With CPython's default thresholds
(700, 10, 10) the cycle collector still runs about 170 times in a diagnosis of 100 pools of NIC-backed
servers, each full pass walking every live model: 0.12-0.3 s of it, measured with `gc.callbacks`,
and a cost that grows faster than the gateway (more passes, each over more live objects). At
(50,000, 20, 20) it runs once or twice (0.02-0.03 s), and cycles are still collected.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 20, 20)


def tune_garbage_collector() -> None:
    """Collect cycles less often (see the module docstring). Idempotent."""
    gc.set_threshold(*GC_THRESHOLDS)
