"""LiteRT (ai-edge-litert) adapter, XNNPACK on by default.

Our .tflite files hold one signature per length bucket (`seq32`, `seq64`, `seq128`, batch 1,
int32 inputs). Each row of a batch runs in the smallest bucket that holds its real tokens, so
short sentences do not pay for padding to the maximum length.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.runtimes.base import INPUT_NAMES, pick_bucket
from edge_albert.tasks import get_task

METADATA_NAME = "edge_albert"


def read_tflite_metadata(path: Path | None = None, *, content: bytes | None = None) -> dict:
    """The JSON metadata our converter stores in the flatbuffer's `metadata` list."""
    from ai_edge_litert import schema_py_generated as schema

    buf = content if content is not None else Path(path).read_bytes()
    model = schema.Model.GetRootAsModel(buf, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() and entry.Name().decode() == METADATA_NAME:
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            try:
                return json.loads(bytes(data).decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
                raise InputError(f"its {METADATA_NAME} metadata is not valid JSON ({exc})", path or "<model bytes>") from None
    return {}


class LiteRTSession:
    runtime = "litert"

    def __init__(self, path: Path, *, threads: int = 1, xnnpack: bool = True, content: bytes | None = None) -> None:
        """Open `path`, or the model bytes in `content` (then `path` only names it in messages)."""
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.path = Path(path)
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self._content = content  # the interpreter reads from this buffer: keep it alive
            source = {"model_content": content} if content is not None else {"model_path": str(self.path)}
            self.interpreter = Interpreter(**source, num_threads=threads, experimental_op_resolver_type=resolver)
        except (ValueError, RuntimeError) as exc:
            raise InputError(f"LiteRT cannot load it ({str(exc).splitlines()[0][:200]})", self.path) from None
        self.metadata = read_tflite_metadata(self.path, content=content)
        self.task = get_task(str(self.metadata.get("task", "text-classification")))
        self.output_names = list(self.task.outputs)
        self.runners = {}
        # Full-integer models return int8 outputs: (scale, zero point) per bucket and output to dequantize.
        self.output_quantization: dict[tuple[int, str], tuple[float, int] | None] = {}
        self.output_classes: int | None = None
        for name in self.interpreter.get_signature_list():
            runner = self.interpreter.get_signature_runner(name)
            details = runner.get_input_details()
            if sorted(details) != sorted(INPUT_NAMES):
                raise InputError(f"signature {name} has inputs {sorted(details)}, expected {list(INPUT_NAMES)}", self.path)
            length = int(details["input_ids"]["shape"][1])
            self.runners[length] = (runner, details)
            outputs = runner.get_output_details()
            missing = [o for o in self.output_names if o not in outputs]
            if missing:
                raise InputError(f"signature {name} has outputs {sorted(outputs)}, expected {', '.join(self.output_names)} ({self.task.name})", self.path)
            for out_name in self.output_names:
                scale, zero = outputs[out_name]["quantization"]
                self.output_quantization[(length, out_name)] = (scale, zero) if scale else None
            shape = outputs[self.output_names[0]]["shape"]
            self.output_classes = len(self.output_names) if len(self.output_names) > 1 else (int(shape[-1]) if len(shape) else None)
        if self.metadata.get("choice_per_run"):
            self.output_classes = None  # one score per choice: as many as the input has
        if not self.runners:
            raise InputError("no signatures in the model", self.path)
        self.buckets = sorted(self.runners)
        self.max_length = self.buckets[-1]
        # A LiteRT interpreter holds one set of input/output tensors: two threads running it at
        # once overwrite each other's inputs and read each other's outputs (wrong logits, no
        # error). One lock per session makes a shared session safe; threads that want to run in
        # parallel open a session each.
        self._lock = threading.Lock()

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        with self._lock:
            return self._run(batch)

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        mask = np.asarray(batch["attention_mask"])
        if mask.ndim == 3:
            # Multiple choice [batch, choices, length]: the signatures score one pair per run.
            if not self.metadata.get("choice_per_run"):
                raise InputError("got [batch, choices, length] inputs but this model is not a multiple-choice export", self.path)
            rows, choices = mask.shape[:2]
            flat = {name: np.asarray(batch[name]).reshape(rows * choices, -1) for name in INPUT_NAMES}
            return self._run(flat).reshape(rows, choices)
        rows = []
        for r in range(mask.shape[0]):
            n = int(mask[r].sum())
            bucket = pick_bucket(max(n, 1), self.buckets)
            runner, details = self.runners[bucket]
            feed = {}
            for name in INPUT_NAMES:
                row = np.zeros((1, bucket), dtype=details[name]["dtype"])
                row[0, :n] = np.asarray(batch[name])[r, :n]
                feed[name] = row
            results = runner(**feed)
            outputs = []
            for out_name in self.output_names:
                value = results[out_name][0]
                quant = self.output_quantization[(bucket, out_name)]
                if quant is not None:
                    value = (value.astype(np.float32) - quant[1]) * quant[0]
                outputs.append(value.astype(np.float32))
            # Several outputs (question answering's start and end) stacked on a last axis.
            value = outputs[0] if len(outputs) == 1 else np.stack(outputs, axis=-1)
            if value.ndim == 2:  # per-token outputs [bucket, C]: back to the batch's width
                width = mask.shape[1]
                value = value[:width] if value.shape[0] >= width else np.pad(value, ((0, width - value.shape[0]), (0, 0)))
            rows.append(value)
        if not rows:
            return np.zeros((0, self.output_classes or 0), np.float32)
        return np.stack(rows).astype(np.float32)
