from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool


@pytest.fixture(scope="session")
def int8_artifacts(tmp_path_factory, trained_checkpoint, trained_artifacts) -> dict[str, Path]:
    """The trained model's fp32 exports plus their dynamic-range int8 versions."""
    from edge_albert.quantization.api import quantize
    from edge_albert.quantization.configs import recipe

    folder = tmp_path_factory.mktemp("int8")
    return {
        **trained_artifacts,
        "onnx_int8": Path(quantize(trained_checkpoint, folder / "model.int8.onnx", recipe("dynamic_wi8_afp32"), to="onnx").output),
        "tflite_int8": Path(quantize(trained_checkpoint, folder / "model.int8.tflite", recipe("dynamic_wi8_afp32"), to="tflite").output),
    }


@pytest.fixture(scope="session")
def arm64_env():
    """The cached ARM64 environment (qemu, Debian arm64 userland, aarch64 wheels), built on first use."""
    from edge_albert.targets.arm64 import ensure_arm64_environment

    require_tool("debootstrap", package="debootstrap")
    return ensure_arm64_environment()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def loopback_sshd(tmp_path_factory):
    """A real OpenSSH server on 127.0.0.1 that accepts one generated key for the current user."""
    sshd = require_tool("sshd", package="openssh-server")
    keygen = require_tool("ssh-keygen", package="openssh-client")
    folder = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    port = _free_port()
    (folder / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_key'}", f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        f"PidFile {folder / 'sshd.pid'}", "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password", "PubkeyAuthentication yes",
    ]) + "\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory sshd insists on as root
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(folder / "sshd_config")], stderr=open(folder / "sshd.log", "w"))
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("sshd did not start: " + (folder / "sshd.log").read_text())
    host_key = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    import getpass

    yield {"port": port, "user": getpass.getuser(), "identity": folder / "client_key", "known_hosts": folder / "known_hosts"}
    proc.terminate()
    proc.wait(timeout=10)
