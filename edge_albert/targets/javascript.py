"""JavaScript targets: Node (onnxruntime-node) and headless Chromium (onnxruntime-web, WebAssembly).

Both tokenize with transformers.js's tokenizer, reading the tokenizer.json that transformers'
converter makes from the job's spiece.model, and run the job's ONNX files at batch 1 and real
length, as the Python harness does; the host compares their logits with its own.

The npm packages are pinned by `js/package-lock.json` and installed on first use into the cache
(`EDGE_ALBERT_CACHE`, default ~/.cache/edge-albert) with `npm ci --ignore-scripts`: no install
script runs (onnxruntime-node's would fetch CUDA libraries from nuget.org). The browser is the
system's Chromium (`EDGE_ALBERT_CHROMIUM` or chromium / chromium-browser / google-chrome on PATH),
driven by playwright-core; pages are served from 127.0.0.1 with cross-origin isolation, so
WebAssembly threads are available.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from edge_albert.cache import cache_dir
from edge_albert.staging import staged_directory
from edge_albert.system_tools import find_tool
from edge_albert.targets.base import Target, TargetError, check_process
from edge_albert.targets.harness import JOB_FILE
from edge_albert.tokenization import write_tokenizer_json

JS_SOURCES = Path(__file__).resolve().parent / "js"
LOCK_FILES = ("package.json", "package-lock.json")
SCRIPTS = ("job.mjs", "node-harness.mjs", "browser-harness.mjs", "page.html", "page.mjs")


def _digest(names: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0" + (JS_SOURCES / name).read_bytes())
    return h.hexdigest()[:12]


def node_executable() -> str:
    node = find_tool("node", "nodejs")
    if node is None:
        raise TargetError("node not found: install Node.js 20 or newer (Debian: apt install nodejs npm)")
    return node


def ensure_js_environment(cache: Path | None = None, *, log=lambda msg: None) -> Path:
    """The folder holding the pinned npm packages and the harness scripts (made once)."""
    root = Path(cache) if cache else cache_dir() / f"js-{_digest(LOCK_FILES)}"
    if not (root / "node_modules" / ".package-lock.json").is_file():
        npm = find_tool("npm")
        node_executable()
        if npm is None:
            raise TargetError("npm not found: install Node.js with npm (Debian: apt install nodejs npm)")
        log(f"installing the pinned JavaScript runtimes into {root} (npm ci, once)")
        root.parent.mkdir(parents=True, exist_ok=True)
        with staged_directory(root, force=True) as stage:
            for name in LOCK_FILES:
                shutil.copyfile(JS_SOURCES / name, stage / name)
            proc = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=stage,
                                  capture_output=True, env={**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"}, timeout=1800)
            check_process(proc, "npm ci of the JavaScript runtimes")
    scripts = root / f"harness-{_digest(SCRIPTS)}"
    if not scripts.is_dir():
        with staged_directory(scripts, force=True) as stage:
            for name in SCRIPTS:
                shutil.copyfile(JS_SOURCES / name, stage / name)
            (stage / "package.json").write_text(json.dumps({"type": "module"}))
    return scripts


def chromium_executable() -> str:
    path = os.environ.get("EDGE_ALBERT_CHROMIUM") or find_tool("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    if path is None:
        raise TargetError("Chromium not found: install it (Debian: apt install chromium) or set EDGE_ALBERT_CHROMIUM")
    return path


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


__all__ = ["NodeTarget", "BrowserTarget", "ensure_js_environment", "chromium_executable", "node_executable"]
