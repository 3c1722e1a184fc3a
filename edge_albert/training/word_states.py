"""Intermediate-layer distillation across tokenizers, word by word.

TinyBERT's strongest term matches the student's hidden states to the teacher's, layer by layer
(student layer s <-> teacher layer s * T / S, through a learned projection). It assumes both models
cut the text into the same tokens; ours do not (sentencepiece against the teacher's WordPiece).
What both keep is the text's white-space words, so each model's states are averaged over the
tokens of every word and the loss compares word with word:

    loss = mean over matched layers, over the words both models saw, of
           MSE(W_l * student_word_state, (teacher_word_state - mean_l) / std_l)

The teacher's word states are computed once, in the same pass that gives its logits, and cached
(`teacher_pass`); the student's come from the shared layer's repetitions during training
(`capture_layer_outputs`). The projections are a training aid and are not saved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from edge_albert.tokenization import MASK, SPECIAL_TOKENS, SPIECE_UNDERLINE, AlbertTokenizer


@dataclass
class WordStates:
    """The teacher's per-word hidden states for N texts, stored flat (texts have different word counts).

    Text i owns rows `offsets[i]:offsets[i + 1]` of `states` [total words, layers, D] (float16), one
    per white-space word the teacher saw; `words[i]` is the text's white-space word count.
    `layers` are the teacher's hidden-state indices (0 = embeddings, l = output of layer l).
    """

    states: np.ndarray
    offsets: np.ndarray
    words: np.ndarray
    layers: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def seen(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(states [B, W, layers, D] float32 zero-padded, words seen [B], words in the text [B])."""
        seen = np.array([self.seen(i) for i in indices], dtype=np.int64)
        out = np.zeros((len(indices), max(1, int(seen.max(initial=0))), len(self.layers), self.states.shape[-1]), dtype=np.float32)
        for row, i in enumerate(indices):
            out[row, :seen[row]] = self.states[self.offsets[i]:self.offsets[i + 1]]
        return torch.from_numpy(out), torch.from_numpy(seen), torch.from_numpy(self.words[np.asarray(indices)].astype(np.int64))

    @staticmethod
    def concatenate(parts: Sequence[WordStates]) -> WordStates:
        if len({p.layers for p in parts}) != 1:
            raise ValueError("word states of different teacher layers cannot be joined")
        offsets, base = [np.zeros(1, dtype=np.int64)], 0
        for p in parts:
            offsets.append(p.offsets[1:] + base)
            base += int(p.offsets[-1])
        return WordStates(np.concatenate([p.states for p in parts]), np.concatenate(offsets), np.concatenate([p.words for p in parts]), parts[0].layers)


@dataclass
class WordTargets:
    """What a student needs to learn from `states`: which of its pieces begin a word, its special
    token ids, and which of its repetitions match the teacher's layers (1-based, in order)."""

    states: WordStates
    starts: np.ndarray
    special_ids: list[int]
    student_layers: list[int]


def white_space_word_count(text: str) -> int:
    return len(text.split())


def char_to_word(text: str) -> np.ndarray:
    """For every character of `text`, the index of its white-space word (-1 on white space)."""
    out = np.full(len(text), -1, dtype=np.int64)
    word, inside = -1, False
    for i, ch in enumerate(text):
        if ch.isspace():
            inside = False
            continue
        if not inside:
            word, inside = word + 1, True
        out[i] = word
    return out


def word_means(states: torch.Tensor, word_index: torch.Tensor, words: int) -> torch.Tensor:
    """Mean of `states` [B, N, H] over the tokens of each word: [B, words, H] (zeros where a word
    has no token). `word_index` [B, N] gives each token's word, -1 for tokens of no word."""
    onehot = (word_index.unsqueeze(-1) == torch.arange(words, device=word_index.device)).to(states.dtype)  # [B, N, W]
    sums = onehot.transpose(1, 2) @ states
    return sums / onehot.sum(1).clamp_min(1.0).unsqueeze(-1)


def piece_starts_word(tokenizer: AlbertTokenizer) -> np.ndarray:
    """[vocab] bool: the piece begins a white-space word (a `▁` piece, or `[MASK]`, which our
    tokenizer writes without the `▁` of the word it replaces)."""
    starts = np.zeros(tokenizer.vocab_size, dtype=bool)
    for i in range(tokenizer.vocab_size):
        piece = tokenizer.sp.IdToPiece(i)
        starts[i] = piece.startswith(SPIECE_UNDERLINE) or piece == MASK
        if piece in SPECIAL_TOKENS and piece != MASK:
            starts[i] = False
    return starts


def student_word_index(input_ids: torch.Tensor, attention_mask: torch.Tensor, starts: torch.Tensor, special_ids: torch.Tensor) -> torch.Tensor:
    """[B, N] word index of every token of a single-text batch, -1 for [CLS], [SEP] and padding."""
    is_word = (attention_mask > 0) & ~torch.isin(input_ids, special_ids)
    begins = starts[input_ids] & is_word
    index = torch.cumsum(begins.long(), dim=1) - 1
    return torch.where(is_word & (index >= 0), index, torch.full_like(index, -1))


def matched_layers(student_layers: int, teacher_layers: int, count: int = 2) -> list[tuple[int, int]]:
    """`count` (student repetition, teacher layer) pairs, spread uniformly and ending with the last
    of both (TinyBERT's mapping g(s) = s * T / S), e.g. 4 and 6 layers, 2 pairs: (2, 3), (4, 6)."""
    count = max(1, min(count, student_layers))
    pairs = []
    for k in range(1, count + 1):
        s = round(k * student_layers / count)
        pairs.append((s, round(s * teacher_layers / student_layers)))
    return pairs


@contextlib.contextmanager
def capture_layer_outputs(model: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect the output of every repetition of the shared layer(s) during a forward pass of an
    ALBERT model: outputs[s - 1] is the hidden state after repetition s."""
    outputs: list[torch.Tensor] = []
    handles = [group.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for group in model.albert.encoder.albert_layer_groups]
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()


class WordStateDistiller(torch.nn.Module):
    """Projections student -> teacher per matched layer, and the loss over the words both models saw."""

    def __init__(self, student_dim: int, word_states: WordStates, student_layers: Sequence[int], tokenizer_starts: np.ndarray,
                 special_ids: Sequence[int]) -> None:
        super().__init__()
        if len(student_layers) != len(word_states.layers):
            raise ValueError(f"{len(student_layers)} student layers for {len(word_states.layers)} teacher layers")
        self.student_layers = list(student_layers)
        dim = word_states.states.shape[-1]
        self.proj = torch.nn.ModuleList(torch.nn.Linear(student_dim, dim) for _ in student_layers)
        # Standardise each teacher dimension (a sample is enough): no dimension dominates the MSE.
        rng = np.random.default_rng(0)
        rows = word_states.states[rng.choice(len(word_states.states), size=min(len(word_states.states), 100_000), replace=False)]
        sample = torch.from_numpy(np.asarray(rows, dtype=np.float32))  # [R, layers, D]
        self.register_buffer("mean", sample.mean(0))
        self.register_buffer("std", sample.std(0).clamp_min(1e-4))
        self.register_buffer("starts", torch.from_numpy(tokenizer_starts))
        self.register_buffer("special_ids", torch.tensor(list(special_ids), dtype=torch.long))

    def loss(self, layer_outputs: Sequence[torch.Tensor], input_ids: torch.Tensor, attention_mask: torch.Tensor,
             teacher: torch.Tensor, teacher_seen: torch.Tensor, text_words: torch.Tensor) -> torch.Tensor:
        index = student_word_index(input_ids, attention_mask, self.starts, self.special_ids)
        student_seen = index.max(1).values + 1
        # Words are compared only while both models saw them; an untruncated pair that disagrees on
        # the word count (a tokenizer corner case) is left out rather than matched off by one.
        complete = (student_seen == text_words) & (teacher_seen == text_words)
        truncated = (student_seen < text_words) | (teacher_seen < text_words)
        usable = torch.where(complete | truncated, torch.minimum(student_seen, teacher_seen), torch.zeros_like(student_seen))
        words = teacher.shape[1]
        valid = torch.arange(words).unsqueeze(0) < usable.unsqueeze(1)  # [B, W]
        if not bool(valid.any()):
            return teacher.new_zeros(())
        total = teacher.new_zeros(())
        for k, s in enumerate(self.student_layers):
            student = word_means(layer_outputs[s - 1].float(), index, words)
            target = (teacher[:, :, k] - self.mean[k]) / self.std[k]
            err = F.mse_loss(self.proj[k](student), target, reduction="none").mean(-1)
            total = total + (err * valid).sum() / valid.sum()
        return total / len(self.student_layers)


@torch.no_grad()
def teacher_pass(teacher, texts: Sequence[str], max_length: int, layers: Sequence[int], *, batch_size: int = 64,
                 progress: str = "teacher") -> tuple[np.ndarray, np.ndarray, WordStates]:
    """One pass of a Hugging Face teacher (`HFClassifier`) over single texts: logits [N, C],
    sentence features [N, 2D] (as `forward_with_features`) and per-word states of `layers`."""
    from edge_albert.progress import progress_bar

    hf, tok = teacher.hf, teacher.tokenizer
    if not getattr(tok, "is_fast", False):
        raise ValueError("word-level distillation needs a fast (Rust) Hugging Face tokenizer for character offsets")
    hf.eval()
    n = len(texts)
    order = np.argsort([len(t) for t in texts], kind="stable")
    logits = feats = None
    per_text: list[np.ndarray | None] = [None] * n
    with progress_bar(n, progress, unit="text") as advance:
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            batch_texts = [texts[i] for i in idx]
            enc = tok(batch_texts, truncation=True, max_length=max_length, padding=True, return_offsets_mapping=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping")
            batch_logits, f, hidden = teacher.forward_with_states(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))
            if logits is None:
                logits = np.zeros((n, batch_logits.shape[-1]), dtype=np.float32)
                feats = np.zeros((n, f.shape[-1]), dtype=np.float16)
            logits[idx] = batch_logits.float().numpy()
            feats[idx] = f.float().numpy().astype(np.float16)
            index = torch.full(enc["input_ids"].shape, -1, dtype=torch.long)
            for row, text in enumerate(batch_texts):
                chars = char_to_word(text)
                for j, (a, b) in enumerate(offsets[row].tolist()):
                    if b > a and enc["attention_mask"][row, j]:
                        index[row, j] = int(chars[a]) if a < len(chars) else -1
            words = max(1, int(index.max()) + 1)
            stacked = torch.stack([word_means(hidden[l].float(), index, words) for l in layers], dim=2)  # [B, W, L, D]
            seen = (index.max(1).values + 1).tolist()
            for row, i in enumerate(idx):
                per_text[i] = stacked[row, :seen[row]].numpy().astype(np.float16)
            advance(len(idx))
    counts = np.array([len(p) for p in per_text], dtype=np.int64)
    offsets_all = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    dim = hf.config.hidden_size
    states = np.concatenate(per_text) if n else np.zeros((0, len(layers), dim), dtype=np.float16)
    words = np.array([white_space_word_count(t) for t in texts], dtype=np.int64)
    return logits, feats, WordStates(states, offsets_all, words, tuple(layers))


__all__ = [
    "WordStates", "WordTargets", "char_to_word", "word_means", "piece_starts_word", "student_word_index", "matched_layers", "capture_layer_outputs",
    "WordStateDistiller", "teacher_pass", "white_space_word_count",
]
