"""Fill-mask on device: the most likely pieces for each `[MASK]` of a text.

    from edge_albert.on_device import open_predictor
    filler = open_predictor("mlm.eabundle")
    filler.fill(["the movie was [MASK] ."], top_k=3)
    # [[[Fill(token='good', token_id=..., score=0.31, sequence='the movie was good .'), ...]]]

Scores are the softmax over the whole vocabulary at the masked position, as transformers'
`fill-mask` pipeline gives them. Texts are truncated to the model's window; a `[MASK]` cut off by
the truncation, or a text without one, is a one-line error before any work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.metrics import softmax
from edge_albert.on_device.bundle_model import BundleModel, check_batch_size, text_list
from edge_albert.packaging.manifest import BundleContents, read_bundle
from edge_albert.tokenization import SPIECE_UNDERLINE, pad_encodings

MASK = "[MASK]"


@dataclass(frozen=True)
class Fill:
    token: str  # the piece as text (a word-start piece without its "▁")
    token_id: int
    score: float
    sequence: str  # the text with this mask replaced by the piece

    def to_dict(self) -> dict:
        return {"token": self.token, "token_id": self.token_id, "score": self.score, "sequence": self.sequence}


class MaskFiller:
    def __init__(self, bundle: BundleContents, backend: str | None = None, *, threads: int = 1) -> None:
        model = BundleModel(bundle, backend, threads=threads, task="fill-mask")
        self.session, self.tokenizer, self.max_length = model.session, model.tokenizer, model.max_length
        self.backend, self.manifest, self.model_entry = model.backend, model.manifest, model.model_entry

    @classmethod
    def from_bundle(cls, path: Path | str, backend: str | None = None, *, threads: int = 1, public_key: Path | bytes | None = None) -> MaskFiller:
        return cls(read_bundle(Path(path), public_key=public_key), backend, threads=threads)

    def mask_logits(self, texts: Sequence[str], *, batch_size: int = 32) -> list[np.ndarray]:
        """Each text's logits at its `[MASK]` positions, [masks, vocabulary], in input order."""
        texts = text_list(texts, "fill()")
        check_batch_size(batch_size)
        encodings, positions = [], []
        for i, text in enumerate(texts):
            enc = self.tokenizer.encode(text, max_length=self.max_length)
            where = [t for t, piece in enumerate(enc.input_ids) if piece == self.tokenizer.mask_id]
            if not where:
                cut = MASK in text
                raise InputError(f"text {i} has no {MASK}" + (f" within the model's {self.max_length} tokens (shorten it)" if cut else ""))
            if text.count(MASK) != len(where):
                raise InputError(f"text {i}: {text.count(MASK) - len(where)} {MASK} cut off by the model's {self.max_length}-token window; shorten it")
            encodings.append(enc)
            positions.append(where)
        out: list[np.ndarray] = [np.zeros(0)] * len(texts)
        order = np.argsort([len(e.input_ids) for e in encodings], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            logits = self.session.run(pad_encodings([encodings[i] for i in idx], self.tokenizer.pad_id))
            for row, i in enumerate(idx):
                out[i] = logits[row, positions[i]]
        return out

    def fill(self, texts: Sequence[str], *, top_k: int = 5, batch_size: int = 32) -> list[list[list[Fill]]]:
        """For each text, for each `[MASK]` in order, the `top_k` most likely pieces, best first."""
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InputError(f"top_k must be a positive integer, got {top_k!r}")
        texts = text_list(texts, "fill()")
        results = []
        for text, logits in zip(texts, self.mask_logits(texts, batch_size=batch_size)):
            probabilities = softmax(logits.astype(np.float64))
            parts = text.split(MASK)
            per_mask = []
            for m, p in enumerate(probabilities):
                best = np.argsort(-p, kind="stable")[:top_k]
                fills = []
                for token_id in best:
                    piece = self.tokenizer.sp.IdToPiece(int(token_id))
                    word = piece[len(SPIECE_UNDERLINE):] if piece.startswith(SPIECE_UNDERLINE) else piece
                    sequence = MASK.join(parts[:m + 1]) + word + MASK.join(parts[m + 1:])
                    fills.append(Fill(word, int(token_id), float(p[token_id]), sequence))
                per_mask.append(fills)
            results.append(per_mask)
        return results


__all__ = ["MaskFiller", "Fill", "MASK"]
