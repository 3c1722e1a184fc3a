"""Where a model runs for validation: this host, an ARM64 Python under qemu, or a device over SSH.

A target executes the job directory that `run_on_target` writes with `edge_albert.targets.harness`
and leaves `result.json` in it. The host then compares the target's outputs with its own run of
the same files (which shows what the target's kernels change) and with the fp32 reference: for
classification the logits and the predicted label; for token classification every token's logits
and whether a sentence keeps every token's tag; for question answering every token's start and end
logits and whether a window keeps its most likely start and end token.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.metrics import fidelity_metrics
from edge_albert.runtimes import FILE_RUNTIMES, open_session
from edge_albert.targets.harness import JOB_FILE, RESULT_FILE, TARGET_TASKS, TEXTS_FILE, single_batch, target_encodings
from edge_albert.tokenization import AlbertTokenizer, Encoding

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds edge_albert/


class TargetError(InputError):
    """A target could not run the job (setup missing, connection refused, harness failed)."""


class Target(ABC):
    """Something that can run the harness on a job directory."""

    name: str
    emulated: str | None = None  # set when timings are emulated, e.g. "qemu-aarch64 cortex-a72"
    formats: tuple[str, ...] = (".onnx", ".ort", ".tflite")  # the files it runs
    token_tasks: bool = True  # runs token classification and question answering (the Python harness does)
    # Job directories it runs side by side. One on a device, whose timings are real; an emulator's
    # timings are not, so it takes one job per host core (each emulated process uses one).
    jobs: int = 1

    @abstractmethod
    def execute(self, job_dir: Path, *, timeout: float) -> None:
        """Run the harness on `job_dir`; `job_dir/result.json` exists afterwards."""


def check_process(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        tail = (proc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise TargetError(f"{what} failed (exit {proc.returncode}): {tail[-1] if tail else 'no output'}")


class LocalTarget(Target):
    """This host's Python in a fresh process: the same harness, no emulation."""

    name = "local"
    formats = (".onnx", ".ort", ".tflite", ".pte")

    def execute(self, job_dir: Path, *, timeout: float) -> None:
        env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run([sys.executable, "-m", "edge_albert.targets.harness", str(job_dir)], env=env, capture_output=True, timeout=timeout)
        check_process(proc, "local harness")


@dataclass
class TargetModelResult:
    artifact: str
    runtime: str
    load_seconds: float
    median_ms: float  # per text at batch 1, real length; emulated when the target is
    vs_host: dict[str, float]  # fidelity against this host running the same file
    vs_reference: dict[str, float] | None = None  # against the fp32 PyTorch reference, when given
    host_vs_reference: dict[str, float] | None = None  # this host's run of the file against the reference, on the same texts


@dataclass
class TargetRun:
    target: str
    emulated: str | None
    machine: dict
    texts: int  # texts, sentences or questions
    tokenizer_mismatches: list[int]  # model inputs (texts, sentences, context windows) whose ids differ from the host's
    models: list[TargetModelResult] = field(default_factory=list)
    task: str = "text-classification"
    model_inputs: int | None = None  # context windows for question answering; one per text otherwise

    def to_dict(self) -> dict:
        return asdict(self)


def host_logits(path: Path, tokenizer: AlbertTokenizer, texts: Sequence[str], max_length: int, threads: int = 1) -> np.ndarray:
    """The same batch-1, real-length runs as the harness, on this host."""
    encodings = [tokenizer.encode(text, max_length=max_length) for text in texts]
    return np.stack(host_outputs(path, encodings, threads)).astype(np.float32)


def host_outputs(path: Path, encodings: Sequence[Encoding], threads: int = 1) -> list[np.ndarray]:
    """Each model input at batch 1 and its real length, as the harness runs it: a row of logits,
    or a row per token for the token tasks."""
    session = open_session(path, threads=threads)
    return [np.asarray(session.run(single_batch(e)), dtype=np.float32)[0] for e in encodings]


def output_fidelity(task: str, outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> dict[str, float]:
    """`fidelity_metrics` of one side's outputs against the other's, where `agreement` is what a
    user sees: the same label per text; the same tag at every token of a sentence
    (`token_agreement`: per token); the same most likely start and end token of a window."""
    if len(outputs) != len(reference):
        raise TargetError(f"the target gave {len(outputs)} outputs where the host has {len(reference)}")
    if task == "text-classification":
        return fidelity_metrics(np.stack(outputs), np.stack(reference))
    # question answering: [tokens, 2] -> rows "start" and "end", so argmax picks the token
    rows = [np.asarray(o).T if task == "question-answering" else np.asarray(o) for o in outputs]
    ref_rows = [np.asarray(o).T if task == "question-answering" else np.asarray(o) for o in reference]
    if any(a.shape != b.shape for a, b in zip(rows, ref_rows)):
        raise TargetError("the target's outputs have other shapes than the host's: another model or window?")
    # Per input (a window's rows have its own length), then weighted by rows and by values.
    each = [fidelity_metrics(a, b) for a, b in zip(rows, ref_rows)]
    n_rows = np.array([len(a) for a in rows], dtype=np.float64)
    n_values = np.array([a.size for a in rows], dtype=np.float64)
    return {
        "agreement": float(np.mean([f["agreement"] == 1.0 for f in each])),
        "token_agreement": float(np.average([f["agreement"] for f in each], weights=n_rows)),
        "max_abs_logit_diff": max(f["max_abs_logit_diff"] for f in each),
        "mean_abs_logit_diff": float(np.average([f["mean_abs_logit_diff"] for f in each], weights=n_values)),
        "kl_divergence": float(np.average([f["kl_divergence"] for f in each], weights=n_rows)),
    }


def split_by_size(artifacts: Sequence[Path], jobs: int) -> list[list[int]]:
    """The artifacts' indices in at most `jobs` groups of about equal bytes (a float file takes
    several times an int8 file's time under emulation), each in the given order."""
    sizes = [a.stat().st_size for a in artifacts]
    groups: list[list[int]] = [[] for _ in range(max(1, min(jobs, len(artifacts))))]
    load = [0] * len(groups)
    for i in sorted(range(len(artifacts)), key=lambda i: -sizes[i]):
        g = load.index(min(load))
        groups[g].append(i)
        load[g] += sizes[i]
    return [sorted(g) for g in groups]


def run_on_target(
    target: Target,
    artifacts: Sequence[Path],
    tokenizer_model: Path,
    texts: Sequence,
    *,
    max_length: int = 128,
    threads: int = 1,
    reference_logits: np.ndarray | Sequence[np.ndarray] | None = None,
    timeout: float = 3600.0,
    task: str = "text-classification",
    stride: int = 128,
) -> TargetRun:
    """Run `artifacts` (.onnx / .ort / .tflite) on `target` for `texts` and compare with this host.

    `texts` are the task's inputs: texts, sentences as word lists (token-classification) or
    (question, context) pairs (question-answering); `reference_logits` the fp32 reference's
    outputs for the same model inputs (`host_outputs` of the checkpoint)."""
    if not texts:
        raise InputError("no texts to run on the target")
    if task not in TARGET_TASKS:
        raise InputError(f"targets run {', '.join(TARGET_TASKS)} models; validate {task} models on this host")
    if task != "text-classification" and not target.token_tasks:
        raise InputError(f"target {target.name} runs text classification only; run {task} models on qemu-arm64 or an SSH device")
    tokenizer = AlbertTokenizer(tokenizer_model)
    artifacts = [Path(a) for a in artifacts]
    for a in artifacts:
        if not a.is_file() or a.suffix not in FILE_RUNTIMES:
            raise InputError("targets run .onnx, .ort, .tflite and .pte files only", a)
        if a.suffix not in target.formats:
            raise InputError(f"target {target.name} runs {' and '.join(target.formats)} files only", a)
    inputs = [list(t) if not isinstance(t, str) else t for t in texts]
    encodings = target_encodings(tokenizer, task, inputs, max_length=max_length, stride=stride)
    groups = split_by_size(artifacts, target.jobs)
    texts_json = json.dumps({"texts": inputs, "host_ids": [e.input_ids for e in encodings]})
    with tempfile.TemporaryDirectory(prefix="edge-albert-job-") as tmp:
        job_dirs = []
        for g, group in enumerate(groups):
            job_dir = Path(tmp) / f"job{g}"
            job_dir.mkdir()
            for i in group:
                shutil.copyfile(artifacts[i], job_dir / f"m{i}{artifacts[i].suffix}")
            shutil.copyfile(tokenizer_model, job_dir / "spiece.model")
            (job_dir / TEXTS_FILE).write_text(texts_json, encoding="utf-8")
            (job_dir / JOB_FILE).write_text(json.dumps({"models": [{"file": f"m{i}{artifacts[i].suffix}"} for i in group], "threads": threads,
                                                        "max_length": max_length, "task": task, "stride": stride}), encoding="utf-8")
            job_dirs.append(job_dir)
        with ThreadPoolExecutor(max_workers=len(job_dirs)) as pool:
            list(pool.map(lambda job_dir: target.execute(job_dir, timeout=timeout), job_dirs))
        results = []
        for job_dir in job_dirs:
            if not (job_dir / RESULT_FILE).is_file():
                raise TargetError(f"target {target.name} wrote no {RESULT_FILE}")
            results.append(json.loads((job_dir / RESULT_FILE).read_text(encoding="utf-8")))
    by_index = {i: out for group, r in zip(groups, results) for i, out in zip(group, r["models"])}
    result = {"machine": results[0]["machine"], "models": [by_index[i] for i in range(len(artifacts))],
              "tokenizer_mismatches": sorted({m for r in results for m in r["tokenizer_mismatches"]})}

    run = TargetRun(target.name, target.emulated, result["machine"], len(texts), result["tokenizer_mismatches"], task=task,
                    model_inputs=len(encodings))
    reference = list(reference_logits) if reference_logits is not None else None
    for artifact, out in zip(artifacts, result["models"]):
        outputs = [np.asarray(o, dtype=np.float32) for o in out["logits"]]
        host = host_outputs(artifact, encodings, threads)
        run.models.append(TargetModelResult(
            artifact=str(artifact), runtime=out["runtime"], load_seconds=out["load_seconds"],
            median_ms=float(np.median(out["seconds"]) * 1000.0), vs_host=output_fidelity(task, outputs, host),
            vs_reference=output_fidelity(task, outputs, reference) if reference is not None else None,
            host_vs_reference=output_fidelity(task, host, reference) if reference is not None else None,
        ))
    return run


__all__ = ["Target", "TargetError", "LocalTarget", "TargetRun", "TargetModelResult", "run_on_target", "host_logits", "host_outputs", "output_fidelity",
           "PACKAGE_ROOT"]
