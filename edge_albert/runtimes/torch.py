"""PyTorch adapter for our fp32 checkpoints: the reference every other runtime is compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class TorchSession:
    runtime = "torch"

    def __init__(self, path: Path, *, threads: int = 1) -> None:
        import torch

        from edge_albert.model.checkpoint import load_model

        torch.set_num_threads(threads)
        self.path = Path(path)
        self.model = load_model(self.path)
        self.max_length = self.model.config.max_position_embeddings
        from edge_albert.model.albert import architecture_name
        from edge_albert.tasks import task_for_architecture

        self.task = task_for_architecture(architecture_name(type(self.model)))
        self.metadata = {"labels": self.model.config.labels, "pruned": self.model.config.pruned, "task": self.task.name}
        config = self.model.config
        # The outputs' last dimension, as the file runtimes report it.
        self.output_classes = {"feature-extraction": config.hidden_size, "fill-mask": config.vocab_size, "multiple-choice": None,
                               "question-answering": 2}.get(self.task.name, config.num_labels)

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.no_grad():
            tensors = [torch.from_numpy(np.asarray(batch[k], dtype=np.int64)) for k in ("input_ids", "attention_mask", "token_type_ids")]
            if self.task.has_choices and tensors[0].dim() == 2:  # multiple choice: one choice per example
                tensors = [t[:, None, :] for t in tensors]
            out = self.model(*tensors)
        # Several outputs (question answering's start and end scores) stacked on a last axis.
        return torch.stack(out, dim=-1).numpy() if isinstance(out, tuple) else out.numpy()
