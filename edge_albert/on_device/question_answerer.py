"""Extractive question answering on device.

    from edge_albert.on_device import QuestionAnswerer
    qa = QuestionAnswerer.from_bundle("squad.eabundle")
    qa.answer("Where is the Eiffel Tower?", "The Eiffel Tower stands in Paris.")
    # -> Answer(text='Paris', start=28, end=33, score=11.2, windows=1)

The context is cut into overlapping windows of the model's length (the question whole in each,
`stride` context tokens shared by neighbours), each window is run, and the answer is the span with
the highest start + end logit over all windows whose tokens lie in the context, end after they
start and span at most `max_answer_length` tokens (the rule of transformers' SQuAD example, which
the SQuAD numbers of `validate` use too). The answer is a character span of the original context.
An empty context has no answer (None); a question that leaves no room for context in a window is
refused with a one-line error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_albert.answer_spans import best_span
from edge_albert.errors import InputError
from edge_albert.on_device.bundle_model import BundleModel, check_batch_size, check_text
from edge_albert.packaging.manifest import BundleContents, read_bundle
from edge_albert.runtimes.base import Session
from edge_albert.tokenization import AlbertTokenizer, Encoding, pad_encodings

DEFAULT_STRIDE = 128
DEFAULT_MAX_ANSWER_LENGTH = 30


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character span in the context
    end: int
    score: float  # start logit + end logit
    windows: int  # how many windows the context took

    def to_dict(self) -> dict:
        return asdict(self)


def question_windows(tokenizer: AlbertTokenizer, question: str, context: str, *, max_length: int, stride: int) -> list[Encoding]:
    """The windows of one question: the stride shrinks to half a window's context room when a
    long question leaves less than twice the stride."""
    q = tokenizer.tokens(question)
    room = max_length - len(q) - 3
    if room <= 0:
        raise InputError(f"the question takes {len(q)} tokens, leaving no room for the context in the model's {max_length}; shorten it")
    return tokenizer.windows(q, tokenizer.tokens(context), max_length=max_length, stride=min(stride, max(room // 2, 1)))


def window_logits(session: Session, encodings: Sequence[Encoding], pad_id: int, *, batch_size: int = 8) -> list[np.ndarray]:
    """Start and end logits [tokens, 2] of each window (any runtime adapter's session)."""
    out: list[np.ndarray] = []
    for start in range(0, len(encodings), batch_size):
        chunk = list(encodings[start:start + batch_size])
        rows = session.run(pad_encodings(chunk, pad_id))
        out.extend(row[:len(enc.input_ids)] for row, enc in zip(rows, chunk))
    return out


def best_answers(session: Session, tokenizer: AlbertTokenizer, questions: Sequence[str], contexts: Sequence[str], *, max_length: int,
                 stride: int = DEFAULT_STRIDE, max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH,
                 batch_size: int = 8) -> tuple[list[Answer | None], list[list[np.ndarray]]]:
    """The best answer to each question in its context (None where no span fits) and each
    question's window logits. What the answerer on device computes and what `validate` scores."""
    windows = [question_windows(tokenizer, q, c, max_length=max_length, stride=stride) for q, c in zip(questions, contexts)]
    logits = window_logits(session, [w for ws in windows for w in ws], tokenizer.pad_id, batch_size=batch_size)
    answers: list[Answer | None] = []
    per_question = []
    at = 0
    for context, ws in zip(contexts, windows):
        rows = logits[at:at + len(ws)]
        at += len(ws)
        per_question.append(rows)
        span = best_span([r[:, 0] for r in rows], [r[:, 1] for r in rows], [w.offsets for w in ws], [w.sequence_ids for w in ws],  # type: ignore[misc]
                         max_answer_length=max_answer_length)
        answers.append(None if span is None else Answer(context[span.start:span.end], span.start, span.end, span.score, len(ws)))
    return answers, per_question


class QuestionAnswerer:
    def __init__(self, bundle: BundleContents, backend: str | None = None, *, threads: int = 1, stride: int = DEFAULT_STRIDE,
                 max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH) -> None:
        model = BundleModel(bundle, backend, threads=threads, task="question-answering")
        self.session, self.tokenizer, self.max_length = model.session, model.tokenizer, model.max_length
        self.backend, self.manifest, self.model_entry = model.backend, model.manifest, model.model_entry
        for name, value in (("stride", stride), ("max_answer_length", max_answer_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        self.stride = stride
        self.max_answer_length = max_answer_length

    @classmethod
    def from_bundle(cls, path: Path | str, backend: str | None = None, *, threads: int = 1, stride: int = DEFAULT_STRIDE,
                    max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH, public_key: Path | bytes | None = None) -> QuestionAnswerer:
        """Open and verify a bundle (checksums, format version, signature when a key is given)."""
        return cls(read_bundle(Path(path), public_key=public_key), backend, threads=threads, stride=stride, max_answer_length=max_answer_length)

    def windows(self, question: str, context: str) -> list[Encoding]:
        return question_windows(self.tokenizer, question, context, max_length=self.max_length, stride=self.stride)

    def answers(self, questions: Sequence[str], contexts: Sequence[str], *, max_answer_length: int | None = None,
                batch_size: int = 8) -> list[Answer | None]:
        """The best answer to each (question, context) pair, None where a context holds no span.
        Every pair is checked before any work."""
        if isinstance(questions, str) or isinstance(contexts, str):
            raise InputError("answers() takes lists of questions and contexts; use answer() for one pair")
        questions, contexts = list(questions), list(contexts)
        if len(questions) != len(contexts):
            raise InputError(f"{len(questions)} questions for {len(contexts)} contexts; give one context per question")
        check_batch_size(batch_size)
        limit = self.max_answer_length if max_answer_length is None else max_answer_length
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InputError(f"max_answer_length must be a positive integer, got {limit!r}")
        for i, (question, context) in enumerate(zip(questions, contexts)):
            check_text(question, f"question {i}")
            check_text(context, f"context {i}")
        return best_answers(self.session, self.tokenizer, questions, contexts, max_length=self.max_length, stride=self.stride,
                            max_answer_length=limit, batch_size=batch_size)[0]

    def answer(self, question: str, context: str, *, max_answer_length: int | None = None) -> Answer | None:
        return self.answers([question], [context], max_answer_length=max_answer_length)[0]


__all__ = ["QuestionAnswerer", "Answer", "best_answers", "question_windows", "window_logits", "DEFAULT_STRIDE", "DEFAULT_MAX_ANSWER_LENGTH"]
