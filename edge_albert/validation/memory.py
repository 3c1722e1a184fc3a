"""Peak resident memory of loading a model and running one batch, measured in a fresh process.

    python -m edge_albert.validation.memory MODEL [RUNTIME]   -> prints {"peak_rss_mb": ..., "load_seconds": ...}
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def _vm_hwm_mb() -> float:
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def measure_in_subprocess(path: Path, runtime: str | None = None, timeout: float = 300) -> dict:
    """Peak RSS (MB) and cold load time of `path`; an empty dict if it could not be measured."""
    cmd = [sys.executable, "-m", "edge_albert.validation.memory", str(path)] + ([runtime] if runtime else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else {}
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError):
        return {}


def main() -> None:
    from edge_albert.runtimes import open_session
    from edge_albert.validation.latency import synthetic_batch

    before = _vm_hwm_mb()
    start = time.perf_counter()
    session = open_session(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
    load = time.perf_counter() - start
    first_start = time.perf_counter()
    session.run(synthetic_batch(1, min(32, session.max_length)))
    first = time.perf_counter() - first_start
    print(json.dumps({"peak_rss_mb": _vm_hwm_mb(), "baseline_rss_mb": before, "load_seconds": load, "first_run_seconds": first}))


if __name__ == "__main__":
    main()
