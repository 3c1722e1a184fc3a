"""Training precision: fp32, or bf16 autocast where the CPU multiplies bf16 natively.

bf16 autocast keeps fp32 master weights and optimizer state and runs the matrix products in
bfloat16. On CPUs with AVX512-BF16 or AMX (x86) or the BF16 extension (Arm) that is 2.4x
(ALBERT tiny) to 3.5x (ALBERT-base) faster per training step on this project's benchmark
machine; elsewhere bf16 is emulated and slower, which is why `auto` checks the CPU first.
Evaluation and exported models stay fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from edge_albert.errors import InputError

PRECISIONS = ("fp32", "bf16", "auto")
_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}


def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return bool(_NATIVE_BF16_FLAGS & set(value.split()))
    except OSError:
        pass
    return False


def resolve_precision(precision: str) -> str:
    """`auto` becomes `bf16` on a CPU with native bf16 arithmetic, else `fp32`."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return precision


@contextlib.contextmanager
def autocast(precision: str) -> Iterator[None]:
    """Run the enclosed forward pass in `precision` (already resolved)."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


__all__ = ["PRECISIONS", "cpu_has_native_bf16", "resolve_precision", "autocast"]
