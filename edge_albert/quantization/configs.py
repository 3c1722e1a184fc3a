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


# Block sizes both formats take: ONNX Runtime's MatMulNBits and ai-edge-quantizer's BLOCKWISE_N.
INT4_BLOCK_SIZES = (32, 64, 128, 256)
# The block size that stands for a whole row (one scale per output channel): the only 4-bit
# layout TFLite takes for widths no block tiles (the tiny shape's 312), as ai-edge-quantizer's
# dynamic_wi4c_afp32; ExecuTorch's 8da4w is always per channel; MatMulNBits has no such layout.
PER_CHANNEL = 0


@dataclass(frozen=True)
class Int4Config:
    """4-bit weights in blocks of `block_size` input features, each block with its own scale
    (and zero point when not symmetric); activations stay float. The embedding table takes
    `embedding_bits` (8: one scale for the table, as the int8 recipes; 4: blocks like the rest)."""

    block_size: int = 32  # or PER_CHANNEL
    symmetric: bool = True
    embedding_bits: int = 8
    keep_float: tuple[str, ...] = ()
    # Op groups at 8 bits (int8 weights, as the dynamic recipe) instead of 4: the accuracy-aware
    # search's fallback for the groups 4-bit rounding hurts most.
    keep_int8: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.block_size not in (*INT4_BLOCK_SIZES, PER_CHANNEL):
            raise InputError(f"block size {self.block_size} is not supported; use one of {', '.join(map(str, INT4_BLOCK_SIZES))} or channel")
        if self.embedding_bits not in (4, 8):
            raise InputError(f"embedding bits {self.embedding_bits}: use 4 or 8")


QuantConfig = DynamicInt8Config | StaticInt8Config | Float16Config | Int4Config

RECIPES: dict[str, QuantConfig] = {
    "dynamic_wi8_afp32": DynamicInt8Config(),
    "static_wi8_ai8": StaticInt8Config(),
    "static_wi8_ai8_entropy": StaticInt8Config(calibration="entropy"),
    "static_wi8_ai8_percentile": StaticInt8Config(calibration="percentile"),
    "weight_only_wf16": Float16Config(),
    # 4-bit blocks of 32 (symmetric), the embedding table at 8 bits; the _asym recipe adds a
    # zero point per block (ONNX only), the _e4 recipe puts the embedding table in 4-bit blocks too.
    "weight_only_wi4b32_afp32": Int4Config(),
    "weight_only_wi4b32_asym_afp32": Int4Config(symmetric=False),
    "weight_only_wi4b32_e4_afp32": Int4Config(embedding_bits=4),
    # one scale per output channel (TFLite and ExecuTorch)
    "weight_only_wi4c_afp32": Int4Config(block_size=PER_CHANNEL),
}

# The CLI's --method names map onto recipes.
METHODS = {"dynamic": "dynamic_wi8_afp32", "static": "static_wi8_ai8", "fp16": "weight_only_wf16", "int4": "weight_only_wi4b32_afp32"}


def recipe(name: str, *, samples: int | None = None, keep_float: Sequence[str] | None = None, block_size: int | None = None,
           embedding_bits: int | None = None, keep_int8: Sequence[str] | None = None) -> QuantConfig:
    """The named recipe (or --method name), with the calibration sample count, the op groups
    kept in float (or, for 4-bit recipes, at 8 bits), and the 4-bit block size and embedding bits
    changed where given."""
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
    if keep_int8:
        if not isinstance(config, Int4Config):
            raise InputError(f"keeping op groups at 8 bits applies to the 4-bit recipes, not {name}")
        unknown = sorted(set(keep_int8) - set(OP_GROUPS))
        if unknown:
            raise InputError(f"unknown op group {', '.join(unknown)}; choose from {', '.join(OP_GROUPS)}")
        config = dataclasses.replace(config, keep_int8=tuple(keep_int8))
    four_bit = {k: v for k, v in {"block_size": block_size, "embedding_bits": embedding_bits}.items() if v is not None}
    if four_bit:
        if not isinstance(config, Int4Config):
            raise InputError(f"--block-size and --embedding-bits apply to the 4-bit recipes, not {name}")
        config = dataclasses.replace(config, **four_bit)
    return config


def recipe_name(config: QuantConfig) -> str:
    """The recipe a config comes from; op groups kept in float are reported separately."""
    base = dataclasses.replace(config, keep_float=()) if getattr(config, "keep_float", ()) else config
    if isinstance(base, Int4Config):
        # every block size and embedding width has a name, registered or not
        blocks = "c" if base.block_size == PER_CHANNEL else f"b{base.block_size}"
        return f"weight_only_wi4{blocks}{'' if base.symmetric else '_asym'}{'_e4' if base.embedding_bits == 4 else ''}_afp32"
    for name, value in RECIPES.items():
        if value == base:
            return name
    return type(config).__name__


__all__ = ["DynamicInt8Config", "StaticInt8Config", "Float16Config", "Int4Config", "INT4_BLOCK_SIZES", "PER_CHANNEL", "QuantConfig", "RECIPES", "METHODS", "recipe", "recipe_name", "OP_GROUPS"]
