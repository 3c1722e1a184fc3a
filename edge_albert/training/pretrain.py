"""ALBERT pretraining: masked language modelling (15% of tokens: 80% [MASK], 10% random, 10% kept)
plus sentence-order prediction (two consecutive segments, swapped half of the time), as in the
ALBERT paper. Trains the sentencepiece tokenizer first when none is given. The result is an
`AlbertForPreTraining` checkpoint that `edge-albert train --init` fine-tunes."""

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
from edge_albert.errors import InputError
from edge_albert.model.albert import AlbertForPreTraining
from edge_albert.model.checkpoint import SPIECE_NAME, save_model
from edge_albert.model.config import preset_config
from edge_albert.model.factory import parameter_count
from edge_albert.progress import progress_bar
from edge_albert.tokenization import AlbertTokenizer, train_tokenizer
from edge_albert.training.precision import autocast, resolve_precision
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


def sop_pairs(token_lists: Sequence[list[int]], rng: np.random.Generator, max_tokens: int) -> list[tuple[list[int], list[int], int]]:
    """Two consecutive segments per text (line + next line, or a line cut in two): label 1 = swapped."""
    pairs = []
    for i, ids in enumerate(token_lists):
        if len(ids) < 2 and i + 1 < len(token_lists):
            a, b = ids, token_lists[i + 1]
        else:
            cut = int(rng.integers(1, len(ids))) if len(ids) >= 2 else 0
            a, b = ids[:cut], ids[cut:]
        if not a or not b:
            continue
        a, b = a[: max_tokens // 2], b[: max_tokens - max_tokens // 2]
        swapped = int(rng.random() < 0.5)
        pairs.append((b, a, 1) if swapped else (a, b, 0))
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


def _batch(pairs, tok: AlbertTokenizer, rng: np.random.Generator):
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
    masked, labels = mask_tokens(ids, special, rng, tok.vocab_size, tok.mask_id)
    sop = np.array([label for _, _, label in pairs], dtype=np.int64)
    return [torch.from_numpy(x) for x in (masked, mask, types, labels, sop)]


def pretrain(
    text_files: Sequence[Path],
    run_dir: Path,
    config: TrainConfig,
    *,
    preset: str = "tiny",
    tokenizer: Path | None = None,
    vocab_size: int = 8000,
    text_column: str | None = None,
) -> PretrainResult:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    texts = [t for path in text_files for t in read_texts(Path(path), text_column=text_column)]
    if not texts:
        raise InputError("no text to pretrain on")
    if tokenizer is None:
        tokenizer = train_tokenizer(texts, run_dir / SPIECE_NAME, vocab_size=vocab_size, force=True)
    tok = AlbertTokenizer(tokenizer)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads or torch.get_num_threads())
    rng = np.random.default_rng(config.seed)
    precision = resolve_precision(config.precision)
    token_lists = [tok.text_ids(t) for t in texts]
    model = AlbertForPreTraining(preset_config(preset, vocab_size=tok.vocab_size, max_position_embeddings=max(512, config.max_length)))
    steps_per_epoch = math.ceil(len(token_lists) / config.batch_size)
    total = steps_per_epoch * config.epochs if config.max_steps is None else min(config.max_steps, steps_per_epoch * config.epochs)
    optimizer, scheduler = make_optimizer(model, config, total)
    log = open(run_dir / "train_log.jsonl", "w", encoding="utf-8")
    log.write(json.dumps({"event": "start", "config": asdict(config), "precision": precision, "texts": len(texts)}) + "\n")
    started, step = time.perf_counter(), 0
    mlm_hist, sop_hist, mlm_acc, sop_acc = [], [], [], []
    model.train()
    with progress_bar(total, "pretrain", unit="step") as advance:
        for epoch in range(config.epochs):
            pairs = sop_pairs(token_lists, rng, config.max_length - 3)
            order = rng.permutation(len(pairs))
            for start in range(0, len(order), config.batch_size):
                ids, mask, types, labels, sop = _batch([pairs[i] for i in order[start:start + config.batch_size]], tok, rng)
                with autocast(precision):
                    mlm_logits, sop_logits = model(ids, mask, types)
                mlm_logits, sop_logits = mlm_logits.float(), sop_logits.float()
                mlm_loss = F.cross_entropy(mlm_logits.reshape(-1, mlm_logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)
                sop_loss = F.cross_entropy(sop_logits, sop)
                loss = mlm_loss + sop_loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                step += 1
                with torch.no_grad():
                    picked = labels != IGNORE
                    mlm_acc.append(float((mlm_logits.argmax(-1)[picked] == labels[picked]).float().mean()) if picked.any() else 0.0)
                    sop_acc.append(float((sop_logits.argmax(-1) == sop).float().mean()))
                mlm_hist.append(mlm_loss.item())
                sop_hist.append(sop_loss.item())
                if step % config.log_every == 0:
                    record = {"event": "step", "epoch": epoch, "step": step, "mlm_loss": float(np.mean(mlm_hist[-config.log_every:])),
                              "sop_loss": float(np.mean(sop_hist[-config.log_every:])), "mlm_accuracy": float(np.mean(mlm_acc[-config.log_every:])),
                              "sop_accuracy": float(np.mean(sop_acc[-config.log_every:]))}
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    advance(1, mlm=f"{record['mlm_loss']:.3f}", sop=f"{record['sop_loss']:.3f}")
                else:
                    advance(1)
                if step >= total:
                    break
            if step >= total:
                break
    log.close()
    model.eval()
    save_model(model, run_dir / "model", tokenizer_model=tok.model_file, force=True)
    window = max(1, min(config.log_every, len(mlm_hist)))
    result = PretrainResult(step, float(np.mean(mlm_hist[-window:])), float(np.mean(sop_hist[-window:])), float(np.mean(mlm_acc[-window:])),
                            float(np.mean(sop_acc[-window:])), time.perf_counter() - started, parameter_count(model), str(run_dir / "model"))
    (run_dir / "result.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


__all__ = ["pretrain", "PretrainResult", "mask_tokens", "sop_pairs"]
