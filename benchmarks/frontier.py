"""The size / accuracy / latency frontier of one SST-2 classifier: every recipe in every format,
measured by `edge-albert validate` in one run.

    python benchmarks/frontier.py CHECKPOINT [--pruned PRUNED_CHECKPOINT] [--data DEV_TSV (default ../shared/data/sst2/dev.tsv)]
                                  [--threads 1,2] [--runs 20] [-o benchmarks/results/frontier]

Recipes (fp32, fp16, int8 dynamic, int8 static, int4 in 32-wide blocks and per output channel)
in ONNX, TFLite and ExecuTorch where the format has them; with --pruned, the pruned checkpoint's
fp32, int8 and int4 files as well. Per file: size, dev accuracy and agreement with the fp32 checkpoint, p50/p90
latency at real lengths (each dev sentence as it is, batch 1; TFLite through its length
buckets) and at 128 tokens, at each thread count, and batch-32 throughput. "frontier" marks the
files no other file beats on size and accuracy and real-length latency at once.

Writes OUT/report.{json,md,html} (the HTML has the accuracy / latency / size scatters),
OUT/accuracy-latency.svg and OUT/accuracy-size.svg (the plots alone), and
benchmarks/results/frontier.json with the table and the machine.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
import tempfile
from pathlib import Path

from edge_albert.converters.executorch import export_executorch
from edge_albert.converters.onnx import export_onnx
from edge_albert.converters.tflite import export_tflite
from edge_albert.data.readers import read_labeled
from edge_albert.errors import InputError
from edge_albert.quantization import quantize, recipe
from edge_albert.validation.report import scatter_svg, validate, write_reports

from harness import write_result

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"

# (row name, recipe (a --method or recipe name) or None for the float export, format)
RECIPES = [
    ("fp32", None, "onnx"), ("fp32", None, "tflite"), ("fp32", None, "executorch"),
    ("fp16", "fp16", "onnx"), ("fp16", "fp16", "tflite"),
    ("int8 dynamic", "dynamic", "onnx"), ("int8 dynamic", "dynamic", "tflite"), ("int8 dynamic (8da8w)", "dynamic", "executorch"),
    ("int8 static", "static", "onnx"), ("int8 static", "static", "tflite"),
    ("int4 b32", "int4", "onnx"), ("int4 b32", "int4", "tflite"), ("int4 per channel", "weight_only_wi4c_afp32", "tflite"),
    ("int4 per channel (8da4w)", "int4", "executorch"),
]
PRUNED = [("pruned fp32", None, "onnx"), ("pruned + int8 dynamic", "dynamic", "onnx"), ("pruned + int8 dynamic", "dynamic", "tflite"),
          ("pruned + int4 b32", "int4", "onnx"), ("pruned + int4 per channel", "weight_only_wi4c_afp32", "tflite")]
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "executorch": ".pte"}


def make(checkpoint: Path, folder: Path, name: str, method: str | None, fmt: str, calibration: list[str]) -> Path:
    out = folder / (name.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "plus") + SUFFIX[fmt])
    if method is None:
        export = {"onnx": export_onnx, "tflite": export_tflite, "executorch": export_executorch}[fmt]
        return export(checkpoint, out).path
    return Path(quantize(checkpoint, out, recipe(method), to=fmt, calibration_texts=calibration if method == "static" else None).output)


def pareto(points: dict[str, tuple[float, float, float]]) -> set[str]:
    """Names no other point beats on all of (size, -accuracy, latency) at once."""
    out = set()
    for name, p in points.items():
        if not any(all(o[i] <= p[i] for i in range(3)) and o != p for other, o in points.items() if other != name):
            out.add(name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--pruned", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=SHARED / "dev.tsv")
    parser.add_argument("--calibration", type=Path, default=SHARED / "train.tsv")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).resolve().parent / "results" / "frontier")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    data = read_labeled(args.data)
    calibration = read_labeled(args.calibration).texts[:512]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files: dict[Path, tuple[str, str]] = {}
        skipped: list[dict] = []
        jobs = [(args.checkpoint, *r) for r in RECIPES] + ([(args.pruned, *r) for r in PRUNED] if args.pruned else [])
        for i, (ckpt, name, method, fmt) in enumerate(jobs, 1):
            print(f"[{i}/{len(jobs)}] {name} {fmt}", flush=True)
            try:
                files[make(ckpt, folder, name, method, fmt, calibration)] = (name, fmt)
            except InputError as exc:  # a recipe this shape cannot take (e.g. 4-bit TFLite blocks that do not divide 312)
                print(f"  not made: {exc}", flush=True)
                skipped.append({"recipe": name, "format": fmt, "reason": str(exc)})
        report = validate(args.checkpoint, list(files), data, threads=threads, latency_runs=args.runs, memory=False)
        write_reports(report, args.output)
        # The two plots on their own, for docs: accuracy against real-length latency and against size.
        as_dict = report.to_dict()
        for x in ("latency", "size"):
            (args.output / f"accuracy-{x}.svg").write_text(scatter_svg(as_dict, x) + "\n")
    by_name = {Path(path).name: meta for path, meta in files.items()}
    rows, points = [], {}
    for result in report.results[1:]:
        name, fmt = by_name[result.name]
        lat = {entry["threads"]: entry for entry in result.latency}
        real = {t: lat[t]["real"] for t in threads}
        points[result.name] = (result.size_bytes, -result.accuracy, real[threads[0]]["p50_ms"])
        rows.append([name, fmt, f"{result.size_bytes / 1e6:.2f}", f"{result.accuracy * 100:.2f}", f"{result.fidelity['agreement'] * 100:.2f}"]
                    + [f"{real[t]['p50_ms']:.2f} / {real[t]['p90_ms']:.2f}" for t in threads]
                    + [f"{lat[t]['fixed']['128']['p50_ms']:.1f}" if "128" in lat[t]["fixed"] else "-" for t in threads]
                    + [f"{lat[threads[0]]['throughput'].get('32', float('nan')):.0f}", result.name])
    best = pareto(points)
    for row in rows:
        row[-1] = "yes" if row[-1] in best else ""
    reference = report.results[0]
    headers = (["recipe", "format", "MB", "accuracy %", "agreement %"] + [f"p50 / p90 ms real, {t} thr" for t in threads]
               + [f"p50 ms @128, {t} thr" for t in threads] + [f"seq/s batch 32, {threads[0]} thr", "frontier"])
    write_result("frontier", headers, rows, {"checkpoint": str(args.checkpoint), "pruned": str(args.pruned) if args.pruned else None,
                                            "reference_accuracy": reference.accuracy, "examples": len(data), "report": str(args.output), "not_made": skipped,
                                            "results": [asdict(r) for r in report.results]}, threads[0])
    for item in skipped:
        print(f"not made: {item['recipe']} {item['format']}: {item['reason']}")
    print(f"fp32 checkpoint accuracy {reference.accuracy * 100:.2f}% on {len(data)} examples; reports in {args.output}")


if __name__ == "__main__":
    main()
