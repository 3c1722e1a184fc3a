"""Pruned vs unpruned, fp32 and int8, in ONNX Runtime and LiteRT, measured in one run.

    python benchmarks/pruning.py CHECKPOINT --heads 0.34 --ffn 0.4 --depth 3 --recover-epochs 1 [--recover-steps N] [--limit N] [--runs-dir runs]

The recovery distils CHECKPOINT (the unpruned model) into the pruned one on SST-2 train; every
artifact is then validated on SST-2 dev (accuracy, size, p50 latency at real lengths, 1 thread).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_albert.converters.onnx import export_onnx
from edge_albert.converters.tflite import export_tflite
from edge_albert.data.readers import read_labeled
from edge_albert.model.config import AlbertConfig, encoder_flops
from edge_albert.quantization import quantize, recipe
from edge_albert.quantization.pruning import PruneConfig, prune_checkpoint
from edge_albert.training.recipes import DataSpec
from edge_albert.training.trainer import TrainConfig
from edge_albert.validation.report import validate

from harness import write_result

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


def artifacts(ckpt: Path, folder: Path, tag: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        export_onnx(ckpt, folder / f"{tag}.fp32.onnx", force=True).path,
        export_tflite(ckpt, folder / f"{tag}.fp32.tflite", force=True).path,
        Path(quantize(ckpt, folder / f"{tag}.int8.onnx", recipe("dynamic"), to="onnx", force=True).output),
        Path(quantize(ckpt, folder / f"{tag}.int8.tflite", recipe("dynamic"), to="tflite", force=True).output),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--heads", type=float, default=0.34)
    parser.add_argument("--ffn", type=float, default=0.4)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--recover-epochs", type=int, default=1)
    parser.add_argument("--recover-steps", type=int, default=None, help="Stop recovery after N steps.")
    parser.add_argument("--limit", type=int, default=None,
                        help="Rank and recover on the first N SST-2 train rows only (the unpruned teacher labels them once: hours for a base-sized model on all 67k).")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32", help="Recovery training arithmetic.")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    spec = DataSpec(SST2 / "train.tsv", SST2 / "dev.tsv", label_names=["negative", "positive"], limit=args.limit)
    run = args.runs_dir / f"prune-h{args.heads}-f{args.ffn}-d{args.depth}"
    report = prune_checkpoint(args.checkpoint, run, PruneConfig(heads=args.heads, ffn=args.ffn, depth=args.depth), spec,
                              recover=TrainConfig(epochs=args.recover_epochs, max_steps=args.recover_steps, learning_rate=args.lr, max_length=64, threads=args.threads,
                                                      precision=args.precision) if args.recover_epochs else None)
    pruned = Path(report.checkpoint)
    dev = read_labeled(SST2 / "dev.tsv")
    dev.label_names = ["negative", "positive"]
    files = artifacts(args.checkpoint, run / "artifacts", "unpruned") + artifacts(pruned, run / "artifacts", "pruned")
    result = validate(args.checkpoint, [pruned] + files, dev, threads=(1,), latency_runs=10, memory=False).to_dict()
    flops = {"unpruned": encoder_flops(AlbertConfig.load(args.checkpoint / "config.json"), 128),
             "pruned": encoder_flops(AlbertConfig.load(pruned / "config.json"), 128)}
    rows = []
    for r in result["results"]:
        kind = "pruned" if "pruned" in r["name"] and "unpruned" not in r["name"] or r["artifact"] == str(pruned) else "unpruned"
        lat = r["latency"][0]["real"]["p50_ms"]
        rows.append([r["name"], r["runtime"], r["precision"], kind, f"{flops[kind] / 1e9:.3f}", f"{r['size_bytes'] / 1e6:.2f}", f"{r['accuracy'] * 100:.2f}", f"{lat:.2f}"])
    data = {"prune_report": {"heads_removed": report.summary.heads_removed, "ffn_kept": report.summary.ffn_kept, "depth": report.summary.depth,
                             "flops_reduction": report.summary.flops_reduction, "dev_accuracy_before": report.dev_accuracy_before,
                             "dev_accuracy_pruned": report.dev_accuracy_pruned, "dev_accuracy_recovered": report.dev_accuracy_recovered,
                             "recovery_steps": report.recovery_steps, "train_rows": args.limit or "all", "checkpoint": str(args.checkpoint)},
            "validation": result}
    write_result("pruning", ["artifact", "runtime", "precision", "model", "GFLOPs@128", "MB", "SST-2 dev acc %", "p50 ms real 1 thr"], rows, data, 1)


if __name__ == "__main__":
    main()
