"""Latency against sequence length, 16 to 512 tokens, for fp32 and int8 on each runtime, with the
share of the time attention takes.

    python benchmarks/lengths.py [--preset base] [--lengths 16,32,64,128,256,512] [--runs 10] [--threads 1]
                                 [--formats onnx,tflite,executorch] [--real DEV_TSV --tokenizer SPIECE_MODEL]

With --real, every file is also timed on the file's sentences at their own lengths (batch 1, as
`edge-albert validate` times real lengths; TFLite through its smallest signature that holds
each), tokenized by --tokenizer (a trained student's spiece.model: real sentences get their
real piece counts, while the model keeps its 30,000-entry table).

ALBERT of the preset's shape, random weights, vocabulary 30,000, batch 1: the timing depends on
the shape, not the weights. Files: ONNX fp32 and dynamic int8 (ONNX Runtime), TFLite fp32 and
dynamic int8 with one signature per length (LiteRT, XNNPACK), ExecuTorch fp32 and 8da8w (XNNPACK,
dynamic length up to the longest). All timed in one process, in turns (`measure_latency_interleaved`).

Attention share:
- "FLOPs": the attention products (Q K^T and the weighted sum of V: 4 n^2 h per layer) over the
  encoder's FLOPs (`encoder_flops`), what any runtime must compute;
- "measured" (ONNX files): ONNX Runtime's profile of the optimized graph, the time of the nodes
  that multiply two activations (the two attention products) and of Softmax, over all nodes' time.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
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
from edge_albert.validation.latency import measure_latency_interleaved, synthetic_batch

from harness import write_result


def attention_flops(config, n: int) -> int:
    """FLOPs of the two attention products over all layers (the n^2 terms of `encoder_flops`)."""
    heads = config.num_attention_heads * config.head_dim
    return config.num_hidden_layers * config.inner_group_num * 2 * 2 * n * n * heads


def measured_attention_share(onnx_path: Path, length: int, threads: int, runs: int = 5) -> float:
    """Share of ONNX Runtime's node time spent in activation x activation products and Softmax."""
    import onnx
    import onnxruntime as ort

    from edge_albert.runtimes.onnxruntime import DISABLED_OPTIMIZERS

    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(optimized)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_OPTIMIZERS)
        batch = synthetic_batch(1, length)
        for _ in range(runs):
            session.run(None, batch)
        events = json.loads(Path(session.end_profiling()).read_text())
        graph = onnx.load(str(optimized), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    attention = {node.name for node in graph.node
                 if node.op_type == "Softmax" or (node.op_type in ("MatMul", "FusedMatMul") and not any(x in weights for x in node.input))}
    total = core = 0
    for event in events:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        total += event["dur"]
        if event["name"][: -len("_kernel_time")] in attention:
            core += event["dur"]
    return core / total if total else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--lengths", default="16,32,64,128,256,512")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--formats", default="onnx,tflite,executorch")
    parser.add_argument("--real", type=Path, default=None, help="labelled TSV whose sentences are timed at their own lengths")
    parser.add_argument("--tokenizer", type=Path, default=None, help="spiece.model that tokenizes --real")
    parser.add_argument("--real-samples", type=int, default=300, help="sentences of --real to time (the first N)")
    args = parser.parse_args()
    if (args.real is None) != (args.tokenizer is None):
        parser.error("--real and --tokenizer go together")
    lengths = [int(n) for n in args.lengths.split(",")]
    formats = set(args.formats.split(","))
    longest = max(lengths)
    encodings = []
    if args.real is not None:
        from edge_albert.data.readers import read_labeled
        from edge_albert.tokenization import AlbertTokenizer

        tokenizer = AlbertTokenizer(args.tokenizer)
        encodings = [tokenizer.encode(t, max_length=longest) for t in read_labeled(args.real).texts[: args.real_samples]]
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spm = train_tokenizer([f"word{i} and some text {i % 97}" for i in range(3000)], folder / "spiece.model", vocab_size=500)
        torch.manual_seed(0)
        config = preset_config(args.preset, vocab_size=30000, max_position_embeddings=max(512, longest), labels=["negative", "positive"])
        ckpt = save_model(AlbertForSequenceClassification(config), folder / args.preset, tokenizer_model=spm)
        files: dict[str, Path] = {}
        if "onnx" in formats:
            files["ONNX fp32"] = export_onnx(ckpt, folder / "m.onnx", max_length=longest).path
            files["ONNX int8"] = Path(quantize(ckpt, folder / "m.int8.onnx", recipe("dynamic"), to="onnx", max_length=longest).output)
        if "tflite" in formats:
            files["TFLite fp32"] = export_tflite(ckpt, folder / "m.tflite", buckets=lengths).path
            files["TFLite int8"] = Path(quantize(ckpt, folder / "m.int8.tflite", recipe("dynamic"), to="tflite", buckets=lengths).output)
        if "executorch" in formats:
            files["ExecuTorch fp32"] = export_executorch(ckpt, folder / "m.pte", max_length=longest).path
            files["ExecuTorch 8da8w"] = Path(quantize(ckpt, folder / "m.int8.pte", recipe("dynamic"), to="executorch", max_length=longest).output)
        names = list(files)
        sessions = [open_session(files[name], threads=args.threads) for name in names]
        print(f"timing {len(names)} files at {lengths} tokens", flush=True)
        reports = measure_latency_interleaved(sessions, encodings, threads=args.threads, lengths=lengths, runs=args.runs,
                                              real_samples=len(encodings), throughput_batches=(), rounds=args.rounds)
        shares = {name: {n: measured_attention_share(files[name], n, args.threads) for n in lengths}
                  for name in names if files[name].suffix == ".onnx"}
        sizes = {name: files[name].stat().st_size for name in names}

    real_tokens = float(np.mean([len(e.input_ids) for e in encodings])) if encodings else None
    rows, data = [], {"files": {}, "flops": {}, "attention_flops_share": {}, "real": str(args.real) if args.real else None,
                      "real_sentences": len(encodings), "real_mean_tokens": real_tokens}
    for n in lengths:
        data["flops"][n] = encoder_flops(config, n)
        data["attention_flops_share"][n] = attention_flops(config, n) / encoder_flops(config, n)
    for name, report in zip(names, reports):
        p50 = {n: report.fixed[str(n)].p50_ms for n in lengths if str(n) in report.fixed}
        real = asdict(report.real) if encodings and report.real is not None else None
        data["files"][name] = {"size_bytes": sizes[name], "p50_ms": p50, "p90_ms": {n: report.fixed[str(n)].p90_ms for n in p50},
                               "measured_attention_share": shares.get(name), "real": real}
        rows.append([name, f"{sizes[name] / 1e6:.2f}"] + [f"{p50[n]:.1f}" if n in p50 else "-" for n in lengths]
                    + [f"{p50[longest] / p50[lengths[0]]:.0f}x" if longest in p50 and lengths[0] in p50 else "-"]
                    + ([f"{real['p50_ms']:.1f} / {real['p90_ms']:.1f}" if real else "-"] if encodings else []))
    tail = ["-"] if encodings else []
    for name, share in shares.items():
        rows.append([f"{name}: attention share of node time (measured)", "-"] + [f"{share[n] * 100:.0f}%" for n in lengths] + ["-"] + tail)
    rows.append(["attention share of FLOPs", "-"] + [f"{data['attention_flops_share'][n] * 100:.0f}%" for n in lengths] + ["-"] + tail)
    rows.append(["encoder GFLOPs", "-"] + [f"{data['flops'][n] / 1e9:.1f}" for n in lengths]
                + [f"{data['flops'][longest] / data['flops'][lengths[0]]:.0f}x"] + tail)
    real_header = [f"p50 / p90 ms real ({len(encodings)} sentences, {real_tokens:.1f} tokens)"] if encodings else []
    write_result("lengths", ["file", "MB"] + [f"p50 ms @{n}" for n in lengths] + [f"{longest} vs {lengths[0]}"] + real_header, rows,
                 {**data, "preset": args.preset, "lengths": lengths, "runs": args.runs, "rounds": args.rounds}, args.threads)


if __name__ == "__main__":
    main()
