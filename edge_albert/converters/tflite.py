"""TFLite export through litert-torch, straight from PyTorch (no TensorFlow install).

Why this path (docs/converters.md has the measurements): litert-torch installs beside
torch 2.13 without pulling another torch or TensorFlow, and converts ALBERT with max abs logit
diff ~1e-7. Its `dynamic_shapes` did not work for ALBERT, so instead of one dynamic-length graph
we put one fixed-shape signature per length bucket (`seq32`, `seq64`, `seq128`, batch 1) in
one file. The buckets share the weights, so the file is barely larger than a single signature,
and the runtime runs each sentence in the smallest bucket that holds it. litert-torch makes the
int64 inputs int32.

A multiple-choice model scores each (question, choice) pair on its own before a softmax across
the choices, so its signatures take one pair, [1, length], and give its score, `logits` [1, 1];
the runtime runs each choice and puts the scores side by side. One file then serves any number of
choices (ONNX keeps a [batch, choices, length] input).

Our metadata (labels, max length, buckets, tokenizer sha256, version) is stored as JSON in the
flatbuffer's `metadata` list under the name `edge_albert`.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from edge_albert.converters.export_config import DEFAULT_BUCKETS, AlbertExportConfig, ExportResult
from edge_albert.errors import InputError
from edge_albert.runtimes.litert import METADATA_NAME
from edge_albert.staging import staged_file


class _NamedOutputs(torch.nn.Module):
    """Gives the TFLite signature named inputs and the task's named outputs (`logits`, or
    `start_logits` and `end_logits`)."""

    def __init__(self, model: torch.nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.names = tuple(names)

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids, attention_mask, token_type_ids)
        return dict(zip(self.names, out if isinstance(out, tuple) else (out,)))


class _OneChoice(torch.nn.Module):
    """A multiple-choice model over one (question, choice) pair: [1, length] in, its score
    `logits` [1, 1] out (the model's choices axis holds the one choice)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return {"logits": self.model(input_ids[:, None], attention_mask[:, None], token_type_ids[:, None])}


def compact_tensor_name(name: str) -> str:
    """A short tensor name from litert-torch's module path.

    litert-torch names each tensor by the full module path, each step written as
    "<qualified class>_<attribute>" and fused ops joined with ";;"; on ALBERT-base that is 290 KB
    of names per signature. Keeping only the attribute names ("model/albert/encoder/0/0/ffn;28")
    keeps the path readable at a tenth of the size.
    """
    parts = []
    for fused in name.split(";;"):
        steps = []
        for step in fused.split("/"):
            head = step.split(";", 1)[0]
            if "." in head and "_" in step[head.rfind(".") + 1:]:
                step = step[head.rfind(".") + 1:].split("_", 1)[1]  # "pkg.mod.Class_attr" -> "attr"
            steps.append(step)
        short = "/".join(steps)
        if short not in parts:
            parts.append(short)
    return ";;".join(parts)


def finish_tflite(flatbuffer: bytes, metadata: dict) -> bytes:
    """Return `flatbuffer` ready to ship: buffers inline, tensor names compacted, and `metadata`
    stored as JSON under our name (replacing an old entry).

    Buffers that a writer placed after the flatbuffer (offset/size, as ai-edge-quantizer does)
    are brought inline first: repacking the object tree would otherwise drop their bytes.
    Signature input/output tensors keep their names.
    """
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    for buffer in model.buffers or []:
        if buffer.offset and buffer.offset > 1:
            buffer.data = np.frombuffer(flatbuffer, dtype=np.uint8, count=buffer.size, offset=buffer.offset).copy()
            buffer.offset, buffer.size = 0, 0
    taken: set[str] = set()  # ai-edge-quantizer requires names unique across the model
    for subgraph in model.subgraphs or []:
        for index, tensor in enumerate(subgraph.tensors or []):
            if tensor.name:
                name = compact_tensor_name(tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name)
                if name in taken:
                    name = f"{name}#{index}"
                    while name in taken:
                        name += "'"
                taken.add(name)
                tensor.name = name
    entry_buffer = schema.BufferT()
    entry_buffer.data = np.frombuffer(json.dumps(metadata, sort_keys=True).encode("utf-8"), dtype=np.uint8).copy()
    model.buffers.append(entry_buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    old = [m for m in (model.metadata or []) if (m.name.decode() if isinstance(m.name, bytes) else m.name) != METADATA_NAME]
    model.metadata = old + [entry]
    builder = flatbuffers.Builder(len(flatbuffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _quiet_converter() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["LITERT_TORCH_SHOW_PROGRESS"] = "n"
    os.environ["LITERT_TORCH_SILENCE_TORCH_LOGS"] = "y"
    logging.getLogger().setLevel(logging.ERROR)


def convert_to_flatbuffer(export: AlbertExportConfig, buckets: Sequence[int], stage: Path) -> bytes:
    """The float32 .tflite bytes of the model, one signature per length bucket."""
    import litert_torch

    _quiet_converter()
    module = (_OneChoice(export.model) if export.task.has_choices else _NamedOutputs(export.model, export.outputs)).eval()
    converter = None
    for length in sorted(buckets):
        kwargs = {
            "input_ids": torch.full((1, length), 5, dtype=torch.long),
            "attention_mask": torch.ones((1, length), dtype=torch.long),
            "token_type_ids": torch.zeros((1, length), dtype=torch.long),
        }
        name = f"seq{length}"
        converter = litert_torch.signature(name, module, sample_kwargs=kwargs) if converter is None else converter.signature(name, module, sample_kwargs=kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edge_model = converter.convert()
    # litert-torch exports to a path only: the stage itself takes the raw flatbuffer (a killed
    # run leaves nothing in the system temp folder, only a stage the next run sweeps).
    edge_model.export(str(stage))
    return stage.read_bytes()


def export_tflite(
    checkpoint: Path,
    output: Path,
    *,
    buckets: Sequence[int] = DEFAULT_BUCKETS,
    force: bool = False,
) -> ExportResult:
    """Export a checkpoint (any task) to a float32 .tflite with one signature per length bucket."""
    from edge_albert.model.factory import parameter_count

    buckets = sorted(set(int(b) for b in buckets))
    if not buckets:
        raise InputError("give at least one length bucket")
    export = AlbertExportConfig.from_checkpoint(checkpoint, max(buckets))
    if "tflite" not in export.task.formats:
        raise InputError(f"{export.task.name} models export to {', '.join(export.task.formats)} only", checkpoint)
    if buckets[0] < 3:
        raise InputError("length buckets must be at least 3 tokens ([CLS] x [SEP])")
    output = Path(output)
    with staged_file(output, force=force) as stage:
        try:
            flatbuffer = convert_to_flatbuffer(export, buckets, stage)
        except Exception as exc:  # litert-torch raises many types; report one line
            raise InputError(f"TFLite conversion failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})", checkpoint) from None
        metadata = export.metadata(format="tflite", buckets=buckets, input_dtype="int32", precision="float32",
                                   # multiple choice: each run scores one (question, choice) pair
                                   **({"choice_per_run": True} if export.task.has_choices else {}))
        stage.write_bytes(finish_tflite(flatbuffer, metadata))
    return ExportResult(output, "tflite", output.stat().st_size, parameter_count(export.model), metadata)


__all__ = ["export_tflite", "finish_tflite", "compact_tensor_name", "convert_to_flatbuffer"]
