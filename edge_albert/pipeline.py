"""The main job: the whole pipeline on the built-in default data, as `edge-albert demo` runs it.

train a small ALBERT -> prune it (heads and FFN neurons) and recover by distillation ->
export fp32 ONNX and TFLite -> int8 (dynamic) ONNX and TFLite, and int8 ONNX of the pruned model ->
validate every artifact on every runtime -> package a bundle -> classify with the bundle using
the torch-free runtime. Every stage writes its artifacts under one work directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_albert.converters.convert import convert
from edge_albert.data.readers import read_labeled
from edge_albert.data.rt_polarity import default_dataset
from edge_albert.packaging.bundle import build_bundle
from edge_albert.quantization import quantize, recipe
from edge_albert.training.recipes import DataSpec, train
from edge_albert.training.trainer import TrainConfig
from edge_albert.validation.report import metrics_by_artifact, validate, write_reports

EXAMPLES = ("a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate clichés from start to finish.")


@dataclass
class DemoResult:
    workdir: Path
    checkpoint: Path
    artifacts: dict[str, Path]
    bundle: Path
    reports: dict[str, Path]
    report: dict
    examples: list[dict]
    stage_seconds: dict[str, float] = field(default_factory=dict)


def run_demo(
    workdir: Path,
    *,
    preset: str = "tiny",
    epochs: int = 4,
    train_file: Path | None = None,
    dev_file: Path | None = None,
    test_file: Path | None = None,
    limit: int | None = None,
    prune: bool = True,
    force: bool = False,
    log=print,
) -> DemoResult:
    workdir = Path(workdir)
    if workdir.exists() and any(workdir.iterdir()) and not force:
        from edge_albert.errors import InputError

        raise InputError("work directory is not empty; pass --force to reuse it or choose another -o", workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}

    def stage(name: str):
        log(f"== {name}")
        times[name] = time.perf_counter()

    def done(name: str):
        times[name] = time.perf_counter() - times[name]

    stage("data")
    if train_file is None:
        test_file = test_file or default_dataset().test
    spec = DataSpec.from_files(train_file, dev_file, label_names=["negative", "positive"], limit=limit)
    dev_file = spec.dev
    done("data")

    stage(f"train ({preset} ALBERT from scratch, {epochs} epochs)")
    config = TrainConfig(epochs=epochs, batch_size=32, learning_rate=3e-4, max_length=128, seed=0, warmup_ratio=0.1)
    result = train(spec, workdir / "train", config, preset=preset, vocab_size=8000, resume=False)
    checkpoint = Path(result.checkpoint)
    log(f"   dev accuracy {result.best_metrics.get('accuracy', float('nan')):.4f}, {result.parameters:,} parameters")
    done(f"train ({preset} ALBERT from scratch, {epochs} epochs)")

    stage("convert + quantize")
    models = workdir / "models"
    models.mkdir(exist_ok=True)
    artifacts = {
        "onnx-fp32": convert(checkpoint, models / "model.fp32.onnx", "onnx", force=True).export.path,
        "tflite-fp32": convert(checkpoint, models / "model.fp32.tflite", "tflite", force=True).export.path,
    }
    for to in ("onnx", "tflite"):
        out = models / f"model.int8.{to}"
        artifacts[f"{to}-int8"] = Path(quantize(checkpoint, out, recipe("dynamic_wi8_afp32"), to=to, force=True).output)
    done("convert + quantize")

    if prune:
        stage("prune (25% heads, 25% FFN) + recover by distillation, int8")
        from edge_albert.quantization.pruning import PruneConfig, prune_checkpoint

        recover = TrainConfig(epochs=1, batch_size=32, learning_rate=1e-4, max_length=128, seed=0)
        pruned = prune_checkpoint(checkpoint, workdir / "prune", PruneConfig(heads=0.25, ffn=0.25), spec, recover=recover)
        log(f"   {pruned.summary.flops_reduction * 100:.0f}% fewer FLOPs; dev accuracy {pruned.dev_accuracy_before:.4f} -> "
            f"{pruned.dev_accuracy_pruned:.4f} pruned -> {pruned.dev_accuracy_recovered:.4f} recovered")
        artifacts["onnx-pruned-int8"] = Path(quantize(Path(pruned.checkpoint), models / "model.pruned.int8.onnx", recipe("dynamic_wi8_afp32"),
                                                      to="onnx", force=True).output)
        done("prune (25% heads, 25% FFN) + recover by distillation, int8")

    stage("validate (PyTorch, ONNX Runtime, LiteRT/XNNPACK)")
    test = read_labeled(Path(test_file or dev_file), label_names=["0", "1"])
    test.label_names = ["negative", "positive"]
    report = validate(checkpoint, list(artifacts.values()), test, threads=(1,), latency_runs=10)
    reports = write_reports(report, workdir / "report")
    done("validate (PyTorch, ONNX Runtime, LiteRT/XNNPACK)")

    stage("package")
    bundle = build_bundle([artifacts["onnx-int8"], artifacts["tflite-int8"]], checkpoint / "spiece.model",
                          workdir / "sentiment.eabundle", metrics=metrics_by_artifact(reports["json"]), force=True).path
    done("package")

    stage("run the bundle (torch-free runtime)")
    from edge_albert.on_device import Classifier

    examples = []
    for backend in ("onnxruntime", "litert"):
        clf = Classifier.from_bundle(bundle, backend)
        for text, pred in zip(EXAMPLES, clf.predict(list(EXAMPLES))):
            examples.append({"backend": backend, "text": text, "label": pred.label, "score": round(pred.score, 4)})
    done("run the bundle (torch-free runtime)")
    return DemoResult(workdir, checkpoint, artifacts, bundle, reports, report.to_dict(), examples, times)


__all__ = ["run_demo", "DemoResult"]
