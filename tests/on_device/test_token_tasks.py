"""The on-device named-entity tagger and question answerer, from a bundle on real ONNX Runtime,
against transformers' own pipelines on the same weights (`token-classification` with each
aggregation strategy, `question-answering` without word alignment), plus the edges: long texts,
empty contexts, over-long questions, control characters, and the `predict` command."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import transformers

from edge_albert.converters.convert import convert
from edge_albert.errors import InputError
from edge_albert.on_device import Classifier, QuestionAnswerer, TokenClassifier, open_predictor
from edge_albert.on_device.token_classifier import trimmed, word_windows
from edge_albert.packaging.bundle import build_bundle


@pytest.fixture(scope="module")
def ner_bundle(tmp_path_factory, ner_checkpoint):
    folder = tmp_path_factory.mktemp("ner-bundle")
    convert(ner_checkpoint, folder / "ner.onnx", "onnx")
    return build_bundle([folder / "ner.onnx"], ner_checkpoint / "spiece.model", folder / "ner.eabundle").path


@pytest.fixture(scope="module")
def qa_bundle(tmp_path_factory, qa_checkpoint):
    folder = tmp_path_factory.mktemp("qa-bundle")
    convert(qa_checkpoint, folder / "qa.onnx", "onnx")
    return build_bundle([folder / "qa.onnx"], qa_checkpoint / "spiece.model", folder / "qa.eabundle").path


@pytest.fixture(scope="module")
def fast(spiece_model):
    return transformers.AlbertTokenizerFast(vocab_file=str(spiece_model))


def ner_texts(conll_dev, fast) -> list[str]:
    """CoNLL dev sentences and a few of our own, where transformers' pipeline and we agree on what
    a word is: no lone "▁" piece and no unknown piece (the pipeline's heuristic makes each a word
    of its own; we keep them in their white-space word)."""
    texts = [" ".join(words) for words in conll_dev.words[:400]]
    texts += ["Angela Merkel (CDU) met Mr. Obama in Washington, D.C., on 12.3.2009!", "a", "x", "U.N. official Ekeus heads for Baghdad ."]
    texts = [t for t in texts if "▁" not in fast.tokenize(t) and fast.unk_token_id not in fast(t)["input_ids"]]
    assert len(texts) >= 100
    return texts[:100]


@pytest.mark.parametrize("strategy", ["none", "first", "average", "max"])
def test_entities_match_transformers_pipeline(ner_bundle, ner_checkpoint, fast, conll_dev, strategy):
    texts = ner_texts(conll_dev, fast)
    ours = TokenClassifier.from_bundle(ner_bundle).entities(texts, aggregation=strategy)
    model = transformers.AlbertForTokenClassification.from_pretrained(ner_checkpoint)
    pipe = transformers.pipeline("token-classification", model=model, tokenizer=fast, aggregation_strategy=strategy, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Tokenizer does not support real words, using fallback heuristic"
        theirs = pipe(texts)
    key = "entity" if strategy == "none" else "entity_group"
    total = 0
    for text, mine, ref in zip(texts, ours, theirs):
        # The pipeline's spans take in the space before a word (the fast tokenizer's offsets do): trimmed here.
        ref = [r | dict(zip(("start", "end"), trimmed(text, r["start"], r["end"]))) for r in ref]
        assert [(e.entity, e.start, e.end) for e in mine] == [(r[key], r["start"], r["end"]) for r in ref], text
        assert np.allclose([e.score for e in mine], [float(r["score"]) for r in ref], atol=1e-4), (text, mine, ref)
        assert all(e.text == text[e.start:e.end] for e in mine)
        total += len(mine)
    assert total > 50  # the random head tags plenty: the comparison is not vacuous


def test_spans_never_take_in_white_space(ner_bundle):
    text = "  leading and   inner  spaces\tand tabs\n  - 1999 ( and ) "
    for strategy in ("first", "average", "max"):
        [found] = TokenClassifier.from_bundle(ner_bundle).entities([text], aggregation=strategy)
        assert found and all(e.text == e.text.strip() and e.text for e in found)


def test_long_text_is_tagged_in_word_aligned_windows(ner_bundle):
    ner = TokenClassifier.from_bundle(ner_bundle)
    words = [f"w{i % 97}x{i % 13}" for i in range(400)]
    text = " ".join(words)
    [(tokens, logits)] = ner.token_logits([text])
    assert len(tokens) > ner.max_length and logits.shape == (len(tokens), len(ner.labels))
    ranges = word_windows(tokens, ner.max_length - 2)
    assert len(ranges) > 1 and ranges[0][0] == 0 and ranges[-1][1] == len(tokens)
    assert all(tokens[lo].word != tokens[lo - 1].word for lo, _ in ranges[1:])  # cuts fall between words
    # The first window's words get the same tags as when that window is tagged alone.
    first = text[:tokens[ranges[0][1] - 1].end]
    [alone] = ner.entities([first])
    whole = [e for e in ner.entities([text])[0] if e.end <= len(first)]
    assert [(e.entity, e.start, e.end) for e in whole[:-1]] == [(e.entity, e.start, e.end) for e in alone[:len(whole) - 1]]


def test_word_tags_for_presplit_sentences(ner_bundle, conll_dev):
    ner = TokenClassifier.from_bundle(ner_bundle)
    sentences = conll_dev.words[:50]
    tags = ner.word_tags(sentences)
    assert [len(t) for t in tags] == [len(s) for s in sentences]
    assert set(t for sent in tags for t in sent) <= set(ner.labels)
    with pytest.raises(InputError, match="word aggregation"):
        ner.word_tags(sentences, aggregation="none")


def squad_single_window(squad_dev, fast, n):
    out = []
    for ex in squad_dev:
        if len(fast(ex.question.strip(), ex.context)["input_ids"]) <= 384:
            out.append(ex)
        if len(out) == n:
            return out
    return out


def test_answers_match_transformers_pipeline(qa_bundle, qa_checkpoint, fast, squad_dev):
    examples = squad_single_window(squad_dev, fast, 40)
    qa = QuestionAnswerer.from_bundle(qa_bundle)
    ours = qa.answers([ex.question.strip() for ex in examples], [ex.context for ex in examples])
    model = transformers.AlbertForQuestionAnswering.from_pretrained(qa_checkpoint)
    pipe = transformers.pipeline("question-answering", model=model, tokenizer=fast, device="cpu")
    for ex, mine in zip(examples, ours):
        ref = pipe(question=ex.question.strip(), context=ex.context, max_answer_len=30, align_to_words=False)
        assert mine is not None and mine.windows == 1
        assert (mine.start, mine.end) == (ref["start"], ref["end"]), ex.id
        assert mine.text == ex.context[mine.start:mine.end] == ref["answer"]


def test_long_context_windows_and_edges(qa_bundle, squad_dev):
    qa = QuestionAnswerer.from_bundle(qa_bundle)
    ex = squad_dev[0]
    context = " ".join([ex.context] * 6)
    answer = qa.answer(ex.question, context)
    assert answer.windows > 1 and answer.text == context[answer.start:answer.end]
    # The best span of the long context scores at least as well as the best of its first window.
    assert answer.score >= qa.answer(ex.question, ex.context).score - 1e-4
    assert qa.answer("who?", "") is None  # no context, no answer
    control = qa.answer("what \x00 is\x1b this?", "this is a\ttest \x07of control characters.")
    assert control is None or control.text
    with pytest.raises(InputError, match="leaving no room for the context"):
        qa.answer("why " * 400, "short context")
    with pytest.raises(InputError, match="one context per question"):
        qa.answers(["a", "b"], ["c"])
    with pytest.raises(InputError, match="question 0 is not valid UTF-8"):
        qa.answers(["bad \udcff"], ["c"])


def test_bundles_record_their_task(ner_bundle, qa_bundle, bundle, trained_artifacts, tmp_path, ner_checkpoint):
    assert isinstance(open_predictor(ner_bundle), TokenClassifier)
    assert isinstance(open_predictor(qa_bundle), QuestionAnswerer)
    assert isinstance(open_predictor(bundle), Classifier)
    with pytest.raises(InputError, match="holds a question-answering model, not text-classification"):
        Classifier.from_bundle(qa_bundle)
    convert(ner_checkpoint, tmp_path / "ner.onnx", "onnx")
    with pytest.raises(InputError, match="a bundle holds one task"):
        build_bundle([trained_artifacts["onnx"], tmp_path / "ner.onnx"], ner_checkpoint / "spiece.model", tmp_path / "mixed.eabundle")


def run_predict(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "edge_albert.cli", "predict", *map(str, args)], input=stdin, capture_output=True, text=True, timeout=300)


def test_predict_tags_and_answers(ner_bundle, qa_bundle, squad_dev):
    out = run_predict(ner_bundle, "Angela Merkel visited Paris .", "", "--aggregation", "average")
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2] and records[1]["entities"] == []
    text = records[0]["text"]
    assert all(text[e["start"]:e["end"]] == e["text"] for e in records[0]["entities"])

    ex = squad_dev[0]
    out = run_predict(qa_bundle, "--question", ex.question, "--context", ex.context)
    assert out.returncode == 0, out.stderr
    [record] = [json.loads(line) for line in out.stdout.splitlines()]
    assert ex.context[record["start"]:record["end"]] == record["answer"]

    lines = [json.dumps({"id": "a", "question": ex.question, "context": ex.context}), json.dumps({"question": "who?", "context": ""}),
             "not json", json.dumps({"question": "x"})]
    out = run_predict(qa_bundle, stdin="\n".join(lines) + "\n")
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 2
    assert records[0]["id"] == "a" and records[0]["answer"] == record["answer"]
    assert records[1]["answer"] is None
    assert records[2]["line"] == 3 and "not a JSON object" in records[2]["error"]
    assert records[3]["line"] == 4 and "context" in records[3]["error"]

    out = run_predict(qa_bundle, "a text")
    assert out.returncode == 2 and "--question and --context" in out.stderr and "Traceback" not in out.stderr
