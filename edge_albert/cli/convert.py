"""The convert command: a checkpoint to ONNX, TFLite, MediaPipe, ExecuTorch or a transformers.js folder, and an
ONNX file to ONNX Runtime's mobile format (.ort)."""

from __future__ import annotations

from pathlib import Path

import click

from edge_albert.cli.group import main
from edge_albert.cli.options import CHECKPOINT, OPSET_OPTION, print_json


@main.command("convert")
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--to", "to", required=True, type=click.Choice(["onnx", "tflite", "mediapipe", "task-library", "executorch", "transformers-js", "ort"]),
              help="Target format. mediapipe: one-signature TFLite (--max-length tokens) with the TFLite Model Metadata that "
                   "MediaPipe's TextClassifier needs (tokenizer and labels packed in; the writer runs in a cached venv). "
                   "task-library: the same for the TFLite Task Library's BertQuestionAnswerer (question-answering checkpoints; "
                   "384 tokens, the only length it fills; tflite-support's writer in a cached venv). "
                   "executorch: a .pte program lowered to XNNPACK (batch 1, dynamic length up to --max-length; needs the executorch extra). "
                   "transformers-js: a folder transformers.js loads with local_files_only (config.json, tokenizer.json, "
                   "onnx/model.onnx, onnx/model_quantized.onnx = our int8) for text-classification, question-answering and fill-mask. "
                   "ort: ONNX Runtime's mobile format from an .onnx file (CHECKPOINT is then that file, e.g. model.int8.onnx), "
                   "with NAME.required_operators.config for a reduced build and the NNAPI/CoreML usability check.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output file (.onnx, .tflite, .pte or .ort), or folder (transformers-js).")
@click.option("--buckets", default="32,64,128", show_default=True, help="TFLite: sequence-length buckets, one signature each.")
@click.option("--max-length", type=int, default=None, help="ONNX: maximum tokens recorded in the metadata; executorch: the longest input the program takes; mediapipe: the input length (default 128).")
@click.option("--optimize", is_flag=True, help="ONNX: apply ONNX Runtime's fusions (Attention, SkipLayerNorm, FastGelu); the file then runs on ONNX Runtime only.")
@click.option("--fixed-length", type=int, default=None,
              help="ONNX: batch 1 at exactly this many tokens, in operators Android NNAPI and Apple CoreML take whole "
                   "(decomposed LayerNorm and GELU; see docs/onnxruntime-mobile.md); the runtime pads each text to it.")
@OPSET_OPTION
@click.option("--target-platform", type=click.Choice(["arm", "amd64"]), default="arm", show_default=True,
              help="ort: the CPU the .ort file is optimized for (arm: phones and ARM64 boards; amd64 adds x86-only layouts).")
@click.option("--with-tokenizer", is_flag=True,
              help="onnx: a file whose input is the text itself (string [batch]): ALBERT's tokenizer runs inside the graph "
                   "(onnxruntime-extensions' SentencepieceTokenizer; apps register that library). CHECKPOINT may also be an "
                   ".onnx file (e.g. model.int8.onnx); its tokenizer is --tokenizer or the spiece.model beside it.")
@click.option("--tokenizer", "tokenizer_path", type=click.Path(path_type=Path), default=None,
              help="--with-tokenizer on an .onnx file: its checkpoint folder or spiece.model.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def convert_cmd(checkpoint: Path, to: str, output: Path, buckets: str, max_length, optimize: bool, fixed_length, opset: int,
                target_platform: str, with_tokenizer: bool, tokenizer_path: Path | None, force: bool, as_json: bool) -> None:
    """Convert a checkpoint (any task) to ONNX (dynamic batch and length, int64 inputs), TFLite
    (one signature per length bucket, int32 inputs) or ExecuTorch (batch 1, dynamic length, int64
    inputs), embed metadata, and check the result against
    PyTorch on sample sentences (max abs logit diff <= 1e-4, same predictions). With --to ort,
    turn an .onnx file into ONNX Runtime's mobile format and check it against that file."""
    from edge_albert.converters.convert import convert

    if with_tokenizer:
        if to != "onnx" or optimize or fixed_length:
            raise click.BadParameter("applies to --to onnx without --optimize or --fixed-length", param_hint="--with-tokenizer")
        from edge_albert.converters.tokenizer_graph import convert_with_tokenizer

        text_model = convert_with_tokenizer(checkpoint, output, tokenizer_path=tokenizer_path, max_length=max_length,
                                            opset=opset if checkpoint.is_dir() else None, force=force)
        if as_json:
            print_json(text_model.to_dict())
            return
        click.echo(f"wrote {text_model.path} ({text_model.size_bytes / 1e6:.2f} MB; input: text, tokenized in the graph up to "
                   f"{text_model.max_length} tokens)")
        click.echo(f"check: ids equal edge-albert's tokenizer {text_model.ids_equal}; max abs diff vs the token-input model "
                   f"{text_model.max_abs_diff:.2e}, same predictions {text_model.same_predictions}")
        if text_model.digit_comma_pieces:
            click.echo(f"note: {text_model.digit_comma_pieces} vocabulary pieces end in digit + comma; numbers followed by a comma "
                       "may split differently in the graph (docs/onnxruntime-mobile.md)")
        return
    if to == "ort":
        from edge_albert.converters.ort_format import convert_to_ort_format

        result = convert_to_ort_format(checkpoint, output, target_platform=target_platform, force=force)
        if as_json:
            print_json(result.to_dict())
            return
        click.echo(f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB; the .onnx was {result.source_bytes / 1e6:.2f} MB) "
                   f"and {result.config_path} ({sum(len(v) for v in result.operators.values())} operators)")
        click.echo(f"check vs {checkpoint.name}: max abs diff {result.max_abs_diff:.2e}, same predictions {result.same_predictions}")
        for line in result.usability.summary_lines() if result.usability else []:
            click.echo(f"  {line}")
        return
    if checkpoint.is_file():
        raise click.BadParameter(f"{checkpoint} is a file; convert takes a checkpoint folder (an .onnx file only with --to ort)",
                                 param_hint="CHECKPOINT")
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
    report = convert(checkpoint, output, to, buckets=bucket_list, max_length=max_length, optimize=optimize, opset=opset,
                     fixed_length=fixed_length, force=force)
    info = {"output": str(report.export.path), "format": to, "size_bytes": report.export.size_bytes,
            "parameters": report.export.parameters, "check": report.check.to_dict(), "metadata": report.export.metadata}
    if as_json:
        print_json(info)
    else:
        click.echo(f"wrote {report.export.path} ({report.export.size_bytes / 1e6:.2f} MB, {report.export.parameters:,} parameters)")
        click.echo(f"check vs PyTorch: max abs logit diff {report.check.max_abs_logit_diff:.2e}, agreement {report.check.agreement:.3f}")
