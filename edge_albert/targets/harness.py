"""The program that runs on a target (an ARM64 Python under qemu, a phone or board over SSH).

It needs only numpy, sentencepiece and the runtimes (no torch), reads a job directory the host
wrote, and writes `result.json` beside it:

    python -m edge_albert.targets.harness JOB_DIR

JOB_DIR holds `job.json` ({"models": [{"file", "runtime"}], "threads", "max_length"}), the
models, `spiece.model`, and `texts.json` with the texts and the token ids the host computed. The
target tokenizes the texts itself and reports whether its ids match the host's, then runs every
text at batch 1 at its real length through every model and records the logits, the per-text
time and the load time. Timings under emulation are emulated, not device latency; the host says so.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_albert.machine import machine_info
from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer, Encoding

JOB_FILE = "job.json"
TEXTS_FILE = "texts.json"
RESULT_FILE = "result.json"


def single_batch(encoding: Encoding) -> dict[str, np.ndarray]:
    """One text at batch 1 and its real length (no padding), as the harness runs it."""
    ids = np.asarray([encoding.input_ids], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.asarray([encoding.token_type_ids], dtype=np.int64)}


def run_job(job_dir: Path) -> dict:
    job_dir = Path(job_dir)
    job = json.loads((job_dir / JOB_FILE).read_text(encoding="utf-8"))
    texts = json.loads((job_dir / TEXTS_FILE).read_text(encoding="utf-8"))
    tokenizer = AlbertTokenizer(job_dir / "spiece.model")
    max_length = int(job["max_length"])
    encodings = [tokenizer.encode(t, max_length=max_length) for t in texts["texts"]]
    mismatched = [i for i, (e, host) in enumerate(zip(encodings, texts["host_ids"])) if e.input_ids != host]
    models = []
    for model in job["models"]:
        started = time.perf_counter()
        session = open_session(job_dir / model["file"], model.get("runtime"), threads=int(job.get("threads", 1)))
        load_seconds = time.perf_counter() - started
        logits, seconds = [], []
        for enc in encodings:
            batch = single_batch(enc)
            start = time.perf_counter()
            out = session.run(batch)
            seconds.append(time.perf_counter() - start)
            logits.append([float(x) for x in np.asarray(out, dtype=np.float32)[0]])
        models.append({"file": model["file"], "runtime": session.runtime, "load_seconds": load_seconds,
                       "seconds": seconds, "logits": logits})
    return {"machine": machine_info(), "tokenizer_mismatches": mismatched, "models": models}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m edge_albert.targets.harness JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(args[0])
    result = run_job(job_dir)
    tmp = job_dir / (RESULT_FILE + ".partial")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    tmp.replace(job_dir / RESULT_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
