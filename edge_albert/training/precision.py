"""Training precision: fp32, or bf16 autocast where the CPU multiplies bf16 natively.

bf16 autocast keeps fp32 master weights and optimizer state and runs the matrix products in
bfloat16. Whether that pays depends on more than the CPU's flags: on one AVX512-BF16 machine a
tiny step was 2.4x faster (ALBERT-base 3.5x), on a 2-core AVX512-BF16 Xeon without AMX it was
0.64x (benchmarks/precision.py), and without native bf16 it is emulated and slower. So `auto`
checks the CPU first and then, given the model, times a few steps both ways and keeps bf16 only
when it is clearly faster. Evaluation and exported models stay fp32.

On a GPU, `auto` is bf16 where the GPU has it (Ampere and newer) and fp16 elsewhere; fp16 needs a
gradient scaler (`grad_scaler`) so that small gradients do not underflow.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

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


# bf16 must beat fp32 by this much in the probe: autocast's casts cost more than they save on
# small matrices, and a near-tie is not worth results that differ from fp32's.
BF16_MIN_SPEEDUP = 1.15


def bf16_pays_off(step: Callable[[], None], repeats: int = 3) -> bool:
    """Time `step` (one representative forward and backward pass) under bf16 autocast and in fp32,
    alternating after a warm-up of each; True when bf16's median is BF16_MIN_SPEEDUP faster."""
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for round_ in range(repeats + 1):
        for precision in ("fp32", "bf16"):
            start = time.perf_counter()
            with autocast(precision):
                step()
            if round_:  # the first round warms both up
                times[precision].append(time.perf_counter() - start)
    return statistics.median(times["fp32"]) >= BF16_MIN_SPEEDUP * statistics.median(times["bf16"])


def resolve_precision(precision: str, device: str | torch.device = "cpu", *, probe: Callable[[], None] | None = None) -> str:
    """`auto` becomes `bf16` on a CPU with native bf16 arithmetic where `probe` (one training step
    of the model at hand, when given) runs clearly faster in it, else `fp32`; on a CUDA GPU,
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
        if not cpu_has_native_bf16():
            return "fp32"
        if probe is None:
            return "bf16"
        try:
            return "bf16" if bf16_pays_off(probe) else "fp32"
        except (RuntimeError, ValueError, IndexError, TypeError):
            return "fp32"  # a model the probe cannot drive (e.g. multiple choice's 3-D inputs): bf16 is not shown to pay
    return precision


def training_step_probe(model: torch.nn.Module, *, batch: int = 32, length: int = 64) -> Callable[[], None]:
    """One forward and backward pass of `model` on random token ids of a training batch's shape;
    the gradients it leaves are cleared, so the model is as it was."""
    vocab = int(getattr(getattr(model, "config", None), "vocab_size", 1000))
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, max(6, vocab), (batch, length), generator=generator)
    mask, types = torch.ones_like(ids), torch.zeros_like(ids)

    def step() -> None:
        with torch.random.fork_rng(devices=[]):  # dropout's draws here leave the run's random stream as it was
            _forward_backward()

    def _forward_backward() -> None:
        out = model(ids, mask, types)
        if hasattr(out, "values") and not torch.is_tensor(out):  # a transformers ModelOutput
            out = list(out.values())
        tensors = [t for t in (out if isinstance(out, (tuple, list)) else [out]) if torch.is_tensor(t) and t.is_floating_point()]
        torch.stack([t.float().sum() for t in tensors]).sum().backward()
        model.zero_grad(set_to_none=True)

    return step


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


__all__ = ["PRECISIONS", "cpu_has_native_bf16", "resolve_precision", "bf16_pays_off", "training_step_probe", "autocast", "grad_scaler"]
