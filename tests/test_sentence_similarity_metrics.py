"""Spearman's and Pearson's correlation and the embedding fidelity against scipy and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from edge_albert.metrics import embedding_fidelity, pearson, similarity_metrics, spearman


@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=200)
    b = np.round(a + rng.normal(size=200), 0)  # many ties, as STS-B's scores have
    assert spearman(a, b) == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)
    assert pearson(a, b) == pytest.approx(scipy.stats.pearsonr(a, b).statistic, abs=1e-12)


def test_similarity_metrics_are_the_cosines_correlations():
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(50, 8)), rng.normal(size=(50, 8))
    scores = rng.uniform(0, 5, size=50)
    cosine = (first * second).sum(1) / (np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1))
    got = similarity_metrics(first * 3.0, second, scores)  # scale does not matter to a cosine
    assert got["spearman"] == pytest.approx(scipy.stats.spearmanr(cosine, scores).statistic, abs=1e-12)
    assert got["pearson"] == pytest.approx(scipy.stats.pearsonr(cosine, scores).statistic, abs=1e-12)


def test_embedding_fidelity_counts_changed_neighbours_not_ties():
    ref = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.0, 1.0]])  # rows 2 and 3 are the same text twice
    same = embedding_fidelity(ref + 1e-9, ref)
    assert same["agreement"] == 1.0 and same["min_cosine"] == pytest.approx(1.0) and same["kl_divergence"] == 0.0
    moved = ref.copy()
    moved[1] = [0.1, 0.9]  # row 1 now lies nearest to rows 2/3; row 0 still lies nearest to row 1, rows 2 and 3 to each other
    fid = embedding_fidelity(moved, ref)
    assert fid["agreement"] == 0.75
    assert fid["max_abs_logit_diff"] == pytest.approx(0.8)
    assert fid["min_cosine"] == pytest.approx(float(moved[1] @ ref[1] / np.linalg.norm(moved[1]) / np.linalg.norm(ref[1])))
