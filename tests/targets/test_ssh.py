"""The SSH device runner against a real OpenSSH server on loopback (the test starts it)."""

from __future__ import annotations

import pytest

from edge_albert.targets import TargetError, run_on_target
from edge_albert.targets.ssh import SshTarget


def _target(sshd, **kw) -> SshTarget:
    return SshTarget("127.0.0.1", user=sshd["user"], port=sshd["port"], identity=sshd["identity"], known_hosts=sshd["known_hosts"], **kw)


def test_ssh_target_copies_runs_and_brings_back_results(loopback_sshd, trained_checkpoint, int8_artifacts, sst2_dev):
    import sys

    texts = [s for _, s in sst2_dev[:10]]
    # The "device" here is this machine's Python reached over SSH: the copy, the remote run and
    # the way back are real; only the CPU is the same as the host's.
    target = _target(loopback_sshd, python=sys.executable)
    run = run_on_target(target, [int8_artifacts["onnx_int8"], int8_artifacts["tflite"]], trained_checkpoint / "spiece.model", texts)
    assert run.target == f"ssh://{loopback_sshd['user']}@127.0.0.1:{loopback_sshd['port']}"
    assert run.tokenizer_mismatches == []
    assert all(m.vs_host["max_abs_logit_diff"] == 0.0 for m in run.models)
    assert run.machine["python"]


def test_ssh_url_parsing():
    t = SshTarget.from_url("ssh://pi@raspberrypi.local:2222?python=/usr/bin/python3.11&identity=/k")
    assert (t.user, t.host, t.port, t.python, str(t.identity)) == ("pi", "raspberrypi.local", 2222, "/usr/bin/python3.11", "/k")
    assert t.name == "ssh://pi@raspberrypi.local:2222"


def test_ssh_errors_are_one_line(loopback_sshd, trained_checkpoint, trained_artifacts, tmp_path):
    texts = ["a fine film"]
    spiece = trained_checkpoint / "spiece.model"
    with pytest.raises(TargetError, match="python-does-not-exist"):
        run_on_target(_target(loopback_sshd, python="python-does-not-exist"), [trained_artifacts["onnx"]], spiece, texts)
    # Nothing listens on the port after sshd's: connection refused, reported as the target's failure.
    closed = SshTarget("127.0.0.1", port=1, identity=loopback_sshd["identity"], known_hosts=loopback_sshd["known_hosts"], connect_timeout=3)
    with pytest.raises(TargetError) as info:
        run_on_target(closed, [trained_artifacts["onnx"]], spiece, texts)
    assert "\n" not in str(info.value) and "ssh://127.0.0.1:1" in str(info.value)
