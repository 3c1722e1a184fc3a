"""ARM64 parity: the real aarch64 ONNX Runtime and LiteRT builds, run under qemu-aarch64.

The environment is built once into the edge-albert cache (about a minute from nothing: apt and
pip downloads) and reused. Under emulation a tiny model takes about a second per sentence, so
this checks per-sentence parity on a few dozen sentences; accuracy is measured natively.
"""

from __future__ import annotations


from pathlib import Path

import numpy as np

from edge_albert.targets import run_on_target

TEXTS = 8


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
        assert m.vs_host["agreement"] >= (TEXTS - 1) / TEXTS
    assert np.isfinite([m.median_ms for m in run.models]).all()


def test_arm64_runs_ort_format_files_as_the_host(arm64_env, tmp_path, trained_checkpoint, int8_artifacts, sst2_dev):
    """ONNX Runtime's mobile format (.ort, optimized for ARM at conversion) on the aarch64 build."""
    from edge_albert.converters.ort_format import convert_to_ort_format
    from edge_albert.targets.arm64 import QemuArm64Target

    files = [convert_to_ort_format(int8_artifacts[k], tmp_path / f"{k}.ort", usability=False).path for k in ("onnx", "onnx_int8")]
    texts = [s for _, s in sst2_dev[:TEXTS]]
    run = run_on_target(QemuArm64Target(arm64_env, cpu="cortex-a72"), files, trained_checkpoint / "spiece.model", texts)
    fp32, int8 = run.models
    assert [m.runtime for m in run.models] == ["onnxruntime", "onnxruntime"]
    assert fp32.vs_host["max_abs_logit_diff"] <= 1e-4 and fp32.vs_host["agreement"] == 1.0
    assert int8.vs_host["max_abs_logit_diff"] <= 0.05 and int8.vs_host["agreement"] >= (TEXTS - 1) / TEXTS


def test_arm64_environment_is_cached(arm64_env):
    from edge_albert.targets.arm64 import ensure_arm64_environment, load_arm64_environment

    again = ensure_arm64_environment(arm64_env.folder)
    assert again.folder == arm64_env.folder and load_arm64_environment(arm64_env.folder) is not None
    assert set(again.versions) == {"onnxruntime", "ai-edge-litert", "numpy", "sentencepiece"}


def test_arm64_runs_the_token_tasks(arm64_env, tmp_path, ner_checkpoint, qa_checkpoint, conll_dev, squad_dev):
    """Named entities (int8 ONNX, fp32 TFLite) and question answering (fp32 ONNX, every context
    window) on the aarch64 runtimes: the target's tokenizer makes the host's model inputs, and
    every token's outputs follow the host's."""
    from edge_albert.converters.convert import convert
    from edge_albert.quantization.api import quantize
    from edge_albert.quantization.configs import recipe
    from edge_albert.targets.arm64 import QemuArm64Target
    from edge_albert.targets.base import host_outputs
    from edge_albert.targets.harness import target_encodings
    from edge_albert.tokenization import AlbertTokenizer

    target = QemuArm64Target(arm64_env, cpu="cortex-a72")
    spiece = ner_checkpoint / "spiece.model"
    sentences = [list(w) for w in conll_dev.words[:6]]
    ner_files = [Path(quantize(ner_checkpoint, tmp_path / "ner.int8.onnx", recipe("dynamic_wi8_afp32"), to="onnx").output),
                 convert(ner_checkpoint, tmp_path / "ner.tflite", "tflite").export.path]
    reference = host_outputs(ner_checkpoint, target_encodings(AlbertTokenizer(spiece), "token-classification", sentences, max_length=128), 1)
    ner = run_on_target(target, ner_files, spiece, sentences, task="token-classification", reference_logits=reference)
    assert ner.task == "token-classification" and ner.tokenizer_mismatches == [] and ner.model_inputs == 6
    int8, fp32 = ner.models
    assert fp32.runtime == "litert" and fp32.vs_host["max_abs_logit_diff"] <= 1e-4 and fp32.vs_reference["agreement"] == 1.0
    # ARM's int8 dot products stay within the int8 budget of fp32 at every token; an AVX2 host
    # (no VNNI) saturates its int8 products and may be the one further off (the gate allows that).
    assert int8.vs_reference["max_abs_logit_diff"] <= 0.05
    assert (int8.vs_host["max_abs_logit_diff"] <= 0.05
            or int8.vs_reference["max_abs_logit_diff"] <= int8.host_vs_reference["max_abs_logit_diff"])

    questions = [[q.question, q.context] for q in squad_dev[:2]]
    qa_file = convert(qa_checkpoint, tmp_path / "qa.onnx", "onnx").export.path
    qa = run_on_target(target, [qa_file], qa_checkpoint / "spiece.model", questions, task="question-answering", max_length=384)
    assert qa.tokenizer_mismatches == [] and qa.model_inputs >= 2
    (m,) = qa.models
    assert m.vs_host["max_abs_logit_diff"] <= 1e-4 and m.vs_host["agreement"] == 1.0
