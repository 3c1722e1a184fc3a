"""ExecuTorch programs on ARM64: the aarch64 executorch wheel's Python runtime (XNNPACK's NEON
kernels) under qemu, beside the real aarch64 torch it links, whose CUDA libraries are stubs.

Runs in the executorch group (tests/conftest.py) to share its programs. The first run downloads
about 450 MB of aarch64 wheels into the edge-albert cache (under a minute here); importing torch
under emulation takes about 20 s per job.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_albert.targets import run_on_target
from tests.conftest import require_tool

TEXTS = 8


def test_executorch_programs_run_on_arm64_as_on_the_host(arm64_env, trained_checkpoint, executorch_programs, sst2_dev):
    require_tool("aarch64-linux-gnu-ld", package="binutils-aarch64-linux-gnu")
    from edge_albert.targets.arm64 import QemuArm64Target
    from edge_albert.targets.base import host_logits
    from edge_albert.tokenization import AlbertTokenizer

    texts = [s for _, s in sst2_dev[:TEXTS]]
    spiece = trained_checkpoint / "spiece.model"
    reference = host_logits(trained_checkpoint, AlbertTokenizer(spiece), texts, 128)
    files = [Path(executorch_programs["float32"].export.path), Path(executorch_programs["int8"].output)]
    run = run_on_target(QemuArm64Target(arm64_env, cpu="cortex-a72"), files, spiece, texts, reference_logits=reference)

    assert run.machine["machine"] == "aarch64" and "asimd" in run.machine["cpu_flags"]
    assert run.tokenizer_mismatches == []
    fp32, int8 = run.models
    assert [m.runtime for m in run.models] == ["executorch", "executorch"]
    assert fp32.vs_host["max_abs_logit_diff"] <= 1e-4
    assert fp32.vs_reference["max_abs_logit_diff"] <= 1e-4 and fp32.vs_reference["agreement"] == 1.0
    # 8-bit dynamic activations: ARM's kernels round differently from x86's; small, same answers.
    assert int8.vs_host["max_abs_logit_diff"] <= 0.05
    assert int8.vs_host["agreement"] >= (TEXTS - 1) / TEXTS

    # The CUDA libraries torch links are the stand-ins, recorded beside the versions.
    record = json.loads((arm64_env.executorch_site / "environment.json").read_text())
    assert {"libcudart.so.13", "libcublas.so.13", "libcudnn.so.9"} <= set(record["cuda_stubs"])
    assert record["versions"]["executorch"] and record["versions"]["torch"]


def test_stubs_define_the_versions_the_libraries_require(tmp_path, arm64_env):
    require_tool("aarch64-linux-gnu-ld", package="binutils-aarch64-linux-gnu")
    """Every symbol torch imports from libcudart.so.13 is defined by the stub, under its version."""
    import subprocess

    from edge_albert.targets.cuda_stubs import missing_nvidia_symbols

    lib = arm64_env.executorch_site / "torch" / "lib"
    wanted = missing_nvidia_symbols([lib / "libtorch_cpu.so"], present=set())["libcudart.so.13"]
    defined = subprocess.run(["aarch64-linux-gnu-readelf", "--dyn-syms", "-W", str(lib / "libcudart.so.13")], capture_output=True, text=True, check=True).stdout
    assert wanted and all(f"{name}@@{version}" in defined for version, names in wanted.items() for name in names)
