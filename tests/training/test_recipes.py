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


def test_classification_student_from_teacher_layers(tmp_path, spiece_model, sst2_train, sst2_dev, monkeypatch):
    """`distill --teacher-layers` for sentence classification: a student of the wrong shape is refused
    before the teacher labels anything; one of the teacher's width starts from its layers and head."""
    import json

    from edge_albert.training import recipes
    from edge_albert.training.recipes import distill
    from edge_albert.training.teacher import default_teacher_base
    from edge_albert.training.trainer import TrainConfig

    for split, rows in (("train", sst2_train[:64]), ("dev", sst2_dev[:16])):
        (tmp_path / f"{split}.tsv").write_text("label\tsentence\n" + "".join(f"{l}\t{s}\n" for l, s in rows))
    spec = DataSpec(tmp_path / "train.tsv", tmp_path / "dev.tsv", label_names=["negative", "positive"])
    config = TrainConfig(epochs=1, max_steps=1, max_length=48, threads=1)
    real_pass = recipes.cached_teacher_outputs

    def refused(*args, **kwargs):
        raise AssertionError("the teacher ran before the student's shape was checked")

    monkeypatch.setattr(recipes, "cached_teacher_outputs", refused)
    with pytest.raises(InputError, match="hidden_size 312"):
        distill(spec, tmp_path / "tiny", config, teacher=default_teacher_base(), preset="tiny", tokenizer=spiece_model, teacher_layers=[0, 2, 4])
    monkeypatch.setattr(recipes, "cached_teacher_outputs", real_pass)
    shape = Path(__file__).parents[2] / "benchmarks" / "shapes" / "qa-student.json"
    distill(spec, tmp_path / "run", config, teacher=default_teacher_base(), preset=str(shape), tokenizer=spiece_model, teacher_layers=[0, 2, 4])
    info = json.loads((tmp_path / "run" / "teacher.json").read_text())
    assert info["layer_transfer"]["teacher_layers"] == [0, 2, 4] and info["layer_transfer"]["head_copied"]
    assert "embedding_transfer" not in info
