"""ALBERT's sentencepiece tokenizer, token-for-token identical to `transformers.AlbertTokenizer`.

Imports only sentencepiece and numpy, so the on-device runtime can use it without torch.
The reference's behaviour is reproduced on purpose, quirks included: special-token strings typed
in the text (`[MASK]`, `<pad>`, ...) become special tokens, lower-casing happens character by
character before that split, `[MASK]` swallows the white space to its left, and a piece ending in
digit + comma is split again ("1990," -> "1990" ",").
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm

from edge_albert.errors import InputError

SPIECE_UNDERLINE = "▁"
PAD, UNK, CLS, SEP, MASK = "<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)
_SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


@dataclass(frozen=True)
class Encoding:
    input_ids: list[int]
    token_type_ids: list[int]
    # Per token: the character span in its own text (first or second), (0, 0) for [CLS]/[SEP];
    # the index of the white-space word it belongs to (None for [CLS]/[SEP]); which text it comes
    # from (0, 1, None), as `transformers`' fast tokenizers report them.
    offsets: list[tuple[int, int]] | None = None
    word_ids: list[int | None] | None = None
    sequence_ids: list[int | None] | None = None


@dataclass(frozen=True)
class Token:
    """One piece of a text: its id, its character span in the text and its white-space word."""

    id: int
    start: int
    end: int
    word: int
    piece: str = ""


def preprocess_text(text: str, *, lower: bool = True, keep_accents: bool = False, remove_space: bool = True) -> str:
    """ALBERT's normalisation: collapse white space, `` and '' to ", strip accents, lower-case."""
    out = " ".join(text.strip().split()) if remove_space else text
    out = out.replace("``", '"').replace("''", '"')
    if not keep_accents:
        out = unicodedata.normalize("NFKD", out)
        out = "".join(c for c in out if not unicodedata.combining(c))
    if lower:
        out = out.lower()
    return out


class AlbertTokenizer:
    """Sentencepiece tokenizer with ALBERT's pre-processing and `[CLS] A [SEP] B [SEP]` layout."""

    def __init__(self, model_file: Path | None = None, *, model_proto: bytes | None = None, do_lower_case: bool = True, keep_accents: bool = False) -> None:
        """Load from a spiece.model file, or from its bytes (`model_proto`, as a bundle holds it)."""
        self.do_lower_case = do_lower_case
        self.keep_accents = keep_accents
        self.sp = spm.SentencePieceProcessor()
        source = model_file if model_file is not None else "<bytes>"
        if model_proto is None:
            model_file = Path(model_file)
            if not model_file.is_file():
                raise InputError("sentencepiece model not found (expected spiece.model)", model_file)
            model_proto = model_file.read_bytes()
        self.model_file = Path(model_file) if model_file is not None else None
        self.model_proto = model_proto
        try:
            self.sp.LoadFromSerializedProto(model_proto)
        except (OSError, RuntimeError, TypeError) as exc:
            raise InputError(f"not a valid sentencepiece model ({exc})", source) from None
        missing = [t for t in SPECIAL_TOKENS if self.sp.PieceToId(t) == self.sp.unk_id() and t != UNK]
        if missing:
            raise InputError(
                f"sentencepiece model lacks ALBERT's special pieces {missing}; train it with "
                "`edge-albert tokenizer` or pass ALBERT's spiece.model",
                source,
            )
        self.special_ids = {t: self.sp.PieceToId(t) for t in SPECIAL_TOKENS}
        self.pad_id = self.special_ids[PAD]
        self.cls_id = self.special_ids[CLS]
        self.sep_id = self.special_ids[SEP]
        self.mask_id = self.special_ids[MASK]
        self.unk_id = self.special_ids[UNK]

    @property
    def vocab_size(self) -> int:
        return self.sp.GetPieceSize()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.model_proto).hexdigest()

    # Tokenisation ----------------------------------------------------------------------
    def _lowered(self, text: str) -> tuple[str, list[int]]:
        """Per character, outside special tokens, as the reference does (so Σ never becomes ς
        and "<PAD>" becomes the pad token); with the original index of every output character."""
        if not self.do_lower_case:
            return text, list(range(len(text)))
        chars: list[str] = []
        origin: list[int] = []
        pos = 0
        for part in _SPECIAL_SPLIT.split(text):
            for i, c in enumerate(part):
                lowered = c if part in SPECIAL_TOKENS else c.lower()
                chars.append(lowered)
                origin.extend([pos + i] * len(lowered))
            pos += len(part)
        return "".join(chars), origin

    def _normalized(self, text: str, origin: list[int], lo: int, hi: int) -> tuple[str, list[tuple[int, int]], int | None]:
        """`preprocess_text` of text[lo:hi], with the original span of every output character and
        the original index of the white space before the first word (None if there is none).

        The alignment follows `tokenizers`' normalizers: a collapsed run of white space and a
        replaced `` or '' map to their last original character."""
        chars: list[tuple[str, tuple[int, int]]] = []
        lead: int | None = None
        i = lo
        while i < hi:  # strip and collapse white space
            if text[i].isspace():
                j = i
                while j < hi and text[j].isspace():
                    j += 1
                if chars and j < hi:
                    chars.append((" ", (origin[j - 1], origin[j - 1] + 1)))
                elif not chars:
                    lead = origin[j - 1]
                i = j
            else:
                chars.append((text[i], (origin[i], origin[i] + 1)))
                i += 1
        for pair in ("``", "''"):
            out: list[tuple[str, tuple[int, int]]] = []
            k = 0
            while k < len(chars):
                if k + 1 < len(chars) and chars[k][0] + chars[k + 1][0] == pair:
                    out.append(('"', chars[k + 1][1]))
                    k += 2
                else:
                    out.append(chars[k])
                    k += 1
            chars = out
        if not self.keep_accents:
            chars = [(d, span) for c, span in chars for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d)]
        if self.do_lower_case:
            chars = [(d, span) for c, span in chars for d in c.lower()]
        normalized = "".join(c for c, _ in chars)
        expected = preprocess_text(text[lo:hi], lower=self.do_lower_case, keep_accents=self.keep_accents)
        if normalized != expected:
            # Character-wise NFKD differs from whole-string NFKD only in rare combining-mark orders
            # (accents kept); the ids stay exact, the spans widen to the whole segment.
            whole = (origin[lo], origin[hi - 1] + 1)
            return expected, [whole] * len(expected), lead
        return normalized, [span for _, span in chars], lead

    def _segment_tokens(self, text: str, origin: list[int], lo: int, hi: int, words: list[int]) -> list[Token]:
        normalized, spans, lead = self._normalized(text, origin, lo, hi)
        if not normalized:
            return []
        encoded = normalized.encode("utf-8")
        char_at = np.zeros(len(encoded) + 1, dtype=np.int64)  # byte offset -> character index
        pos = 0
        for ci, c in enumerate(normalized):
            n = len(c.encode("utf-8"))
            char_at[pos:pos + n] = ci
            pos += n
        char_at[len(encoded)] = len(normalized)
        tokens: list[Token] = []
        for piece in self.sp.encode(normalized, out_type="proto").pieces:
            cb, ce = int(char_at[piece.begin]), int(char_at[piece.end])
            for sub, sb, se in self._split_digit_comma(piece.piece, normalized, cb, ce):
                tokens.append(self._token(sub, normalized, spans, lead, sb, se, words))
        return tokens

    def _split_digit_comma(self, piece: str, normalized: str, cb: int, ce: int) -> list[tuple[str, int, int]]:
        """`_digit_comma_pieces` with each piece's span in `normalized`."""
        sub = self._digit_comma_pieces(piece)
        if len(sub) == 1:
            return [(piece, cb, ce)]
        out = []
        pos = cb + 1 if normalized[cb:cb + 1] == " " else cb
        for k, s in enumerate(sub[:-1]):
            n = len(s.replace(SPIECE_UNDERLINE, ""))
            out.append((s, cb if k == 0 else pos, min(pos + n, ce - 1)))
            pos += n
        out.append((sub[-1], ce - 1, ce))
        return out

    def _token(self, piece: str, normalized: str, spans: list[tuple[int, int]], lead: int | None, cb: int, ce: int, words: list[int]) -> Token:
        content = cb + 1 if normalized[cb:cb + 1] == " " else cb
        covered = [spans[k] for k in range(content, ce)]
        if piece.startswith(SPIECE_UNDERLINE):
            # The word-boundary marker stands for the white space before the word, or for the
            # word's first character when there is none (as `tokenizers`' Metaspace aligns it).
            if content > cb:
                covered.append(spans[cb])
            elif cb == 0 and lead is not None:
                covered.append((lead, lead + 1))
            elif not covered and content < len(spans):
                covered.append(spans[content])
        if not covered:  # an empty surface (cannot happen for sentencepiece's own pieces)
            covered = [spans[min(cb, len(spans) - 1)]]
        start = min(s for s, _ in covered)
        end = max(e for _, e in covered)
        first_char = spans[min(content, len(spans) - 1)][0]
        token_id = self.special_ids[piece] if piece in self.special_ids else self.sp.PieceToId(piece)
        return Token(token_id, start, end, words[first_char], piece)

    def tokens(self, text: str) -> list[Token]:
        """The pieces of `text` (no [CLS]/[SEP]) with their character spans and word indices."""
        if not isinstance(text, str):
            raise InputError(f"expected text, got {type(text).__name__}")
        lowered, origin = self._lowered(text)
        # White-space words of the original text; a special token typed in the text is a word of its own.
        words = [0] * (len(text) + 1)
        specials = [(m.start(), m.end()) for m in _SPECIAL_SPLIT.finditer(lowered)]
        special_at = {origin[s]: origin[e - 1] + 1 for s, e in specials}
        word, in_word, i = -1, False, 0
        while i < len(text):
            if i in special_at:
                word += 1
                for k in range(i, special_at[i]):
                    words[k] = word
                i, in_word = special_at[i], False
                continue
            if text[i].isspace():
                in_word = False
            elif not in_word:
                word, in_word = word + 1, True
            words[i] = max(word, 0)
            i += 1
        out: list[Token] = []
        pos = 0
        for s, e in specials + [(len(lowered), len(lowered))]:
            lo = pos
            hi = s
            if s < len(lowered) and lowered[s:e] == MASK:
                # [MASK] swallows the white space to its left (ids and span).
                while hi > lo and lowered[hi - 1].isspace():
                    hi -= 1
            if hi > lo:
                out.extend(self._segment_tokens(lowered, origin, lo, hi, words))
            if s < len(lowered):
                token = lowered[s:e]
                start = origin[hi] if hi < s else origin[s]
                out.append(Token(self.special_ids[token], start, origin[e - 1] + 1, words[origin[s]], token))
            pos = e
        return out

    def _sp_pieces(self, text: str) -> list[str]:
        text = preprocess_text(text, lower=self.do_lower_case, keep_accents=self.keep_accents)
        return [sub for piece in self.sp.encode(text, out_type=str) for sub in self._digit_comma_pieces(piece)]

    def _digit_comma_pieces(self, piece: str) -> list[str]:
        """The reference splits a piece ending in digit + comma again ("1990," -> "1990" ",")."""
        if not (len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()):
            return [piece]
        sub = self.sp.EncodeAsPieces(piece[:-1].replace(SPIECE_UNDERLINE, ""))
        if piece[0] != SPIECE_UNDERLINE and sub[0][0] == SPIECE_UNDERLINE:
            sub = sub[1:] if len(sub[0]) == 1 else [sub[0][1:]] + sub[1:]
        return sub + [piece[-1]]

    def tokenize(self, text: str) -> list[str]:
        """The pieces of `text` (the fast path: `tokens` gives the same ids with offsets)."""
        if self.do_lower_case:
            # Per character, outside special tokens, as the reference does (so Σ never becomes ς
            # and "<PAD>" becomes the pad token).
            text = "".join(part if part in SPECIAL_TOKENS else "".join(c.lower() for c in part) for part in _SPECIAL_SPLIT.split(text))
        # Split again after lower-casing: it can create special tokens ("<PAD>" -> "<pad>").
        parts = _SPECIAL_SPLIT.split(text)
        for i, part in enumerate(parts):
            if part == MASK and i > 0 and parts[i - 1]:
                parts[i - 1] = parts[i - 1].rstrip()
        tokens: list[str] = []
        for part in parts:
            if not part:
                continue
            if part in SPECIAL_TOKENS:
                tokens.append(part)
            else:
                tokens.extend(self._sp_pieces(part))
        return tokens

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        return [self.special_ids[t] if t in self.special_ids else self.sp.PieceToId(t) for t in tokens]

    def text_ids(self, text: str) -> list[int]:
        """Token ids of `text` without special tokens around it."""
        if not isinstance(text, str):
            raise InputError(f"expected text, got {type(text).__name__}")
        return self.convert_tokens_to_ids(self.tokenize(text))

    # Encoding ---------------------------------------------------------------------------
    @staticmethod
    def _truncate(a: list, b: list | None, budget: int) -> tuple[list, list | None]:
        # Longest first: trim the longer side; on a tie the second, as the reference does.
        if b is None:
            return a[: max(budget, 0)], None
        a, b = list(a), list(b)
        while len(a) + len(b) > budget and (a or b):
            if len(a) > len(b):
                a.pop()
            else:
                b.pop()
        return a, b

    def assemble(self, a: Sequence[Token], b: Sequence[Token] | None = None) -> Encoding:
        """[CLS] a [SEP] (b [SEP]) with token types, offsets, word and sequence ids."""
        ids = [self.cls_id] + [t.id for t in a] + [self.sep_id]
        offsets = [(0, 0)] + [(t.start, t.end) for t in a] + [(0, 0)]
        words: list[int | None] = [None] + [t.word for t in a] + [None]
        sequence: list[int | None] = [None] + [0] * len(a) + [None]
        types = [0] * len(ids)
        if b is not None:
            ids += [t.id for t in b] + [self.sep_id]
            offsets += [(t.start, t.end) for t in b] + [(0, 0)]
            words += [t.word for t in b] + [None]
            sequence += [1] * len(b) + [None]
            types += [1] * (len(b) + 1)
        return Encoding(ids, types, offsets, words, sequence)

    def encode(self, text: str, text_pair: str | None = None, *, max_length: int | None = 128, offsets: bool = False) -> Encoding:
        """[CLS] text [SEP] (text_pair [SEP]), longest-first truncation to `max_length`. With
        `offsets`, the encoding also carries character spans, word and sequence ids (slower:
        the alignment costs about 10x the tokenisation)."""
        a: list = self.tokens(text) if offsets else self.text_ids(text)
        b: list | None = None if text_pair is None else (self.tokens(text_pair) if offsets else self.text_ids(text_pair))
        if max_length is not None:
            n_special = 3 if b is not None else 2
            if max_length < n_special:
                raise InputError(f"max_length {max_length} is too small: it must leave room for {n_special} special tokens")
            a, b = self._truncate(a, b, max_length - n_special)
        if offsets:
            return self.assemble(a, b)
        ids = [self.cls_id] + a + [self.sep_id]
        types = [0] * len(ids)
        if b is not None:
            ids += b + [self.sep_id]
            types += [1] * (len(b) + 1)
        return Encoding(ids, types)

    def encode_words(self, words: Sequence[str], *, max_length: int | None = 128) -> Encoding:
        """Encode pre-split words (CoNLL tokens): each word is tokenised on its own, as
        `transformers`' `is_split_into_words=True` does; `word_ids` index `words` and offsets are
        spans inside each word."""
        tokens: list[Token] = []
        for index, word in enumerate(words):
            tokens.extend(Token(t.id, t.start, t.end, index, t.piece) for t in self.tokens(word))
        if max_length is not None:
            if max_length < 2:
                raise InputError(f"max_length {max_length} is too small: it must leave room for 2 special tokens")
            tokens = tokens[: max_length - 2]
        return self.assemble(tokens, None)

    def encode_windows(self, question: str, context: str, *, max_length: int = 384, stride: int = 128,
                       max_question_tokens: int | None = None) -> list[Encoding]:
        """Question/context windows for extractive question answering: the question whole in each,
        the context cut into overlapping windows (`stride` tokens shared by neighbours), as
        `transformers` does with `truncation="only_second"` and `return_overflowing_tokens`.
        `max_question_tokens` cuts a longer question instead of refusing it (training data)."""
        return self.windows(self.tokens(question)[:max_question_tokens], self.tokens(context), max_length=max_length, stride=stride)

    def windows(self, q: Sequence[Token], c: Sequence[Token], *, max_length: int, stride: int) -> list[Encoding]:
        """`encode_windows` on tokens already made (a context shared by several questions is
        tokenised once)."""
        q, c = list(q), list(c)
        budget = max_length - len(q) - 3
        if budget <= 0:
            raise InputError(f"the question takes {len(q)} tokens, leaving no room for the context in {max_length}; shorten it or raise max_length")
        if budget <= stride and len(c) > budget:
            raise InputError(f"stride {stride} must be smaller than the {budget} context tokens a window holds next to this question; lower the stride")
        windows = []
        start = 0
        while True:
            windows.append(self.assemble(q, c[start:start + budget]))
            if start + budget >= len(c):
                return windows
            start += budget - stride

    def encode_batch(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str | None] | None = None,
        *,
        max_length: int = 128,
        pad_to: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Encode and pad a batch: int64 arrays `input_ids`, `attention_mask`, `token_type_ids`.

        Pads to the longest sequence in the batch, or to `pad_to` when given.
        """
        pairs = text_pairs if text_pairs is not None else [None] * len(texts)
        encodings = [self.encode(t, p, max_length=max_length) for t, p in zip(texts, pairs)]
        return pad_encodings(encodings, self.pad_id, pad_to=pad_to)

    def decode(self, ids: Iterable[int]) -> str:
        special = set(self.special_ids.values())
        return self.sp.decode([int(i) for i in ids if int(i) not in special])


def pad_encodings(encodings: Sequence[Encoding], pad_id: int, *, pad_to: int | None = None) -> dict[str, np.ndarray]:
    length = max((len(e.input_ids) for e in encodings), default=0)
    if pad_to is not None:
        if pad_to < length:
            raise ValueError(f"pad_to={pad_to} is shorter than the longest sequence ({length})")
        length = pad_to
    n = len(encodings)
    input_ids = np.full((n, length), pad_id, dtype=np.int64)
    attention_mask = np.zeros((n, length), dtype=np.int64)
    token_type_ids = np.zeros((n, length), dtype=np.int64)
    for row, enc in enumerate(encodings):
        k = len(enc.input_ids)
        input_ids[row, :k] = enc.input_ids
        attention_mask[row, :k] = 1
        token_type_ids[row, :k] = enc.token_type_ids
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def train_tokenizer(
    texts: Iterable[str],
    output: Path,
    *,
    vocab_size: int = 8000,
    do_lower_case: bool = True,
    input_sentence_size: int = 2_000_000,
    seed_sentencepiece_size: int = 1_000_000,
    force: bool = False,
) -> Path:
    """Train a unigram sentencepiece model with ALBERT's special pieces.

    `<pad>`=0, `<unk>`=1, `[CLS]`=2, `[SEP]`=3, `[MASK]`=4, as in the original ALBERT spiece.model.
    Texts get ALBERT's pre-processing first so training and inference see the same characters.
    """
    from edge_albert.staging import staged_file

    output = Path(output)
    lines = [preprocess_text(t, lower=do_lower_case) for t in texts]
    lines = [line for line in lines if line]
    if not lines:
        raise InputError("no text to train the tokenizer on")
    with staged_file(output, force=force) as stage:
        buffer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines),
                model_writer=buffer,
                vocab_size=vocab_size,
                model_type="unigram",
                pad_id=0,
                unk_id=1,
                bos_id=-1,
                eos_id=-1,
                pad_piece=PAD,
                unk_piece=UNK,
                control_symbols=[CLS, SEP, MASK],
                character_coverage=0.9995,
                input_sentence_size=input_sentence_size,
                seed_sentencepiece_size=seed_sentencepiece_size,
                shuffle_input_sentence=True,
                hard_vocab_limit=False,
                num_threads=2,
                minloglevel=2,
            )
        except RuntimeError as exc:
            raise InputError(f"sentencepiece training failed ({exc}); try a smaller --vocab-size") from None
        stage.write_bytes(buffer.getvalue())
    return output


# What transformers' AlbertTokenizer(Fast) needs to rebuild our tokenizer from spiece.model.
TOKENIZER_SETTINGS = {"do_lower_case": True, "remove_space": True, "keep_accents": False, "bos_token": "[CLS]", "eos_token": "[SEP]",
                      "unk_token": "<unk>", "sep_token": "[SEP]", "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": "[MASK]"}
_PARITY_TEXTS = ("a gorgeous, witty, seductive movie.", "``Café'' -- déjà vu, naïve!", "it's slow -- very, very slow.", "  two  spaces\tand a tab ",
                 "Nürnberg 1,234.5 km/h", "the acting, costumes, music, cinematography and sound are all astounding.")


def write_tokenizer_json(spiece: Path, folder: Path, model_max_length: int = 512) -> Path:
    """tokenizer.json (the `tokenizers` format that transformers.js, tokenizers and transformers'
    fast tokenizers read) and tokenizer_config.json for `spiece`, made by transformers' own
    converter (AlbertTokenizerFast) and refused unless it gives our ids on sample texts."""
    from tokenizers import Tokenizer, normalizers
    from transformers import AlbertTokenizerFast

    folder = Path(folder)
    fast = AlbertTokenizerFast(vocab_file=str(spiece), model_max_length=model_max_length, **TOKENIZER_SETTINGS)
    backend = fast.backend_tokenizer
    # The converted normalizer keeps leading and trailing white space, which becomes a lone "▁"
    # piece; ALBERT's own tokenizer (ours, transformers' slow one) strips it first: so does Strip.
    backend.normalizer = normalizers.Sequence([backend.normalizer, normalizers.Strip()])
    backend.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "AlbertTokenizer", **TOKENIZER_SETTINGS, "model_max_length": model_max_length}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    ours, theirs = AlbertTokenizer(Path(spiece)), Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in _PARITY_TEXTS:
        if theirs.encode(text).ids != ours.encode(text, max_length=None).input_ids:
            raise InputError(f"tokenizer.json made by transformers tokenizes {text!r} unlike spiece.model", Path(spiece))
    return folder / "tokenizer.json"


__all__ = ["AlbertTokenizer", "Encoding", "Token", "train_tokenizer", "preprocess_text", "pad_encodings", "SPECIAL_TOKENS", "TOKENIZER_SETTINGS",
           "write_tokenizer_json"]
