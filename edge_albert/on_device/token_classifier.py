"""Named entities (token classification) on device.

    from edge_albert.on_device import TokenClassifier
    ner = TokenClassifier.from_bundle("ner.eabundle")
    ner.entities(["Angela Merkel visited Paris."])
    # -> [[Entity(entity='PER', score=0.98, start=0, end=13, text='Angela Merkel'), Entity('LOC', ...)]]

Words are white-space words, as training reads CoNLL's words. Spans hold no white space: a
piece's offsets (as the fast tokenizer reports them) take in the space before a word, and a lone
"▁" piece (before punctuation and digits) spans only that space; both are trimmed, and lone "▁"
pieces are no entity of their own. (transformers' pipeline keeps those spaces in its spans, makes a
lone "▁" or an unknown piece a word of its own, and otherwise decodes as here.)
The aggregation strategies are the pipeline's: `none` gives every token whose tag is not `O`;
`first`, `average` and `max` give each word the tag of its first piece, of its pieces' mean
probabilities or of its most confident piece, and group words into entities with CoNLL's chunking
rules (`entity_tags.entities`). Scores are softmax probabilities; an entity's score is the mean of
its words'. A text longer than the model's window is tagged in consecutive windows cut at word
boundaries, so every word is tagged (a word near a cut sees less context).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_albert.answer_spans import AGGREGATIONS, word_scores
from edge_albert.entity_tags import OUTSIDE, entities
from edge_albert.errors import InputError
from edge_albert.on_device.bundle_model import BundleModel, check_batch_size, check_text, text_list
from edge_albert.packaging.manifest import BundleContents, read_bundle
from edge_albert.runtimes.base import Session
from edge_albert.tokenization import AlbertTokenizer, Encoding, Token, pad_encodings

STRATEGIES = ("none", *AGGREGATIONS)


@dataclass(frozen=True)
class Entity:
    entity: str  # the entity type (a word strategy) or the token's tag (`none`)
    score: float
    start: int  # character span in the text
    end: int
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without the white space at its ends (empty spans stay at their end)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def word_windows(tokens: Sequence[Token], budget: int) -> list[tuple[int, int]]:
    """[start, end) token ranges of at most `budget` tokens covering `tokens`, each cut before a
    word's first piece unless a single word is longer than the budget."""
    ranges, start = [], 0
    while start < len(tokens):
        end = min(start + budget, len(tokens))
        if end < len(tokens):
            cut = end
            while cut > start and tokens[cut].word == tokens[cut - 1].word:
                cut -= 1
            end = cut if cut > start else end
        ranges.append((start, end))
        start = end
    return ranges or [(0, 0)]


def token_logits(session: Session, encodings: Sequence[Encoding], pad_id: int, *, batch_size: int = 32) -> list[np.ndarray]:
    """Per-token logits [tokens, labels] of each encoding, [CLS] and [SEP] dropped, batched in
    length order (any runtime adapter's session)."""
    out: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(encodings)
    order = np.argsort([len(e.input_ids) for e in encodings], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        logits = session.run(pad_encodings([encodings[i] for i in idx], pad_id))
        for row, i in zip(logits, idx):
            out[i] = row[1:len(encodings[i].input_ids) - 1]
    return out


def word_tags(session: Session, tokenizer: AlbertTokenizer, labels: Sequence[str], sentences: Sequence[Sequence[str]], *, max_length: int,
              aggregation: str = "first", batch_size: int = 32) -> tuple[list[list[str]], list[np.ndarray]]:
    """A tag per word of pre-split sentences (CoNLL words), each word tokenised on its own as
    training does (words past `max_length` are tagged `O`), and each sentence's token logits.
    What the tagger on device computes and what `validate` scores."""
    if aggregation not in AGGREGATIONS:
        raise InputError(f"word tags need a word aggregation: {', '.join(AGGREGATIONS)}")
    check_batch_size(batch_size)
    encodings = []
    for i, words in enumerate(sentences):
        for j, word in enumerate(words):
            check_text(word, f"sentence {i} word {j}")
        encodings.append(tokenizer.encode_words(list(words), max_length=max_length))
    logits = token_logits(session, encodings, tokenizer.pad_id, batch_size=batch_size)
    out = []
    for words, enc, rows in zip(sentences, encodings, logits):
        ids = enc.word_ids[1:-1]  # type: ignore[index]
        scores = word_scores(rows, ids, len(words), aggregation)
        seen = np.zeros(len(words), bool)
        seen[[w for w in ids if w is not None]] = True
        out.append([labels[int(s.argmax())] if ok else OUTSIDE for s, ok in zip(scores, seen)])
    return out, logits


class TokenClassifier:
    def __init__(self, bundle: BundleContents, backend: str | None = None, *, threads: int = 1, aggregation: str = "first") -> None:
        model = BundleModel(bundle, backend, threads=threads, task="token-classification")
        self.session, self.tokenizer, self.labels, self.max_length = model.session, model.tokenizer, model.labels, model.max_length
        self.backend, self.manifest, self.model_entry = model.backend, model.manifest, model.model_entry
        self.aggregation = self._strategy(aggregation)

    @classmethod
    def from_bundle(cls, path: Path | str, backend: str | None = None, *, threads: int = 1, aggregation: str = "first",
                    public_key: Path | bytes | None = None) -> TokenClassifier:
        """Open and verify a bundle (checksums, format version, signature when a key is given)."""
        return cls(read_bundle(Path(path), public_key=public_key), backend, threads=threads, aggregation=aggregation)

    @staticmethod
    def _strategy(name: str) -> str:
        if name not in STRATEGIES:
            raise InputError(f"unknown aggregation {name!r}; use one of {', '.join(STRATEGIES)}")
        return name

    def token_logits(self, texts: Sequence[str], *, batch_size: int = 32) -> list[tuple[list[Token], np.ndarray]]:
        """Each text's pieces and their logits [pieces, labels], over as many windows as it needs."""
        texts = text_list(texts)
        check_batch_size(batch_size)
        tokens = [self.tokenizer.tokens(text) for text in texts]
        encodings, owners = [], []
        for t, toks in enumerate(tokens):
            for lo, hi in word_windows(toks, self.max_length - 2):
                encodings.append(self.tokenizer.assemble(toks[lo:hi]))
                owners.append(t)
        logits = token_logits(self.session, encodings, self.tokenizer.pad_id, batch_size=batch_size)
        parts: list[list[np.ndarray]] = [[] for _ in texts]
        for owner, rows in zip(owners, logits):
            parts[owner].append(rows)
        return [(toks, np.concatenate(p)) for toks, p in zip(tokens, parts)]

    def entities(self, texts: Sequence[str], *, aggregation: str | None = None, batch_size: int = 32) -> list[list[Entity]]:
        """The entities of each text, in text order."""
        strategy = self._strategy(aggregation or self.aggregation)
        return [self._decode(text, toks, logits, strategy) for text, (toks, logits) in zip(texts, self.token_logits(texts, batch_size=batch_size))]

    def _decode(self, text: str, tokens: list[Token], logits: np.ndarray, strategy: str) -> list[Entity]:
        if strategy == "none":
            probs = _softmax(logits.astype(np.float64))
            out = []
            for tok, p in zip(tokens, probs):
                tag = self.labels[int(p.argmax())]
                start, end = trimmed(text, tok.start, tok.end)
                if tag != OUTSIDE and end > start:
                    out.append(Entity(tag, float(p.max()), start, end, text[start:end]))
            return out
        n_words = max((t.word for t in tokens), default=-1) + 1
        scores = word_scores(logits, [t.word for t in tokens], n_words, strategy)
        probs = _softmax(scores) if strategy == "first" else scores
        spans = [[len(text), 0] for _ in range(n_words)]
        for tok in tokens:
            start, end = trimmed(text, tok.start, tok.end)
            if end > start:
                spans[tok.word][0] = min(spans[tok.word][0], start)
                spans[tok.word][1] = max(spans[tok.word][1], end)
        # A word sentencepiece drops whole (control characters only) has no pieces: outside.
        seen = {tok.word for tok in tokens}
        tags = [self.labels[int(p.argmax())] if w in seen else OUTSIDE for w, p in enumerate(probs)]
        out = []
        for kind, first, last in entities(tags):
            start, end = spans[first][0], spans[last - 1][1]
            out.append(Entity(kind, float(np.mean(probs[first:last].max(-1))), start, end, text[start:end]))
        return out

    def word_tags(self, sentences: Sequence[Sequence[str]], *, aggregation: str | None = None, batch_size: int = 32) -> list[list[str]]:
        """A tag per word of pre-split sentences (see `word_tags`)."""
        strategy = self._strategy(aggregation or self.aggregation)
        return word_tags(self.session, self.tokenizer, self.labels, sentences, max_length=self.max_length, aggregation=strategy,
                         batch_size=batch_size)[0]


__all__ = ["TokenClassifier", "Entity", "STRATEGIES", "word_windows", "word_tags", "token_logits", "trimmed"]
