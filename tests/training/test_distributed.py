"""Training on several ranks with torchrun (gloo, 2 CPU processes on loopback): the same numbers as
one process with the same global batch, resume at another world size, rank 0 alone writes, and a
rank that dies fails the job instead of hanging it.

Each job is a real `torchrun --standalone` of `edge-albert train` (~10-20 s each on 2 cores)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from edge_albert.errors import InputError
from edge_albert.training import distributed

# 321 examples in batches of 16: the last global batch holds one example, so one rank of two gets
# nothing that step (it still takes part in the gradient average, with a pass that weighs 0).
TRAIN_ROWS = 321
TRAIN = ["--batch-size", "16", "--max-length", "48", "--lr", "1e-3", "--log-every", "1", "--threads", "1", "--json"]


def cli(*args: object, ranks: int = 1, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"] if ranks > 1 else [sys.executable]
    full_env = {**os.environ, "EDGE_ALBERT_PROGRESS": "0", "OMP_NUM_THREADS": "1", **(env or {})}
    result = subprocess.run([*launcher, "-m", "edge_albert.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=full_env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def job_data(tmp_path_factory, sst2_train, sst2_dev, spiece_model) -> dict[str, Path]:
    """SST-2 rows as TSV files, and a tiny ALBERT without dropout: dropout draws different masks on
    each rank, so only a dropout-free model can give one process's numbers exactly."""
    from edge_albert.model.albert import AlbertForSequenceClassification
    from edge_albert.model.checkpoint import save_model
    from edge_albert.model.config import preset_config

    root = tmp_path_factory.mktemp("ddp-data")
    for name, rows in (("train", sst2_train[:TRAIN_ROWS]), ("dev", sst2_dev[:96])):
        (root / f"{name}.tsv").write_text("label\tsentence\n" + "".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    torch.manual_seed(0)
    config = preset_config("tiny", vocab_size=2000, labels=["negative", "positive"], max_position_embeddings=64)
    config.classifier_dropout_prob = 0.0
    save_model(AlbertForSequenceClassification(config), root / "init", tokenizer_model=spiece_model)
    return {"train": root / "train.tsv", "dev": root / "dev.tsv", "init": root / "init", "spiece": spiece_model}


def data_args(d: dict[str, Path]) -> list[object]:
    return ["--train", d["train"], "--dev", d["dev"], "--init", d["init"]]


def log(run: Path, event: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "train_log.jsonl").read_text().splitlines()) if r["event"] == event]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "state.pt", map_location="cpu", weights_only=True)["model"]


def assert_same_training(a: Path, b: Path, *, loss_tol: float = 1e-5, weight_tol: float = 1e-4) -> None:
    la, lb = [r["loss"] for r in log(a, "step")], [r["loss"] for r in log(b, "step")]
    assert len(la) == len(lb) > 0
    assert max(abs(x - y) for x, y in zip(la, lb)) <= loss_tol
    ea, eb = log(a, "eval"), log(b, "eval")
    assert [r["step"] for r in ea] == [r["step"] for r in eb]
    for x, y in zip(ea, eb):  # evaluation split across ranks, gathered: the same dev metrics
        assert x["dev_accuracy"] == y["dev_accuracy"] and x["dev_loss"] == pytest.approx(y["dev_loss"], abs=1e-5)
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) <= weight_tol


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory, job_data) -> Path:
    run = tmp_path_factory.mktemp("ddp") / "one-rank"
    cli("train", *data_args(job_data), *TRAIN, "--epochs", "2", "-o", run)
    return run


def test_two_ranks_train_as_one_process_with_the_same_global_batch(tmp_path, job_data, one_rank):
    run = tmp_path / "two-ranks"
    out = cli("train", *data_args(job_data), *TRAIN, "--epochs", "2", "-o", run, ranks=2)
    assert out.stdout.count('"best_step"') == 1  # one report per job, from rank 0
    start = log(run, "start")[0]
    assert start["world_size"] == 2 and start["device"] == "cpu"
    losses = [r["loss"] for r in log(one_rank, "step")]
    assert len(losses) == 2 * 21 and min(losses[-10:]) < losses[0] - 0.05  # it learns; 21 steps per epoch
    assert_same_training(one_rank, run)


def test_gradient_accumulation_keeps_the_global_batch(tmp_path, job_data, one_rank):
    """Passes of 3 examples on each of 2 ranks add up to the 16-example step of one process."""
    run = tmp_path / "accumulated"
    cli("train", *data_args(job_data), *TRAIN, "--epochs", "2", "--micro-batch-size", "3", "-o", run, ranks=2)
    assert_same_training(one_rank, run)


def test_a_wrong_weighting_would_be_seen(tmp_path, job_data, one_rank):
    """The comparison is tight enough to notice a changed batch: a global batch of 15 differs."""
    run = tmp_path / "other-batch"
    args = [a if a != "16" else "15" for a in TRAIN]
    cli("train", *data_args(job_data), *args, "--epochs", "1", "-o", run)
    la, lb = [r["loss"] for r in log(one_rank, "step")], [r["loss"] for r in log(run, "step")]
    assert max(abs(x - y) for x, y in zip(la[1:], lb[1:])) > 1e-3


def test_resume_at_another_world_size(tmp_path, job_data, one_rank):
    """Stopped after one epoch on 2 ranks, resumed on 1: the weights of the uninterrupted run."""
    run = tmp_path / "resumed"
    cli("train", *data_args(job_data), *TRAIN, "--epochs", "2", "--stop-after-epochs", "1", "-o", run, ranks=2)
    assert [r["epoch"] for r in log(run, "eval")] == [0]
    cli("train", *data_args(job_data), *TRAIN, "--epochs", "2", "--resume", "-o", run)
    assert_same_training(one_rank, run)


AUDIT_HOOK = '''
import os, sys
_root = os.environ["AUDIT_ROOT"]
_out = open(os.path.join(os.environ["AUDIT_LOG"], f"writes-{os.getpid()}-rank{os.environ.get('RANK', '-')}.txt"), "a", buffering=1)
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def _hook(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (mode is None and flags & _WRITE)
        paths = [path] if writing else []
    elif event in ("os.rename", "os.replace", "os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree"):
        paths = [a for a in args if isinstance(a, (str, bytes, os.PathLike))]
    else:
        return
    for p in paths:
        p = os.fsdecode(p) if not isinstance(p, int) else ""
        if p and os.path.abspath(p).startswith(_root):
            _out.write(f"{event}\\t{os.path.relpath(os.path.abspath(p), _root)}\\n")

sys.addaudithook(_hook)
'''


def test_only_rank_zero_writes(tmp_path, job_data):
    """A job from scratch (rank 0 trains the tokenizer; the other rank waits, then reads it): every
    file and folder made under the run directory is made by rank 0 (Python's audit hooks see each
    open-for-writing, rename, mkdir and removal in both processes)."""
    hooks, audit = tmp_path / "hooks", tmp_path / "audit"
    hooks.mkdir()
    audit.mkdir()
    (hooks / "sitecustomize.py").write_text(AUDIT_HOOK)
    run = tmp_path / "scratch"
    env = {"PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]), "AUDIT_ROOT": str(run), "AUDIT_LOG": str(audit)}
    cli("train", "--train", job_data["train"], "--dev", job_data["dev"], "--vocab-size", "600", *TRAIN, "--max-steps", "6", "-o", run,
        ranks=2, env=env)
    by_rank: dict[str, set[str]] = {}
    for f in audit.glob("writes-*-rank*.txt"):
        rank = f.stem.rsplit("rank", 1)[1]
        by_rank.setdefault(rank, set()).update(line.split("\t")[1] for line in f.read_text().splitlines())
    assert by_rank.get("1", set()) == set()
    written = by_rank["0"]
    # the run directory itself, files opened for writing, and staged files and folders renamed into place
    for name in (".", "spiece.model", "train_log.jsonl", "state.pt", "result.json", "model"):
        assert name in written, (name, sorted(written))
    assert (run / "model" / "model.safetensors").is_file() and json.loads((run / "result.json").read_text())["steps"] == 6


def test_a_killed_rank_fails_the_job_instead_of_hanging(tmp_path, job_data):
    run = tmp_path / "killed"
    env = {**os.environ, "EDGE_ALBERT_PROGRESS": "0", "OMP_NUM_THREADS": "1", distributed.TIMEOUT_ENV: "30"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "edge_albert.cli", "train",
           *map(str, data_args(job_data)), *TRAIN, "--epochs", "200", "-o", str(run)]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not ((run / "train_log.jsonl").is_file() and log(run, "step")):
            assert job.poll() is None and time.monotonic() < deadline, "the job did not start training"
            time.sleep(0.5)
        ranks = subprocess.run(["pgrep", "-f", "-P", str(job.pid), "edge_albert.cli"], capture_output=True, text=True).stdout.split()
        assert len(ranks) == 2
        killed_at = time.monotonic()
        os.kill(int(ranks[1]), signal.SIGKILL)
        _, stderr = job.communicate(timeout=90)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    assert job.returncode != 0
    assert time.monotonic() - killed_at < 60
    assert "exitcode  : -9" in stderr or "Signal 9" in stderr or "SIGKILL" in stderr, stderr[-2000:]
    assert not (run / "result.json").exists()
    if (run / "model").exists():  # a checkpoint is there whole or not at all (staged, renamed when complete)
        from edge_albert.model.albert import AlbertForSequenceClassification
        from edge_albert.model.checkpoint import load_model

        load_model(run / "model", AlbertForSequenceClassification)


def test_world_size_without_a_launcher_is_one_line(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InputError, match="launch with torchrun"):
        distributed.setup("cpu")
    assert distributed.current().world_size == 1


def test_devices_that_are_not_here_are_refused():
    assert distributed.resolve_device("cpu").type == "cpu"
    assert distributed.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            distributed.resolve_device("cuda")
    with pytest.raises(InputError, match="unknown device 'tpu'"):
        distributed.resolve_device("tpu")


def test_distillation_splits_the_teacher_pass_and_caches_it_once(tmp_path, job_data):
    """The teacher's logits come from both ranks' halves, gathered: the same cache file, byte for
    byte, and the same student as one process."""
    common = ["distill", "--teacher", job_data["init"], *data_args(job_data), "--no-teacher-embeddings", *TRAIN, "--epochs", "1"]
    cli(*common, "-o", tmp_path / "one")
    cli(*common, "-o", tmp_path / "two", ranks=2)
    one, two = sorted((tmp_path / "one" / "cache").iterdir()), sorted((tmp_path / "two" / "cache").iterdir())
    assert [p.name for p in one] == [p.name for p in two] and len(one) == 1
    assert one[0].read_bytes() == two[0].read_bytes()
    assert_same_training(tmp_path / "one", tmp_path / "two")


def test_named_entities_weigh_each_rank_by_its_labelled_words(tmp_path, spiece_model):
    """NER averages its loss over labelled word pieces, which the two halves of a batch hold in
    different numbers: weighed by them, 2 ranks still give one process's numbers. A grouped
    ALBERT (4 layers in 2 groups) without dropout; CoNLL-2003 sentences, 321 of them."""
    from tests.conftest import NER_LABELS, head_checkpoint, shared_file
    from edge_albert.model.albert import AlbertForTokenClassification

    def first_sentences(path: Path, count: int) -> Path:
        blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip() and not b.startswith("-DOCSTART-")]
        out = tmp_path / path.name
        out.write_text("\n\n".join(blocks[:count]) + "\n", encoding="utf-8")
        return out

    train, dev = first_sentences(shared_file("conll2003/train.txt"), TRAIN_ROWS), first_sentences(shared_file("conll2003/dev.txt"), 64)
    init = head_checkpoint(tmp_path / "init", spiece_model, AlbertForTokenClassification, NER_LABELS)
    config = json.loads((init / "config.json").read_text())
    config["classifier_dropout_prob"] = 0.0
    (init / "config.json").write_text(json.dumps(config))
    common = ["train", "--task", "token-classification", "--train", train, "--dev", dev, "--init", init, *TRAIN, "--epochs", "1"]
    cli(*common, "-o", tmp_path / "one")
    cli(*common, "-o", tmp_path / "two", ranks=2)
    la, lb = [r["loss"] for r in log(tmp_path / "one", "step")], [r["loss"] for r in log(tmp_path / "two", "step")]
    assert len(la) == len(lb) == 21 and max(abs(x - y) for x, y in zip(la, lb)) <= 1e-5
    ea, eb = log(tmp_path / "one", "eval"), log(tmp_path / "two", "eval")
    assert ea[0]["dev_f1"] == eb[0]["dev_f1"]
    wa, wb = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) <= 1e-4
