"""TFLite for MediaPipe's TextClassifier and TextEmbedder (Android, iOS, web and Python tasks).

MediaPipe accepts a model with one subgraph, three int32 inputs [1, N] (ids, mask, segment ids)
and TFLite Model Metadata whose input process unit is the tokenizer. So this export is our TFLite
with a single length bucket, plus metadata written by MediaPipe's own metadata writers: for a
classifier `text_classifier`'s (the SentencePiece model and the label file packed into the
.tflite), for a sentence-embedding model the generic writer with the BERT text input and a feature
output (the embedding, pooled and normalised inside the graph). Our `edge_albert` metadata entry
stays. The writer runs in its own cached venv (mediapipe 0.10.21 needs numpy < 2). Checked by
running MediaPipe's TextClassifier / TextEmbedder on the file (tests).
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

MEDIAPIPE_REQUIREMENTS = ["mediapipe==0.10.21"]

WRITER = r"""
import json, sys
from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, text_classifier
src, spiece, labels, prefix, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], sys.argv[5]
writer = text_classifier.MetadataWriter.create_for_bert_model(
    bytearray(open(src, "rb").read()), metadata_writer.SentencePieceTokenizer(spiece), metadata_writer.Labels().add(labels),
    ids_name=prefix + "input_ids", mask_name=prefix + "attention_mask", segment_name=prefix + "token_type_ids")
model, _ = writer.populate()
open(out, "wb").write(model)
"""


EMBEDDER_WRITER = r"""
import sys
from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer
src, spiece, prefix, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
writer = metadata_writer.MetadataWriter.create(bytearray(open(src, "rb").read()))
writer.add_general_info("ALBERT sentence embedder", "edge-albert sentence embeddings (pooled in the graph)")
writer.add_bert_text_input(metadata_writer.SentencePieceTokenizer(spiece), ids_name=prefix + "input_ids",
                           mask_name=prefix + "attention_mask", segment_name=prefix + "token_type_ids")
writer.add_feature_output(name="sentence_embedding", description="the sentence embedding")
model, _ = writer.populate()
open(out, "wb").write(model)
"""


def mediapipe_python() -> Path:
    return ensure_venv("mediapipe", MEDIAPIPE_REQUIREMENTS, "mediapipe.tasks.python.metadata.metadata_writers.text_classifier")


def export_mediapipe(checkpoint: Path, output: Path, *, max_length: int = 128, force: bool = False) -> ExportResult:
    """A single-signature float32 .tflite with MediaPipe TextClassifier metadata, or TextEmbedder
    metadata for a sentence-embedding checkpoint."""
    checkpoint, output = Path(checkpoint), Path(output)
    task = checkpoint_task(checkpoint)
    if task.name not in ("text-classification", "feature-extraction"):
        raise InputError(f"is a {task.architecture}; MediaPipe's TextClassifier takes text-classification models and its "
                         "TextEmbedder feature-extraction (sentence-embedding) models", checkpoint)
    python = mediapipe_python()
    with scratch_directory(output) as scratch:
        plain = export_tflite(checkpoint, scratch / "plain.tflite", buckets=[max_length])
        if task.name == "feature-extraction":
            command = [str(python), "-c", EMBEDDER_WRITER, str(plain.path), str(checkpoint / SPIECE_NAME), f"seq{max_length}_"]
        else:
            command = [str(python), "-c", WRITER, str(plain.path), str(checkpoint / SPIECE_NAME), json.dumps(plain.metadata["labels"]),
                       f"seq{max_length}_"]
        with staged_file(output, force=force) as stage:
            run_in_venv([*command, str(stage)], what="MediaPipe metadata writer", path=checkpoint)
    metadata = dict(plain.metadata, mediapipe=True)
    return ExportResult(output, "tflite", output.stat().st_size, plain.parameters, metadata)


__all__ = ["export_mediapipe", "mediapipe_python", "MEDIAPIPE_REQUIREMENTS"]
