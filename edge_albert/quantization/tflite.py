"""TFLite int8 and fp16 with ai-edge-quantizer, on our multi-signature (length-bucket) files.

Dynamic-range int8 uses the `dynamic_wi8_afp32` recipe; full-integer int8 uses `static_wi8_ai8`
calibrated on sample sentences run through every bucket (token ids stay int32); fp16 stores
float16 weights (weight-only float casting). The buckets share one weight buffer, which
ai-edge-quantizer quantizes once per signature to identical data; its "overriding buffer"
warnings say exactly that and are silenced.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path

import numpy as np

from edge_albert.converters.tflite import finish_tflite
from edge_albert.errors import InputError
from edge_albert.quantization.configs import PER_CHANNEL, DynamicInt8Config, Float16Config, Int4Config, StaticInt8Config
from edge_albert.runtimes.litert import read_tflite_metadata


@contextlib.contextmanager
def _quiet():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def _recipe(config):
    from ai_edge_quantizer import qtyping, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    manager = recipe_manager.RecipeManager()
    if isinstance(config, DynamicInt8Config):
        # ai-edge-quantizer's dynamic_wi8_afp32, except the embedding tables get one scale each
        # (as ONNX Runtime's Gather quantization does): per-row scales are stored again in every
        # signature, 12 bytes per vocabulary row, 1.1 MB of a 14.2 MB ALBERT-base file with three
        # length buckets, and gave the same SST-2 accuracy (docs/quantization.md).
        granularity = qtyping.QuantGranularity.CHANNELWISE if config.per_channel else qtyping.QuantGranularity.TENSORWISE
        manager.add_dynamic_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, 8, granularity)
        manager.add_dynamic_config(".*", qtyping.TFLOperationName.EMBEDDING_LOOKUP, 8, qtyping.QuantGranularity.TENSORWISE)
        return manager.get_quantization_recipe()
    if isinstance(config, StaticInt8Config):
        # int8 activations on the ops that carry the compute. The attention-mask add (-10000),
        # softmax and the decomposed LayerNorm (MEAN/RSQRT) stay float: in int8 the mask alone
        # stretches the score range so far that predictions flip (measured: 9 points lost).
        for op in (qtyping.TFLOperationName.FULLY_CONNECTED, qtyping.TFLOperationName.BATCH_MATMUL):
            manager.add_static_config(regex=".*", operation_name=op, activation_num_bits=8, weight_num_bits=8)
        # The embedding tables: int8 weights (ai-edge-quantizer has no int8-activation lookup).
        manager.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.EMBEDDING_LOOKUP, num_bits=8)
        return manager.get_quantization_recipe()
    if isinstance(config, Int4Config):
        # ai-edge-quantizer's dynamic_wi4bN_afp32 (4-bit blocks, activations quantized at run
        # time by XNNPACK) or dynamic_wi4c_afp32 (a scale per output channel), the embedding
        # table at 8 bits with one scale or in 4-bit blocks.
        blocks = (qtyping.QuantGranularity.CHANNELWISE if config.block_size == PER_CHANNEL
                  else getattr(qtyping.QuantGranularity, f"BLOCKWISE_{config.block_size}"))
        manager.add_dynamic_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, 4, blocks)
        if config.embedding_bits == 8:
            manager.add_dynamic_config(".*", qtyping.TFLOperationName.EMBEDDING_LOOKUP, 8, qtyping.QuantGranularity.TENSORWISE)
        return manager.get_quantization_recipe()
    manager.add_weight_only_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        num_bits=16,
        algorithm_key=AlgorithmName.FLOAT_CASTING,
    )
    return manager.get_quantization_recipe()


def _calibration_by_signature(source: Path, calibration: list[dict[str, np.ndarray]]) -> dict[str, list[dict[str, np.ndarray]]]:
    """One list of batch-1 samples per signature: each sentence padded into every bucket that holds it."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(source))
    out: dict[str, list] = {}
    for name in interpreter.get_signature_list():
        details = interpreter.get_signature_runner(name).get_input_details()
        length = int(details["input_ids"]["shape"][1])
        samples = []
        for batch in calibration:
            mask = batch["attention_mask"]
            for r in range(mask.shape[0]):
                n = int(mask[r].sum())
                if n > length:
                    continue
                sample = {}
                for key in ("input_ids", "attention_mask", "token_type_ids"):
                    row = np.zeros((1, length), dtype=details[key]["dtype"])
                    row[0, :n] = batch[key][r, :n]
                    sample[key] = row
                samples.append(sample)
        out[name] = samples
    return out


def quantize_tflite(source: Path, output: Path, config, scratch: Path, calibration: list[dict[str, np.ndarray]] | None = None) -> None:
    from ai_edge_quantizer import quantizer

    with _quiet():
        qt = quantizer.Quantizer(str(source))
        qt.load_quantization_recipe(_recipe(config))
        result = None
        if isinstance(config, StaticInt8Config):
            data = _calibration_by_signature(source, calibration or [])
            result = qt.calibrate(data, num_threads=2)
        try:
            quantized = qt.quantize(result) if result is not None else qt.quantize()
        except ValueError as exc:
            # ai-edge-quantizer's blocks must tile a weight's input dimension exactly (ONNX
            # Runtime pads the last block instead): say which size and what to do.
            misfit = re.search(r"Quantized dimension (\d+) .* not divisible by block size (\d+)", str(exc))
            if misfit is None:
                raise
            raise InputError(f"TFLite 4-bit blocks of {misfit[2]} must divide every weight's input size, and this model has {misfit[1]}; "
                             f"use --block-size channel (a scale per output channel), --to onnx (ONNX Runtime pads the last block) "
                             f"or a --block-size that divides {misfit[1]}") from None
        raw = scratch / "quantized.tflite"
        quantized.export_model(str(raw), overwrite=True)
    metadata = read_tflite_metadata(source)
    metadata["precision"] = {DynamicInt8Config: "int8-dynamic", StaticInt8Config: "int8-static", Float16Config: "float16", Int4Config: "int4"}[type(config)]
    Path(output).write_bytes(finish_tflite(raw.read_bytes(), metadata))


__all__ = ["quantize_tflite"]
