"""Accuracy, macro-F1 and fidelity metrics on numpy arrays (no torch: the runtime uses them too)."""

from __future__ import annotations

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


__all__ = ["softmax", "accuracy", "macro_f1", "classification_metrics", "fidelity_metrics"]
