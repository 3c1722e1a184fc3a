"""Turning labelled texts into padded tensor batches, with little padding.

Batches are drawn from a seeded shuffle, then sorted by length inside windows of a few batches,
so each batch holds sentences of similar length (SST-2 sentences range from 3 to 60 tokens; padding
every batch to its longest member otherwise wastes half the compute).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from edge_albert.data.readers import LabeledTexts
from edge_albert.tokenization import AlbertTokenizer, Encoding, pad_encodings

if TYPE_CHECKING:
    from edge_albert.training.word_states import WordTargets


@dataclass
class EncodedDataset:
    encodings: list[Encoding]
    labels: np.ndarray
    soft_targets: np.ndarray | None = None  # teacher logits [N, C] (token classification, QA: [N, longest, C]), when distilling
    teacher_features: np.ndarray | None = None  # teacher sentence representations [N, D], for representation distillation
    word_targets: WordTargets | None = None  # teacher per-word hidden states, for word-level layer distillation
    # Token classification: `labels` is [N, longest] per token (-100 where no loss), cut to each batch's width.
    per_token_labels: bool = False
    # What a task's dev evaluation needs beyond the tensors (gold tags, questions and their windows).
    evaluation: object | None = None

    def __len__(self) -> int:
        return len(self.encodings)


def encode_dataset(data: LabeledTexts, tokenizer: AlbertTokenizer, max_length: int) -> EncodedDataset:
    pairs = data.pairs or [None] * len(data)
    encodings = [tokenizer.encode(t, p, max_length=max_length) for t, p in zip(data.texts, pairs)]
    return EncodedDataset(encodings, np.asarray(data.labels, dtype=np.int64))


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    labels: torch.Tensor
    soft_targets: torch.Tensor | None
    indices: np.ndarray
    teacher_features: torch.Tensor | None = None
    # (states [B, W, layers, D], words the teacher saw [B], words in the text [B])
    teacher_words: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def to(self, device: torch.device) -> Batch:
        """The batch's tensors on `device` (itself on the CPU)."""
        if device.type == "cpu":
            return self
        move = lambda x: x.to(device, non_blocking=True) if x is not None else None  # noqa: E731
        return Batch(move(self.input_ids), move(self.attention_mask), move(self.token_type_ids), move(self.labels), move(self.soft_targets),
                     self.indices, move(self.teacher_features), tuple(map(move, self.teacher_words)) if self.teacher_words is not None else None)


def make_batch(data: EncodedDataset, indices: Sequence[int], pad_id: int) -> Batch:
    idx = np.asarray(indices)
    arrays = pad_encodings([data.encodings[i] for i in idx], pad_id)
    width = arrays["input_ids"].shape[1]
    soft = None
    if data.soft_targets is not None:
        # per-token soft targets (token classification, question answering) are cut to the batch's width
        rows = data.soft_targets[idx][:, :width] if data.soft_targets.ndim == 3 else data.soft_targets[idx]
        soft = torch.from_numpy(np.ascontiguousarray(rows)).float()
    labels = data.labels[idx][:, :width] if data.per_token_labels else data.labels[idx]
    features = torch.from_numpy(data.teacher_features[idx]).float() if data.teacher_features is not None else None
    return Batch(
        torch.from_numpy(arrays["input_ids"]),
        torch.from_numpy(arrays["attention_mask"]),
        torch.from_numpy(arrays["token_type_ids"]),
        torch.from_numpy(np.ascontiguousarray(labels)),
        soft,
        idx,
        features,
        data.word_targets.states.batch(idx) if data.word_targets is not None else None,
    )


def training_batches(data: EncodedDataset, batch_size: int, seed: int, pad_id: int, window: int = 50) -> Iterator[Batch]:
    """One epoch of shuffled, length-grouped batches; the same seed gives the same batches."""
    for indices in training_batch_indices(data, batch_size, seed, window):
        yield make_batch(data, indices, pad_id)


def training_batch_indices(data: EncodedDataset, batch_size: int, seed: int, window: int = 50) -> Iterator[np.ndarray]:
    """The examples of each batch of `training_batches`: the same for every rank of a job, which
    then each take their part (so a job of N ranks sees the batches one process would)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    lengths = np.array([len(e.input_ids) for e in data.encodings])
    chunks = []
    span = batch_size * window
    for start in range(0, len(order), span):
        block = order[start:start + span]
        block = block[np.argsort(lengths[block], kind="stable")]
        chunks.extend(block[i:i + batch_size] for i in range(0, len(block), batch_size))
    for j in rng.permutation(len(chunks)):
        yield chunks[j]


def eval_batches(data: EncodedDataset, batch_size: int, pad_id: int, *, part: int = 0, parts: int = 1) -> Iterator[Batch]:
    """Batches in length order (fast); `Batch.indices` maps rows back to dataset order. With
    `parts`, only every `parts`-th batch from `part` on (one rank's share of an evaluation)."""
    lengths = np.array([len(e.input_ids) for e in data.encodings])
    order = np.argsort(lengths, kind="stable")
    for number, start in enumerate(range(0, len(order), batch_size)):
        if number % parts == part:
            yield make_batch(data, order[start:start + batch_size], pad_id)


def forward_all(model: torch.nn.Module, data: EncodedDataset, pad_id: int, batch_size: int = 64, *,
                call: Callable[..., object] | None = None, advance: Callable[[int], None] | None = None) -> list[tuple[np.ndarray, ...]]:
    """Each example's outputs of `call` (default: the model itself) as a tuple of float32 arrays,
    its rows of the batch (padding included), in dataset order.

    In a job of several ranks, each runs its share of the batches and all of them receive every
    example's outputs: evaluation and teacher passes take 1/N of the time on each of N ranks."""
    from edge_albert.training.distributed import current, gather_objects

    ranks = current()
    device = next(model.parameters()).device
    call = call or model
    mine: dict[int, tuple[np.ndarray, ...]] = {}
    with torch.no_grad():
        for batch in eval_batches(data, batch_size, pad_id, part=ranks.rank, parts=ranks.world_size):
            result = call(batch.input_ids.to(device), batch.attention_mask.to(device), batch.token_type_ids.to(device))
            arrays = [x.float().cpu().numpy() for x in (result if isinstance(result, tuple) else (result,))]
            for row, i in enumerate(batch.indices):
                mine[int(i)] = tuple(a[row] for a in arrays)
            if advance is not None:
                advance(len(batch.indices) * ranks.world_size)
    if ranks.distributed:
        for part in gather_objects(mine):
            mine.update(part)
    return [mine[i] for i in range(len(data))]


__all__ = ["EncodedDataset", "encode_dataset", "Batch", "training_batches", "training_batch_indices", "eval_batches", "forward_all", "make_batch"]
