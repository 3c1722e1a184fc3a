"""What machine and which package versions a measurement was taken on."""

from __future__ import annotations

import os
import platform
from importlib import metadata as importlib_metadata

INTERESTING_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "avx_vnni", "asimd", "asimddp", "sve")
PACKAGES = ("edge-albert", "torch", "onnx", "onnxruntime", "ai-edge-litert", "litert-torch", "ai-edge-quantizer", "numpy", "sentencepiece", "transformers")


# The flag that tells most about int8 and float speed, best first (for naming a CPU class).
_CLASS_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512f", "avx2", "avx", "sve", "asimddp", "asimd")


def cpu_class_name(machine: dict) -> str:
    """A short file-name-safe name for a machine's CPU class, e.g. `x86_64-avx2`."""
    flags = set(machine.get("cpu_flags") or [])
    best = next((f for f in _CLASS_FLAGS if f in flags), "generic")
    return f"{machine.get('machine') or 'unknown'}-{best}"


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


__all__ = ["machine_info", "cpu_class_name"]
