"""Span and word decoding against plain loops written from their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from edge_albert.answer_spans import best_span, word_scores


def brute_force(starts, ends, offsets, seqs, max_answer_length):
    best = None
    for w, (s, e, spans, seq) in enumerate(zip(starts, ends, offsets, seqs)):
        for i in range(len(s)):
            for j in range(i, min(i + max_answer_length, len(e))):
                if seq[i] == 1 and seq[j] == 1 and (best is None or s[i] + e[j] > best[0]):
                    best = (s[i] + e[j], spans[i][0], spans[j][1], w)
    return best


@pytest.mark.parametrize("seed", range(30))
def test_best_span_is_the_best_valid_pair_over_all_windows(seed):
    rng = np.random.default_rng(seed)
    windows = int(rng.integers(1, 4))
    starts, ends, offsets, seqs = [], [], [], []
    for _ in range(windows):
        n = int(rng.integers(5, 60))
        q = int(rng.integers(1, n - 3))
        seq = [None] + [0] * q + [None] + [1] * (n - q - 3) + [None]
        starts.append(rng.normal(size=n).astype(np.float32))
        ends.append(rng.normal(size=n).astype(np.float32))
        offsets.append([(3 * k, 3 * k + 2) for k in range(n)])
        seqs.append(seq)
    limit = int(rng.integers(1, 12))
    span = best_span(starts, ends, offsets, seqs, max_answer_length=limit)
    ref = brute_force(starts, ends, offsets, seqs, limit)
    assert (span.start, span.end, span.window) == ref[1:]
    assert span.score == pytest.approx(float(ref[0]), abs=1e-6)


def test_no_context_no_span():
    assert best_span([np.zeros(4)], [np.zeros(4)], [[(0, 0)] * 4], [[None, 0, 0, None]]) is None
    assert best_span([], [], [], []) is None


def test_word_scores_by_strategy():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]]))
    word_ids = [0, 0, 1, None]
    first = word_scores(logits, word_ids, 3, "first")
    assert np.allclose(first[0], logits[0]) and np.allclose(first[1], logits[2]) and not first[2].any()
    avg = word_scores(logits, word_ids, 3, "average")
    assert np.allclose(avg[0], [0.4, 0.5, 0.1]) and np.allclose(avg[1], [0.3, 0.3, 0.4])
    mx = word_scores(logits, word_ids, 3, "max")
    assert np.allclose(mx[0], [0.1, 0.8, 0.1])
    with pytest.raises(ValueError, match="unknown aggregation"):
        word_scores(logits, word_ids, 3, "mean")
