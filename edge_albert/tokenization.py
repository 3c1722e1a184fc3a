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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    def _sp_pieces(self, text: str) -> list[str]:
        text = preprocess_text(text, lower=self.do_lower_case, keep_accents=self.keep_accents)
        pieces = self.sp.encode(text, out_type=str)
        out: list[str] = []
        for piece in pieces:
            if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
                sub = self.sp.EncodeAsPieces(piece[:-1].replace(SPIECE_UNDERLINE, ""))
                if piece[0] != SPIECE_UNDERLINE and sub[0][0] == SPIECE_UNDERLINE:
                    sub = sub[1:] if len(sub[0]) == 1 else [sub[0][1:]] + sub[1:]
                sub.append(piece[-1])
                out.extend(sub)
            else:
                out.append(piece)
        return out

    def tokenize(self, text: str) -> list[str]:
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
    def _truncate(a: list[int], b: list[int] | None, budget: int) -> tuple[list[int], list[int] | None]:
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

    def encode(self, text: str, text_pair: str | None = None, *, max_length: int | None = 128) -> Encoding:
        a = self.text_ids(text)
        b = self.text_ids(text_pair) if text_pair is not None else None
        if max_length is not None:
            n_special = 3 if b is not None else 2
            if max_length < n_special:
                raise InputError(f"max_length {max_length} is too small: it must leave room for {n_special} special tokens")
            a, b = self._truncate(a, b, max_length - n_special)
        ids = [self.cls_id] + a + [self.sep_id]
        types = [0] * len(ids)
        if b is not None:
            ids += b + [self.sep_id]
            types += [1] * (len(b) + 1)
        return Encoding(ids, types)

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


__all__ = ["AlbertTokenizer", "Encoding", "train_tokenizer", "preprocess_text", "pad_encodings", "sha256_file", "SPECIAL_TOKENS"]
