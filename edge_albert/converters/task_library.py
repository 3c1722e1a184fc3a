"""TFLite for the TFLite Task Library's BertQuestionAnswerer (Android, iOS, Python).

The Task Library's question answerer takes a model with one subgraph, three int32 inputs [1, N]
and two float outputs [1, N], all found by the names in its TFLite Model Metadata (`ids`, `mask`,
`segment_ids`; `start_logits`, `end_logits`), and a tokenizer in the metadata's input process
units: for ALBERT the SentencePiece model, packed into the file. So this export is our TFLite with
a single length bucket of 384 tokens (the only length the Task Library fills), plus that metadata written
with tflite-support's own metadata writer classes (`BertInputTensorsMd`,
`SentencePieceTokenizerMd`), which run in their own cached venv (tflite-support 0.4.4 needs numpy <
2 and protobuf < 4). Our `edge_albert` metadata entry stays. Checked by running the Task Library's
BertQuestionAnswerer on the file (tests).
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_albert.converters.export_config import ExportResult
from edge_albert.converters.tflite import export_tflite
from edge_albert.errors import InputError
from edge_albert.isolated_env import ensure_venv, run_in_venv
from edge_albert.model.checkpoint import SPIECE_NAME
from edge_albert.staging import scratch_directory, staged_file
from edge_albert.tasks import checkpoint_task

TASK_LIBRARY_REQUIREMENTS = ["tflite-support==0.4.4", "numpy<2"]
# tflite-support 0.4.4's BertQuestionAnswerer fills this many ids, whatever the model's input holds:
# a 128-token file fails every question with "Bad StatusOr access" (measured).
TASK_LIBRARY_LENGTH = 384

# The Task Library finds the outputs by these metadata names, whatever order the subgraph has them in.
QA_WRITER = r"""
import json, sys
from tensorflow_lite_support.metadata.python.metadata_writers import metadata_info, metadata_writer
src, spiece, prefix, outputs, out = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
buffer = bytearray(open(src, "rb").read())
inputs = metadata_info.BertInputTensorsMd(buffer, prefix + "input_ids", prefix + "attention_mask", prefix + "token_type_ids",
                                          tokenizer_md=metadata_info.SentencePieceTokenizerMd(spiece))
described = {"start_logits": "logit of each token being the answer's first", "end_logits": "logit of each token being the answer's last"}
general = metadata_info.GeneralMd(name="ALBERT question answerer", description="edge-albert extractive question answering")
writer = metadata_writer.MetadataWriter.create_from_metadata(
    buffer, model_metadata=general.create_metadata(), input_metadata=inputs.create_input_tesnor_metadata(),
    output_metadata=[metadata_info.TensorMd(name=name, description=described[name]).create_metadata() for name in outputs],
    associated_files=inputs.get_tokenizer_associated_files(), input_process_units=inputs.create_input_process_unit_metadata())
open(out, "wb").write(writer.populate())
"""


def task_library_python() -> Path:
    return ensure_venv("tflite-support", TASK_LIBRARY_REQUIREMENTS, "tflite_support.task.text")


def _output_names_in_subgraph_order(path: Path) -> list[str]:
    """The signature's output names in the order of the subgraph's output tensors (the order the
    metadata's output list must follow)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    (signature,) = interpreter.get_signature_list()
    by_index = {details["index"]: name for name, details in interpreter.get_signature_runner(signature).get_output_details().items()}
    return [by_index[d["index"]] for d in interpreter.get_output_details()]


def export_task_library(checkpoint: Path, output: Path, *, max_length: int = TASK_LIBRARY_LENGTH, force: bool = False) -> ExportResult:
    """A single-signature float32 .tflite with the TFLite Support metadata of the Task Library's
    BertQuestionAnswerer, for a question-answering checkpoint."""
    checkpoint, output = Path(checkpoint), Path(output)
    if max_length != TASK_LIBRARY_LENGTH:
        raise InputError(f"the Task Library's BertQuestionAnswerer fills exactly {TASK_LIBRARY_LENGTH} tokens whatever the file takes "
                         f"(a file of another length fails every question); drop --max-length {max_length}")
    task = checkpoint_task(checkpoint)
    if task.name != "question-answering":
        raise InputError(f"is a {task.architecture}; --to task-library writes the Task Library's BertQuestionAnswerer (question-answering "
                         "checkpoints); for classifiers and sentence embeddings use --to mediapipe", checkpoint)
    python = task_library_python()
    with scratch_directory(output) as scratch:
        plain = export_tflite(checkpoint, scratch / "plain.tflite", buckets=[max_length])
        outputs = _output_names_in_subgraph_order(plain.path)
        command = [str(python), "-c", QA_WRITER, str(plain.path), str(checkpoint / SPIECE_NAME), f"seq{max_length}_", json.dumps(outputs)]
        with staged_file(output, force=force) as stage:
            run_in_venv([*command, str(stage)], what="tflite-support metadata writer", path=checkpoint)
    metadata = dict(plain.metadata, task_library=True)
    return ExportResult(output, "tflite", output.stat().st_size, plain.parameters, metadata)


__all__ = ["export_task_library", "task_library_python", "TASK_LIBRARY_REQUIREMENTS", "TASK_LIBRARY_LENGTH"]
