"""ONNX export on real ONNX Runtime: parity on every SST-2 dev sentence, shared weights stored once,
dynamic axes, metadata, and clean failures."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest

from edge_albert.converters.onnx import export_onnx
from edge_albert.errors import InputError
from edge_albert.model.checkpoint import load_model
from edge_albert.model.factory import parameter_count
from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.compare import compare_models


@pytest.mark.parametrize("which", ["tiny_checkpoint", "grouped_checkpoint"])
def test_parity_on_every_sst2_dev_sentence(request, tmp_path, which, sst2_dev):
    ckpt = request.getfixturevalue(which)
    path = tiny_path = request.getfixturevalue("tiny_onnx") if which == "tiny_checkpoint" else export_onnx(ckpt, tmp_path / "g.onnx").path
    tok = AlbertTokenizer(ckpt / "spiece.model")
    result = compare_models(ckpt, path, tok, [s for _, s in sst2_dev], max_length=128)
    assert result.examples == 872
    assert result.max_abs_logit_diff <= 1e-4
    assert result.agreement == 1.0
    assert tiny_path.exists()


def test_shared_weights_stored_once(tiny_checkpoint, tiny_onnx):
    model = load_model(tiny_checkpoint)
    params = parameter_count(model)
    size = tiny_onnx.stat().st_size
    assert abs(size - params * 4) / (params * 4) <= 0.05
    graph = onnx.load(str(tiny_onnx)).graph
    inits = {i.name for i in graph.initializer}
    # Every MatMul weight is read straight from an initializer, and each shared weight once.
    matmul_weights = [n.input[1] for n in graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    counts = collections.Counter(matmul_weights)
    assert counts and max(counts.values()) == model.config.num_hidden_layers
    assert not [n for n in graph.node if n.op_type in ("Identity",) and n.input[0] in inits]


def test_dynamic_batch_and_length(tiny_checkpoint, tiny_onnx):
    ref = open_session(tiny_checkpoint)
    sess = open_session(tiny_onnx)
    rng = np.random.default_rng(0)
    for batch, length in [(1, 5), (3, 17), (8, 128)]:
        ids = rng.integers(5, 2000, (batch, length))
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        assert np.abs(sess.run(feed) - ref.run(feed)).max() <= 1e-4


def test_metadata_and_checker(tiny_checkpoint, tiny_onnx):
    model = onnx.load(str(tiny_onnx))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 20  # for the Gelu op
    meta = open_session(tiny_onnx).metadata
    assert meta["labels"] == ["negative", "positive"]
    assert meta["max_length"] == 128
    assert meta["tokenizer_sha256"] == AlbertTokenizer(tiny_checkpoint / "spiece.model").sha256
    assert meta["edge_albert_version"]
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_refuses_existing_output_and_non_albert(tmp_path, tiny_checkpoint, tiny_onnx):
    with pytest.raises(InputError, match="already exists"):
        export_onnx(tiny_checkpoint, tiny_onnx)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text('{"model_type": "bert", "hidden_size": 8}')
    with pytest.raises(InputError, match="model_type is 'bert'"):
        export_onnx(bert, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_unwritable_output_and_no_partial_file(tmp_path, tiny_checkpoint, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot create the output directory"):
        export_onnx(tiny_checkpoint, blocker / "sub" / "m.onnx")
    # A failure half-way leaves nothing behind.
    import edge_albert.converters.onnx as mod

    def broken(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(mod, "_torch_export", broken)
    with pytest.raises(InputError, match="ONNX export failed"):
        export_onnx(tiny_checkpoint, tmp_path / "out.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_mask_is_in_the_form_onnxruntime_fuses(tiny_onnx):
    graph = onnx.load(str(tiny_onnx)).graph
    ops = {n.name: n.op_type for n in graph.node}
    assert ops.get("mask_unsqueeze_1") == "Unsqueeze" and ops.get("mask_cast") == "Cast"


def test_optimized_export_fuses_attention_and_keeps_parity(tmp_path, tiny_checkpoint, sst2_dev):
    path = export_onnx(tiny_checkpoint, tmp_path / "opt.onnx", optimize=True).path
    fused = open_session(path).metadata["ort_fusions"]
    # Every repetition of the shared layer fuses, the first included (docs/converters.md).
    assert fused["Attention"] == 4 and fused["SkipLayerNormalization"] == 8 and fused["FastGelu"] == 4
    ops = collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    assert ops["Attention"] == fused["Attention"]
    # The fused QKV weights of the shared layer are stored once, like the unfused weights.
    plain = export_onnx(tiny_checkpoint, tmp_path / "plain.onnx").path
    assert path.stat().st_size <= 1.02 * plain.stat().st_size
    tok = AlbertTokenizer(tiny_checkpoint / "spiece.model")
    result = compare_models(tiny_checkpoint, path, tok, [s for _, s in sst2_dev[:200]])
    assert result.max_abs_logit_diff <= 1e-4 and result.agreement == 1.0


def test_gelu_is_one_node_and_no_initializer_is_left_unread(tiny_checkpoint, tiny_onnx):
    graph = onnx.load(str(tiny_onnx)).graph
    layers = load_model(tiny_checkpoint).config.num_hidden_layers
    gelus = [n for n in graph.node if n.op_type == "Gelu"]
    assert len(gelus) == layers
    assert all(onnx.helper.get_attribute_value(a) == b"tanh" for n in gelus for a in n.attribute if a.name == "approximate")
    assert not [n for n in graph.node if n.op_type == "Pow"]  # the decomposed tanh GELU of opset 18
    read = {name for n in graph.node for name in n.input}
    assert [i.name for i in graph.initializer if i.name not in read] == []


def test_tanh_gelu_becomes_fast_gelu_before_ort_fusions():
    from onnx import TensorProto, helper

    from edge_albert.converters.onnx import mark_tanh_gelu_for_onnxruntime

    nodes = [helper.make_node("Gelu", ["x"], ["t"], approximate="tanh"), helper.make_node("Gelu", ["t"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    assert mark_tanh_gelu_for_onnxruntime(model) == 1
    assert [(n.domain, n.op_type) for n in model.graph.node] == [("com.microsoft", "FastGelu"), ("", "Gelu")]
    assert {o.domain for o in model.opset_import} == {"", "com.microsoft"}


def test_opset_18_for_older_runtimes_and_unsupported_opsets_refused(tmp_path, tiny_checkpoint, tiny_onnx):
    from edge_albert.converters.onnx import SUPPORTED_OPSETS

    path = export_onnx(tiny_checkpoint, tmp_path / "o18.onnx", opset=18).path
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 18 and open_session(path).metadata["opset"] == 18
    assert not [n for n in model.graph.node if n.op_type == "Gelu"]  # no Gelu op before opset 20
    ids = np.random.default_rng(1).integers(5, 2000, (2, 40))
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    assert np.abs(open_session(path).run(feed) - open_session(tiny_onnx).run(feed)).max() <= 1e-4
    with pytest.raises(InputError, match="opset 17 is not supported"):
        export_onnx(tiny_checkpoint, tmp_path / "o17.onnx", opset=17)
    assert 17 not in SUPPORTED_OPSETS and not (tmp_path / "o17.onnx").exists()


def test_pre_transposed_weights_carry_their_parameter_name(trained_artifacts):
    """The exporter pre-transposes the embedding projection and the classifier under generated
    names; the export renames them after their parameters, so op groups can be found by name."""
    from edge_albert.quantization.onnx import node_groups

    model = onnx.load(str(trained_artifacts["onnx"]))
    names = {i.name for i in model.graph.initializer}
    assert "albert.encoder.embedding_hidden_mapping_in.weight__T" in names
    assert not [i.name for i in model.graph.initializer if i.name.startswith("val_") and len(i.dims) == 2]
    groups = node_groups(model)
    assert groups["embedding_projection"] and groups["classifier"]
