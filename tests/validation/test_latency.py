"""Latency measured in turns across models, on real ONNX Runtime and LiteRT sessions."""

from __future__ import annotations

import time

import pytest

from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.latency import measure_latency, measure_latency_interleaved


class _CallLog:
    """Delegates to a real session and notes when each of its runs started (no stand-in runtime)."""

    def __init__(self, session, name: str, log: list) -> None:
        self._session, self._name, self._log = session, name, log

    def __getattr__(self, attr):
        return getattr(self._session, attr)

    def run(self, inputs):
        self._log.append((time.perf_counter(), self._name))
        return self._session.run(inputs)


@pytest.fixture(scope="module")
def encodings(trained_checkpoint, sst2_dev):
    tokenizer = AlbertTokenizer(trained_checkpoint / "spiece.model")
    return [tokenizer.encode(s, max_length=128) for _, s in sst2_dev[:40]]


def test_every_session_measured_in_every_round(trained_checkpoint, trained_artifacts, encodings):
    log: list = []
    sessions = [_CallLog(open_session(p, threads=1), name, log)
                for name, p in (("torch", trained_checkpoint), ("onnx", trained_artifacts["onnx"]), ("tflite", trained_artifacts["tflite"]))]
    reports = measure_latency_interleaved(sessions, encodings, threads=1, lengths=(32,), runs=10, throughput_batches=(8,), rounds=5)
    for report in reports:
        assert report.threads == 1 and report.fixed["32"].runs == 10 and report.real.runs == 40
        assert report.real.p50_ms > 0 and report.throughput["8"] > 0
    names = [name for _, name in log]
    # Interleaved: every session's runs are spread over the whole measurement, not one block.
    turns = [names[0]] + [b for a, b in zip(names, names[1:]) if b != a]
    assert len(turns) == 15 and all(turns[r * 3:(r + 1) * 3].count(n) == 1 for r in range(5) for n in ("torch", "onnx", "tflite"))
    # The order rotates, so no model always runs first (after another model's turn) or last.
    assert {turns[r * 3] for r in range(5)} == {"torch", "onnx", "tflite"}


def test_single_session_matches_one_round(trained_artifacts, encodings):
    session = open_session(trained_artifacts["onnx"], threads=1)
    report = measure_latency(session, encodings, threads=1, lengths=(32, 64, 4096), runs=6, real_samples=12)
    assert set(report.fixed) == {"32", "64"}  # longer than the model's max_length: skipped
    assert report.fixed["64"].runs == 6 and report.real.runs == 12
    assert report.fixed["32"].p50_ms <= report.fixed["32"].p90_ms <= report.fixed["32"].p99_ms
    assert set(report.throughput) == {"8", "32"}
