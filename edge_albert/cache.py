"""Where edge-albert keeps what it fetches or builds once (default data, the ARM64 environment,
tool venvs, the JavaScript packages), and the lock that lets several processes share it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent first builds there are not guarded
    fcntl = None


def cache_dir() -> Path:
    """$EDGE_ALBERT_CACHE, else $XDG_CACHE_HOME/edge-albert, else ~/.cache/edge-albert."""
    if os.environ.get("EDGE_ALBERT_CACHE"):
        return Path(os.environ["EDGE_ALBERT_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "edge-albert"


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Held while `folder` is checked and, if missing, built: two processes that need the same
    cached environment at once (parallel test workers, two CI jobs on one machine) build it
    once, and neither replaces it while the other is using it. Callers check again inside."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = ["cache_dir", "build_lock"]
