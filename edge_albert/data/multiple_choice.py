"""Multiple-choice questions as JSON lines: {"question": ..., "choices": [...], "label": INDEX}
(a context, when there is one, is part of the question text). Errors name the file and line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edge_albert.errors import InputError


@dataclass(frozen=True)
class ChoiceQuestion:
    question: str
    choices: tuple[str, ...]
    label: int | None  # None where the file is read without labels (calibration)


def read_choice_questions(path: Path, *, limit: int | None = None, labeled: bool = True) -> list[ChoiceQuestion]:
    """The questions of a JSON-lines file; `labeled=False` takes lines without a label (the
    questions static int8 calibrates on)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            raise InputError(f'line {number}: expected a JSON object {{"question": ..., "choices": [...], "label": INDEX}}', path)
        question, choices, label = row.get("question"), row.get("choices"), row.get("label")
        if not isinstance(question, str) or not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise InputError(f"line {number}: needs a question string and a list of at least two choice strings", path)
        unlabeled_ok = label is None and not labeled
        if not unlabeled_ok and (isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(choices)):
            raise InputError(f"line {number}: label must be the index of the right choice (0 to {len(choices) - 1}), got {label!r}", path)
        out.append(ChoiceQuestion(question, tuple(choices), label))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise InputError("no questions in it", path)
    return out


__all__ = ["ChoiceQuestion", "read_choice_questions"]
