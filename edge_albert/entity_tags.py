"""Entities from IOB2 tag sequences, with the chunking rules of CoNLL's conlleval (and of
`seqeval`'s default mode): an `I-X` after `O` or after another type starts an entity, so a model's
imperfect tag sequences still decode the way the shared task's scorer reads them.

Bottom layer (no torch, no numpy): the on-device runtime and validation both use it.
"""

from __future__ import annotations

from collections.abc import Sequence

OUTSIDE = "O"


def _split(tag: str) -> tuple[str, str]:
    if tag == OUTSIDE or len(tag) < 2 or tag[1] != "-":
        return OUTSIDE, ""
    return tag[0], tag[2:]


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word + 1) for each entity in a tag sequence."""
    out: list[tuple[str, int, int]] = []
    start: int | None = None
    current = ""
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        prefix, kind = _split(tag)
        if start is not None and (prefix in ("B", OUTSIDE) or kind != current):
            out.append((current, start, i))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, current = i, kind
    return out


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro precision, recall and F1 over exact entities (type and span), plus tag accuracy,
    all as fractions (seqeval's `classification_report` numbers, micro average)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    true_set, pred_set = set(), set()
    correct_tags = total_tags = 0
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
        true_set.update((i, *e) for e in entities(g))
        pred_set.update((i, *e) for e in entities(p))
        correct_tags += sum(a == b for a, b in zip(g, p))
        total_tags += len(g)
    hits = len(true_set & pred_set)
    precision = hits / len(pred_set) if pred_set else 0.0
    recall = hits / len(true_set) if true_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": correct_tags / total_tags if total_tags else float("nan")}


__all__ = ["entities", "entity_scores", "OUTSIDE"]
