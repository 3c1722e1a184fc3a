"""Scored sentence pairs (STS-B's `score<TAB>sentence1<TAB>sentence2`), the data a sentence
embedding is judged on: the cosine similarity of a pair's embeddings should rank as the human
scores do."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError

COLUMNS = ("score", "sentence1", "sentence2")


@dataclass
class ScoredPairs:
    first: list[str]
    second: list[str]
    scores: np.ndarray  # float64 [N]
    source: str = ""

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def sentences(self) -> list[str]:
        """Every sentence once, in first-seen order."""
        return list(dict.fromkeys(self.first + self.second))


def read_scored_pairs(path: Path, *, limit: int | None = None) -> ScoredPairs:
    """A TSV with a header naming `score`, `sentence1` and `sentence2` (other columns ignored);
    errors name the file and line. Read with quoting off: STS-B has unbalanced quotes."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    first, second, scores = [], [], []
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None or not set(COLUMNS) <= set(header):
                raise InputError(f"expected a header with the columns {', '.join(COLUMNS)} (tab-separated); found {header}", path)
            at = [header.index(c) for c in COLUMNS]
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) < len(header):
                    raise InputError(f"line {line}: {len(row)} fields where the header has {len(header)}", path)
                score, a, b = (row[i] for i in at)
                try:
                    value = float(score)
                except ValueError:
                    raise InputError(f"line {line}: score {score!r} is not a number", path) from None
                if not np.isfinite(value) or not a.strip() or not b.strip():
                    raise InputError(f"line {line}: a pair needs a finite score and two non-empty sentences", path)
                first.append(a)
                second.append(b)
                scores.append(value)
                if limit is not None and len(scores) >= limit:
                    break
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path) from None
    if not scores:
        raise InputError("no pairs in it", path)
    return ScoredPairs(first, second, np.asarray(scores, dtype=np.float64), source=str(path))


__all__ = ["ScoredPairs", "read_scored_pairs", "COLUMNS"]
