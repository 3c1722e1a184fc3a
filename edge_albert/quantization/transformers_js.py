"""A model folder that transformers.js (`@huggingface/transformers`) loads with `local_files_only`:

    DIR/config.json              the checkpoint's Hugging Face config (model_type albert, labels)
    DIR/tokenizer.json           ALBERT's tokenizer in the `tokenizers` format, made by transformers'
                                 own converter from spiece.model (checked against ours)
    DIR/tokenizer_config.json    its settings (lower case, accents stripped, special pieces)
    DIR/onnx/model.onnx          fp32 (transformers.js `dtype: "fp32"`)
    DIR/onnx/model_quantized.onnx  our int8, the shared layer stored once (`dtype: "q8"`)

transformers.js runs ALBERT for text classification, question answering and fill-mask; the
other tasks have no ALBERT class there and are refused. Both ONNX files are checked against
PyTorch by `convert` and `quantize` before the folder is renamed into place.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from edge_albert.converters.convert import convert
from edge_albert.converters.onnx import OPSET
from edge_albert.errors import InputError
from edge_albert.model.checkpoint import CONFIG_NAME, SPIECE_NAME
from edge_albert.quantization.api import quantize
from edge_albert.quantization.configs import recipe
from edge_albert.staging import staged_directory
from edge_albert.tasks import checkpoint_task
from edge_albert.tokenization import write_tokenizer_json

# The tasks transformers.js 4.x has ALBERT classes for; its pipelines carry the same names.
JS_TASKS = ("text-classification", "question-answering", "fill-mask")
MODEL_FILE = "onnx/model.onnx"
QUANTIZED_FILE = "onnx/model_quantized.onnx"


@dataclass
class TransformersJsFolder:
    directory: str
    task: str  # also the name of the transformers.js pipeline that runs it
    files: dict[str, int]  # relative path -> bytes


def export_transformers_js(checkpoint: Path, output: Path, *, quantized: bool = True, opset: int = OPSET, force: bool = False) -> TransformersJsFolder:
    """Write the transformers.js folder of `checkpoint` (fp32 and, with `quantized`, int8)."""
    checkpoint = Path(checkpoint)
    task = checkpoint_task(checkpoint)
    if task.name not in JS_TASKS:
        raise InputError(f"transformers.js has no ALBERT model for {task.name} (it runs {', '.join(JS_TASKS)}); "
                         f"use `convert --to onnx` and onnxruntime-web directly", checkpoint)
    config = json.loads((checkpoint / CONFIG_NAME).read_text())
    with staged_directory(Path(output), force=force) as stage:
        (stage / "onnx").mkdir()
        convert(checkpoint, stage / MODEL_FILE, "onnx", opset=opset)
        if quantized:
            quantize(checkpoint, stage / QUANTIZED_FILE, recipe("dynamic_wi8_afp32"), to="onnx", opset=opset, float_model=stage / MODEL_FILE)
        shutil.copyfile(checkpoint / CONFIG_NAME, stage / CONFIG_NAME)
        write_tokenizer_json(checkpoint / SPIECE_NAME, stage, int(config.get("max_position_embeddings", 512)))
        files = {str(p.relative_to(stage)): p.stat().st_size for p in sorted(stage.rglob("*")) if p.is_file()}
    return TransformersJsFolder(str(output), task.name, files)


__all__ = ["export_transformers_js", "TransformersJsFolder", "JS_TASKS", "MODEL_FILE", "QUANTIZED_FILE"]
