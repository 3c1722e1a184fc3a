"""Commands that ship a model: package, keygen, predict, embed, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edge_albert.cli.group import main
from edge_albert.cli.options import print_json
from edge_albert.errors import InputError
from edge_albert.model.config import PRESETS
from edge_albert.runtimes import FILE_RUNTIMES


@main.command("package")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--tokenizer", default=None, type=click.Path(path_type=Path), help="The spiece.model the models were built with (bundles).")
@click.option("--web", is_flag=True, help="Write a static web page folder instead of a bundle: MODELS is one folder from "
                                          "`convert --to transformers-js`; OUTPUT/index.html classifies typed text in the browser.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Bundle file to write (e.g. model.eabundle), or the web folder.")
@click.option("--metrics", type=click.Path(path_type=Path), default=None, help="Validation report JSON (edge-albert validate) whose per-model metrics go in the manifest.")
@click.option("--sign", "signing_key", type=click.Path(path_type=Path), default=None, help="ed25519 private key (PEM) to sign the manifest with (see `edge-albert keygen`).")
@click.option("--force", is_flag=True, help="Overwrite an existing bundle.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def package_cmd(models, tokenizer, web, output, metrics, signing_key, force, as_json) -> None:
    """Bundle .onnx/.tflite/.pte models, the tokenizer, labels and a manifest (sha256 of every file,
    input spec, preprocessing, metrics, tool versions) into one zip file; or, with --web, a static
    page that classifies on the device with transformers.js."""
    from edge_albert.packaging.bundle import build_bundle
    from edge_albert.validation.report import metrics_by_artifact

    if web:
        from dataclasses import asdict

        from edge_albert.packaging.web_demo import write_web_demo

        if len(models) != 1 or tokenizer or metrics or signing_key:
            raise click.UsageError("--web takes one transformers.js folder and no --tokenizer, --metrics or --sign")
        demo = write_web_demo(models[0], output, force=force)
        if as_json:
            print_json(asdict(demo))
        else:
            click.echo(f"wrote {demo.directory} ({sum(demo.files.values()) / 1e6:.1f} MB, labels {demo.labels}); "
                       f"serve it with any static file server, e.g. python -m http.server -d {demo.directory}")
        return
    if tokenizer is None:
        raise click.UsageError("a bundle needs --tokenizer (the spiece.model the models were built with)")

    per_model = metrics_by_artifact(metrics) if metrics else None
    result = build_bundle(list(models), tokenizer, output, metrics=per_model, signing_key=signing_key, force=force)
    if as_json:
        print_json(result.manifest)
    else:
        embedding, task = result.manifest.get("embedding"), result.manifest.get("task")
        what = (f"{embedding['dimension']}-wide sentence embeddings" if embedding else task if task in ("fill-mask", "multiple-choice")
                else f"labels {result.manifest['labels']}")
        click.echo(f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB, {len(result.manifest['models'])} model(s), {what})")


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
@click.option("--backend", type=click.Choice(sorted(set(FILE_RUNTIMES.values()))), default=None, help="Which model of the bundle to run (default: the first).")
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
    feature-extraction    TEXTS or lines -> {"embedding": [...]} (see also `edge-albert embed`)
    fill-mask             TEXTS or lines with [MASK] -> {"masks": [[{"token", "token_id", "score", "sequence"}, ...] per [MASK]]}
    multiple-choice       JSON lines {"question", "choices": [...][, "id"]} -> {"index", "choice", "score", "probabilities"}

    Runs without torch or tensorflow. An input that cannot be read (invalid UTF-8, a bad JSON
    line, a question too long for the window) gets an error record, the others are answered,
    and the exit code is 2 at the end.
    """
    from edge_albert.on_device import ChoiceScorer, QuestionAnswerer, open_predictor
    from edge_albert.on_device.records import Request, line_requests, predict_records, text_requests

    predictor = open_predictor(bundle, backend, threads=threads, public_key=public_key, aggregation=aggregation, stride=stride,
                               max_answer_length=max_answer_length)
    if isinstance(predictor, ChoiceScorer):
        if texts or question is not None or context is not None:
            raise InputError('a multiple-choice bundle reads JSON lines {"question": ..., "choices": [...]} on stdin')
        requests = line_requests(sys.stdin.buffer.read(), json_objects=True, fields=("question", "choices"))
    elif isinstance(predictor, QuestionAnswerer):
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

@main.command("embed")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write the vectors as one float32 .npy array [texts, dimension] (rows in input order); default: JSON lines on stdout.")
@click.option("--force", is_flag=True, help="Overwrite --output.")
@click.option("--backend", type=click.Choice(sorted(set(FILE_RUNTIMES.values()))), default=None, help="Which model of the bundle to run (default: the first).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--public-key", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Verify the manifest signature with this ed25519 public key.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, 4096), help="Texts per runtime call (vectors do not depend on it).")
def embed_cmd(bundle, texts, output, force, backend, threads, public_key, batch_size) -> None:
    """Embed TEXTS, or each line of standard input, with a sentence-embedding bundle.

    Writes a .npy array with --output (staged, renamed when complete), else JSON lines
    {"line", "text", "embedding"}. Runs without torch or tensorflow. Every line is read before
    any is embedded: a line that is not UTF-8 stops the command with its number and nothing written.
    """
    from edge_albert.on_device import Embedder
    from edge_albert.on_device.records import line_requests, text_requests

    embedder = Embedder.from_bundle(bundle, backend, threads=threads, public_key=public_key)
    requests = text_requests(texts) if texts else line_requests(sys.stdin.buffer.read(), json_objects=False)
    bad = next((r for r in requests if r.error is not None), None)
    if bad is not None:
        raise InputError(f"line {bad.line}: {bad.error}; nothing written")
    lines = [r.payload for r in requests]
    vectors = embedder.embed(lines, batch_size=batch_size)
    if output is None:
        for r, vector in zip(requests, vectors):
            click.echo(json.dumps({"line": r.line, "text": r.payload, "embedding": [float(x) for x in vector]}, ensure_ascii=False))
        return
    import numpy as np

    from edge_albert.staging import staged_file

    with staged_file(Path(output), force=force) as stage:
        with open(stage, "wb") as fh:
            np.save(fh, vectors, allow_pickle=False)
    click.echo(f"wrote {output} ({vectors.shape[0]} x {vectors.shape[1]} float32)", err=True)


@main.command("demo")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("edge-albert-demo"), show_default=True, help="Work directory for every artifact.")
@click.option("--preset", default="tiny", show_default=True, type=click.Choice([p for p in PRESETS if p != "large"]), help="Model shape to train.")
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
        print_json({"bundle": str(result.bundle), "reports": {k: str(v) for k, v in result.reports.items()},
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
