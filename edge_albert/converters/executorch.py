"""ExecuTorch export: `torch.export` with a dynamic sequence axis, lowered to the XNNPACK backend
and written as a `.pte` program.

- Batch 1, sequence length 2..max_length: memory planning sizes the arena for the largest input,
  so a dynamic batch would make every app pay for the largest batch (see runtimes/executorch.py).
- XNNPACK takes the matrix products, attention and activations; layer norm, the embedding lookups
  and a few copies run on ExecuTorch's portable kernels, which the stock runtimes carry.
- The shared layer stays shared: the delegate stores each weight once, so the file is the size
  of the unique parameters (tiny: 6.40 MB for 6.33 MB of float32 parameters).
- Our metadata is a constant method, `edge_albert_metadata`, returning JSON, with the arena size
  the program plans (`planned_memory_bytes`), so an app knows its memory before loading it.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import torch

from edge_albert.converters.export_config import AlbertExportConfig, ExportResult
from edge_albert.errors import InputError
from edge_albert.runtimes.executorch import INSTALL_HINT, METADATA_METHOD, MIN_LENGTH, quiet_executorch_logs
from edge_albert.staging import staged_file


def sample_row(export: AlbertExportConfig, length: int = 16) -> tuple[torch.Tensor, ...]:
    """One padded row (batch 1) of the export's inputs, its last quarter masked."""
    ids, mask, types = (t[:1] for t in export.sample_inputs(batch=2, length=length))
    mask = mask.clone()
    mask[0, length - length // 4:] = 0
    return ids, mask, types


TANH_GELU = ("gelu_new", "gelu_pytorch_tanh")


def tanh_gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU's tanh approximation spelled out. ExecuTorch 1.5's XNNPACK lowering drops aten.gelu's
    approximate="tanh" and runs the exact (erf) GELU instead (fixed upstream by
    pytorch/executorch#22851, for later runtimes): up to 5e-4 per activation, 1e-3 on a trained
    model's logits. tanh, mul and add lower to XNNPACK as they are."""
    return 0.5 * x * (1.0 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))


def with_spelled_out_gelu(module: torch.nn.Module) -> torch.nn.Module:
    """`module`, or a copy whose tanh-GELU activations are `tanh_gelu`, for the XNNPACK lowering."""
    config = getattr(module, "config", None)
    if getattr(config, "hidden_act", None) not in TANH_GELU:
        return module  # exact GELU, ReLU, or a traced graph (spelled out when it was traced)
    module = copy.deepcopy(module)
    for sub in module.modules():
        if callable(getattr(sub, "activation", None)):
            sub.activation = tanh_gelu
    return module


def export_program(export: AlbertExportConfig, module: torch.nn.Module | None = None) -> torch.export.ExportedProgram:
    """`module` (default: the export's model) traced by torch.export at batch 1 with a dynamic
    sequence axis of MIN_LENGTH..max_length tokens."""
    sequence = torch.export.Dim("sequence", min=MIN_LENGTH, max=export.max_length)
    shapes = {name: {1: sequence} for name in export.inputs}
    module = with_spelled_out_gelu(module if module is not None else export.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(module, sample_row(export), dynamic_shapes=shapes)


def _import_executorch():
    quiet_executorch_logs()
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower
    except ImportError:
        raise InputError(f"exporting to ExecuTorch needs it installed: {INSTALL_HINT}") from None
    return XnnpackPartitioner, EdgeCompileConfig, to_edge_transform_and_lower


def lower_program(program: torch.export.ExportedProgram, metadata: dict) -> tuple[bytes, int]:
    """The `.pte` bytes of `program` lowered to XNNPACK with `metadata` as a constant method, and
    the bytes of activation memory the program plans."""
    XnnpackPartitioner, EdgeCompileConfig, to_edge_transform_and_lower = _import_executorch()
    from executorch.exir.program._program import ExecutorchProgramManager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The IR validity check re-verifies every pass's output; it made the lowering 1.5x slower
        # (tiny: 59 s instead of 39 s) and torch.export has verified the graph already.
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()],
                                           compile_config=EdgeCompileConfig(_check_ir_validity=False),
                                           constant_methods={METADATA_METHOD: "{}"})
        manager = edge.to_executorch()
        planned = _planned_bytes(manager)
        # The planned size belongs in the metadata, which is itself part of the program: emit the
        # planned programs again with the final JSON (emission only; weights and plan unchanged).
        final = json.dumps(dict(metadata, planned_memory_bytes=planned), sort_keys=True)
        manager = ExecutorchProgramManager(manager._execution_programs, {METADATA_METHOD: final}, None, manager._named_data)
    return manager.buffer, planned


def _planned_bytes(manager) -> int:
    plan = next(p for p in manager.executorch_program.execution_plan if p.name == "forward")
    return int(sum(plan.non_const_buffer_sizes))


def write_program(export: AlbertExportConfig, program: torch.export.ExportedProgram, output: Path, *, force: bool = False,
                  **metadata) -> ExportResult:
    """Lower `program` (the export's model, possibly quantized) and write it to `output` (staged)."""
    from edge_albert.model.factory import parameter_count

    output = Path(output)
    meta = export.metadata(format="executorch", input_dtype="int64", delegate="xnnpack", max_batch=1, **metadata)
    with staged_file(output, force=force) as stage:
        try:
            data, planned = lower_program(program, meta)
        except InputError:
            raise
        except Exception as exc:  # the lowering raises many types; report one line
            raise InputError(f"ExecuTorch lowering failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})", export.checkpoint) from None
        stage.write_bytes(data)
    return ExportResult(output, "executorch", output.stat().st_size, parameter_count(export.model), dict(meta, planned_memory_bytes=planned))


def executorch_export_config(checkpoint: Path, max_length: int | None = None) -> AlbertExportConfig:
    """The export of a checkpoint whose task ExecuTorch programs take (a one-line error otherwise)."""
    export = AlbertExportConfig.from_checkpoint(checkpoint, max_length)
    if "executorch" not in export.task.formats:
        raise InputError(f"{export.task.name} models export to {', '.join(export.task.formats)} only", checkpoint)
    return export


def export_executorch(checkpoint: Path, output: Path, *, max_length: int | None = None, force: bool = False) -> ExportResult:
    """Export a checkpoint to a float32 `.pte` program (XNNPACK, dynamic length up to `max_length`)."""
    export = executorch_export_config(checkpoint, max_length)
    _import_executorch()  # before the trace: a missing install is one line, not a minute later
    program = export_program(export)
    return write_program(export, program, output, force=force, precision="float32")


__all__ = ["export_executorch", "export_program", "tanh_gelu", "with_spelled_out_gelu", "executorch_export_config", "lower_program", "sample_row", "write_program"]
