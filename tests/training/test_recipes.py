"""DataSpec.from_files: the one place the built-in data stands in for missing files."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_albert.errors import InputError
from edge_albert.training.recipes import DataSpec


def test_given_files_are_used_as_given(tmp_path):
    spec = DataSpec.from_files(tmp_path / "train.tsv", None, label_names=["neg", "pos"], limit=10)
    assert (spec.train, spec.dev, spec.label_names, spec.limit) == (tmp_path / "train.tsv", None, ["neg", "pos"], 10)


@pytest.mark.parametrize("task, kind", [("token-classification", "a CoNLL file"), ("question-answering", "a SQuAD v1.1 JSON file")])
def test_token_tasks_have_no_built_in_data(task, kind):
    with pytest.raises(InputError, match=f"--task {task} needs --train: {kind}"):
        DataSpec.from_files(None, Path("dev.txt"), task=task)


def test_without_a_training_file_classification_uses_the_built_in_splits(monkeypatch, tmp_path):
    from edge_albert.training import recipes

    class Files:
        train, dev, test, label_names = tmp_path / "t.tsv", tmp_path / "d.tsv", tmp_path / "x.tsv", ("negative", "positive")

    monkeypatch.setattr(recipes, "default_dataset", lambda: Files)
    spec = DataSpec.from_files()
    assert (spec.train, spec.dev, spec.label_names) == (Files.train, Files.dev, ["negative", "positive"])
    # a given dev file and label names win over the built-in ones
    spec = DataSpec.from_files(None, tmp_path / "mine.tsv", label_names=["bad", "good"])
    assert (spec.dev, spec.label_names) == (tmp_path / "mine.tsv", ["bad", "good"])
