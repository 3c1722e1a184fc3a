"""Where edge-albert keeps what it fetches or builds once (default data, the ARM64 environment,
tool venvs)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$EDGE_ALBERT_CACHE, else $XDG_CACHE_HOME/edge-albert, else ~/.cache/edge-albert."""
    if os.environ.get("EDGE_ALBERT_CACHE"):
        return Path(os.environ["EDGE_ALBERT_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "edge-albert"


__all__ = ["cache_dir"]
