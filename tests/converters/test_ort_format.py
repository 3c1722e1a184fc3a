"""ONNX Runtime's mobile format: .ort files and reduced-build configs from the CLI, checked against
their .onnx sources, ONNX Runtime's own checker and tools, bundles and the on-device runtime."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_albert.cli import main


@pytest.fixture(scope="module")
def ort_files(tmp_path_factory, int8_onnx, trained_artifacts) -> dict:
    """fp32 and dynamic-int8 .ort files of the trained model, made by the CLI."""
    folder = tmp_path_factory.mktemp("ort")
    out = {}
    for name, source in (("fp32", trained_artifacts["onnx"]), ("int8", int8_onnx)):
        result = CliRunner().invoke(main, ["convert", str(source), "--to", "ort", "-o", str(folder / f"model.{name}.ort"), "--json"])
        assert result.exit_code == 0, result.output
        out[name] = json.loads(result.output)
    return out


def test_ort_files_run_as_their_onnx_sources_on_sst2_dev(ort_files, trained_artifacts, int8_onnx, trained_checkpoint, sst2_dev):
    from edge_albert.runtimes import open_session
    from edge_albert.tokenization import AlbertTokenizer
    from edge_albert.validation.compare import compare_models

    tok = AlbertTokenizer(trained_checkpoint / "spiece.model")
    texts = [s for _, s in sst2_dev[:300]]
    fp32 = compare_models(trained_artifacts["onnx"], Path(ort_files["fp32"]["path"]), tok, texts, max_length=64)
    assert fp32.agreement == 1.0 and fp32.max_abs_logit_diff <= 1e-5
    int8 = compare_models(int8_onnx, Path(ort_files["int8"]["path"]), tok, texts, max_length=64)
    assert int8.agreement >= 0.99
    # The metadata every stage reads survives the conversion.
    for name, source in (("fp32", trained_artifacts["onnx"]), ("int8", int8_onnx)):
        assert open_session(Path(ort_files[name]["path"])).metadata == open_session(source).metadata


def test_operator_config_is_what_onnx_runtimes_own_tool_derives(ort_files, tmp_path):
    from onnxruntime.tools.ort_format_model import create_config_from_models

    for name, info in ort_files.items():
        config = Path(info["config_path"])
        assert config.name == f"model.{name}.required_operators.config"
        expected = tmp_path / f"{name}.config"
        create_config_from_models([Path(info["path"])], expected, enable_type_reduction=False)
        lines = lambda p: sorted(l for l in p.read_text().splitlines() if l and not l.startswith("#"))  # noqa: E731
        assert lines(config) == lines(expected)
        ops = {op for group in info["operators"].values() for op in group}
        assert "Gather" in ops and len(ops) >= 8
    # The int8 file needs ONNX Runtime's integer kernels in a reduced build; the fp32 one does not.
    int8_ops = {op for group in ort_files["int8"]["operators"].values() for op in group}
    fp32_ops = {op for group in ort_files["fp32"]["operators"].values() for op in group}
    assert int8_ops & {"DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger", "DynamicQuantizeLinear"}
    assert not fp32_ops & {"DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger"}


def test_int8_ort_keeps_every_weight_matmul_in_integers(ort_files, int8_onnx):
    from edge_albert.validation.coverage import quantization_coverage

    ort = quantization_coverage(Path(ort_files["int8"]["path"]))
    assert ort.weight_matmuls > 0 and ort.quantized_fraction == 1.0 == quantization_coverage(int8_onnx).quantized_fraction
    assert quantization_coverage(Path(ort_files["fp32"]["path"])).quantized_fraction == 0.0


def test_usability_report_matches_onnx_runtimes_checker(ort_files, trained_artifacts):
    """Our structured report says what ONNX Runtime's own mobile usability script logs."""
    proc = subprocess.run([sys.executable, "-m", "onnxruntime.tools.check_onnx_model_mobile_usability", str(trained_artifacts["onnx"])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = proc.stderr + proc.stdout
    counts = re.findall(r"(\d+) partitions with a total of (\d+)/(\d+) nodes can be handled by the (.+?) EP", log)
    as_is = re.findall(r"Model should perform well with (.+?) as is: (\w+)", log)
    report = ort_files["fp32"]["usability"]
    providers = {p["provider"]: p for p in report["providers"]}
    assert set(providers) == {"NNAPI", "CoreML NeuralNetwork", "CoreML MLProgram"}
    # The checker logs each provider's as-exported partitioning first, then the fixed-shape one.
    first = {}
    for partitions, supported, nodes, ep in counts:
        first.setdefault(ep, (int(partitions), int(supported), int(nodes)))
    for ep, verdict in as_is:
        p = providers[ep]
        assert (p["partitions"], p["supported_nodes"], p["nodes"]) == first[ep]
        assert p["verdict"] == verdict
    assert report["dynamic_inputs"] == ["input_ids", "attention_mask", "token_type_ids"]


def test_bundle_of_ort_files_predicts_as_its_onnx_twin(tmp_path, ort_files, trained_artifacts, trained_checkpoint, sst2_dev):
    from edge_albert.packaging.manifest import read_bundle
    from edge_albert.runtime import Classifier

    spiece = str(trained_checkpoint / "spiece.model")
    for files, name in (([ort_files["fp32"]["path"]], "ort"), ([str(trained_artifacts["onnx"])], "onnx")):
        result = CliRunner().invoke(main, ["package", *files, "--tokenizer", spiece, "-o", str(tmp_path / f"{name}.eabundle")])
        assert result.exit_code == 0, result.output
    manifest = read_bundle(tmp_path / "ort.eabundle").manifest
    assert manifest["models"][0]["format"] == "ort" and manifest["models"][0]["backend"] == "onnxruntime"
    assert manifest["models"][0]["inputs"]["dtype"] == "int64"
    texts = [s for _, s in sst2_dev[:64]]
    a = Classifier.from_bundle(tmp_path / "ort.eabundle").logits(texts)[0]
    b = Classifier.from_bundle(tmp_path / "onnx.eabundle").logits(texts)[0]
    assert a.shape == (64, 2) and np.abs(a - b).max() <= 1e-5


def test_bad_inputs_get_one_line_and_leave_nothing(tmp_path, trained_artifacts, ort_files):
    runner = CliRunner()
    # Not an ONNX file.
    out = tmp_path / "x.ort"
    result = runner.invoke(main, ["convert", str(trained_artifacts["tflite"]), "--to", "ort", "-o", str(out)])
    assert result.exit_code != 0 and ".onnx" in result.output and not out.exists()
    # Wrong output suffix.
    result = runner.invoke(main, ["convert", str(trained_artifacts["onnx"]), "--to", "ort", "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code != 0 and ".ort" in result.output and not (tmp_path / "x.onnx").exists()
    # An existing .ort file is kept without --force.
    existing = Path(ort_files["fp32"]["path"])
    before = existing.read_bytes()
    result = runner.invoke(main, ["convert", str(trained_artifacts["onnx"]), "--to", "ort", "-o", str(existing)])
    assert result.exit_code != 0 and existing.read_bytes() == before
    # An .onnx file is not a checkpoint for the other formats.
    result = runner.invoke(main, ["convert", str(trained_artifacts["onnx"]), "--to", "tflite", "-o", str(tmp_path / "m.tflite")])
    assert result.exit_code != 0 and "--to ort" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []
