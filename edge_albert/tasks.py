"""The tasks edge-albert handles, declared once (as Optimum's TasksManager declares its exporters'
tasks) and looked up by every stage: the model head, what an export takes and gives, the metric a
report leads with, and the on-device predictor.

This module sits at the bottom of the package (no torch, no other edge_albert module but errors and jsonfile),
so the on-device runtime, the converters, validation and training can all read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_albert.errors import InputError

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Task:
    name: str
    # The Hugging Face head class (`architectures` in config.json).
    architecture: str
    # Export output names and their dynamic axes (inputs are always INPUTS over batch x sequence).
    outputs: tuple[str, ...]
    output_axes: dict[str, dict[int, str]]
    # The metric a report and the gate lead with, and all the metrics a report carries.
    metric: str
    metrics: tuple[str, ...]
    # What one example is on device (for messages and the manifest).
    example: str
    # Names other tools use for this task (transformers pipelines, Optimum).
    aliases: tuple[str, ...] = field(default_factory=tuple)
    # The axes of every input (multiple choice adds a choices axis).
    input_axes: dict[int, str] = field(default_factory=lambda: {0: "batch", 1: "sequence"})
    # Whether the converters, runtimes and validation handle it yet (else: load, save, inspect, parity).
    exportable: bool = True
    # The file formats it exports to.
    formats: tuple[str, ...] = ("onnx", "tflite", "executorch")

    def output_width(self, metadata: dict) -> int | None:
        """The last dimension a model of this task must output, from its metadata (a bundle
        manifest or a file's): one score per label, one per output stacked (question answering),
        or the embedding's width. None when the metadata does not say."""
        if self.name == "feature-extraction":
            return (metadata.get("embedding") or {}).get("dimension")
        if self.name == "fill-mask":
            return metadata.get("vocab_size")
        if self.name == "multiple-choice":
            return None  # one score per choice: as many as the input has
        if len(self.outputs) > 1:
            return len(self.outputs)
        return len(metadata["labels"]) if metadata.get("labels") else None

    @property
    def has_choices(self) -> bool:
        """Inputs [batch, choices, sequence] (multiple choice)."""
        return len(self.input_axes) == 3

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes = {name: dict(self.input_axes) for name in INPUTS}
        axes.update(self.output_axes)
        return axes


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "text-classification",
            "AlbertForSequenceClassification",
            outputs=("logits",),
            output_axes={"logits": {0: "batch"}},
            metric="accuracy",
            metrics=("accuracy", "macro_f1"),
            example="a text (or a text pair)",
            aliases=("sequence-classification", "sentiment-analysis"),
        ),
        Task(
            "token-classification",
            "AlbertForTokenClassification",
            outputs=("logits",),
            output_axes={"logits": {0: "batch", 1: "sequence"}},
            metric="f1",
            metrics=("precision", "recall", "f1", "accuracy"),
            example="a text whose words get entity labels",
            aliases=("ner",),
        ),
        Task(
            "question-answering",
            "AlbertForQuestionAnswering",
            outputs=("start_logits", "end_logits"),
            output_axes={"start_logits": {0: "batch", 1: "sequence"}, "end_logits": {0: "batch", 1: "sequence"}},
            metric="f1",
            metrics=("exact_match", "f1"),
            example="a question and a context",
            aliases=("extractive-qa",),
        ),
        Task(
            "feature-extraction",
            "AlbertModel",
            # The pooled, normalised sentence vector: the pooling is in the graph, so every runtime
            # pools the same way.
            outputs=("sentence_embedding",),
            output_axes={"sentence_embedding": {0: "batch"}},
            metric="spearman",
            metrics=("spearman", "pearson"),
            example="a text to embed",
            aliases=("sentence-embedding", "sentence-similarity", "embeddings"),
        ),
        Task(
            "fill-mask",
            "AlbertForMaskedLM",
            outputs=("logits",),
            output_axes={"logits": {0: "batch", 1: "sequence"}},
            metric="top1",
            metrics=("top1", "top5"),
            example="a text with [MASK] in it",
            aliases=("masked-lm",),
        ),
        Task(
            "multiple-choice",
            "AlbertForMultipleChoice",
            outputs=("logits",),
            output_axes={"logits": {0: "batch", 1: "choices"}},
            metric="accuracy",
            metrics=("accuracy",),
            example="a question and its choices",
            input_axes={0: "batch", 1: "choices", 2: "sequence"},
            formats=("onnx", "tflite"),
        ),
    )
}


def get_task(name: str) -> Task:
    """The task called `name` (or one of its aliases); a one-line error lists the known ones."""
    for task in TASKS.values():
        if name == task.name or name in task.aliases:
            return task
    raise InputError(f"unknown task {name!r}; edge-albert handles {', '.join(TASKS)}")


def find_task(architecture: str) -> Task | None:
    """The task of a head class, or None (a pretraining checkpoint has none)."""
    return next((task for task in TASKS.values() if task.architecture == architecture), None)


def task_for_architecture(architecture: str) -> Task:
    """The task of a checkpoint's head class (its `architectures` entry in config.json)."""
    task = find_task(architecture)
    if task is not None:
        return task
    raise InputError(f"{architecture} has no task here; edge-albert handles {', '.join(t.architecture for t in TASKS.values())}")


def checkpoint_task(directory: Path) -> Task:
    """The task of a checkpoint directory, from `architectures` in its config.json, without
    loading torch (a checkpoint without `architectures` is a classifier, as loading reads it)."""
    from edge_albert.jsonfile import read_json

    config = read_json(Path(directory) / "config.json", missing="no config.json: is this a checkpoint directory?")
    names = (config.get("architectures") or []) if isinstance(config, dict) else []
    for name in names:
        task = find_task(str(name))
        if task is not None:
            return task
    if names:
        raise InputError(f"config.json names architecture {', '.join(map(str, names))}; edge-albert handles "
                         f"{', '.join(t.architecture for t in TASKS.values())}", Path(directory) / "config.json")
    return TASKS["text-classification"]


__all__ = ["Task", "TASKS", "INPUTS", "get_task", "find_task", "task_for_architecture", "checkpoint_task"]
