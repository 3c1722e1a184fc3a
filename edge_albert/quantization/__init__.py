"""Compression: int8 / fp16 quantization (and pruning) of ALBERT checkpoints.

    from edge_albert.quantization import quantize, recipe
    quantize("runs/student/model", "student.int8.onnx", recipe("dynamic_wi8_afp32"), to="onnx")
"""

from edge_albert.quantization.api import QuantizationReport, accuracy_aware_quantize, quantize
from edge_albert.quantization.configs import RECIPES, DynamicInt8Config, Float16Config, StaticInt8Config, recipe

__all__ = ["quantize", "accuracy_aware_quantize", "QuantizationReport", "recipe", "RECIPES", "DynamicInt8Config", "StaticInt8Config", "Float16Config"]
