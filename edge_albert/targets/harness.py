"""The program that runs on a target (an ARM64 Python under qemu, a phone or board over SSH).

It needs only numpy, sentencepiece and the runtimes (no torch), reads a job directory the host
wrote, and writes `result.json` beside it:

    python -m edge_albert.targets.harness JOB_DIR

JOB_DIR holds `job.json` ({"models": [{"file", "runtime"}], "threads", "max_length", "task",
"stride"}), the models, `spiece.model`, and `texts.json` with the inputs and the token ids the
host computed for them. The inputs are the task's: texts (classification), sentences as lists of
words (token classification), [question, context] pairs (question answering, one model input per
context window). The target tokenizes them itself and reports every model input whose ids differ
from the host's, then runs every model input at batch 1 at its real length through every model and
records its outputs (a row of logits; a row per token for the token tasks), the per-input time
and the load time. Timings under emulation are emulated, not device latency; the host says so.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_albert.machine import machine_info
from edge_albert.on_device.question_answerer import question_windows
from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer, Encoding

JOB_FILE = "job.json"
TEXTS_FILE = "texts.json"
RESULT_FILE = "result.json"
# The tasks a target runs, by what their inputs are; the other heads are validated on the host.
TARGET_TASKS = ("text-classification", "token-classification", "question-answering")


def single_batch(encoding: Encoding) -> dict[str, np.ndarray]:
    """One text at batch 1 and its real length (no padding), as the harness runs it."""
    ids = np.asarray([encoding.input_ids], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.asarray([encoding.token_type_ids], dtype=np.int64)}


def target_encodings(tokenizer: AlbertTokenizer, task: str, inputs: list, *, max_length: int, stride: int = 128) -> list[Encoding]:
    """The model inputs of `inputs` as the host and the target both make them: one per text or
    sentence, one per context window of a question."""
    if task == "token-classification":
        return [tokenizer.encode_words(words, max_length=max_length) for words in inputs]
    if task == "question-answering":
        return [w for question, context in inputs for w in question_windows(tokenizer, question, context, max_length=max_length, stride=stride)]
    return [tokenizer.encode(text, max_length=max_length) for text in inputs]


def run_job(job_dir: Path) -> dict:
    job_dir = Path(job_dir)
    job = json.loads((job_dir / JOB_FILE).read_text(encoding="utf-8"))
    texts = json.loads((job_dir / TEXTS_FILE).read_text(encoding="utf-8"))
    tokenizer = AlbertTokenizer(job_dir / "spiece.model")
    encodings = target_encodings(tokenizer, job.get("task", "text-classification"), texts["texts"], max_length=int(job["max_length"]),
                                 stride=int(job.get("stride", 128)))
    host_ids = texts["host_ids"]
    mismatched = [i for i, (e, host) in enumerate(zip(encodings, host_ids)) if e.input_ids != host]
    mismatched += list(range(min(len(encodings), len(host_ids)), max(len(encodings), len(host_ids))))  # windows only one side made
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
            logits.append(np.asarray(out, dtype=np.float32)[0].tolist())
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
