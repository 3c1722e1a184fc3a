"""Latency and throughput of a runtime session, measured with a warm-up and repeated runs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edge_albert.runtimes import Session
from edge_albert.tokenization import Encoding, pad_encodings


@dataclass
class LatencyStats:
    runs: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencyStats:
        ms = np.asarray(seconds) * 1000.0
        return cls(len(ms), float(np.percentile(ms, 50)), float(np.percentile(ms, 90)), float(np.percentile(ms, 99)), float(ms.mean()))


def synthetic_batch(batch: int, length: int, vocab_floor: int = 5, vocab: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """A full (unpadded) batch of `length` tokens: the fixed-length latency points."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(vocab_floor, vocab, (batch, length)).astype(np.int64)
    ids[:, 0], ids[:, -1] = 2, 3
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def time_batches(session: Session, batches: Sequence[dict[str, np.ndarray]], *, warmup: int = 2) -> list[float]:
    for b in batches[:warmup]:
        session.run(b)
    out = []
    for b in batches:
        start = time.perf_counter()
        session.run(b)
        out.append(time.perf_counter() - start)
    return out


@dataclass
class LatencyReport:
    threads: int
    fixed: dict[str, LatencyStats]  # "32" / "64" / "128" tokens at batch 1
    real: LatencyStats | None  # batch 1 over the real sentence lengths of the dataset
    throughput: dict[str, float]  # sequences per second at batch 8 / 32 (real sentences)

    def to_dict(self) -> dict:
        return asdict(self)


def measure_latency(
    session: Session,
    encodings: Sequence[Encoding],
    *,
    threads: int,
    lengths: Sequence[int] = (32, 64, 128),
    runs: int = 20,
    real_samples: int = 100,
    throughput_batches: Sequence[int] = (8, 32),
    pad_id: int = 0,
) -> LatencyReport:
    fixed = {}
    for length in lengths:
        if length > session.max_length:
            continue
        batch = synthetic_batch(1, length)
        fixed[str(length)] = LatencyStats.of(time_batches(session, [batch] * runs))
    real = None
    if encodings:
        sample = [pad_encodings([e], pad_id) for e in encodings[:real_samples]]
        real = LatencyStats.of(time_batches(session, sample))
    throughput = {}
    for size in throughput_batches:
        chosen = list(encodings[: size * 4])
        if len(chosen) < size:
            continue
        batches = [pad_encodings(chosen[i:i + size], pad_id) for i in range(0, len(chosen) - size + 1, size)]
        seconds = time_batches(session, batches, warmup=1)
        throughput[str(size)] = float(size * len(seconds) / sum(seconds))
    return LatencyReport(threads, fixed, real, throughput)


__all__ = ["LatencyStats", "LatencyReport", "measure_latency", "synthetic_batch", "time_batches"]
