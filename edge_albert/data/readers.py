"""Labelled text files: TSV, CSV and JSON lines, with columns chosen by name.

Errors name the file and line of a malformed row. Label names are the distinct label values in
sorted order (numbers numerically), unless the caller fixes them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge_albert.errors import InputError

TEXT_COLUMNS = ("sentence", "text", "sentence1", "review", "content")
PAIR_COLUMNS = ("text_pair", "sentence2")
LABEL_COLUMNS = ("label", "labels", "target", "class")


@dataclass
class LabeledTexts:
    """Texts (and optional second texts) with integer labels indexing `label_names`."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    pairs: list[str] | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> LabeledTexts:
        return LabeledTexts(
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            self.label_names,
            [self.pairs[i] for i in indices] if self.pairs is not None else None,
            self.source,
        )


def _format(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = path.suffix.lower()
    return {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".txt": "txt"}.get(suffix, "tsv")


def read_text_file(path: Path) -> str:
    """A UTF-8 text file (a byte-order mark is dropped), or a one-line error naming it."""
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}); re-encode the file as UTF-8", path) from None


def _rows(path: Path, fmt: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """Column names and (line number, row) pairs."""
    text = read_text_file(path)
    if fmt == "jsonl":
        rows, columns = [], []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"line {n}: not valid JSON ({exc.msg})", path) from None
            if not isinstance(row, dict):
                raise InputError(f"line {n}: expected a JSON object", path)
            columns = columns or list(row)
            rows.append((n, row))
        return columns, rows
    delimiter = "\t" if fmt == "tsv" else ","
    quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
    lines = text.splitlines()
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty file; expected a header line with column names", path) from None
    rows = []
    for n, values in enumerate(reader, 2):
        if not values or not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise InputError(f"line {n}: {len(values)} fields, header has {len(header)} ({', '.join(header)})", path)
        rows.append((n, dict(zip(header, values))))
    return header, rows


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, path: Path, required: bool = True) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise InputError(f"no column {wanted!r} (columns: {', '.join(columns)})", path)
        return wanted
    for name in candidates:
        if name in columns:
            return name
    if required:
        raise InputError(f"cannot tell which column is the {what} (columns: {', '.join(columns)}); pass --{what}-column", path)
    return None


def _sort_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def read_labeled(
    path: Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    pair_column: str | None = None,
    label_names: Sequence[str] | None = None,
    fmt: str | None = None,
) -> LabeledTexts:
    """Read a labelled dataset. With `label_names`, every label must be one of them."""
    path = Path(path)
    fmt = _format(path, fmt)
    if fmt == "txt":
        raise InputError("a plain .txt file has no labels; use TSV, CSV or JSONL with a label column", path)
    columns, rows = _rows(path, fmt)
    tcol = _pick(columns, text_column, TEXT_COLUMNS, "text", path)
    lcol = _pick(columns, label_column, LABEL_COLUMNS, "label", path)
    pcol = _pick(columns, pair_column, PAIR_COLUMNS, "pair", path, required=pair_column is not None)
    if not rows:
        raise InputError("no data rows", path)
    raw_labels: list[str] = []
    texts: list[str] = []
    pairs: list[str] | None = [] if pcol else None
    for n, row in rows:
        text, label = row.get(tcol), row.get(lcol)
        if not isinstance(text, str):
            raise InputError(f"line {n}: column {tcol!r} is missing or not a string", path)
        if label is None or (isinstance(label, str) and not label.strip()):
            raise InputError(f"line {n}: column {lcol!r} is empty", path)
        texts.append(text)
        raw_labels.append(str(label).strip())
        if pairs is not None:
            pair = row.get(pcol)
            if not isinstance(pair, str):
                raise InputError(f"line {n}: column {pcol!r} is missing or not a string", path)
            pairs.append(pair)
    names = list(label_names) if label_names is not None else sorted(set(raw_labels), key=_sort_key)
    index = {name: i for i, name in enumerate(names)}
    labels = []
    for (n, _), raw in zip(rows, raw_labels):
        if raw not in index:
            raise InputError(f"line {n}: label {raw!r} is not one of {names}", path)
        labels.append(index[raw])
    return LabeledTexts(texts, labels, names, pairs, source=str(path))


def read_texts(path: Path, *, text_column: str | None = None, fmt: str | None = None, option: str = "text") -> list[str]:
    """Unlabelled texts: lines of a .txt file, or one column of a TSV/CSV/JSONL file (errors name
    the `--{option}-column` flag that picks it)."""
    path = Path(path)
    fmt = _format(path, fmt)
    if fmt == "txt":
        if not path.is_file():
            raise InputError("file not found", path)
        try:
            return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (byte {exc.start})", path) from None
    columns, rows = _rows(path, fmt)
    tcol = _pick(columns, text_column, TEXT_COLUMNS, option, path)
    return [str(row[tcol]) for _, row in rows if row.get(tcol)]


__all__ = ["LabeledTexts", "read_labeled", "read_texts"]
