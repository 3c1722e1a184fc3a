"""Atomic outputs: every artifact is written under a temporary name beside its target and renamed
into place only when complete, so a failure half-way never leaves a partial file behind.

Stage and scratch names carry the writing process's id (`.NAME.PID-RANDOM.partial.EXT`,
`.NAME.PID-RANDOM.work`). A process killed with SIGKILL cannot clean up after itself, so the next
write to the same target removes the stages and scratch folders of processes that no longer run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from edge_albert.errors import InputError


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_stale_stages(target: Path) -> list[Path]:
    """Remove stage files and scratch folders for `target` left by processes that died; returns them."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(target.stem)}\.(\d+)-[^.]+\.(partial{re.escape(target.suffix)}|work)$|"
                         rf"^\.{re.escape(target.name)}\.(\d+)-[^.]+\.(partial|work)$")
    removed = []
    for entry in target.parent.iterdir():
        match = pattern.match(entry.name)
        if not match:
            continue
        pid = int(match.group(1) or match.group(3))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def check_target(target: Path, force: bool, *, directory: bool = False) -> None:
    """Refuse an existing output without `force`, and never replace a directory by a file (or the
    other way round) even with it: `-o` pointing at the wrong kind of thing is a typo, not a wish."""
    if target.is_dir() and not target.is_symlink() and not directory:
        raise InputError("is a directory; give a file path for the output", target)
    if directory and target.exists() and not target.is_dir():
        raise InputError("is a file; give a directory path for the output", target)
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace(stage: Path, target: Path) -> None:
    # mkstemp and mkdtemp create owner-only stages (0600, 0700); an output gets the permissions
    # any new file of the user's would get.
    os.chmod(stage, (0o777 if stage.is_dir() else 0o666) & ~_umask())
    if target.is_dir() and not target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        stage.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, target)


@contextlib.contextmanager
def staged_file(target: Path, *, force: bool = False, verify: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` if the block succeeds.

    `verify(stage)` runs on the complete stage before the rename: when it raises, the existing
    target (with `force`) stays as it was.
    """
    target = Path(target)
    check_target(target, force)
    sweep_stale_stages(target)
    # The staged name keeps the target's suffix so tools that dispatch on it work on the stage.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.{os.getpid()}-", suffix=f".partial{target.suffix}", dir=target.parent)
    os.close(fd)
    stage = Path(tmp)
    try:
        yield stage
        if verify is not None:
            verify(stage)
        _replace(stage, target)
    finally:
        if stage.exists():
            stage.unlink()


@contextlib.contextmanager
def staged_directory(target: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside `target`; rename it onto `target` if the block succeeds."""
    target = Path(target)
    check_target(target, force, directory=True)
    sweep_stale_stages(target)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".partial", dir=target.parent))
    try:
        yield stage
        _replace(stage, target)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def scratch_directory(target: Path) -> Iterator[Path]:
    """A scratch folder beside `target` for intermediate files (float exports before quantization),
    removed at the end; one left by a killed process is swept by the next write to `target`."""
    target = Path(target)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.stem}.{os.getpid()}-", suffix=".work", dir=target.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


__all__ = ["staged_file", "staged_directory", "scratch_directory", "sweep_stale_stages", "check_target"]
