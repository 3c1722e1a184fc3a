"""ONNX int8 and fp16 with onnxruntime.quantization, on graphs from our exporter.

Our exporter already folds the Transpose/Identity nodes in front of ALBERT's shared weights, so
every use of a shared weight reads one initializer. onnxruntime's quantizer then quantizes all
weight MatMuls (not only the first use of each weight) and writes one int8 initializer per
weight, which every use shares.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx

from edge_albert.quantization.configs import DynamicInt8Config, Float16Config, StaticInt8Config

# Which op group a node belongs to, by the initializer it reads.
_GROUP_PATTERNS = (
    ("embeddings", ("embeddings.word_embeddings", "embeddings.position_embeddings", "embeddings.token_type_embeddings")),
    ("embedding_projection", ("embedding_hidden_mapping_in",)),
    ("attention", ("attention.query", "attention.key", "attention.value", "attention.dense")),
    ("ffn", ("ffn.weight", "ffn_output.weight")),
    ("pooler", ("pooler.weight",)),
    ("classifier", ("classifier.weight",)),
)


def _name_nodes(model: onnx.ModelProto) -> None:
    """The quantizer excludes nodes by name; give every node one."""
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


def node_groups(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Names of the weight-reading nodes of each op group."""
    inits = {i.name for i in model.graph.initializer}
    groups: dict[str, list[str]] = {name: [] for name, _ in _GROUP_PATTERNS}
    for node in model.graph.node:
        for input_name in node.input:
            if input_name not in inits:
                continue
            for group, patterns in _GROUP_PATTERNS:
                if any(p in input_name for p in patterns):
                    groups[group].append(node.name)
                    break
    return groups


def _prepared(source: Path, scratch: Path) -> tuple[Path, onnx.ModelProto]:
    model = onnx.load(str(source))
    _name_nodes(model)
    path = scratch / "named.onnx"
    onnx.save(model, str(path))
    return path, model


def _excluded(model: onnx.ModelProto, keep_float: Sequence[str]) -> list[str]:
    groups = node_groups(model)
    return [name for group in keep_float for name in groups.get(group, [])]


def quantize_dynamic_onnx(source: Path, output: Path, config: DynamicInt8Config, scratch: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path, model = _prepared(source, scratch)
    # Its "run pre-processing first" warning is moot: our exporter already folded the weights.
    logging.getLogger().setLevel(logging.ERROR)
    ops = ["MatMul"] + (["Gather"] if config.quantize_embeddings else [])
    quantize_dynamic(
        str(path),
        str(output),
        weight_type=QuantType.QInt8,
        per_channel=config.per_channel,
        op_types_to_quantize=ops,
        nodes_to_exclude=_excluded(model, config.keep_float),
    )


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over pre-encoded batches."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self._iter: Iterator = iter(batches)

    def get_next(self):
        return next(self._iter, None)

    def rewind(self) -> None:  # pragma: no cover - used by some calibrators
        pass


def quantize_static_onnx(source: Path, output: Path, config: StaticInt8Config, scratch: Path, calibration: list[dict[str, np.ndarray]]) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    path, model = _prepared(source, scratch)
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}[config.calibration]
    if config.calibration != "minmax":
        # ORT's histogram calibrators stack every batch's activations into one array, which
        # fails on batches of different lengths: pad all to the longest (masked positions).
        width = max(b["input_ids"].shape[1] for b in calibration)
        calibration = [{k: np.pad(v, ((0, 0), (0, width - v.shape[1]))) for k, v in b.items()} for b in calibration]
    logging.getLogger().setLevel(logging.ERROR)
    quantize_static(
        str(path),
        str(output),
        _Calibration([{k: v.astype(np.int64) for k, v in b.items()} for b in calibration]),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul", "Gather"],
        per_channel=config.per_channel,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=method,
        nodes_to_exclude=_excluded(model, config.keep_float),
        extra_options={"CalibTensorRangeSymmetric": False, "CalibMovingAverage": False},
    )


def to_float16_onnx(source: Path, output: Path, config: Float16Config, scratch: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    # Inputs and outputs stay int64 / float32 so callers feed the same arrays.
    converted = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True)
    onnx.save(converted, str(output))


__all__ = ["quantize_dynamic_onnx", "quantize_static_onnx", "to_float16_onnx", "node_groups"]
