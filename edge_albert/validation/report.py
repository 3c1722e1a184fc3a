"""`edge-albert validate`: every artifact on every runtime that can run it, against labels and
against the fp32 PyTorch reference; written as JSON (versioned schema), Markdown and a
self-contained HTML page with plots."""

from __future__ import annotations

import datetime as _dt
import html
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_albert.data.readers import LabeledTexts, read_labeled
from edge_albert.errors import InputError
from edge_albert.jsonfile import check_schema, read_json
from edge_albert.machine import OtherCpuLoad, machine_info
from edge_albert.metrics import classification_metrics, fidelity_metrics
from edge_albert.progress import progress_bar
from edge_albert.runtimes import open_session
from edge_albert.staging import staged_file
from edge_albert.tasks import get_task
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.compare import run_texts
from edge_albert.validation.coverage import quantization_coverage
from edge_albert.validation.gate import score, task_of
from edge_albert.validation.latency import measure_latency_interleaved
from edge_albert.validation.memory import measure_in_subprocess
from edge_albert.validation.token_tasks import TaskData

# 2: adds `targets` (runs on ARM64 under qemu / devices over SSH).
# 3: adds the report's `task` and headline `metric`, and each result's `score` (that metric) and
#    `metrics` (all of the task's); token-level tasks have no macro_f1. Older reports still load.
SCHEMA_VERSION = 3


@dataclass
class ArtifactResult:
    artifact: str
    name: str
    runtime: str
    precision: str
    size_bytes: int
    accuracy: float | None  # classification accuracy; word-tag accuracy (NER); exact match (QA); None for sentence embeddings
    macro_f1: float | None
    fidelity: dict[str, float]
    latency: list[dict] = field(default_factory=list)  # one LatencyReport per thread count
    memory: dict = field(default_factory=dict)
    emulated: str | None = None  # e.g. "qemu-aarch64 cortex-a72": timings are not device latency
    pruned: bool = False  # a pruned model: a new model, whose agreement with the reference the gate judges on its own bound
    quantization: dict | None = None  # QuantizationCoverage of a file: weight MatMuls running with integer weights
    score: float | None = None  # the task's headline metric (accuracy, entity F1, SQuAD F1)
    metrics: dict[str, float] = field(default_factory=dict)  # all of the task's metrics


@dataclass
class ValidationReport:
    schema_version: int
    created: str
    machine: dict
    dataset: dict
    reference: str
    results: list[ArtifactResult]
    targets: list[dict] = field(default_factory=list)  # TargetRun.to_dict() per target
    task: str = "text-classification"
    metric: str = "accuracy"

    def to_dict(self) -> dict:
        return asdict(self)

    def result(self, name: str, runtime: str | None = None) -> ArtifactResult:
        for r in self.results:
            if r.name == name and (runtime is None or r.runtime == runtime):
                return r
        raise KeyError(name)


def _artifact_name(path: Path) -> str:
    return path.name if path.is_file() else f"{path.name}/ (pytorch)"


def _precision(session) -> str:
    return str(getattr(session, "metadata", {}).get("precision", "float32"))


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.glob("*.safetensors"))
    return path.stat().st_size


BUNDLE_SUFFIX = ".eabundle"


def read_validation_data(reference: Path, data_file: Path | None = None, *, text_column: str | None = None, label_column: str | None = None,
                         limit: int | None = None) -> LabeledTexts | TaskData:
    """What `validate` measures on, read as the reference checkpoint's task reads it: labelled texts
    for classification (default: the built-in test split), a CoNLL file for NER, SQuAD JSON for QA."""
    from edge_albert.tasks import checkpoint_task
    from edge_albert.validation.token_tasks import read_task_data

    task = checkpoint_task(reference)
    if task.name != "text-classification":
        if data_file is None:
            raise InputError(f"validating a {task.name} model needs --data: a CoNLL-format file (NER), a SQuAD JSON file (QA), "
                             "a scored-pairs TSV with score, sentence1, sentence2 columns (sentence embeddings, e.g. STS-B dev) "
                             "a text file (fill-mask: one word per text is hidden) or JSON lines {\"question\", \"choices\", \"label\"} "
                             "(multiple choice)")
        return read_task_data(task, data_file, limit=limit)
    if data_file is None:
        from edge_albert.data.rt_polarity import default_dataset

        data_file = default_dataset().test
    data = read_labeled(data_file, text_column=text_column, label_column=label_column)
    return data.subset(range(min(limit, len(data)))) if limit else data


def _run_bundle(path: Path, texts: Sequence[str], *, threads: int):
    """A bundle runs as an app runs it: the on-device runtime's `Classifier`, with the bundle's own
    tokenizer, truncation and batching (its first model). Returns its session (for latency), the
    logits, and the coverage of the model inside."""
    from edge_albert.packaging.manifest import read_bundle
    from edge_albert.on_device import Classifier

    bundle = read_bundle(path)
    classifier = Classifier(bundle, threads=threads)
    entry = classifier.model_entry
    logits, _, _ = classifier.logits(list(texts))
    coverage = quantization_coverage(Path(entry["file"]), content=bundle.files[entry["file"]])
    return classifier.session, logits, coverage


def validate(
    reference: Path,
    artifacts: Sequence[Path],
    data: LabeledTexts | TaskData,
    *,
    threads: Sequence[int] = (1,),
    latency_runs: int = 20,
    lengths: Sequence[int] = (32, 64, 128),
    memory: bool = True,
    max_length: int = 128,
    targets: Sequence = (),
    target_texts: int = 32,
    target_files: Sequence[str] | None = None,
) -> ValidationReport:
    """Validate `artifacts` (files or checkpoint dirs) on their runtimes against `reference` (fp32 checkpoint).

    Token-level tasks take `TaskData` (see `validate_task`). Each of `targets` (see `edge_albert.targets`) also runs the .onnx/.tflite artifacts on the
    first `target_texts` texts at batch 1 (only those named in `target_files`, when given); its
    logits are compared with this host's run of the same file and with the reference.
    """
    reference = Path(reference)
    if isinstance(data, TaskData):
        return validate_task(reference, artifacts, data, threads=threads, latency_runs=latency_runs, lengths=lengths, memory=memory,
                             targets=targets, target_texts=target_texts, target_files=target_files)
    tokenizer = AlbertTokenizer(reference / "spiece.model")
    if not len(data):
        raise InputError("validation data is empty")
    ref_session = open_session(reference, threads=max(threads))
    ref_logits = run_texts(ref_session, tokenizer, data.texts, max_length=max_length)
    encodings = [tokenizer.encode(t, max_length=max_length) for t in data.texts]
    labels = np.asarray(data.labels)
    paths = [reference] + [Path(a) for a in artifacts if Path(a).resolve() != reference.resolve()]
    results, sessions = [], []
    with progress_bar(len(paths), "validate", unit="model") as advance:
        for path in paths:
            if path == reference:
                session, logits, coverage = ref_session, ref_logits, None
            elif path.suffix == BUNDLE_SUFFIX:
                session, logits, coverage = _run_bundle(path, data.texts, threads=max(threads))
            else:
                session = open_session(path, threads=max(threads))
                logits, coverage = run_texts(session, tokenizer, data.texts, max_length=max_length), quantization_coverage(path)
            metrics = classification_metrics(logits, labels)
            sessions.append(session)
            results.append(ArtifactResult(
                artifact=str(path), name=_artifact_name(path), runtime=session.runtime, precision=_precision(session),
                size_bytes=_size(path), accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"], score=metrics["accuracy"], metrics=metrics,
                fidelity=fidelity_metrics(logits, ref_logits), pruned=bool(getattr(session, "metadata", {}).get("pruned", False)),
                quantization=coverage.to_dict() if coverage is not None else None,
                memory=measure_in_subprocess(path) if memory and path.suffix != BUNDLE_SUFFIX else {},
            ))
            advance(1, model=path.name)
    # Latency after accuracy, all models in turns (see measure_latency_interleaved): the gate
    # judges each model's latency as a ratio to the reference's, so they must share the moment.
    rounds = 5
    with OtherCpuLoad() as load, progress_bar(rounds * len(threads), "latency", unit="round") as advance:
        for t in threads:
            # Thread count is fixed when a session is created: reuse the open ones where it fits.
            timed = sessions if t == max(threads) else [open_session(path, threads=t) for path in paths]
            reports = measure_latency_interleaved(timed, encodings, threads=t, lengths=[n for n in lengths if n <= max_length], runs=latency_runs,
                                                  pad_id=tokenizer.pad_id, rounds=rounds, on_round=advance,
                                                  texts=data.texts, tokenizer=tokenizer)
            for result, latency in zip(results, reports):
                result.latency.append(latency.to_dict())
    target_runs = []
    files = _target_files(paths, target_files)
    if targets and files:
        from edge_albert.targets import run_on_target
        from edge_albert.targets.base import host_logits

        texts = data.texts[:target_texts]
        # The reference at batch 1 and real length, exactly as the target runs its files.
        ref_small = host_logits(reference, tokenizer, texts, max_length, threads=max(threads))
        for target in targets:
            runnable = [f for f in files if f.suffix in target.formats]  # the JavaScript runtimes run ONNX only
            if runnable:
                run = run_on_target(target, runnable, reference / "spiece.model", texts, max_length=max_length, reference_logits=ref_small)
                target_runs.append(run.to_dict())
    return ValidationReport(
        SCHEMA_VERSION, _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), _machine(load),
        {"source": data.source, "examples": len(data), "labels": data.label_names}, str(reference), results, target_runs,
    )


def _target_files(paths: Sequence[Path], target_files: Sequence[str] | None) -> list[Path]:
    """The artifacts the targets run: the .onnx/.ort/.tflite/.pte files (bundles run here only), only
    those named in `target_files` when given."""
    from edge_albert.runtimes import FILE_RUNTIMES

    files = [p for p in paths if p.is_file() and p.suffix in FILE_RUNTIMES]
    if target_files is not None:
        unknown = set(target_files) - {p.name for p in files}
        if unknown:
            raise InputError(f"--target-file {sorted(unknown)[0]} is not one of the .onnx/.ort/.tflite/.pte artifacts given")
        files = [p for p in files if p.name in set(target_files)]
    return files


def _task_target_runs(reference: Path, files: Sequence[Path], data: TaskData, task: str, targets: Sequence, *, texts: int,
                      tokenizer: AlbertTokenizer, max_length: int, threads: int) -> list[dict]:
    """Token classification and question answering on the targets: the first `texts` sentences or
    questions (every context window of a question), compared with this host and the reference."""
    from edge_albert.targets import run_on_target
    from edge_albert.targets.base import host_outputs
    from edge_albert.targets.harness import target_encodings
    from edge_albert.validation.token_tasks import QA_STRIDE

    if data.sentences is not None:
        inputs = [list(words) for words in data.sentences.words[:texts]]
    else:
        inputs = [[q.question, q.context] for q in (data.questions or [])[:texts]]
    # The reference at batch 1 and real length, exactly as the targets run the files.
    reference_outputs = host_outputs(reference, target_encodings(tokenizer, task, inputs, max_length=max_length, stride=QA_STRIDE), threads)
    runs = []
    for target in targets:
        runnable = [f for f in files if f.suffix in target.formats]
        if runnable:
            runs.append(run_on_target(target, runnable, reference / "spiece.model", inputs, max_length=max_length, reference_logits=reference_outputs,
                                      task=task, stride=QA_STRIDE).to_dict())
    return runs


def _open_for_task(path: Path, threads: int):
    """A bundle's model as its predictor runs it (session, tokenizer, window), or a file / checkpoint."""
    if path.suffix == BUNDLE_SUFFIX:
        from edge_albert.packaging.manifest import read_bundle
        from edge_albert.on_device import open_predictor

        predictor = open_predictor(path, threads=threads)
        entry = predictor.model_entry
        coverage = quantization_coverage(Path(entry["file"]), content=read_bundle(path).files[entry["file"]])
        return predictor.session, predictor.tokenizer, predictor.max_length, coverage
    session = open_session(path, threads=threads)
    return session, None, session.max_length, quantization_coverage(path) if path.is_file() else None


def validate_task(
    reference: Path,
    artifacts: Sequence[Path],
    data: TaskData,
    *,
    threads: Sequence[int] = (1,),
    latency_runs: int = 20,
    lengths: Sequence[int] = (32, 64, 128),
    memory: bool = True,
    targets: Sequence = (),
    target_texts: int = 32,
    target_files: Sequence[str] | None = None,
) -> ValidationReport:
    """Validate token classification or question answering artifacts against `reference`: the
    task's metrics per artifact (decoded as on device), agreement on entities / best spans and
    token logit differences with the reference, latency (real inputs: sentences' words or
    questions' windows), size, memory. All artifacts run at the same window (the task's default,
    or less when a model takes less), so they see the same inputs. `targets` run the
    .onnx/.ort/.tflite files of token classification and question answering on the first
    `target_texts` sentences or questions (see `edge_albert.targets.base`)."""
    from edge_albert.targets.harness import TARGET_TASKS
    from edge_albert.validation.token_tasks import DEFAULT_MAX_LENGTH, real_length_encodings, real_length_texts, run_task, task_fidelity

    tokenizer = AlbertTokenizer(reference / "spiece.model")
    ref_session = open_session(reference, threads=max(threads))
    task = get_task(str(ref_session.metadata.get("task", "text-classification")))
    if task.name != data.task:
        raise InputError(f"the reference is a {task.name} model but the data is for {data.task}", reference)
    if targets and task.name not in TARGET_TASKS:
        raise InputError(f"--target runs {', '.join(TARGET_TASKS)} models; validate {task.name} models on this host")
    for target in targets:
        if not target.token_tasks:
            raise InputError(f"--target {target.name} runs text classification only; run {task.name} models on qemu-arm64 or an SSH device")
    labels = list(ref_session.metadata.get("labels") or [])
    paths = [reference] + [Path(a) for a in artifacts if Path(a).resolve() != reference.resolve()]
    opened = [(ref_session, None, ref_session.max_length, None)] + [_open_for_task(p, max(threads)) for p in paths[1:]]
    for path, (session, _, _, _) in zip(paths, opened):
        other = str(getattr(session, "metadata", {}).get("task", "text-classification"))
        if other != task.name:
            raise InputError(f"is a {other} model; the reference is {task.name}", path)
    max_length = min([DEFAULT_MAX_LENGTH[task.name]] + [m for _, _, m, _ in opened])
    runs, results = [], []
    with progress_bar(len(paths), "validate", unit="model") as advance:
        for path, (session, own_tokenizer, _, coverage) in zip(paths, opened):
            tok = own_tokenizer or tokenizer
            run = run_task(session, tok, labels, data, max_length=max_length)
            runs.append(run)
            fid = task_fidelity(run, runs[0])
            results.append(ArtifactResult(
                artifact=str(path), name=_artifact_name(path), runtime=session.runtime, precision=_precision(session), size_bytes=_size(path),
                # No accuracy for sentence embeddings (their score is a correlation).
                accuracy=run.metrics.get("accuracy", run.metrics.get("exact_match")), macro_f1=None, fidelity=fid,
                pruned=bool(getattr(session, "metadata", {}).get("pruned", False)), quantization=coverage.to_dict() if coverage is not None else None,
                memory=measure_in_subprocess(path) if memory and path.suffix != BUNDLE_SUFFIX else {},
                score=run.metrics[task.metric], metrics=run.metrics,
            ))
            advance(1, model=path.name)
    encodings = real_length_encodings(tokenizer, data, max_length=max_length)
    sessions = [o[0] for o in opened]
    rounds = 5
    with OtherCpuLoad() as load, progress_bar(rounds * len(threads), "latency", unit="round") as advance:
        for t in threads:
            timed = sessions if t == max(threads) else [_open_for_task(path, t)[0] for path in paths]
            reports = measure_latency_interleaved(timed, encodings, threads=t, lengths=[n for n in lengths if n <= max_length], runs=latency_runs,
                                                  pad_id=tokenizer.pad_id, rounds=rounds, on_round=advance,
                                                  texts=real_length_texts(data), tokenizer=tokenizer)
            for result, latency in zip(results, reports):
                result.latency.append(latency.to_dict())
    files = _target_files(paths, target_files)
    target_runs = (_task_target_runs(reference, files, data, task.name, targets, texts=target_texts, tokenizer=tokenizer, max_length=max_length,
                                     threads=max(threads)) if targets and files else [])
    dataset = {"source": data.source, "examples": len(data), "labels": labels}
    return ValidationReport(SCHEMA_VERSION, _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), _machine(load), dataset,
                            str(reference), results, target_runs, task=task.name, metric=task.metric)


def _machine(load: OtherCpuLoad) -> dict:
    """The machine facts, with the CPUs other processes kept busy while latency was measured
    (`edge-albert baseline` refuses a busy one)."""
    return machine_info() | {"other_cpu_load": load.cpus}


def load_report(path: Path) -> dict:
    """A validation report (or baseline) checked against report.schema.json: finite numbers in
    their ranges, at least one result; InputError naming the file and field otherwise."""
    path = Path(path)
    data = read_json(path, missing="report not found")
    if not isinstance(data, dict) or "results" not in data or "schema_version" not in data:
        raise InputError("not an edge-albert validation report (no schema_version/results)", path)
    check_schema(data, "edge_albert.validation", "report.schema.json", path, "report")
    if data["schema_version"] > SCHEMA_VERSION:
        raise InputError(f"report schema {data['schema_version']} is newer than this tool ({SCHEMA_VERSION}); upgrade edge-albert", path)
    _check_consistent(data, path)
    return data


def _check_consistent(data: dict, path: Path) -> None:
    """A number the report gives twice must be the same both times (the gate reads one of them:
    an edit to the other must not pass unseen)."""
    metric = task_of(data)[1]
    for i, r in enumerate(data["results"]):
        metrics = r.get("metrics") or {}
        pairs = [("accuracy", r.get("accuracy"), metrics.get("accuracy", metrics.get("exact_match"))), ("score", r.get("score"), metrics.get(metric))]
        if metric == "accuracy":
            pairs.append(("score", r.get("score"), r.get("accuracy")))
        for field_name, value, other in pairs:
            if value is not None and other is not None and abs(value - other) > 1e-12:
                raise InputError(f"report: field results[{i}].{field_name}: {value} disagrees with its metrics ({other}); the report was edited", path)


def metrics_by_artifact(report_path: Path) -> dict[str, dict]:
    """Per-artifact metrics of a report, keyed by artifact path and by file name (for bundles)."""
    data = load_report(report_path)
    out = {}
    for r in data["results"]:
        latency1 = next((l for l in r["latency"] if l["threads"] == 1), r["latency"][0] if r["latency"] else None)
        summary = {
            "runtime": r["runtime"], "accuracy": r["accuracy"], "macro_f1": r.get("macro_f1"), "score": score(r, task_of(data)[1]), "metric": task_of(data)[1],
            "agreement": r["fidelity"]["agreement"],
            "max_abs_logit_diff": r["fidelity"]["max_abs_logit_diff"], "size_bytes": r["size_bytes"],
            "latency_ms_p50_real": latency1["real"]["p50_ms"] if latency1 and latency1.get("real") else None,
            "dataset": data["dataset"],
        }
        out[r["artifact"]] = summary
        out[Path(r["artifact"]).name] = summary
    return out


# Writers -----------------------------------------------------------------------------------

def _p50(result: dict, key: str = "real", threads: int = 1) -> float | None:
    for lat in result["latency"]:
        if lat["threads"] == threads:
            point = lat["real"] if key == "real" else lat["fixed"].get(key)
            return point["p50_ms"] if point else None
    return None


def summary_rows(report: dict) -> list[list[str]]:
    rows = []
    for r in report["results"]:
        p50 = _p50(r)
        p128 = _p50(r, "128")
        mem = r.get("memory", {}).get("peak_rss_mb")
        rows.append([
            r["name"], r["runtime"] + (" (emulated)" if r.get("emulated") else ""), r["precision"], f"{r['size_bytes'] / 1e6:.2f}",
            f"{score(r, task_of(report)[1]) * 100:.2f}", f"{r['fidelity']['agreement'] * 100:.2f}", f"{r['fidelity']['max_abs_logit_diff']:.2e}",
            f"{p50:.2f}" if p50 is not None else "-", f"{p128:.2f}" if p128 is not None else "-", f"{mem:.0f}" if mem else "-",
        ])
    return rows


HEADERS = ["artifact", "runtime", "precision", "MB", "accuracy %", "agreement %", "max |Δlogit|", "p50 ms (real, 1 thr)", "p50 ms (128 tok)", "peak RSS MB"]
METRIC_NAMES = {"accuracy": "accuracy %", "f1": "F1 %"}


def headers(report: dict) -> list[str]:
    """The summary table's columns, the metric column named after the report's task metric."""
    task, metric = task_of(report)
    name = {"token-classification": "entity F1 %", "question-answering": "SQuAD F1 %"}.get(task, METRIC_NAMES.get(metric, f"{metric} %"))
    agreement = {"token-classification": "same entities %", "question-answering": "same span %"}.get(task, "agreement %")
    return [*HEADERS[:4], name, agreement, *HEADERS[6:]]


def to_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# edge-albert validation report", "",
        f"- created: {report['created']}",
        f"- dataset: {report['dataset']['source']} ({report['dataset']['examples']} examples)",
        f"- reference: {report['reference']}",
        f"- machine: {m['cpu_model']} ({m['logical_cpus']} logical CPUs; flags {', '.join(m['cpu_flags'])})",
        f"- versions: {', '.join(f'{k} {v}' for k, v in m['versions'].items())}", "",
        "| " + " | ".join(headers(report)) + " |", "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(report)]
    lines += ["", "Agreement and logit differences are against the fp32 PyTorch reference on the same sentences.",
              "Emulated runtimes (qemu) report emulated timings, never device latency.", ""]
    if report.get("targets"):
        lines += ["## Targets", "", "Each file run on the target at batch 1, compared with this host running the same file "
                  "(what the target's kernels change) and with the fp32 reference.", "",
                  "| " + " | ".join(TARGET_HEADERS) + " |", "|" + "---|" * len(TARGET_HEADERS)]
        lines += ["| " + " | ".join(row) + " |" for row in target_rows(report)]
        lines.append("")
    return "\n".join(lines)


TARGET_HEADERS = ["target", "target CPU", "artifact", "runtime", "texts", "agreement vs host %", "max |Δlogit| vs host",
                  "agreement vs ref %", "max |Δlogit| vs ref", "tokenizer ids", "median ms"]


def target_rows(report: dict) -> list[list[str]]:
    rows = []
    for run in report.get("targets", []):
        cpu = f"{run['machine'].get('machine', '?')} ({', '.join(run['machine'].get('cpu_flags', [])) or 'no SIMD flags read'})"
        ids = "identical" if not run["tokenizer_mismatches"] else f"{len(run['tokenizer_mismatches'])} differ"
        for m in run["models"]:
            ref = m.get("vs_reference") or {}
            rows.append([
                run["target"], cpu, Path(m["artifact"]).name, m["runtime"],
                str(run["texts"]) + (f" ({run['model_inputs']} windows)" if run.get("model_inputs") not in (None, run["texts"]) else ""),
                f"{m['vs_host']['agreement'] * 100:.2f}", f"{m['vs_host']['max_abs_logit_diff']:.2e}",
                f"{ref['agreement'] * 100:.2f}" if ref else "-", f"{ref['max_abs_logit_diff']:.2e}" if ref else "-", ids,
                f"{m['median_ms']:.1f}" + (" (emulated)" if run.get("emulated") else ""),
            ])
    return rows


def scatter_svg(report: dict, x: str = "latency") -> str:
    """The report's files as an SVG scatter of the task metric against p50 real-length latency at
    the first thread count (circle area: file size) or against file size (`x="size"`)."""
    if x not in ("latency", "size"):
        raise ValueError(f"x is latency or size, not {x!r}")
    metric = task_of(report)[1]
    points = [(r["name"], r["runtime"], _p50(r) if x == "latency" else r["size_bytes"] / 1e6, score(r, metric) * 100, r["size_bytes"] / 1e6)
              for r in report["results"] if _p50(r) is not None]
    if not points:
        return "<p>No latency measurements.</p>"
    w, h, pad = 640, 360, 60
    xs = [p[2] for p in points]
    ys = [p[3] for p in points]
    x0, x1 = 0.0, max(xs) * 1.15
    y0, y1 = min(ys) - 1.0, max(ys) + 1.0
    sx = lambda v: pad + (v - x0) / (x1 - x0 or 1) * (w - 2 * pad)  # noqa: E731
    sy = lambda v: h - pad - (v - y0) / (y1 - y0 or 1) * (h - 2 * pad)  # noqa: E731
    smax = max(p[4] for p in points) or 1
    colors = {"torch": "#6b7280", "onnxruntime": "#2563eb", "litert": "#16a34a", "executorch": "#ea580c"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="accuracy vs latency vs size">',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#333"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#333"/>',
             f'<text x="{w / 2}" y="{h - 15}" text-anchor="middle" font-size="12">'
             f'{"p50 latency, real sentences, batch 1, 1 thread (ms)" if x == "latency" else "file size (MB)"}</text>',
             f'<text x="15" y="{h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 15 {h / 2})">{html.escape(headers(report)[4])}</text>']
    for frac in (0, 0.5, 1):
        xv, yv = x0 + frac * (x1 - x0), y0 + frac * (y1 - y0)
        parts.append(f'<text x="{sx(xv):.0f}" y="{h - pad + 16}" font-size="10" text-anchor="middle">{xv:.1f}</text>')
        parts.append(f'<text x="{pad - 6}" y="{sy(yv):.0f}" font-size="10" text-anchor="end">{yv:.1f}</text>')
    for k, (name, runtime, px, y, size) in enumerate(sorted(points, key=lambda p: p[2])):
        r = 5 + 15 * (size / smax) ** 0.5 if x == "latency" else 6
        tip = f"{px:.2f} ms, {y:.2f}%, {size:.2f} MB" if x == "latency" else f"{size:.2f} MB, {y:.2f}%"
        parts.append(f'<circle cx="{sx(px):.1f}" cy="{sy(y):.1f}" r="{r:.1f}" fill="{colors.get(runtime, "#9333ea")}" fill-opacity="0.55"><title>{html.escape(name)} ({runtime}): {tip}</title></circle>')
        # Alternate labels above and below so neighbours do not print over each other.
        dy = -(r + 4) if k % 2 else r + 12
        parts.append(f'<text x="{sx(px):.1f}" y="{sy(y) + dy:.1f}" font-size="10" text-anchor="middle">{html.escape(name)}</text>')
    for k, (runtime, color) in enumerate(colors.items()):
        parts.append(f'<circle cx="{w - pad - 90}" cy="{pad + 14 * k}" r="5" fill="{color}" fill-opacity="0.55"/>'
                     f'<text x="{w - pad - 80}" y="{pad + 14 * k + 4}" font-size="11">{runtime}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_latency_bars(report: dict) -> str:
    rows = []
    for r in report["results"]:
        for lat in r["latency"]:
            if lat.get("real"):
                rows.append((f"{r['name']} · {lat['threads']} thr", lat["real"]))
    if not rows:
        return ""
    w, bar, pad_left, pad_right = 720, 22, 230, 110
    h = 30 + bar * len(rows)
    top = max(s["p99_ms"] for _, s in rows) * 1.1 or 1
    scale = lambda v: pad_left + v / top * (w - pad_left - pad_right)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="latency distribution">']
    for i, (label, s) in enumerate(rows):
        y = 20 + i * bar
        parts.append(f'<text x="{pad_left - 8}" y="{y + 12}" font-size="11" text-anchor="end">{html.escape(label)}</text>')
        parts.append(f'<line x1="{scale(s["p50_ms"]):.1f}" y1="{y + 8}" x2="{scale(s["p99_ms"]):.1f}" y2="{y + 8}" stroke="#555"/>')
        parts.append(f'<rect x="{scale(s["p50_ms"]) - 1:.1f}" y="{y + 2}" width="{max(2, scale(s["p90_ms"]) - scale(s["p50_ms"])):.1f}" height="12" fill="#2563eb" fill-opacity="0.6"><title>p50 {s["p50_ms"]:.2f} / p90 {s["p90_ms"]:.2f} / p99 {s["p99_ms"]:.2f} ms</title></rect>')
        parts.append(f'<text x="{scale(s["p99_ms"]) + 4:.1f}" y="{y + 12}" font-size="10">{s["p50_ms"]:.2f} / {s["p99_ms"]:.2f} ms</text>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(report: dict) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in summary_rows(report))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers(report))
    m = report["machine"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edge-albert validation report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#111}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}th{{background:#f3f4f6}}td:nth-child(n+4){{text-align:right}}</style>
</head><body>
<h1>edge-albert validation report</h1>
<p id="meta">{html.escape(report['created'])} · dataset {html.escape(str(report['dataset']['source']))} ({report['dataset']['examples']} examples) ·
machine {html.escape(m['cpu_model'])}, {m['logical_cpus']} CPUs ({html.escape(', '.join(m['cpu_flags']))})</p>
<table id="summary"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>
<h2>Accuracy vs latency (circle area: file size)</h2>
<div id="scatter">{scatter_svg(report)}</div>
<h2>Accuracy vs file size</h2>
<div id="scatter-size">{scatter_svg(report, "size")}</div>
<h2>Latency distribution (real sentences, batch 1: p50–p90 box, whisker to p99)</h2>
<div id="latency">{_svg_latency_bars(report)}</div>
<p>Agreement and logit differences are against the fp32 PyTorch reference. Emulated runtimes report emulated timings, not device latency.</p>
{_targets_html(report)}
<script type="application/json" id="report-data">{html.escape(json.dumps(report))}</script>
</body></html>
"""


def _targets_html(report: dict) -> str:
    if not report.get("targets"):
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in TARGET_HEADERS)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in target_rows(report))
    return (f'<h2>Targets</h2><p>Each file run on the target at batch 1, against this host running the same file and against the '
            f'fp32 reference.</p><table id="targets"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')


def write_reports(report: ValidationReport | dict, output_dir: Path, *, force: bool = True) -> dict[str, Path]:
    data = report.to_dict() if isinstance(report, ValidationReport) else report
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": output_dir / "report.json", "markdown": output_dir / "report.md", "html": output_dir / "report.html"}
    for kind, text in (("json", json.dumps(data, indent=2) + "\n"), ("markdown", to_markdown(data)), ("html", to_html(data))):
        with staged_file(paths[kind], force=force) as stage:
            stage.write_text(text, encoding="utf-8")
    return paths


__all__ = ["validate", "ValidationReport", "ArtifactResult", "write_reports", "scatter_svg", "load_report", "metrics_by_artifact", "to_markdown", "to_html", "SCHEMA_VERSION", "target_rows", "TARGET_HEADERS",
           "validate_task", "headers"]
