"""The interface every runtime adapter implements, and what they share (input names, length buckets)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from edge_albert.errors import InputError

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class Session(Protocol):
    """A loaded model that maps a padded batch to logits."""

    runtime: str  # "onnxruntime", "litert", "executorch" or "torch"
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


__all__ = ["Session", "pick_bucket", "INPUT_NAMES"]
