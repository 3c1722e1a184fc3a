"""The ExecuTorch adapter in the commands users run: programs of several thread counts in one
process (ExecuTorch's pool is process-wide; resizing it under a loaded program crashed), a
bundle holding a .pte answered by `predict` as its ONNX twin is, and `validate` reporting it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer, pad_encodings


def cli(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "edge_albert.cli", *map(str, args)], capture_output=True, text=True, timeout=600, input=stdin)


def test_sessions_of_different_thread_counts_alternate_in_one_process(trained_checkpoint, executorch_programs, sst2_dev):
    tok = AlbertTokenizer(trained_checkpoint / "spiece.model")
    batch = pad_encodings([tok.encode(s, max_length=128) for _, s in sst2_dev[:16]], tok.pad_id)
    # In a child process: a crash there fails this test instead of killing the test run.
    code = f"""
import numpy as np
from pathlib import Path
from edge_albert.runtimes import open_session
batch = {{k: np.array(v) for k, v in {json.dumps({k: v.tolist() for k, v in batch.items()})}.items()}}
two = open_session(Path({str(executorch_programs["float32"].export.path)!r}), threads=2)
one = open_session(Path({str(executorch_programs["int8"].output)!r}), threads=1)
first = (two.run(batch), one.run(batch))
for _ in range(3):
    assert np.array_equal(two.run(batch), first[0]) and np.array_equal(one.run(batch), first[1])
print("ok", float(np.abs(first[0] - first[1]).max()))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")
    assert result.stderr == ""  # the native runtime's start-up lines are kept off the user's terminal


def test_bundle_with_a_program_predicts_as_its_onnx_twin(tmp_path, trained_checkpoint, trained_artifacts, executorch_programs, sst2_dev):
    bundle = tmp_path / "b.eabundle"
    made = cli("package", trained_artifacts["onnx"], executorch_programs["float32"].export.path, "--tokenizer", trained_checkpoint / "spiece.model", "-o", bundle)
    assert made.returncode == 0, made.stderr
    texts = "\n".join(s for _, s in sst2_dev[:40]) + "\n"
    runs = {backend: cli("predict", bundle, "--backend", backend, stdin=texts) for backend in ("onnxruntime", "executorch")}
    for backend, run in runs.items():
        assert run.returncode == 0, (backend, run.stderr[-1000:])
    onnx_records, pte_records = ([json.loads(line) for line in runs[b].stdout.splitlines()] for b in ("onnxruntime", "executorch"))
    assert len(pte_records) == 40
    assert [r["label"] for r in pte_records] == [r["label"] for r in onnx_records]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(pte_records, onnx_records)) <= 1e-4
    manifest = json.loads(__import__("zipfile").ZipFile(bundle).read("manifest.json"))
    assert {m["backend"] for m in manifest["models"]} == {"onnxruntime", "executorch"}
    assert next(m for m in manifest["models"] if m["backend"] == "executorch")["inputs"]["dtype"] == "int64"


def test_validate_reports_programs_with_metric_fidelity_and_latency(tmp_path, trained_checkpoint, executorch_programs, sst2_dev):
    data = tmp_path / "dev.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{s}\t{l}\n" for l, s in sst2_dev[:60]))
    run = cli("validate", trained_checkpoint, executorch_programs["float32"].export.path, executorch_programs["int8"].output,
              "--data", data, "--runs", "2", "--no-memory", "-o", tmp_path / "report")
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    rows = {r["name"]: r for r in report["results"]}
    pte, int8 = rows["model.pte"], rows["model.int8.pte"]
    assert pte["runtime"] == int8["runtime"] == "executorch"
    assert pte["fidelity"]["max_abs_logit_diff"] <= 1e-4 and pte["fidelity"]["agreement"] == 1.0
    assert int8["precision"] == "int8-dynamic" and int8["fidelity"]["agreement"] >= 0.95
    assert pte["latency"][0]["real"]["p50_ms"] > 0 and "executorch" in report["machine"]["versions"]
