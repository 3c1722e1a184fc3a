"""The task table: every stage's lookup, and a checkpoint's task read without torch."""

from __future__ import annotations

import json

import pytest

from edge_albert.errors import InputError
from edge_albert.tasks import TASKS, checkpoint_task, get_task


def test_aliases_and_unknown_names():
    assert get_task("ner").name == "token-classification" and get_task("sentiment-analysis").name == "text-classification"
    with pytest.raises(InputError, match="unknown task 'summarization'; edge-albert handles text-classification"):
        get_task("summarization")


def test_checkpoint_task_from_config(tmp_path, ner_checkpoint, qa_checkpoint, tiny_checkpoint):
    assert checkpoint_task(ner_checkpoint) is TASKS["token-classification"]
    assert checkpoint_task(qa_checkpoint) is TASKS["question-answering"]
    assert checkpoint_task(tiny_checkpoint) is TASKS["text-classification"]
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "albert"}))
    assert checkpoint_task(tmp_path) is TASKS["text-classification"]  # no architectures: a classifier, as loading reads it
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["AlbertForCausalLM"]}))
    with pytest.raises(InputError, match="config.json: config.json names architecture AlbertForCausalLM"):
        checkpoint_task(tmp_path)
    with pytest.raises(InputError, match="no config.json"):
        checkpoint_task(tmp_path / "missing")


def test_every_head_has_one_task_and_multiple_choice_adds_a_choices_axis(embedding_checkpoint):
    from edge_albert.model.albert import ARCHITECTURES
    from edge_albert.tasks import find_task

    assert checkpoint_task(embedding_checkpoint) is TASKS["feature-extraction"] is get_task("sentence-embedding")
    assert {name for name in ARCHITECTURES if find_task(name) is None} == {"AlbertForPreTraining"}  # pretraining has no task
    assert TASKS["multiple-choice"].dynamic_axes["input_ids"] == {0: "batch", 1: "choices", 2: "sequence"}
    assert TASKS["feature-extraction"].dynamic_axes["sentence_embedding"] == {0: "batch"}
