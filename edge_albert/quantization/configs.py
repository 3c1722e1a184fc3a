"""Quantization configs (small dataclasses) and the named recipes that CLI and Python share.

A recipe name says what it does, as ai-edge-quantizer's do: `dynamic_wi8_afp32` is int8
weights with float activations quantized at run time; `static_wi8_ai8` is int8 weights and
calibrated int8 activations; `weight_only_wf16` is float16 weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from edge_albert.errors import InputError

# Op groups of an ALBERT graph, used to keep parts of the model in float.
OP_GROUPS = ("embeddings", "embedding_projection", "attention", "ffn", "pooler", "classifier")


@dataclass(frozen=True)
class DynamicInt8Config:
    """int8 weights (per output channel), activations quantized at run time."""

    per_channel: bool = True
    quantize_embeddings: bool = True
    keep_float: tuple[str, ...] = ()


@dataclass(frozen=True)
class StaticInt8Config:
    """int8 weights and int8 activations with ranges calibrated on sample sentences."""

    calibration: str = "minmax"  # minmax | entropy | percentile
    samples: int = 128
    per_channel: bool = True
    keep_float: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.calibration not in ("minmax", "entropy", "percentile"):
            raise InputError(f"unknown calibration {self.calibration!r}; use minmax, entropy or percentile")


@dataclass(frozen=True)
class Float16Config:
    """float16 weights, float32 compute (half the size, near-lossless)."""


QuantConfig = DynamicInt8Config | StaticInt8Config | Float16Config

RECIPES: dict[str, QuantConfig] = {
    "dynamic_wi8_afp32": DynamicInt8Config(),
    "static_wi8_ai8": StaticInt8Config(),
    "static_wi8_ai8_entropy": StaticInt8Config(calibration="entropy"),
    "static_wi8_ai8_percentile": StaticInt8Config(calibration="percentile"),
    "weight_only_wf16": Float16Config(),
}

# The CLI's --method names map onto recipes.
METHODS = {"dynamic": "dynamic_wi8_afp32", "static": "static_wi8_ai8", "fp16": "weight_only_wf16"}


def recipe(name: str, *, samples: int | None = None, keep_float: Sequence[str] | None = None) -> QuantConfig:
    """The named recipe (or --method name), with the calibration sample count and the op groups
    kept in float changed where given."""
    if name in METHODS:
        name = METHODS[name]
    if name not in RECIPES:
        raise InputError(f"unknown quantization recipe {name!r}; choose one of {', '.join(list(METHODS) + list(RECIPES))}")
    config = RECIPES[name]
    if samples is not None and hasattr(config, "samples"):
        config = dataclasses.replace(config, samples=samples)
    if keep_float:
        if not hasattr(config, "keep_float"):
            raise InputError(f"keeping op groups in float applies to the int8 recipes, not {name}")
        config = dataclasses.replace(config, keep_float=tuple(keep_float))
    return config


def recipe_name(config: QuantConfig) -> str:
    """The recipe a config comes from; op groups kept in float are reported separately."""
    base = dataclasses.replace(config, keep_float=()) if getattr(config, "keep_float", ()) else config
    for name, value in RECIPES.items():
        if value == base:
            return name
    return type(config).__name__


__all__ = ["DynamicInt8Config", "StaticInt8Config", "Float16Config", "QuantConfig", "RECIPES", "METHODS", "recipe", "recipe_name", "OP_GROUPS"]
