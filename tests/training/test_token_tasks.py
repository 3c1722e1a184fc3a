"""Training token classification (CoNLL) and question answering (SQuAD) through the one training
loop: labels on first pieces, answer positions inside windows, dev scores by the task metric, a
best checkpoint that transformers loads as the same head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_albert.data.squad import Answer, QuestionExample
from edge_albert.errors import InputError
from edge_albert.model.checkpoint import load_model
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.training.recipes import DataSpec, train_teacher, train_token_task
from edge_albert.training.token_tasks import IGNORE, answer_positions, encode_tagged
from edge_albert.training.trainer import TrainConfig

transformers = pytest.importorskip("transformers")


def test_labels_sit_on_first_pieces_only(spiece_model, conll_dev):
    tok = AlbertTokenizer(spiece_model)
    data = encode_tagged(conll_dev.subset(range(200)), tok, 64)
    for enc, labels, tags in zip(data.encodings, data.labels, conll_dev.tags[:200]):
        firsts = [t for t, w in enumerate(enc.word_ids) if w is not None and (t == 0 or enc.word_ids[t - 1] != w)]
        assert [int(labels[t]) for t in firsts] == [tags[enc.word_ids[t]] for t in firsts]
        assert all(labels[t] == IGNORE for t in range(len(labels)) if t not in firsts)


def test_answer_positions_cover_exactly_the_answer(spiece_model, squad_dev):
    tok = AlbertTokenizer(spiece_model)
    inside = 0
    for ex in squad_dev[:300]:
        a = ex.answers[0]
        for window in tok.encode_windows(ex.question.strip(), ex.context, max_length=128, stride=32):
            s, e = answer_positions(window, a.start, a.end)
            if (s, e) == (0, 0):
                continue
            inside += 1
            span = ex.context[window.offsets[s][0]:window.offsets[e][1]]
            assert a.text in span.lstrip() or span.strip() == a.text.strip(), (a.text, span)
            # Nothing shorter covers it: the first and last pieces both touch the answer.
            assert window.offsets[s][1] > a.start and window.offsets[e][0] < a.end
    assert inside >= 300


def test_answer_outside_window_points_at_cls():
    window_offsets = [(0, 0), (0, 3), (0, 0), (10, 15), (15, 20), (0, 0)]
    from edge_albert.tokenization import Encoding

    window = Encoding([2, 5, 3, 7, 8, 3], [0, 0, 0, 1, 1, 1], window_offsets, [None, 0, None, 0, 1, None], [None, 0, None, 1, 1, None])
    assert answer_positions(window, 12, 18) == (3, 4)
    assert answer_positions(window, 5, 12) == (0, 0)  # starts before the window's context
    assert answer_positions(window, 16, 25) == (0, 0)  # ends after it


def test_ner_training_learns_and_saves_a_token_classifier(tmp_path, spiece_model):
    from tests.conftest import shared_file

    conll = shared_file("conll2003/train.txt")
    dev = tmp_path / "dev.txt"
    # dev = the first 150 training sentences: the score must rise above chance on what it saw.
    blocks = conll.read_text().split("\n\n")
    dev.write_text("\n\n".join(blocks[:160]) + "\n")
    config = TrainConfig(epochs=3, batch_size=16, learning_rate=1e-3, max_length=48, log_every=10)
    result = train_token_task("token-classification", DataSpec(conll, dev, limit=200), tmp_path / "run", config, tokenizer=spiece_model)
    assert result.best_metrics["f1"] > 0.05 and 0.0 <= result.best_metrics["precision"] <= 1.0
    model = load_model(tmp_path / "run" / "model")
    assert type(model).__name__ == "AlbertForTokenClassification"
    assert model.config.labels[0] == "O" and len(model.config.labels) == 9
    ref = transformers.AutoModelForTokenClassification.from_pretrained(tmp_path / "run" / "model")
    assert type(ref).__name__ == "AlbertForTokenClassification"


def test_qa_training_runs_and_scores_with_squad_metric(tmp_path, spiece_model):
    from tests.conftest import shared_file

    squad = shared_file("squad/train.json")
    doc = json.loads(squad.read_text())
    doc["data"] = doc["data"][:1]
    doc["data"][0]["paragraphs"] = doc["data"][0]["paragraphs"][:12]
    small = tmp_path / "small.json"
    small.write_text(json.dumps(doc))
    config = TrainConfig(epochs=1, batch_size=16, learning_rate=1e-3, max_length=128, log_every=10)
    result = train_token_task("question-answering", DataSpec(small, small), tmp_path / "run", config, tokenizer=spiece_model, stride=32)
    m = result.best_metrics
    assert set(m) >= {"exact_match", "f1"} and 0.0 <= m["exact_match"] <= m["f1"] <= 1.0
    assert type(load_model(tmp_path / "run" / "model")).__name__ == "AlbertForQuestionAnswering"
    assert type(transformers.AutoModelForQuestionAnswering.from_pretrained(tmp_path / "run" / "model")).__name__ == "AlbertForQuestionAnswering"


@pytest.fixture(scope="module")
def ner_teacher(tmp_path_factory):
    """The MiniLM encoder fine-tuned as a tagger on 300 CoNLL sentences; dev = the first 120 of them."""
    from tests.conftest import shared_file

    folder = tmp_path_factory.mktemp("ner-teacher")
    conll = shared_file("conll2003/train.txt")
    dev = folder / "dev.txt"
    dev.write_text("\n\n".join(conll.read_text().split("\n\n")[:120]) + "\n")
    config = TrainConfig(epochs=2, batch_size=16, learning_rate=1e-4, max_length=48, log_every=10)
    result = train_teacher(DataSpec(conll, dev, limit=300), folder / "run", config, task="token-classification")
    return result, folder / "run" / "model", conll, dev


def test_ner_teacher_fine_tunes_minilm_on_words(ner_teacher):
    """`teacher --task token-classification`: the MiniLM encoder tags CoNLL words (labels on each
    word's first word piece, its own tokenizer), learns, and saves a transformers token classifier."""
    result, model_dir, _, _ = ner_teacher
    assert result.best_metrics["f1"] > 0.2  # a pretrained encoder learns entities from 300 sentences
    ref = transformers.AutoModelForTokenClassification.from_pretrained(model_dir)
    assert type(ref).__name__ == "BertForTokenClassification" and ref.config.id2label[0] == "O" and ref.config.num_labels == 9


def test_word_soft_targets_sit_on_the_students_first_pieces(spiece_model, conll_dev):
    from edge_albert.training.token_tasks import word_soft_targets

    tok = AlbertTokenizer(spiece_model)
    data = encode_tagged(conll_dev.subset(range(30)), tok, 16)
    per_word = [np.arange(len(w) * 9, dtype=np.float32).reshape(len(w), 9) + 1000 * i for i, w in enumerate(conll_dev.words[:30])]
    soft = word_soft_targets(data, per_word)
    for row, enc in enumerate(data.encodings):
        firsts = [t for t, w in enumerate(enc.word_ids) if w is not None and (t == 0 or enc.word_ids[t - 1] != w)]
        assert np.isfinite(soft[row, :, 0]).nonzero()[0].tolist() == firsts  # targets exactly where labels are
        assert all((soft[row, t] == per_word[row][enc.word_ids[t]]).all() for t in firsts)
        assert (data.labels[row] != IGNORE).nonzero()[0].tolist() == firsts


def refuse_teacher_pass(monkeypatch, name: str) -> None:
    """The teacher pass `name` of edge_albert.training.token_tasks fails if it runs."""
    import edge_albert.training.token_tasks as token_tasks

    def refuse(*args, **kwargs):
        raise AssertionError(f"{name} ran again: the cached teacher outputs were not used")

    monkeypatch.setattr(token_tasks, name, refuse)


def test_ner_distillation_learns_from_the_teacher(ner_teacher, tmp_path, spiece_model, monkeypatch):
    """`distill --task token-classification`: a student that learns from the teacher's word logits
    alone (alpha 1) still learns entities; resumed, it reads the teacher's logits from the run's cache."""
    _, teacher_dir, conll, dev = ner_teacher
    config = TrainConfig(epochs=3, batch_size=16, learning_rate=1e-3, max_length=48, log_every=10, alpha=1.0, temperature=2.0)
    result = train_token_task("token-classification", DataSpec(conll, dev, limit=300), tmp_path / "run", config, tokenizer=spiece_model,
                              teacher=teacher_dir)
    assert result.best_metrics["f1"] > 0.05
    assert json.loads((tmp_path / "run" / "teacher.json").read_text())["teacher"] == str(teacher_dir)
    assert len(list((tmp_path / "run" / "cache").glob("teacher-examples-*.npz"))) == 1
    refuse_teacher_pass(monkeypatch, "teacher_word_logits")
    again = train_token_task("token-classification", DataSpec(conll, dev, limit=300), tmp_path / "run", config, tokenizer=spiece_model,
                             teacher=teacher_dir, resume=True)
    assert again.best_metrics == result.best_metrics
    with pytest.raises(InputError, match="the teacher is BertForTokenClassification, not a question-answering model"):
        train_token_task("question-answering", DataSpec(conll, dev), tmp_path / "qa", config, tokenizer=spiece_model, teacher=teacher_dir)


def test_unlabeled_words_take_the_soft_term_only():
    from edge_albert.training.token_tasks import UNLABELED, TokenClassificationObjective

    objective = TokenClassificationObjective()
    nan = float("nan")
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [1.0, 1.0, 1.0]]])
    teacher = torch.tensor([[[0.0, 2.0, 0.0], [nan, nan, nan], [1.0, 0.0, 3.0]]])
    unlabeled = torch.tensor([[UNLABELED, IGNORE, UNLABELED]])
    t = 2.0
    p = torch.log_softmax(logits[0, [0, 2]] / t, -1)
    q = torch.log_softmax(teacher[0, [0, 2]] / t, -1)
    kl = float((q.exp() * (q - p)).sum() / 2) * t * t  # batchmean over the two tagged words
    # No gold label anywhere: alpha times the KL, no NaN from an empty cross-entropy.
    assert float(objective.distillation_loss(logits, teacher, unlabeled, 0.7, t)) == pytest.approx(0.7 * kl, rel=1e-5)
    assert float(objective.loss(logits, unlabeled)) == 0.0
    # The same words labelled: the hard term joins with 1 - alpha.
    gold = torch.tensor([[1, IGNORE, 2]])
    ce = float(torch.nn.functional.cross_entropy(logits[0, [0, 2]], torch.tensor([1, 2])))
    assert float(objective.distillation_loss(logits, teacher, gold, 0.7, t)) == pytest.approx(0.7 * kl + 0.3 * ce, rel=1e-5)
    assert objective.loss_units(unlabeled.numpy()) == objective.loss_units(gold.numpy()) == 2  # a micro-batch weighs its words


def test_unlabeled_word_sentences_from_squad_conll_and_text(tmp_path, conll_dev):
    from edge_albert.training.transfer import unlabeled_word_sentences

    squad = small_squad(tmp_path, 1)
    text = tmp_path / "lines.txt"
    text.write_text("EU rejects German call to boycott British lamb .\nBlackburn's U.S. sales don't stop.\nToo short\n"
                    "Blackburn's U.S. sales don't stop.\n")
    held = [list(w) for w in conll_dev.words[:5]]
    conll = tmp_path / "part.txt"
    conll.write_text("-DOCSTART- -X- -X- O\n\n" + "\n\n".join("\n".join(f"{w} NNP B-NP O" for w in words) for words in conll_dev.words[:8]) + "\n")
    sentences, counts = unlabeled_word_sentences([squad, conll, text], held)
    # The context "Architecturally, the school has a Catholic character. Atop the Main Building's ..."
    assert sentences[0] == ["Architecturally", ",", "the", "school", "has", "a", "Catholic", "character", "."]
    assert sentences[1][:6] == ["Atop", "the", "Main", "Building", "'s", "gold"]
    assert all(len(w) >= 3 for w in sentences) and ["Too", "short"] not in sentences
    assert not any(w in held for w in sentences)  # no training or dev sentence reaches the transfer set
    assert ["Blackburn", "'s", "U.S", ".", "sales", "do", "n't", "stop", "."] in sentences
    assert sentences.count(["Blackburn", "'s", "U.S", ".", "sales", "do", "n't", "stop", "."]) == 1
    assert counts["kept"] == len(sentences) and counts["read"] == counts["kept"] + counts["dropped"]
    sample, _ = unlabeled_word_sentences([squad, conll, text], held, limit=3, seed=1)
    assert len(sample) == 3 and all(s in sentences for s in sample)


def test_ner_distillation_on_unlabeled_sentences(ner_teacher, tmp_path, spiece_model):
    """The teacher tags unlabelled sentences (SQuAD contexts here) that the student learns beside
    the labelled ones; QA refuses them in one line."""
    from click.testing import CliRunner

    from edge_albert.cli import main

    _, teacher_dir, conll, dev = ner_teacher
    squad = small_squad(tmp_path, 3)
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["distill", "--task", "token-classification", "--teacher", str(teacher_dir), "--train", str(conll),
                                       "--dev", str(dev), "--limit", "100", "--unlabeled", str(squad), "--tokenizer", str(spiece_model),
                                       "--epochs", "1", "--batch-size", "16", "--max-length", "48", "--threads", "1", "-o", str(run), "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads((run / "unlabeled.json").read_text())
    assert counts["kept"] > 10
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    start = next(e for e in log if e["event"] == "start")
    assert start["train_examples"] == 100 + counts["kept"]
    assert all(np.isfinite(e["loss"]) for e in log if e["event"] == "step")
    assert len(list((run / "cache").glob("teacher-examples-*.npz"))) == 2  # labelled and unlabelled sentences, cached apart
    refused = CliRunner().invoke(main, ["distill", "--task", "question-answering", "--teacher", str(teacher_dir), "--train", str(squad),
                                        "--unlabeled", str(squad), "-o", str(tmp_path / "qa")])
    assert refused.exit_code != 0 and "--unlabeled works for text-classification and token-classification" in refused.output


def small_squad(tmp_path, paragraphs: int) -> "Path":
    """The first `paragraphs` paragraphs of SQuAD train's first article, as a SQuAD file."""
    from tests.conftest import shared_file

    doc = json.loads(shared_file("squad/train.json").read_text())
    doc["data"] = doc["data"][:1]
    doc["data"][0]["paragraphs"] = doc["data"][0]["paragraphs"][:paragraphs]
    out = tmp_path / f"squad-{paragraphs}.json"
    out.write_text(json.dumps(doc))
    return out


@pytest.fixture(scope="module")
def qa_teacher(tmp_path_factory):
    """The MiniLM encoder fine-tuned as a question answerer on 6 SQuAD paragraphs (~30 questions), scored on them."""
    folder = tmp_path_factory.mktemp("qa-teacher")
    squad = small_squad(folder, 6)
    config = TrainConfig(epochs=3, batch_size=8, learning_rate=1e-4, max_length=128, log_every=10)
    result = train_teacher(DataSpec(squad, squad), folder / "run", config, task="question-answering", stride=32)
    return result, folder / "run" / "model", squad


def test_teacher_windows_cover_exactly_the_answer(squad_dev):
    """`HFClassifier.encode_windows`: the teacher's own WordPiece windows with character offsets;
    answer positions in them cover the answer as in ours (same check as
    test_answer_positions_cover_exactly_the_answer)."""
    from edge_albert.training.teacher import HFClassifier, default_teacher_base

    teacher = HFClassifier(default_teacher_base(), task="question-answering")
    inside = 0
    for ex in squad_dev[:300]:
        a = ex.answers[0]
        windows = teacher.encode_windows(ex.question.strip(), ex.context, max_length=128, stride=32)
        question = len(teacher.tokenizer(ex.question.strip(), add_special_tokens=False)["input_ids"])
        assert all(len(w.input_ids) <= 128 and w.sequence_ids.count(0) == question for w in windows)  # the whole question in each
        for window in windows:
            s, e = answer_positions(window, a.start, a.end)
            if (s, e) == (0, 0):
                continue
            inside += 1
            span = ex.context[window.offsets[s][0]:window.offsets[e][1]]
            assert span.strip() == a.text.strip() or a.text in span, (a.text, span)
    assert inside >= 300
    long_question = "why " * 200
    cut = teacher.encode_windows(long_question, squad_dev[0].context, max_length=128, stride=32, max_question_tokens=92)
    assert cut[0].sequence_ids.count(0) == 92  # a question too long for the window is cut, not refused


def test_qa_teacher_fine_tunes_minilm_on_windows(qa_teacher):
    """`teacher --task question-answering`: the MiniLM encoder learns to find answers in its own
    windows and saves a transformers question answerer."""
    result, model_dir, _ = qa_teacher
    # 3 epochs on the 29 questions it is scored on reach F1 0.18 (one thread); an untrained head scores about 0.04 on
    # such questions (0.040, 0.042 for two seeds on the first 59).
    assert result.best_metrics["f1"] > 0.1
    ref = transformers.AutoModelForQuestionAnswering.from_pretrained(model_dir)
    assert type(ref).__name__ == "BertForQuestionAnswering"


def test_span_soft_targets_sit_where_both_tokenizers_start(qa_teacher, spiece_model):
    """The teacher's start (end) logit reaches a student piece exactly when a teacher token starts
    (ends) at that piece's first (last) character; a one-window question gets that window's logits."""
    from edge_albert.data.squad import read_squad
    from edge_albert.training.teacher import HFClassifier
    from edge_albert.training.token_tasks import encode_questions, span_soft_targets, teacher_span_logits

    _, model_dir, squad = qa_teacher
    examples = read_squad(squad)[:20]
    teacher = HFClassifier(model_dir, task="question-answering").eval()
    chars = teacher_span_logits(teacher, examples, max_length=384, stride=128)
    data = encode_questions(examples, AlbertTokenizer(spiece_model), 128, 32)
    soft = span_soft_targets(data, chars)
    word_starts = aligned = 0
    for row, (enc, k) in enumerate(zip(data.encodings, data.evaluation.window_example)):
        ex = examples[int(k)]
        (window,) = teacher.encode_windows(ex.question.lstrip(), ex.context, max_length=384, stride=128)  # contexts fit one window of 384
        starts = {window.offsets[i][0]: i for i, s in enumerate(window.sequence_ids) if s == 1}
        ends = {window.offsets[i][1]: i for i, s in enumerate(window.sequence_ids) if s == 1}
        with torch.no_grad():
            pad = lambda x: torch.tensor([x])  # noqa: E731
            start_logits, end_logits = teacher(pad(window.input_ids), pad([1] * len(window.input_ids)), pad(window.token_type_ids))
        for i, sequence in enumerate(enc.sequence_ids):
            if sequence != 1:
                assert not np.isfinite(soft[row, i]).any()  # nothing on the question, [CLS] or [SEP]
                continue
            begin, finish = enc.offsets[i]
            first_of_word = begin == 0 or ex.context[begin].isspace() or ex.context[begin - 1].isspace()
            begin += len(ex.context[begin:finish]) - len(ex.context[begin:finish].lstrip())  # "▁word" starts at its space
            assert np.isfinite(soft[row, i, 0]) == (begin in starts) and np.isfinite(soft[row, i, 1]) == (finish in ends)
            word_starts += first_of_word
            aligned += first_of_word and begin in starts
            if begin in starts:
                assert abs(soft[row, i, 0] - float(start_logits[0, starts[begin]])) < 1e-4
            if finish in ends:
                assert abs(soft[row, i, 1] - float(end_logits[0, ends[finish]])) < 1e-4
    # Every word's first piece gets the teacher's start logit (inner pieces only where WordPiece splits there too).
    assert word_starts > 1000 and aligned == word_starts


def test_qa_distillation_loss_is_kl_over_the_aligned_pieces():
    from edge_albert.training.token_tasks import QuestionAnsweringObjective

    objective = QuestionAnsweringObjective()
    labels = torch.tensor([[1, 2]])
    nan = float("nan")
    teacher = torch.tensor([[[nan, nan], [2.0, 0.5], [1.0, 3.0], [nan, nan]]])
    # The student equals the teacher where the teacher has logits, whatever it says elsewhere: no soft loss.
    student = (torch.tensor([[9.0, 2.0, 1.0, -5.0]]), torch.tensor([[4.0, 0.5, 3.0, 7.0]]))
    assert float(objective.distillation_loss(student, teacher, labels, 1.0, 2.0)) < 1e-6
    # Off by one logit on one aligned piece: KL of the two-place distributions at T=2, times T^2.
    off = (torch.tensor([[9.0, 3.0, 1.0, -5.0]]), student[1])
    p, q = torch.softmax(torch.tensor([1.5, 0.5]), 0), torch.softmax(torch.tensor([1.0, 0.5]), 0)
    expected = float((q * (q / p).log()).sum()) * 4 / 2  # mean of the start term and a zero end term
    assert abs(float(objective.distillation_loss(off, teacher, labels, 1.0, 2.0)) - expected) < 1e-5
    # A window with one aligned place has no distribution to learn: the labels alone.
    single = torch.tensor([[[nan, nan], [2.0, 0.5], [nan, nan], [nan, nan]]])
    hard = float(objective.loss(off, labels))
    assert abs(float(objective.distillation_loss(off, single, labels, 0.7, 2.0)) - hard) < 1e-6


def test_qa_distillation_learns_from_the_teacher(qa_teacher, tmp_path, spiece_model, monkeypatch):
    """`distill --task question-answering`: a student that learns from the teacher's start and end
    logits alone (alpha 1) moves towards them: its soft loss falls."""
    _, teacher_dir, squad = qa_teacher
    config = TrainConfig(epochs=2, batch_size=8, learning_rate=1e-3, max_length=128, log_every=5, alpha=1.0, temperature=2.0)
    result = train_token_task("question-answering", DataSpec(squad, squad), tmp_path / "run", config, tokenizer=spiece_model, teacher=teacher_dir,
                              stride=32)
    losses = [e["loss"] for e in map(json.loads, (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) if e.get("event") == "step"]
    assert losses[-1] < 0.8 * losses[0], losses
    assert set(result.best_metrics) >= {"exact_match", "f1"}
    assert json.loads((tmp_path / "run" / "teacher.json").read_text())["teacher"] == str(teacher_dir)
    # A second run on the same questions (here: resumed) takes the teacher's logits from the cache, as they were.
    refuse_teacher_pass(monkeypatch, "teacher_span_logits")
    again = train_token_task("question-answering", DataSpec(squad, squad), tmp_path / "run", config, tokenizer=spiece_model, teacher=teacher_dir,
                             stride=32, resume=True)
    assert again.best_metrics == result.best_metrics


def test_qa_student_from_the_teachers_layers(qa_teacher, tmp_path, spiece_model):
    """`distill --teacher-layers 1,3,5`: the student starts as the teacher cut to three layers (in a
    shape of the teacher's width with its exact GELU), records that, and saves an ALBERT that
    transformers loads with the same logits."""
    from edge_albert.data.squad import read_squad
    from edge_albert.training.token_tasks import encode_questions

    _, teacher_dir, squad = qa_teacher
    shape = Path(__file__).parents[2] / "benchmarks" / "shapes" / "qa-student.json"
    config = TrainConfig(epochs=1, batch_size=8, learning_rate=1e-4, max_length=128, log_every=5, alpha=0.7, temperature=2.0, max_steps=2)
    result = train_token_task("question-answering", DataSpec(squad, squad), tmp_path / "run", config, tokenizer=spiece_model, teacher=teacher_dir,
                              stride=32, preset=str(shape), teacher_layers=[1, 3, 5])
    transfer = json.loads((tmp_path / "run" / "teacher.json").read_text())["layer_transfer"]
    assert transfer["teacher_layers"] == [1, 3, 5] and transfer["head_copied"]
    saved = json.loads((Path(result.checkpoint) / "config.json").read_text())
    assert saved["hidden_act"] == "gelu" and saved["num_hidden_groups"] == 3 and saved["hidden_size"] == 384
    ours = load_model(result.checkpoint).eval()
    ref = transformers.AlbertForQuestionAnswering.from_pretrained(result.checkpoint).eval()
    enc = encode_questions(read_squad(squad)[:4], AlbertTokenizer(spiece_model), 128, 32)
    ids = torch.tensor([e.input_ids for e in enc.encodings[:1]])
    with torch.no_grad():
        start, _ = ours(ids, torch.ones_like(ids), torch.zeros_like(ids))
        assert float((start - ref(input_ids=ids).start_logits).abs().max()) < 1e-5
