"""Sentence (and sentence-pair) classification on device.

    from edge_albert.on_device import Classifier
    clf = Classifier.from_bundle("sentiment.eabundle", backend="litert")
    clf.predict(["a gorgeous, witty movie"])  # -> [Prediction(label='positive', score=0.97, ...)]

Texts longer than the model's maximum length are truncated (`Prediction.truncated` says so);
an empty text is classified as the empty sequence [CLS] [SEP].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.metrics import softmax
from edge_albert.on_device.bundle_model import BundleModel, check_batch_size, check_text, run_rows
from edge_albert.packaging.manifest import BundleContents, read_bundle


@dataclass
class Prediction:
    label: str
    score: float
    probabilities: dict[str, float] = field(default_factory=dict)
    tokens: int = 0
    truncated: bool = False

    def to_dict(self) -> dict:
        return {"label": self.label, "score": self.score, "probabilities": self.probabilities, "tokens": self.tokens, "truncated": self.truncated}


class Classifier:
    def __init__(self, bundle: BundleContents, backend: str | None = None, *, threads: int = 1) -> None:
        model = BundleModel(bundle, backend, threads=threads, task="text-classification")
        self.session, self.tokenizer, self.labels, self.max_length = model.session, model.tokenizer, model.labels, model.max_length
        self.backend, self.manifest, self.model_entry = model.backend, model.manifest, model.model_entry

    @classmethod
    def from_bundle(cls, path: Path | str, backend: str | None = None, *, threads: int = 1, public_key: Path | bytes | None = None) -> Classifier:
        """Open and verify a bundle (checksums, format version, signature when a key is given)."""
        return cls(read_bundle(Path(path), public_key=public_key), backend, threads=threads)

    def logits(self, texts: Sequence[str], text_pairs: Sequence[str | None] | None = None, *, batch_size: int = 32) -> tuple[np.ndarray, list[int], list[bool]]:
        """Logits [n, labels] in input order, the token count of each text and whether it was truncated.

        A text's logits do not depend on the other texts of the call (see the runtime adapters).
        Every argument is checked before any work, so a bad one never yields a partial answer.
        """
        if isinstance(texts, str):
            raise InputError("predict() takes a list of texts, not a single string")
        texts = list(texts)
        check_batch_size(batch_size)
        if text_pairs is not None:
            if isinstance(text_pairs, str):
                raise InputError("text_pairs takes a list of second texts, not a single string")
            pairs = list(text_pairs)
            if len(pairs) != len(texts):
                raise InputError(f"text_pairs has {len(pairs)} entries for {len(texts)} texts; give one second text (or None) per text")
        else:
            pairs = [None] * len(texts)
        if getattr(self.session, "takes_text", False) and any(p is not None for p in pairs):
            raise InputError(f"{self.model_entry['file']} tokenizes one text per row inside its graph; it takes no text pairs")
        for i, (text, pair) in enumerate(zip(texts, pairs)):
            check_text(text, f"text {i}")
            if pair is not None:
                check_text(pair, f"text_pairs {i}")
        encodings, lengths, truncated = [], [], []
        for text, pair in zip(texts, pairs):
            enc = self.tokenizer.encode(text, pair, max_length=None)
            too_long = len(enc.input_ids) > self.max_length
            if too_long:  # only over-long texts are encoded a second time, with truncation
                enc = self.tokenizer.encode(text, pair, max_length=self.max_length)
            encodings.append(enc)
            lengths.append(len(enc.input_ids))
            truncated.append(too_long)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = run_rows(self.session, [texts[i] for i in idx], [encodings[i] for i in idx], self.tokenizer.pad_id)
        return out, lengths, truncated

    def predict(self, texts: Sequence[str], text_pairs: Sequence[str | None] | None = None, *, batch_size: int = 32) -> list[Prediction]:
        logits, lengths, truncated = self.logits(texts, text_pairs, batch_size=batch_size)
        probs = softmax(logits.astype(np.float64))
        return [
            Prediction(self.labels[int(p.argmax())], float(p.max()), {label: float(v) for label, v in zip(self.labels, p)}, n, t)
            for p, n, t in zip(probs, lengths, truncated)
        ]


__all__ = ["Classifier", "Prediction"]
