"""Training data and objectives of the token-level tasks, plugged into the one training loop
(`trainer.train_classifier(objective=...)`).

- token classification: each word's label on its first piece, the other pieces ignored (-100),
  as transformers' token-classification example does; dev score = entity F1 (conlleval rules).
- question answering: question/context windows; a window's target is the answer's first and last
  piece when the whole answer lies in it, else [CLS] (index 0), as transformers' QA example does;
  dev score = SQuAD v1.1 exact match and F1 over the best span of all of a question's windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch.nn import functional as F

from edge_albert.answer_spans import best_span, word_scores
from edge_albert.data.conll import TaggedSentences
from edge_albert.data.squad import QuestionExample
from edge_albert.entity_tags import entity_scores
from edge_albert.metrics import squad_scores
from edge_albert.tasks import get_task
from edge_albert.tokenization import AlbertTokenizer, Encoding
from edge_albert.training.batching import EncodedDataset, forward_all

IGNORE = -100
# A word's first piece in an unlabelled sentence: the teacher tags it (soft loss), no gold label
# (no hard loss). It counts as a unit of the loss like a labelled word.
UNLABELED = -1


class WordEncoder(Protocol):
    def encode_words(self, words: Sequence[str], *, max_length: int | None = 128) -> Encoding: ...


class WindowEncoder(Protocol):
    def encode_windows(self, question: str, context: str, *, max_length: int = 384, stride: int = 128,
                       max_question_tokens: int | None = None) -> list[Encoding]: ...


@dataclass
class TaggedEvaluation:
    gold: list[list[str]]
    label_names: list[str]


@dataclass
class QuestionEvaluation:
    examples: list[QuestionExample]
    window_example: np.ndarray  # the example of each window


def first_pieces(word_ids: Sequence[int | None]) -> list[tuple[int, int]]:
    """(token, word) for the first piece of each word: where labels and soft targets sit."""
    out, previous = [], None
    for t, w in enumerate(word_ids):
        if w is not None and w != previous:
            out.append((t, w))
        previous = w
    return out


def encode_tagged(data: TaggedSentences, tokenizer: WordEncoder, max_length: int) -> EncodedDataset:
    """Label each word's first piece (the others -100). `tokenizer` is ours or a Hugging Face
    teacher's: anything with `encode_words(words, max_length=...)` giving word ids."""
    encodings = [tokenizer.encode_words(words, max_length=max_length) for words in data.words]
    width = max(len(e.input_ids) for e in encodings)
    labels = np.full((len(encodings), width), IGNORE, dtype=np.int64)
    for row, (enc, tags) in enumerate(zip(encodings, data.tags)):
        for t, w in first_pieces(enc.word_ids):
            labels[row, t] = tags[w]
    gold = [data.tag_names(i) for i in range(len(data))]
    return EncodedDataset(encodings, labels, per_token_labels=True, evaluation=TaggedEvaluation(gold, data.label_names))


def encode_untagged(sentences: Sequence[Sequence[str]], tokenizer: WordEncoder, max_length: int) -> EncodedDataset:
    """Unlabelled sentences (word lists) for a tagger to learn its teacher's tags on: each word's
    first piece marked UNLABELED, the other pieces IGNORE."""
    encodings = [tokenizer.encode_words(list(words), max_length=max_length) for words in sentences]
    width = max((len(e.input_ids) for e in encodings), default=0)
    labels = np.full((len(encodings), width), IGNORE, dtype=np.int64)
    for row, enc in enumerate(encodings):
        for t, _ in first_pieces(enc.word_ids):
            labels[row, t] = UNLABELED
    return EncodedDataset(encodings, labels, per_token_labels=True)


def join_tagged(first: EncodedDataset, second: EncodedDataset) -> EncodedDataset:
    """Two per-token training sets as one (labels padded with IGNORE, soft targets with NaN, to the
    wider one's width); the first's evaluation is kept."""
    width = max(first.labels.shape[1], second.labels.shape[1])

    def padded(array: np.ndarray, fill: float) -> np.ndarray:
        return np.pad(array, [(0, 0), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2), constant_values=fill)

    labels = np.concatenate([padded(first.labels, IGNORE), padded(second.labels, IGNORE)])
    soft = None
    if first.soft_targets is not None or second.soft_targets is not None:
        if first.soft_targets is None or second.soft_targets is None:
            raise ValueError("join_tagged: both parts need soft targets, or neither")
        soft = np.concatenate([padded(first.soft_targets, np.nan), padded(second.soft_targets, np.nan)])
    return EncodedDataset(first.encodings + second.encodings, labels, soft, per_token_labels=True, evaluation=first.evaluation)


def answer_positions(window: Encoding, answer_start: int, answer_end: int) -> tuple[int, int]:
    """The first and last piece of the answer's characters in this window, or (0, 0) ([CLS])
    when the answer is not wholly inside the window's part of the context."""
    context = [i for i, s in enumerate(window.sequence_ids) if s == 1]
    if not context or window.offsets[context[0]][0] > answer_start or window.offsets[context[-1]][1] < answer_end:
        return 0, 0
    start = next(i for i in context if window.offsets[i][1] > answer_start)
    end = next(i for i in reversed(context) if window.offsets[i][0] < answer_end)
    return start, end


def encode_questions(examples: Sequence[QuestionExample], tokenizer: AlbertTokenizer | WindowEncoder, max_length: int, stride: int) -> EncodedDataset:
    """Every question's windows with the answer's first and last piece in each (see
    `answer_positions`). `tokenizer` is ours or a Hugging Face teacher's (`encode_windows`)."""
    encodings: list[Encoding] = []
    positions: list[tuple[int, int]] = []
    owner: list[int] = []
    contexts: dict[str, list] = {}
    for k, ex in enumerate(examples):
        # Leading white space of a question only costs tokens (transformers' example strips it too);
        # the rare question too long to leave a window its stride is cut rather than failing a run.
        limit = max_length - stride - 4
        if isinstance(tokenizer, AlbertTokenizer):
            if ex.context not in contexts:  # a context is shared by several questions: tokenised once
                contexts[ex.context] = tokenizer.tokens(ex.context)
            windows = tokenizer.windows(tokenizer.tokens(ex.question.lstrip())[:limit], contexts[ex.context], max_length=max_length, stride=stride)
        else:
            windows = tokenizer.encode_windows(ex.question.lstrip(), ex.context, max_length=max_length, stride=stride, max_question_tokens=limit)
        for window in windows:
            encodings.append(window)
            owner.append(k)
            answer = ex.answers[0] if ex.answers else None
            positions.append(answer_positions(window, answer.start, answer.end) if answer else (0, 0))
    return EncodedDataset(encodings, np.asarray(positions, dtype=np.int64).reshape(-1, 2),
                          evaluation=QuestionEvaluation(list(examples), np.asarray(owner)))


class TaskObjective:
    task: str
    metric: str
    distills = False  # whether `distillation_loss` exists (per-token soft targets)

    def loss(self, outputs, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss_units(self, labels: np.ndarray) -> int:
        """What `loss` averages over in examples with these labels: a job of several ranks weighs
        each rank's part of a batch by it, so the ranks together compute the whole batch's loss."""
        return len(labels)

    def evaluate(self, model: torch.nn.Module, data: EncodedDataset, pad_id: int) -> dict[str, float]:
        raise NotImplementedError


@torch.no_grad()
def _outputs_per_example(model: torch.nn.Module, data: EncodedDataset, pad_id: int, batch_size: int = 64, advance=None) -> list:
    """Each example's outputs (a [tokens, ...] array, or a tuple of them) without padding; split
    across the ranks of a job. `advance(n)` is called as batches finish (a progress bar)."""
    model.eval()
    out: list = []
    for encoding, parts in zip(data.encodings, forward_all(model, data, pad_id, batch_size, advance=advance)):
        n = len(encoding.input_ids)
        trimmed = tuple(a[:n] for a in parts)
        out.append(trimmed if len(trimmed) > 1 else trimmed[0])
    return out


@torch.no_grad()
def teacher_word_logits(teacher: torch.nn.Module, sentences: Sequence[Sequence[str]], max_length: int, batch_size: int = 64) -> list[np.ndarray]:
    """Each sentence's teacher logits per word [words, C]: the word's first piece's, in the
    teacher's own tokenization (`teacher.encode_words`); NaN for words its window cut off. Word
    level is where two tokenizers meet: the student takes them on its own first pieces."""
    from edge_albert.progress import progress_bar
    from edge_albert.training.distributed import is_main

    encodings = [teacher.encode_words(list(words), max_length=max_length) for words in sentences]
    with progress_bar(len(encodings), "teacher", unit="sentence", shown=is_main()) as advance:
        outputs = _outputs_per_example(teacher, EncodedDataset(encodings, np.zeros(len(encodings), np.int64)), teacher.pad_id, batch_size,
                                       advance=advance)
    out = []
    for words, enc, logits in zip(sentences, encodings, outputs):
        per_word = np.full((len(words), logits.shape[-1]), np.nan, np.float32)
        for t, w in first_pieces(enc.word_ids):
            per_word[w] = logits[t]
        out.append(per_word)
    return out


def word_soft_targets(data: EncodedDataset, word_logits: Sequence[np.ndarray]) -> np.ndarray:
    """Per-token soft targets [N, longest, C] for a student's `encode_tagged` data: each word's
    teacher logits on the student's first piece of that word, NaN everywhere else."""
    classes = word_logits[0].shape[-1] if len(word_logits) else 0
    soft = np.full((len(data), data.labels.shape[1], classes), np.nan, np.float32)
    for row, (enc, per_word) in enumerate(zip(data.encodings, word_logits)):
        for t, w in first_pieces(enc.word_ids):
            soft[row, t] = per_word[w]
    return soft


@torch.no_grad()
def teacher_span_logits(teacher: torch.nn.Module, examples: Sequence[QuestionExample], *, max_length: int, stride: int,
                        batch_size: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each question's teacher start and end logits by character of its context, in the teacher's
    own windows (`teacher.encode_windows`): a start logit sits at its token's first character, an
    end logit at its token's end; NaN where no teacher token starts or ends. A token seen by two
    windows keeps the logits of the window where it has the most context on both sides (BERT's
    rule). Characters are where two tokenizers meet: the student takes them on its own pieces."""
    from edge_albert.progress import progress_bar

    limit = max_length - stride - 4
    encodings, owner = [], []
    for k, ex in enumerate(examples):
        for window in teacher.encode_windows(ex.question.lstrip(), ex.context, max_length=max_length, stride=stride, max_question_tokens=limit):
            encodings.append(window)
            owner.append(k)
    data = EncodedDataset(encodings, np.zeros(len(encodings), np.int64))
    with progress_bar(len(encodings), "teacher", unit="window") as advance:
        outputs = forward_all(teacher, data, teacher.pad_id, batch_size, advance=advance)
    out = [(np.full(len(ex.context) + 1, np.nan, np.float32), np.full(len(ex.context) + 1, np.nan, np.float32)) for ex in examples]
    room = [np.full(len(ex.context) + 1, -1, np.int64) for ex in examples]
    for enc, k, (start_logits, end_logits) in zip(encodings, owner, outputs):
        context = [i for i, s in enumerate(enc.sequence_ids) if s == 1]
        if not context:
            continue
        starts, ends = out[k]
        for i in context:
            begin, finish = enc.offsets[i]
            space = min(i - context[0], context[-1] - i)
            if space > room[k][begin]:
                room[k][begin] = space
                starts[begin], ends[finish] = start_logits[i], end_logits[i]
    return out


def span_soft_targets(data: EncodedDataset, char_logits: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per-token soft targets [windows, longest, 2] for a student's `encode_questions` data: the
    teacher's start logit at the first character of each context piece (after the space a
    sentencepiece piece may begin with) and its end logit at the piece's end, NaN where the teacher
    has no token starting (ending) there and off the context."""
    info: QuestionEvaluation = data.evaluation
    width = max(len(e.input_ids) for e in data.encodings)
    soft = np.full((len(data), width, 2), np.nan, np.float32)
    for row, (enc, k) in enumerate(zip(data.encodings, info.window_example)):
        starts, ends = char_logits[int(k)]
        context = info.examples[int(k)].context
        for i, sequence in enumerate(enc.sequence_ids):
            if sequence == 1:
                begin, finish = enc.offsets[i]
                # A sentencepiece word piece spans the space before its word; WordPiece tokens start at the word.
                while begin < finish and context[begin].isspace():
                    begin += 1
                soft[row, i] = starts[begin], ends[finish]
    return soft


class TokenClassificationObjective(TaskObjective):
    task = "token-classification"
    metric = "f1"
    distills = True

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gold = labels >= 0  # not IGNORE, not UNLABELED
        if not gold.any():
            return logits.sum() * 0.0  # a batch of unlabelled sentences only: no hard term (and no NaN)
        return F.cross_entropy(logits[gold], labels[gold])

    def loss_units(self, labels: np.ndarray) -> int:
        return int((labels != IGNORE).sum())  # the labelled first pieces of words

    def distillation_loss(self, logits: torch.Tensor, soft_targets: torch.Tensor, labels: torch.Tensor, alpha: float, temperature: float) -> torch.Tensor:
        """DistilBERT's loss per word: alpha * KL(teacher || student) at T (scaled by T^2) on each
        word's first piece, where the teacher saw the word, + (1 - alpha) * cross-entropy on the
        labels. Unlabelled words (UNLABELED) take the soft term only."""
        seen = (labels != IGNORE) & torch.isfinite(soft_targets).all(-1)
        hard = self.loss(logits, labels)
        if not seen.any():
            return hard
        t = temperature
        soft = F.kl_div(F.log_softmax(logits[seen] / t, dim=-1), F.log_softmax(soft_targets[seen] / t, dim=-1), log_target=True,
                        reduction="batchmean") * t * t
        # (hard is 0 in a batch of unlabelled sentences only: every batch weighs the soft term alike)
        return alpha * soft + (1.0 - alpha) * hard

    def evaluate(self, model: torch.nn.Module, data: EncodedDataset, pad_id: int) -> dict[str, float]:
        info: TaggedEvaluation = data.evaluation
        predicted = []
        for enc, logits, gold in zip(data.encodings, _outputs_per_example(model, data, pad_id), info.gold):
            scores = word_scores(logits, enc.word_ids, len(gold), "first")
            # Words cut off by truncation count as "O" (a miss when they were part of an entity).
            tags = [info.label_names[int(s.argmax())] if s.any() else "O" for s in scores]
            predicted.append(tags)
        return entity_scores(info.gold, predicted)


class QuestionAnsweringObjective(TaskObjective):
    task = "question-answering"
    metric = "f1"
    distills = True

    def loss(self, outputs: tuple[torch.Tensor, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        start_logits, end_logits = outputs
        return (F.cross_entropy(start_logits, labels[:, 0]) + F.cross_entropy(end_logits, labels[:, 1])) / 2

    def distillation_loss(self, outputs: tuple[torch.Tensor, torch.Tensor], soft_targets: torch.Tensor, labels: torch.Tensor, alpha: float,
                          temperature: float) -> torch.Tensor:
        """DistilBERT's loss on the start and the end distributions of each window: alpha * KL(teacher
        || student) at T (scaled by T^2) over the context pieces where the teacher has a token
        starting (ending) at the same character (`span_soft_targets`), renormalised over them, +
        (1 - alpha) * the cross-entropy on the labels."""
        hard = self.loss(outputs, labels)
        t = temperature
        terms = []
        for k, logits in enumerate(outputs):
            target = soft_targets[:, : logits.shape[1], k]
            seen = torch.isfinite(target)
            rows = seen.sum(1) >= 2  # a distribution needs two places
            if not rows.any():
                continue
            seen = seen[rows]
            # A large finite floor rather than -inf keeps the masked terms (and their gradients) finite.
            student = F.log_softmax(logits[rows].masked_fill(~seen, -1e4) / t, dim=-1)
            teacher = F.log_softmax(torch.nan_to_num(target[rows], nan=0.0).masked_fill(~seen, -1e4) / t, dim=-1)
            kl = (teacher.exp() * (teacher - student)).masked_fill(~seen, 0.0).sum(-1).mean()
            terms.append(kl * t * t)
        if not terms:
            return hard
        return alpha * sum(terms) / len(terms) + (1.0 - alpha) * hard

    def evaluate(self, model: torch.nn.Module, data: EncodedDataset, pad_id: int) -> dict[str, float]:
        info: QuestionEvaluation = data.evaluation
        outputs = _outputs_per_example(model, data, pad_id)
        windows: dict[int, list[int]] = {}
        for w, k in enumerate(info.window_example):
            windows.setdefault(int(k), []).append(w)
        predictions = {}
        for k, ex in enumerate(info.examples):
            ws = windows.get(k, [])
            span = best_span([outputs[w][0] for w in ws], [outputs[w][1] for w in ws], [data.encodings[w].offsets for w in ws],
                             [data.encodings[w].sequence_ids for w in ws])
            predictions[ex.id] = ex.context[span.start:span.end] if span else ""
        return squad_scores(predictions, {ex.id: [a.text for a in ex.answers] for ex in info.examples})


OBJECTIVES: dict[str, type[TaskObjective]] = {
    TokenClassificationObjective.task: TokenClassificationObjective,
    QuestionAnsweringObjective.task: QuestionAnsweringObjective,
}


def objective_for(task: str) -> TaskObjective:
    return OBJECTIVES[get_task(task).name]()


__all__ = ["UNLABELED", "encode_untagged", "join_tagged", "teacher_word_logits", "word_soft_targets", "teacher_span_logits", "span_soft_targets", "encode_tagged", "encode_questions", "answer_positions", "TaskObjective", "TokenClassificationObjective",
           "QuestionAnsweringObjective", "objective_for", "IGNORE"]
