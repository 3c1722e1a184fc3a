"""Training precision: fp32, or bf16 autocast where the CPU multiplies bf16 natively.

bf16 autocast keeps fp32 master weights and optimizer state and runs the matrix products in
bfloat16. On CPUs with AVX512-BF16 or AMX (x86) or the BF16 extension (Arm) that is 2.4x
(ALBERT tiny) to 3.5x (ALBERT-base) faster per training step on this project's benchmark
machine; elsewhere bf16 is emulated and slower, which is why `auto` checks the CPU first.
Evaluation and exported models stay fp32.

On a GPU, `auto` is bf16 where the GPU has it (Ampere and newer) and fp16 elsewhere; fp16 needs a
gradient scaler (`grad_scaler`) so that small gradients do not underflow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from edge_albert.errors import InputError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
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


def resolve_precision(precision: str, device: str | torch.device = "cpu") -> str:
    """`auto` becomes `bf16` on a CPU with native bf16 arithmetic, else `fp32`; on a CUDA GPU,
    `bf16` where it has it, else `fp16`."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    kind = torch.device(device).type
    if precision == "fp16" and kind == "cpu":
        raise InputError("--precision fp16 trains on a GPU only (CPUs have no fp16 matrix units); use bf16 or fp32")
    if precision == "auto":
        if kind == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if kind == "mps":
            return "fp32"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return precision


@contextlib.contextmanager
def autocast(precision: str, device: str | torch.device = "cpu") -> Iterator[None]:
    """Run the enclosed forward pass in `precision` (already resolved) on `device`'s kind."""
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    with torch.autocast(torch.device(device).type, dtype=dtype, enabled=precision in ("bf16", "fp16")):
        yield


def grad_scaler(precision: str, device: str | torch.device = "cpu") -> torch.amp.GradScaler:
    """The loss scaler fp16 needs; a pass-through (disabled) scaler for every other precision."""
    kind = torch.device(device).type
    return torch.amp.GradScaler(kind if kind != "mps" else "cpu", enabled=precision == "fp16" and kind == "cuda")


__all__ = ["PRECISIONS", "cpu_has_native_bf16", "resolve_precision", "autocast", "grad_scaler"]
