"""Where a model runs for validation: this host, an ARM64 Python under qemu, or a device over SSH.

A target executes the job directory that `run_on_target` writes with `edge_albert.targets.harness`
and leaves `result.json` in it. The host then compares the target's logits with its own run of
the same files (which shows what the target's kernels change) and with the fp32 reference.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.metrics import fidelity_metrics
from edge_albert.runtimes import FILE_RUNTIMES, open_session
from edge_albert.targets.harness import JOB_FILE, RESULT_FILE, TEXTS_FILE, single_batch
from edge_albert.tokenization import AlbertTokenizer

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds edge_albert/


class TargetError(InputError):
    """A target could not run the job (setup missing, connection refused, harness failed)."""


class Target(ABC):
    """Something that can run the harness on a job directory."""

    name: str
    emulated: str | None = None  # set when timings are emulated, e.g. "qemu-aarch64 cortex-a72"
    formats: tuple[str, ...] = (".onnx", ".ort", ".tflite")  # the files it runs

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
    texts: int
    tokenizer_mismatches: list[int]
    models: list[TargetModelResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def host_logits(path: Path, tokenizer: AlbertTokenizer, texts: Sequence[str], max_length: int, threads: int = 1) -> np.ndarray:
    """The same batch-1, real-length runs as the harness, on this host."""
    session = open_session(path, threads=threads)
    rows = [session.run(single_batch(tokenizer.encode(text, max_length=max_length)))[0] for text in texts]
    return np.stack(rows).astype(np.float32)


def run_on_target(
    target: Target,
    artifacts: Sequence[Path],
    tokenizer_model: Path,
    texts: Sequence[str],
    *,
    max_length: int = 128,
    threads: int = 1,
    reference_logits: np.ndarray | None = None,
    timeout: float = 3600.0,
) -> TargetRun:
    """Run `artifacts` (.onnx / .ort / .tflite) on `target` for `texts` and compare with this host."""
    if not texts:
        raise InputError("no texts to run on the target")
    tokenizer = AlbertTokenizer(tokenizer_model)
    artifacts = [Path(a) for a in artifacts]
    for a in artifacts:
        if not a.is_file() or a.suffix not in FILE_RUNTIMES:
            raise InputError("targets run .onnx, .ort and .tflite files only", a)
        if a.suffix not in target.formats:
            raise InputError(f"target {target.name} runs {' and '.join(target.formats)} files only", a)
    with tempfile.TemporaryDirectory(prefix="edge-albert-job-") as tmp:
        job_dir = Path(tmp)
        models = []
        for i, a in enumerate(artifacts):
            name = f"m{i}{a.suffix}"
            shutil.copyfile(a, job_dir / name)
            models.append({"file": name, "artifact": str(a)})
        shutil.copyfile(tokenizer_model, job_dir / "spiece.model")
        host_ids = [tokenizer.encode(t, max_length=max_length).input_ids for t in texts]
        (job_dir / TEXTS_FILE).write_text(json.dumps({"texts": list(texts), "host_ids": host_ids}), encoding="utf-8")
        (job_dir / JOB_FILE).write_text(json.dumps({"models": [{"file": m["file"]} for m in models], "threads": threads,
                                                    "max_length": max_length}), encoding="utf-8")
        target.execute(job_dir, timeout=timeout)
        result_path = job_dir / RESULT_FILE
        if not result_path.is_file():
            raise TargetError(f"target {target.name} wrote no {RESULT_FILE}")
        result = json.loads(result_path.read_text(encoding="utf-8"))

    run = TargetRun(target.name, target.emulated, result["machine"], len(texts), result["tokenizer_mismatches"])
    for model, out in zip(models, result["models"]):
        logits = np.asarray(out["logits"], dtype=np.float32)
        host = host_logits(Path(model["artifact"]), tokenizer, texts, max_length, threads)
        run.models.append(TargetModelResult(
            artifact=model["artifact"], runtime=out["runtime"], load_seconds=out["load_seconds"],
            median_ms=float(np.median(out["seconds"]) * 1000.0), vs_host=fidelity_metrics(logits, host),
            vs_reference=fidelity_metrics(logits, reference_logits) if reference_logits is not None else None,
            host_vs_reference=fidelity_metrics(host, reference_logits) if reference_logits is not None else None,
        ))
    return run


__all__ = ["Target", "TargetError", "LocalTarget", "TargetRun", "TargetModelResult", "run_on_target", "host_logits", "PACKAGE_ROOT"]
