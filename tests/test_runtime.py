"""The on-device runtime: same predictions as the full pipeline, defined behaviour at the edges,
and a clean virtual environment with only the core install (no torch, no tensorflow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_albert.errors import InputError
from edge_albert.runtime import Classifier
from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.compare import run_texts

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("backend", ["onnxruntime", "litert"])
def test_predictions_match_pytorch(bundle, trained_checkpoint, sst2_dev, backend):
    texts = [s for _, s in sst2_dev[:200]]
    clf = Classifier.from_bundle(bundle, backend)
    logits, _, _ = clf.logits(texts)
    ref = run_texts(open_session(trained_checkpoint), AlbertTokenizer(trained_checkpoint / "spiece.model"), texts, max_length=128)
    assert np.abs(logits - ref).max() <= 1e-4
    preds = clf.predict(texts)
    assert [p.label for p in preds] == [clf.labels[i] for i in ref.argmax(1)]
    assert all(abs(sum(p.probabilities.values()) - 1) < 1e-6 for p in preds)


def test_empty_and_very_long_texts(bundle):
    clf = Classifier.from_bundle(bundle, "litert")
    empty, long = clf.predict(["", "wonderful " * 2000])
    assert empty.tokens == 2 and not empty.truncated
    assert long.tokens == 128 and long.truncated
    with pytest.raises(InputError, match="list of texts"):
        clf.predict("a single string")


def test_predict_cli_stdin_json_lines_and_bad_utf8(bundle):
    stdin = "a great film\n\nterrible\n".encode() + b"\xff\xfe broken\n"
    out = subprocess.run([sys.executable, "-m", "edge_albert.cli", "predict", str(bundle), "--backend", "onnxruntime"],
                         input=stdin, capture_output=True, timeout=300)
    records = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4]
    assert records[0]["label"] in ("negative", "positive") and records[1]["text"] == ""
    assert records[3] == {"line": 4, "error": "not valid UTF-8 (byte 0)"}
    assert out.returncode == 2


@pytest.mark.slow
def test_clean_venv_with_only_the_core_install(tmp_path, bundle, trained_checkpoint, sst2_dev):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(REPO)],
                             capture_output=True, text=True, timeout=1200, env=env)
    if install.returncode != 0 and "No matching distribution" in install.stderr:
        pytest.skip("package index not reachable")
    assert install.returncode == 0, install.stderr[-2000:]
    texts = [s for _, s in sst2_dev[:50]]
    script = (
        "import importlib.util, json, sys\n"
        "from edge_albert.runtime import Classifier\n"
        "assert importlib.util.find_spec('torch') is None and importlib.util.find_spec('tensorflow') is None\n"
        "texts = json.loads(sys.stdin.read())\n"
        "out = {b: [p.label for p in Classifier.from_bundle(sys.argv[1], b).predict(texts)] for b in ('onnxruntime', 'litert')}\n"
        "print(json.dumps({'out': out, 'torch_loaded': 'torch' in sys.modules}))\n"
    )
    run = subprocess.run([str(py), "-c", script, str(bundle)], input=json.dumps(texts), capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert not result["torch_loaded"]
    ref = run_texts(open_session(trained_checkpoint), AlbertTokenizer(trained_checkpoint / "spiece.model"), texts, max_length=128)
    expected = [["negative", "positive"][i] for i in ref.argmax(1)]
    assert result["out"]["onnxruntime"] == expected and result["out"]["litert"] == expected
    # The toolchain commands say what to install instead of failing with a traceback.
    cli = subprocess.run([str(venv / "bin" / "edge-albert"), "inspect", str(trained_checkpoint)], capture_output=True, text=True, timeout=300, env=env)
    assert cli.returncode == 2 and "pip install 'edge-albert[full]'" in cli.stderr and "Traceback" not in cli.stderr
