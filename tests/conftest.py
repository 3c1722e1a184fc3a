"""Shared fixtures: small models and tokenizers built on the spot, SST-2 from ../shared when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Under xdist each worker is one process per core: torch's default of one thread per core in
# every worker would oversubscribe the cores (measured on 2 cores: 834 s in one process, 628 s in
# two workers of one thread each, for the converter and quantizer modules). Set before torch loads.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
# Strict mode (`.ci/run` sets it): a skipped test fails the run, so a missing data set, browser
# or system tool cannot make a whole area vanish from CI unnoticed.
STRICT = os.environ.get("EDGE_ALBERT_STRICT_TESTS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode (EDGE_ALBERT_STRICT_TESTS=1): {reason}"


# The suite runs in one process per core (pytest-xdist, `-n logical --dist loadgroup` in
# pyproject.toml): most of its time is single-threaded (conversion, quantization, emulation,
# browsers). Each test module stays on one worker, so its module-scoped models are built once;
# modules that share an expensive session fixture share one group, hence one worker.
SHARED_FIXTURE_GROUPS = {
    # executorch_programs: three programs lowered in ~3 min
    "executorch": ("tests/converters/test_executorch.py", "tests/quantization/test_executorch.py", "tests/runtimes/test_executorch.py",
                   "tests/targets/test_arm64_executorch.py"),
}


def worker_group(module: str) -> str:
    """The xdist group of a test module: its shared-fixture group, else the module itself."""
    for group, modules in SHARED_FIXTURE_GROUPS.items():
        if module in modules:
            return group
    return module


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(worker_group(item.nodeid.split("::")[0])))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under xdist, every test holds a shared lock on the machine from its fixtures' setup to
    their teardown, and a `quiet_machine` test (one that measures the machine's load, or records
    a baseline, which refuses a busy machine) an exclusive one: it waits for the other workers'
    current tests to end and runs alone."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # one value per run, shared by its workers
    if run is None:
        yield
        return
    import fcntl
    import tempfile

    lock = Path(tempfile.gettempdir()) / f"edge-albert-tests-{run}.lock"
    mode = fcntl.LOCK_EX if item.get_closest_marker("quiet_machine") else fcntl.LOCK_SH
    with open(lock, "a+b") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def require_tool(*names: str, package: str) -> str:
    """The path of a system tool the test runs for real; skipped when missing (a failure in strict mode)."""
    from edge_albert.system_tools import find_tool

    path = find_tool(*names)
    if path is None:
        pytest.skip(f"{names[0]} not installed (apt-get install {package})")
    return path
SST2 = Path(os.environ.get("EDGE_ALBERT_SST2", REPO.parent / "shared" / "data" / "sst2"))
SHARED_DATA = Path(os.environ.get("EDGE_ALBERT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    """A file of ../shared/data (CoNLL-2003, SQuAD, ...); skipped when absent (a failure in strict mode)."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"{relative} not found under {SHARED_DATA} (set EDGE_ALBERT_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def conll_dev():
    from edge_albert.data.conll import read_conll

    return read_conll(shared_file("conll2003/dev.txt"))


@pytest.fixture(scope="session")
def conll_train():
    from edge_albert.data.conll import read_conll

    return read_conll(shared_file("conll2003/train.txt"))


@pytest.fixture(scope="session")
def squad_dev():
    from edge_albert.data.squad import read_squad

    return read_squad(shared_file("squad/dev.json"))


def read_sst2(split: str) -> list[tuple[int, str]]:
    path = SST2 / f"{split}.tsv"
    if not path.is_file():
        pytest.skip(f"SST-2 not found at {path} (set EDGE_ALBERT_SST2)")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        label, sentence = line.split("\t", 1)
        rows.append((int(label), sentence))
    return rows


@pytest.fixture(scope="session")
def sst2_dev() -> list[tuple[int, str]]:
    return read_sst2("dev")


@pytest.fixture(scope="session")
def sst2_train() -> list[tuple[int, str]]:
    return read_sst2("train")


@pytest.fixture(scope="session")
def spiece_model(tmp_path_factory, sst2_train) -> Path:
    """A 2,000-piece sentencepiece model trained on SST-2 sentences with ALBERT's special pieces."""
    from edge_albert.tokenization import train_tokenizer

    out = tmp_path_factory.mktemp("spm") / "spiece.model"
    return train_tokenizer([s for _, s in sst2_train[:20000]], out, vocab_size=2000)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, spiece_model) -> Path:
    """A randomly initialised ALBERT of the `tiny` shape saved as a checkpoint directory."""
    import torch

    from edge_albert.model.albert import AlbertForSequenceClassification
    from edge_albert.model.checkpoint import save_model
    from edge_albert.model.config import preset_config

    torch.manual_seed(0)
    config = preset_config("tiny", vocab_size=2000, labels=["negative", "positive"], max_position_embeddings=128)
    model = AlbertForSequenceClassification(config)
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    return save_model(model, out, tokenizer_model=spiece_model)


NER_LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def head_checkpoint(path: Path, spiece_model: Path, head: type, labels: list[str]) -> Path:
    """A randomly initialised grouped ALBERT (4 layers in 2 groups) with the given head."""
    import torch

    from edge_albert.model.checkpoint import save_model
    from edge_albert.model.config import AlbertConfig

    torch.manual_seed(3)
    config = AlbertConfig(vocab_size=2000, embedding_size=32, hidden_size=96, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=1,
                          num_attention_heads=4, intermediate_size=192, max_position_embeddings=512, id2label=dict(enumerate(labels)))
    return save_model(head(config), path, tokenizer_model=spiece_model)


@pytest.fixture(scope="session")
def ner_checkpoint(tmp_path_factory, spiece_model) -> Path:
    from edge_albert.model.albert import AlbertForTokenClassification

    return head_checkpoint(tmp_path_factory.mktemp("ner") / "ckpt", spiece_model, AlbertForTokenClassification, NER_LABELS)


@pytest.fixture(scope="session")
def embedding_checkpoint(tmp_path_factory, spiece_model) -> Path:
    """A randomly initialised grouped sentence-embedding ALBERT (mean pooling, normalised)."""
    from edge_albert.model.albert import AlbertForSentenceEmbedding

    return head_checkpoint(tmp_path_factory.mktemp("emb") / "ckpt", spiece_model, AlbertForSentenceEmbedding, ["LABEL_0", "LABEL_1"])


@pytest.fixture(scope="session")
def qa_checkpoint(tmp_path_factory, spiece_model) -> Path:
    from edge_albert.model.albert import AlbertForQuestionAnswering

    return head_checkpoint(tmp_path_factory.mktemp("qa") / "ckpt", spiece_model, AlbertForQuestionAnswering, ["start", "end"])


def built_once(tmp_path_factory, name: str, build) -> Path:
    """The folder `name`, filled by `build(folder)` once per run. Under xdist each worker would
    build a session fixture for itself (the trained model: ~3 min of one core per worker); here
    the first worker to need it builds it in the run's shared temporary folder while the others
    wait on a file lock, then all read it. Fixtures built this way are never modified by tests."""
    import shutil

    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, shared by its workers
    folder = root / f"shared-{name}"
    with FileLock(str(root / f"shared-{name}.lock")):
        if not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".complete").touch()
    return folder


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, spiece_model, sst2_train, sst2_dev) -> Path:
    """The `tiny` preset trained briefly on an SST-2 subset: real, non-trivial logits (~70% dev)."""

    def build(run: Path) -> None:
        from edge_albert.data.readers import LabeledTexts
        from edge_albert.model.albert import AlbertForSequenceClassification
        from edge_albert.model.config import preset_config
        from edge_albert.tokenization import AlbertTokenizer
        from edge_albert.training.batching import encode_dataset
        from edge_albert.training.trainer import TrainConfig, save_albert, train_classifier

        import torch

        tok = AlbertTokenizer(spiece_model)
        names = ["negative", "positive"]
        train = LabeledTexts([s for _, s in sst2_train[:4000]], [l for l, _ in sst2_train[:4000]], names)
        dev = LabeledTexts([s for _, s in sst2_dev[:200]], [l for l, _ in sst2_dev[:200]], names)
        torch.manual_seed(0)
        model = AlbertForSequenceClassification(preset_config("tiny", vocab_size=tok.vocab_size, labels=names, max_position_embeddings=128))
        config = TrainConfig(epochs=2, batch_size=32, learning_rate=3e-4, max_length=64, seed=0, warmup_ratio=0.1)
        train_classifier(model, save_albert(spiece_model), encode_dataset(train, tok, 64), encode_dataset(dev, tok, 64), config, run, pad_id=tok.pad_id)

    return built_once(tmp_path_factory, "trained", build) / "model"


@pytest.fixture(scope="session")
def trained_artifacts(tmp_path_factory, trained_checkpoint) -> dict[str, Path]:
    """fp32 ONNX and TFLite exports of the trained model."""
    from edge_albert.converters.onnx import export_onnx
    from edge_albert.converters.tflite import export_tflite

    def build(folder: Path) -> None:
        export_onnx(trained_checkpoint, folder / "model.onnx")
        export_tflite(trained_checkpoint, folder / "model.tflite")

    folder = built_once(tmp_path_factory, "artifacts", build)
    return {"onnx": folder / "model.onnx", "tflite": folder / "model.tflite"}


@pytest.fixture(scope="session")
def bundle(tmp_path_factory, trained_checkpoint, trained_artifacts) -> Path:
    from edge_albert.packaging.bundle import build_bundle

    out = tmp_path_factory.mktemp("bundle") / "sentiment.eabundle"
    return build_bundle([trained_artifacts["onnx"], trained_artifacts["tflite"]], trained_checkpoint / "spiece.model", out).path


@pytest.fixture(scope="session")
def web_folder(tmp_path_factory, trained_checkpoint) -> Path:
    """`edge-albert convert --to transformers-js` of the trained model: the folder transformers.js loads."""
    import json
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("web") / "sentiment-js"
    proc = subprocess.run([sys.executable, "-m", "edge_albert.cli", "convert", str(trained_checkpoint), "--to", "transformers-js", "-o", str(out), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = json.loads(proc.stdout)["files"]
    assert set(files) == {"config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx", "onnx/model_quantized.onnx"}
    assert files["onnx/model_quantized.onnx"] < files["onnx/model.onnx"] / 3
    return out


@pytest.fixture(scope="session")
def executorch_programs(tmp_path_factory, trained_checkpoint, sst2_dev) -> dict:
    """The trained model as ExecuTorch programs: float32 (through `convert`, which checks it) and
    8da8w / 8da4w (through `quantize`, compared on all of SST-2 dev). Lowering takes ~40-60 s per
    program on 2 cores: the ExecuTorch tests share these three."""
    from edge_albert.converters.convert import convert
    from edge_albert.data.readers import LabeledTexts
    from edge_albert.quantization import quantize, recipe

    folder = tmp_path_factory.mktemp("pte")
    dev = LabeledTexts([s for _, s in sst2_dev], [l for l, _ in sst2_dev], ["negative", "positive"])
    return {
        "float32": convert(trained_checkpoint, folder / "model.pte", "executorch"),
        "int8": quantize(trained_checkpoint, folder / "model.int8.pte", recipe("dynamic"), to="executorch", eval_data=dev),
        "int4": quantize(trained_checkpoint, folder / "model.int4.pte", recipe("int4"), to="executorch", eval_data=dev),
    }
