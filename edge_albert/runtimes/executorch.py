"""ExecuTorch adapter: runs a `.pte` program through ExecuTorch's Python runtime (its pybindings,
with the XNNPACK backend built in).

Our programs take one row at a time (batch 1, dynamic sequence length up to the export's maximum):
memory planning sizes a program's arena for its largest input, and a dynamic batch of 64 at 128
tokens planned 141 MB for the tiny shape where batch 1 plans 2.2 MB. So each row runs at its own
length, as the LiteRT adapter runs each row in its bucket, and a text's answer is the same alone or
in any batch.

The metadata travels inside the program as a constant method, `edge_albert_metadata`, returning
our JSON: an app reads it with `module.execute("edge_albert_metadata")` (Android, iOS and C++ alike).

ExecuTorch's Python runtime exchanges torch tensors, so this adapter needs torch (the `executorch`
extra installs both); the ONNX Runtime and LiteRT adapters stay torch-free.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.runtimes.base import INPUT_NAMES
from edge_albert.system_tools import quiet_stderr
from edge_albert.tasks import get_task

METADATA_METHOD = "edge_albert_metadata"
# The shortest row a program takes: torch.export specialises a dimension of size 1, so the
# sequence axis starts at 2 ([CLS] [SEP] is the shortest real input anyway).
MIN_LENGTH = 2
INSTALL_HINT = "pip install 'edge-albert[executorch]'"


def quiet_executorch_logs() -> None:
    """Importing executorch imports torchao, which logs a warning per CUDA kernel library it cannot
    load on a CPU machine, and torch warns about a deprecated pytree registration: neither is the
    user's business. Call before importing executorch."""
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


def executorch_runtime():
    """ExecuTorch's runtime singleton, imported quietly; a one-line error when it is not installed."""
    quiet_executorch_logs()
    try:
        with quiet_stderr():
            from executorch.runtime import Runtime

            runtime = Runtime.get()
            _ThreadPool.size()  # creating the pool probes the CPU and logs it: do it here, quietly
            return runtime
    except ImportError:
        raise InputError(f"running .pte programs needs ExecuTorch: {INSTALL_HINT}") from None


def read_executorch_metadata(program, path: Path) -> dict:
    """Our JSON from a loaded program's `edge_albert_metadata` method ({} when it has none)."""
    if METADATA_METHOD not in program.method_names:
        return {}
    value = program.load_method(METADATA_METHOD).execute([])
    try:
        return json.loads(value[0])
    except (json.JSONDecodeError, TypeError, IndexError) as exc:
        raise InputError(f"its {METADATA_METHOD} method does not return our JSON ({exc})", path) from None


class _ThreadPool:
    """ExecuTorch's thread pool is one per process, and a loaded XNNPACK method keeps using the
    pool it was loaded with: resizing the pool under a loaded method crashed the next call
    (SIGSEGV, executorch 1.5.1), as ExecuTorch warns for `_unsafe_reset_threadpool` ("do it before
    loading a model"). So the pool is resized only between loads, and every resize starts a new
    generation: a session loaded in an older one reloads its program before it runs again."""

    generation = 0
    lock = threading.Lock()

    @classmethod
    def size(cls) -> int | None:
        try:
            from executorch.extension.pybindings.portable_lib import _threadpool_get_thread_count
        except ImportError:
            return None
        return int(_threadpool_get_thread_count())

    @classmethod
    def resize(cls, threads: int) -> None:
        """Resize the pool to `threads` (a new generation) unless it has that size already."""
        try:
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
        except ImportError:  # runtimes without the hook keep their default pool
            return
        if cls.size() != threads:
            with quiet_stderr():  # it logs every reset
                _unsafe_reset_threadpool(threads)
            cls.generation += 1


class ExecuTorchSession:
    runtime = "executorch"

    def __init__(self, path: Path, *, threads: int = 1, content: bytes | None = None) -> None:
        """Open `path`, or the program bytes in `content` (then `path` only names it in messages).

        `threads` sizes ExecuTorch's process-wide thread pool (see `_ThreadPool`): sessions of
        one thread count share it; alternating between counts reloads programs."""
        self._runtime = executorch_runtime()
        import torch

        self._torch = torch
        self.path = Path(path)
        self.threads = threads
        self._content = content
        with _ThreadPool.lock:
            self._load()
        self.metadata = read_executorch_metadata(self.program, self.path)
        if not self.metadata:
            raise InputError(f"has no {METADATA_METHOD} method; export it with `edge-albert convert --to executorch`", self.path)
        self.task = get_task(str(self.metadata.get("task", "text-classification")))
        meta = self.method.metadata
        if meta.num_inputs() != len(INPUT_NAMES):
            raise InputError(f"forward takes {meta.num_inputs()} inputs, expected {len(INPUT_NAMES)} ({', '.join(INPUT_NAMES)})", self.path)
        if meta.num_outputs() != len(self.task.outputs):
            raise InputError(f"forward gives {meta.num_outputs()} outputs, expected {', '.join(self.task.outputs)} ({self.task.name})", self.path)
        self.output_names = list(self.task.outputs)
        # The output's last dimension as the program's upper bounds give it.
        last = meta.output_tensor_meta(0).sizes()[-1]
        self.output_classes = len(self.output_names) if len(self.output_names) > 1 else int(last)
        self.max_length = int(self.metadata.get("max_length", meta.input_tensor_meta(0).sizes()[-1]))

    def _load(self) -> None:
        """(Re)load the program and its forward method in a pool of this session's size."""
        self.method = self.program = None  # release the stale method before the pool changes
        _ThreadPool.resize(self.threads)
        try:
            with quiet_stderr():
                self.program = self._runtime.load_program(self._content if self._content is not None else self.path)
                self.method = self.program.load_method("forward")
        except (RuntimeError, ValueError, TypeError, KeyError) as exc:
            raise InputError(f"ExecuTorch cannot load it ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})", self.path) from None
        self._generation = _ThreadPool.generation
        self._quiet_next = True

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Logits [B, C], [B, N, C] (token tasks) or [B, N, 2] (question answering), each row run at its length."""
        # One lock for all sessions: a program holds one set of planned buffers (two threads in
        # one method would overwrite each other's activations), and the pool is shared.
        with _ThreadPool.lock:
            if self._generation != _ThreadPool.generation or _ThreadPool.size() not in (None, self.threads):
                self._load()
            if self._quiet_next:  # the first call after a load probes the CPU and logs it
                self._quiet_next = False
                with quiet_stderr():
                    return self._run(batch)
            return self._run(batch)

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        mask = np.asarray(batch["attention_mask"])
        width = mask.shape[1]
        rows = []
        for r in range(mask.shape[0]):
            n = min(max(int(mask[r].sum()), MIN_LENGTH), width) if width >= MIN_LENGTH else width
            if n > self.max_length:
                raise InputError(f"a row of {n} tokens is longer than the program's maximum {self.max_length}", self.path)
            feed = []
            for name in INPUT_NAMES:
                row = np.zeros((1, max(n, MIN_LENGTH)), dtype=np.int64)
                row[0, :n] = np.asarray(batch[name])[r, :n]
                feed.append(torch.from_numpy(row))
            outputs = [o.detach().numpy().astype(np.float32) for o in self.method.execute(feed)]
            value = outputs[0][0] if len(outputs) == 1 else np.stack([o[0] for o in outputs], axis=-1)
            if value.ndim == 2:  # per-token outputs [n, C]: back to the batch's width
                value = value[:width] if value.shape[0] >= width else np.pad(value, ((0, width - value.shape[0]), (0, 0)))
            rows.append(value)
        if not rows:
            return np.zeros((0, self.output_classes or 0), np.float32)
        return np.stack(rows).astype(np.float32)


__all__ = ["ExecuTorchSession", "METADATA_METHOD", "read_executorch_metadata", "executorch_runtime", "quiet_executorch_logs"]
