"""Commands that make a model smaller: quantize, prune."""

from __future__ import annotations

from pathlib import Path

import click

from edge_albert.cli.group import main
from edge_albert.cli.options import CHECKPOINT, OPSET_OPTION, PRECISION_OPTION, data_options, data_spec, print_json
from edge_albert.errors import InputError
from edge_albert.quantization.configs import INT4_BLOCK_SIZES, METHODS, PER_CHANNEL


@main.command("quantize")
@click.argument("checkpoint", type=CHECKPOINT, required=False)
@click.option("--method", type=click.Choice(list(METHODS)), default=None, help="dynamic = dynamic_wi8_afp32, static = static_wi8_ai8, fp16 = weight_only_wf16, int4 = weight_only_wi4b32_afp32.")
@click.option("--recipe", "recipe_name", default=None, help="A named recipe instead of --method (see `edge-albert quantize --list`).")
@click.option("--to", "to", type=click.Choice(["onnx", "tflite", "executorch"]), default="onnx", show_default=True,
              help="executorch: a .pte program, quantized before lowering to XNNPACK (dynamic = 8da8w, int4 = 8da4w).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Output .onnx, .tflite or .pte file.")
@click.option("--calibration", type=click.Path(path_type=Path), default=None, help="Text file (TSV/CSV/JSONL/.txt) of calibration sentences for static int8; for a multiple-choice model, "
              'JSON lines {"question": ..., "choices": [...]}.')
@click.option("--samples", type=int, default=None, help="Calibration sentences to use (static).")
@click.option("--eval", "eval_file", type=click.Path(path_type=Path), default=None, help="Labelled dev file: report accuracy of fp32 vs quantized on it.")
@click.option("--accuracy-budget", type=float, default=None, help="ONNX int8 / int4: keep op groups in float (int8) or at 8 bits (int4) until at most this many accuracy points are lost on --eval.")
@click.option("--keep-float", default=None, help="ONNX int8: comma-separated op groups to keep in float (embeddings, embedding_projection, attention, ffn, pooler, classifier).")
@click.option("--keep-int8", default=None, help="4-bit recipes: comma-separated op groups to keep at 8 bits (same groups as --keep-float).")
@click.option("--block-size", type=click.Choice([str(b) for b in INT4_BLOCK_SIZES] + ["channel"]), default=None,
              help="4-bit recipes: input features per block, each with its own scale (default 32; larger blocks make smaller files); "
                   "channel: one scale per output row (TFLite, ExecuTorch), for widths no block divides.")
@click.option("--embedding-bits", type=click.Choice(["4", "8"]), default=None,
              help="4-bit recipes: the embedding table at 8 bits with one scale (default) or in 4-bit blocks.")
@click.option("--max-length", type=int, default=None,
              help="ONNX: maximum tokens recorded in the metadata, the window the runtime uses; ExecuTorch: the longest input the program takes (default: 128; question answering 384).")
@OPSET_OPTION
@click.option("--list", "list_recipes", is_flag=True, help="List the named recipes and exit.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def quantize_cmd(checkpoint: Path, method, recipe_name, to, output, calibration, samples, eval_file, accuracy_budget, keep_float, keep_int8, block_size,
                 embedding_bits, max_length, opset, list_recipes, force, as_json) -> None:
    """Quantize a checkpoint to int8, 4-bit or fp16 ONNX/TFLite, or int8/4-bit ExecuTorch, keeping ALBERT's shared weights
    shared, and compare the result with the fp32 model."""
    from edge_albert.quantization.configs import RECIPES, recipe

    if list_recipes:
        for name, cfg in RECIPES.items():
            width = max(map(len, RECIPES)) + 2
            click.echo(f"{name:{width}} {cfg}")
        return
    if checkpoint is None or output is None:
        raise click.UsageError("give a CHECKPOINT and -o/--output")
    if bool(method) == bool(recipe_name):
        raise click.UsageError("give exactly one of --method or --recipe")
    config = recipe(method or recipe_name, samples=samples, keep_float=[g.strip() for g in keep_float.split(",")] if keep_float else None,
                    block_size=(PER_CHANNEL if block_size == "channel" else int(block_size)) if block_size else None, embedding_bits=int(embedding_bits) if embedding_bits else None,
                    keep_int8=[g.strip() for g in keep_int8.split(",")] if keep_int8 else None)
    from edge_albert.data.readers import read_labeled
    from edge_albert.quantization import accuracy_aware_quantize, quantize
    from edge_albert.quantization.api import read_calibration

    eval_data = read_labeled(eval_file) if eval_file else None
    calib = read_calibration(calibration, checkpoint) if calibration else None
    if accuracy_budget is not None:
        if eval_data is None or to != "onnx":
            raise click.UsageError("--accuracy-budget needs --eval and --to onnx")
        report = accuracy_aware_quantize(checkpoint, output, config, eval_data, budget=accuracy_budget / 100, calibration_texts=calib, opset=opset, force=force)
    else:
        report = quantize(checkpoint, output, config, to=to, calibration_texts=calib, eval_data=eval_data, max_length=max_length, opset=opset, force=force)
    if as_json:
        print_json(report.to_dict())
        return
    c = report.comparison
    click.echo(f"wrote {report.output} ({report.recipe}, {report.quantized_bytes / 1e6:.2f} MB, {report.compression:.1f}x smaller than fp32)")
    click.echo(f"vs fp32 on {c.examples} sentences: agreement {c.agreement:.4f}, max abs logit diff {c.max_abs_logit_diff:.3g}")
    if c.reference_accuracy is not None:
        click.echo(f"accuracy fp32 {c.reference_accuracy:.4f} -> {c.candidate_accuracy:.4f}")
    if report.sensitivity:
        click.echo("sensitivity (accuracy drop with only that group quantized): " + ", ".join(f"{k} {v * 100:+.2f}" for k, v in report.sensitivity.items()))
        if report.keep_int8 or report.recipe.startswith("weight_only_wi4"):
            click.echo(f"kept at 8 bits: {', '.join(report.keep_int8) or 'nothing'}")
        else:
            click.echo(f"kept in float: {', '.join(report.keep_float) or 'nothing'}")

@main.command("prune")
@click.argument("checkpoint", type=CHECKPOINT)
@data_options
@click.option("--heads", default=0.0, show_default=True, help="Fraction of attention heads to remove from each shared layer.")
@click.option("--ffn", default=0.0, show_default=True, help="Fraction of FFN intermediate neurons to remove.")
@click.option("--depth", type=int, default=None, help="Run the shared layer(s) this many times instead of num_hidden_layers.")
@click.option("--magnitude", default=0.0, show_default=True, help="Unstructured sparsity (zeros only: dense ONNX/TFLite do not get faster).")
@click.option("--recover-epochs", default=0, show_default=True, help="Epochs of distillation from the unpruned model after pruning (0: none).")
@click.option("--recover-steps", type=int, default=None,
              help="Stop recovery after N optimizer steps (with --recover-epochs; a large model's epoch can take hours).")
@click.option("--lr", "learning_rate", default=1e-4, show_default=True, help="Recovery learning rate.")
@click.option("--max-length", default=128, show_default=True)
@click.option("--threads", default=None, type=int)
@click.option("--seed", default=0, show_default=True)
@PRECISION_OPTION
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory: pruned/ (before recovery), recover/model (after).")
@click.option("--json", "as_json", is_flag=True)
def prune_cmd(checkpoint, heads, ffn, depth, magnitude, recover_epochs, recover_steps, learning_rate, max_length, threads, seed, precision, output, as_json, **kw) -> None:
    """Prune attention heads and FFN neurons (ranked by Taylor importance on --train data, removed
    physically), trim the shared layer's repetitions (--depth), optionally add unstructured
    zeros, then recover accuracy by distilling the unpruned model into the pruned one."""
    from dataclasses import asdict

    from edge_albert.quantization.pruning import PruneConfig, prune_checkpoint
    from edge_albert.training.trainer import TrainConfig

    spec = data_spec(kw) if (heads or ffn or recover_epochs) else None
    if recover_steps is not None and not recover_epochs:
        raise InputError("--recover-steps limits a recovery: pass --recover-epochs N too")
    recover = (TrainConfig(epochs=recover_epochs, max_steps=recover_steps, learning_rate=learning_rate, max_length=max_length, threads=threads,
                           seed=seed, precision=precision)
               if recover_epochs else None)
    report = prune_checkpoint(checkpoint, output, PruneConfig(heads=heads, ffn=ffn, depth=depth, magnitude=magnitude), spec, recover=recover)
    s = report.summary
    if as_json:
        print_json(asdict(report) | {"flops_reduction": s.flops_reduction})
        return
    click.echo(f"checkpoint: {report.checkpoint}")
    click.echo(f"FLOPs per 128-token sequence: {s.flops_before / 1e9:.3f} -> {s.flops_after / 1e9:.3f} G ({s.flops_reduction * 100:.1f}% fewer)")
    click.echo(f"parameters: {s.parameters_before:,} -> {s.parameters_after:,}; depth {s.depth}; FFN {s.ffn_kept}")
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    click.echo(f"dev accuracy: unpruned {fmt(report.dev_accuracy_before)}, pruned {fmt(report.dev_accuracy_pruned)}, recovered {fmt(report.dev_accuracy_recovered)}")
    if report.recovery_steps is not None:
        click.echo(f"recovery: {report.recovery_steps} steps of distillation from the unpruned model")
    if s.sparsity:
        click.echo(f"magnitude sparsity: mean {sum(s.sparsity.values()) / len(s.sparsity):.3f} over {len(s.sparsity)} matrices (dense files do not get faster)")
