"""Comparing a converted or compressed model with its reference, on real sentences.

`compare_models` is the one check that the converters, the quantizer, the tests and users all
call; it returns a `ComparisonResult` rather than printing or asserting (the way
ai-edge-quantizer's validator does), so each caller decides what to do with the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.metrics import classification_metrics, embedding_fidelity, fidelity_metrics
from edge_albert.runtimes import Session, open_session
from edge_albert.tokenization import AlbertTokenizer


@dataclass
class ComparisonResult:
    reference: str
    candidate: str
    runtime: str
    examples: int
    agreement: float
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    kl_divergence: float
    reference_accuracy: float | None = None
    candidate_accuracy: float | None = None
    # Sentence embeddings: the smallest cosine similarity between a text's two embeddings.
    min_cosine: float | None = None

    @property
    def accuracy_drop(self) -> float | None:
        if self.reference_accuracy is None or self.candidate_accuracy is None:
            return None
        return self.reference_accuracy - self.candidate_accuracy

    def within(self, *, max_abs_diff: float | None = None, min_agreement: float | None = None, max_accuracy_drop: float | None = None) -> bool:
        ok = True
        if max_abs_diff is not None:
            ok &= self.max_abs_logit_diff <= max_abs_diff
        if min_agreement is not None:
            ok &= self.agreement >= min_agreement
        if max_accuracy_drop is not None and self.accuracy_drop is not None:
            ok &= self.accuracy_drop <= max_accuracy_drop
        return bool(ok)

    def to_dict(self) -> dict:
        return asdict(self) | {"accuracy_drop": self.accuracy_drop}


def run_texts(session: Session, tokenizer: AlbertTokenizer, texts: Sequence[str], *, max_length: int, batch_size: int = 32) -> np.ndarray:
    """Logits for `texts`, batched in length order and returned in input order: [texts, C], or
    for token-level tasks every real token's outputs, text after text: [tokens, C]."""
    if getattr(session, "takes_text", False):
        # The file tokenizes inside its graph (convert --with-tokenizer): it gets the texts themselves.
        rows = [session.run_text(list(texts[i:i + batch_size])) for i in range(0, len(texts), batch_size)]
        return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
    encodings = [tokenizer.encode(t, max_length=max_length) for t in texts]
    order = np.argsort([len(e.input_ids) for e in encodings], kind="stable")
    from edge_albert.tokenization import pad_encodings

    out: np.ndarray | None = None
    per_text: list = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        logits = session.run(pad_encodings([encodings[i] for i in idx], tokenizer.pad_id))
        if logits.ndim == 3:
            for row, i in enumerate(idx):
                per_text[i] = logits[row, :len(encodings[i].input_ids)]
            continue
        if out is None:
            out = np.zeros((len(texts), logits.shape[-1]), dtype=np.float32)
        out[idx] = logits
    if texts and per_text[0] is not None:
        return np.concatenate(per_text).astype(np.float32)
    return out if out is not None else np.zeros((0, 0), np.float32)


# The choices every check text is paired with when a multiple-choice model is compared.
CHECK_CHOICES = ("it is good.", "it is bad.", "it is neither good nor bad.")


def _outputs(session: Session, tokenizer: AlbertTokenizer, texts: Sequence[str], *, max_length: int) -> np.ndarray:
    """`run_texts`, or for a multiple-choice model its scores of `CHECK_CHOICES` after each text."""
    task = getattr(getattr(session, "task", None), "name", None)
    if task == "multiple-choice":
        from edge_albert.on_device.choice_scorer import choice_scores

        return np.stack(choice_scores(session, tokenizer, [(t, list(CHECK_CHOICES)) for t in texts], max_length=max_length))
    return run_texts(session, tokenizer, texts, max_length=max_length)


def compare_models(
    reference: Path | Session,
    candidate: Path | Session,
    tokenizer: AlbertTokenizer,
    texts: Sequence[str],
    *,
    labels: Sequence[int] | None = None,
    max_length: int = 128,
    threads: int = 1,
    reference_logits: np.ndarray | None = None,
) -> ComparisonResult:
    """Run both models on `texts` and compare. `reference_logits` (the reference's logits on these
    texts at `max_length`, from `run_texts`) saves running the reference again when one reference
    is compared with many candidates, as the accuracy-aware search does."""
    cand = candidate if not isinstance(candidate, (str, Path)) else open_session(Path(candidate), threads=threads)
    if reference_logits is None:
        ref = reference if not isinstance(reference, (str, Path)) else open_session(Path(reference), threads=threads)
        max_length = min(max_length, ref.max_length, cand.max_length)
        ref_logits = _outputs(ref, tokenizer, texts, max_length=max_length)
        ref_name = str(ref.path)
    else:
        if cand.max_length < max_length:
            raise InputError(f"the candidate takes at most {cand.max_length} tokens, the reference logits were computed at {max_length}", cand.path)
        ref_logits = np.asarray(reference_logits)
        if ref_logits.shape[0] != len(texts):
            raise InputError(f"reference_logits has {ref_logits.shape[0]} rows for {len(texts)} texts")
        ref_name = str(reference.path if hasattr(reference, "path") else reference)
    cand_logits = _outputs(cand, tokenizer, texts, max_length=max_length)
    if cand_logits.shape != ref_logits.shape:
        raise InputError(f"outputs of shape {cand_logits.shape} where the reference gives {ref_logits.shape}: another task or label set?", cand.path)
    # Token-level outputs compare token by token (agreement: the same label, or for question
    # answering the same start-versus-end preference, per token); sentence embeddings by their
    # components, cosines and nearest neighbours.
    task = getattr(getattr(cand, "task", None), "name", None)
    fid = embedding_fidelity(cand_logits, ref_logits) if task == "feature-extraction" else fidelity_metrics(cand_logits, ref_logits)
    ref_acc = cand_acc = None
    if labels is not None:
        y = np.asarray(labels)
        ref_acc = classification_metrics(ref_logits, y)["accuracy"]
        cand_acc = classification_metrics(cand_logits, y)["accuracy"]
    return ComparisonResult(ref_name, str(cand.path), cand.runtime, len(texts), reference_accuracy=ref_acc, candidate_accuracy=cand_acc, **fid)


__all__ = ["ComparisonResult", "compare_models", "run_texts"]
