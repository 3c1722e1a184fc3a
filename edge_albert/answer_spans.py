"""Decoding model outputs of the token-level tasks into answers: the best answer span of extractive
question answering over one or more context windows, and word labels from per-token scores.

Bottom layer (numpy only): training's dev evaluation, validation and the on-device runtime decode
with this one implementation, so a number measured on the host is what the device computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Word aggregation strategies of token classification (as transformers' pipeline names them).
AGGREGATIONS = ("first", "average", "max")


@dataclass(frozen=True)
class Span:
    score: float  # start logit + end logit
    start: int  # character span in the context
    end: int
    window: int


def best_span(
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    offsets: Sequence[Sequence[tuple[int, int]]],
    sequence_ids: Sequence[Sequence[int | None]],
    *,
    max_answer_length: int = 30,
) -> Span | None:
    """The highest-scoring span (start logit + end logit) over all windows of one question whose
    tokens both lie in the context, end at or after the start and span at most
    `max_answer_length` tokens. Every such pair is scored (as transformers' question-answering
    pipeline does; its SQuAD example looks only at each window's 20 best starts and ends, which
    can miss the best valid pair). Ties go to the earliest window, start and end. None when no
    window holds a valid span."""
    best: Span | None = None
    for w, (starts, ends, spans, seq) in enumerate(zip(start_logits, end_logits, offsets, sequence_ids)):
        n = min(len(spans), len(starts), len(ends))
        context = np.array([seq[i] == 1 for i in range(n)], dtype=bool)
        if not context.any():
            continue
        s_scores = np.where(context, np.asarray(starts[:n], dtype=np.float64), -np.inf)
        e_scores = np.where(context, np.asarray(ends[:n], dtype=np.float64), -np.inf)
        i, j = np.indices((n, n))
        scores = np.where((j >= i) & (j - i < max_answer_length), s_scores[:, None] + e_scores[None, :], -np.inf)
        flat = int(np.argmax(scores))
        score = float(scores.flat[flat])
        if np.isfinite(score) and (best is None or score > best.score):
            a, b = divmod(flat, n)
            best = Span(score, int(spans[a][0]), int(spans[b][1]), w)
    return best


def word_scores(logits: np.ndarray, word_ids: Sequence[int | None], words: int, strategy: str = "first") -> np.ndarray:
    """Per-word class scores [words, classes] from per-token logits [tokens, classes]: the word's
    first piece, or the average or maximum over its pieces (probabilities averaged, as
    transformers' pipeline does). Words that truncation cut off get all-zero rows."""
    if strategy not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {strategy!r}; use one of {', '.join(AGGREGATIONS)}")
    logits = np.asarray(logits, dtype=np.float64)
    out = np.zeros((words, logits.shape[-1]), dtype=np.float64)
    seen = np.zeros(words, dtype=bool)
    if strategy == "first":
        for t, w in enumerate(word_ids[: len(logits)]):
            if w is not None and not seen[w]:
                out[w], seen[w] = logits[t], True
        return out
    z = logits - logits.max(-1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    counts = np.zeros(words)
    for t, w in enumerate(word_ids[: len(logits)]):
        if w is None:
            continue
        if strategy == "average":
            out[w] += probs[t]
            counts[w] += 1
        elif not seen[w] or probs[t].max() > out[w].max():
            out[w] = probs[t]
        seen[w] = True
    if strategy == "average":
        out[counts > 0] /= counts[counts > 0, None]
    return out


__all__ = ["Span", "best_span", "word_scores", "AGGREGATIONS"]
