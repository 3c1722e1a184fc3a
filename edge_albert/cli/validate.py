"""Commands that judge a model: validate, setup-arm64, check, baseline."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edge_albert.cli.group import main
from edge_albert.cli.options import CHECKPOINT, FiniteRange, print_json


@main.command("validate")
@click.argument("reference", type=CHECKPOINT)
@click.argument("artifacts", nargs=-1, type=click.Path(path_type=Path))
@click.option("--data", "data_file", type=click.Path(path_type=Path), default=None, help="Labelled file to measure on (default: the built-in test split).")
@click.option("--text-column", default=None)
@click.option("--label-column", default=None)
@click.option("--limit", type=int, default=None, help="Use only the first N examples.")
@click.option("--threads", default="1", show_default=True, help="Comma-separated thread counts for latency, e.g. 1,2.")
@click.option("--runs", default=20, show_default=True, help="Timed runs per fixed-length latency point.")
@click.option("--no-memory", is_flag=True, help="Skip peak-memory measurement (one subprocess per artifact).")
@click.option("--max-length", type=click.IntRange(2), default=128, show_default=True,
              help="Tokens per text for every model (classification); a fixed-length file (convert --fixed-length N) needs N or less. "
                   "Fixed-length latency points above it are left out.")
@click.option("--target", "target_specs", multiple=True, metavar="SPEC",
              help="Also run the model files on a target: qemu-arm64[:CPU] (.onnx, .ort, .tflite and .pte; cortex-a53, cortex-a72, "
                   "cortex-a76, neoverse-n1, max; built on first use), ssh://[user@]host[:port][?python=python3&identity=KEY] (.onnx, "
                   ".ort, .tflite), or the .onnx files "
                   "in node[:THREADS] (onnxruntime-node) or browser[:THREADS] (headless Chromium, onnxruntime-web WebAssembly), both with "
                   "transformers.js's tokenizer (npm packages pinned, installed on first use). Repeatable. qemu-arm64 and ssh run "
                   "classification, token classification and question answering; node and browser run classification.")
@click.option("--target-texts", default=32, show_default=True,
              help="Texts, sentences or questions (every context window) run on each target (per-input parity; emulation is slow).")
@click.option("--target-file", "target_files", multiple=True, metavar="NAME",
              help="Run only this artifact (file name) on the targets; repeatable. Default: every .onnx/.ort/.tflite/.pte artifact.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Directory for report.json, report.md and report.html.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report to stdout too.")
def validate_cmd(reference, artifacts, data_file, text_column, label_column, limit, threads, runs, no_memory, max_length, target_specs, target_texts,
                 target_files, output, as_json) -> None:
    """Validate ARTIFACTS (.onnx, .tflite, .pte, .eabundle, checkpoint dirs) against labels and against the fp32
    REFERENCE checkpoint: the task's metrics (accuracy and macro-F1; entity P/R/F1 on a CoNLL file;
    SQuAD exact match and F1 on a SQuAD JSON file), agreement (same label / same entities per
    sentence / same best span per question), logit diffs, KL, latency p50/p90/p99 (batch 1 at
    32/64/128 tokens and at real lengths), throughput at batch 8/32, size, peak memory.

    With --target, the files also run on ARM64 (the real aarch64 ONNX Runtime and LiteRT under
    qemu) or on a device over SSH, and the report compares them with this host per input: the
    same label; the same tag at every token of a sentence; the same likeliest start and end token
    of a question's window."""
    from edge_albert.targets import parse_target
    from edge_albert.validation.report import headers, read_validation_data, summary_rows, validate, write_reports

    targets = [parse_target(spec) for spec in target_specs]
    data = read_validation_data(reference, data_file, text_column=text_column, label_column=label_column, limit=limit)
    try:
        thread_list = tuple(int(t) for t in threads.split(","))
    except ValueError:
        raise click.BadParameter("expected comma-separated integers", param_hint="--threads") from None
    report = validate(reference, list(artifacts), data, threads=thread_list, latency_runs=runs, memory=not no_memory, max_length=max_length,
                      targets=targets, target_texts=target_texts, target_files=list(target_files) or None)
    paths = write_reports(report, output)
    if as_json:
        print_json(report.to_dict())
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
@click.option("--executorch", is_flag=True,
              help="Also build the ExecuTorch folder that .pte files need (the host's executorch and torch for aarch64, with "
                   "stand-ins for torch's CUDA libraries; about 450 MB to download; needs binutils-aarch64-linux-gnu). "
                   "Otherwise built on the first .pte file.")
@click.option("--json", "as_json", is_flag=True, help="Print the environment as JSON.")
def setup_arm64_cmd(folder, refresh, executorch, as_json) -> None:
    """Build the ARM64 environment that `validate --target qemu-arm64` uses: qemu-user 10 from
    bookworm-backports, a Debian arm64 userland with Python 3.11 (debootstrap), and the aarch64
    wheels of this host's onnxruntime, ai-edge-litert, numpy and sentencepiece versions. Done once
    and cached (about 1-2 minutes and 420 MB); needs apt-get, debootstrap, and access to the Debian
    mirror and PyPI. Nothing on the host is installed or changed."""
    from edge_albert.targets.arm64 import describe, ensure_arm64_environment, ensure_executorch_site

    log = lambda msg: click.echo(msg, err=True)  # noqa: E731
    env = ensure_arm64_environment(folder, refresh=refresh, log=log)
    if executorch:
        ensure_executorch_site(env, log=log)
    info = describe(env)
    if as_json:
        print_json(info)
    else:
        extra = info["executorch"]
        click.echo(f"ARM64 environment ready in {env.folder} ({info['bytes'] / 1e6:.0f} MB): "
                   + ", ".join(f"{k} {v}" for k, v in env.versions.items())
                   + (f"; ExecuTorch: executorch {extra['versions']['executorch']}, torch {extra['versions']['torch']}" if extra else ""))


@main.command("check")
@click.argument("report", type=click.Path(path_type=Path))
@click.option("--baseline", "baselines", required=True, multiple=True, type=click.Path(path_type=Path),
              help="Baseline validation report (JSON) to compare with. Repeat it with one baseline per CPU class (e.g. AVX2 and "
                   "AVX512-VNNI machines): the one measured on this report's CPU class is used, else the first, without latency checks.")
@click.option("--thresholds", type=click.Path(path_type=Path), default=None, help="JSON file with GateThresholds fields (overridden by the options below).")
@click.option("--max-accuracy-drop", type=FiniteRange(0, 100), default=None, help="Accuracy points (0.5 = half a point) an artifact may lose against the baseline.")
@click.option("--min-agreement", type=FiniteRange(0, 1), default=None, help="Minimum prediction agreement with the fp32 reference (0-1).")
@click.option("--max-logit-diff", type=FiniteRange(0), default=None, help="Maximum abs logit difference with the fp32 reference.")
@click.option("--max-size-growth", type=FiniteRange(0), default=None, help="Allowed relative size growth against the baseline (0.05 = 5%).")
@click.option("--max-latency-growth", type=FiniteRange(0), default=None, help="Allowed relative growth of latency / reference latency (same run).")
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
    from edge_albert.staging import check_target
    from edge_albert.validation.gate import GateThresholds, check_report, describe_machine, format_table, load_floors, select_baseline, write_junit
    from edge_albert.validation.report import load_report

    # --max-accuracy-drop is in points, the threshold a fraction
    limits = GateThresholds.load(thresholds, max_accuracy_drop=max_accuracy_drop / 100 if max_accuracy_drop is not None else None,
                                 min_agreement=min_agreement, max_logit_diff=max_logit_diff, max_size_growth=max_size_growth,
                                 max_latency_ratio_growth=max_latency_growth)
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
        print_json({**gate.to_dict(), "baseline": str(used), "baseline_rule": choice.rule})
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
