"""What an exported ALBERT looks like, declared once (in the spirit of Optimum's OnnxConfig):
input and output names and dynamic axes (from the checkpoint's task, `edge_albert.tasks`), sample
inputs and the metadata to embed. The exporters and the output check are generic over this object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from edge_albert import __version__
from edge_albert.checksums import sha256_file
from edge_albert.errors import InputError
from edge_albert.model.albert import AlbertPreTrainedModel, architecture_name
from edge_albert.model.checkpoint import SPIECE_NAME, load_model
from edge_albert.tasks import INPUTS, TASKS, Task, find_task

DEFAULT_BUCKETS = (32, 64, 128)


@dataclass
class ExportResult:
    """What every exporter returns: the file written, its format and size, and the metadata embedded in it."""

    path: Path
    format: str
    size_bytes: int
    parameters: int
    metadata: dict


@dataclass
class AlbertExportConfig:
    model: AlbertPreTrainedModel
    checkpoint: Path
    max_length: int = 128
    task: Task = TASKS["text-classification"]
    inputs: tuple[str, ...] = INPUTS

    @classmethod
    def from_checkpoint(cls, checkpoint: Path, max_length: int | None = None, *, tasks: tuple[str, ...] | None = None) -> AlbertExportConfig:
        """The export of a checkpoint of any task, or only of `tasks` (formats that take fewer)."""
        model = load_model(checkpoint)
        task = find_task(architecture_name(type(model)))
        if task is None or not task.exportable or (tasks is not None and task.name not in tasks):
            allowed = ", ".join(tasks or [t.name for t in TASKS.values() if t.exportable])
            raise InputError(f"is a {architecture_name(type(model))}; this export takes {allowed} models (train or distil one first)", checkpoint)
        limit = model.config.max_position_embeddings
        max_length = max_length or min(128 if task.name != "question-answering" else 384, limit)
        if max_length > limit:
            raise InputError(f"--max-length {max_length} exceeds the model's max_position_embeddings {limit}", checkpoint)
        return cls(model.eval(), Path(checkpoint), max_length, task)

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.task.outputs

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return self.task.dynamic_axes

    def sample_inputs(self, batch: int = 2, length: int = 16, choices: int = 3) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(0)
        # Multiple choice takes [batch, choices, length].
        shape = (batch, choices, length) if self.task.has_choices else (batch, length)
        ids = torch.randint(5, self.model.config.vocab_size, shape, generator=g)
        mask = torch.ones_like(ids)
        mask[-1, ..., length // 2:] = 0
        return ids, mask, torch.zeros_like(ids)

    def metadata(self, **extra) -> dict:
        spiece = self.checkpoint / SPIECE_NAME
        return {
            "labels": self.model.config.labels,
            "max_length": self.max_length,
            "tokenizer_sha256": sha256_file(spiece) if spiece.is_file() else None,
            "edge_albert_version": __version__,
            "architecture": self.task.architecture,
            "task": self.task.name,
            "pruned": self.model.config.pruned,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            # A sentence encoder's vector: its width and how the graph pools it (for apps and bundles).
            **({"embedding": {"dimension": self.model.config.hidden_size, "pooling": self.model.pooling.mode,
                              "normalize": self.model.pooling.normalize}} if self.task.name == "feature-extraction" else {}),
            # A masked LM scores every piece of the vocabulary.
            **({"vocab_size": self.model.config.vocab_size} if self.task.name == "fill-mask" else {}),
            **extra,
        }
