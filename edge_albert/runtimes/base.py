"""The runtime interface and the dispatcher that opens the right adapter for a file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from edge_albert.errors import InputError

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class Session(Protocol):
    """A loaded model that maps a padded batch to logits."""

    runtime: str  # "onnxruntime", "litert" or "torch"
    path: Path
    max_length: int
    output_classes: int | None  # the logits' last dimension, when the file fixes it

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """`batch` holds int arrays input_ids, attention_mask, token_type_ids [B, N]; returns logits [B, C]."""
        ...


def pick_bucket(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds `length` tokens."""
    for b in sorted(buckets):
        if length <= b:
            return b
    raise InputError(f"sequence of {length} tokens is longer than the largest bucket {max(buckets)}")


def open_session(path: Path, runtime: str | None = None, *, threads: int = 1, xnnpack: bool = True) -> Session:
    """Open `path` (.onnx, .tflite or a checkpoint directory) with the matching runtime."""
    path = Path(path)
    if not path.exists():
        raise InputError("model file not found", path)
    kind = runtime or ("torch" if path.is_dir() else {".onnx": "onnxruntime", ".tflite": "litert"}.get(path.suffix))
    if kind == "onnxruntime":
        from edge_albert.runtimes.onnxruntime import OnnxRuntimeSession

        return OnnxRuntimeSession(path, threads=threads)
    if kind == "litert":
        from edge_albert.runtimes.litert import LiteRTSession

        return LiteRTSession(path, threads=threads, xnnpack=xnnpack)
    if kind == "torch":
        from edge_albert.runtimes.torch import TorchSession

        return TorchSession(path, threads=threads)
    raise InputError("cannot tell the runtime: expected a .onnx or .tflite file or a checkpoint directory", path)


__all__ = ["Session", "open_session", "pick_bucket", "INPUT_NAMES"]
