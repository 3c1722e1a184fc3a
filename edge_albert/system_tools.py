"""Finding the system programs some stages run (debootstrap, sshd, chromium, ...): one rule for
the library and the tests. PATH first, then the sbin folders, which a non-login root shell or CI
often leaves off PATH although Debian installs debootstrap and sshd there."""

from __future__ import annotations

import os
import shutil

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


__all__ = ["find_tool", "SBIN_DIRS"]
