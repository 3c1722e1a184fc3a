"""`convert --to onnx --fixed-length N`: a graph ONNX Runtime's checker says NNAPI and CoreML take
whole, with the logits of the PyTorch model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_albert.cli import main
from edge_albert.errors import InputError

LENGTH = 64


@pytest.fixture(scope="module")
def fixed_files(tmp_path_factory, trained_checkpoint, ner_checkpoint, qa_checkpoint) -> dict[str, Path]:
    from edge_albert.converters.convert import convert

    folder = tmp_path_factory.mktemp("fixed")
    files = {}
    for name, checkpoint in (("classifier", trained_checkpoint), ("ner", ner_checkpoint), ("qa", qa_checkpoint)):
        report = convert(checkpoint, folder / f"{name}.fixed.onnx", "onnx", fixed_length=LENGTH)
        assert report.check.max_abs_logit_diff <= 1e-5
        files[name] = report.export.path
    return files


def test_accelerators_take_the_fixed_graph_whole_and_not_the_dynamic_one(fixed_files, trained_artifacts):
    from edge_albert.converters.ort_format import mobile_usability

    for name, path in fixed_files.items():
        report = mobile_usability(path)
        assert report.dynamic_inputs == []
        for p in report.providers:
            assert p.partitions == 1 and p.supported_fraction >= 0.99 and p.verdict == "YES", (name, p)
    dynamic = {p.provider: p for p in mobile_usability(trained_artifacts["onnx"]).providers}
    # The dynamic export, even with its shapes fixed, splits: LayerNormalization and Gelu (NNAPI).
    assert dynamic["NNAPI"].verdict == "NO" and dynamic["NNAPI"].fixed_shape_partitions > 2
    assert {"ai.onnx:LayerNormalization", "ai.onnx:Gelu"} <= set(dynamic["NNAPI"].unsupported_ops)


def test_fixed_graph_answers_as_pytorch_on_real_text(fixed_files, trained_checkpoint, ner_checkpoint, sst2_dev, conll_dev):
    from edge_albert.runtimes import open_session
    from edge_albert.tokenization import AlbertTokenizer
    from edge_albert.validation.compare import compare_models

    tok = AlbertTokenizer(trained_checkpoint / "spiece.model")
    texts = [s for _, s in sst2_dev[:200]]
    check = compare_models(trained_checkpoint, fixed_files["classifier"], tok, texts, max_length=LENGTH)
    assert check.agreement == 1.0 and check.max_abs_logit_diff <= 1e-5
    session = open_session(fixed_files["classifier"])
    assert session.fixed_length == LENGTH and session.max_length == LENGTH
    assert session.metadata["fixed_shape"] == [1, LENGTH]
    assert set(session.metadata["accelerator_operators"]) >= {"layer_norm", "tanh_gelu", "token_types", "pooler_slice"}
    # Token-level outputs come back at the batch's width, equal to PyTorch's token by token.
    sentences = [" ".join(words) for words in conll_dev.words[:100]]
    ner = compare_models(ner_checkpoint, fixed_files["ner"], AlbertTokenizer(ner_checkpoint / "spiece.model"), sentences, max_length=LENGTH)
    assert ner.agreement == 1.0 and ner.max_abs_logit_diff <= 1e-5
    # A batch longer than the fixed length is refused, not cut.
    ids = np.full((1, LENGTH + 1), 5, np.int64)
    with pytest.raises(InputError, match="fixed at 64"):
        session.run({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})


def test_fixed_length_refusals(tmp_path, trained_checkpoint, spiece_model):
    from edge_albert.model.albert import AlbertForMultipleChoice
    from tests.conftest import head_checkpoint

    runner = CliRunner()
    cases = [
        (["--to", "tflite", "--fixed-length", "64"], "applies to --to onnx"),
        (["--to", "onnx", "--fixed-length", "129"], "must be 2..128"),
        (["--to", "onnx", "--fixed-length", "64", "--optimize"], "exclude each other"),
    ]
    for args, message in cases:
        out = tmp_path / "m.onnx"
        result = runner.invoke(main, ["convert", str(trained_checkpoint), *args, "-o", str(out)])
        assert result.exit_code != 0 and message in result.output, result.output
        assert not out.exists()
    choice = head_checkpoint(tmp_path / "mc", spiece_model, AlbertForMultipleChoice, ["0"])
    result = runner.invoke(main, ["convert", str(choice), "--to", "onnx", "--fixed-length", "64", "-o", str(tmp_path / "mc.onnx")])
    assert result.exit_code != 0 and "export dynamic only" in result.output
    assert not (tmp_path / "mc.onnx").exists()
