"""Accuracy of every quantization recipe, ONNX and TFLite, on a trained checkpoint.

    python benchmarks/quantization.py CHECKPOINT --dev dev.tsv --calibration train.tsv [--samples 128]

For each recipe (dynamic int8, static int8 with min-max / entropy / percentile calibration, fp16)
and each format, the checkpoint is quantized as `edge-albert quantize` does and compared with the
fp32 PyTorch model on every dev sentence: accuracy, drop, prediction agreement, max |Δlogit|,
size. Issue 5's bounds: every int8 variant within 0.5 points of fp32 and >= 99% agreement.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from edge_albert.data.readers import read_labeled
from edge_albert.errors import InputError
from edge_albert.quantization import quantize, recipe
from edge_albert.quantization.configs import RECIPES

from harness import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--calibration", type=Path, required=True, help="Labelled file whose first --samples texts calibrate static int8.")
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--formats", default="onnx,tflite")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    args = parser.parse_args()
    dev = read_labeled(args.dev)
    calibration = read_labeled(args.calibration).texts[: args.samples]
    rows, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            for name in args.recipes.split(","):
                start = time.perf_counter()
                try:
                    report = quantize(args.checkpoint, Path(tmp) / f"{name}.{fmt}", recipe(name), to=fmt, calibration_texts=calibration,
                                      eval_data=dev)
                except InputError as exc:  # a recipe this format does not offer
                    rows.append([fmt, name, "-", "-", "-", "-", "-", "-", f"not offered: {exc}"[:60]])
                    continue
                c = report.comparison
                drop = c.accuracy_drop * 100
                int8 = name != "weight_only_wf16"
                ok = (drop <= 0.5 and c.agreement >= 0.99) if int8 else None
                rows.append([fmt, name, f"{report.quantized_bytes / 1e6:.2f}", f"{c.reference_accuracy * 100:.2f}", f"{c.candidate_accuracy * 100:.2f}",
                             f"{-drop:+.2f}", f"{c.agreement * 100:.2f}", f"{c.max_abs_logit_diff:.3f}", {True: "yes", False: "NO", None: "-"}[ok]])
                data[f"{fmt}/{name}"] = {**report.to_dict(), "seconds": time.perf_counter() - start}
                print(" | ".join(rows[-1]), flush=True)
    write_result("quantization", ["format", "recipe", "MB", "fp32 acc %", "acc %", "Δ points", "agreement %", "max |Δlogit|",
                                  "within 0.5 pt and 99%"], rows, {"checkpoint": str(args.checkpoint), "dev": str(args.dev), **data}, 1)


if __name__ == "__main__":
    main()
