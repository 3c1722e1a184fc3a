"""The TFLite Task Library's own BertQuestionAnswerer runs our question-answering export (in the
cached tflite-support venv)."""

from __future__ import annotations

import json
import subprocess

import pytest

from edge_albert.converters.convert import convert
from edge_albert.errors import InputError
from edge_albert.runtimes import open_session
from edge_albert.runtimes.litert import read_tflite_metadata
from edge_albert.tokenization import AlbertTokenizer

ANSWER = r"""
import json, sys
from tflite_support.task import text
qa = text.BertQuestionAnswerer.create_from_file(sys.argv[1])
out = []
for item in json.loads(sys.stdin.read()):
    answers = qa.answer(item["context"], item["question"]).answers
    out.append([{"text": a.text, "logit": a.pos.logit} for a in answers])
print(json.dumps(out))
"""


def whole_words(context: str, start: int, end: int) -> str:
    """Our answer's character span widened to the white-space words it touches: the Task Library
    answers in whole words of the context, we in pieces ("▁201" of "2010")."""
    while start < end and context[start].isspace():  # a "▁word" piece starts at its space
        start += 1
    while start > 0 and not context[start - 1].isspace():
        start -= 1
    while end < len(context) and not context[end].isspace():
        end += 1
    return context[start:end].strip()


@pytest.fixture(scope="module")
def trained_qa(tmp_path_factory, spiece_model):
    """A small ALBERT question answerer trained for two epochs on SQuAD train's first 40 paragraphs
    of at most 450 characters (211 questions; one 128-token window each, as the Task Library runs
    them): logits with a shape (padding and question pieces pushed down), which the Task
    Library's search of the 5 best starts and ends needs."""
    from edge_albert.training.recipes import DataSpec, train_token_task
    from edge_albert.training.trainer import TrainConfig
    from tests.conftest import shared_file

    folder = tmp_path_factory.mktemp("qa-trained")
    doc = json.loads(shared_file("squad/train.json").read_text())
    short = [p for article in doc["data"] for p in article["paragraphs"] if len(p["context"]) <= 450][:40]
    squad = folder / "short.json"
    squad.write_text(json.dumps({"version": doc.get("version"), "data": [{"title": "short", "paragraphs": short}]}))
    config = TrainConfig(epochs=2, batch_size=16, learning_rate=1e-3, max_length=128, log_every=10)
    train_token_task("question-answering", DataSpec(squad, None), folder / "run", config, tokenizer=spiece_model, stride=32)
    return folder / "run" / "model", squad


def test_task_library_question_answerer_runs_our_export(tmp_path, trained_qa):
    from edge_albert.converters.task_library import task_library_python
    from edge_albert.data.squad import read_squad
    from edge_albert.on_device.question_answerer import best_answers

    checkpoint, squad = trained_qa
    out = tmp_path / "qa.task.tflite"
    report = convert(checkpoint, out, "task-library")
    assert report.check.max_abs_logit_diff <= 1e-4
    assert read_tflite_metadata(out)["task"] == "question-answering"  # our metadata survives the writer
    # Short contexts (one window each): the Task Library runs one window of 384 tokens.
    tokenizer = AlbertTokenizer(checkpoint / "spiece.model")
    examples = [ex for ex in read_squad(squad) if len(tokenizer.tokens(ex.context)) + len(tokenizer.tokens(ex.question)) < 120][:20]
    assert len(examples) >= 10
    items = [{"question": ex.question, "context": ex.context} for ex in examples]
    proc = subprocess.run([str(task_library_python()), "-c", ANSWER, str(out)], input=json.dumps(items), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    # The Task Library's longest answer is 32 pieces (kMaxAnsLen); ours defaults to 30.
    ours, _ = best_answers(open_session(out), tokenizer, [i["question"] for i in items], [i["context"] for i in items], max_length=384,
                           max_answer_length=32)
    for item, their_answers, our in zip(items, theirs, ours):
        assert their_answers and our is not None
        best = max(their_answers, key=lambda a: a["logit"])
        # The same logits and tokens reach both: the Task Library's best span is ours, with our score.
        assert abs(best["logit"] - our.score) < 1e-4, (best, our)
        assert best["text"] == whole_words(item["context"], our.start, our.end), (best, our)


def test_task_library_refuses_other_tasks_and_lengths(tmp_path, tiny_checkpoint, qa_checkpoint):
    with pytest.raises(InputError, match="writes the Task Library's BertQuestionAnswerer"):
        convert(tiny_checkpoint, tmp_path / "x.tflite", "task-library")
    # tflite-support 0.4.4 fills 384 ids whatever the file holds: a 128-token file failed every question.
    with pytest.raises(InputError, match="fills exactly 384 tokens"):
        convert(qa_checkpoint, tmp_path / "x.tflite", "task-library", max_length=128)
    assert not (tmp_path / "x.tflite").exists()
