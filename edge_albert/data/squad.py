"""SQuAD v1.1 JSON for extractive question answering.

`{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers":
[{"text", "answer_start"}]}]}]}]}`. Every answer must be the context's text at its offset; a
mismatch names the question id, since a wrong offset silently teaches a model the wrong span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge_albert.errors import InputError
from edge_albert.jsonfile import read_json


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset in the context

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class QuestionExample:
    id: str
    question: str
    context: str
    answers: tuple[Answer, ...] = field(default_factory=tuple)


def read_squad(path: Path, *, limit: int | None = None) -> list[QuestionExample]:
    """The questions of a SQuAD v1.1 file in file order (the first `limit` when given)."""
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise InputError('expected SQuAD JSON: an object with a "data" list of articles', path)
    out: list[QuestionExample] = []
    seen: set[str] = set()
    for a, article in enumerate(doc["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise InputError(f'data[{a}]: expected an article with a "paragraphs" list', path)
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str) or not isinstance(paragraph.get("qas"), list):
                raise InputError(f'{where}: expected "context" (text) and "qas" (list)', path)
            context = paragraph["context"]
            for q, qa in enumerate(paragraph["qas"]):
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str) or not isinstance(qa.get("id"), str):
                    raise InputError(f'{where}.qas[{q}]: expected "id" and "question" strings', path)
                if qa["id"] in seen:
                    raise InputError(f"question id {qa['id']!r} appears twice", path)
                seen.add(qa["id"])
                answers = []
                for k, ans in enumerate(qa.get("answers") or []):
                    if not isinstance(ans, dict) or not isinstance(ans.get("text"), str) or isinstance(ans.get("answer_start"), bool) \
                            or not isinstance(ans.get("answer_start"), int):
                        raise InputError(f'question {qa["id"]}: answers[{k}] needs "text" and an integer "answer_start"', path)
                    start = ans["answer_start"]
                    if context[start:start + len(ans["text"])] != ans["text"]:
                        raise InputError(f'question {qa["id"]}: answers[{k}] {ans["text"]!r} is not the context text at answer_start {start}', path)
                    answers.append(Answer(ans["text"], start))
                out.append(QuestionExample(qa["id"], qa["question"], context, tuple(answers)))
                if limit is not None and len(out) >= limit:
                    return out
    if not out:
        raise InputError("no questions found", path)
    return out



__all__ = ["Answer", "QuestionExample", "read_squad"]
