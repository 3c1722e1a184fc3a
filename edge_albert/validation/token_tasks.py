"""Scoring the token-level tasks for `validate`: every artifact decodes its outputs exactly as the
on-device runtime does (`on_device.token_classifier.word_tags`, `on_device.question_answerer.best_answers`)
and is scored on the task's metric, and against the fp32 reference on what a user sees:

- token classification: entity precision / recall / F1 and word-tag accuracy on CoNLL-format data;
  agreement = the fraction of sentences whose entities (type and span) equal the reference's;
- question answering: SQuAD v1.1 exact match and F1 on SQuAD-format data; agreement = the fraction
  of questions whose best span is the reference's;
- sentence embeddings: Spearman's rho (and Pearson's r) between the cosine similarity of scored
  pairs' embeddings and their gold scores (STS-B's TSV); agreement = the fraction of sentences
  whose nearest other sentence is the reference's, and the smallest cosine between a sentence's
  two embeddings;
- fill-mask: one word of each text is hidden behind `[MASK]` (a word the tokenizer keeps whole as
  one piece, picked by a hash of the text, so every artifact and every run hides the same one);
  top-1 and top-5 accuracy of the hidden piece; agreement = the same top piece as the reference;
- multiple choice: accuracy on JSON-lines questions; agreement = the same chosen answer.

Logit differences are over every real token (the context windows for QA), or every embedding component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_albert.data.conll import TaggedSentences, read_conll
from edge_albert.data.multiple_choice import ChoiceQuestion, read_choice_questions
from edge_albert.data.sentence_pairs import ScoredPairs, read_scored_pairs
from edge_albert.data.squad import QuestionExample, read_squad
from edge_albert.entity_tags import entities, entity_scores
from edge_albert.errors import InputError
from edge_albert.metrics import embedding_fidelity, fidelity_metrics, similarity_metrics, squad_scores
from edge_albert.on_device.question_answerer import best_answers
from edge_albert.on_device.token_classifier import word_tags
from edge_albert.runtimes.base import Session
from edge_albert.tasks import Task
from edge_albert.tokenization import AlbertTokenizer, Encoding

# The window each task is validated at, unless a model takes less (QA: the usual 384/128).
DEFAULT_MAX_LENGTH = {"token-classification": 128, "question-answering": 384, "feature-extraction": 128, "fill-mask": 128, "multiple-choice": 128}
QA_STRIDE = 128


@dataclass
class TaskData:
    """Labelled examples of a token-level task."""

    task: str
    source: str
    sentences: TaggedSentences | None = None
    questions: list[QuestionExample] | None = None
    pairs: ScoredPairs | None = None
    texts: list[str] | None = None  # fill-mask: plain texts, one word of each hidden at run time
    choices: list[ChoiceQuestion] | None = None

    def __len__(self) -> int:
        if self.choices is not None:
            return len(self.choices)
        if self.pairs is not None:
            return len(self.pairs)
        if self.texts is not None:
            return len(self.texts)
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
    if task.name == "feature-extraction":
        return TaskData(task.name, str(path), pairs=read_scored_pairs(path, limit=limit))
    if task.name == "multiple-choice":
        return TaskData(task.name, str(path), choices=read_choice_questions(path, limit=limit))
    if task.name == "fill-mask":
        from edge_albert.data.readers import read_texts

        texts = read_texts(path, option="data")[:limit] if limit else read_texts(path, option="data")
        if not texts:
            raise InputError("no texts to validate on", path)
        return TaskData(task.name, str(path), texts=texts)
    raise InputError(f"{task.name} is validated on labelled texts, not {path.suffix or 'this'} data")


def masked_words(tokenizer: AlbertTokenizer, texts: Sequence[str], *, max_length: int) -> list[tuple[str, int]]:
    """(text with one word replaced by [MASK], the hidden piece's id) for each text that has a
    word of 3+ letters the tokenizer keeps whole as one piece within the window; the word is
    picked by a CRC of the text, so the choice is the same in every run and for every artifact."""
    import zlib

    out = []
    for text in texts:
        words = text.split()
        candidates = []
        for i, word in enumerate(words):
            if len(word) >= 3 and word.isalpha():
                ids = tokenizer.text_ids(" " + word)
                if len(ids) == 1 and ids[0] != tokenizer.unk_id:
                    candidates.append((i, ids[0]))
        if not candidates:
            continue
        i, piece = candidates[zlib.crc32(text.encode("utf-8")) % len(candidates)]
        masked = " ".join(words[:i] + ["[MASK]"] + words[i + 1:])
        if tokenizer.mask_id in tokenizer.encode(masked, max_length=max_length).input_ids:
            out.append((masked, piece))
    return out


def run_task(session: Session, tokenizer: AlbertTokenizer, labels: Sequence[str], data: TaskData, *, max_length: int) -> TaskRun:
    """Decode and score one artifact on `data`."""
    if data.choices is not None:
        from edge_albert.on_device.choice_scorer import choice_scores

        scores = choice_scores(session, tokenizer, [(q.question, q.choices) for q in data.choices], max_length=max_length)
        chosen = [int(s.argmax()) for s in scores]
        accuracy = float(np.mean([c == q.label for c, q in zip(chosen, data.choices)]))
        # Every choice's score, one row each: questions may have different numbers of choices.
        return TaskRun(chosen, chosen, np.concatenate(scores).astype(np.float32)[:, None], {"accuracy": accuracy})
    if data.texts is not None:
        examples = masked_words(tokenizer, data.texts, max_length=max_length)
        if not examples:
            raise InputError(f"{data.source}: no text has a word the tokenizer keeps whole to hide")
        rows = []
        for start in range(0, len(examples), 32):
            chunk = examples[start:start + 32]
            encodings = [tokenizer.encode(t, max_length=max_length) for t, _ in chunk]
            from edge_albert.tokenization import pad_encodings

            logits = session.run(pad_encodings(encodings, tokenizer.pad_id))
            rows.extend(logits[r, enc.input_ids.index(tokenizer.mask_id)] for r, enc in enumerate(encodings))
        scores = np.stack(rows).astype(np.float32)
        gold = np.array([piece for _, piece in examples])
        top5 = np.argsort(-scores, axis=1, kind="stable")[:, :5]
        metrics = {"top1": float((top5[:, 0] == gold).mean()), "top5": float((top5 == gold[:, None]).any(1).mean()), "masked": float(len(examples))}
        return TaskRun([int(t) for t in top5[:, 0]], [int(t) for t in top5[:, 0]], scores, metrics)
    if data.pairs is not None:
        from edge_albert.validation.compare import run_texts

        vectors = run_texts(session, tokenizer, data.pairs.first + data.pairs.second, max_length=max_length)
        first, second = vectors[:len(data.pairs)], vectors[len(data.pairs):]
        cosine = [float(c) for c in (first * second).sum(1) / np.maximum(np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1), 1e-12)]
        return TaskRun(cosine, [None] * len(cosine), vectors, similarity_metrics(first, second, data.pairs.scores))
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
    if "spearman" in run.metrics:
        return embedding_fidelity(run.logits, reference.logits)
    fid = fidelity_metrics(run.logits, reference.logits)
    fid["token_agreement"] = fid["agreement"]
    fid["agreement"] = float(np.mean([a == b for a, b in zip(run.spans, reference.spans)]))
    return fid


def real_length_encodings(tokenizer: AlbertTokenizer, data: TaskData, *, max_length: int, limit: int = 512) -> list[Encoding]:
    """The model inputs as the data makes them (sentences' words; questions' windows; pairs' sentences; masked texts), for latency."""
    if data.texts is not None:
        return [tokenizer.encode(t, max_length=max_length) for t, _ in masked_words(tokenizer, data.texts[:limit], max_length=max_length)]
    if data.choices is not None:  # one (question, choice) pair per input: latency per choice
        return [tokenizer.encode(q.question, c, max_length=max_length) for q in data.choices[:limit] for c in q.choices][:limit]
    if data.pairs is not None:
        return [tokenizer.encode(t, max_length=max_length) for t in (data.pairs.first + data.pairs.second)[:limit]]
    if data.sentences is not None:
        return [tokenizer.encode_words(words, max_length=max_length) for words in data.sentences.words[:limit]]
    from edge_albert.on_device.question_answerer import question_windows

    return [w for q in (data.questions or [])[:limit] for w in question_windows(tokenizer, q.question, q.context, max_length=max_length, stride=QA_STRIDE)][:limit]


def real_length_texts(data: TaskData, *, limit: int = 512) -> list[str] | None:
    """The texts behind `real_length_encodings`, where each input is one whole text (sentence
    embeddings): what a text-input model (tokenizer in the graph) is timed on. None otherwise."""
    if data.pairs is not None and data.texts is None and data.choices is None:
        return list(data.pairs.first + data.pairs.second)[:limit]
    return None


__all__ = ["TaskData", "TaskRun", "masked_words", "read_task_data", "run_task", "task_fidelity", "real_length_encodings", "real_length_texts",
           "DEFAULT_MAX_LENGTH"]
