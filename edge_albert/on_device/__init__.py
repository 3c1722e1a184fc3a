"""The on-device runtime: open a bundle and run its task. Needs only the `runtime` extra (numpy,
sentencepiece, onnxruntime and/or ai-edge-litert): no torch, no tensorflow.

    from edge_albert.on_device import open_predictor
    model = open_predictor("model.eabundle")  # a Classifier, TokenClassifier, QuestionAnswerer, Embedder, MaskFiller or ChoiceScorer

One predictor per task, registered by the task's name (`edge_albert.tasks`); the bundle's manifest
says which task its models do.
"""

from __future__ import annotations

from pathlib import Path

from edge_albert.errors import InputError
from edge_albert.on_device.bundle_model import bundle_task, check_text
from edge_albert.on_device.choice_scorer import Choice, ChoiceScorer
from edge_albert.on_device.classifier import Classifier, Prediction
from edge_albert.on_device.embedder import Embedder, Hit, cosine_similarity
from edge_albert.on_device.mask_filler import Fill, MaskFiller
from edge_albert.on_device.question_answerer import DEFAULT_MAX_ANSWER_LENGTH, DEFAULT_STRIDE, Answer, QuestionAnswerer
from edge_albert.on_device.token_classifier import Entity, TokenClassifier
from edge_albert.packaging.manifest import read_bundle

PREDICTORS: dict[str, type] = {
    "text-classification": Classifier,
    "token-classification": TokenClassifier,
    "question-answering": QuestionAnswerer,
    "feature-extraction": Embedder,
    "fill-mask": MaskFiller,
    "multiple-choice": ChoiceScorer,
}


def open_predictor(path: Path | str, backend: str | None = None, *, threads: int = 1, public_key: Path | bytes | None = None,
                   aggregation: str = "first", stride: int = DEFAULT_STRIDE,
                   max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH) -> Classifier | TokenClassifier | QuestionAnswerer | Embedder | MaskFiller | ChoiceScorer:
    """Open and verify a bundle and return the predictor of its task. Each option goes to the
    predictor that has it: `aggregation` to token classification, `stride` and
    `max_answer_length` to question answering."""
    bundle = read_bundle(Path(path), public_key=public_key)
    task = bundle_task(bundle).name
    options: dict = {"token-classification": {"aggregation": aggregation},
                     "question-answering": {"stride": stride, "max_answer_length": max_answer_length}}.get(task, {})
    if task not in PREDICTORS:
        raise InputError(f"the bundle holds a {task} model; the on-device runtime runs {', '.join(PREDICTORS)}", path)
    return PREDICTORS[task](bundle, backend, threads=threads, **options)


__all__ = ["open_predictor", "PREDICTORS", "Classifier", "Prediction", "Embedder", "Hit", "cosine_similarity", "MaskFiller", "Fill", "ChoiceScorer", "Choice", "TokenClassifier", "Entity", "QuestionAnswerer", "Answer", "check_text"]
