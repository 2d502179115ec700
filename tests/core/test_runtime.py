"""Every entry point collects cycles at the thresholds core.runtime sets: a fresh interpreter starts at
CPython's defaults, so each case runs in one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.runtime import GC_THRESHOLDS

ROOT = Path(__file__).resolve().parents[2]


def _thresholds_after(code: str) -> tuple[int, ...]:
    done = subprocess.run(
        [sys.executable, "-c", f"import gc\n{code}\nprint(tuple(gc.get_threshold()))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return tuple(int(n) for n in done.stdout.strip().splitlines()[-1].strip("()").split(","))


def test_a_fresh_interpreter_starts_at_other_thresholds() -> None:
    assert _thresholds_after("pass") != GC_THRESHOLDS


def test_the_functions_app_tunes_the_collector_when_the_worker_loads_it() -> None:
    assert _thresholds_after("import function_app") == GC_THRESHOLDS


def test_the_command_line_tunes_the_collector() -> None:
    code = "from appgw_doctor.cli import main\nassert main(['no-such-command']) == 2"
    assert _thresholds_after(code) == GC_THRESHOLDS
