"""Quantization coverage counts what a file really runs in integers, on real exported files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edge_albert.quantization import quantize
from edge_albert.quantization.configs import recipe
from edge_albert.validation.coverage import quantization_coverage


def expected_weight_matmuls(checkpoint) -> int:
    """From the architecture: each repetition of the shared layer runs Q, K, V, output, FFN in and
    FFN out; plus the embedding projection, the pooler and the classifier."""
    from edge_albert.model.config import AlbertConfig

    config = AlbertConfig.load(checkpoint / "config.json")
    return config.num_hidden_layers * config.inner_group_num * 6 + 3


@pytest.fixture(scope="module")
def int8_files(tmp_path_factory, trained_checkpoint):
    folder = tmp_path_factory.mktemp("coverage")
    dynamic = recipe("dynamic_wi8_afp32")
    # The shared layer left in float while the rest is int8: the shape of onnxruntime #11701.
    shared_layer_float = dataclasses.replace(dynamic, keep_float=("attention", "ffn"))
    return {
        "onnx": Path(quantize(trained_checkpoint, folder / "m.onnx", dynamic, to="onnx").output),
        "tflite": Path(quantize(trained_checkpoint, folder / "m.tflite", dynamic, to="tflite").output),
        "onnx_shared_float": Path(quantize(trained_checkpoint, folder / "s.onnx", shared_layer_float, to="onnx").output),
    }


def test_fp32_files_have_no_integer_weights(trained_checkpoint, trained_artifacts):
    onnx = quantization_coverage(trained_artifacts["onnx"])
    assert onnx.weight_matmuls == expected_weight_matmuls(trained_checkpoint) and onnx.quantized_matmuls == 0
    assert onnx.embedding_gathers >= 1 and onnx.quantized_gathers == 0
    tflite = quantization_coverage(trained_artifacts["tflite"])
    assert tflite.weight_matmuls > 0 and tflite.quantized_fraction == 0.0
    assert quantization_coverage(trained_checkpoint) is None


def test_dynamic_int8_quantizes_every_use_of_the_shared_layer(trained_checkpoint, int8_files):
    onnx = quantization_coverage(int8_files["onnx"])
    assert onnx.weight_matmuls == expected_weight_matmuls(trained_checkpoint) and onnx.quantized_fraction == 1.0
    assert quantization_coverage(int8_files["tflite"]).quantized_fraction == 1.0
    # Same bytes from memory (as in a bundle) give the same count.
    assert quantization_coverage(int8_files["onnx"], content=int8_files["onnx"].read_bytes()) == onnx


def test_a_shared_layer_left_in_float_is_counted(trained_checkpoint, int8_files):
    partial = quantization_coverage(int8_files["onnx_shared_float"])
    total = expected_weight_matmuls(trained_checkpoint)
    assert partial.weight_matmuls == total and partial.quantized_matmuls == 3  # projection, pooler, classifier
    assert partial.quantized_fraction < 0.9  # what the gate's default bound rejects


def test_validate_runs_a_bundle_through_the_runtime(tmp_path, trained_checkpoint, int8_files, sst2_dev):
    from edge_albert.data.readers import LabeledTexts
    from edge_albert.packaging.bundle import build_bundle
    from edge_albert.validation.report import validate

    bundle = build_bundle([int8_files["onnx"]], trained_checkpoint / "spiece.model", tmp_path / "b.eabundle").path
    data = LabeledTexts([s for _, s in sst2_dev[:120]], [l for l, _ in sst2_dev[:120]], ["negative", "positive"])
    report = validate(trained_checkpoint, [int8_files["onnx"], bundle], data, latency_runs=2, memory=False)
    by_name = {r.name: r for r in report.results}
    file, packed = by_name["m.onnx"], by_name["b.eabundle"]
    assert packed.fidelity == file.fidelity and packed.accuracy == file.accuracy  # same answers, runtime path or not
    assert packed.quantization == file.quantization and packed.quantization["quantized_fraction"] == 1.0
    assert packed.precision == "int8-dynamic" and packed.size_bytes == bundle.stat().st_size
