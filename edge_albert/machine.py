"""What machine and which package versions a measurement was taken on."""

from __future__ import annotations

import os
import platform
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


def machine_info() -> dict:
    model, flags = platform.processor() or "unknown", []
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model") and model in ("unknown", "", platform.machine()):
                model = value.strip()
            if key in ("flags", "Features") and not flags:
                present = set(value.split())
                flags = [f for f in INTERESTING_FLAGS if f in present]
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return {
        "cpu_model": model,
        "cpu_flags": flags,
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
    }


__all__ = ["machine_info", "cpu_class", "cpu_class_name"]
