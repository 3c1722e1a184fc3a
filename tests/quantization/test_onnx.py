"""ONNX int8 / fp16 on real ONNX Runtime: every use of a shared weight reads one int8
initializer, the embedding table is 8-bit, and fidelity bounds hold on a trained tiny model."""

from __future__ import annotations

import collections
import json

import onnx
import pytest
from onnx import numpy_helper

from edge_albert.data.readers import LabeledTexts
from edge_albert.errors import InputError
from edge_albert.model.checkpoint import load_model
from edge_albert.model.factory import parameter_count
from edge_albert.quantization import quantize, recipe
from edge_albert.quantization.onnx import node_groups


@pytest.fixture(scope="module")
def dev(sst2_dev):
    return LabeledTexts([s for _, s in sst2_dev], [l for l, _ in sst2_dev], ["negative", "positive"])


@pytest.fixture(scope="module")
def dynamic(tmp_path_factory, trained_checkpoint, dev):
    return quantize(trained_checkpoint, tmp_path_factory.mktemp("q") / "dyn.onnx", recipe("dynamic"), to="onnx", eval_data=dev)


def test_dynamic_int8_shared_weights_stored_once(trained_checkpoint, dynamic):
    model = load_model(trained_checkpoint)
    graph = onnx.load(dynamic.output).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    int8 = {k: v for k, v in inits.items() if v.dtype.itemsize == 1 and k.endswith("_quantized")}
    # One int8 tensor per distinct weight: 6 in the shared layer, projection, pooler, embeddings.
    layer = [k for k in int8 if "albert_layer_groups" in k]
    assert len(layer) == 6
    users = collections.Counter(n.input[1] for n in graph.node if n.op_type == "MatMulInteger")
    assert all(users[k] == model.config.num_hidden_layers for k in layer)
    assert not [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    assert any("word_embeddings" in k for k in int8)
    # Size: about a quarter of the fp32 parameters.
    assert dynamic.quantized_bytes <= parameter_count(model) * 4 / 3.5


def test_dynamic_int8_fidelity_on_sst2_dev(dynamic):
    c = dynamic.comparison
    assert c.examples == 872
    assert c.agreement >= 0.97
    assert abs(c.accuracy_drop) <= 0.02


@pytest.mark.parametrize("name", ["static_wi8_ai8", "static_wi8_ai8_entropy"])
def test_static_int8_calibrated(tmp_path, trained_checkpoint, dev, name):
    # Calibration sentences of different lengths: the histogram (entropy) calibrator used to fail on them.
    report = quantize(trained_checkpoint, tmp_path / "static.onnx", recipe(name), to="onnx",
                      calibration_texts=dev.texts[:64], eval_data=dev)
    graph = onnx.load(report.output).graph
    assert sum(n.op_type == "QuantizeLinear" for n in graph.node) > 0
    assert report.comparison.agreement >= 0.95
    assert report.quantized_bytes < report.float_bytes / 2.5


def test_fp16_is_near_lossless(tmp_path, trained_checkpoint, dev):
    report = quantize(trained_checkpoint, tmp_path / "fp16.onnx", recipe("fp16"), to="onnx", eval_data=dev)
    assert report.comparison.agreement >= 0.995
    assert report.comparison.max_abs_logit_diff <= 0.05
    assert 1.7 <= report.compression <= 2.1


def test_keep_float_groups_leave_those_matmuls_float(tmp_path, trained_checkpoint):
    config = recipe("dynamic")
    import dataclasses

    report = quantize(trained_checkpoint, tmp_path / "kf.onnx", dataclasses.replace(config, keep_float=("ffn", "classifier")), to="onnx")
    model = onnx.load(report.output)
    groups = node_groups(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    assert groups["ffn"] and all(ops[name] == "MatMul" for name in groups["ffn"])
    assert report.keep_float == ["ffn", "classifier"]


def test_static_without_calibration_data_is_an_input_error(tmp_path, trained_checkpoint):
    with pytest.raises(InputError, match="calibration"):
        quantize(trained_checkpoint, tmp_path / "s.onnx", recipe("static"), to="onnx")
    assert not (tmp_path / "s.onnx").exists()


def test_unknown_recipe():
    with pytest.raises(InputError, match="unknown quantization recipe"):
        recipe("int3_magic")


def test_accuracy_aware_search_runs_the_reference_and_the_export_once(tmp_path, trained_checkpoint, dev, monkeypatch):
    import edge_albert.quantization.api as api
    from edge_albert.quantization import accuracy_aware_quantize
    from edge_albert.runtimes.torch import TorchSession
    from edge_albert.validation.compare import compare_models

    calls = collections.Counter()
    original_run, original_export = TorchSession.run, api.export_onnx

    def counted_run(self, batch):
        calls["reference batches"] += 1
        return original_run(self, batch)

    def counted_export(*args, **kwargs):
        calls["fp32 exports"] += 1
        return original_export(*args, **kwargs)

    monkeypatch.setattr(TorchSession, "run", counted_run)
    monkeypatch.setattr(api, "export_onnx", counted_export)
    data = dev.subset(range(96))
    report = accuracy_aware_quantize(trained_checkpoint, tmp_path / "aa.onnx", recipe("dynamic"), data, budget=0.0)
    batches_for_one_pass = -(-len(data) // 32)
    assert calls == {"reference batches": batches_for_one_pass, "fp32 exports": 1}
    assert set(report.sensitivity) == {"embeddings", "embedding_projection", "attention", "ffn", "pooler", "classifier"}
    # The shared reference logits give the same comparison as running the reference again.
    monkeypatch.setattr(TorchSession, "run", original_run)
    fresh = compare_models(trained_checkpoint, tmp_path / "aa.onnx", api.AlbertTokenizer(trained_checkpoint / "spiece.model"),
                           data.texts, labels=data.labels)
    assert fresh.agreement == report.comparison.agreement and fresh.candidate_accuracy == report.comparison.candidate_accuracy
    assert abs(fresh.max_abs_logit_diff - report.comparison.max_abs_logit_diff) < 1e-6


def test_int4_blocks_keep_the_shared_layer_shared_and_make_the_smallest_file(tmp_path, trained_checkpoint, dev, dynamic):
    report = quantize(trained_checkpoint, tmp_path / "int4.onnx", recipe("int4"), to="onnx", eval_data=dev)
    model = load_model(trained_checkpoint)
    onnx_model = onnx.load(report.output)
    graph = onnx_model.graph
    nbits = [n for n in graph.node if n.op_type == "MatMulNBits"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nbits[0].attribute}
    assert (attrs["bits"], attrs["block_size"]) == (4, 32)
    # One packed 4-bit weight per distinct matrix of the shared layer, read by every repetition.
    users = collections.Counter(n.input[1] for n in nbits)
    layer = [k for k in users if "albert_layer_groups" in k]
    assert len(layer) == 6 and all(users[k] == model.config.num_hidden_layers for k in layer)
    # The pooler (a Gemm in the export) is 4-bit too; the classifier stays float; the word embeddings are int8.
    assert any("pooler" in n.input[1] for n in nbits)
    assert not any("classifier" in n.input[1] for n in nbits)
    assert any("word_embeddings" in i.name and i.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8) for i in graph.initializer)
    meta = {p.key: json.loads(p.value) for p in onnx_model.metadata_props}
    assert (meta["precision"], meta["recipe"]) == ("int4", "weight_only_wi4b32_afp32")
    assert report.recipe == "weight_only_wi4b32_afp32"
    assert report.quantized_bytes < 0.8 * dynamic.quantized_bytes
    # A weak (~70%) model has many sentences near its decision boundary: 4-bit moves more of them than int8.
    c = report.comparison
    assert c.examples == 872 and c.agreement >= 0.93 and abs(c.accuracy_drop) <= 0.03


def test_int4_embedding_blocks_and_block_size_shrink_the_file(tmp_path, trained_checkpoint):
    from edge_albert.converters.onnx import export_onnx

    float_model = export_onnx(trained_checkpoint, tmp_path / "float.onnx").path  # one export for the three
    base, e4, b128 = (quantize(trained_checkpoint, tmp_path / f"{name}.onnx", config, to="onnx", float_model=float_model)
                      for name, config in (("b32", recipe("int4")), ("e4", recipe("int4", embedding_bits=4)),
                                           ("b128", recipe("int4", block_size=128))))
    assert e4.recipe == "weight_only_wi4b32_e4_afp32" and b128.recipe == "weight_only_wi4b128_afp32"
    assert any(n.op_type == "GatherBlockQuantized" for n in onnx.load(e4.output).graph.node)
    assert e4.quantized_bytes < base.quantized_bytes and b128.quantized_bytes < base.quantized_bytes
    for report in (e4, b128):
        assert report.comparison.agreement >= 0.85


def test_int4_options_are_checked(tmp_path, trained_checkpoint):
    from edge_albert.quantization.configs import PER_CHANNEL

    with pytest.raises(InputError, match="block size 48 is not supported; use one of 32, 64, 128, 256 or channel"):
        recipe("int4", block_size=48)
    with pytest.raises(InputError, match="apply to the 4-bit recipes, not dynamic"):
        recipe("dynamic", block_size=64)
    # MatMulNBits has no per-row layout: refused before any export, nothing written
    with pytest.raises(InputError, match="MatMulNBits takes 4-bit blocks of 32 to 256 input features, not whole rows"):
        quantize(trained_checkpoint, tmp_path / "c.onnx", recipe("int4", block_size=PER_CHANNEL), to="onnx")
    assert list(tmp_path.iterdir()) == []


def test_accuracy_aware_int4_falls_back_to_8_bits_for_the_sensitive_groups(tmp_path, trained_checkpoint, dev):
    from edge_albert.quantization import accuracy_aware_quantize

    data = dev.subset(range(100))
    # A budget no file can meet (a gain of 100 points): every group goes back to 8 bits, one by one.
    report = accuracy_aware_quantize(trained_checkpoint, tmp_path / "aa4.onnx", recipe("int4"), data, budget=-1.0)
    assert report.keep_float == [] and set(report.keep_int8) == set(report.sensitivity)  # a budget none meets: every group back
    graph = onnx.load(report.output).graph
    groups = node_groups(onnx.load(report.output))
    ops = {n.name: n.op_type for n in graph.node}
    model = load_model(trained_checkpoint)
    assert sum(ops[name] == "MatMulInteger" for name in set(groups["ffn"])) == 2 * model.config.num_hidden_layers
    assert not any(n.op_type == "MatMulNBits" for n in graph.node)
    # keep_int8 by hand: the FFN at 8 bits, attention at 4
    import dataclasses

    mixed = quantize(trained_checkpoint, tmp_path / "mixed.onnx", dataclasses.replace(recipe("int4"), keep_int8=("ffn",)), to="onnx")
    graph = onnx.load(mixed.output).graph
    kinds = collections.Counter(n.op_type for n in graph.node if n.op_type in ("MatMulNBits", "MatMulInteger"))
    assert kinds["MatMulInteger"] == 2 * model.config.num_hidden_layers and kinds["MatMulNBits"] >= 4 * model.config.num_hidden_layers
    assert mixed.keep_int8 == ["ffn"] and mixed.recipe == "weight_only_wi4b32_afp32"
