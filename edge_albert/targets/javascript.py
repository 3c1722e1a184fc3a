"""JavaScript targets: Node (onnxruntime-node) and headless Chromium (onnxruntime-web, WebAssembly).

Both tokenize with transformers.js's tokenizer, reading the tokenizer.json that transformers'
converter makes from the job's spiece.model, and run the job's ONNX files at batch 1 and real
length, as the Python harness does; the host compares their logits with its own.

The npm packages are pinned and installed on first use (edge_albert/js_packages.py). The browser
is the system's Chromium (`EDGE_ALBERT_CHROMIUM` or chromium / chromium-browser / google-chrome on
PATH), driven by playwright-core; pages are served from 127.0.0.1 with cross-origin isolation, so
WebAssembly threads are available.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from edge_albert.js_packages import chromium_executable, ensure_js_environment, node_executable
from edge_albert.targets.base import Target, check_process
from edge_albert.targets.harness import JOB_FILE
from edge_albert.tokenization import write_tokenizer_json


def _prepare_job(job_dir: Path, threads: int | None) -> None:
    """tokenizer.json beside the job's spiece.model (what transformers.js reads), and the target's
    own thread count when it has one."""
    job = json.loads((job_dir / JOB_FILE).read_text(encoding="utf-8"))
    if threads:
        job["threads"] = threads
        (job_dir / JOB_FILE).write_text(json.dumps(job), encoding="utf-8")
    write_tokenizer_json(job_dir / "spiece.model", job_dir, max(512, int(job.get("max_length", 512))))
    (job_dir / "config.json").write_text(json.dumps({"model_type": "albert"}))


class _JavaScriptTarget(Target):
    kind = ""
    formats = (".onnx",)
    token_tasks = False  # the JavaScript harness tokenizes single texts (transformers.js) only

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self.name = f"{self.kind}:{threads}" if threads else self.kind


class NodeTarget(_JavaScriptTarget):
    """Node.js: onnxruntime-node's CPU kernels, transformers.js's tokenizer."""

    kind = "node"

    def execute(self, job_dir: Path, *, timeout: float) -> None:
        scripts = ensure_js_environment()
        _prepare_job(job_dir, self.threads)
        proc = subprocess.run([node_executable(), str(scripts / "node-harness.mjs"), str(job_dir)], capture_output=True, timeout=timeout)
        check_process(proc, "node harness")


class BrowserTarget(_JavaScriptTarget):
    """Headless Chromium: onnxruntime-web's WebAssembly kernels (SIMD; `threads` WebAssembly
    threads under cross-origin isolation), transformers.js's tokenizer, a page on 127.0.0.1."""

    kind = "browser"

    def execute(self, job_dir: Path, *, timeout: float) -> None:
        scripts = ensure_js_environment()
        _prepare_job(job_dir, self.threads)
        proc = subprocess.run([node_executable(), str(scripts / "browser-harness.mjs"), str(job_dir), chromium_executable(), str(int(timeout))],
                              capture_output=True, timeout=timeout + 30)
        check_process(proc, "browser harness")


__all__ = ["NodeTarget", "BrowserTarget"]
