"""What machine and which package versions a measurement was taken on."""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata as importlib_metadata

INTERESTING_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "avx_vnni", "asimd", "asimddp", "sve")
PACKAGES = ("edge-albert", "torch", "onnx", "onnxruntime", "ai-edge-litert", "litert-torch", "ai-edge-quantizer", "executorch", "numpy", "sentencepiece", "transformers")


def cpu_class(machine: dict) -> tuple[str, frozenset[str]]:
    """A CPU class: the architecture and the set of tracked SIMD flags. Two machines of one class
    run the same kernels, so their latency ratios compare; any difference in flags is another class."""
    return machine.get("machine") or "unknown", frozenset(machine.get("cpu_flags") or [])


def cpu_class_name(machine: dict) -> str:
    """A file-name-safe name that spells the whole class, e.g. `x86_64-avx-avx2-fma`: two classes
    never share a name, so writing one class's baseline cannot overwrite another's."""
    arch, flags = cpu_class(machine)
    ordered = [f for f in INTERESTING_FLAGS if f in flags] + sorted(flags - set(INTERESTING_FLAGS))
    return "-".join([arch] + ordered) if ordered else f"{arch}-generic"


def cpu_core(machine: dict) -> str | None:
    """The CPU's core design, e.g. `amd-23-1` (x86 vendor, family, model) or `arm-0x41-0xd0c`
    (ARM implementer, part); None when a report does not record it. Within one CPU class a core
    design still moves the latency ratios: on an AVX2 Zen 1 EPYC dynamic int8 ONNX of a small
    model runs at 0.97x its fp32 file, on a later AVX2 EPYC at 0.62x."""
    return machine.get("cpu_core") or None


VENDORS = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}


def parse_cpuinfo(text: str) -> dict:
    """The model name, tracked SIMD flags and core design (see `cpu_core`) of /proc/cpuinfo's text,
    its first processor (x86) or the first that says (ARM)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or fields.get("Model") or None
    present = set((fields.get("flags") or fields.get("Features") or "").split())
    core = None
    if "vendor_id" in fields and "cpu family" in fields:
        core = f"{VENDORS.get(fields['vendor_id'], fields['vendor_id'].lower())}-{fields['cpu family']}-{fields.get('model', '?')}"
    elif "CPU implementer" in fields and "CPU part" in fields:
        core = f"arm-{fields['CPU implementer']}-{fields['CPU part']}"
    return {"cpu_model": model, "cpu_flags": [f for f in INTERESTING_FLAGS if f in present], "cpu_core": core}


def machine_info() -> dict:
    cpu = {"cpu_model": None, "cpu_flags": [], "cpu_core": None}
    try:
        cpu = parse_cpuinfo(open("/proc/cpuinfo", encoding="utf-8").read())
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return {
        "cpu_model": cpu["cpu_model"] or platform.processor() or "unknown",
        "cpu_flags": cpu["cpu_flags"],
        "cpu_core": cpu["cpu_core"],
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _busy_and_own_seconds() -> tuple[float, float] | None:
    """CPU seconds all CPUs spent busy (including time the hypervisor gave to other guests) and
    CPU seconds of this process, or None where /proc/stat is not there."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already inside user and nice]
    busy = sum(fields[:3]) + sum(fields[5:8])
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


class OtherCpuLoad:
    """How many CPUs other processes (and other guests of the host) kept busy, on average, while
    the block ran: latency measured beside other work is slower in uneven ways (PyTorch's many
    small kernels suffer more than ONNX Runtime's few large ones), so a baseline recorded on a busy
    machine shifts every latency ratio the gate compares with it. `cpus` is None off Linux."""

    def __enter__(self) -> OtherCpuLoad:
        self.cpus: float | None = None
        self._start, self._wall = _busy_and_own_seconds(), time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        end, wall = _busy_and_own_seconds(), time.monotonic() - self._wall
        if self._start is not None and end is not None and wall > 0:
            self.cpus = round(max(0.0, (end[0] - self._start[0]) - (end[1] - self._start[1])) / wall, 3)


__all__ = ["OtherCpuLoad", "machine_info", "cpu_class", "cpu_class_name"]
