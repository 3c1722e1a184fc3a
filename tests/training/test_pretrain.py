"""MLM + SOP pretraining: the masking statistics of BERT/ALBERT, swapped segments, a loss that falls."""

from __future__ import annotations

import json

import numpy as np

from edge_albert.model.checkpoint import load_model
from edge_albert.model.albert import AlbertForPreTraining, AlbertForSequenceClassification
from edge_albert.training.pretrain import IGNORE, mask_tokens, pretrain, sop_pairs
from edge_albert.training.trainer import TrainConfig


def test_masking_is_15_percent_with_80_10_10():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 1000, (400, 250))
    special = np.zeros_like(ids, dtype=bool)
    special[:, 0] = True
    masked, labels = mask_tokens(ids, special, rng, vocab_size=1000, mask_id=4)
    chosen = labels != IGNORE
    assert abs(chosen.mean() - 0.15) < 0.005
    assert not chosen[:, 0].any()
    assert (labels[chosen] == ids[chosen]).all()
    as_mask = (masked == 4) & chosen
    kept = (masked == ids) & chosen
    assert abs(as_mask.sum() / chosen.sum() - 0.8) < 0.01
    assert abs(kept.sum() / chosen.sum() - 0.1 - 0.1 / 995) < 0.01  # 10% kept (+ random hits on itself)
    assert (masked[~chosen] == ids[~chosen]).all()


def test_sop_pairs_swap_half():
    rng = np.random.default_rng(0)
    texts = [list(range(10, 10 + n)) for n in rng.integers(2, 30, 2000)]
    pairs = sop_pairs(texts, rng, 64)
    swapped = [p for p in pairs if p[2] == 1]
    assert 0.45 < len(swapped) / len(pairs) < 0.55
    for a, b, label in pairs[:200]:
        first, second = (b, a) if label else (a, b)
        assert first[-1] + 1 == second[0]  # consecutive segments of one text


def test_pretrain_loss_falls_and_checkpoint_fine_tunes(tmp_path, sst2_train, spiece_model):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(s for _, s in sst2_train[:3000]))
    # 40 steps: the MLM loss falls from 7.4 to 6.5 between the first and last record (measured, one thread)
    config = TrainConfig(epochs=1, batch_size=32, learning_rate=1e-3, max_length=48, max_steps=40, seed=0, log_every=10)
    result = pretrain([corpus], tmp_path / "run", config, tokenizer=spiece_model)
    log = [json.loads(l) for l in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()[1:]]
    assert log[-1]["mlm_loss"] < log[0]["mlm_loss"] - 0.5
    model = load_model(result.checkpoint)
    assert isinstance(model, AlbertForPreTraining)
    clf = load_model(result.checkpoint, AlbertForSequenceClassification, new_head_ok=True, labels=["negative", "positive"])
    assert clf.config.labels == ["negative", "positive"]


# --- streamed shards, several ranks, resume mid-epoch (real torchrun jobs of 2 CPU ranks) ---

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from edge_albert.data.token_shards import prepare_shards  # noqa: E402

# dropout 0: each rank draws its own dropout masks, so only a dropout-free model gives one process's numbers
PRETRAIN = ["--max-steps", "24", "--batch-size", "16", "--max-length", "48", "--threads", "1", "--log-every", "1", "--dropout", "0", "--json"]


def pretrain_cli(*args: object, ranks: int = 1, wait: bool = True):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"] if ranks > 1 else [sys.executable]
    cmd = [*launcher, "-m", "edge_albert.cli", "pretrain", *map(str, args)]
    env = {**os.environ, "EDGE_ALBERT_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def steps(run: Path) -> list[dict]:
    """The logged steps; a resumed run logs again the steps after its saved state: the last record counts."""
    by_step = {r["step"]: r for r in map(json.loads, (run / "train_log.jsonl").read_text().splitlines()) if r["event"] == "step"}
    return [by_step[k] for k in sorted(by_step)]


def assert_same_pretraining(a: Path, b: Path) -> None:
    ra, rb = steps(a), steps(b)
    assert [r["step"] for r in ra] == [r["step"] for r in rb] and len(ra) == 24
    for key in ("mlm_loss", "sop_loss"):
        assert max(abs(x[key] - y[key]) for x, y in zip(ra, rb)) <= 1e-5
    for key in ("mlm_accuracy", "sop_accuracy"):
        assert max(abs(x[key] - y[key]) for x, y in zip(ra, rb)) <= 1e-6
    wa, wb = load_file(a / "model" / "model.safetensors"), load_file(b / "model" / "model.safetensors")
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) <= 1e-4


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory, sst2_train, spiece_model) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pretrain-corpus")
    text = root / "corpus.txt"
    text.write_text("\n".join(s for _, s in sst2_train[:3000]) + "\n")
    prepare_shards([text], spiece_model, root / "shards", texts_per_shard=700, workers=2)
    return {"text": text, "shards": root / "shards", "spiece": spiece_model}


@pytest.fixture(scope="module")
def single_runs(tmp_path_factory, corpus_files) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pretrain-single")
    pretrain_cli(corpus_files["text"], "--tokenizer", corpus_files["spiece"], *PRETRAIN, "-o", root / "memory")
    pretrain_cli("--shards", corpus_files["shards"], "--tokenizer", corpus_files["spiece"], *PRETRAIN, "-o", root / "streamed")
    return {"memory": root / "memory", "streamed": root / "streamed"}


@pytest.mark.parametrize("source", ["memory", "streamed"])
def test_two_ranks_pretrain_as_one_process(tmp_path, corpus_files, single_runs, source):
    data = [corpus_files["text"]] if source == "memory" else ["--shards", corpus_files["shards"]]
    run = tmp_path / source
    pretrain_cli(*data, "--tokenizer", corpus_files["spiece"], *PRETRAIN, "-o", run, ranks=2)
    assert json.loads((run / "train_log.jsonl").read_text().splitlines()[0])["world_size"] == 2
    assert steps(single_runs[source])[-1]["mlm_loss"] < steps(single_runs[source])[0]["mlm_loss"] - 0.3  # it learns
    assert_same_pretraining(single_runs[source], run)


@pytest.mark.parametrize("source,resume_ranks", [("memory", 1), ("streamed", 2)])
def test_killed_mid_epoch_and_resumed_gives_the_uninterrupted_model(tmp_path, corpus_files, single_runs, source, resume_ranks):
    """SIGKILL after the state of step 10 is saved (of 188 steps in the epoch), then --resume (on 2
    ranks for the streamed corpus): the uninterrupted run's losses and weights."""
    data = [corpus_files["text"]] if source == "memory" else ["--shards", corpus_files["shards"]]
    run = tmp_path / source
    args = [*data, "--tokenizer", corpus_files["spiece"], *PRETRAIN, "--save-every", "5", "-o", run]
    job = pretrain_cli(*args, wait=False)
    try:
        deadline = time.monotonic() + 120
        while True:
            state = run / "state.pt"
            if state.is_file() and json.loads(torch.load(state, weights_only=True)["position"])["step"] >= 10:
                break
            assert job.poll() is None and time.monotonic() < deadline, "no state saved at step 10"
            time.sleep(0.1)
        os.killpg(job.pid, signal.SIGKILL)
    finally:
        job.wait()
    saved = json.loads(torch.load(run / "state.pt", weights_only=True)["position"])
    assert saved["epoch"] == 0 and 0 < saved["batch"] < 24
    pretrain_cli(*args, "--resume", ranks=resume_ranks)
    assert_same_pretraining(single_runs[source], run)


def test_pretrain_needs_one_source(tmp_path, corpus_files):
    from edge_albert.errors import InputError

    with pytest.raises(InputError, match="one of the two"):
        pretrain([corpus_files["text"]], tmp_path / "run", TrainConfig(), shards=corpus_files["shards"])
    with pytest.raises(InputError, match="--shards needs --tokenizer"):
        pretrain([], tmp_path / "run", TrainConfig(), shards=corpus_files["shards"])
