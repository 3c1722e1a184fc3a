"""The sentence-embedding student: the teacher runs as sentence-transformers runs it, its
embeddings are cached, the student learns (dev Spearman rises on STS-B dev and the student moves
towards the teacher's geometry), the run resumes, and the CLI refuses options that do not apply."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from edge_albert.data.sentence_pairs import read_scored_pairs
from edge_albert.model.albert import AlbertForSentenceEmbedding
from edge_albert.model.checkpoint import load_model
from edge_albert.training.sentence_embeddings import SentenceTeacher, cached_teacher_embeddings, distill_embeddings, transfer_sentences
from edge_albert.training.teacher import default_teacher_base
from edge_albert.training.trainer import TrainConfig
from tests.conftest import shared_file


def test_teacher_embeds_as_sentence_transformers_does(tmp_path):
    st = pytest.importorskip("sentence_transformers")
    texts = read_scored_pairs(shared_file("stsb/dev.tsv"), limit=40).first
    teacher = SentenceTeacher(default_teacher_base())
    first = cached_teacher_embeddings(default_teacher_base(), texts, 128, tmp_path, teacher=teacher)
    reference = st.SentenceTransformer(str(default_teacher_base()), device="cpu", local_files_only=True).encode(texts)
    assert np.abs(first - reference).max() <= 1e-3  # the cache keeps float16: the targets are what training sees
    files = list(tmp_path.glob("teacher-embeddings-*.npy"))
    stamp = files[0].stat().st_mtime_ns
    np.testing.assert_array_equal(cached_teacher_embeddings(default_teacher_base(), texts, 128, tmp_path), first)
    assert files[0].stat().st_mtime_ns == stamp  # served from the cache


def test_transfer_sentences_keep_dev_sentences_out(tmp_path):
    dev = read_scored_pairs(shared_file("stsb/dev.tsv"))
    lines = tmp_path / "lines.txt"
    lines.write_text(f"{dev.first[0]}\nsome new sentence here\nshort\nsome new sentence here\n")
    sentences, counts = transfer_sentences([shared_file("stsb/train.tsv"), lines], dev.sentences, limit=None, seed=0, min_words=2)
    held = {" ".join(s.lower().split()) for s in dev.sentences}
    assert not any(" ".join(s.lower().split()) in held for s in sentences)
    assert "some new sentence here" in sentences and "short" not in sentences
    assert counts["text_lines"] == {"read": 4, "dropped": 2, "kept": 2} and counts["data_sentences"] > 9000


def test_student_learns_the_teachers_embeddings_and_resumes(tmp_path):
    train_file = tmp_path / "train.tsv"
    rows = (shared_file("stsb/train.tsv").read_text(encoding="utf-8").splitlines())[:1201]
    train_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    dev = tmp_path / "dev.tsv"
    dev.write_text("\n".join(shared_file("stsb/dev.tsv").read_text(encoding="utf-8").splitlines()[:201]) + "\n", encoding="utf-8")
    config = TrainConfig(epochs=2, batch_size=32, learning_rate=5e-4, max_length=48, eval_every=25, seed=0)
    run = tmp_path / "run"
    result = distill_embeddings([train_file], run, config, dev=dev, preset="tiny", vocab_size=2000)
    info = json.loads((run / "teacher.json").read_text())
    history = [h["dev_spearman"] for h in result.history]
    assert info["teacher_dev"]["spearman"] > 0.75 and info["transfer"]["data_sentences"] > 1800
    assert result.best_metrics["spearman"] == max(history) and max(history) > history[0] + 0.05  # it learns
    student = load_model(run / "model")
    assert isinstance(student, AlbertForSentenceEmbedding) and student.pooling.mode == "mean" and student.pooling.normalize
    # Resuming a finished schedule changes nothing and keeps the training-only map's state.
    state = torch.load(run / "state.pt", weights_only=True)
    assert "training_aids" in state and any(v.shape == (384, 312) for v in state["training_aids"].values())
    again = distill_embeddings([train_file], run, config, dev=dev, preset="tiny", vocab_size=2000, resume=True)
    assert again.best_metrics == result.best_metrics


def test_cli_refuses_classification_options_for_embeddings(tmp_path):
    out = subprocess.run([sys.executable, "-m", "edge_albert.cli", "distill", "--task", "feature-extraction", "--augment", "2",
                          "--unlabeled", str(tmp_path / "x.txt"), "-o", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "--augment do not apply to --task feature-extraction" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "edge_albert.cli", "distill", "--train", "x.tsv", "-o", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "--teacher is required for --task text-classification" in out.stderr
