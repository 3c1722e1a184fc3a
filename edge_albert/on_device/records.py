"""Requests in, JSON records out, for every task: what `edge-albert predict` prints.

A request is a text (classification, token classification, sentence embeddings, fill-mask), a
{"question", "context"} object (question answering) or a {"question", "choices"} object (multiple
choice); an "id" is echoed. Each input line gets one record, in order; a line that
cannot be read gets {"line": n, "error": ...} and the others are still answered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from edge_albert.errors import InputError
from edge_albert.on_device.bundle_model import check_text
from edge_albert.on_device.choice_scorer import ChoiceScorer
from edge_albert.on_device.classifier import Classifier
from edge_albert.on_device.embedder import Embedder
from edge_albert.on_device.mask_filler import MaskFiller
from edge_albert.on_device.question_answerer import QuestionAnswerer
from edge_albert.on_device.token_classifier import TokenClassifier


@dataclass(frozen=True)
class Request:
    line: int
    payload: str | dict | None  # None when the line could not be read
    error: str | None = None


def text_requests(texts: Sequence[str]) -> list[Request]:
    """Command-line texts (invalid bytes in argv arrive as lone surrogates)."""
    out = []
    for i, text in enumerate(texts, 1):
        try:
            check_text(text, f"argument {i}")
            out.append(Request(i, text))
        except InputError as exc:
            out.append(Request(i, None, str(exc)))
    return out


def line_requests(data: bytes, *, json_objects: bool, fields: tuple[str, ...] = ("question", "context")) -> list[Request]:
    """Lines of standard input: texts, or JSON objects with `fields` (strings; "choices": a list of strings)."""
    out = []
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.append(Request(n, None, f"not valid UTF-8 (byte {exc.start})"))
            continue
        if not json_objects:
            out.append(Request(n, line))
            continue
        if not line.strip():
            continue  # blank lines between JSON objects carry nothing
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            out.append(Request(n, None, "not a JSON object; give {" + ", ".join(f'"{k}": ...' for k in fields) + "} per line"))
            continue
        missing = [k for k in fields if not (isinstance(obj.get(k), list) and all(isinstance(c, str) for c in obj[k]) if k == "choices"
                                            else isinstance(obj.get(k), str))]
        if missing:
            kind = "a list of strings" if missing == ["choices"] else "a string"
            out.append(Request(n, None, f"field {' and '.join(missing)} missing or not {kind}"))
            continue
        out.append(Request(n, obj))
    return out


def _one_at_a_time(good: Sequence[Request], answer) -> dict[int, dict]:
    """Records of requests answered one by one, so a bad one (a question too long for the window,
    a text without [MASK]) fails only its own line; an "id" in a JSON request is echoed."""
    results = {}
    for r in good:
        head = {"line": r.line, **({"id": r.payload["id"]} if isinstance(r.payload, dict) and "id" in r.payload else {})}
        try:
            results[r.line] = head | answer(r.payload)
        except InputError as exc:
            results[r.line] = head | {"error": str(exc)}
    return results


def predict_records(predictor: Classifier | TokenClassifier | QuestionAnswerer | Embedder | MaskFiller | ChoiceScorer, requests: Sequence[Request], *, batch_size: int = 32) -> list[dict]:
    """One record per request, in order."""
    good = [r for r in requests if r.error is None]
    if isinstance(predictor, QuestionAnswerer):
        def answer(payload: dict) -> dict:
            a = predictor.answer(payload["question"], payload["context"])
            return {"answer": a.text, "start": a.start, "end": a.end, "score": a.score, "windows": a.windows} if a else {"answer": None}

        results = _one_at_a_time(good, answer)
    elif isinstance(predictor, ChoiceScorer):
        results = _one_at_a_time(good, lambda payload: predictor.choose(payload["question"], payload["choices"]).to_dict())
    elif isinstance(predictor, Embedder):
        vectors = predictor.embed([r.payload for r in good], batch_size=batch_size) if good else []  # type: ignore[misc]
        results = {r.line: {"line": r.line, "text": r.payload, "embedding": [float(x) for x in v]} for r, v in zip(good, vectors)}
    elif isinstance(predictor, MaskFiller):
        def fill(text: str) -> dict:
            try:
                masks = predictor.fill([text], batch_size=batch_size)[0]
            except InputError as exc:
                raise InputError(str(exc).replace("text 0", "the text")) from None
            return {"text": text, "masks": [[f.to_dict() for f in fills] for fills in masks]}

        results = _one_at_a_time(good, fill)
    elif isinstance(predictor, TokenClassifier):
        found = predictor.entities([r.payload for r in good], batch_size=batch_size) if good else []  # type: ignore[misc]
        results = {r.line: {"line": r.line, "text": r.payload, "entities": [e.to_dict() for e in ents]} for r, ents in zip(good, found)}
    else:
        preds = predictor.predict([r.payload for r in good], batch_size=batch_size) if good else []  # type: ignore[misc]
        results = {r.line: {"line": r.line, "text": r.payload, **p.to_dict()} for r, p in zip(good, preds)}
    return [results[r.line] if r.error is None else {"line": r.line, "error": r.error} for r in requests]


__all__ = ["Request", "text_requests", "line_requests", "predict_records"]
