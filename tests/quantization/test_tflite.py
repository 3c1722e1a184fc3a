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
