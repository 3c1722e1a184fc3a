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
        self.runners = {}
        self.output_quantization: dict[int, tuple[float, int] | None] = {}
        self.output_classes: int | None = None
        for name in self.interpreter.get_signature_list():
            runner = self.interpreter.get_signature_runner(name)
            details = runner.get_input_details()
            if sorted(details) != sorted(INPUT_NAMES):
                raise InputError(f"signature {name} has inputs {sorted(details)}, expected {list(INPUT_NAMES)}", self.path)
            length = int(details["input_ids"]["shape"][1])
            self.runners[length] = (runner, details)
            outputs = runner.get_output_details()
            if "logits" not in outputs:
                raise InputError(f"signature {name} has outputs {sorted(outputs)}, expected logits", self.path)
            scale, zero = outputs["logits"]["quantization"]
            # Full-integer models return int8 logits: keep (scale, zero point) to dequantize.
            self.output_quantization[length] = (scale, zero) if scale else None
            shape = outputs["logits"]["shape"]
            self.output_classes = int(shape[-1]) if len(shape) else None
        if not self.runners:
            raise InputError("no signatures in the model", self.path)
        self.buckets = sorted(self.runners)
        self.metadata = read_tflite_metadata(self.path, content=content)
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
            logits = runner(**feed)["logits"][0]
            quant = self.output_quantization[bucket]
            if quant is not None:
                logits = (logits.astype(np.float32) - quant[1]) * quant[0]
            rows.append(logits)
        return np.stack(rows).astype(np.float32)
