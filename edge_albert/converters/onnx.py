"""ONNX export: torch.onnx (dynamo exporter), opset 18, int64 inputs with dynamic batch and
sequence axes, output `logits`.

The exporter reads each weight of ALBERT's shared layer through a `Transpose` node (the legacy
exporter uses `Identity`), so every re-use of a weight is an op output rather than an
initializer, and ONNX quantizers skip all but the first use. We fold such initializer-only nodes
into one initializer per (weight, transform), which every use then reads directly: the file
stores each shared weight once and the quantizers see every MatMul's weight.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from edge_albert.converters.export_config import AlbertExportConfig
from edge_albert.errors import InputError
from edge_albert.staging import staged_file

OPSET = 18


@dataclass
class ExportResult:
    path: Path
    format: str
    size_bytes: int
    parameters: int
    metadata: dict


def fold_initializer_transforms(model: onnx.ModelProto) -> int:
    """Replace Transpose/Identity nodes whose only input is an initializer by an initializer.

    Identical transforms of one weight share one folded initializer. Returns the nodes removed.
    """
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    folded: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    keep = []
    removed = 0
    for node in graph.node:
        if node.op_type in ("Transpose", "Identity") and len(node.input) == 1 and node.input[0] in inits:
            src = node.input[0]
            perm = tuple(next((a.ints for a in node.attribute if a.name == "perm"), ())) if node.op_type == "Transpose" else None
            key = (src, node.op_type, perm)
            if key not in folded:
                array = numpy_helper.to_array(inits[src])
                if node.op_type == "Transpose":
                    array = np.ascontiguousarray(np.transpose(array, perm or None))
                name = src if node.op_type == "Identity" else f"{src}__T"
                if name not in inits:
                    tensor = numpy_helper.from_array(array, name)
                    graph.initializer.append(tensor)
                    inits[name] = tensor
                folded[key] = name
            rename[node.output[0]] = folded[key]
            removed += 1
            continue
        keep.append(node)
    for node in keep:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    for out in graph.output:
        if out.name in rename:  # never happens for our graphs; keep outputs intact
            raise RuntimeError(f"graph output {out.name} is a folded constant")
    del graph.node[:]
    graph.node.extend(keep)
    used = {name for node in graph.node for name in node.input}
    unused = [i for i in graph.initializer if i.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    return removed


def strip_debug_info(model: onnx.ModelProto) -> None:
    """Drop the exporter's per-node stack traces and module paths: ~5% of a small model's file."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for function in model.functions:
        for node in function.node:
            del node.metadata_props[:]


def set_metadata(model: onnx.ModelProto, metadata: dict) -> None:
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)


def _torch_export(export: AlbertExportConfig, path: Path, opset: int) -> None:
    batch, seq = torch.export.Dim("batch", max=4096), torch.export.Dim("sequence", max=export.model.config.max_position_embeddings)
    shapes = {name: {0: batch, 1: seq} for name in export.inputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            export.model,
            export.sample_inputs(),
            input_names=list(export.inputs),
            output_names=list(export.outputs),
            opset_version=opset,
            dynamo=True,
            dynamic_shapes=shapes,
            external_data=False,
            verbose=False,
        )
    program.save(str(path))


def export_onnx(
    checkpoint: Path,
    output: Path,
    *,
    max_length: int | None = None,
    opset: int = OPSET,
    force: bool = False,
) -> ExportResult:
    """Export a classifier checkpoint to ONNX; the file is checked and renamed into place at the end."""
    from edge_albert.model.factory import parameter_count

    export = AlbertExportConfig.from_checkpoint(checkpoint, max_length)
    output = Path(output)
    with staged_file(output, force=force) as stage:
        try:
            _torch_export(export, stage, opset)
        except Exception as exc:  # the exporter raises many types; report one line
            raise InputError(f"ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})", checkpoint) from None
        model = onnx.load(str(stage))
        fold_initializer_transforms(model)
        strip_debug_info(model)
        metadata = export.metadata(format="onnx", opset=opset, input_dtype="int64")
        set_metadata(model, metadata)
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(stage))
    return ExportResult(output, "onnx", output.stat().st_size, parameter_count(export.model), metadata)


__all__ = ["export_onnx", "fold_initializer_transforms", "set_metadata", "ExportResult", "OPSET"]
