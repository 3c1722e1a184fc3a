"""Moving a teacher's knowledge into a small ALBERT student beyond its soft targets.

Two things decide how much a small student learns from a teacher on a small task set (measured
here: a tiny ALBERT trained on SST-2's 67k phrases plateaus near 80% whether it learns from hard
labels or from the teacher's logits, because every word it has not seen in a labelled phrase
stays a random vector):

- `teacher_embedding_init`: the student starts from the teacher's pretrained word vectors. Each
  sentencepiece piece is mapped to the teacher's own WordPiece tokens, their embeddings are
  averaged, and the table is projected on its top principal components down to ALBERT's factorized
  embedding size (DistilBERT initialises its student from the teacher for the same reason).
- `augment_texts`: a transfer set of new sentences for the teacher to label, made as in Tang et
  al. 2019 ("Distilling Task-Specific Knowledge from BERT into Simple Neural Networks"): each word
  is masked with probability `p_mask`, and with probability `p_ngram` only an n-gram (n = 1..5) of
  the result is kept. The teacher's logits on them are the only targets (no hard label).
  `p_join` adds long texts (two texts and a connective): measured on SST-2 dev, the distilled
  student lost most accuracy on long sentences (73% on sentences of 30+ words against 89% under
  10 words, the teacher 88-91% at every length), and SST-2's training phrases are mostly short.
- `unlabeled_transfer_texts`: real unlabelled text of the task's domain for the teacher to label
  (measured: 100,000 IMDB review sentences took the tiny student from 83.0% to 85.8% on SST-2
  dev, docs/training.md).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from edge_albert.errors import InputError
from edge_albert.tokenization import SPIECE_UNDERLINE, AlbertTokenizer

MASK_WORD = "[MASK]"
# What joins two texts into one longer one in `augment_texts(p_join=...)`.
CONNECTIVES = (",", ";", "and", "but", ", but", "while", "although", ".")
# Our special pieces and the WordPiece names of the same tokens in BERT-family teachers.
_SPECIAL_TO_WORDPIECE = {"<pad>": "[PAD]", "<unk>": "[UNK]", "[CLS]": "[CLS]", "[SEP]": "[SEP]", "[MASK]": "[MASK]"}


@dataclass
class EmbeddingTransfer:
    """What `teacher_embedding_init` did."""

    pieces: int
    mapped: int  # pieces that found at least one teacher token
    explained_variance: float  # of the teacher vectors, by the kept principal components
    positions_copied: int


def _teacher_token_ids(piece: str, tokenizer, vocab: dict[str, int]) -> list[int]:
    if piece in _SPECIAL_TO_WORDPIECE:
        tid = vocab.get(_SPECIAL_TO_WORDPIECE[piece])
        return [tid] if tid is not None else []
    if piece.startswith(SPIECE_UNDERLINE):
        text = piece[len(SPIECE_UNDERLINE):]
        return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
    # A word continuation: WordPiece writes these as "##piece".
    tid = vocab.get("##" + piece.lower())
    if tid is not None:
        return [tid]
    return tokenizer(piece, add_special_tokens=False)["input_ids"]


def _piece_vectors(student_tokenizer: AlbertTokenizer, teacher: torch.nn.Module, t_words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each student piece's vector: the mean of the teacher's word vectors of the tokens it maps
    to; and which pieces found any (the others are left zero)."""
    vectors = torch.zeros(student_tokenizer.vocab_size, t_words.shape[1])
    found = torch.zeros(student_tokenizer.vocab_size, dtype=torch.bool)
    # get_vocab() builds a fresh dict of the whole vocabulary on every call: once, not per piece.
    t_vocab = teacher.tokenizer.get_vocab()
    for i in range(student_tokenizer.vocab_size):
        ids = _teacher_token_ids(student_tokenizer.sp.IdToPiece(i), teacher.tokenizer, t_vocab)
        if ids:
            vectors[i] = t_words[ids].mean(0)
            found[i] = True
    return vectors, found


@torch.no_grad()
def teacher_embedding_init(student: torch.nn.Module, student_tokenizer: AlbertTokenizer, teacher: torch.nn.Module) -> EmbeddingTransfer:
    """Initialise the student's word, position and token-type embeddings from a Hugging Face teacher.

    `teacher` is an `HFClassifier` (any BERT-family model with `get_input_embeddings`). The
    teacher's embedding sum (word + position + type) is projected with one linear map, so the
    student's sum is the projection of the teacher's.
    """
    hf = teacher.hf
    base = hf.base_model
    t_words = hf.get_input_embeddings().weight.float()
    emb = student.albert.embeddings
    size = emb.word_embeddings.embedding_dim
    if size > t_words.shape[1]:
        raise ValueError(f"student embedding size {size} is larger than the teacher's {t_words.shape[1]}")

    vectors, found = _piece_vectors(student_tokenizer, teacher, t_words)
    mean = vectors[found].mean(0)
    vectors[~found] = mean
    _, singular, v = torch.linalg.svd(vectors[found] - mean, full_matrices=False)
    basis = v[:size].T  # [teacher dim, student dim]
    variance = singular.pow(2)
    explained = float(variance[:size].sum() / variance.sum())

    # Keep the student's initial scale: the factorized embedding feeds a LayerNorm, but the
    # hidden mapping after it was initialised for vectors of this spread.
    projected = (vectors - mean) @ basis
    scale = float(emb.word_embeddings.weight.std() / projected.std())
    emb.word_embeddings.weight.copy_(projected * scale)

    positions = 0
    t_emb = getattr(base, "embeddings", None)
    if t_emb is not None and hasattr(t_emb, "position_embeddings"):
        t_pos = t_emb.position_embeddings.weight.float()
        positions = min(t_pos.shape[0], emb.position_embeddings.num_embeddings)
        emb.position_embeddings.weight[:positions] = (t_pos[:positions] @ basis) * scale
        if hasattr(t_emb, "token_type_embeddings"):
            t_types = t_emb.token_type_embeddings.weight.float()
            n = min(t_types.shape[0], emb.token_type_embeddings.num_embeddings)
            emb.token_type_embeddings.weight[:n] = (t_types[:n] @ basis) * scale
    return EmbeddingTransfer(pieces=student_tokenizer.vocab_size, mapped=int(found.sum()), explained_variance=explained,
                             positions_copied=positions)


@dataclass
class LayerTransfer:
    """What `teacher_layer_init` did."""

    teacher_layers: list[int]
    pieces: int
    mapped: int  # pieces that found at least one teacher token
    head_copied: bool


def _bert_layers(teacher: torch.nn.Module) -> list[torch.nn.Module]:
    layers = getattr(getattr(teacher.hf.base_model, "encoder", None), "layer", None)
    if layers is None or not hasattr(layers[0], "intermediate"):
        raise InputError(f"layer transfer needs a BERT-layout teacher; this one is {type(teacher.hf).__name__}")
    return list(layers)


@torch.no_grad()
def teacher_layer_init(student: torch.nn.Module, student_tokenizer: AlbertTokenizer, teacher: torch.nn.Module,
                       layers: Sequence[int]) -> LayerTransfer:
    """Start the student as the teacher's own encoder cut to `layers` (DistilBERT's initialisation,
    across tokenizers): student layer k is teacher layer `layers[k]`, the embeddings (word vectors
    averaged over each piece's teacher tokens, positions, types, their LayerNorm) are the teacher's,
    unprojected, the factorised embedding's mapping is the identity, and the task head is copied
    where it has the same shape.

    The student must have the teacher's width (`embedding_size` = `hidden_size` = the teacher's
    hidden size), FFN size, head count and activation, and one distinct layer per entry of `layers`
    (`num_hidden_groups` = `num_hidden_layers` = len(layers)). With those, and inputs whose pieces
    are one teacher token each, the student computes what the teacher cut to `layers` computes.
    """
    hf = teacher.hf
    t_config = hf.config
    t_layers = _bert_layers(teacher)
    config = student.config
    wanted = {"embedding_size": t_config.hidden_size, "hidden_size": t_config.hidden_size, "intermediate_size": t_config.intermediate_size,
              "num_attention_heads": t_config.num_attention_heads, "hidden_act": t_config.hidden_act,
              "num_hidden_layers": len(layers), "num_hidden_groups": len(layers), "inner_group_num": 1}
    wrong = [f"{k} {getattr(config, k)} (teacher layers need {v})" for k, v in wanted.items() if getattr(config, k) != v]
    if wrong:
        raise InputError("the student's shape does not take the teacher's layers: " + "; ".join(wrong)
                         + "; give a --preset shape file with these fields")
    bad = [i for i in layers if not 0 <= i < len(t_layers)]
    if bad:
        raise InputError(f"teacher layers {bad} do not exist; the teacher has layers 0 to {len(t_layers) - 1}")

    t_emb = hf.base_model.embeddings
    emb = student.albert.embeddings
    t_words = t_emb.word_embeddings.weight
    vectors, found = _piece_vectors(student_tokenizer, teacher, t_words.float())
    vectors[~found] = vectors[found].mean(0)
    emb.word_embeddings.weight.copy_(vectors)
    positions = min(t_emb.position_embeddings.num_embeddings, emb.position_embeddings.num_embeddings)
    emb.position_embeddings.weight[:positions] = t_emb.position_embeddings.weight[:positions]
    emb.token_type_embeddings.weight.copy_(t_emb.token_type_embeddings.weight[: emb.token_type_embeddings.num_embeddings])
    emb.LayerNorm.load_state_dict(t_emb.LayerNorm.state_dict())
    mapping = student.albert.encoder.embedding_hidden_mapping_in
    mapping.weight.copy_(torch.eye(config.hidden_size))
    mapping.bias.zero_()

    for group, index in zip(student.albert.encoder.albert_layer_groups, layers):
        ours, theirs = group.albert_layers[0], t_layers[index]
        pairs = [(ours.attention.query, theirs.attention.self.query), (ours.attention.key, theirs.attention.self.key),
                 (ours.attention.value, theirs.attention.self.value), (ours.attention.dense, theirs.attention.output.dense),
                 (ours.attention.LayerNorm, theirs.attention.output.LayerNorm), (ours.ffn, theirs.intermediate.dense),
                 (ours.ffn_output, theirs.output.dense), (ours.full_layer_layer_norm, theirs.output.LayerNorm)]
        for mine, source in pairs:
            mine.load_state_dict(source.state_dict())

    # The head: a question answerer's span scorer, a tagger's or classifier's (with BERT's pooler) where shapes agree.
    head_copied = False
    for name in ("qa_outputs", "classifier"):
        mine, source = getattr(student, name, None), getattr(hf, name, None)
        if mine is not None and source is not None and mine.weight.shape == source.weight.shape:
            mine.load_state_dict(source.state_dict())
            head_copied = True
    t_pooler = getattr(hf.base_model, "pooler", None)
    if head_copied and student.albert.pooler is not None and t_pooler is not None:
        student.albert.pooler.load_state_dict(t_pooler.dense.state_dict())
    return LayerTransfer(teacher_layers=list(layers), pieces=student_tokenizer.vocab_size, mapped=int(found.sum()), head_copied=head_copied)


def augment_texts(texts: list[str], copies: int, *, seed: int = 0, p_mask: float = 0.1, p_ngram: float = 0.25,
                  max_ngram: int = 5, p_join: float = 0.0, exclude: set[str] | None = None) -> list[str]:
    """Up to `copies` new variants of each text (masked words, n-gram crops), deduplicated.

    With probability `p_join` a variant is instead the masked text joined to another masked text
    of the set by a connective ("X , but Y"): long sentences that the phrase-heavy data lacks.
    Texts in `exclude` (e.g. the labelled set itself) and empty results are dropped; the same
    seed gives the same list.
    """
    rng = random.Random(seed)
    seen = set(exclude or ()) | set(texts)
    out: list[str] = []
    for text in texts:
        words = text.split()
        if not words:
            continue
        made = 0
        for _ in range(copies * 3):  # extra draws make up for duplicates
            if made == copies:
                break
            new = [MASK_WORD if rng.random() < p_mask else w for w in words]
            if p_join and rng.random() < p_join:
                other = texts[rng.randrange(len(texts))].split()
                new = new + [rng.choice(CONNECTIVES)] + [MASK_WORD if rng.random() < p_mask else w for w in other]
            elif rng.random() < p_ngram and len(new) > 1:
                n = rng.randint(1, min(max_ngram, len(new)))
                start = rng.randint(0, len(new) - n)
                new = new[start:start + n]
            candidate = " ".join(new)
            if candidate in seen or all(w == MASK_WORD for w in new):
                continue
            seen.add(candidate)
            out.append(candidate)
            made += 1
    return out


T = TypeVar("T")


def _fresh_sample(items: Iterable[T], key: Callable[[T], str], held_keys: set[str], *, limit: int | None, seed: int,
                  long_enough: Callable[[T], bool] = lambda item: True) -> tuple[list[T], dict[str, int]]:
    """`items` deduplicated by `key`, none whose key is held (a dev sentence in the transfer set
    would leak its teacher label into training), none too short, and a seeded sample of `limit` of
    them if given; with counts (read, dropped, kept)."""
    seen: set[str] = set()
    out: list[T] = []
    read = dropped = 0
    for item in items:
        read += 1
        k = key(item)
        if not long_enough(item) or k in held_keys or k in seen:
            dropped += 1
            continue
        seen.add(k)
        out.append(item)
    if limit is not None and limit < len(out):
        keep = sorted(random.Random(seed).sample(range(len(out)), limit))
        out = [out[i] for i in keep]
    return out, {"read": read, "dropped": dropped, "kept": len(out)}


def unlabeled_transfer_texts(paths: list[Path], held: list[str], *, limit: int | None = None, seed: int = 0,
                             text_column: str | None = None) -> tuple[list[str], dict[str, int]]:
    """Texts of unlabelled files for the teacher to label (white space normalised): deduplicated,
    none equal to a text in `held` (the labelled training and dev texts), and a seeded sample of
    `limit` of them if given.

    Returns the texts and counts (read, dropped as duplicates or held texts, kept).
    """
    from edge_albert.data.readers import read_texts

    texts = (" ".join(text.split()) for path in paths for text in read_texts(path, text_column=text_column, option="unlabeled"))
    return _fresh_sample(texts, str.lower, {" ".join(t.lower().split()) for t in held}, limit=limit, seed=seed)


# Words as CoNLL-2003 writes them, near enough: runs of letters and digits (joined by inner
# hyphens, dots, commas: "1996-08-22", "U.S", "1,000"), the clitics "'s" and "n't" ("do" "n't"),
# and every other non-space character on its own.
WORD = re.compile(r"\w+(?=n't\b)|n't\b|'s\b|\w+(?:[-.,&]\w+)*|[^\w\s]")
# A sentence ends at ., ! or ? before white space and a capital, digit or quote.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def words_of(text: str) -> list[str]:
    return WORD.findall(text)


def unlabeled_word_sentences(paths: list[Path], held: list[list[str]], *, limit: int | None = None, seed: int = 0,
                             text_column: str | None = None) -> tuple[list[list[str]], dict[str, int]]:
    """Sentences as word lists for a tagger's teacher to tag: the sentences of SQuAD JSON files'
    contexts, CoNLL files' sentences (their tags unread), the lines (or `text_column`) of other
    files; deduplicated, none equal to a `held` (training or dev) sentence, of 3 words or more, and
    a seeded sample of `limit` of them if given."""
    from edge_albert.data.readers import read_texts

    def sentences_of(path: Path) -> list[list[str]]:
        first_line = ""  # a missing file: read_texts below names it in one line
        if path.is_file():
            with path.open(encoding="utf-8", errors="replace") as handle:
                first_line = handle.readline()
        if path.suffix == ".json" and first_line.lstrip().startswith("{"):
            from edge_albert.data.squad import read_squad

            contexts = dict.fromkeys(ex.context for ex in read_squad(path))
            return [words_of(s) for c in contexts for s in SENTENCE_END.split(c)]
        if first_line.startswith("-DOCSTART-"):
            from edge_albert.data.conll import read_conll

            return [list(w) for w in read_conll(path).words]
        return [words_of(t) for t in read_texts(path, text_column=text_column, option="unlabeled")]

    sentences = (words for path in map(Path, paths) for words in sentences_of(path))
    return _fresh_sample(sentences, lambda words: " ".join(words).lower(), {" ".join(w).lower() for w in held}, limit=limit, seed=seed,
                         long_enough=lambda words: len(words) >= 3)


__all__ = ["EmbeddingTransfer", "teacher_embedding_init", "augment_texts", "unlabeled_transfer_texts", "unlabeled_word_sentences", "words_of",
           "MASK_WORD", "CONNECTIVES"]
