"""Machine facts: the CPU class and how busy other processes kept the machine during a measurement."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from edge_albert.machine import OtherCpuLoad


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.quiet_machine
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_other_cpu_load_sees_another_process_and_not_this_one():
    # This process spinning is its own work, not other load.
    with OtherCpuLoad() as own:
        _spin(1.0)
    # Another process spinning one CPU while this one sleeps is one CPU of other load.
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.perf_counter() + 3\nwhile time.perf_counter() < end: pass"])
    try:
        time.sleep(0.5)  # the child is up and spinning
        with OtherCpuLoad() as other:
            time.sleep(1.5)
    finally:
        child.wait(timeout=30)
    assert own.cpus is not None and other.cpus is not None
    assert own.cpus < other.cpus - 0.6
    assert 0.7 <= other.cpus <= 1.0 + own.cpus + 0.3
