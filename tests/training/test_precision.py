"""bf16 autocast training: fp32 master weights, the loss still falls, `auto` follows the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_albert.errors import InputError
from edge_albert.training.batching import EncodedDataset
from edge_albert.training.precision import autocast, cpu_has_native_bf16, grad_scaler, resolve_precision
from tests.training.test_trainer import data, run, small_model  # noqa: F401  (the module-scoped data fixture)


def test_resolve_precision():
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto") == ("bf16" if cpu_has_native_bf16() else "fp32")
    with pytest.raises(InputError, match="unknown precision 'fp8'"):
        resolve_precision("fp8")
    # fp16 needs a GPU's half-precision units and a loss scaler; on a CPU it is refused, not emulated
    with pytest.raises(InputError, match="fp16 trains on a GPU only"):
        resolve_precision("fp16", "cpu")
    assert not grad_scaler("bf16", "cpu").is_enabled() and not grad_scaler("fp32", "cpu").is_enabled()


def test_autocast_runs_matmuls_in_bf16_only_when_asked():
    model = small_model(100)
    ids = torch.randint(5, 100, (2, 7))
    layer = model.albert.encoder.albert_layer_groups[0].albert_layers[0].ffn
    seen = []
    hook = layer.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    for precision in ("fp32", "bf16"):
        with autocast(precision):
            model(ids)
    hook.remove()
    # The shared layer runs num_hidden_layers (2) times per forward.
    assert seen == [torch.float32] * 2 + [torch.bfloat16] * 2


def test_bf16_training_learns_and_keeps_fp32_weights(tmp_path, data):  # noqa: F811
    tok, train, dev = data
    small = EncodedDataset(train.encodings[:160], train.labels[:160])
    model, result = run(tmp_path, (tok, small, dev), epochs=25, learning_rate_override=1e-3, precision="bf16")
    records = [json.loads(l) for l in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert records[0]["precision"] == "bf16"
    losses = [r["loss"] for r in records if r["event"] == "step"]
    assert np.mean(losses[-3:]) < 0.3 < np.mean(losses[:3])
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # A different arithmetic gives a (slightly) different model: the setting is really applied.
    fp32, _ = run(tmp_path / "fp32", (tok, small, dev), epochs=1, learning_rate_override=1e-3)
    bf16, _ = run(tmp_path / "bf16", (tok, small, dev), epochs=1, learning_rate_override=1e-3, precision="bf16")
    assert not torch.equal(fp32.classifier.weight, bf16.classifier.weight)
