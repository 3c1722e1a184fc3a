"""Our int8 ALBERT-base files beside what users get from the usual tools, timed in one run.

    python benchmarks/peers.py [--runs 20] [--threads 1]

Rows (ALBERT-base shape, random weights, vocab 30000; batch 1, 128 tokens):
- PyTorch fp32 eager, and ONNX Runtime fp32 (our export, plain and with ORT's fusions).
- ONNX Runtime `quantize_dynamic` (QInt8, per-channel) by hand, on Optimum's plain export.
- Optimum: `ORTModelForSequenceClassification(export=True)` + `ORTQuantizer` with
  `AutoQuantizationConfig.avx512_vnni(is_static=False)`. Optimum lives in its own virtual
  environment (optimum-onnx pins transformers 4.57.6; torch is the same 2.13.0 CPU wheel), created
  on first use in ~/.cache/edge-albert/venv-optimum ($EDGE_ALBERT_CACHE); it only exports and quantizes.
- LiteRT: litert-torch export at 128 tokens + ai-edge-quantizer's `dynamic_wi8_afp32` recipe,
  without our changes.
- Ours: `edge-albert quantize --method dynamic --to onnx|tflite|executorch` (ExecuTorch: 8-bit
  dynamic activations, 8-bit weights, lowered to XNNPACK), and the fp32 ExecuTorch program
  (`edge-albert convert --to executorch`).
- The int8 GEMM floor: the encoder's multiply-accumulates at the rate ONNX Runtime's
  MatMulInteger reaches on this machine for the FFN's shape.

Every file is timed in this process with the same onnxruntime / ai-edge-litert, in one run and in
turns (each model a slice of its runs per round, the order rotated), so the ratios compare; the
JSON records the machine and versions. The floor row's "speed vs Optimum" is the ceiling: what
a file running all its multiply-accumulates at MatMulInteger's rate, and nothing else, would
gain over Optimum on this machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from edge_albert.converters.executorch import export_executorch
from edge_albert.converters.onnx import export_onnx
from edge_albert.converters.tflite import export_tflite
from edge_albert.model.albert import AlbertForSequenceClassification
from edge_albert.model.checkpoint import save_model
from edge_albert.model.config import encoder_flops, preset_config
from edge_albert.quantization import quantize, recipe
from edge_albert.runtimes import open_session
from edge_albert.tokenization import train_tokenizer
from edge_albert.validation.latency import measure_latency_interleaved

from harness import write_result

OPTIMUM_REQUIREMENTS = ["torch==2.13.0", "optimum-onnx[onnxruntime]==0.1.0"]

OPTIMUM_SCRIPT = r"""
import sys
from optimum.onnxruntime import ORTModelForSequenceClassification, ORTQuantizer
from optimum.onnxruntime.configuration import AutoQuantizationConfig
ckpt, out = sys.argv[1], sys.argv[2]
model = ORTModelForSequenceClassification.from_pretrained(ckpt, export=True)
model.save_pretrained(out + "/fp32")
quantizer = ORTQuantizer.from_pretrained(out + "/fp32")
quantizer.quantize(save_dir=out + "/int8", quantization_config=AutoQuantizationConfig.avx512_vnni(is_static=False))
"""


def ensure_optimum_venv() -> Path:
    from edge_albert.isolated_env import ensure_venv

    return ensure_venv("optimum", OPTIMUM_REQUIREMENTS, "optimum.onnxruntime")


class MatMulIntegerSession:
    """One MatMulInteger (u8 x s8, the dynamic-quantization kernel) of a fixed shape, with the
    `run` of our runtime sessions, so the floor is timed in the same turns as the models."""

    max_length = 1 << 30

    def __init__(self, m: int, k: int, n: int, threads: int) -> None:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        rng = np.random.default_rng(0)
        w = helper.make_tensor("w", TensorProto.INT8, [k, n], rng.integers(-127, 127, (k, n), dtype=np.int8).tobytes(), raw=True)
        graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "w"], ["y"])], "gemm",
                                  [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
                                  [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])], [w])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.a = rng.integers(0, 255, (m, k), dtype=np.uint8)
        self.ops = 2 * m * k * n

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {"a": self.a})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5, help="turns the timing is cut into, every model once per turn")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optimum_python = ensure_optimum_venv()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spm = train_tokenizer([f"word{i} and some text {i % 97}" for i in range(3000)], folder / "spiece.model", vocab_size=500)
        torch.manual_seed(0)
        config = preset_config("base", vocab_size=30000, max_position_embeddings=512, labels=["negative", "positive"])
        ckpt = save_model(AlbertForSequenceClassification(config), folder / "base", tokenizer_model=spm)

        print("Optimum: export + ORTQuantizer (avx512_vnni, dynamic)", flush=True)
        subprocess.run([str(optimum_python), "-c", OPTIMUM_SCRIPT, str(ckpt), str(folder / "optimum")], check=True,
                       env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
        optimum_fp32 = folder / "optimum" / "fp32" / "model.onnx"
        optimum_int8 = next((folder / "optimum" / "int8").glob("*.onnx"))

        from onnxruntime.quantization import QuantType, quantize_dynamic

        by_hand = folder / "by_hand.int8.onnx"
        quantize_dynamic(str(optimum_fp32), str(by_hand), per_channel=True, weight_type=QuantType.QInt8)

        from ai_edge_quantizer import quantizer as aeq
        from ai_edge_quantizer import recipe as aeq_recipe

        plain_tflite = export_tflite(ckpt, folder / "plain.tflite", buckets=[args.length]).path
        q = aeq.Quantizer(str(plain_tflite))
        q.load_quantization_recipe(aeq_recipe.dynamic_wi8_afp32())
        litert_peer = folder / "litert_peer.int8.tflite"
        q.quantize().export_model(str(litert_peer), overwrite=True)

        artifacts = {
            "PyTorch fp32 eager": (ckpt, "peer"),
            "ONNX Runtime fp32 (our export)": (export_onnx(ckpt, folder / "ours.onnx").path, "ours"),
            "ONNX Runtime fp32, ORT fusions (edge-albert convert --optimize)": (export_onnx(ckpt, folder / "ours.opt.onnx", optimize=True).path, "ours"),
            "ONNX Runtime quantize_dynamic by hand (QInt8, per-channel)": (by_hand, "peer"),
            "Optimum export + ORTQuantizer avx512_vnni dynamic": (optimum_int8, "peer"),
            "LiteRT: litert-torch + ai-edge-quantizer dynamic_wi8_afp32": (litert_peer, "peer"),
            "ours: ONNX int8 (edge-albert quantize --method dynamic --to onnx)": (
                Path(quantize(ckpt, folder / "ours.int8.onnx", recipe("dynamic"), to="onnx").output), "ours"),
            "ours: TFLite int8 (edge-albert quantize --method dynamic --to tflite)": (
                Path(quantize(ckpt, folder / "ours.int8.tflite", recipe("dynamic"), to="tflite").output), "ours"),
            "ours: ExecuTorch fp32, XNNPACK (edge-albert convert --to executorch)": (
                export_executorch(ckpt, folder / "ours.pte", max_length=args.length).path, "ours"),
            "ours: ExecuTorch 8da8w, XNNPACK (edge-albert quantize --method dynamic --to executorch)": (
                Path(quantize(ckpt, folder / "ours.int8.pte", recipe("dynamic"), to="executorch", max_length=args.length).output), "ours"),
        }
        # Timed in turns (--rounds, order rotated), so load on a shared machine hits every row alike.
        names = list(artifacts)
        gemm = MatMulIntegerSession(args.length, config.hidden_size, config.intermediate_size, args.threads)
        sessions = [open_session(artifacts[name][0], threads=args.threads) for name in names] + [gemm]
        *reports, gemm_report = measure_latency_interleaved(
            sessions, [], threads=args.threads, lengths=(args.length,), runs=args.runs,
            real_samples=0, throughput_batches=(), rounds=args.rounds)
        measured = {}
        for name, report in zip(names, reports):
            path, who = artifacts[name]
            stats = report.fixed[str(args.length)]
            size = sum(p.stat().st_size for p in path.glob("*.safetensors")) if path.is_dir() else path.stat().st_size
            measured[name] = {"who": who, "size_bytes": size, "latency": stats.__dict__, "file": path.name}
            print(f"  {name}: {size / 1e6:.1f} MB, {stats.p50_ms:.1f} ms", flush=True)

    flops = encoder_flops(config, args.length)
    gops = gemm.ops / (gemm_report.fixed[str(args.length)].p50_ms / 1000) / 1e9
    floor_ms = flops / (gops * 1e9) * 1000
    optimum = measured["Optimum export + ORTQuantizer avx512_vnni dynamic"]
    rows = []
    for name, m in measured.items():
        p50 = m["latency"]["p50_ms"]
        rows.append([name, f"{m['size_bytes'] / 1e6:.2f}", f"{p50:.1f}", f"{optimum['latency']['p50_ms'] / p50:.2f}x",
                     f"{optimum['size_bytes'] / m['size_bytes']:.2f}x", f"{floor_ms / p50 * 100:.0f}%"])
    # The floor's speed against Optimum is the most any int8 file can gain on this machine.
    rows.append([f"int8 GEMM floor: {flops / 1e9:.1f} GOP at {gops:.0f} GOP/s (MatMulInteger {args.length}x{config.hidden_size}x{config.intermediate_size})",
                 "-", f"{floor_ms:.1f}", f"{optimum['latency']['p50_ms'] / floor_ms:.2f}x (ceiling)", "-", "100%"])
    write_result("peers", ["path", "MB", f"p50 ms ({args.length} tok, batch 1)", "speed vs Optimum", "smaller than Optimum", "of int8 floor"],
                 rows, {"artifacts": measured, "encoder_flops": flops, "matmul_integer_gops": gops, "floor_ms": floor_ms,
                        "length": args.length, "runs": args.runs, "rounds": args.rounds}, args.threads)


if __name__ == "__main__":
    main()
