"""ALBERT pretraining: masked language modelling (15% of tokens: 80% [MASK], 10% random, 10% kept)
plus sentence-order prediction (two consecutive segments, swapped half of the time), as in the
ALBERT paper. The result is an `AlbertForPreTraining` checkpoint that `edge-albert train --init`
fine-tunes.

Two sources of text:
- text files, tokenized in memory (a sentencepiece model is trained on them first when none is given);
- pre-tokenized, memory-mapped shards (`edge-albert prepare`), streamed: each batch reads only its
  texts, and each example's segments and masks come from a generator seeded by (seed, epoch,
  position in the epoch), so any rank can build any example and a run resumes mid-epoch.

Under torchrun each rank builds and runs its slice of every global batch; the MLM loss is weighed
by each slice's share of the batch's masked tokens and the SOP loss by its share of the examples,
so N ranks compute the loss of the whole batch. State is saved every `save_every` steps (and at
each epoch's end); `resume` continues from the step it was saved at, at any number of ranks.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from edge_albert.data.readers import read_texts
from edge_albert.data.token_shards import TokenShards
from edge_albert.errors import InputError
from edge_albert.model.albert import AlbertForPreTraining
from edge_albert.model.checkpoint import SPIECE_NAME, save_model
from edge_albert.model.config import preset_config
from edge_albert.model.factory import parameter_count
from edge_albert.progress import progress_bar
from edge_albert.tokenization import AlbertTokenizer, train_tokenizer
from edge_albert.staging import staged_file
from edge_albert.training.distributed import barrier, main_process_first, setup, sum_across_ranks
from edge_albert.training.precision import autocast, grad_scaler, resolve_precision, training_step_probe
from edge_albert.training.trainer import TrainConfig, make_optimizer

IGNORE = -100


@dataclass
class PretrainResult:
    steps: int
    final_mlm_loss: float
    final_sop_loss: float
    mlm_accuracy: float
    sop_accuracy: float
    wall_seconds: float
    parameters: int
    checkpoint: str


def sop_pair(ids: list[int], following: list[int] | None, rng: np.random.Generator, max_tokens: int) -> tuple[list[int], list[int], int] | None:
    """Two consecutive segments of one text (a line cut in two, or a one-piece line and the next
    line), label 1 when swapped; None when the text gives no two segments."""
    if len(ids) < 2 and following is not None:
        a, b = ids, following
    else:
        cut = int(rng.integers(1, len(ids))) if len(ids) >= 2 else 0
        a, b = ids[:cut], ids[cut:]
    if not a or not b:
        return None
    a, b = a[: max_tokens // 2], b[: max_tokens - max_tokens // 2]
    swapped = int(rng.random() < 0.5)
    return (b, a, 1) if swapped else (a, b, 0)


def sop_pairs(token_lists: Sequence[list[int]], rng: np.random.Generator, max_tokens: int) -> list[tuple[list[int], list[int], int]]:
    """Two consecutive segments per text (line + next line, or a line cut in two): label 1 = swapped."""
    pairs = []
    for i, ids in enumerate(token_lists):
        pair = sop_pair(ids, token_lists[i + 1] if i + 1 < len(token_lists) else None, rng, max_tokens)
        if pair is not None:
            pairs.append(pair)
    return pairs


def mask_tokens(ids: np.ndarray, special: np.ndarray, rng: np.random.Generator, vocab_size: int, mask_id: int, first_normal: int = 5):
    """BERT/ALBERT masking: returns (masked ids, labels with IGNORE where nothing is predicted)."""
    labels = np.full_like(ids, IGNORE)
    chosen = (rng.random(ids.shape) < 0.15) & ~special
    labels[chosen] = ids[chosen]
    masked = ids.copy()
    roll = rng.random(ids.shape)
    masked[chosen & (roll < 0.8)] = mask_id
    random_pos = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[random_pos] = rng.integers(first_normal, vocab_size, int(random_pos.sum()))
    return masked, labels


def _rows(pairs, tok: AlbertTokenizer) -> tuple[np.ndarray, ...]:
    """[CLS] A [SEP] B [SEP] rows, padded: ids, mask, types, and where the special pieces are."""
    n = max(len(a) + len(b) + 3 for a, b, _ in pairs)
    ids = np.full((len(pairs), n), tok.pad_id, dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    special = np.ones_like(ids, dtype=bool)
    for r, (a, b, _) in enumerate(pairs):
        row = [tok.cls_id] + a + [tok.sep_id] + b + [tok.sep_id]
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
        types[r, len(a) + 2: len(row)] = 1
        special[r, 1: 1 + len(a)] = False
        special[r, len(a) + 2: len(row) - 1] = False
    return ids, mask, types, special


def _batch(pairs, tok: AlbertTokenizer, rng: np.random.Generator) -> list[np.ndarray]:
    """A masked batch from one generator (the in-memory corpus): ids, mask, types, MLM labels, SOP labels."""
    ids, mask, types, special = _rows(pairs, tok)
    masked, labels = mask_tokens(ids, special, rng, tok.vocab_size, tok.mask_id)
    return [masked, mask, types, labels, np.array([label for _, _, label in pairs], dtype=np.int64)]


def _streamed_batch(corpus: TokenShards, texts: np.ndarray, positions: np.ndarray, seed: int, epoch: int, tok: AlbertTokenizer,
                    max_tokens: int) -> list[np.ndarray] | None:
    """A masked batch of corpus texts, each example from its own generator seeded by (seed, epoch,
    position in the epoch): the same example whichever rank builds it, whenever."""
    rows, labels_rows = [], []
    for text, position in zip(texts, positions):
        rng = np.random.default_rng([seed, epoch, int(position)])
        ids = corpus[int(text)]
        # a one-piece line pairs with the next line, as in the in-memory corpus
        following = corpus[int(text) + 1] if len(ids) < 2 and int(text) + 1 < len(corpus) else None
        pair = sop_pair(ids, following, rng, max_tokens)
        if pair is None:
            continue
        row_ids, row_mask, row_types, special = _rows([pair], tok)
        masked, labels = mask_tokens(row_ids, special, rng, tok.vocab_size, tok.mask_id)
        rows.append((masked[0], row_mask[0], row_types[0], pair[2]))
        labels_rows.append(labels[0])
    if not rows:
        return None
    width = max(len(r[0]) for r in rows)
    out = [np.full((len(rows), width), tok.pad_id, np.int64), np.zeros((len(rows), width), np.int64), np.zeros((len(rows), width), np.int64),
           np.full((len(rows), width), IGNORE, np.int64), np.array([r[3] for r in rows], np.int64)]
    for k, ((ids, m, t, _), labels) in enumerate(zip(rows, labels_rows)):
        out[0][k, :len(ids)], out[1][k, :len(ids)], out[2][k, :len(ids)], out[3][k, :len(ids)] = ids, m, t, labels
    return out


def _rows_of(batch: list[np.ndarray], rows: np.ndarray) -> list[np.ndarray]:
    """Some rows of a batch, cut to their longest."""
    width = int(batch[1][rows].sum(1).max()) if len(rows) else 1
    return [x[rows][:, :width] if x.ndim == 2 else x[rows] for x in batch]


class _PretrainStep(torch.nn.Module):
    """The model whose forward is the batch's MLM and SOP losses and hit counts (the module DDP wraps)."""

    def __init__(self, model: AlbertForPreTraining, precision: str, device: torch.device, parallel: bool) -> None:
        super().__init__()
        self.model, self.precision, self.device, self.parallel = model, precision, device, parallel

    def forward(self, ids, mask, types, labels, sop):
        with autocast(self.precision, self.device):
            mlm_logits, sop_logits = self.model(ids, mask, types)
        mlm_logits, sop_logits = mlm_logits.float(), sop_logits.float()
        flat_logits, flat_labels = mlm_logits.reshape(-1, mlm_logits.shape[-1]), labels.reshape(-1)
        if self.parallel:
            # a rank's slice may hold no masked token: a mean over nothing would be NaN, in the
            # gradient too, which the average would spread to every rank; its sum is a clean 0
            picked_count = (flat_labels != IGNORE).sum().clamp_min(1)
            mlm_loss = F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE, reduction="sum") / picked_count
        else:
            mlm_loss = F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE)
        sop_loss = F.cross_entropy(sop_logits, sop)
        with torch.no_grad():
            picked = labels != IGNORE
            mlm_hits = (mlm_logits.argmax(-1)[picked] == labels[picked]).sum()
            sop_hits = (sop_logits.argmax(-1) == sop).sum()
        return mlm_loss, sop_loss, mlm_hits, sop_hits


@dataclass
class _Position:
    """Where a run is: the next global batch of an epoch, and (in-memory corpus) the generator's
    states at the epoch's start and now."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    rng_epoch: dict | None = None
    rng_now: dict | None = None


def pretrain(
    text_files: Sequence[Path] | None,
    run_dir: Path,
    config: TrainConfig,
    *,
    shards: Path | None = None,
    preset: str = "tiny",
    tokenizer: Path | None = None,
    vocab_size: int = 8000,
    text_column: str | None = None,
    resume: bool = False,
    save_every: int | None = None,
    dropout: float | None = None,
) -> PretrainResult:
    """Pretrain a `preset` ALBERT on `text_files` (tokenized in memory) or on prepared `shards`
    (streamed; their tokenizer is `tokenizer`, checked against the one they were made with).
    `dropout` sets every dropout of the model, the SOP head's included (ALBERT v2 pretrains
    without any); default: the preset's."""
    if (shards is None) == (not text_files):
        raise InputError("pretrain on text files or on --shards DIR (from `edge-albert prepare`), one of the two")
    ranks = setup(config.device)
    device = ranks.device
    precision = resolve_precision(config.precision, device)
    run_dir = Path(run_dir)
    corpus: Sequence[list[int]]
    if shards is not None:
        if tokenizer is None:
            raise InputError("--shards needs --tokenizer: the spiece.model the shards were prepared with", Path(shards))
        corpus = TokenShards(Path(shards))
        corpus.check_tokenizer(Path(tokenizer))
        tok = AlbertTokenizer(Path(tokenizer))
        n_texts = len(corpus)
    else:
        texts = [t for path in text_files for t in read_texts(Path(path), text_column=text_column)]
        if not texts:
            raise InputError("no text to pretrain on")
        if ranks.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
        if tokenizer is None:
            tokenizer = run_dir / SPIECE_NAME
            with main_process_first():  # rank 0 trains it; the others read it
                if not (resume and tokenizer.is_file()) and ranks.is_main:
                    train_tokenizer(texts, tokenizer, vocab_size=vocab_size, force=True)
        tok = AlbertTokenizer(tokenizer)
        corpus = [tok.text_ids(t) for t in texts]
        n_texts = len(texts)
    if ranks.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads or torch.get_num_threads())
    rng = np.random.default_rng(config.seed)
    model_config = preset_config(preset, vocab_size=tok.vocab_size, max_position_embeddings=max(512, config.max_length))
    if dropout is not None:
        model_config.hidden_dropout_prob = model_config.attention_probs_dropout_prob = model_config.classifier_dropout_prob = dropout
    model = AlbertForPreTraining(model_config).to(device)
    if config.precision == "auto":  # now that the model exists: bf16 only where its steps are faster
        precision = resolve_precision(config.precision, device, probe=training_step_probe(model, length=config.max_length))
    steps_per_epoch = math.ceil(n_texts / config.batch_size)
    total = steps_per_epoch * config.epochs if config.max_steps is None else min(config.max_steps, steps_per_epoch * config.epochs)
    optimizer, scheduler = make_optimizer(model, config, total)
    step_module: torch.nn.Module = _PretrainStep(model, precision, device, ranks.distributed)
    if ranks.distributed:
        step_module = torch.nn.parallel.DistributedDataParallel(step_module)
    scaler = grad_scaler(precision, device)
    state_path = run_dir / "state.pt"
    at = _Position()
    mlm_hist, sop_hist, mlm_acc, sop_acc = [], [], [], []
    if resume:
        if not state_path.is_file():
            raise InputError("no state.pt to resume from; run without --resume", run_dir)
        state = torch.load(state_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"].cpu())
        at = _Position(**json.loads(state["position"]))
        mlm_hist, sop_hist, mlm_acc, sop_acc = json.loads(state["history"])
    log = open(run_dir / "train_log.jsonl", "a" if resume else "w", encoding="utf-8") if ranks.is_main else None
    if log is not None:
        log.write(json.dumps({"event": "start", "config": asdict(config), "precision": precision, "texts": n_texts, "streamed": shards is not None,
                              "world_size": ranks.world_size, "device": str(device), "resumed_at_step": at.step}) + "\n")

    def save_state() -> None:
        if not ranks.is_main:
            return
        keep = config.log_every
        with staged_file(state_path, force=True) as stage:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "rng": torch.get_rng_state(), "position": json.dumps(asdict(at)),
                        "history": json.dumps([mlm_hist[-keep:], sop_hist[-keep:], mlm_acc[-keep:], sop_acc[-keep:]])}, stage)

    started, step = time.perf_counter(), at.step
    parallel = ranks.distributed
    step_module.train()
    try:
        with progress_bar(total, "pretrain", unit="step", shown=ranks.is_main) as advance:
            advance(step)
            for epoch in range(at.epoch, config.epochs):
                if step >= total:
                    break
                resuming = epoch == at.epoch and at.batch > 0
                if shards is None:
                    # the in-memory corpus draws an epoch's pairs, order and masks from one generator
                    if resuming:
                        rng.bit_generator.state = at.rng_epoch
                    at.rng_epoch = rng.bit_generator.state
                    pairs = sop_pairs(corpus, rng, config.max_length - 3)
                    order = rng.permutation(len(pairs))
                    if resuming:
                        rng.bit_generator.state = at.rng_now
                else:
                    order = np.random.default_rng([config.seed, epoch]).permutation(n_texts)
                first = at.batch if resuming else 0
                for number in range(first, math.ceil(len(order) / config.batch_size)):
                    chosen = order[number * config.batch_size:(number + 1) * config.batch_size]
                    part = np.array_split(np.arange(len(chosen)), ranks.world_size)[ranks.rank]
                    if shards is None:
                        whole = _batch([pairs[i] for i in chosen], tok, rng)  # every rank draws the same masks
                        mine = _rows_of(whole, part)
                    else:
                        mine = _streamed_batch(corpus, chosen[part], number * config.batch_size + part, config.seed, epoch, tok, config.max_length - 3)
                    local = mine if mine is not None and len(mine[0]) else None
                    # the batch's loss units (masked tokens, examples) over all ranks, to weigh each rank's means
                    units = torch.tensor([float((local[3] != IGNORE).sum()), float(len(local[0]))] if local else [0.0, 0.0], dtype=torch.float64)
                    total_units = sum_across_ranks(units)
                    if local is None:  # nothing for this rank: a pass that weighs nothing keeps it in DDP's average
                        local = [np.full((1, 3), tok.pad_id), np.ones((1, 3), np.int64), np.zeros((1, 3), np.int64), np.full((1, 3), IGNORE),
                                 np.zeros(1, np.int64)]
                    tensors = [torch.from_numpy(np.asarray(x, np.int64)).to(device) for x in local]
                    optimizer.zero_grad(set_to_none=True)
                    mlm_loss, sop_loss, mlm_hits, sop_hits = step_module(*tensors)
                    if parallel:
                        w_mlm = float(units[0] / total_units[0] * ranks.world_size) if total_units[0] else 0.0
                        w_sop = float(units[1] / total_units[1] * ranks.world_size) if total_units[1] else 0.0
                        mlm_part = mlm_loss * w_mlm
                        loss = mlm_part + sop_loss * w_sop
                    else:
                        loss = mlm_loss + sop_loss
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    scaler.step(optimizer)
                    scaler.update()
                    scheduler.step()
                    step += 1
                    if parallel:
                        shared = sum_across_ranks(torch.stack([mlm_part.detach().double() / ranks.world_size,
                                                               sop_loss.detach().double() * w_sop / ranks.world_size,
                                                               mlm_hits.double() if units[0] else torch.zeros((), dtype=torch.float64),
                                                               sop_hits.double() if units[1] else torch.zeros((), dtype=torch.float64)]).cpu())
                        mlm_hist.append(float(shared[0]))
                        sop_hist.append(float(shared[1]))
                        mlm_acc.append(float(np.float32(shared[2]) / np.float32(total_units[0])) if total_units[0] else 0.0)
                        sop_acc.append(float(np.float32(shared[3]) / np.float32(total_units[1])))
                    else:
                        mlm_acc.append(float(np.float32(mlm_hits) / np.float32(units[0])) if units[0] else 0.0)
                        sop_acc.append(float(np.float32(sop_hits) / np.float32(units[1])))
                        mlm_hist.append(mlm_loss.item())
                        sop_hist.append(sop_loss.item())
                    at = _Position(epoch, number + 1, step, at.rng_epoch, rng.bit_generator.state if shards is None else None)
                    if step % config.log_every == 0:
                        record = {"event": "step", "epoch": epoch, "step": step, "mlm_loss": float(np.mean(mlm_hist[-config.log_every:])),
                                  "sop_loss": float(np.mean(sop_hist[-config.log_every:])), "mlm_accuracy": float(np.mean(mlm_acc[-config.log_every:])),
                                  "sop_accuracy": float(np.mean(sop_acc[-config.log_every:]))}
                        if log is not None:
                            log.write(json.dumps(record) + "\n")
                            log.flush()
                        advance(1, mlm=f"{record['mlm_loss']:.3f}", sop=f"{record['sop_loss']:.3f}")
                    else:
                        advance(1)
                    if save_every and step % save_every == 0:
                        save_state()
                    if step >= total:
                        break
                if step < total:
                    at = _Position(epoch + 1, 0, step)
                save_state()
    finally:
        if log is not None:
            log.close()
    model.eval()
    model.to("cpu")
    result = PretrainResult(step, *(float(np.mean(h[-max(1, min(config.log_every, len(h))):])) if h else float("nan") for h in (mlm_hist, sop_hist, mlm_acc, sop_acc)),
                            time.perf_counter() - started, parameter_count(model), str(run_dir / "model"))
    if ranks.is_main:
        save_model(model, run_dir / "model", tokenizer_model=tok.model_file, force=True)
        with staged_file(run_dir / "result.json", force=True) as stage:
            stage.write_text(json.dumps(asdict(result), indent=2) + "\n")
    barrier()
    return result


__all__ = ["pretrain", "PretrainResult", "mask_tokens", "sop_pairs", "sop_pair"]
