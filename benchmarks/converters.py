"""Sizes and single-thread latencies of fp32 / int8 / fp16 / int4 exports for the `tiny` and `base` presets
(4-bit: blocks of 32 to 128, embeddings at 8 or 4 bits, and per output channel).

    python benchmarks/converters.py [--presets tiny,base] [--runs 20] [--threads 1]

Models are randomly initialised (vocab 30000, as ALBERT's): sizes and latencies depend on the
shape, not on the weights. Latency: batch 1 at 128 tokens (the issue's reference point) and at
32 tokens, median of --runs, all measured in one run so they compare as ratios.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from edge_albert.converters.onnx import export_onnx
from edge_albert.converters.tflite import export_tflite
from edge_albert.model.albert import AlbertForSequenceClassification
from edge_albert.model.checkpoint import save_model
from edge_albert.model.config import preset_config
from edge_albert.model.factory import parameter_count
from edge_albert.errors import InputError
from edge_albert.quantization import quantize, recipe
from edge_albert.runtimes import open_session
from edge_albert.tokenization import train_tokenizer
from edge_albert.validation.latency import LatencyStats, synthetic_batch, time_batches

from harness import write_result


def build(preset: str, folder: Path, spm: Path) -> Path:
    torch.manual_seed(0)
    config = preset_config(preset, vocab_size=30000, max_position_embeddings=512, labels=["negative", "positive"])
    return save_model(AlbertForSequenceClassification(config), folder / preset, tokenizer_model=spm)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="tiny,base")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # Any valid spiece.model will do for timing: the ids are synthetic.
        spm = train_tokenizer([f"word{i} and some text {i % 97}" for i in range(3000)], folder / "spiece.model", vocab_size=500)
        for preset in args.presets.split(","):
            ckpt = build(preset, folder, spm)
            params = parameter_count(open_session(ckpt).model)
            artifacts = {
                "pytorch fp32": ckpt,
                "onnx fp32": export_onnx(ckpt, folder / f"{preset}.onnx").path,
                "tflite fp32": export_tflite(ckpt, folder / f"{preset}.tflite").path,
            }
            for label, name, to in (("int8 dynamic", "dynamic", "onnx"), ("int8 dynamic", "dynamic", "tflite"), ("fp16", "fp16", "tflite"),
                                    ("fp16", "fp16", "onnx"), ("int4 b32", "int4", "onnx"), ("int4 b32 e4", "weight_only_wi4b32_e4_afp32", "onnx"),
                                    ("int4 b64 e4", "weight_only_wi4b32_e4_afp32:64", "onnx"), ("int4 b128 e4", "weight_only_wi4b32_e4_afp32:128", "onnx"),
                                    ("int4 b32", "int4", "tflite"), ("int4 b128 e4", "weight_only_wi4b32_e4_afp32:128", "tflite"),
                                    ("int4 per channel", "weight_only_wi4c_afp32", "tflite")):
                name, _, block = name.partition(":")
                out = folder / f"{preset}.{label.replace(' ', '-')}.{to}"
                try:
                    artifacts[f"{to} {label}"] = Path(quantize(ckpt, out, recipe(name, block_size=int(block) if block else None), to=to).output)
                except InputError as exc:  # TFLite 4-bit blocks must divide the tiny preset's width (312)
                    print(f"{preset} {to} {label}: {exc}")
            for name, path in artifacts.items():
                session = open_session(path, threads=args.threads)
                size = sum(p.stat().st_size for p in path.glob("*.safetensors")) if path.is_dir() else path.stat().st_size
                lat = {n: LatencyStats.of(time_batches(session, [synthetic_batch(1, n, vocab=30000)] * args.runs)) for n in (32, 128)}
                rows.append([preset, name, f"{params / 1e6:.2f}M", f"{size / 1e6:.2f}", f"{lat[32].p50_ms:.2f}", f"{lat[128].p50_ms:.2f}"])
                data[f"{preset}/{name}"] = {"parameters": params, "size_bytes": size, "p50_ms_32": lat[32].p50_ms, "p50_ms_128": lat[128].p50_ms,
                                            "p90_ms_128": lat[128].p90_ms}
    write_result("converters", ["preset", "artifact", "params", "MB", "p50 ms @32", "p50 ms @128"], rows, data, args.threads)


if __name__ == "__main__":
    main()
