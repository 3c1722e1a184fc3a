"""Training step time in fp32 and under bf16 autocast (`--precision bf16`), per preset, one run.

    python benchmarks/precision.py [--presets tiny,base] [--threads 1,2] [--steps 6] [--tokens 20]

A step is what `train_classifier` does per batch: forward (autocast or not), fp32 loss, backward,
clipping and an AdamW update, on a batch of 32 random sequences of `--tokens` tokens. fp32 and
bf16 steps alternate in one process, so the ratio holds on a busy machine; the median is kept.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from edge_albert.model.albert import AlbertForSequenceClassification
from edge_albert.model.config import preset_config
from edge_albert.training.precision import autocast, cpu_has_native_bf16

from harness import write_result


def step_seconds(model: torch.nn.Module, optimizer, batch, labels, precision: str) -> float:
    start = time.perf_counter()
    with autocast(precision):
        logits = model(*batch)
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,base")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=20)
    args = parser.parse_args()
    rows, data = [], {"native_bf16": cpu_has_native_bf16(), "runs": []}
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for name in args.presets.split(","):
            torch.manual_seed(0)
            model = AlbertForSequenceClassification(preset_config(name, vocab_size=8000, labels=["negative", "positive"]))
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
            ids = torch.randint(5, 8000, (32, args.tokens))
            batch = (ids, torch.ones_like(ids), torch.zeros_like(ids))
            labels = torch.randint(0, 2, (32,))
            times: dict[str, list[float]] = {"fp32": [], "bf16": []}
            for i in range(args.steps + 1):
                for precision in times:
                    seconds = step_seconds(model, optimizer, batch, labels, precision)
                    if i:  # the first step of each warms up
                        times[precision].append(seconds)
            fp32, bf16 = (float(np.median(times[p])) for p in ("fp32", "bf16"))
            rows.append([name, threads, f"{fp32 * 1000:.0f}", f"{bf16 * 1000:.0f}", f"{fp32 / bf16:.2f}x"])
            data["runs"].append({"preset": name, "threads": threads, "fp32_s": times["fp32"], "bf16_s": times["bf16"]})
    write_result("precision", ["preset", "threads", "fp32 ms/step", "bf16 ms/step", "bf16 speed-up"], rows, data,
                 max(int(t) for t in args.threads.split(",")))


if __name__ == "__main__":
    main()
