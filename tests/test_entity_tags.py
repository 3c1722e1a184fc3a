"""Entity decoding and scores against seqeval (conlleval's rules), on CoNLL dev and on random tag
sequences that break IOB2 the way model outputs do."""

from __future__ import annotations

import random

import pytest

from edge_albert.entity_tags import entities, entity_scores

seqeval_metrics = pytest.importorskip("seqeval.metrics")
seqeval_sequence = pytest.importorskip("seqeval.metrics.sequence_labeling")

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def random_tags(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(TAGS) for _ in range(rng.randint(0, 25))] for _ in range(n)]


def test_entities_match_seqeval_on_broken_sequences():
    for tags in random_tags(2000, 0):
        ours = [(kind, start, end - 1) for kind, start, end in entities(tags)]
        assert ours == seqeval_sequence.get_entities(tags), tags


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scores_match_seqeval(seed):
    gold = random_tags(300, seed)
    rng = random.Random(seed + 100)
    predicted = [[t if rng.random() < 0.8 else rng.choice(TAGS) for t in sent] for sent in gold]
    ours = entity_scores(gold, predicted)
    assert ours["precision"] == pytest.approx(seqeval_metrics.precision_score(gold, predicted), abs=1e-12)
    assert ours["recall"] == pytest.approx(seqeval_metrics.recall_score(gold, predicted), abs=1e-12)
    assert ours["f1"] == pytest.approx(seqeval_metrics.f1_score(gold, predicted), abs=1e-12)
    assert ours["accuracy"] == pytest.approx(seqeval_metrics.accuracy_score(gold, predicted), abs=1e-12)


def test_perfect_and_empty():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    assert entity_scores(gold, gold)["f1"] == 1.0
    assert entity_scores(gold, [["O"] * 4]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 0.25}
    with pytest.raises(ValueError, match="sentence 0"):
        entity_scores(gold, [["O"]])
