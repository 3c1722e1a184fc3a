"""Native tools: finding the system programs some stages run (debootstrap, sshd, chromium, ...),
one rule for the library and the tests (PATH first, then the sbin folders, which a non-login root
shell or CI often leaves off PATH although Debian installs debootstrap and sshd there); and
silencing the start-up lines native libraries write straight to file descriptor 2."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def find_tool(*names: str) -> str | None:
    """The first of `names` found on PATH or in the sbin folders, as a path; None if none is."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for folder in SBIN_DIRS:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    return None


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence a native library's log lines (ExecuTorch's cpuinfo probing /sys on every program
    load, sentencepiece's builder) by pointing file descriptor 2 at /dev/null for the duration."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


__all__ = ["find_tool", "quiet_stderr", "SBIN_DIRS"]
