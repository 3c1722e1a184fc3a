"""The cache's build lock: processes that need the same cached environment at once build it once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge_albert.cache import build_lock

# Each process waits until both have started (so they always overlap), then, under the lock,
# builds the folder if it is missing (slowly) and records in builds.log that it built.
BUILDER = """
import os, sys, time
from pathlib import Path
from edge_albert.cache import build_lock
folder = Path(sys.argv[1])
(folder.parent / f"ready-{os.getpid()}").touch()
deadline = time.time() + 30
while len(list(folder.parent.glob("ready-*"))) < 2 and time.time() < deadline:
    time.sleep(0.01)
with build_lock(folder):
    if not folder.is_dir():
        time.sleep(1.0)
        folder.mkdir(exist_ok=True)
        with open(folder.parent / "builds.log", "a") as log:
            log.write("built\\n")
"""


def test_two_processes_build_once(tmp_path: Path):
    folder = tmp_path / "env"
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(folder)]) for _ in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert (tmp_path / "builds.log").read_text().splitlines() == ["built"]


def test_without_the_lock_both_build(tmp_path: Path):
    """The control: the same two builders with the lock taken out race and both build."""
    folder = tmp_path / "env"
    unlocked = BUILDER.replace("with build_lock(folder):", "if True:")
    procs = [subprocess.Popen([sys.executable, "-c", unlocked, str(folder)]) for _ in range(2)]
    [p.wait(timeout=60) for p in procs]
    assert (tmp_path / "builds.log").read_text().splitlines() == ["built", "built"]


def test_lock_is_released_after_an_error(tmp_path: Path):
    folder = tmp_path / "env"
    try:
        with build_lock(folder):
            raise RuntimeError("build failed")
    except RuntimeError:
        pass
    (tmp_path / "ready-other").touch()  # one builder only: nobody to wait for
    proc = subprocess.run([sys.executable, "-c", BUILDER, str(folder)], timeout=60)
    assert proc.returncode == 0 and folder.is_dir()
