"""`edge-albert convert`: export a checkpoint to ONNX or TFLite and check the result against
PyTorch on sample sentences before reporting success."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_albert.converters.export_config import DEFAULT_BUCKETS
from edge_albert.converters.onnx import OPSET, ExportResult, export_onnx
from edge_albert.errors import InputError
from edge_albert.model.checkpoint import SPIECE_NAME
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
    check_texts: Sequence[str] = SAMPLE_TEXTS,
    atol: float = 1e-4,
) -> ConversionReport:
    checkpoint = Path(checkpoint)
    if to == "onnx":
        result = export_onnx(checkpoint, output, max_length=max_length, optimize=optimize, opset=opset, force=force)
    elif to == "tflite":
        from edge_albert.converters.tflite import export_tflite

        result = export_tflite(checkpoint, output, buckets=buckets, force=force)
    elif to == "mediapipe":
        from edge_albert.converters.mediapipe import export_mediapipe

        result = export_mediapipe(checkpoint, output, max_length=max_length or max(buckets), force=force)
    else:
        raise InputError(f"unknown target {to!r}; use onnx, tflite or mediapipe")
    tokenizer = AlbertTokenizer(checkpoint / SPIECE_NAME)
    check = compare_models(checkpoint, result.path, tokenizer, list(check_texts), max_length=result.metadata["max_length"])
    if not check.within(max_abs_diff=atol, min_agreement=1.0):
        Path(result.path).unlink(missing_ok=True)
        raise InputError(f"converted model disagrees with PyTorch (max abs logit diff {check.max_abs_logit_diff:.2e} > {atol:g}); output removed", checkpoint)
    return ConversionReport(result, check)


__all__ = ["convert", "ConversionReport", "SAMPLE_TEXTS"]
