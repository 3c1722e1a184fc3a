"""Virtual environments for tools whose pins clash with ours, created on first use and cached.

MediaPipe's metadata writers need numpy < 2 (mediapipe 0.10.21; the metadata writers of the
numpy-2 releases ship without their compiled module), and Optimum pins its own transformers.
They run in their own environment as a subprocess; only files cross over.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge_albert.cache import build_lock, cache_dir
from edge_albert.errors import InputError


def ensure_venv(name: str, requirements: list[str], probe: str) -> Path:
    """The python of the cached venv `name` with `requirements`; `probe` is an import that must work."""
    folder = cache_dir() / f"venv-{name}"
    python = folder / "bin" / "python"
    with build_lock(folder):
        if python.is_file() and subprocess.run([str(python), "-c", f"import {probe}"], capture_output=True).returncode == 0:
            return python
        _create(folder, python, name, requirements)
    return python


def _create(folder: Path, python: Path, name: str, requirements: list[str]) -> None:
    steps = [[sys.executable, "-m", "venv", "--clear", str(folder)],
             [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements]]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            raise InputError(f"could not set up the {name} environment ({tail[-1] if tail else 'no output'})", folder)
    if "nvidia" in subprocess.run([str(python), "-m", "pip", "list"], capture_output=True, text=True).stdout:
        raise InputError(f"the {name} environment pulled CUDA packages; check the torch pin", folder)


def run_in_venv(command: list[str], *, what: str, path: Path) -> None:
    """Run a command of a venv's python; a failure is one line naming `what` failed, its last
    stderr line and `path` (the input it was working on)."""
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()
        raise InputError(f"{what} failed ({tail[-1] if tail else 'no output'})", path)


__all__ = ["ensure_venv", "run_in_venv"]
