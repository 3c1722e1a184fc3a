"""Pruning: zero pruning is the identity, pruned shapes reach ONNX/TFLite, transformers loads the
result, FLOPs fall as counted, and recovery by distillation runs."""

from __future__ import annotations

import onnx
import pytest
import torch
from onnx import numpy_helper

from edge_albert.data.readers import LabeledTexts
from edge_albert.model.checkpoint import load_model, save_model
from edge_albert.quantization.pruning import PruneConfig, prune_checkpoint, prune_model
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.training.batching import encode_dataset
from edge_albert.training.recipes import DataSpec
from edge_albert.training.trainer import TrainConfig


@pytest.fixture(scope="module")
def model_and_data(trained_checkpoint, sst2_train):
    tok = AlbertTokenizer(trained_checkpoint / "spiece.model")
    data = LabeledTexts([s for _, s in sst2_train[:640]], [l for l, _ in sst2_train[:640]], ["negative", "positive"])
    return load_model(trained_checkpoint), encode_dataset(data, tok, 64), tok


def test_zero_pruning_is_identical(model_and_data):
    model, data, tok = model_and_data
    pruned, summary = prune_model(model, PruneConfig(), data, tok.pad_id)
    for (k, a), b in zip(model.state_dict().items(), pruned.state_dict().values()):
        assert torch.equal(a, b), k
    assert summary.flops_before == summary.flops_after


@pytest.fixture(scope="module")
def pruned_checkpoint(tmp_path_factory, model_and_data, trained_checkpoint):
    model, data, tok = model_and_data
    pruned, summary = prune_model(model, PruneConfig(heads=0.34, ffn=0.5, depth=3), data, tok.pad_id)
    out = save_model(pruned, tmp_path_factory.mktemp("pruned") / "ckpt", tokenizer_model=trained_checkpoint / "spiece.model")
    return out, pruned, summary


def test_flops_fall_as_counted(pruned_checkpoint):
    _, pruned, s = pruned_checkpoint
    assert s.flops_reduction >= 0.40
    assert s.depth == 3 and s.ffn_kept == 624
    assert all(len(h) == 4 for h in s.heads_removed.values())
    assert pruned.albert.encoder.albert_layer_groups[0].albert_layers[0].attention.query.out_features == 8 * 26


def test_transformers_loads_the_pruned_checkpoint(pruned_checkpoint):
    transformers = pytest.importorskip("transformers")
    path, pruned, _ = pruned_checkpoint
    ref = transformers.AlbertForSequenceClassification.from_pretrained(path).eval()
    ours = load_model(path)
    ids = torch.randint(5, 2000, (2, 20))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        a, b = ours(ids, mask), ref(input_ids=ids, attention_mask=mask).logits
        c = pruned.eval()(ids, mask)
    assert (a - b).abs().max() <= 1e-5 and (a - c).abs().max() <= 1e-6


def test_pruned_dimensions_reach_onnx_and_tflite(tmp_path, pruned_checkpoint, trained_checkpoint):
    from edge_albert.converters.onnx import export_onnx
    from edge_albert.converters.tflite import export_tflite

    path, _, _ = pruned_checkpoint
    onnx_path = export_onnx(path, tmp_path / "p.onnx").path
    shapes = {i.name: numpy_helper.to_array(i).shape for i in onnx.load(str(onnx_path)).graph.initializer}
    assert shapes["albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight__T"] == (312, 624)
    assert shapes["albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight__T"] == (312, 208)
    full = export_onnx(trained_checkpoint, tmp_path / "full.onnx").path
    assert onnx_path.stat().st_size < 0.9 * full.stat().st_size
    tfl = export_tflite(path, tmp_path / "p.tflite", buckets=[32]).path
    full_tfl = export_tflite(trained_checkpoint, tmp_path / "f.tflite", buckets=[32]).path
    assert tfl.stat().st_size < 0.9 * full_tfl.stat().st_size


def test_magnitude_sparsity_report(model_and_data):
    model, data, tok = model_and_data
    pruned, summary = prune_model(model, PruneConfig(magnitude=0.5), data, tok.pad_id)
    assert summary.sparsity and all(0.49 <= v <= 0.51 for v in summary.sparsity.values())
    assert summary.flops_after == summary.flops_before  # zeros are not removed work


def test_prune_and_recover(tmp_path, trained_checkpoint):
    from tests.conftest import SST2

    spec = DataSpec(SST2 / "train.tsv", SST2 / "dev.tsv", label_names=["negative", "positive"], limit=600)
    report = prune_checkpoint(trained_checkpoint, tmp_path / "run", PruneConfig(heads=0.25, ffn=0.25), spec,
                              recover=TrainConfig(epochs=1, max_steps=8, learning_rate=1e-4, max_length=64))
    assert report.dev_accuracy_recovered is not None and report.dev_accuracy_before is not None
    assert report.recovery_steps == 8  # the step limit holds (one epoch of 600 rows would be 19)
    recovered = load_model(report.checkpoint)
    assert recovered.config.intermediate_size == 936 and recovered.config.pruned_heads
    assert (tmp_path / "run" / "pruned" / "config.json").is_file()
