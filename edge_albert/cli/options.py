"""Options and printing shared by the commands; choices come from the library's own tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from edge_albert.model.config import PRESETS
from edge_albert.tasks import TASKS

class PresetOrShape(click.ParamType):
    """A preset name, or a JSON file of AlbertConfig shape fields (`model.config.SHAPE_FIELDS`)."""

    name = "preset"

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def get_metavar(self, param, ctx=None) -> str:
        return "[" + "|".join(self.names) + "|SHAPE.json]"

    def convert(self, value, param, ctx):
        from edge_albert.errors import InputError
        from edge_albert.model.config import preset_config

        value = str(value)
        if value in self.names:
            return value
        if not value.endswith(".json"):
            self.fail(f"{value!r} is not one of {', '.join(self.names)} or a .json shape file", param, ctx)
        try:
            preset_config(value)  # reads and checks the file now, before any data is loaded
        except InputError as exc:
            self.fail(str(exc), param, ctx)
        return value


PRESET_CHOICE = PresetOrShape(list(PRESETS))


class CheckpointPath(click.ParamType):
    """A checkpoint folder, or a Hugging Face Hub id (`owner/name`, `owner/name@revision`)
    resolved to its local snapshot through huggingface_hub (its cache, HF_HUB_OFFLINE)."""

    name = "checkpoint"

    def convert(self, value, param, ctx):
        from edge_albert.errors import InputError
        from edge_albert.model.hub import resolve_checkpoint

        if isinstance(value, Path):
            return value
        try:
            return resolve_checkpoint(value)
        except InputError as exc:
            self.fail(str(exc), param, ctx)


CHECKPOINT = CheckpointPath()
# The tasks `train` fine-tunes on labels, `teacher` fine-tunes a teacher for, and `distill` distils.
TASK_CHOICE = click.Choice(["text-classification", "token-classification", "question-answering"])
TEACHER_TASK_CHOICE = click.Choice(["text-classification", "token-classification", "question-answering"])
DISTILL_TASK_CHOICE = click.Choice(["text-classification", "token-classification", "question-answering", "feature-extraction"])

# edge_albert.converters.onnx.OPSET / SUPPORTED_OPSETS, spelled out so `--help` needs no torch (tested).
OPSET_OPTION = click.option("--opset", type=click.IntRange(18, 21), default=20, show_default=True,
                            help="ONNX: opset of the file. 20 writes GELU as one op (faster on ONNX Runtime); "
                                 "18 loads on ONNX Runtimes that predate opset 20.")


class FiniteRange(click.FloatRange):
    """click's FloatRange lets `nan` through (it compares false with both bounds) and `inf` past
    an open upper bound: a threshold must be a finite number in its range."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


DROPOUT_OPTION = click.option(
    "--dropout", default=None, type=click.FloatRange(0.0, 1.0, max_open=True),
    help="Encoder dropout (hidden states and attention probabilities) while training; default: the preset's or checkpoint's (0 for ALBERT).")
PRECISION_OPTION = click.option(
    "--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]), default="fp32", show_default=True,
    help="Training arithmetic: bf16 autocast (fp32 master weights) ran 0.64x to 3.5x fp32's speed on CPUs with native bf16 "
         "(AVX512-BF16/AMX, Arm BF16; the model's size and the machine decide) and is emulated, slower, elsewhere; auto picks "
         "bf16 only where it is native and a few timed steps of this model run at least 1.15x faster in it (on a GPU: bf16 "
         "where supported, else fp16 with a gradient scaler; fp16 is GPU-only). Evaluation and exports stay fp32.")


DEVICE_OPTION = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True,
    help="Where to train: auto is a CUDA GPU when torch sees one, else the CPU. Under torchrun each rank takes the GPU of its local rank "
         "(see docs/distributed.md).")


def data_options(fn):
    options = [
        click.option("--train", "train_file", type=click.Path(path_type=Path), default=None, help="Labelled training file (TSV/CSV/JSONL). Default: the built-in rt-polarity data."),
        click.option("--dev", "dev_file", type=click.Path(path_type=Path), default=None, help="Labelled dev file for model selection. Default: the built-in dev split."),
        click.option("--text-column", default=None, help="Text column (default: sentence or text)."),
        click.option("--pair-column", default=None, help="Second-text column for sentence-pair tasks."),
        click.option("--label-column", default=None, help="Label column (default: label)."),
        click.option("--label-names", default=None, help="Comma-separated display names for the label values in sorted order, e.g. negative,positive."),
        click.option("--limit", type=int, default=None, help="Use only the first N training rows (quick runs)."),
        click.option("--dev-limit", type=click.IntRange(1), default=None,
                     help="Score only the first N dev rows (SQuAD: questions) during training: quicker evaluations; score the chosen "
                          "model on the whole dev set afterwards."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def train_options(fn):
    options = [
        click.option("--epochs", default=3, show_default=True),
        click.option("--batch-size", default=32, show_default=True),
        click.option("--lr", "learning_rate", default=None, type=float, help="Peak learning rate (default depends on the command)."),
        click.option("--weight-decay", default=0.01, show_default=True),
        click.option("--warmup-ratio", default=0.06, show_default=True, help="Fraction of steps spent warming up, then linear decay to 0."),
        click.option("--max-grad-norm", default=1.0, show_default=True, help="Gradient clipping norm (0 disables)."),
        click.option("--layer-decay", default=1.0, show_default=True, help="Layer-wise LR decay per tier (embeddings < shared layer groups < head); 1.0 disables."),
        click.option("--max-length", default=128, show_default=True, help="Maximum tokens per example (longer ones are truncated)."),
        click.option("--seed", default=0, show_default=True, help="Fixed seed: the same seed gives the same model."),
        click.option("--patience", default=None, type=int, help="Stop after N evaluations without dev improvement."),
        click.option("--eval-every", default=None, type=int, help="Evaluate every N steps (default: once per epoch)."),
        click.option("--log-every", default=50, show_default=True, type=click.IntRange(1), help="Log the mean training loss every N steps (train_log.jsonl)."),
        click.option("--max-steps", default=None, type=int, help="Stop after N optimizer steps."),
        click.option("--threads", default=None, type=int, help="Torch threads (default: all cores)."),
        click.option("--ema", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0, max_open=True),
                     help="Evaluate and save an exponential moving average of the weights with this decay (e.g. 0.999; 0 disables)."),
        PRECISION_OPTION,
        DEVICE_OPTION,
        click.option("--micro-batch-size", default=None, type=click.IntRange(1),
                     help="Examples per forward pass on each rank; a --batch-size larger than ranks x this is accumulated over passes "
                          "(the global batch stays --batch-size whatever the number of ranks). Default: one pass per rank."),
        click.option("--compile", "compile", is_flag=True, help="torch.compile the model for the training steps (dynamic shapes)."),
        click.option("--stop-after-epochs", default=None, type=click.IntRange(1),
                     help="End after N epochs of this invocation (time-boxed or preemptible jobs); continue with --resume."),
        click.option("--resume", is_flag=True, help="Continue from RUN_DIR/state.pt (saved after each epoch), at any number of ranks."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


TRAIN_KEYS = ("epochs", "batch_size", "weight_decay", "warmup_ratio", "max_grad_norm", "layer_decay", "max_length", "seed", "patience", "eval_every", "max_steps", "threads",
               "precision", "ema", "device", "micro_batch_size", "compile", "stop_after_epochs", "log_every")


def data_spec(kw: dict, task: str = "text-classification"):
    """The DataSpec of the data options (which it pops from `kw`)."""
    from edge_albert.training.recipes import DataSpec

    names = kw.pop("label_names")
    return DataSpec.from_files(kw.pop("train_file"), kw.pop("dev_file"), task=task, label_names=names.split(",") if names else None,
                               text_column=kw.pop("text_column"), pair_column=kw.pop("pair_column"), label_column=kw.pop("label_column"),
                               limit=kw.pop("limit"), dev_limit=kw.pop("dev_limit"))


def train_config(kw: dict, default_lr: float, **extra):
    from edge_albert.training.trainer import TrainConfig

    lr = kw.pop("learning_rate") or default_lr
    return TrainConfig(learning_rate=lr, **{k: kw.pop(k) for k in TRAIN_KEYS}, **extra)


def print_training(result, as_json: bool) -> None:
    from dataclasses import asdict

    from edge_albert.training.distributed import is_main

    if not is_main():  # one report per job, from its first rank
        return
    data = asdict(result)
    if as_json:
        data.pop("history")
        print_json(data)
        return
    m = result.best_metrics
    shown = ", ".join(f"{k} {m[k]:.4f}" for k in ("exact_match", "f1", "accuracy", "spearman") if k in m) or "n/a"
    click.echo(f"best checkpoint: {result.checkpoint}")
    click.echo(f"dev {shown} at step {result.best_step}/{result.steps}, {result.parameters:,} parameters, {result.wall_seconds:.0f} s")

