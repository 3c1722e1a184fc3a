"""TFLite int8 / fp16 with ai-edge-quantizer, run on the real LiteRT interpreter."""

from __future__ import annotations

import pytest

from edge_albert.data.readers import LabeledTexts
from edge_albert.quantization import quantize, recipe
from edge_albert.runtimes import open_session
from edge_albert.runtimes.litert import read_tflite_metadata


@pytest.fixture(scope="module")
def dev(sst2_dev):
    return LabeledTexts([s for _, s in sst2_dev[:300]], [l for l, _ in sst2_dev[:300]], ["negative", "positive"])


@pytest.mark.parametrize("method, min_agreement, max_ratio", [("dynamic", 0.97, 0.40), ("fp16", 0.995, 0.56), ("static", 0.95, 0.45)])
def test_tflite_recipes(tmp_path, trained_checkpoint, dev, method, min_agreement, max_ratio):
    report = quantize(trained_checkpoint, tmp_path / f"{method}.tflite", recipe(method), to="tflite",
                      calibration_texts=dev.texts[:48], eval_data=dev)
    c = report.comparison
    assert c.runtime == "litert"
    assert c.agreement >= min_agreement
    assert abs(c.accuracy_drop) <= 0.03
    assert report.quantized_bytes <= max_ratio * report.float_bytes
    meta = read_tflite_metadata(report.output)
    assert meta["labels"] == ["negative", "positive"] and meta["buckets"] == [32, 64, 128]
    assert meta["precision"].startswith({"dynamic": "int8", "static": "int8", "fp16": "float16"}[method])
    assert open_session(report.output).buckets == [32, 64, 128]
    if method == "dynamic":
        _assert_one_scale_per_embedding_table(report.output)


def _assert_one_scale_per_embedding_table(path):
    """Embedding tables are int8 with one scale: per-row scales would be stored once per signature."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(open(path, "rb").read(), 0))
    codes = [op.builtinCode or op.deprecatedBuiltinCode for op in model.operatorCodes]
    seen = 0
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            if codes[op.opcodeIndex] in (schema.BuiltinOperator.EMBEDDING_LOOKUP, schema.BuiltinOperator.GATHER):
                table = subgraph.tensors[op.inputs[1] if codes[op.opcodeIndex] == schema.BuiltinOperator.EMBEDDING_LOOKUP else op.inputs[0]]
                if table.type == schema.TensorType.INT8:
                    assert len(table.quantization.scale) == 1
                    seen += 1
    assert seen >= 3  # word and token-type tables at least, in every signature


def test_tflite_int4_blocks(tmp_path, spiece_model, sst2_dev):
    """4-bit blocks need every input size divisible by the block: a model of width 128 (FFN 512)
    takes them; one of width 80 is refused with the size that does not fit, and takes a scale per
    output row instead."""
    from edge_albert.errors import InputError
    from edge_albert.model.factory import init_checkpoint
    from edge_albert.quantization.configs import PER_CHANNEL

    texts = [s for _, s in sst2_dev[:64]]
    small = init_checkpoint("tiny", spiece_model, tmp_path / "small", labels=["negative", "positive"], max_length=128, seed=0,
                            hidden_size=128, intermediate_size=512, num_attention_heads=4)
    from edge_albert.converters.tflite import export_tflite

    float_model = export_tflite(small, tmp_path / "float.tflite").path  # one float export for both
    int8 = quantize(small, tmp_path / "int8.tflite", recipe("dynamic"), to="tflite", float_model=float_model)
    int4 = quantize(small, tmp_path / "int4.tflite", recipe("int4"), to="tflite", float_model=float_model,
                    eval_data=LabeledTexts(texts, [0] * len(texts), ["negative", "positive"]))
    assert int4.recipe == "weight_only_wi4b32_afp32" and read_tflite_metadata(int4.output)["precision"] == "int4"
    # The int8 embedding table is most of so small a model: the 4-bit weights still show.
    assert int4.quantized_bytes < 0.85 * int8.quantized_bytes
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(open(int4.output, "rb").read(), 0))
    int4_tensors = [t for g in model.subgraphs for t in g.tensors if t.type == schema.TensorType.INT4]
    # the FFN's 128x512 matrices among them (stored once: the length buckets share weights)
    ffn = [t for t in int4_tensors if 512 in t.shape]
    assert {tuple(int(d) for d in t.shape) for t in ffn} == {(128, 512), (512, 128)} and len({t.buffer for t in ffn}) == 2
    assert int4.comparison.runtime == "litert" and int4.comparison.max_abs_logit_diff < 0.5
    tiny = init_checkpoint("tiny", spiece_model, tmp_path / "tiny", labels=["negative", "positive"], max_length=128, seed=0,
                           hidden_size=80, intermediate_size=320, num_attention_heads=4)
    with pytest.raises(InputError, match="blocks of 32 must divide every weight's input size, and this model has 80; use --block-size channel"):
        quantize(tiny, tmp_path / "tiny.tflite", recipe("int4"), to="tflite")
    assert not (tmp_path / "tiny.tflite").exists()
    # A scale per output row fits any width: the 80-wide model's FFN at 4 bits, one scale per row.
    rows = quantize(tiny, tmp_path / "tiny.tflite", recipe("int4", block_size=PER_CHANNEL), to="tflite",
                    eval_data=LabeledTexts(texts, [0] * len(texts), ["negative", "positive"]))
    assert rows.recipe == "weight_only_wi4c_afp32" and read_tflite_metadata(rows.output)["precision"] == "int4"
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(open(rows.output, "rb").read(), 0))
    ffn = {tuple(int(d) for d in t.shape): t for g in model.subgraphs for t in g.tensors if t.type == schema.TensorType.INT4 and 320 in t.shape}
    assert set(ffn) == {(80, 320), (320, 80)}
    for shape, tensor in ffn.items():
        scales = tensor.quantization.scale
        assert len(scales) == shape[0] and tensor.quantization.quantizedDimension == 0 and min(scales) > 0
    assert rows.comparison.runtime == "litert" and rows.comparison.max_abs_logit_diff < 0.5
    with pytest.raises(InputError, match="asymmetric 4-bit blocks are supported for ONNX only"):
        quantize(small, tmp_path / "asym.tflite", recipe("weight_only_wi4b32_asym_afp32"), to="tflite")
