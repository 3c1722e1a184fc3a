from __future__ import annotations

import numpy as np
import pytest

from edge_albert.errors import InputError
from edge_albert.targets import LocalTarget, parse_target, run_on_target
from edge_albert.targets.base import host_logits, split_by_size


def test_local_target_runs_the_harness_in_a_fresh_process(trained_checkpoint, int8_artifacts, sst2_dev):
    texts = [s for _, s in sst2_dev[:12]]
    spiece = trained_checkpoint / "spiece.model"
    files = [int8_artifacts["onnx_int8"], int8_artifacts["tflite_int8"], int8_artifacts["onnx"]]
    two_jobs = LocalTarget()
    two_jobs.jobs = 2  # as an emulator runs: the files split over two job directories side by side
    for target in (LocalTarget(), two_jobs):
        run = run_on_target(target, files, spiece, texts)
        assert run.texts == 12 and run.tokenizer_mismatches == [] and run.emulated is None
        assert [m.runtime for m in run.models] == ["onnxruntime", "litert", "onnxruntime"]
        assert [m.artifact for m in run.models] == [str(f) for f in files]
        for m in run.models:
            # Same machine, same runtime build, same inputs: the subprocess must reproduce the host bit for bit.
            assert m.vs_host["max_abs_logit_diff"] == 0.0
            assert m.median_ms > 0 and m.load_seconds > 0


def test_files_split_over_jobs_by_size_in_their_order(tmp_path):
    sizes = [2, 9, 3, 8, 1]
    files = []
    for i, size in enumerate(sizes):
        (f := tmp_path / f"m{i}.onnx").write_bytes(b"x" * size)
        files.append(f)
    assert split_by_size(files, 1) == [[0, 1, 2, 3, 4]]
    assert split_by_size(files, 2) == [[0, 1, 4], [2, 3]]  # 2+9+1 and 3+8 bytes: largest first, each to the lighter job
    assert split_by_size(files[:1], 4) == [[0]]  # never an empty job


def test_host_logits_match_the_reference_model(trained_checkpoint, trained_artifacts, sst2_dev):
    from edge_albert.runtimes import open_session
    from edge_albert.tokenization import AlbertTokenizer

    texts = [s for _, s in sst2_dev[:8]]
    tok = AlbertTokenizer(trained_checkpoint / "spiece.model")
    onnx = host_logits(trained_artifacts["onnx"], tok, texts, 128)
    torch_ = host_logits(trained_checkpoint, tok, texts, 128)
    assert onnx.shape == (8, 2)
    np.testing.assert_allclose(onnx, torch_, atol=1e-4)
    assert open_session(trained_checkpoint).runtime == "torch"


def test_targets_refuse_checkpoint_directories_and_unknown_specs(trained_checkpoint):
    with pytest.raises(InputError, match="onnx, .ort, .tflite and .pte files only"):
        run_on_target(LocalTarget(), [trained_checkpoint], trained_checkpoint / "spiece.model", ["good"])
    with pytest.raises(InputError, match="unknown target"):
        parse_target("raspberry")
    with pytest.raises(InputError, match="unknown qemu CPU"):
        from edge_albert.targets.arm64 import QemuArm64Target

        QemuArm64Target(environment=object(), cpu="pentium")
    with pytest.raises(InputError, match="unknown option"):
        parse_target("ssh://pi@host?pythn=python3")


def test_output_fidelity_judges_what_a_user_sees():
    """Token classification: a sentence agrees only if every token keeps its tag; question
    answering: a window agrees only if its most likely start and end tokens stay; changes that
    keep every argmax count in the logit differences only."""
    from edge_albert.targets.base import output_fidelity

    rng = np.random.default_rng(0)
    host = [rng.normal(size=(n, 9)).astype(np.float32) for n in (7, 12, 5)]
    same = [h + 1e-3 for h in host]
    fid = output_fidelity("token-classification", same, host)
    assert fid["agreement"] == 1.0 and fid["token_agreement"] == 1.0 and 0 < fid["max_abs_logit_diff"] < 1.01e-3
    flipped = [h.copy() for h in host]
    flipped[1][4] = -flipped[1][4]  # one token of sentence 2 takes another tag
    fid = output_fidelity("token-classification", flipped, host)
    assert fid["agreement"] == 2 / 3 and fid["token_agreement"] == 23 / 24

    windows = [rng.normal(size=(n, 2)).astype(np.float32) for n in (30, 41)]
    moved = [w.copy() for w in windows]
    start = int(windows[0][:, 0].argmax())
    moved[0][(start + 1) % 30, 0] = windows[0][start, 0] + 1.0  # another token becomes the likeliest start
    fid = output_fidelity("question-answering", moved, windows)
    assert fid["agreement"] == 0.5 and fid["token_agreement"] == 3 / 4
    with pytest.raises(InputError, match="gave 1 outputs where the host has 2"):
        output_fidelity("question-answering", moved[:1], windows)
