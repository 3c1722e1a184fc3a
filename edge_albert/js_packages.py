"""The pinned JavaScript packages (transformers.js with onnxruntime-node and onnxruntime-web,
playwright-core), Node.js and Chromium: what the JavaScript targets and the web demo use.

The packages are pinned by `js/package-lock.json` and installed on first use into the cache
(`EDGE_ALBERT_CACHE`, default ~/.cache/edge-albert) with `npm ci --ignore-scripts`: no install
script runs (onnxruntime-node's would fetch CUDA libraries from nuget.org). The scripts of
`js/` are copied beside them (Node resolves their imports from there).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from edge_albert.cache import build_lock, cache_dir
from edge_albert.errors import InputError
from edge_albert.staging import staged_directory
from edge_albert.system_tools import find_tool

JS_SOURCES = Path(__file__).resolve().parent / "js"
LOCK_FILES = ("package.json", "package-lock.json")
SCRIPTS = ("job.mjs", "node-harness.mjs", "browser-harness.mjs", "page.html", "page.mjs", "chromium-page.mjs", "demo.html", "demo.mjs", "demo-check.mjs")


def _digest(names: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0" + (JS_SOURCES / name).read_bytes())
    return h.hexdigest()[:12]


def node_executable() -> str:
    node = find_tool("node", "nodejs")
    if node is None:
        raise InputError("node not found: install Node.js 20 or newer (Debian: apt install nodejs npm)")
    return node


def ensure_js_environment(cache: Path | None = None, *, log=lambda msg: None) -> Path:
    """The folder holding the pinned npm packages and the harness scripts (made once)."""
    root = Path(cache) if cache else cache_dir() / f"js-{_digest(LOCK_FILES)}"
    with build_lock(root):
        if not (root / "node_modules" / ".package-lock.json").is_file():
            npm = find_tool("npm")
            node_executable()
            if npm is None:
                raise InputError("npm not found: install Node.js with npm (Debian: apt install nodejs npm)")
            log(f"installing the pinned JavaScript runtimes into {root} (npm ci, once)")
            root.parent.mkdir(parents=True, exist_ok=True)
            with staged_directory(root, force=True) as stage:
                for name in LOCK_FILES:
                    shutil.copyfile(JS_SOURCES / name, stage / name)
                proc = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=stage,
                                      capture_output=True, env={**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"}, timeout=1800)
                if proc.returncode != 0:
                    tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
                    raise InputError(f"npm ci of the JavaScript packages failed: {tail[-1] if tail else 'no output'}")
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
        raise InputError("Chromium not found: install it (Debian: apt install chromium) or set EDGE_ALBERT_CHROMIUM")
    return path




def node_modules(scripts: Path) -> Path:
    """The node_modules folder beside the scripts `ensure_js_environment` returns."""
    return Path(scripts).parent / "node_modules"


__all__ = ["ensure_js_environment", "node_executable", "chromium_executable", "node_modules", "JS_SOURCES"]
