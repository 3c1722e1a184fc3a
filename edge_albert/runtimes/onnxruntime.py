"""ONNX Runtime (CPU) adapter. Inputs are int64, with dynamic batch and sequence axes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.runtimes.base import INPUT_NAMES
from edge_albert.tasks import get_task

# A file that tokenizes inside its graph takes one string tensor of this name
# (converters/tokenizer_graph.py); its tokenizer operator lives in onnxruntime-extensions' domain.
TEXT_INPUT = "text"
EXTENSIONS_DOMAIN = "ai.onnx.contrib"


# ORT's load-time SkipLayerNormFusion (Add + LayerNormalization -> SkipLayerNormalization) made
# our graphs slower on the CPU provider: its kernel took 21% of an ALBERT-base int8 run, and
# without the fusion base int8 ran 33.5 instead of 42 ms, tiny int8 3.1 instead of 4.2 ms at
# 128 tokens (onnxruntime 1.32.0, 1 thread, docs/benchmarks.md). Files already fused by
# `convert --optimize` keep their SkipLayerNormalization nodes.
DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


class OnnxRuntimeSession:
    runtime = "onnxruntime"

    def __init__(self, path: Path, *, threads: int = 1, content: bytes | None = None) -> None:
        """Open `path`, or the model bytes in `content` (then `path` only names it in messages)."""
        import onnxruntime as ort

        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = content if content is not None else str(self.path)
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_OPTIMIZERS)
        except Exception as exc:  # onnxruntime raises its own exception types
            if EXTENSIONS_DOMAIN not in str(exc):
                raise InputError(f"ONNX Runtime cannot load it ({str(exc).splitlines()[0][:200]})", self.path) from None
            # A text-input file (convert --with-tokenizer): its tokenizer is an onnxruntime-extensions operator.
            options = extensions_session_options(options)
            try:
                self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_OPTIMIZERS)
            except Exception as exc2:
                raise InputError(f"ONNX Runtime cannot load it ({str(exc2).splitlines()[0][:200]})", self.path) from None
        names = [i.name for i in self.session.get_inputs()]
        # Text in (the tokenizer inside the graph) or token ids in.
        self.takes_text = names == [TEXT_INPUT]
        if not self.takes_text and sorted(names) != sorted(INPUT_NAMES):
            raise InputError(f"inputs are {names}, expected {list(INPUT_NAMES)} or [{TEXT_INPUT!r}]", self.path)
        outputs = {o.name: o for o in self.session.get_outputs()}
        self.metadata = read_metadata(self.session.get_modelmeta().custom_metadata_map)
        self.task = get_task(str(self.metadata.get("task", "text-classification")))
        missing = [name for name in self.task.outputs if name not in outputs]
        if missing:
            raise InputError(f"outputs are {list(outputs)}, expected {', '.join(self.task.outputs)} ({self.task.name})", self.path)
        self.output_names = list(self.task.outputs)
        first = outputs[self.output_names[0]]
        classes = first.shape[-1] if first.shape and len(self.output_names) == 1 else len(self.output_names)
        self.output_classes = classes if isinstance(classes, int) else None
        self.max_length = int(self.metadata.get("max_length", 512))
        # A fixed-shape file (convert --fixed-length, for phone accelerators) takes [1, N] only:
        # each text runs alone, padded to N.
        shape = self.session.get_inputs()[0].shape if not self.takes_text else None
        self.fixed_length = int(shape[-1]) if shape and all(isinstance(d, int) for d in shape) else None
        if self.fixed_length:
            self.max_length = min(self.max_length, self.fixed_length)
        # Dynamic int8 quantizes each activation with one scale computed over the whole tensor
        # (DynamicQuantizeLinear), so a batched row's logits would depend on its neighbours and on
        # their padding (max |dlogit| ~0.1 measured). Such files run one row at a time at its own
        # length: a text's answer is the same alone or in any batch, at the cost of batch throughput.
        self.row_by_row = str(self.metadata.get("precision", "")).startswith("int8-dynamic")

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        # Several outputs (question answering's start and end scores) stacked on a last axis.
        outputs = self.session.run(self.output_names, feed)
        return outputs[0] if len(outputs) == 1 else np.stack(outputs, axis=-1)

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Logits [B, C] (classification), [B, N, C] (token classification) or [B, N, 2]
        (question answering: start, end)."""
        if self.takes_text:
            raise InputError("this file takes text (the tokenizer is inside its graph): run_text(texts), not token ids", self.path)
        feed = {name: np.ascontiguousarray(batch[name], dtype=np.int64) for name in INPUT_NAMES}
        if self.task.has_choices and feed["input_ids"].ndim == 2:
            # Multiple choice: a plain [batch, length] batch is one choice per example (latency runs).
            feed = {name: value[:, None, :] for name, value in feed.items()}
        if self.fixed_length:
            return self._run_fixed(feed)
        if not self.row_by_row:
            return self._run(feed)
        mask = feed["attention_mask"]
        lengths = mask.reshape(mask.shape[0], -1, mask.shape[-1]).sum(axis=-1).max(axis=1)
        rows = [self._run({name: value[r:r + 1, ..., :max(int(n), 1)] for name, value in feed.items()}) for r, n in enumerate(lengths)]
        if not rows:
            return np.zeros((0, self.output_classes or 0), np.float32)
        if rows[0].ndim == 3 and len(self.task.input_axes) == 2:  # token-level outputs: pad each row back to the batch's width
            width = feed["input_ids"].shape[1]
            rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
        return np.concatenate(rows)

    def run_text(self, texts: Sequence[str]) -> np.ndarray:
        """Outputs for raw texts, for a file that tokenizes inside its graph (`takes_text`)."""
        if not self.takes_text:
            raise InputError("this file takes token ids, not text (convert --with-tokenizer makes a text-input file)", self.path)
        if not self.row_by_row:
            return self._run({TEXT_INPUT: np.asarray(list(texts), dtype=object).reshape(-1)})
        rows = [self._run({TEXT_INPUT: np.asarray([t], dtype=object)}) for t in texts]
        return np.concatenate(rows) if rows else np.zeros((0, self.output_classes or 0), np.float32)

    def _run_fixed(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        width, fixed = feed["input_ids"].shape[-1], self.fixed_length
        if width > fixed:
            raise InputError(f"a batch of {width} tokens for a file fixed at {fixed} (validate with --max-length {fixed}, encode with max_length={fixed})", self.path)
        # Padding: id 0 with mask 0, which attention ignores, so the padded row's answer is the row's.
        padded = {name: np.pad(value, ((0, 0), (0, fixed - width))) for name, value in feed.items()}
        rows = [self._run({name: value[r:r + 1] for name, value in padded.items()}) for r in range(feed["input_ids"].shape[0])]
        if not rows:
            return np.zeros((0, self.output_classes or 0), np.float32)
        out = np.concatenate(rows)
        return out[:, :width] if out.ndim == 3 else out  # token-level outputs back to the batch's width


def extensions_session_options(options=None):
    """`options` (or new session options) with onnxruntime-extensions' operators registered."""
    import onnxruntime as ort

    try:
        import onnxruntime_extensions
    except ImportError:
        raise InputError("a text-input model needs onnxruntime-extensions: pip install 'edge-albert[extensions]'") from None
    options = options or ort.SessionOptions()
    options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
    return options


def read_metadata(props: dict[str, str]) -> dict:
    """Our metadata_props (values JSON-encoded) as a dict."""
    out = {}
    for key, value in props.items():
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
