"""ARM64 parity: the real aarch64 ONNX Runtime and LiteRT builds, run under qemu-aarch64.

The environment is built once into the edge-albert cache (about a minute from nothing: apt and
pip downloads) and reused. Under emulation a tiny model takes about a second per sentence, so
this checks per-sentence parity on a few dozen sentences; accuracy is measured natively.
"""

from __future__ import annotations


import numpy as np
import pytest

from edge_albert.targets import run_on_target
from tests.conftest import require_tool

TEXTS = 24


@pytest.fixture(scope="module")
def arm64_env():
    from edge_albert.targets.arm64 import ensure_arm64_environment

    require_tool("debootstrap", package="debootstrap")
    return ensure_arm64_environment()


def test_arm64_runtimes_match_x86_per_sentence(arm64_env, trained_checkpoint, int8_artifacts, sst2_dev):
    from edge_albert.targets.arm64 import QemuArm64Target
    from edge_albert.targets.base import host_logits
    from edge_albert.tokenization import AlbertTokenizer

    texts = [s for _, s in sst2_dev[:TEXTS]]
    spiece = trained_checkpoint / "spiece.model"
    reference = host_logits(trained_checkpoint, AlbertTokenizer(spiece), texts, 128)
    files = [int8_artifacts[k] for k in ("onnx", "onnx_int8", "tflite", "tflite_int8")]
    run = run_on_target(QemuArm64Target(arm64_env, cpu="cortex-a72"), files, spiece, texts, reference_logits=reference)

    assert run.machine["machine"] == "aarch64" and "asimd" in run.machine["cpu_flags"]
    assert run.emulated == "qemu-aarch64 cortex-a72"
    assert run.tokenizer_mismatches == []  # sentencepiece on ARM gives the host's ids
    fp32_onnx, int8_onnx, fp32_tflite, int8_tflite = run.models
    for m in (fp32_onnx, fp32_tflite):
        assert m.vs_host["max_abs_logit_diff"] <= 1e-4
        assert m.vs_reference["max_abs_logit_diff"] <= 1e-4 and m.vs_reference["agreement"] == 1.0
    for m in (int8_onnx, int8_tflite):
        # ARM int8 kernels round differently from x86's (VNNI) ones: small, non-zero, same answers.
        assert m.vs_host["max_abs_logit_diff"] <= 0.05
        assert m.vs_host["agreement"] >= 23 / 24
    assert np.isfinite([m.median_ms for m in run.models]).all()


def test_arm64_runs_ort_format_files_as_the_host(arm64_env, tmp_path, trained_checkpoint, int8_artifacts, sst2_dev):
    """ONNX Runtime's mobile format (.ort, optimized for ARM at conversion) on the aarch64 build."""
    from edge_albert.converters.ort_format import convert_to_ort_format
    from edge_albert.targets.arm64 import QemuArm64Target

    files = [convert_to_ort_format(int8_artifacts[k], tmp_path / f"{k}.ort", usability=False).path for k in ("onnx", "onnx_int8")]
    texts = [s for _, s in sst2_dev[:12]]
    run = run_on_target(QemuArm64Target(arm64_env, cpu="cortex-a72"), files, trained_checkpoint / "spiece.model", texts)
    fp32, int8 = run.models
    assert [m.runtime for m in run.models] == ["onnxruntime", "onnxruntime"]
    assert fp32.vs_host["max_abs_logit_diff"] <= 1e-4 and fp32.vs_host["agreement"] == 1.0
    assert int8.vs_host["max_abs_logit_diff"] <= 0.05 and int8.vs_host["agreement"] >= 11 / 12


def test_arm64_environment_is_cached(arm64_env):
    from edge_albert.targets.arm64 import ensure_arm64_environment, load_arm64_environment

    again = ensure_arm64_environment(arm64_env.folder)
    assert again.folder == arm64_env.folder and load_arm64_environment(arm64_env.folder) is not None
    assert set(again.versions) == {"onnxruntime", "ai-edge-litert", "numpy", "sentencepiece"}
