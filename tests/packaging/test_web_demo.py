"""`edge-albert package --web`: a static folder whose page classifies typed text in headless
Chromium with transformers.js and our int8 model, fetching nothing from anywhere else."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edge_albert.errors import InputError
from edge_albert.tokenization import AlbertTokenizer
from tests.conftest import require_tool


def test_the_demo_page_classifies_typed_text_in_chromium(tmp_path, web_folder, trained_checkpoint):
    require_tool("node", package="nodejs")
    chromium = require_tool("chromium", "chromium-browser", "google-chrome", package="chromium")
    import onnxruntime as ort

    from edge_albert.js_packages import ensure_js_environment

    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "edge_albert.cli", "package", str(web_folder), "--web", "-o", str(site), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    demo = json.loads(proc.stdout)
    assert demo["labels"] == ["negative", "positive"] and "index.html" in demo["files"] and "model/onnx/model_quantized.onnx" in demo["files"]
    assert "model/onnx/model.onnx" not in demo["files"]  # the page ships the int8 file only
    session = ort.InferenceSession(str(web_folder / "onnx" / "model_quantized.onnx"))
    tok = AlbertTokenizer(trained_checkpoint / "spiece.model")
    check = ensure_js_environment() / "demo-check.mjs"
    seen = set()
    for n, text in enumerate(["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate cliches from start to finish ."]):
        shot = tmp_path / f"page-{n}.png"
        proc = subprocess.run(["node", str(check), str(site), chromium, str(shot), text], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        page = json.loads(proc.stdout)
        assert page["foreign_requests"] == []
        ids = np.asarray([tok.encode(text).input_ids], dtype=np.int64)
        logits = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})[0][0]
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert page["label"] == ["negative", "positive"][int(probs.argmax())]
        assert abs(page["scores"]["positive"] - float(probs[1])) <= 0.01  # int8 kernels of WebAssembly and x86 differ slightly
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        seen.add(page["label"])
    assert seen == {"negative", "positive"}


def test_the_demo_needs_a_text_classifier_folder(tmp_path, web_folder):
    from edge_albert.packaging.web_demo import write_web_demo

    with pytest.raises(InputError, match="not a transformers.js folder"):
        write_web_demo(tmp_path, tmp_path / "site")
    assert not (tmp_path / "site").exists()
