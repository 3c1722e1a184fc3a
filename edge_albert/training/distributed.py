"""Where training runs: the device, and the ranks of a `torchrun` job.

One process trains on one device. Under `torchrun` (or any launcher that sets torch.distributed's
environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) each process is one rank of a
DistributedDataParallel job: NCCL between GPUs, gloo between CPU processes. The training loop asks
this module who it is (`current()`), splits each global batch and each evaluation pass across the
ranks, and lets rank 0 alone write files (`is_main`, `main_process_first`).

Nothing here starts processes: torchrun (one box, many nodes, SLURM, Kubernetes) does that.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from edge_albert.errors import InputError

DEVICES = ("auto", "cpu", "cuda", "mps")
# How long a collective waits for a rank that stopped answering before the job fails (seconds);
# a dead peer on gloo usually fails the job at once (connection closed), this bounds the rest.
TIMEOUT_ENV = "EDGE_ALBERT_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 600


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: rank `rank` of `world_size`, on `device`."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_current = Ranks()


def resolve_device(device: str) -> torch.device:
    """`auto` is CUDA when a GPU is visible, else the CPU; an asked-for device must exist."""
    if device not in DEVICES:
        raise InputError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: torch sees no CUDA GPU here (a CPU-only torch, or no driver); use --device cpu or auto")
    if device == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise InputError("--device mps: this torch has no Apple Metal backend here; use --device cpu or auto")
    return torch.device(device)


def launched_distributed() -> bool:
    """Whether a launcher (torchrun) started this process as one rank of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str = "auto") -> Ranks:
    """Join the job torchrun started (once per process) and pick this rank's device.

    Without a launcher this is one process on `device`. Under torchrun a GPU run puts local
    rank k on GPU k and talks NCCL; a CPU run talks gloo. Idempotent: a second call returns the
    same ranks (a recipe and the loop it calls may both ask)."""
    global _current
    if _current.distributed or dist.is_initialized():
        return _current
    resolved = resolve_device(device)
    if not launched_distributed():
        _current = Ranks(device=resolved)
        return _current
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise InputError(f"WORLD_SIZE > 1 but {', '.join(missing)} not set: launch with torchrun (see docs/distributed.md)")
    # one process per pod (Kubernetes' PyTorch operator) sets no LOCAL_RANK: it is that node's only rank
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))
    if resolved.type == "cuda":
        if local >= torch.cuda.device_count():
            raise InputError(f"local rank {local} has no GPU: this node has {torch.cuda.device_count()}; lower --nproc_per_node")
        resolved = torch.device("cuda", local)
        torch.cuda.set_device(resolved)
    elif resolved.type == "mps":
        raise InputError("--device mps runs one process; launch without torchrun")
    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo", rank=rank, world_size=world, timeout=timeout)
    atexit.register(teardown)
    _current = Ranks(rank, world, local, resolved)
    return _current


def current() -> Ranks:
    return _current


def is_main() -> bool:
    return _current.is_main


def barrier() -> None:
    if _current.distributed:
        dist.barrier()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first (training a tokenizer, filling a cache); the other ranks
    wait, then run it and find its files made."""
    if not _current.is_main:
        barrier()
    try:
        yield
    finally:
        if _current.is_main:
            barrier()


def gather_objects(obj: object) -> list[object]:
    """Every rank's `obj`, in rank order (a list of one without a job)."""
    if not _current.distributed:
        return [obj]
    out: list[object] = [None] * _current.world_size
    dist.all_gather_object(out, obj)
    return out


def sum_across_ranks(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over the ranks (the tensor itself without a job)."""
    if not _current.distributed:
        return values
    total = values.detach().clone().to(_current.device)
    dist.all_reduce(total)
    return total.cpu()


def teardown() -> None:
    """Leave the job (end of a command); safe without one."""
    global _current
    if dist.is_initialized():
        dist.destroy_process_group()
    _current = Ranks(device=_current.device)


__all__ = ["DEVICES", "Ranks", "resolve_device", "launched_distributed", "setup", "current", "is_main", "barrier", "main_process_first",
           "gather_objects", "sum_across_ranks", "teardown", "TIMEOUT_ENV"]
