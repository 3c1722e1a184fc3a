"""The convert command: a checkpoint to ONNX, TFLite, MediaPipe, ExecuTorch or a transformers.js folder."""

from __future__ import annotations

from pathlib import Path

import click

from edge_albert.cli.group import main
from edge_albert.cli.options import CHECKPOINT, OPSET_OPTION, print_json


@main.command("convert")
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--to", "to", required=True, type=click.Choice(["onnx", "tflite", "mediapipe", "executorch", "transformers-js"]),
              help="Target format. mediapipe: one-signature TFLite (--max-length tokens) with the TFLite Model Metadata that "
                   "MediaPipe's TextClassifier needs (tokenizer and labels packed in; the writer runs in a cached venv). "
                   "executorch: a .pte program lowered to XNNPACK (batch 1, dynamic length up to --max-length; needs the executorch extra). "
                   "transformers-js: a folder transformers.js loads with local_files_only (config.json, tokenizer.json, "
                   "onnx/model.onnx, onnx/model_quantized.onnx = our int8) for text-classification, question-answering and fill-mask.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output file (.onnx, .tflite or .pte), or folder (transformers-js).")
@click.option("--buckets", default="32,64,128", show_default=True, help="TFLite: sequence-length buckets, one signature each.")
@click.option("--max-length", type=int, default=None, help="ONNX: maximum tokens recorded in the metadata; executorch: the longest input the program takes; mediapipe: the input length (default 128; question answering 384).")
@click.option("--optimize", is_flag=True, help="ONNX: apply ONNX Runtime's fusions (Attention, SkipLayerNorm, FastGelu); the file then runs on ONNX Runtime only.")
@OPSET_OPTION
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def convert_cmd(checkpoint: Path, to: str, output: Path, buckets: str, max_length, optimize: bool, opset: int, force: bool, as_json: bool) -> None:
    """Convert a checkpoint (any task) to ONNX (dynamic batch and length, int64 inputs), TFLite
    (one signature per length bucket, int32 inputs) or ExecuTorch (batch 1, dynamic length, int64
    inputs), embed metadata, and check the result against
    PyTorch on sample sentences (max abs logit diff <= 1e-4, same predictions)."""
    from edge_albert.converters.convert import convert

    if to == "transformers-js":
        from dataclasses import asdict

        from edge_albert.quantization.transformers_js import export_transformers_js

        folder = export_transformers_js(checkpoint, output, opset=opset, force=force)
        if as_json:
            print_json(asdict(folder))
        else:
            click.echo(f"wrote {folder.directory} for transformers.js pipeline('{folder.task}'): "
                       + ", ".join(f"{name} ({size / 1e6:.2f} MB)" for name, size in folder.files.items()))
        return
    try:
        bucket_list = [int(b) for b in buckets.split(",") if b.strip()]
    except ValueError:
        raise click.BadParameter("expected comma-separated integers, e.g. 32,64,128", param_hint="--buckets") from None
    report = convert(checkpoint, output, to, buckets=bucket_list, max_length=max_length, optimize=optimize, opset=opset, force=force)
    info = {"output": str(report.export.path), "format": to, "size_bytes": report.export.size_bytes,
            "parameters": report.export.parameters, "check": report.check.to_dict(), "metadata": report.export.metadata}
    if as_json:
        print_json(info)
    else:
        click.echo(f"wrote {report.export.path} ({report.export.size_bytes / 1e6:.2f} MB, {report.export.parameters:,} parameters)")
        click.echo(f"check vs PyTorch: max abs logit diff {report.check.max_abs_logit_diff:.2e}, agreement {report.check.agreement:.3f}")
