"""`edge-albert convert`: export a checkpoint to ONNX, TFLite, MediaPipe or ExecuTorch and check the result against
PyTorch on sample sentences before reporting success."""

from __future__ import annotations

import math

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from edge_albert.converters.export_config import DEFAULT_BUCKETS, ExportResult
from edge_albert.converters.onnx import OPSET, export_onnx
from edge_albert.errors import InputError
from edge_albert.model.checkpoint import SPIECE_NAME
from edge_albert.staging import staged_file
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.compare import ComparisonResult, compare_models

# Sentences for the post-export check when the user gives none: short, long, pair-free, varied.
SAMPLE_TEXTS = (
    "a gorgeous, witty, seductive movie.",
    "it's a charming and often affecting journey.",
    "the film is strictly routine.",
    "unflinchingly bleak and desperate",
    "the acting, costumes, music, cinematography and sound are all astounding given the production's austere locales.",
    "it's slow -- very, very slow.",
    "a sometimes tedious film.",
    "not for everyone, but for those with whom it will connect, it's a nice departure from standard moviegoing fare. "
    "the story loses its bite in a last-minute happy ending that's even less plausible than the rest of the picture.",
)


@dataclass
class ConversionReport:
    export: ExportResult
    check: ComparisonResult


def convert(
    checkpoint: Path,
    output: Path,
    to: str,
    *,
    buckets: Sequence[int] = DEFAULT_BUCKETS,
    max_length: int | None = None,
    force: bool = False,
    optimize: bool = False,
    opset: int = OPSET,
    fixed_length: int | None = None,
    check_texts: Sequence[str] = SAMPLE_TEXTS,
    atol: float = 1e-4,
) -> ConversionReport:
    checkpoint, output = Path(checkpoint), Path(output)
    if to not in ("onnx", "tflite", "mediapipe", "task-library", "executorch"):
        raise InputError(f"unknown target {to!r}; use onnx, tflite, mediapipe, task-library or executorch")
    if fixed_length is not None and to != "onnx":
        raise InputError("--fixed-length applies to --to onnx (TFLite files have fixed-length buckets already)")
    # The tokenizer is checked before any work: a checkpoint without a usable spiece.model
    # cannot be checked after export, and nothing unchecked may reach the destination.
    tokenizer = AlbertTokenizer(checkpoint / SPIECE_NAME)
    checks: list[ComparisonResult] = []

    def verify(stage: Path) -> None:
        check = compare_models(checkpoint, stage, tokenizer, list(check_texts), max_length=result.metadata["max_length"])
        check.candidate = str(output)
        kept = "the existing file is unchanged" if output.exists() else "nothing written"
        if not math.isfinite(check.max_abs_logit_diff):
            raise InputError(f"logits are not finite (NaN or inf weights in the checkpoint?); {kept}", checkpoint)
        if not check.within(max_abs_diff=atol, min_agreement=1.0):
            raise InputError(f"converted model disagrees with PyTorch (max abs logit diff {check.max_abs_logit_diff:.2e} > {atol:g}); {kept}", checkpoint)
        checks.append(check)

    # Export into a stage, check the stage, and only then rename it onto the output: a failed
    # `--force` run leaves the previous good file in place.
    with staged_file(output, force=force, verify=verify) as stage:
        if to == "onnx":
            result = export_onnx(checkpoint, stage, max_length=max_length, optimize=optimize, opset=opset, fixed_length=fixed_length, force=True)
        elif to == "tflite":
            from edge_albert.converters.tflite import export_tflite

            result = export_tflite(checkpoint, stage, buckets=buckets, force=True)
        elif to == "executorch":
            from edge_albert.converters.executorch import export_executorch

            result = export_executorch(checkpoint, stage, max_length=max_length, force=True)
        elif to == "task-library":
            from edge_albert.converters.task_library import TASK_LIBRARY_LENGTH, export_task_library

            result = export_task_library(checkpoint, stage, max_length=max_length or TASK_LIBRARY_LENGTH, force=True)
        else:
            from edge_albert.converters.mediapipe import export_mediapipe

            result = export_mediapipe(checkpoint, stage, max_length=max_length or max(buckets), force=True)
    result = replace(result, path=output, size_bytes=output.stat().st_size)
    return ConversionReport(result, checks[0])


__all__ = ["convert", "ConversionReport", "SAMPLE_TEXTS"]
