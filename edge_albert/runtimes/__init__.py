"""Inference runtimes behind one small interface: `open_session(path)` -> `Session.run(batch)`.

Adapters for ONNX Runtime and LiteRT import only numpy and their runtime (no torch), so the
on-device runtime can use them; ExecuTorch's Python runtime exchanges torch tensors (its extra
installs torch); the PyTorch adapter is for the reference model. `FILE_RUNTIMES`
is the one table of which runtime runs which file; bundles, targets and reports read it.
"""

from __future__ import annotations

from pathlib import Path

from edge_albert.errors import InputError
from edge_albert.runtimes.base import INPUT_NAMES, Session, pick_bucket

# A model file's suffix -> the runtime that runs it. A checkpoint directory runs on "torch".
# .ort is ONNX Runtime's mobile format (converters/ort_format.py): the full runtime loads it too.
FILE_RUNTIMES = {".onnx": "onnxruntime", ".ort": "onnxruntime", ".tflite": "litert", ".pte": "executorch"}


def runtime_for(path: Path) -> str:
    """The runtime that runs `path`: by its suffix, or torch for a checkpoint directory."""
    path = Path(path)
    if path.is_dir():
        return "torch"
    if path.suffix in FILE_RUNTIMES:
        return FILE_RUNTIMES[path.suffix]
    raise InputError("cannot tell the runtime: expected a .onnx, .ort, .tflite or .pte file or a checkpoint directory", path)


def open_session(path: Path, runtime: str | None = None, *, threads: int = 1, xnnpack: bool = True,
                 content: bytes | None = None) -> Session:
    """Open `path` (.onnx, .ort, .tflite, .pte or a checkpoint directory) with its runtime.

    With `content` (the file's bytes, e.g. read from a bundle), `path` only names the model in
    messages and `runtime` must be given."""
    path = Path(path)
    if content is None and not path.exists():
        raise InputError("model file not found", path)
    kind = runtime or runtime_for(path)
    # The adapters are imported on use: each pulls in its own runtime package.
    if kind == "onnxruntime":
        from edge_albert.runtimes.onnxruntime import OnnxRuntimeSession

        return OnnxRuntimeSession(path, threads=threads, content=content)
    if kind == "litert":
        from edge_albert.runtimes.litert import LiteRTSession

        return LiteRTSession(path, threads=threads, xnnpack=xnnpack, content=content)
    if kind == "executorch":
        from edge_albert.runtimes.executorch import ExecuTorchSession

        return ExecuTorchSession(path, threads=threads, content=content)
    if kind == "torch" and content is None:
        from edge_albert.runtimes.torch import TorchSession

        return TorchSession(path, threads=threads)
    raise InputError(f"unknown runtime {kind!r}: expected one of onnxruntime, litert, executorch, torch", path)


__all__ = ["FILE_RUNTIMES", "INPUT_NAMES", "Session", "open_session", "pick_bucket", "runtime_for"]
