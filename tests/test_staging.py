"""Atomic outputs: nothing half-written at the destination, nothing lost on a failed `--force`,
no directory replaced by a file, and stage files of killed processes swept by the next run."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from edge_albert.errors import InputError
from edge_albert.staging import scratch_directory, staged_directory, staged_file, sweep_stale_stages


def test_failed_verify_keeps_the_existing_file(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("good")

    def refuse(stage):
        assert stage.read_text() == "new"
        raise InputError("check failed")

    with pytest.raises(InputError, match="check failed"):
        with staged_file(target, force=True, verify=refuse) as stage:
            stage.write_text("new")
    assert target.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


@pytest.mark.parametrize("force", [False, True])
def test_a_directory_is_never_replaced_by_a_file(tmp_path, force):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(InputError, match="is a directory"):
        with staged_file(target, force=force) as stage:
            stage.write_text("new")
    assert (target / "keep").read_text() == "x"


def test_a_file_is_never_replaced_by_a_directory(tmp_path):
    target = tmp_path / "run"
    target.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        with staged_directory(target, force=True):
            pass
    assert target.read_text() == "x"


def test_outputs_get_the_users_permissions_not_the_stages(tmp_path):
    old = os.umask(0o022)
    try:
        with staged_file(tmp_path / "a.onnx") as stage:
            stage.write_text("x")
        with staged_directory(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.onnx").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from edge_albert.staging import scratch_directory, staged_file
    target = Path(sys.argv[1])
    with staged_file(target) as stage, scratch_directory(target) as scratch:
        stage.write_text("partial")
        (scratch / "float.onnx").write_text("scratch")
        print("ready", flush=True)
        time.sleep(600)
""")


def test_stages_of_a_killed_process_are_swept_by_the_next_write(tmp_path):
    target = tmp_path / "model.int8.onnx"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and all(name.startswith(".model.int8.") for name in left)
    # A live writer's stages are not touched.
    assert sweep_stale_stages(target) == []
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not target.exists() and len(list(tmp_path.iterdir())) == 2  # SIGKILL: nothing could clean up
    (tmp_path / ".other.123-abc.partial.onnx").write_text("not ours")  # another target's name stays
    with staged_file(target) as stage:
        stage.write_text("complete")
    assert target.read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.123-abc.partial.onnx", "model.int8.onnx"]


def test_scratch_directory_is_removed_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with scratch_directory(tmp_path / "x.onnx") as scratch:
            (scratch / "f").write_text("x")
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []
