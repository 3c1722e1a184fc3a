"""The built-in default dataset: rt-polarity movie-review sentences (the source text of SST).

A fresh user machine has no SST-2. PyPI serves the sentences inside the source distribution of
`vaderSentiment==3.3.2` (`additional_resources/hutto_ICWSM_2014.tar.gz`, file
`movieReviewSnippets_GroundTruth.txt`: id, mean human score, sentence). We fetch it once with pip,
verify pinned sha256 digests, cache it, and write a fixed seeded train/dev/test split as TSV files
(`label<TAB>sentence`, like SST-2) that every command accepts.
"""

from __future__ import annotations

import io
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

from edge_albert.cache import cache_dir
from edge_albert.checksums import sha256_file
from edge_albert.data.registry import cached_download
from edge_albert.errors import InputError
from edge_albert.staging import staged_file

SDIST_NAME = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
INNER_FILE = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
FILE_NAME = "movieReviewSnippets_GroundTruth.txt"
FILE_SHA256 = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"
LABEL_NAMES = ["negative", "positive"]
SPLIT_SEED = 1234
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class DatasetFiles:
    train: Path
    dev: Path
    test: Path
    label_names: tuple[str, ...] = tuple(LABEL_NAMES)


def _extract(sdist: Path, target: Path) -> None:
    with tarfile.open(sdist, "r:gz") as outer:
        member = outer.extractfile(INNER_ARCHIVE)
        if member is None:
            raise InputError(f"{INNER_ARCHIVE} missing from the archive", sdist)
        with tarfile.open(fileobj=io.BytesIO(member.read()), mode="r:gz") as inner:
            data = inner.extractfile(INNER_FILE)
            if data is None:
                raise InputError(f"{INNER_FILE} missing from the archive", sdist)
            payload = data.read()
    with staged_file(target, force=True) as stage:
        stage.write_bytes(payload)


def fetch_raw(cache: Path | None = None) -> Path:
    """The verified raw file, fetching or re-extracting whatever in the cache is missing or corrupt."""
    cache = Path(cache or cache_dir()) / "rt-polarity"
    cache.mkdir(parents=True, exist_ok=True)
    raw = cache / FILE_NAME
    if raw.is_file() and sha256_file(raw) == FILE_SHA256:
        return raw
    sdist = cached_download("vaderSentiment==3.3.2", SDIST_NAME, SDIST_SHA256, cache, sdist=True)
    _extract(sdist, raw)
    if sha256_file(raw) != FILE_SHA256:
        raise InputError("extracted file has the wrong sha256; delete the cache directory and retry", raw)
    return raw


def parse_raw(raw: Path) -> list[tuple[int, str]]:
    """(label, sentence) pairs: label 1 for a positive mean score, 0 for negative; zeros dropped."""
    text = raw.read_bytes().decode("utf-8")
    rows = []
    for n, line in enumerate(text.split("\r\n"), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise InputError(f"line {n}: expected 3 tab-separated fields", raw)
        score = float(parts[1])
        if score == 0:
            continue
        sentence = " ".join(parts[2].split())
        rows.append((1 if score > 0 else 0, sentence))
    return rows


def split_rows(rows: list[tuple[int, str]], seed: int = SPLIT_SEED) -> tuple[list, list, list]:
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_train = int(len(rows) * SPLIT_FRACTIONS[0])
    n_dev = int(len(rows) * SPLIT_FRACTIONS[1])
    bounds = (0, n_train, n_train + n_dev, len(order))
    train, dev, test = ([rows[i] for i in order[a:b]] for a, b in zip(bounds, bounds[1:]))
    return train, dev, test


def _write_tsv(rows: list[tuple[int, str]], path: Path) -> None:
    with staged_file(path, force=True) as stage:
        with open(stage, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("label\tsentence\n")
            for label, sentence in rows:
                fh.write(f"{label}\t{sentence}\n")


def default_dataset(cache: Path | None = None) -> DatasetFiles:
    """Train/dev/test TSV files of the default data, created on first use."""
    raw = fetch_raw(cache)
    folder = raw.parent / f"split-{SPLIT_SEED}"
    files = DatasetFiles(folder / "train.tsv", folder / "dev.tsv", folder / "test.tsv")
    stamp = folder / "source.sha256"
    if all(p.is_file() for p in (files.train, files.dev, files.test)) and stamp.is_file() and stamp.read_text().strip() == FILE_SHA256:
        return files
    folder.mkdir(parents=True, exist_ok=True)
    train, dev, test = split_rows(parse_raw(raw))
    for rows, path in ((train, files.train), (dev, files.dev), (test, files.test)):
        _write_tsv(rows, path)
    stamp.write_text(FILE_SHA256 + "\n")
    return files


__all__ = ["default_dataset", "fetch_raw", "parse_raw", "split_rows", "cache_dir", "DatasetFiles", "LABEL_NAMES"]
