"""Training throughput on one process against several torchrun ranks (gloo, CPU), same global batch.

    python benchmarks/distributed.py [--presets tiny,base] [--steps 40] [--rounds 3] [--batch-size 32]

Each configuration runs the real command, `edge-albert train` on SST-2 train sentences (max length
64), alone or under `torchrun --standalone --nproc_per_node 2`:
  1 process x 1 thread, 1 process x 2 threads, 2 ranks x 1 thread.
The configurations take turns for `--rounds` rounds (the median is kept), so a busy machine
slows them alike. Steps per second come from the training loop's own wall time (result.json,
model saving included, process start-up and data loading excluded). Scaling efficiency is the
2-rank rate over twice the 1-process, 1-thread rate; the row that matters on a 2-core box is
2 ranks against 1 process with 2 threads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from harness import write_result

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"
CONFIGS = {"1 process x 1 thread": (1, 1), "1 process x 2 threads": (1, 2), "2 ranks x 1 thread": (2, 1)}


def run_once(preset: str, ranks: int, threads: int, steps: int, batch_size: int, train: Path, work: Path) -> float:
    out = work / f"{preset}-{ranks}x{threads}"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"] if ranks > 1 else [sys.executable]
    cmd = [*launcher, "-m", "edge_albert.cli", "train", "--train", str(train), "--preset", preset, "--tokenizer", str(work / "spiece.model"),
           "--batch-size", str(batch_size), "--max-length", "64", "--max-steps", str(steps), "--epochs", "1", "--threads", str(threads),
           "--dropout", "0", "-o", str(out), "--json"]
    env = {**os.environ, "EDGE_ALBERT_PROGRESS": "0", "OMP_NUM_THREADS": str(threads)}
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    result = json.loads((out / "result.json").read_text())
    return result["steps"] / result["wall_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,base")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per run (base uses a quarter)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    from edge_albert.tokenization import train_tokenizer

    rows, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lines = (SST2 / "train.tsv").read_text(encoding="utf-8").splitlines()
        train = work / "train.tsv"
        train.write_text("\n".join(lines[:20001]) + "\n", encoding="utf-8")
        train_tokenizer([line.split("\t", 1)[1] for line in lines[1:20001]], work / "spiece.model", vocab_size=8000)
        for preset in args.presets.split(","):
            steps = args.steps if preset == "tiny" else max(4, args.steps // 4)
            rates: dict[str, list[float]] = {name: [] for name in CONFIGS}
            for _ in range(args.rounds):
                for name, (ranks, threads) in CONFIGS.items():
                    rates[name].append(run_once(preset, ranks, threads, steps, args.batch_size, train, work))
            median = {name: float(np.median(r)) for name, r in rates.items()}
            base_rate = median["1 process x 1 thread"]
            for name in CONFIGS:
                rows.append([preset, name, f"{median[name]:.2f}", f"{median[name] / base_rate:.2f}x",
                             f"{median[name] / (CONFIGS[name][0] * CONFIGS[name][1] * base_rate):.0%}"])
            data[preset] = {"steps": steps, "rates": rates, "median": median}
    write_result("distributed", ["preset", "configuration", "steps/s", "speed-up", "efficiency per core"], rows,
                 {"batch_size": args.batch_size, "max_length": 64, **data}, threads=2)


if __name__ == "__main__":
    main()
