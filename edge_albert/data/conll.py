"""CoNLL column files for token classification (CoNLL-2003 and the many files in its layout).

One token per line with its tag in the last column (`token POS chunk NER` in CoNLL-2003, or just
`token TAG`), a blank line between sentences, `-DOCSTART-` lines skipped. Tags are IOB2: an
entity starts with `B-`; an `I-` tag must continue an entity of the same type (IOB1 files are
refused with the line to fix). Label names come from the data: `O` first, then the entity types
in sorted order, `B-X` before `I-X`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge_albert.data.readers import read_text_file
from edge_albert.errors import InputError

OUTSIDE = "O"


@dataclass
class TaggedSentences:
    """Sentences as word lists with one tag index per word (indexing `label_names`)."""

    words: list[list[str]]
    tags: list[list[int]]
    label_names: list[str]
    source: str = ""
    lines: list[int] = field(default_factory=list)  # the file line of each sentence's first word

    def __len__(self) -> int:
        return len(self.words)

    def tag_names(self, i: int) -> list[str]:
        return [self.label_names[t] for t in self.tags[i]]

    def subset(self, indices: Sequence[int]) -> TaggedSentences:
        return TaggedSentences([self.words[i] for i in indices], [self.tags[i] for i in indices], self.label_names, self.source,
                               [self.lines[i] for i in indices] if self.lines else [])


def label_order(tags: set[str]) -> list[str]:
    """`O`, then per entity type in sorted order `B-X`, `I-X` (the order CoNLL models usually use)."""
    types = sorted({t[2:] for t in tags if t != OUTSIDE})
    names = [OUTSIDE] if OUTSIDE in tags or types else []
    for kind in types:
        names += [f"B-{kind}", f"I-{kind}"]
    return names


def read_conll(path: Path, *, label_names: list[str] | None = None, column: int = -1) -> TaggedSentences:
    """Read a CoNLL file; `label_names` fixes the label order (a dev file takes its train file's)."""
    path = Path(path)
    text = read_text_file(path)
    sentences: list[tuple[int, list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append((start, words, tags))
            words, tags = [], []
            continue
        if len(fields) < 2:
            raise InputError(f"line {number}: expected a token and its tag separated by white space, got {line.strip()!r}", path)
        tag = fields[column]
        if tag != OUTSIDE and (len(tag) < 3 or tag[:2] not in ("B-", "I-")):
            raise InputError(f"line {number}: tag {tag!r} is not IOB2 (O, B-TYPE or I-TYPE)", path)
        if tag.startswith("I-") and not (tags and tags[-1][2:] == tag[2:] and tags[-1] != OUTSIDE):
            raise InputError(f"line {number}: {tag} does not continue an entity of its type (IOB1 file? convert it to IOB2: an entity starts with B-)", path)
        if not words:
            start = number
        words.append(fields[0])
        tags.append(tag)
    if words:
        sentences.append((start, words, tags))
    if not sentences:
        raise InputError("no sentences found (expected CoNLL columns: token ... TAG, blank line between sentences)", path)
    found = {t for _, _, s in sentences for t in s}
    names = list(label_names) if label_names is not None else label_order(found)
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(found - set(index))
    if unknown:
        raise InputError(f"tags {', '.join(unknown[:5])} are not among the model's labels ({', '.join(names)})", path)
    return TaggedSentences([w for _, w, _ in sentences], [[index[t] for t in s] for _, _, s in sentences], names, str(path),
                           [n for n, _, _ in sentences])


__all__ = ["TaggedSentences", "read_conll", "label_order", "OUTSIDE"]
