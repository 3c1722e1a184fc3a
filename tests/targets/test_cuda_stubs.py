"""The CUDA stand-ins for aarch64 torch: an ELF for aarch64 with the soname and symbol versions
asked for (read back with readelf), and one line naming the apt package without the binutils."""

from __future__ import annotations

import subprocess

import pytest

from edge_albert.errors import InputError
from tests.conftest import require_tool


def test_stub_has_the_soname_and_versioned_functions(tmp_path):
    from edge_albert.targets.cuda_stubs import write_stub

    readelf = require_tool("aarch64-linux-gnu-readelf", package="binutils-aarch64-linux-gnu")
    stub = write_stub("libcudart.so.13", {"libcudart.so.13": {"cudaGetDeviceCount", "cudaMalloc"}, "": {"cuInit"}}, tmp_path)
    header = subprocess.run([readelf, "-h", "-d", "-W", str(stub)], capture_output=True, text=True, check=True).stdout
    assert "AArch64" in header and "Library soname: [libcudart.so.13]" in header
    symbols = subprocess.run([readelf, "--dyn-syms", "-W", str(stub)], capture_output=True, text=True, check=True).stdout
    assert "cudaGetDeviceCount@@libcudart.so.13" in symbols and "cudaMalloc@@libcudart.so.13" in symbols
    assert any(line.split()[-1] == "cuInit" for line in symbols.splitlines() if line.strip())  # no version: global, unversioned


def test_without_the_aarch64_binutils_the_error_names_the_package(tmp_path, monkeypatch):
    from edge_albert.targets import cuda_stubs

    monkeypatch.setattr(cuda_stubs, "find_tool", lambda *names: None)
    with pytest.raises(InputError, match="apt-get install binutils-aarch64-linux-gnu"):
        cuda_stubs.write_stub("libcudart.so.13", {"": {"cudaMalloc"}}, tmp_path)
    assert list(tmp_path.iterdir()) == []
