"""ExecuTorch quantization: the PyTorch model is quantized before it is lowered (PT2E with
ExecuTorch's XNNPACK quantizer), so the `.pte` program carries XNNPACK's integer kernels.

- `--method dynamic` (recorded as `xnnpack_8da8w`): int8 weights per output channel, activations
  quantized per token at run time (XNNPACK's qd8 fully-connected kernels).
- `--method int4` (`xnnpack_8da4w`): 4-bit weights per output channel with the same dynamic int8
  activations (XNNPACK's qc4w kernels). XNNPACK's PT2E quantizer takes no block size, so a block
  is a whole row and `--block-size` does not apply; torchao's group-wise scheme needs widths
  divisible by the group (the tiny shape's 312 is not by 32).

The word-embedding table is a lookup, not a matrix product, and the stock runtimes carry no
quantized embedding kernel; `Int8RowEmbedding` stores it as int8 rows with one scale each and
dequantizes only the looked-up rows with plain aten ops the portable kernels run.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from edge_albert.converters.executorch import executorch_export_config, export_program, sample_row, write_program
from edge_albert.errors import InputError
from edge_albert.quantization.configs import DynamicInt8Config, Int4Config, QuantConfig, recipe_name
from edge_albert.runtimes.executorch import quiet_executorch_logs


class Int8RowEmbedding(nn.Module):
    """An embedding table stored as int8 rows, each with a float scale (symmetric, max |row| -> 127)."""

    def __init__(self, embedding: nn.Embedding) -> None:
        super().__init__()
        weight = embedding.weight.detach().float()
        scale = weight.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
        self.register_buffer("weight", torch.round(weight / scale).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(ids, self.weight).to(torch.float32) * nn.functional.embedding(ids, self.scale)


def _xnnpack_quantizer(config: DynamicInt8Config | Int4Config):
    quiet_executorch_logs()
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    if isinstance(config, Int4Config):
        scheme = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True, weight_qmin=-8, weight_qmax=7)
    else:
        scheme = get_symmetric_quantization_config(is_per_channel=config.per_channel, is_dynamic=True)
    return XNNPACKQuantizer().set_global(scheme)


def executorch_recipe(config: DynamicInt8Config | Int4Config) -> str:
    """The scheme's name as ExecuTorch calls it: 8-bit dynamic activations with 8- or 4-bit weights
    (per output channel; the embedding table in int8 rows)."""
    return "xnnpack_8da4w" if isinstance(config, Int4Config) else "xnnpack_8da8w"


def check_executorch_config(config: QuantConfig) -> None:
    """A one-line error for the recipes ExecuTorch programs do not take."""
    if not isinstance(config, (DynamicInt8Config, Int4Config)):
        raise InputError(f"ExecuTorch programs take the dynamic int8 and 4-bit recipes (8da8w, 8da4w), not {recipe_name(config)}; "
                         "use --method dynamic or --method int4")
    if isinstance(config, Int4Config) and not config.symmetric:
        raise InputError("ExecuTorch's XNNPACK 4-bit weights are symmetric; use weight_only_wi4b32_afp32")


def quantize_executorch(checkpoint: Path, output: Path, config: DynamicInt8Config | Int4Config, *, max_length: int | None = None) -> None:
    """Quantize a checkpoint with `config` and write the lowered `.pte` program to `output`."""
    check_executorch_config(config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    export = executorch_export_config(checkpoint, max_length)
    model = export.model
    # 4-bit recipes take int8 rows whatever their embedding_bits: there is no 4-bit lookup to lower to.
    embed_int8 = isinstance(config, Int4Config) or config.quantize_embeddings
    if embed_int8:
        model.albert.embeddings.word_embeddings = Int8RowEmbedding(model.albert.embeddings.word_embeddings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_pt2e(export_program(export, model).module(), _xnnpack_quantizer(config))
        prepared(*sample_row(export))  # dynamic activations: one pass records the graph, no ranges
        converted = convert_pt2e(prepared)
    program = export_program(export, converted)
    precision = "int4" if isinstance(config, Int4Config) else "int8-dynamic"
    write_program(export, program, output, force=True, precision=precision, recipe=executorch_recipe(config),
                  embedding_precision="int8" if embed_int8 else "float32")


__all__ = ["Int8RowEmbedding", "quantize_executorch", "check_executorch_config", "executorch_recipe"]
