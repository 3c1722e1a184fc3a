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

from edge_albert.converters.onnx import drop_unused_initializers, share_identical_initializers
from edge_albert.quantization.configs import DynamicInt8Config, Float16Config, Int4Config, StaticInt8Config

# Which op group a node belongs to, by the initializer it reads.
_GROUP_PATTERNS = (
    ("embeddings", ("embeddings.word_embeddings", "embeddings.position_embeddings", "embeddings.token_type_embeddings")),
    ("embedding_projection", ("embedding_hidden_mapping_in",)),
    ("attention", ("attention.query", "attention.key", "attention.value", "attention.dense")),
    ("ffn", ("ffn.weight", "ffn_output.weight")),
    ("pooler", ("pooler.weight",)),
    # the output layer of every head: sequence and token classifiers, question answering
    ("classifier", ("classifier.weight", "qa_outputs.weight")),
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


def _excluded(model: onnx.ModelProto, keep_float: Sequence[str], groups: dict[str, list[str]] | None = None) -> list[str]:
    groups = groups if groups is not None else node_groups(model)
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
        width = max(b["input_ids"].shape[-1] for b in calibration)
        calibration = [{k: np.pad(v, [(0, 0)] * (v.ndim - 1) + [(0, width - v.shape[-1])]) for k, v in b.items()} for b in calibration]
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


def _gemms_as_matmuls(model: onnx.ModelProto) -> None:
    """Rewrite each Gemm over a weight initializer (the pooler, a classifier) as MatMul + Add, the
    form ONNX Runtime's 4-bit quantizer takes; the pooler is 768x768 of ALBERT-base's weights."""
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or node.input[1] not in inits or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0
                or attrs.get("beta", 1.0) != 1.0):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        if attrs.get("transB", 0):
            weight = weight.T
        name = f"{node.input[1]}.matmul"
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), name))
        product = f"{node.output[0]}.product"
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product if len(node.input) > 2 else node.output[0]], name=f"{node.name}.matmul"))
        if len(node.input) > 2:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}.bias"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    drop_unused_initializers(model)


def quantize_int4_onnx(source: Path, output: Path, config: Int4Config, scratch: Path) -> None:
    """4-bit blocked weights with ONNX Runtime's MatMulNBits quantizer; the embedding table in
    4-bit blocks (GatherBlockQuantized) or at 8 bits like the int8 recipes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = onnx.load(str(source))
    _gemms_as_matmuls(model)
    _name_nodes(model)
    groups = node_groups(model)
    # The output layer stays float: a fraction of a percent of the weights, whose rounding
    # would move the logits directly.
    excluded = set(_excluded(model, (*config.keep_float, "classifier"), groups))
    eight_bit = set(_excluded(model, config.keep_int8, groups)) - excluded
    embeddings_8bit = config.embedding_bits == 8 and "embeddings" not in config.keep_float
    if embeddings_8bit:
        eight_bit |= set(groups["embeddings"])
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)
    ops = ("MatMul",) if embeddings_8bit or "embeddings" in config.keep_float else ("MatMul", "Gather")
    quantizer = MatMulNBitsQuantizer(model, bits=4, block_size=config.block_size, is_symmetric=config.symmetric,
                                     nodes_to_exclude=sorted(excluded | eight_bit), op_types_to_quantize=ops,
                                     quant_axes=(("MatMul", 0), ("Gather", 1)))
    # An all-zero block (the padding row of the embedding table) has scale 0; the quantizer
    # divides before it masks that case, and numpy warns about a value it then discards.
    with np.errstate(divide="ignore", invalid="ignore"):
        quantizer.process()
    model = quantizer.model.model
    # Every use of ALBERT's shared weights quantizes to the same bytes: store them once.
    share_identical_initializers(model)
    drop_unused_initializers(model)
    eight_bit_nodes = {n.name for n in model.graph.node if n.op_type in ("MatMul", "Gather") and n.name in eight_bit}
    if not eight_bit_nodes:
        onnx.save(model, str(output))
        return
    # The 8-bit part, as the dynamic int8 recipe quantizes it (the embedding table with one
    # scale, weights per channel).
    path = scratch / "int4.onnx"
    onnx.save(model, str(path))
    quantize_dynamic(str(path), str(output), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul", "Gather"],
                     nodes_to_exclude=[n.name for n in model.graph.node if n.op_type in ("MatMul", "Gather") and n.name not in eight_bit_nodes])


def to_float16_onnx(source: Path, output: Path, config: Float16Config, scratch: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    # Inputs and outputs stay int64 / float32 so callers feed the same arrays.
    converted = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True)
    onnx.save(converted, str(output))


__all__ = ["quantize_dynamic_onnx", "quantize_static_onnx", "quantize_int4_onnx", "to_float16_onnx", "node_groups"]
