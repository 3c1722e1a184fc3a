"""Machine facts: the CPU class and how busy other processes kept the machine during a measurement."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from edge_albert.machine import OtherCpuLoad, parse_cpuinfo


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


X86_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma
processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
"""

# A Raspberry Pi 5: per-processor lines without a model name, the board's name at the end.
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU part\t: 0xd0b

Model\t\t: Raspberry Pi 5 Model B Rev 1.0
"""


def test_cpuinfo_gives_the_core_design_model_and_flags():
    x86 = parse_cpuinfo(X86_CPUINFO)
    assert x86 == {"cpu_model": "AMD EPYC", "cpu_flags": ["avx", "avx2", "fma"], "cpu_core": "amd-23-1"}
    arm = parse_cpuinfo(ARM_CPUINFO)
    assert arm == {"cpu_model": "Raspberry Pi 5 Model B Rev 1.0", "cpu_flags": ["asimd", "asimddp"], "cpu_core": "arm-0x41-0xd0b"}
    assert parse_cpuinfo("")["cpu_core"] is None
