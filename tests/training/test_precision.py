"""bf16 autocast training: fp32 master weights, the loss still falls, `auto` follows the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_albert.errors import InputError
from edge_albert.training.batching import EncodedDataset
from edge_albert.training import precision as precision_module
from edge_albert.training.precision import autocast, cpu_has_native_bf16, grad_scaler, resolve_precision, training_step_probe
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


def test_auto_keeps_bf16_only_where_the_probe_runs_clearly_faster(monkeypatch):
    """On a CPU with native bf16, `auto` times the model's step both ways: bf16 that is slower (a
    2-core AVX512-BF16 Xeon ran tiny at 0.64x) or only slightly faster stays fp32."""
    import time

    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: True)

    def probe_with(fp32_s: float, bf16_s: float):
        return lambda: time.sleep(bf16_s if torch.is_autocast_enabled("cpu") else fp32_s)

    assert resolve_precision("auto", probe=probe_with(0.03, 0.01)) == "bf16"
    assert resolve_precision("auto", probe=probe_with(0.01, 0.03)) == "fp32"
    assert resolve_precision("auto", probe=probe_with(0.0110, 0.0100)) == "fp32"  # 1.10x: under the 1.15x bar
    assert resolve_precision("auto") == "bf16"  # no model to probe: the CPU's flags decide
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", probe=probe_with(0.03, 0.01)) == "fp32"  # emulated bf16 is never tried


def test_training_step_probe_leaves_the_model_and_the_random_stream_as_they_were():
    model = small_model(100).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    step = training_step_probe(model, batch=4, length=9)
    step()
    with autocast("bf16"):
        step()
    assert torch.equal(torch.rand(4), expected)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


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
