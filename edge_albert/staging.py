"""Atomic outputs: every artifact is written under a temporary name beside its target and renamed
into place only when complete, so a failure half-way never leaves a partial file behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edge_albert.errors import InputError


def _check_target(target: Path, force: bool) -> None:
    if target.exists() and not force:
        raise InputError("already exists; pass --force to overwrite it", target)
    parent = target.parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True)
        except OSError as exc:
            raise InputError(f"cannot create the output directory ({exc.strerror})", parent) from None
    if not os.access(parent, os.W_OK):
        raise InputError("output directory is not writable; choose another -o path", parent)


def _replace(stage: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        stage.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, target)


@contextlib.contextmanager
def staged_file(target: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` if the block succeeds."""
    target = Path(target)
    _check_target(target, force)
    # The staged name keeps the target's suffix so tools that dispatch on it work on the stage.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=target.parent)
    os.close(fd)
    stage = Path(tmp)
    try:
        yield stage
        _replace(stage, target)
    finally:
        if stage.exists():
            stage.unlink()


@contextlib.contextmanager
def staged_directory(target: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside `target`; rename it onto `target` if the block succeeds."""
    target = Path(target)
    _check_target(target, force)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield stage
        _replace(stage, target)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


__all__ = ["staged_file", "staged_directory"]
