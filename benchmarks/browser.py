"""In the browser, side by side: Optimum's int8 ALBERT-base export against ours, in one run.

    python benchmarks/browser.py [--texts 100] [--rounds 2] [--threads 1,2]

ALBERT-base shape (random weights, vocab 30000, a sentencepiece model trained on SST-2 train):
- Optimum: `ORTModelForSequenceClassification(export=True)` + `ORTQuantizer` with
  `AutoQuantizationConfig.avx512_vnni(is_static=False)` (its own virtual environment, as in
  benchmarks/peers.py);
- ours: `edge-albert quantize --method dynamic --to onnx`.
Both run through `edge-albert validate`'s browser target (headless Chromium, onnxruntime-web
WebAssembly with SIMD, 1 and 2 threads, cross-origin isolated), on the first `--texts` SST-2 dev
sentences as they are (real lengths, batch 1), with transformers.js's tokenizer. The two files take
turns for `--rounds` rounds (order swapped each round); the median over rounds of each run's median
is kept, with the load time (session creation in the page) and the file size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from edge_albert.model.albert import AlbertForSequenceClassification
from edge_albert.model.checkpoint import save_model
from edge_albert.model.config import preset_config
from edge_albert.quantization import quantize, recipe
from edge_albert.targets import parse_target, run_on_target
from edge_albert.tokenization import train_tokenizer

from harness import write_result
from peers import OPTIMUM_SCRIPT, ensure_optimum_venv

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    optimum_python = ensure_optimum_venv()
    train = [line.split("\t", 1)[1] for line in (SST2 / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    dev = [line.split("\t", 1)[1] for line in (SST2 / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]][: args.texts]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spm = train_tokenizer(train[:30000], folder / "spiece.model", vocab_size=8000)
        torch.manual_seed(0)
        config = preset_config("base", vocab_size=30000, max_position_embeddings=512, labels=["negative", "positive"])
        ckpt = save_model(AlbertForSequenceClassification(config), folder / "base", tokenizer_model=spm)
        subprocess.run([str(optimum_python), "-c", OPTIMUM_SCRIPT, str(ckpt), str(folder / "optimum")], check=True,
                       env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
        files = {
            "Optimum export + ORTQuantizer avx512_vnni dynamic": next((folder / "optimum" / "int8").glob("*.onnx")),
            "ours: edge-albert quantize --method dynamic --to onnx": Path(quantize(ckpt, folder / "ours.int8.onnx", recipe("dynamic"), to="onnx").output),
        }
        names = list(files)
        rows, data = [], {}
        for threads in [int(t) for t in args.threads.split(",")]:
            medians = {name: [] for name in names}
            loads = {name: [] for name in names}
            runtime = ""
            for round_ in range(args.rounds):
                order = names if round_ % 2 == 0 else names[::-1]
                for name in order:
                    run = run_on_target(parse_target(f"browser:{threads}"), [files[name]], spm, dev, max_length=128)
                    medians[name].append(run.models[0].median_ms)
                    loads[name].append(run.models[0].load_seconds)
                    runtime = f"{run.models[0].runtime}, {run.machine.get('browser', '')}"
            optimum = float(np.median(medians[names[0]]))
            for name in names:
                p50 = float(np.median(medians[name]))
                size = files[name].stat().st_size
                rows.append([name, threads, f"{size / 1e6:.2f}", f"{float(np.median(loads[name])):.2f}", f"{p50:.1f}", f"{optimum / p50:.2f}x"])
                data[f"{name} @ {threads}"] = {"size_bytes": size, "median_ms": medians[name], "load_seconds": loads[name], "runtime": runtime}
    write_result("browser", ["file", "threads", "MB", "load s", "median ms per sentence (SST-2 dev, real lengths)", "speed vs Optimum"], rows,
                 {"texts": len(dev), "rounds": args.rounds, **data}, threads=max(int(t) for t in args.threads.split(",")))


if __name__ == "__main__":
    main()
