"""CoNLL and SQuAD readers: the real dev files read whole with their published counts; malformed
rows fail with file:line (or question id)."""

from __future__ import annotations

import json

import pytest

from edge_albert.data.conll import read_conll
from edge_albert.data.squad import read_squad
from edge_albert.errors import InputError


def test_conll_dev_counts_and_labels(conll_dev):
    # The counts its README publishes: 3,250 sentences, 51,362 tokens; -DOCSTART- lines skipped.
    assert len(conll_dev) == 3250
    assert sum(len(w) for w in conll_dev.words) == 51362
    assert conll_dev.label_names == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    from edge_albert.entity_tags import entities

    counts = {}
    for i in range(len(conll_dev)):
        for kind, _, _ in entities(conll_dev.tag_names(i)):
            counts[kind] = counts.get(kind, 0) + 1
    assert counts == {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}


@pytest.mark.parametrize("body,words", [
    ("EU B-ORG\nrejects\n", "line 2: expected a token and its tag"),
    ("EU X-ORG\n", "line 1: tag 'X-ORG' is not IOB2"),
    ("EU O\nGerman I-MISC\n", "line 2: I-MISC does not continue an entity"),
    ("\n\n-DOCSTART- -X- O O\n\n", "no sentences found"),
])
def test_conll_errors_name_the_line(tmp_path, body, words):
    path = tmp_path / "bad.txt"
    path.write_text(body)
    with pytest.raises(InputError, match=words) as info:
        read_conll(path)
    assert str(path) in str(info.value)


def test_conll_dev_tag_outside_train_labels(tmp_path):
    path = tmp_path / "dev.txt"
    path.write_text("Paris B-CITY\n")
    with pytest.raises(InputError, match="B-CITY are not among the model's labels"):
        read_conll(path, label_names=["O", "B-LOC", "I-LOC"])


def test_squad_dev_counts(squad_dev):
    assert len(squad_dev) == 8045
    assert all(ex.context[a.start:a.end] == a.text for ex in squad_dev for a in ex.answers)


def squad_file(tmp_path, answer):
    doc = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "Denver won in 2016.", "qas": [
        {"id": "q1", "question": "Who won?", "answers": [answer]}]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(doc))
    return path


def test_squad_reads_a_good_file(tmp_path):
    [ex] = read_squad(squad_file(tmp_path, {"text": "Denver", "answer_start": 0}))
    assert (ex.id, ex.question, ex.answers[0].end) == ("q1", "Who won?", 6)


@pytest.mark.parametrize("answer,words", [
    ({"text": "Denver", "answer_start": 3}, "question q1: answers\\[0\\] 'Denver' is not the context text at answer_start 3"),
    ({"text": "Denver"}, "question q1: answers\\[0\\] needs"),
    ({"text": "Denver", "answer_start": True}, "needs"),
])
def test_squad_errors_name_the_question(tmp_path, answer, words):
    with pytest.raises(InputError, match=words):
        read_squad(squad_file(tmp_path, answer))


def test_squad_not_squad(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="expected SQuAD JSON"):
        read_squad(path)


def test_scored_pairs_read_stsb_and_name_the_bad_line(tmp_path):
    """STS-B dev as the shared README describes it (574 pairs, unbalanced quotes read as text),
    and malformed rows refused with file and line."""
    from edge_albert.data.sentence_pairs import read_scored_pairs
    from edge_albert.errors import InputError
    from tests.conftest import shared_file

    pairs = read_scored_pairs(shared_file("stsb/dev.tsv"))
    assert len(pairs) == 574 and pairs.scores.min() >= 0 and pairs.scores.max() <= 5
    assert pairs.first[0] == "A person is throwing a cat on to the ceiling." and pairs.scores[0] == 5.0
    bad = tmp_path / "bad.tsv"
    bad.write_text('score\tsentence1\tsentence2\n1.5\ta "quoted\tb\nhigh\tc\td\n')
    with pytest.raises(InputError, match=r"bad.tsv: line 3: score 'high' is not a number"):
        read_scored_pairs(bad)
    bad.write_text("score\tsentence1\tsentence2\n2\tonly one\n")
    with pytest.raises(InputError, match="line 2: 2 fields where the header has 3"):
        read_scored_pairs(bad)
    bad.write_text("label\tsentence\n1\tx\n")
    with pytest.raises(InputError, match="expected a header with the columns score, sentence1, sentence2"):
        read_scored_pairs(bad)
    assert read_scored_pairs(shared_file("stsb/dev.tsv"), limit=10).first == pairs.first[:10]
