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
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["AlbertForMaskedLM"]}))
    with pytest.raises(InputError, match="config.json: config.json names architecture AlbertForMaskedLM"):
        checkpoint_task(tmp_path)
    with pytest.raises(InputError, match="no config.json"):
        checkpoint_task(tmp_path / "missing")
