"""Sentence embeddings on device, for semantic search and deduplication.

    from edge_albert.on_device import Embedder
    embedder = Embedder.from_bundle("embedder.eabundle")
    vectors = embedder.embed(["a cat sits on the mat", "a dog runs"])  # float32 [2, d]
    embedder.search("where is the cat?", ["a cat sits on the mat", "stock prices fell"], k=1)

The pooling (mean over real tokens or the [CLS] state, L2-normalised or not) is inside the model
graph, as the checkpoint recorded it, so every runtime and every app gets the same vectors. Texts
longer than the model's window are truncated (`truncated()` says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.on_device.bundle_model import BundleModel, check_batch_size, run_rows, text_list
from edge_albert.packaging.manifest import BundleContents, read_bundle


@dataclass(frozen=True)
class Hit:
    index: int  # position in the corpus
    score: float  # cosine similarity with the query
    text: str | None = None

    def to_dict(self) -> dict:
        return {"index": self.index, "score": self.score, **({"text": self.text} if self.text is not None else {})}


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarities [n, m] between the rows of `a` [n, d] and `b` [m, d] (zero rows give 0)."""
    a, b = np.atleast_2d(np.asarray(a, np.float32)), np.atleast_2d(np.asarray(b, np.float32))
    if a.shape[1] != b.shape[1]:
        raise InputError(f"vectors of width {a.shape[1]} and {b.shape[1]} cannot be compared")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


class Embedder:
    def __init__(self, bundle: BundleContents, backend: str | None = None, *, threads: int = 1) -> None:
        model = BundleModel(bundle, backend, threads=threads, task="feature-extraction")
        self.session, self.tokenizer, self.max_length = model.session, model.tokenizer, model.max_length
        self.backend, self.manifest, self.model_entry = model.backend, model.manifest, model.model_entry
        self.dimension: int = model.dimension
        self.normalized = bool(self.manifest["embedding"].get("normalize", False))

    @classmethod
    def from_bundle(cls, path: Path | str, backend: str | None = None, *, threads: int = 1, public_key: Path | bytes | None = None) -> Embedder:
        """Open and verify a bundle (checksums, format version, signature when a key is given)."""
        return cls(read_bundle(Path(path), public_key=public_key), backend, threads=threads)

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """One float32 vector per text [n, dimension], in input order. A text's vector does not
        depend on the other texts of the call; every text is checked before any work."""
        texts = text_list(texts, "embed()")
        check_batch_size(batch_size)
        encodings = [self.tokenizer.encode(t, max_length=self.max_length) for t in texts]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([len(e.input_ids) for e in encodings], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = run_rows(self.session, [texts[i] for i in idx], [encodings[i] for i in idx], self.tokenizer.pad_id)
        return out

    def truncated(self, texts: Sequence[str]) -> list[bool]:
        """Which texts are longer than the model's window (their vectors see only its start)."""
        return [len(self.tokenizer.encode(t, max_length=None).input_ids) > self.max_length for t in text_list(texts)]

    def similarity(self, first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        """Cosine similarities [len(first), len(second)] of two lists of texts."""
        return cosine_similarity(self.embed(first), self.embed(second))

    def search(self, query: str, corpus: Sequence[str] | np.ndarray, k: int = 5) -> list[Hit]:
        """The `k` corpus entries most similar to `query`, best first. `corpus` is texts, or their
        vectors from `embed` (embed a large corpus once, search it many times)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"k must be a positive integer, got {k!r}")
        texts = None
        if isinstance(corpus, np.ndarray):
            vectors = corpus
        else:
            texts = text_list(corpus, "search() corpus")
            vectors = self.embed(texts) if texts else np.zeros((0, self.dimension), np.float32)
        if len(vectors) == 0:
            return []
        scores = cosine_similarity(self.embed([query]), vectors)[0]
        # Stable order: equal scores keep corpus order.
        best = np.argsort(-scores, kind="stable")[:k]
        return [Hit(int(i), float(scores[i]), texts[i] if texts is not None else None) for i in best]


__all__ = ["Embedder", "Hit", "cosine_similarity"]
