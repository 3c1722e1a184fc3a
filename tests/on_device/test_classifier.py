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
from edge_albert.on_device import Classifier
from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.compare import run_texts

REPO = Path(__file__).resolve().parents[2]


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
def test_clean_venv_with_only_the_core_install(tmp_path, bundle, trained_checkpoint, sst2_dev, embedding_checkpoint):
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
        "from edge_albert.on_device import Classifier\n"
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
    # A sentence-embedding bundle: `embed` and `predict` in the same torch-free install.
    from edge_albert.converters.convert import convert
    from edge_albert.on_device import Embedder
    from edge_albert.packaging.bundle import build_bundle

    convert(embedding_checkpoint, tmp_path / "emb.onnx", "onnx")
    embedder = build_bundle([tmp_path / "emb.onnx"], embedding_checkpoint / "spiece.model", tmp_path / "emb.eabundle").path
    embedded = subprocess.run([str(venv / "bin" / "edge-albert"), "embed", str(embedder), "-o", str(tmp_path / "v.npy")], input="\n".join(texts[:10]),
                              capture_output=True, text=True, timeout=300, env=env)
    assert embedded.returncode == 0, embedded.stderr[-2000:]
    import numpy as np

    assert np.abs(np.load(tmp_path / "v.npy") - Embedder.from_bundle(embedder).embed(texts[:10])).max() <= 1e-5
    predicted = subprocess.run([str(venv / "bin" / "edge-albert"), "predict", str(embedder), texts[0]], capture_output=True, text=True, timeout=300, env=env)
    assert predicted.returncode == 0 and len(json.loads(predicted.stdout)["embedding"]) == 96


# Arguments that used to give a silent wrong answer or a traceback: each is refused before any work.
BAD_CALLS = {
    "batch_size -1": (dict(texts=["great", "awful"], batch_size=-1), "batch_size must be a positive integer"),
    "batch_size 0": (dict(texts=["great"], batch_size=0), "batch_size must be a positive integer"),
    "batch_size 2.5": (dict(texts=["great"], batch_size=2.5), "batch_size must be a positive integer"),
    "batch_size True": (dict(texts=["great"], batch_size=True), "batch_size must be a positive integer"),
    "fewer pairs": (dict(texts=["a", "b", "c"], text_pairs=["x"]), "text_pairs has 1 entries for 3 texts"),
    "more pairs": (dict(texts=["a"], text_pairs=["x", "y"]), "text_pairs has 2 entries for 1 texts"),
    "pairs a string": (dict(texts=["a"], text_pairs="x"), "not a single string"),
    "lone surrogate": (dict(texts=["fine", "bad \udcff byte"]), "text 1 is not valid UTF-8"),
    "surrogate in a pair": (dict(texts=["fine"], text_pairs=["\ud800"]), "text_pairs 0 is not valid UTF-8"),
    "not a string": (dict(texts=["fine", None]), "text 1 is a NoneType"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_arguments_are_refused_before_any_work(bundle, case, monkeypatch):
    kwargs, message = BAD_CALLS[case]
    clf = Classifier.from_bundle(bundle, "onnxruntime")
    monkeypatch.setattr(clf.session, "run", lambda batch: pytest.fail("the model ran"))
    with pytest.raises(InputError, match=message):
        clf.predict(**kwargs)


@pytest.mark.parametrize("value", ["-1", "0"])
def test_predict_cli_refuses_a_batch_size_below_1(bundle, value):
    out = subprocess.run([sys.executable, "-m", "edge_albert.cli", "predict", str(bundle), "great", "awful", "--batch-size", value],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stdout == "" and "--batch-size" in out.stderr and "Traceback" not in out.stderr


def test_predict_cli_argument_with_invalid_utf8(bundle):
    out = subprocess.run([sys.executable, "-m", "edge_albert.cli", "predict", str(bundle), b"\xff\xfe bad", "ok"], capture_output=True, timeout=300)
    records = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert records[0] == {"line": 1, "error": "argument 1 is not valid UTF-8 (character 0 is a lone surrogate)"}
    assert records[1]["text"] == "ok" and out.returncode == 2 and b"Traceback" not in out.stderr


@pytest.mark.parametrize("backend", ["onnxruntime", "litert"])
def test_one_classifier_shared_by_8_threads_answers_as_one_thread(bundle, sst2_dev, backend):
    from concurrent.futures import ThreadPoolExecutor

    texts = [s for _, s in sst2_dev]
    clf = Classifier.from_bundle(bundle, backend)
    alone, _, _ = clf.logits(texts, batch_size=4)
    chunks = [texts[i::8] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        shared = list(pool.map(lambda chunk: clf.logits(chunk, batch_size=4)[0], chunks * 2))
    for i, logits in enumerate(shared):
        np.testing.assert_array_equal(logits, alone[i % 8::8])


@pytest.fixture(scope="module")
def int8_bundle(tmp_path_factory, trained_checkpoint):
    from edge_albert.packaging.bundle import build_bundle
    from edge_albert.quantization import quantize
    from edge_albert.quantization.configs import recipe

    folder = tmp_path_factory.mktemp("int8")
    model = quantize(trained_checkpoint, folder / "model.int8.onnx", recipe("dynamic_wi8_afp32"), to="onnx").output
    return build_bundle([model], trained_checkpoint / "spiece.model", folder / "int8.eabundle").path


def test_dynamic_int8_answers_do_not_depend_on_the_batch(int8_bundle, sst2_dev):
    texts = [s for _, s in sst2_dev[:300]]
    clf = Classifier.from_bundle(int8_bundle)
    assert clf.session.row_by_row
    batched, _, _ = clf.logits(texts, batch_size=32)
    alone = np.concatenate([clf.logits([t])[0] for t in texts])
    np.testing.assert_array_equal(batched, alone)
    reversed_batch, _, _ = clf.logits(texts[::-1], batch_size=7)
    np.testing.assert_array_equal(reversed_batch[::-1], alone)
    # Without row-by-row runs the same file is not batch-invariant: the guard is needed.
    clf.session.row_by_row = False
    raw, _, _ = clf.logits(texts, batch_size=32)
    assert np.abs(raw - alone).max() > 1e-4


def test_importing_the_runtime_and_reading_a_bundle_pulls_in_no_toolchain(bundle):
    # The on-device path must stay torch-free even in the full install: an import of torch, onnx
    # (the Python package) or tensorflow here would be paid by every app start.
    script = ("import sys\nfrom edge_albert.on_device import Classifier\n"
              "Classifier.from_bundle(sys.argv[1], 'onnxruntime').predict(['fine'])\n"
              "print(sorted(m for m in ('torch', 'onnx', 'tensorflow', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script, str(bundle)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
