"""The metrics the gate judges, against independent implementations (scikit-learn, scipy) and
hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax
from scipy.stats import entropy
from sklearn.metrics import accuracy_score, f1_score

from edge_albert.metrics import classification_metrics, fidelity_metrics, softmax


@pytest.mark.parametrize("seed, classes, n", [(0, 2, 872), (1, 3, 500), (2, 5, 37), (3, 4, 9)])
def test_classification_metrics_match_scikit_learn(seed, classes, n):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, classes)).astype(np.float32)
    labels = rng.integers(0, classes, size=n)
    ours = classification_metrics(logits, labels)
    predictions = logits.argmax(1)
    assert ours["accuracy"] == pytest.approx(accuracy_score(labels, predictions), abs=1e-15)
    reference = f1_score(labels, predictions, average="macro", labels=list(range(classes)), zero_division=0.0)
    assert ours["macro_f1"] == pytest.approx(reference, abs=1e-12)


def test_macro_f1_by_hand():
    # Class 0: tp 1, fp 1, fn 1 -> 0.5; class 1: tp 1, fp 1, fn 1 -> 0.5; class 2: never predicted or true -> 0.
    logits = np.eye(3)[[0, 1, 0, 1]]
    assert classification_metrics(logits, np.array([0, 0, 1, 1]))["macro_f1"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(4))
def test_fidelity_metrics_match_scipy(seed):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(300, 3)) * 3
    candidate = reference + rng.normal(size=reference.shape) * 0.3
    ours = fidelity_metrics(candidate, reference)
    p, q = scipy_softmax(reference, axis=1), scipy_softmax(candidate, axis=1)
    assert ours["kl_divergence"] == pytest.approx(np.mean(entropy(p, q, axis=1)), rel=1e-9)
    assert ours["agreement"] == pytest.approx(np.mean(reference.argmax(1) == candidate.argmax(1)), abs=1e-15)
    assert ours["max_abs_logit_diff"] == pytest.approx(np.abs(candidate - reference).max(), abs=1e-15)
    assert ours["mean_abs_logit_diff"] == pytest.approx(np.abs(candidate - reference).mean(), abs=1e-15)
    np.testing.assert_allclose(softmax(reference), p, rtol=1e-12)


def test_fidelity_by_hand():
    reference = np.array([[0.0, 1.0], [2.0, 0.0]])
    candidate = np.array([[0.5, 0.0], [2.0, 0.25]])
    out = fidelity_metrics(candidate, reference)
    assert out["agreement"] == 0.5 and out["max_abs_logit_diff"] == 1.0 and out["mean_abs_logit_diff"] == pytest.approx(1.75 / 4)
    assert fidelity_metrics(reference, reference)["kl_divergence"] == 0.0


def test_squad_scores_match_transformers_reference():
    """Exact match and F1 per answer equal transformers' copy of the official SQuAD scoring
    (`squad_metrics.compute_exact/compute_f1`), best over gold answers, averaged; the one
    documented difference is an answer that normalises to nothing (v1.1 scores F1 0, the v2 copy 1)."""
    import random

    from transformers.data.metrics import squad_metrics

    from edge_albert.metrics import normalize_answer, squad_scores

    rng = random.Random(0)
    words = ["the", "a", "an", "Denver", "Broncos", "1990", "city's", "New-York", ",", ".", "Peyton", "Manning", "  ", "THE"]
    gold, predictions = {}, {}
    for i in range(500):
        answers = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 3))]
        gold[str(i)] = answers
        predictions[str(i)] = " ".join(rng.choice(words) for _ in range(rng.randint(1, 5)))
    usable = {q: a for q, a in gold.items() if normalize_answer(predictions[q]) and all(normalize_answer(x) for x in a)}
    ours = squad_scores(predictions, usable)
    em = sum(max(squad_metrics.compute_exact(a, predictions[q]) for a in answers) for q, answers in usable.items()) / len(usable)
    f1 = sum(max(squad_metrics.compute_f1(a, predictions[q]) for a in answers) for q, answers in usable.items()) / len(usable)
    assert len(usable) > 200
    assert ours["exact_match"] == pytest.approx(em, abs=1e-12) and ours["f1"] == pytest.approx(f1, abs=1e-12)
    assert 0 < ours["exact_match"] < ours["f1"] < 1


def test_squad_scores_count_missing_predictions_as_wrong():
    from edge_albert.metrics import squad_scores

    gold = {"q1": ["Denver Broncos"], "q2": ["1990"]}
    assert squad_scores({"q1": "the Denver Broncos"}, gold) == {"exact_match": 0.5, "f1": 0.5}
    assert squad_scores({"q1": "Broncos", "q2": "in 1990"}, gold) == pytest.approx({"exact_match": 0.0, "f1": (2 / 3 + 2 / 3) / 2})
