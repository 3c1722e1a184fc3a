"""What an exported ALBERT classifier looks like, declared once (in the spirit of Optimum's
OnnxConfig): input and output names, dynamic axes, sample inputs and the metadata to embed.
The exporters and the output check are generic over this object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from edge_albert import __version__
from edge_albert.model.checkpoint import SPIECE_NAME, load_model
from edge_albert.model.albert import AlbertForSequenceClassification
from edge_albert.errors import InputError
from edge_albert.tokenization import sha256_file

DEFAULT_BUCKETS = (32, 64, 128)


@dataclass
class AlbertExportConfig:
    model: AlbertForSequenceClassification
    checkpoint: Path
    max_length: int = 128
    inputs: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")
    outputs: tuple[str, ...] = ("logits",)

    @classmethod
    def from_checkpoint(cls, checkpoint: Path, max_length: int | None = None) -> AlbertExportConfig:
        model = load_model(checkpoint)
        if not isinstance(model, AlbertForSequenceClassification):
            raise InputError(f"is a {type(model).__name__}; convert a sequence classifier (train or distil one first)", checkpoint)
        limit = model.config.max_position_embeddings
        max_length = max_length or min(128, limit)
        if max_length > limit:
            raise InputError(f"--max-length {max_length} exceeds the model's max_position_embeddings {limit}", checkpoint)
        return cls(model.eval(), Path(checkpoint), max_length)

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes = {name: {0: "batch", 1: "sequence"} for name in self.inputs}
        axes["logits"] = {0: "batch"}
        return axes

    def sample_inputs(self, batch: int = 2, length: int = 16) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(5, self.model.config.vocab_size, (batch, length), generator=g)
        mask = torch.ones_like(ids)
        mask[-1, length // 2:] = 0
        return ids, mask, torch.zeros_like(ids)

    def metadata(self, **extra) -> dict:
        spiece = self.checkpoint / SPIECE_NAME
        return {
            "labels": self.model.config.labels,
            "max_length": self.max_length,
            "tokenizer_sha256": sha256_file(spiece) if spiece.is_file() else None,
            "edge_albert_version": __version__,
            "architecture": "AlbertForSequenceClassification",
            "pruned": self.model.config.pruned,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            **extra,
        }
