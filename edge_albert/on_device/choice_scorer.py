"""Multiple choice on device: which of several answers fits a question (or a context and a question).

    from edge_albert.on_device import open_predictor
    scorer = open_predictor("choices.eabundle")
    scorer.choose("The cat sat on the", ["mat.", "sky.", "idea."])
    # Choice(index=0, text='mat.', score=0.71, probabilities=[0.71, 0.2, 0.09])

Each choice is encoded with the question as the pair `[CLS] question [SEP] choice [SEP]` (as
transformers' multiple-choice examples do), truncated to the model's window from the longer
text, and all choices of a question run together as one [1, choices, length] input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.metrics import softmax
from edge_albert.on_device.bundle_model import BundleModel, check_text
from edge_albert.packaging.manifest import BundleContents, read_bundle
from edge_albert.runtimes.base import Session
from edge_albert.tokenization import AlbertTokenizer, pad_encodings


@dataclass(frozen=True)
class Choice:
    index: int
    text: str
    score: float  # its softmax probability among the question's choices
    probabilities: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"index": self.index, "choice": self.text, "score": self.score, "probabilities": self.probabilities}


def check_items(items: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[str, list[str]]]:
    """(question, choices) pairs, checked: strings, at least two choices each."""
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InputError(f"item {i} is not a (question, choices) pair")
        question, choices = item
        check_text(question, f"question {i}")
        if isinstance(choices, str) or not isinstance(choices, (list, tuple)) or len(choices) < 2:
            raise InputError(f"item {i}: give a list of at least two choices")
        for j, choice in enumerate(choices):
            check_text(choice, f"item {i} choice {j}")
        out.append((question, list(choices)))
    return out


def choice_scores(session: Session, tokenizer: AlbertTokenizer, items: Sequence[tuple[str, Sequence[str]]], *, max_length: int,
                  batch_size: int = 8) -> list[np.ndarray]:
    """Each question's scores over its choices, in input order; questions with the same number of
    choices run together, each padded to the batch's longest pair."""
    encoded = [[tokenizer.encode(question, choice, max_length=max_length) for choice in choices] for question, choices in items]
    out: list[np.ndarray] = [np.zeros(0, np.float32)] * len(items)
    groups: dict[int, list[int]] = {}
    for i, choices in enumerate(encoded):
        groups.setdefault(len(choices), []).append(i)
    for count, members in groups.items():
        for start in range(0, len(members), batch_size):
            idx = members[start:start + batch_size]
            flat = pad_encodings([e for i in idx for e in encoded[i]], tokenizer.pad_id)
            batch = {name: value.reshape(len(idx), count, -1) for name, value in flat.items()}
            scores = np.asarray(session.run(batch), dtype=np.float32)
            for row, i in enumerate(idx):
                out[i] = scores[row]
    return out


class ChoiceScorer:
    def __init__(self, bundle: BundleContents, backend: str | None = None, *, threads: int = 1) -> None:
        model = BundleModel(bundle, backend, threads=threads, task="multiple-choice")
        self.session, self.tokenizer, self.max_length = model.session, model.tokenizer, model.max_length
        self.backend, self.manifest, self.model_entry = model.backend, model.manifest, model.model_entry

    @classmethod
    def from_bundle(cls, path: Path | str, backend: str | None = None, *, threads: int = 1, public_key: Path | bytes | None = None) -> ChoiceScorer:
        return cls(read_bundle(Path(path), public_key=public_key), backend, threads=threads)

    def scores(self, items: Sequence[tuple[str, Sequence[str]]], *, batch_size: int = 8) -> list[np.ndarray]:
        """The model's score of every choice of every (question, choices) item."""
        return choice_scores(self.session, self.tokenizer, check_items(items), max_length=self.max_length, batch_size=batch_size)

    def choose_all(self, items: Sequence[tuple[str, Sequence[str]]], *, batch_size: int = 8) -> list[Choice]:
        checked = check_items(items)
        out = []
        for (_, choices), scores in zip(checked, self.scores(checked, batch_size=batch_size)):
            p = softmax(scores.astype(np.float64)[None, :])[0]
            best = int(p.argmax())
            out.append(Choice(best, choices[best], float(p[best]), [float(x) for x in p]))
        return out

    def choose(self, question: str, choices: Sequence[str]) -> Choice:
        return self.choose_all([(question, choices)])[0]


__all__ = ["ChoiceScorer", "Choice", "choice_scores", "check_items"]
