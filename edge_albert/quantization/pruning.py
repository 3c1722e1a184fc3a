"""Pruning that makes exported models smaller and faster, not just full of zeros.

- Attention heads and FFN neurons of the shared layer(s), ranked by first-order Taylor importance
  on data: |sum over a unit's weights of w * dL/dw|, accumulated per batch (the weight-space form
  of the head-mask gradient of "Are Sixteen Heads Really Better than One?"). They are removed
  physically: the config's `pruned_heads` (Hugging Face's field, so transformers loads the result)
  and `intermediate_size` shrink, and so do the exported ONNX/TFLite graphs.
- Depth: ALBERT runs its shared layer N times, so running it fewer times removes FLOPs without
  touching a weight (`num_hidden_layers`).
- Magnitude: unstructured zeros with a sparsity report. Dense ONNX/TFLite kernels do not skip
  zeros, so this makes nothing faster or smaller (except after compression of the file).
- Recovery: distillation from the unpruned model (`recover_by_distillation`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from edge_albert.errors import InputError
from edge_albert.model.albert import AlbertForSequenceClassification, AlbertLayer
from edge_albert.model.config import PRUNING_KEY, encoder_flops
from edge_albert.training.batching import EncodedDataset, training_batches


@dataclass(frozen=True)
class PruneConfig:
    heads: float = 0.0  # fraction of each layer's heads to remove
    ffn: float = 0.0  # fraction of FFN intermediate neurons to remove
    depth: int | None = None  # repetitions of the shared layer(s) to keep
    magnitude: float = 0.0  # unstructured sparsity of encoder weight matrices
    importance_batches: int = 32

    def __post_init__(self) -> None:
        for name in ("heads", "ffn", "magnitude"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise InputError(f"--{name} must be a fraction in [0, 1), got {value}")


@dataclass
class PruneSummary:
    flops_before: int
    flops_after: int
    parameters_before: int
    parameters_after: int
    heads_removed: dict[int, list[int]] = field(default_factory=dict)
    ffn_kept: int = 0
    depth: int = 0
    sparsity: dict[str, float] = field(default_factory=dict)

    @property
    def flops_reduction(self) -> float:
        return 1.0 - self.flops_after / self.flops_before


def distinct_layers(model: AlbertForSequenceClassification) -> list[AlbertLayer]:
    return [layer for group in model.albert.encoder.albert_layer_groups for layer in group.albert_layers]


def taylor_importance(model: AlbertForSequenceClassification, data: EncodedDataset, pad_id: int, batches: int, seed: int = 0):
    """Per distinct layer: head importance [heads] and FFN neuron importance [intermediate]."""
    layers = distinct_layers(model)
    heads = [np.zeros(l.attention.num_attention_heads) for l in layers]
    neurons = [np.zeros(l.ffn.out_features) for l in layers]
    model.eval()  # no dropout: importance of the deterministic model
    for i, batch in enumerate(training_batches(data, 32, seed, pad_id)):
        if i >= batches:
            break
        model.zero_grad(set_to_none=True)
        logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids)
        loss = nn.functional.cross_entropy(logits, batch.labels)
        loss.backward()
        with torch.no_grad():
            for k, layer in enumerate(layers):
                att, d = layer.attention, layer.attention.attention_head_size
                per_out = sum((m.weight * m.weight.grad).sum(1) + m.bias * m.bias.grad for m in (att.query, att.key, att.value))
                per_in = (att.dense.weight * att.dense.weight.grad).sum(0)
                heads[k] += (per_out + per_in).view(-1, d).sum(1).abs().numpy()
                ffn_in = (layer.ffn.weight * layer.ffn.weight.grad).sum(1) + layer.ffn.bias * layer.ffn.bias.grad
                ffn_out = (layer.ffn_output.weight * layer.ffn_output.weight.grad).sum(0)
                neurons[k] += (ffn_in + ffn_out).abs().numpy()
    model.zero_grad(set_to_none=True)
    return heads, neurons


def _slice_linear(linear: nn.Linear, keep: torch.Tensor, dim: int) -> nn.Linear:
    weight = linear.weight.detach().index_select(dim, keep).clone()
    bias = linear.bias.detach().clone() if dim == 1 else linear.bias.detach().index_select(0, keep).clone()
    out = nn.Linear(weight.shape[1], weight.shape[0])
    out.weight.data.copy_(weight)
    out.bias.data.copy_(bias)
    return out


def prune_model(
    model: AlbertForSequenceClassification,
    config: PruneConfig,
    data: EncodedDataset | None = None,
    pad_id: int = 0,
) -> tuple[AlbertForSequenceClassification, PruneSummary]:
    """A pruned copy of `model` (the original is untouched). Zero pruning returns an identical model."""
    from edge_albert.model.factory import parameter_count

    cfg = model.config
    pruned = copy.deepcopy(model)
    before_flops, before_params = encoder_flops(cfg, 128), parameter_count(model)
    needs_data = config.heads > 0 or config.ffn > 0
    if needs_data and data is None:
        raise InputError("head and FFN pruning rank units on data: pass --train")
    layers = distinct_layers(pruned)
    heads_removed: dict[int, list[int]] = {k: list(v) for k, v in cfg.pruned_heads.items()}
    new_intermediate = cfg.intermediate_size
    if needs_data:
        head_scores, neuron_scores = taylor_importance(pruned, data, pad_id, config.importance_batches)
        for k, layer in enumerate(layers):
            att = layer.attention
            n_remove = int(att.num_attention_heads * config.heads)
            n_remove = min(n_remove, att.num_attention_heads - 1)
            if n_remove:
                drop = set(np.argsort(head_scores[k])[:n_remove].tolist())
                keep_heads = [h for h in range(att.num_attention_heads) if h not in drop]
                d = att.attention_head_size
                keep = torch.tensor([h * d + j for h in keep_heads for j in range(d)])
                att.query, att.key, att.value = (_slice_linear(m, keep, 0) for m in (att.query, att.key, att.value))
                att.dense = _slice_linear(att.dense, keep, 1)
                original = [h for h in range(cfg.num_attention_heads) if h not in set(heads_removed.get(k, []))]
                heads_removed[k] = sorted(set(heads_removed.get(k, [])) | {original[h] for h in drop})
                att.num_attention_heads = len(keep_heads)
                att.all_head_size = len(keep_heads) * d
        n_keep = cfg.intermediate_size - int(cfg.intermediate_size * config.ffn)
        if n_keep < cfg.intermediate_size:
            for k, layer in enumerate(layers):
                keep = torch.from_numpy(np.sort(np.argsort(-neuron_scores[k])[:n_keep]).copy())
                layer.ffn = _slice_linear(layer.ffn, keep, 0)
                layer.ffn_output = _slice_linear(layer.ffn_output, keep, 1)
            new_intermediate = n_keep
    depth = config.depth or cfg.num_hidden_layers
    if depth > cfg.num_hidden_layers or depth % cfg.num_hidden_groups:
        raise InputError(f"--depth {depth} must be at most {cfg.num_hidden_layers} and a multiple of num_hidden_groups {cfg.num_hidden_groups}")
    record = {"heads": config.heads, "ffn": config.ffn, "depth": depth, "magnitude": config.magnitude,
              "intermediate_size_before": cfg.intermediate_size, "num_hidden_layers_before": cfg.num_hidden_layers}
    new_config = cfg.replace(pruned_heads=heads_removed, intermediate_size=new_intermediate, num_hidden_layers=depth,
                             extra={**cfg.extra, PRUNING_KEY: cfg.extra.get(PRUNING_KEY, []) + [record]})
    new_config.validate("pruned config")
    pruned.config = new_config
    pruned.albert.config = new_config
    pruned.albert.encoder.config = new_config
    sparsity = magnitude_prune(pruned, config.magnitude) if config.magnitude else {}
    summary = PruneSummary(before_flops, encoder_flops(new_config, 128), before_params, parameter_count(pruned),
                           heads_removed, new_intermediate, depth, sparsity)
    return pruned, summary


def magnitude_prune(model: AlbertForSequenceClassification, sparsity: float) -> dict[str, float]:
    """Zero the smallest |w| of each encoder weight matrix; returns each matrix's sparsity."""
    report = {}
    with torch.no_grad():
        for name, module in model.albert.encoder.named_modules():
            if isinstance(module, nn.Linear):
                w = module.weight
                k = int(w.numel() * sparsity)
                if k:
                    threshold = w.abs().flatten().kthvalue(k).values
                    w[w.abs() <= threshold] = 0.0
                report[name] = float((w == 0).float().mean())
    return report


@dataclass
class PruneReport:
    summary: PruneSummary
    checkpoint: str
    dev_accuracy_before: float | None
    dev_accuracy_pruned: float | None
    dev_accuracy_recovered: float | None
    recovery_steps: int | None = None  # optimizer steps the recovery ran


def prune_checkpoint(
    checkpoint,
    run_dir,
    config: PruneConfig,
    data=None,
    *,
    recover=None,
) -> PruneReport:
    """Prune a classifier checkpoint; with `recover` (a TrainConfig), distil the unpruned model
    back into it on `data` (a DataSpec). Writes RUN/pruned (before recovery) and RUN/model."""
    from pathlib import Path

    from edge_albert.model.checkpoint import SPIECE_NAME, load_model, save_model
    from edge_albert.tokenization import AlbertTokenizer
    from edge_albert.training.batching import encode_dataset
    from edge_albert.training.recipes import distill, load_splits
    from edge_albert.training.trainer import evaluate

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model = load_model(checkpoint)
    if not isinstance(model, AlbertForSequenceClassification):
        raise InputError("prune a sequence classifier checkpoint", checkpoint)
    spiece = Path(checkpoint) / SPIECE_NAME
    tok = AlbertTokenizer(spiece)
    train = dev = None
    if data is not None:
        train, dev = load_splits(data)
    enc_train = encode_dataset(train, tok, 128) if train is not None else None
    enc_dev = encode_dataset(dev, tok, 128) if dev is not None else None
    pruned, summary = prune_model(model, config, enc_train, tok.pad_id)
    before = evaluate(model, enc_dev, tok.pad_id)["accuracy"] if enc_dev else None
    after = evaluate(pruned, enc_dev, tok.pad_id)["accuracy"] if enc_dev else None
    save_model(pruned, run_dir / "pruned", tokenizer_model=spiece, force=True)
    recovered = steps = None
    final = run_dir / "pruned"
    if recover is not None:
        if data is None:
            raise InputError("recovery trains on data: pass --train")
        result = distill(data, run_dir / "recover", recover, teacher=Path(checkpoint), init=run_dir / "pruned")
        recovered = result.best_metrics.get("accuracy")
        steps = result.steps
        final = Path(result.checkpoint)
    return PruneReport(summary, str(final), before, after, recovered, steps)


__all__ = ["PruneConfig", "PruneSummary", "PruneReport", "prune_model", "prune_checkpoint", "taylor_importance", "magnitude_prune"]
