"""Accuracy, macro-F1, SQuAD and fidelity metrics on numpy arrays (no torch: the runtime uses them too)."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(predictions) == np.asarray(labels)).mean()) if len(labels) else float("nan")


def macro_f1(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    scores = []
    for c in range(num_classes):
        tp = np.sum((predictions == c) & (labels == c))
        fp = np.sum((predictions == c) & (labels != c))
        fn = np.sum((predictions != c) & (labels == c))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    predictions = logits.argmax(axis=-1)
    return {"accuracy": accuracy(predictions, labels), "macro_f1": macro_f1(predictions, labels, logits.shape[-1])}


def fidelity_metrics(logits: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How closely `logits` follow the reference model's logits on the same inputs."""
    logits, reference = np.asarray(logits, np.float64), np.asarray(reference, np.float64)
    diff = np.abs(logits - reference)
    p, q = softmax(reference), softmax(logits)
    kl = np.sum(p * (np.log(np.clip(p, 1e-12, None)) - np.log(np.clip(q, 1e-12, None))), axis=-1)
    return {
        "agreement": float((logits.argmax(-1) == reference.argmax(-1)).mean()),
        "max_abs_logit_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_logit_diff": float(diff.mean()) if diff.size else 0.0,
        "kl_divergence": float(kl.mean()) if kl.size else 0.0,
    }


def embedding_fidelity(vectors: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How closely sentence embeddings [N, D] follow the reference model's: the largest and mean
    component difference, the smallest cosine similarity of a text's two embeddings, and as
    `agreement` the fraction of texts whose nearest other text (by cosine) is the same under both,
    what a similarity search returns. A softmax divergence means nothing here: 0."""
    a, b = np.asarray(vectors, np.float64), np.asarray(reference, np.float64)
    diff = np.abs(a - b)
    a_unit = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b_unit = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    cosine = (a_unit * b_unit).sum(1)
    if len(a) > 1:
        sim_a, sim_b = a_unit @ a_unit.T, b_unit @ b_unit.T
        np.fill_diagonal(sim_a, -np.inf)
        np.fill_diagonal(sim_b, -np.inf)
        # Ties (a text twice in the set) count as agreeing: the candidate's choice is as near under the reference.
        chosen = sim_b[np.arange(len(a)), sim_a.argmax(1)]
        agreement = float((chosen >= sim_b.max(1) - 1e-6).mean())
    else:
        agreement = 1.0
    return {
        "agreement": agreement,
        "max_abs_logit_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_logit_diff": float(diff.mean()) if diff.size else 0.0,
        "kl_divergence": 0.0,
        "min_cosine": float(cosine.min()) if cosine.size else 1.0,
    }


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Exact match and F1 as the official SQuAD v1.1 evaluation computes them (the best over each
    question's gold answers, averaged over questions), as fractions; a question without a
    prediction scores 0."""
    if not gold:
        return {"exact_match": float("nan"), "f1": float("nan")}
    em = f1 = 0.0
    for qid, answers in gold.items():
        prediction = predictions.get(qid)
        if prediction is None:
            continue
        em += max(float(normalize_answer(prediction) == normalize_answer(a)) for a in answers)
        f1 += max(answer_f1(prediction, a) for a in answers)
    return {"exact_match": em / len(gold), "f1": f1 / len(gold)}


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as Spearman's rho needs)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's on the ranks."""
    return pearson(_ranks(a), _ranks(b))


def similarity_metrics(first: np.ndarray, second: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """How well the cosine similarity of paired embeddings [N, D] ranks gold similarity `scores`
    (STS-B's evaluation: Spearman's rho, and Pearson's r)."""
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    cosine = (first * second).sum(1) / np.maximum(norms, 1e-12)
    return {"spearman": spearman(cosine, scores), "pearson": pearson(cosine, scores)}


__all__ = ["embedding_fidelity", "pearson", "spearman", "similarity_metrics", "normalize_answer", "answer_f1", "squad_scores", "softmax", "accuracy", "macro_f1", "classification_metrics", "fidelity_metrics"]
