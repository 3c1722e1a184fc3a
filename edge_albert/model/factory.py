"""Creating and describing checkpoints: the library side of `edge-albert init` and `inspect`."""

from __future__ import annotations

from pathlib import Path

import torch

from edge_albert.model.albert import AlbertForSequenceClassification, architecture_name
from edge_albert.model.checkpoint import SAFETENSORS_NAME, SPIECE_NAME, load_model, save_model
from edge_albert.model.config import encoder_flops, preset_config
from edge_albert.tasks import find_task
from edge_albert.tokenization import AlbertTokenizer


def init_checkpoint(
    preset: str,
    tokenizer_model: Path,
    output: Path,
    *,
    labels: list[str],
    max_length: int = 512,
    seed: int = 0,
    force: bool = False,
    **overrides,
) -> Path:
    """Save a randomly initialised classifier of a named preset, with its tokenizer."""
    tokenizer = AlbertTokenizer(tokenizer_model)
    torch.manual_seed(seed)
    config = preset_config(preset, vocab_size=tokenizer.vocab_size, labels=labels, max_position_embeddings=max_length, **overrides)
    return save_model(AlbertForSequenceClassification(config), output, tokenizer_model=tokenizer_model, force=force)


def parameter_count(model: torch.nn.Module) -> int:
    """Unique parameters: ALBERT's shared layer and tied weights count once."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel()
    return total


def describe_checkpoint(directory: Path) -> dict:
    directory = Path(directory)
    model = load_model(directory)
    c = model.config
    weights = directory / SAFETENSORS_NAME
    return {
        "architecture": architecture_name(type(model)),
        "task": task.name if (task := find_task(architecture_name(type(model)))) else None,  # None: a pretraining checkpoint
        # Labels mean nothing to the heads without them (embeddings, fill-mask, multiple choice).
        "labels": c.labels if task is not None and task.name in ("text-classification", "token-classification") else None,
        **({"pooling": {"mode": model.pooling.mode, "normalize": model.pooling.normalize}} if hasattr(model, "pooling") else {}),
        "vocab_size": c.vocab_size,
        "embedding_size": c.embedding_size,
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_hidden_groups": c.num_hidden_groups,
        "inner_group_num": c.inner_group_num,
        "num_attention_heads": c.num_attention_heads,
        "intermediate_size": c.intermediate_size,
        "max_position_embeddings": c.max_position_embeddings,
        "parameters": parameter_count(model),
        "weights_bytes": weights.stat().st_size if weights.is_file() else None,
        "gflops_per_128_tokens": round(encoder_flops(c, 128) / 1e9, 3),
        "tokenizer": str(directory / SPIECE_NAME) if (directory / SPIECE_NAME).is_file() else None,
    }
