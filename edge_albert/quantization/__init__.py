"""Compression: int8 / fp16 quantization (and pruning) of ALBERT checkpoints.

    from edge_albert.quantization import quantize, recipe
    quantize("runs/student/model", "student.int8.onnx", recipe("dynamic_wi8_afp32"), to="onnx")

The recipes (`configs`) import no torch, so the command line can list them without it; the
quantizer itself is loaded on first use.
"""

from edge_albert.quantization.configs import RECIPES, DynamicInt8Config, Float16Config, StaticInt8Config, recipe

_API = ("quantize", "accuracy_aware_quantize", "QuantizationReport")


def __getattr__(name: str):
    if name in _API:
        from edge_albert.quantization import api

        return getattr(api, name)
    raise AttributeError(f"module 'edge_albert.quantization' has no attribute {name!r}")


__all__ = ["quantize", "accuracy_aware_quantize", "QuantizationReport", "recipe", "RECIPES", "DynamicInt8Config", "StaticInt8Config", "Float16Config"]
