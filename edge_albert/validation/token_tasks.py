"""Scoring the token-level tasks for `validate`: every artifact decodes its outputs exactly as the
on-device runtime does (`on_device.token_classifier.word_tags`, `on_device.question_answerer.best_answers`)
and is scored on the task's metric, and against the fp32 reference on what a user sees:

- token classification: entity precision / recall / F1 and word-tag accuracy on CoNLL-format data;
  agreement = the fraction of sentences whose entities (type and span) equal the reference's;
- question answering: SQuAD v1.1 exact match and F1 on SQuAD-format data; agreement = the fraction
  of questions whose best span is the reference's.

Logit differences are over every real token (the context windows for QA).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_albert.data.conll import TaggedSentences, read_conll
from edge_albert.data.squad import QuestionExample, read_squad
from edge_albert.entity_tags import entities, entity_scores
from edge_albert.errors import InputError
from edge_albert.metrics import fidelity_metrics, squad_scores
from edge_albert.on_device.question_answerer import best_answers
from edge_albert.on_device.token_classifier import word_tags
from edge_albert.runtimes.base import Session
from edge_albert.tasks import Task
from edge_albert.tokenization import AlbertTokenizer, Encoding

# The window each task is validated at, unless a model takes less (QA: the usual 384/128).
DEFAULT_MAX_LENGTH = {"token-classification": 128, "question-answering": 384}
QA_STRIDE = 128


@dataclass
class TaskData:
    """Labelled examples of a token-level task."""

    task: str
    source: str
    sentences: TaggedSentences | None = None
    questions: list[QuestionExample] | None = None

    def __len__(self) -> int:
        return len(self.sentences.words) if self.sentences is not None else len(self.questions or [])


@dataclass
class TaskRun:
    """One artifact's decoded outputs on the data."""

    predictions: list  # per sentence: word tags; per question: answer text
    spans: list  # per sentence: entities; per question: (start, end) or None
    logits: np.ndarray  # every real token's outputs, concatenated
    metrics: dict[str, float]

    @property
    def headline(self) -> float:
        return self.metrics["f1"]


def read_task_data(task: Task, path: Path, *, limit: int | None = None) -> TaskData:
    """CoNLL columns for token classification, SQuAD JSON for question answering."""
    path = Path(path)
    if task.name == "token-classification":
        data = read_conll(path)
        if limit:
            data = TaggedSentences(data.words[:limit], data.tags[:limit], data.label_names, data.source, data.lines[:limit])
        if not data.words:
            raise InputError("no sentences to validate on", path)
        return TaskData(task.name, str(path), sentences=data)
    if task.name == "question-answering":
        questions = read_squad(path, limit=limit)
        if not questions:
            raise InputError("no questions to validate on", path)
        return TaskData(task.name, str(path), questions=questions)
    raise InputError(f"{task.name} is validated on labelled texts, not {path.suffix or 'this'} data")


def run_task(session: Session, tokenizer: AlbertTokenizer, labels: Sequence[str], data: TaskData, *, max_length: int) -> TaskRun:
    """Decode and score one artifact on `data`."""
    if data.sentences is not None:
        tags, logits = word_tags(session, tokenizer, labels, data.sentences.words, max_length=max_length)
        names = data.sentences.label_names
        gold = [[names[i] for i in sent] for sent in data.sentences.tags]
        unknown = set(names) - set(labels)
        if unknown:
            raise InputError(f"{data.source}: tags {sorted(unknown)[:5]} are not among the model's labels {list(labels)}")
        scores = entity_scores(gold, tags)
        return TaskRun(tags, [entities(t) for t in tags], np.concatenate(logits).astype(np.float32), scores)
    questions = data.questions or []
    answers, logits = best_answers(session, tokenizer, [q.question for q in questions], [q.context for q in questions],
                                   max_length=max_length, stride=QA_STRIDE)
    texts = [a.text if a else "" for a in answers]
    scores = squad_scores({q.id: t for q, t in zip(questions, texts)}, {q.id: [a.text for a in q.answers] for q in questions})
    flat = np.concatenate([w for ws in logits for w in ws]).astype(np.float32)
    return TaskRun(texts, [(a.start, a.end) if a else None for a in answers], flat, scores)


def task_fidelity(run: TaskRun, reference: TaskRun) -> dict[str, float]:
    """Agreement on what a user sees (same entities per sentence / same best span per question),
    and the logit differences, token by token, with the reference."""
    if run.logits.shape != reference.logits.shape:
        raise InputError(f"token outputs of shape {run.logits.shape} where the reference gives {reference.logits.shape}: another task or label set?")
    fid = fidelity_metrics(run.logits, reference.logits)
    fid["token_agreement"] = fid["agreement"]
    fid["agreement"] = float(np.mean([a == b for a, b in zip(run.spans, reference.spans)]))
    return fid


def real_length_encodings(tokenizer: AlbertTokenizer, data: TaskData, *, max_length: int, limit: int = 512) -> list[Encoding]:
    """The model inputs as the data makes them (sentences' words; questions' windows), for latency."""
    if data.sentences is not None:
        return [tokenizer.encode_words(words, max_length=max_length) for words in data.sentences.words[:limit]]
    from edge_albert.on_device.question_answerer import question_windows

    return [w for q in (data.questions or [])[:limit] for w in question_windows(tokenizer, q.question, q.context, max_length=max_length, stride=QA_STRIDE)][:limit]


__all__ = ["TaskData", "TaskRun", "read_task_data", "run_task", "task_fidelity", "real_length_encodings", "DEFAULT_MAX_LENGTH"]
