"""Latency and throughput of a runtime session, measured with a warm-up and repeated runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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


def time_batches(session: Session, batches: Sequence, *, warmup: int = 2) -> list[float]:
    """Seconds per batch. A session that tokenizes inside its graph (`takes_text`) gets lists of
    texts, and its time includes the tokenizer, as an app's would."""
    run = session.run_text if getattr(session, "takes_text", False) else session.run
    for b in batches[:warmup]:
        run(b)
    out = []
    for b in batches:
        start = time.perf_counter()
        run(b)
        out.append(time.perf_counter() - start)
    return out


def text_of_length(tokenizer, length: int) -> str:
    """A text that `tokenizer` encodes to `length` tokens ([CLS] and [SEP] included): the fixed-length
    latency points of a text-input model."""
    words = ["the"] * max(length - 2, 0)
    for _ in range(length + 2):  # "the" is one piece in any English vocabulary; adjust if not
        n = len(tokenizer.encode(" ".join(words), max_length=None).input_ids)
        if n == length or not words:
            break
        words = words[:-1] if n > length else words + ["the"]
    return " ".join(words)


@dataclass
class LatencyReport:
    threads: int
    fixed: dict[str, LatencyStats]  # "32" / "64" / "128" tokens at batch 1
    real: LatencyStats | None  # batch 1 over the real sentence lengths of the dataset
    throughput: dict[str, float]  # sequences per second at batch 8 / 32 (real sentences)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _TimedGroup:
    """One measurement (a fixed length, the real sentences, a throughput batch size) as a list of inputs."""

    kind: str  # "fixed" | "real" | "throughput"
    key: str
    batches: list[dict[str, np.ndarray]]
    length: int  # longest input: sessions with a smaller max_length skip fixed-length groups
    warmup: int
    texts: list[list[str]] | None = None  # the same inputs as texts, for text-input sessions


def _groups(encodings: Sequence[Encoding], lengths: Sequence[int], runs: int, real_samples: int,
            throughput_batches: Sequence[int], pad_id: int, texts: Sequence[str] | None = None, tokenizer=None) -> list[_TimedGroup]:
    with_texts = texts is not None and tokenizer is not None
    groups = [_TimedGroup("fixed", str(n), [synthetic_batch(1, n)] * runs, n, 2,
                          [[text_of_length(tokenizer, n)]] * runs if with_texts else None) for n in lengths]
    if encodings:
        groups.append(_TimedGroup("real", "real", [pad_encodings([e], pad_id) for e in encodings[:real_samples]], 0, 2,
                                  [[t] for t in texts[:real_samples]] if with_texts else None))
    for size in throughput_batches:
        chosen = list(encodings[: size * 4])
        if len(chosen) >= size:
            starts = range(0, len(chosen) - size + 1, size)
            batches = [pad_encodings(chosen[i:i + size], pad_id) for i in starts]
            groups.append(_TimedGroup("throughput", str(size), batches, 0, 1, [list(texts[i:i + size]) for i in starts] if with_texts else None))
    return groups


def measure_latency_interleaved(
    sessions: Sequence[Session],
    encodings: Sequence[Encoding],
    *,
    threads: int,
    lengths: Sequence[int] = (32, 64, 128),
    runs: int = 20,
    real_samples: int = 100,
    throughput_batches: Sequence[int] = (8, 32),
    pad_id: int = 0,
    rounds: int = 5,
    on_round: Callable[[], None] | None = None,
    texts: Sequence[str] | None = None,
    tokenizer=None,
) -> list[LatencyReport]:
    """Latency of several sessions measured in turns: one LatencyReport per session.

    On a shared machine load comes and goes. Timing one model after the other lets a busy
    minute land on one of them only, and the ratio between them, which the gate judges, swings
    with it (CI once saw int8 ONNX at 1.6x its usual ratio to the fp32 reference). So every
    measurement is cut into `rounds` slices and each session runs its slice in turn, the order
    rotated every round: all sessions share the same mix of quiet and busy moments. Within a
    turn one session runs alone after a warm-up, so caches stay as warm as in real use.

    With `texts` (the texts of `encodings`) and their `tokenizer`, sessions that take text
    (`takes_text`) are timed on the same inputs as texts.
    """
    if not any(getattr(s, "takes_text", False) for s in sessions):
        texts = None  # no text-input session: no text groups to build
    groups = _groups(encodings, lengths, runs, real_samples, throughput_batches, pad_id, texts, tokenizer)
    slices = [np.array_split(np.arange(len(g.batches)), rounds) for g in groups]
    seconds: list[dict[str, list[float]]] = [{g.kind + g.key: [] for g in groups} for _ in sessions]
    for r in range(rounds):
        for i in [(r + k) % len(sessions) for k in range(len(sessions))]:
            session = sessions[i]
            for g, chunks in zip(groups, slices):
                if g.length > session.max_length or not len(chunks[r]):
                    continue
                if getattr(session, "takes_text", False) and g.texts is None:
                    continue
                source = g.texts if getattr(session, "takes_text", False) else g.batches
                batches = [source[j] for j in chunks[r]]
                seconds[i][g.kind + g.key] += time_batches(session, batches, warmup=g.warmup if r == 0 else 1)
        if on_round:
            on_round()
    reports = []
    for times in seconds:
        fixed = {g.key: LatencyStats.of(times["fixed" + g.key]) for g in groups if g.kind == "fixed" and times["fixed" + g.key]}
        real = LatencyStats.of(times["realreal"]) if times.get("realreal") else None
        throughput = {g.key: float(len(times["throughput" + g.key]) * int(g.key) / sum(times["throughput" + g.key]))
                      for g in groups if g.kind == "throughput" and times["throughput" + g.key]}
        reports.append(LatencyReport(threads, fixed, real, throughput))
    return reports


def measure_latency(session: Session, encodings: Sequence[Encoding], *, threads: int, **options) -> LatencyReport:
    """Latency of one session (fixed lengths at batch 1, real sentences at batch 1, throughput);
    `options` as in `measure_latency_interleaved`."""
    return measure_latency_interleaved([session], encodings, threads=threads, rounds=1, **options)[0]


__all__ = ["LatencyStats", "LatencyReport", "measure_latency", "measure_latency_interleaved", "synthetic_batch", "text_of_length", "time_batches"]
