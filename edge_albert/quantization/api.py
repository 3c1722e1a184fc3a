"""One verb: `quantize(checkpoint, output, config, to=...)`.

The checkpoint is exported to float32 first (so any of our checkpoints works), the handler for
(config type, format) writes the compressed file, and the result is compared with the float32
PyTorch model before it is renamed into place. `accuracy_aware_quantize` finds which op groups to
keep in float so the accuracy loss on a labelled dev set stays within a budget, and reports
the sensitivity of each group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edge_albert.converters.convert import SAMPLE_TEXTS
from edge_albert.converters.export_config import DEFAULT_BUCKETS
from edge_albert.converters.onnx import OPSET, export_onnx, set_metadata
from edge_albert.data.readers import LabeledTexts
from edge_albert.errors import InputError
from edge_albert.model.checkpoint import SPIECE_NAME, weights_bytes
from edge_albert.quantization.configs import OP_GROUPS, PER_CHANNEL, DynamicInt8Config, Float16Config, Int4Config, QuantConfig, StaticInt8Config, recipe_name
from edge_albert.quantization.executorch import check_executorch_config, executorch_recipe, quantize_executorch
from edge_albert.quantization.onnx import quantize_dynamic_onnx, quantize_int4_onnx, quantize_static_onnx, to_float16_onnx
from edge_albert.quantization.tflite import quantize_tflite
from edge_albert.runtimes import open_session, runtime_for
from edge_albert.staging import check_target, scratch_directory, staged_file
from edge_albert.tokenization import AlbertTokenizer, pad_encodings
from edge_albert.validation.compare import ComparisonResult, compare_models, run_texts

Handler = Callable[..., None]

HANDLERS: dict[tuple[type, str], Handler] = {
    (DynamicInt8Config, "onnx"): lambda src, out, cfg, scratch, calib: quantize_dynamic_onnx(src, out, cfg, scratch),
    (StaticInt8Config, "onnx"): lambda src, out, cfg, scratch, calib: quantize_static_onnx(src, out, cfg, scratch, calib),
    (Float16Config, "onnx"): lambda src, out, cfg, scratch, calib: to_float16_onnx(src, out, cfg, scratch),
    (DynamicInt8Config, "tflite"): lambda src, out, cfg, scratch, calib: quantize_tflite(src, out, cfg, scratch),
    (StaticInt8Config, "tflite"): lambda src, out, cfg, scratch, calib: quantize_tflite(src, out, cfg, scratch, calib),
    (Float16Config, "tflite"): lambda src, out, cfg, scratch, calib: quantize_tflite(src, out, cfg, scratch),
    (Int4Config, "onnx"): lambda src, out, cfg, scratch, calib: quantize_int4_onnx(src, out, cfg, scratch),
    (Int4Config, "tflite"): lambda src, out, cfg, scratch, calib: quantize_tflite(src, out, cfg, scratch),
    # ExecuTorch handlers take the checkpoint (see _export_float) and the length to export for.
    (DynamicInt8Config, "executorch"): lambda src, out, cfg, scratch, calib, max_length=None: quantize_executorch(src, out, cfg, max_length=max_length),
    (Int4Config, "executorch"): lambda src, out, cfg, scratch, calib, max_length=None: quantize_executorch(src, out, cfg, max_length=max_length),
}


@dataclass
class QuantizationReport:
    output: str
    format: str
    recipe: str
    float_bytes: int
    quantized_bytes: int
    comparison: ComparisonResult
    keep_float: list[str] = field(default_factory=list)
    keep_int8: list[str] = field(default_factory=list)  # 4-bit recipes: op groups kept at 8 bits
    sensitivity: dict[str, float] = field(default_factory=dict)

    @property
    def compression(self) -> float:
        return self.float_bytes / self.quantized_bytes

    def to_dict(self) -> dict:
        data = asdict(self)
        data["comparison"] = self.comparison.to_dict()
        data["compression"] = self.compression
        return data


def calibration_batches(tokenizer: AlbertTokenizer, texts: Sequence[str | tuple[str, Sequence[str]]], max_length: int, batch_size: int = 8,
                        *, choices_axis: bool = False) -> list[dict[str, np.ndarray]]:
    """Padded batches of the calibration `texts`. Multiple-choice items are (question, choices):
    each (question, choice) pair calibrates, as [pairs, 1, length] for a graph with a choices
    axis (`choices_axis`, ONNX) or [pairs, length] for one scoring a pair per run (TFLite)."""
    encodings = []
    for item in texts:
        if isinstance(item, str):
            encodings.append(tokenizer.encode(item, max_length=max_length))
        else:
            question, choices = item
            encodings.extend(tokenizer.encode(question, choice, max_length=max_length) for choice in choices)
    batches = [pad_encodings(encodings[i:i + batch_size], tokenizer.pad_id) for i in range(0, len(encodings), batch_size)]
    return [{k: v[:, None] for k, v in b.items()} for b in batches] if choices_axis else batches


def read_calibration(path: Path, checkpoint: Path) -> list[str] | list[tuple[str, tuple[str, ...]]]:
    """Static int8's calibration data for `checkpoint`: sentences (a text file, TSV/CSV/JSONL), or
    for a multiple-choice model its JSON-lines questions (labels optional)."""
    from edge_albert.tasks import checkpoint_task

    if Path(checkpoint).is_dir() and checkpoint_task(checkpoint).name == "multiple-choice":
        from edge_albert.data.multiple_choice import read_choice_questions

        return [(q.question, q.choices) for q in read_choice_questions(path, labeled=False)]
    from edge_albert.data.readers import read_texts

    return read_texts(path)


def _export_float(checkpoint: Path, to: str, scratch: Path, buckets: Sequence[int], max_length: int | None, opset: int) -> Path:
    if to == "onnx":
        return export_onnx(checkpoint, scratch / "float.onnx", max_length=max_length, opset=opset).path
    if to == "tflite":
        from edge_albert.converters.tflite import export_tflite

        return export_tflite(checkpoint, scratch / "float.tflite", buckets=buckets).path
    if to == "executorch":
        # ExecuTorch quantizes the PyTorch model before lowering: the "float model" is the checkpoint.
        return checkpoint
    raise InputError(f"unknown target {to!r}; use onnx, tflite or executorch")


def _finish_onnx_metadata(float_path: Path, path: Path, config: QuantConfig) -> None:
    import onnx

    from edge_albert.runtimes.onnxruntime import read_metadata

    metadata = read_metadata({p.key: p.value for p in onnx.load(str(float_path)).metadata_props})
    metadata["precision"] = {DynamicInt8Config: "int8-dynamic", StaticInt8Config: "int8-static", Float16Config: "float16", Int4Config: "int4"}[type(config)]
    metadata["recipe"] = recipe_name(config)
    model = onnx.load(str(path))
    set_metadata(model, metadata)
    onnx.save(model, str(path))


def _quantize_file(float_path: Path, out: Path, config: QuantConfig, to: str, scratch: Path, calibration, max_length: int | None = None) -> None:
    if to == "executorch":
        check_executorch_config(config)
    handler = HANDLERS.get((type(config), to))
    if handler is None:
        raise InputError(f"no {type(config).__name__} handler for {to}")
    if to == "executorch":
        handler(float_path, out, config, scratch, calibration, max_length=max_length)
    else:
        handler(float_path, out, config, scratch, calibration)
    if to == "onnx":
        _finish_onnx_metadata(float_path, out, config)


def quantize(
    checkpoint: Path,
    output: Path,
    config: QuantConfig,
    *,
    to: str,
    calibration_texts: Sequence[str] | None = None,
    eval_data: LabeledTexts | None = None,
    buckets: Sequence[int] = DEFAULT_BUCKETS,
    max_length: int | None = None,
    opset: int = OPSET,
    force: bool = False,
    float_model: Path | None = None,
    reference_logits: np.ndarray | None = None,
) -> QuantizationReport:
    """Compress a checkpoint to int8 / fp16 ONNX or TFLite and compare it with the fp32 model.

    `opset` applies to ONNX (`SUPPORTED_OPSETS`; 18 for ONNX Runtimes without opset 20).
    `float_model` (the checkpoint's float export in format `to`) and `reference_logits` (the
    checkpoint's logits on the comparison texts) skip work a caller has already done."""
    checkpoint = Path(checkpoint)
    if to != "onnx" and (getattr(config, "keep_float", ()) or getattr(config, "keep_int8", ())):
        raise InputError("keeping op groups in float or at 8 bits is supported for ONNX only")
    if to == "executorch":
        check_executorch_config(config)
    if to == "onnx" and isinstance(config, Int4Config) and config.block_size == PER_CHANNEL:
        raise InputError("ONNX Runtime's MatMulNBits takes 4-bit blocks of 32 to 256 input features, not whole rows; "
                         "use --block-size 32 (the last block is padded) or --to tflite / executorch for per-channel 4-bit")
    if to == "tflite" and isinstance(config, Int4Config) and not config.symmetric:
        raise InputError("asymmetric 4-bit blocks are supported for ONNX only; ai-edge-quantizer's 4-bit recipes are symmetric")
    if to == "tflite" and isinstance(config, StaticInt8Config) and config.calibration != "minmax":
        # ai-edge-quantizer calibrates with min-max only; saying so beats silently ignoring it.
        raise InputError(f"{config.calibration} calibration is supported for ONNX only; TFLite static int8 uses min-max (static_wi8_ai8)")
    from edge_albert.tasks import checkpoint_task

    task = checkpoint_task(checkpoint) if checkpoint.is_dir() else None
    if task is not None and to not in task.formats:
        raise InputError(f"{task.name} models export to {', '.join(task.formats)} only", checkpoint)
    choices = task is not None and task.name == "multiple-choice"
    if choices and isinstance(config, StaticInt8Config) and (not calibration_texts or any(isinstance(t, str) for t in calibration_texts)):
        raise InputError('static int8 of a multiple-choice model calibrates on its questions: pass --calibration QUESTIONS.jsonl '
                         '({"question": ..., "choices": [...]} per line)', checkpoint)
    tokenizer = AlbertTokenizer(checkpoint / SPIECE_NAME)
    output = Path(output)
    if isinstance(config, StaticInt8Config) and not calibration_texts:
        if eval_data is None:
            raise InputError("static quantization needs calibration sentences: pass --calibration FILE")
        calibration_texts = eval_data.texts
    # Scratch files live beside the output (not in the system temp folder), so one left by a
    # killed run is swept by the next write to the same output.
    with staged_file(output, force=force) as stage, scratch_directory(output) as scratch:
        float_path = Path(float_model) if float_model is not None else _export_float(checkpoint, to, scratch, buckets, max_length, opset)
        # Calibrate and compare at the length the float file was exported for (its metadata).
        # (ExecuTorch quantizes from the checkpoint: its program's metadata gives the length.)
        length = max_length or (None if float_path.is_dir() else open_session(float_path).max_length)
        calib = None
        if isinstance(config, StaticInt8Config):
            calib = calibration_batches(tokenizer, list(calibration_texts)[: config.samples], length, choices_axis=choices and to == "onnx")
        _quantize_file(float_path, stage, config, to, scratch, calib, max_length=max_length)
        candidate = open_session(stage, runtime_for(output))  # opened once: its length and the comparison
        length = length or candidate.max_length
        texts = eval_data.texts if eval_data is not None else list(SAMPLE_TEXTS)
        labels = eval_data.labels if eval_data is not None else None
        comparison = compare_models(checkpoint, candidate, tokenizer, texts, labels=labels, max_length=length,
                                    reference_logits=reference_logits)
        comparison.candidate = str(output)
        # A checkpoint stands for ExecuTorch's float program: its safetensors file stores each
        # weight once, as the float .pte does (6.33 vs 6.40 MB for tiny).
        float_bytes = weights_bytes(float_path) if float_path.is_dir() else float_path.stat().st_size
        quantized_bytes = stage.stat().st_size
    name = executorch_recipe(config) if to == "executorch" else recipe_name(config)
    return QuantizationReport(str(output), to, name, float_bytes, quantized_bytes, comparison, list(getattr(config, "keep_float", ())),
                              list(getattr(config, "keep_int8", ())))


def accuracy_aware_quantize(
    checkpoint: Path,
    output: Path,
    config: DynamicInt8Config | StaticInt8Config | Int4Config,
    eval_data: LabeledTexts,
    *,
    budget: float = 0.005,
    calibration_texts: Sequence[str] | None = None,
    max_length: int | None = None,
    opset: int = OPSET,
    force: bool = False,
) -> QuantizationReport:
    """ONNX int8 or 4-bit within `budget` accuracy loss (fraction, 0.005 = half a point) on `eval_data`.

    Measures each op group's sensitivity (accuracy drop with only that group quantized), then
    falls back on the most sensitive groups, one at a time, until the whole model is within
    budget: int8 recipes keep them in float, 4-bit recipes at 8 bits.
    """
    if not hasattr(config, "keep_float"):
        raise InputError(f"the accuracy-aware search takes the int8 and 4-bit recipes, not {recipe_name(config)}")
    fallback = "keep_int8" if isinstance(config, Int4Config) else "keep_float"
    checkpoint = Path(checkpoint)
    tokenizer = AlbertTokenizer(checkpoint / SPIECE_NAME)
    calib_texts = list(calibration_texts or eval_data.texts)
    output = Path(output)
    check_target(output, force)
    # The fp32 reference runs once and the model is exported to fp32 once: every trial (one per
    # op group, then one per group kept in float) and the final file are compared with the same
    # reference logits and quantized from the same float file.
    with scratch_directory(output) as scratch:
        exported = export_onnx(checkpoint, scratch / "float.onnx", max_length=max_length, opset=opset)
        float_path = exported.path
        length = int(exported.metadata["max_length"])
        reference_logits = run_texts(open_session(checkpoint), tokenizer, eval_data.texts, max_length=length)
        calib = calibration_batches(tokenizer, calib_texts[: getattr(config, "samples", 128)], length) if isinstance(config, StaticInt8Config) else None

        def drop(keep: tuple[str, ...]) -> float:
            path = scratch / f"try-{len(list(scratch.iterdir()))}.onnx"
            _quantize_file(float_path, path, replace(config, **{fallback: keep}), "onnx", scratch, calib)
            result = compare_models(checkpoint, path, tokenizer, eval_data.texts, labels=eval_data.labels, max_length=length,
                                    reference_logits=reference_logits)
            return float(result.accuracy_drop or 0.0)

        sensitivity = {group: drop(tuple(g for g in OP_GROUPS if g != group)) for group in OP_GROUPS}
        keep: tuple[str, ...] = ()
        current = drop(keep)
        for group in sorted(OP_GROUPS, key=lambda g: -sensitivity[g]):
            if current <= budget:
                break
            keep = keep + (group,)
            current = drop(keep)
        report = quantize(checkpoint, output, replace(config, **{fallback: keep}), to="onnx", calibration_texts=calib_texts,
                          eval_data=eval_data, max_length=max_length, opset=opset, force=force, float_model=float_path,
                          reference_logits=reference_logits)
    report.sensitivity = sensitivity
    return report


__all__ = ["quantize", "accuracy_aware_quantize", "QuantizationReport", "HANDLERS", "calibration_batches", "read_calibration"]
