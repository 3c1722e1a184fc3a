"""The command line: every command explains itself; user errors are one line and exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from edge_albert.cli import main
from tests.conftest import REPO

COMMANDS = sorted(main.commands)


def test_all_pipeline_stages_are_commands():
    for name in ("tokenizer", "init", "inspect", "data", "pretrain", "train", "teacher", "distill", "convert", "quantize",
                 "validate", "setup-arm64", "check", "package", "keygen", "predict", "demo"):
        assert name in COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_help_explains_each_command(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(main.commands[name].help or "") > 40


def run(*args):
    return subprocess.run([sys.executable, "-m", "edge_albert.cli", *map(str, args)], capture_output=True, text=True, timeout=600)


def test_user_errors_are_one_line_exit_2(tmp_path, tiny_checkpoint):
    cases = [
        ("inspect", tmp_path / "missing"),
        ("convert", tmp_path / "missing", "--to", "onnx", "-o", tmp_path / "x.onnx"),
        ("predict", tmp_path / "missing.eabundle", "hello"),
        ("quantize", tiny_checkpoint, "--method", "static", "-o", tmp_path / "s.onnx"),
        ("quantize", tiny_checkpoint, "--method", "int4", "--block-size", "channel", "--to", "onnx", "-o", tmp_path / "c.onnx"),
        ("validate", tiny_checkpoint, "--data", tmp_path / "missing.tsv", "--target", "qemu-arm64", "-o", tmp_path / "r"),
        ("validate", tiny_checkpoint, "--target", "raspberry", "-o", tmp_path / "r"),
        ("validate", tiny_checkpoint, "--target", "ssh://pi@host?pythn=3", "-o", tmp_path / "r"),
        ("prune", tiny_checkpoint, "--depth", "2", "--recover-steps", "5", "-o", tmp_path / "p"),
        ("train", "--task", "token-classification", "-o", tmp_path / "ner"),
        ("train", "--task", "question-answering", "--train", tmp_path / "missing.json", "-o", tmp_path / "qa"),
        ("teacher", "--task", "token-classification", "-o", tmp_path / "t"),
        ("distill", "--task", "token-classification", "--teacher", tmp_path, "--augment", "2", "--train", tmp_path / "c.txt", "-o", tmp_path / "d"),
        ("predict", tmp_path / "missing.eabundle", "--question", "q"),
        ("distill", "--task", "question-answering", "--teacher", tmp_path, "--teacher-layers", "1,x", "-o", tmp_path / "q"),
        ("distill", "--task", "question-answering", "--teacher", tmp_path, "--teacher-layers", "1,3", "--init", tiny_checkpoint, "-o", tmp_path / "q"),
    ]
    for args in cases:
        out = run(*args)
        assert out.returncode == 2, (args, out.stderr)
        lines = [l for l in out.stderr.splitlines() if l.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "s.onnx").exists() and not (tmp_path / "p").exists()
    assert not (tmp_path / "c.onnx").exists()


def test_inspect_json(tiny_checkpoint):
    import json

    out = run("inspect", tiny_checkpoint, "--json")
    info = json.loads(out.stdout)
    assert info["hidden_size"] == 312 and info["labels"] == ["negative", "positive"]
    assert info["task"] == "text-classification" and info["architecture"] == "AlbertForSequenceClassification"
    # Shared layer counted once: far fewer parameters than 4 unshared layers would have.
    assert info["parameters"] < 2_100_000


def test_convert_refuses_existing_output_unless_forced(tmp_path, tiny_checkpoint):
    target = tmp_path / "m.onnx"
    target.write_text("keep me")
    out = run("convert", tiny_checkpoint, "--to", "onnx", "-o", target)
    assert out.returncode == 2 and "--force" in out.stderr and target.read_text() == "keep me"
    out = run("convert", tiny_checkpoint, "--to", "onnx", "-o", target, "--force", "--json")
    assert out.returncode == 0 and target.stat().st_size > 1_000_000
    # Dependencies' notices are kept off the user's terminal (torch.onnx printed four
    # "torchvision is not installed" lines per export).
    assert out.stderr.strip() == "", out.stderr


def test_opset_option_matches_the_library():
    # The CLI spells the choices out so `--help` needs no torch; this keeps them in step.
    from edge_albert.converters.onnx import OPSET, SUPPORTED_OPSETS

    for command in ("convert", "quantize"):
        option = next(p for p in main.commands[command].params if p.name == "opset")
        assert option.default == OPSET
        assert (option.type.min, option.type.max) == (min(SUPPORTED_OPSETS), max(SUPPORTED_OPSETS))


def test_outputs_never_replace_a_directory_or_a_file_without_force(tmp_path, sst2_dev):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(s for _, s in sst2_dev[:300]) + "\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "keep").write_text("x")
    existing = tmp_path / "existing.model"
    existing.write_text("keep me")
    report = REPO / ".ci" / "baselines" / "x86_64-avx-avx2-fma.json"
    for args in [("tokenizer", texts, "--vocab-size", "200", "-o", folder),
                 ("tokenizer", texts, "--vocab-size", "200", "-o", folder, "--force"),
                 ("tokenizer", texts, "--vocab-size", "200", "-o", existing),
                 ("check", report, "--baseline", report, "--junit", folder),
                 ("check", report, "--baseline", report, "--junit", folder, "--force"),
                 ("check", report, "--baseline", report, "--junit", existing)]:
        out = run(*args)
        assert out.returncode == 2 and out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, (args, out.stderr)
    assert (folder / "keep").read_text() == "x" and existing.read_text() == "keep me"
    out = run("check", report, "--baseline", report, "--junit", existing, "--force")
    assert out.returncode == 0 and existing.read_text().startswith("<?xml")
