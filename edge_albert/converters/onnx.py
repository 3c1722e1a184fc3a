"""ONNX export: torch.onnx (dynamo exporter), opset 20, int64 inputs with dynamic batch and
sequence axes, output `logits`.

Opset 20 because it has a `Gelu` op: at opset 18 the exporter spells ALBERT's tanh GELU out in
eight elementwise nodes over the FFN's widest tensor, which ONNX Runtime does not fuse back; the
one node made ALBERT-base int8 9% faster on the CPU provider (docs/converters.md).

The exporter reads each weight of ALBERT's shared layer through a `Transpose` node (the legacy
exporter uses `Identity`), so every re-use of a weight is an op output rather than an
initializer, and ONNX quantizers skip all but the first use. We fold such initializer-only nodes
into one initializer per (weight, transform), which every use then reads directly: the file
stores each shared weight once and the quantizers see every MatMul's weight.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from edge_albert.converters.export_config import AlbertExportConfig, ExportResult
from edge_albert.errors import InputError
from edge_albert.staging import staged_file

OPSET = 20
# 18 is the oldest the dynamo exporter writes natively; older ONNX Runtimes (before opset 20) load its files.
SUPPORTED_OPSETS = (18, 19, 20, 21)


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
    drop_unused_initializers(model)
    return removed


def drop_unused_initializers(model: onnx.ModelProto) -> int:
    """Remove initializers no node reads (ONNX Runtime warns about each one at every load)."""
    graph = model.graph
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    unused = [i for i in graph.initializer if i.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    return len(unused)


def canonicalize_attention_mask(model: onnx.ModelProto) -> bool:
    """Rewrite the mask subgraph into the form onnxruntime's attention fusion matches.

    The exporter emits `Sub(1, Unsqueeze(Cast(attention_mask), axes=[1, 2]))`; ORT's fusion looks
    for `Sub(1, Cast(Unsqueeze(Unsqueeze(attention_mask))))` and, failing to find it, fuses no
    Attention node at all. Same values, other node order. Returns whether it rewrote anything.
    """
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    inits = {i.name: i for i in graph.initializer}
    for sub in [n for n in graph.node if n.op_type == "Sub"]:
        unsqueeze = producer.get(sub.input[1])
        if unsqueeze is None or unsqueeze.op_type != "Unsqueeze" or unsqueeze.input[1] not in inits:
            continue
        cast = producer.get(unsqueeze.input[0])
        if cast is None or cast.op_type != "Cast" or cast.input[0] != "attention_mask":
            continue
        if numpy_helper.to_array(inits[unsqueeze.input[1]]).tolist() != [1, 2]:
            continue
        to = next(a.i for a in cast.attribute if a.name == "to")
        graph.initializer.extend([numpy_helper.from_array(np.array([1], np.int64), "mask_axis_1"),
                                  numpy_helper.from_array(np.array([2], np.int64), "mask_axis_2")])
        nodes = [
            onnx.helper.make_node("Unsqueeze", ["attention_mask", "mask_axis_1"], ["mask_unsqueezed_1"], name="mask_unsqueeze_1"),
            onnx.helper.make_node("Unsqueeze", ["mask_unsqueezed_1", "mask_axis_2"], ["mask_unsqueezed_2"], name="mask_unsqueeze_2"),
            onnx.helper.make_node("Cast", ["mask_unsqueezed_2"], ["mask_float"], to=to, name="mask_cast"),
        ]
        sub.input[1] = "mask_float"
        position = list(graph.node).index(cast)
        # The cast mask may feed more than the attention (a sentence embedding's mean pooling): keep what others read.
        readers = [name for n in graph.node for name in n.input]
        if unsqueeze.output[0] not in readers:
            graph.node.remove(unsqueeze)
            if cast.output[0] not in readers:
                graph.node.remove(cast)
        for k, node in enumerate(nodes):
            graph.node.insert(position + k, node)
        drop_unused_initializers(model)
        return True
    return False


def mark_tanh_gelu_for_onnxruntime(model: onnx.ModelProto) -> int:
    """Turn `Gelu(approximate="tanh")` into ORT's `com.microsoft.FastGelu`; returns how many.

    onnxruntime.transformers' bias fusion reads every node named Gelu as the erf GELU and fuses
    it with its bias Add into `BiasGelu`, dropping `approximate`: an ALBERT (tanh GELU) would run
    the erf GELU. `FastGelu` is ORT's tanh GELU, which the same fusion joins with its bias
    correctly.
    """
    count = 0
    for node in model.graph.node:
        approximate = next((a.s for a in node.attribute if a.name == "approximate"), b"none")
        if node.op_type == "Gelu" and node.domain in ("", "ai.onnx") and approximate == b"tanh":
            node.op_type, node.domain = "FastGelu", "com.microsoft"
            del node.attribute[:]
            count += 1
    if count and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return count


def optimize_for_onnxruntime(model: onnx.ModelProto, num_heads: int, hidden_size: int) -> tuple[onnx.ModelProto, dict[str, int]]:
    """onnxruntime.transformers' fusions (Attention, SkipLayerNormalization, FastGelu) on a model in
    memory; the result uses com.microsoft ops and runs on ONNX Runtime only. Returns it and the
    fused-op counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    mark_tanh_gelu_for_onnxruntime(model)
    optimized = optimize_model(model, model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0)
    share_identical_initializers(optimized.model)
    return optimized.model, {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}


def share_identical_initializers(model: onnx.ModelProto) -> int:
    """Make nodes read one initializer where several hold the same bytes; returns how many went.

    ORT's Attention fusion writes a packed QKV weight and bias for every fused node, so ALBERT's
    shared layer came back as 12 copies (ALBERT-base: 124.7 MB instead of 46.8 MB).
    """
    import hashlib

    first: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    kept = []
    for init in model.graph.initializer:
        key = (init.data_type, tuple(init.dims), hashlib.sha256(init.raw_data).hexdigest()) if init.raw_data else None
        if key is not None and key in first:
            rename[init.name] = first[key]
            continue
        if key is not None:
            first[key] = init.name
        kept.append(init)
    if rename:
        for node in model.graph.node:
            for i, name in enumerate(node.input):
                if name in rename:
                    node.input[i] = rename[name]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
    return len(rename)


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


def _torch_export(export: AlbertExportConfig, path: Path, opset: int, fixed_length: int | None = None) -> None:
    limits = {"batch": 4096, "choices": 64, "sequence": export.model.config.max_position_embeddings}
    dims = {axis: torch.export.Dim(name, max=limits[name]) for axis, name in export.task.input_axes.items()}
    shapes = None if fixed_length else {name: dict(dims) for name in export.inputs}
    sample = export.sample_inputs(batch=1, length=fixed_length) if fixed_length else export.sample_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            export.model,
            sample,
            input_names=list(export.inputs),
            output_names=list(export.outputs),
            opset_version=opset,
            dynamo=True,
            dynamic_shapes=shapes,
            external_data=False,
            verbose=False,
        )
    program.save(str(path))


def name_transposed_weights(model: onnx.ModelProto, module: torch.nn.Module) -> int:
    """Give the weights the exporter pre-transposed under generated names (`val_21`) the name of
    their parameter plus `__T`, as our own folding names them: the quantizers find op groups
    (embedding projection, classifier) by parameter name. Returns how many were renamed."""
    by_shape: dict[tuple[int, ...], list[tuple[str, np.ndarray]]] = {}
    for name, parameter in module.named_parameters():
        if parameter.dim() == 2:
            by_shape.setdefault(tuple(parameter.shape[::-1]), []).append((name, parameter.detach().numpy().T))
    rename: dict[str, str] = {}
    for init in model.graph.initializer:
        if not init.name.startswith("val_") or len(init.dims) != 2:
            continue
        array = numpy_helper.to_array(init)
        match = next((name for name, value in by_shape.get(tuple(init.dims), []) if np.array_equal(array, value)), None)
        if match is not None and f"{match}__T" not in rename.values():
            rename[init.name] = f"{match}__T"
            init.name = rename[init.name]
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    return len(rename)


def export_onnx(
    checkpoint: Path,
    output: Path,
    *,
    max_length: int | None = None,
    opset: int = OPSET,
    optimize: bool = False,
    fixed_length: int | None = None,
    force: bool = False,
) -> ExportResult:
    """Export a classifier checkpoint to ONNX; the file is checked and renamed into place at the end.

    `optimize` also applies ONNX Runtime's transformer fusions (an ORT-only graph). Pruned models
    (heads differing per layer) are not optimized: the fused Attention op takes one head count.
    `fixed_length` exports batch 1 at exactly that many tokens in operators NNAPI and CoreML
    take (converters/accelerator_graph.py); the runtime pads each text to it.
    """
    from edge_albert.model.factory import parameter_count

    if opset not in SUPPORTED_OPSETS:
        raise InputError(f"opset {opset} is not supported; use one of {', '.join(map(str, SUPPORTED_OPSETS))} (default {OPSET})")
    export = AlbertExportConfig.from_checkpoint(checkpoint, None if fixed_length else max_length)
    output = Path(output)
    accelerator_ops: list[str] = []
    if fixed_length is not None:
        from edge_albert.converters.accelerator_graph import use_accelerator_operators

        if len(export.task.input_axes) != 2:
            raise InputError(f"--fixed-length takes [batch, length] inputs; {export.task.name} models export dynamic only", checkpoint)
        if optimize:
            raise InputError("--fixed-length and --optimize exclude each other: the fusions are ONNX Runtime CPU operators no accelerator takes")
        if not 2 <= fixed_length <= export.model.config.max_position_embeddings:
            raise InputError(f"--fixed-length must be 2..{export.model.config.max_position_embeddings} (the model's positions)", checkpoint)
        export.max_length = fixed_length
        accelerator_ops = use_accelerator_operators(export.model)
    with staged_file(output, force=force) as stage:
        try:
            _torch_export(export, stage, opset, fixed_length)
        except Exception as exc:  # the exporter raises many types; report one line
            raise InputError(f"ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})", checkpoint) from None
        model = onnx.load(str(stage))
        fold_initializer_transforms(model)
        name_transposed_weights(model, export.model)
        canonicalize_attention_mask(model)
        strip_debug_info(model)
        metadata = export.metadata(format="onnx", opset=opset, input_dtype="int64")
        if fixed_length is not None:
            metadata.update(fixed_shape=[1, fixed_length], accelerator_operators=accelerator_ops)
        if optimize:
            cfg = export.model.config
            if cfg.pruned_heads:
                raise InputError("--optimize cannot fuse attention of a model with pruned heads; export without it", checkpoint)
            model, metadata["ort_fusions"] = optimize_for_onnxruntime(model, cfg.num_attention_heads, cfg.hidden_size)
        set_metadata(model, metadata)
        if not optimize:  # the checker does not know com.microsoft ops
            onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(stage))
    return ExportResult(output, "onnx", output.stat().st_size, parameter_count(export.model), metadata)


__all__ = ["export_onnx", "fold_initializer_transforms", "drop_unused_initializers", "mark_tanh_gelu_for_onnxruntime", "set_metadata", "OPSET", "SUPPORTED_OPSETS"]
