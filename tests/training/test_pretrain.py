"""MLM + SOP pretraining: the masking statistics of BERT/ALBERT, swapped segments, a loss that falls."""

from __future__ import annotations

import json

import numpy as np

from edge_albert.model.checkpoint import load_model
from edge_albert.model.albert import AlbertForPreTraining, AlbertForSequenceClassification
from edge_albert.training.pretrain import IGNORE, mask_tokens, pretrain, sop_pairs
from edge_albert.training.trainer import TrainConfig


def test_masking_is_15_percent_with_80_10_10():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 1000, (400, 250))
    special = np.zeros_like(ids, dtype=bool)
    special[:, 0] = True
    masked, labels = mask_tokens(ids, special, rng, vocab_size=1000, mask_id=4)
    chosen = labels != IGNORE
    assert abs(chosen.mean() - 0.15) < 0.005
    assert not chosen[:, 0].any()
    assert (labels[chosen] == ids[chosen]).all()
    as_mask = (masked == 4) & chosen
    kept = (masked == ids) & chosen
    assert abs(as_mask.sum() / chosen.sum() - 0.8) < 0.01
    assert abs(kept.sum() / chosen.sum() - 0.1 - 0.1 / 995) < 0.01  # 10% kept (+ random hits on itself)
    assert (masked[~chosen] == ids[~chosen]).all()


def test_sop_pairs_swap_half():
    rng = np.random.default_rng(0)
    texts = [list(range(10, 10 + n)) for n in rng.integers(2, 30, 2000)]
    pairs = sop_pairs(texts, rng, 64)
    swapped = [p for p in pairs if p[2] == 1]
    assert 0.45 < len(swapped) / len(pairs) < 0.55
    for a, b, label in pairs[:200]:
        first, second = (b, a) if label else (a, b)
        assert first[-1] + 1 == second[0]  # consecutive segments of one text


def test_pretrain_loss_falls_and_checkpoint_fine_tunes(tmp_path, sst2_train, spiece_model):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(s for _, s in sst2_train[:3000]))
    config = TrainConfig(epochs=1, batch_size=32, learning_rate=1e-3, max_length=48, max_steps=80, seed=0, log_every=10, threads=2)
    result = pretrain([corpus], tmp_path / "run", config, tokenizer=spiece_model)
    log = [json.loads(l) for l in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()[1:]]
    assert log[-1]["mlm_loss"] < log[0]["mlm_loss"] - 0.5
    model = load_model(result.checkpoint)
    assert isinstance(model, AlbertForPreTraining)
    clf = load_model(result.checkpoint, AlbertForSequenceClassification, new_head_ok=True, labels=["negative", "positive"])
    assert clf.config.labels == ["negative", "positive"]
