"""Sequence-classification training: fine-tuning and knowledge distillation share one loop.

AdamW with linear warm-up and decay, gradient clipping, layer-wise learning-rate decay over
ALBERT's tiers (embeddings < each shared layer group < pooler/classifier), evaluation on the dev
set each epoch (or every N steps), best checkpoint kept, early stopping, and resume at an epoch
boundary that gives the same weights as an uninterrupted run.

Run directory layout:
    RUN/model/            best checkpoint (Hugging Face format, with spiece.model)
    RUN/train_log.jsonl   one JSON object per logged step and per evaluation
    RUN/state.pt          resumable state after the last finished epoch (weights-only loadable)
    RUN/result.json       final summary (best dev metrics, wall time, parameters)
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from edge_albert.errors import InputError
from edge_albert.metrics import classification_metrics
from edge_albert.model.albert import AlbertForSequenceClassification
from edge_albert.model.checkpoint import save_model
from edge_albert.model.factory import parameter_count
from edge_albert.progress import progress_bar
from edge_albert.staging import staged_file
from edge_albert.training.batching import Batch, EncodedDataset, forward_all, make_batch, training_batch_indices
from edge_albert.training.distributed import Ranks, barrier, setup, sum_across_ranks
from edge_albert.training.precision import autocast, grad_scaler, resolve_precision, training_step_probe
from edge_albert.training.word_states import WordStateDistiller, capture_layer_outputs

if TYPE_CHECKING:
    from edge_albert.training.token_tasks import TaskObjective


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    # Multiplier per tier going down from the head: 1.0 means one learning rate for all.
    layer_decay: float = 1.0
    max_length: int = 128
    seed: int = 0
    patience: int | None = None
    eval_every: int | None = None
    max_steps: int | None = None
    threads: int | None = None
    # Distillation (used when the training data carries teacher logits).
    alpha: float = 0.5
    temperature: float = 2.0
    log_every: int = 50
    # "fp32", "bf16" (autocast, fp32 master weights) or "auto" (bf16 where the CPU has it natively).
    precision: str = "fp32"
    # Representation distillation (used when the training data carries teacher features): weight
    # of the MSE between the projected student representation and the standardised teacher's.
    feature_weight: float = 0.0
    # Word-level intermediate-layer distillation (used when the training data carries the
    # teacher's per-word hidden states): weight of that MSE (see training/word_states.py).
    hidden_weight: float = 0.0
    # How many student repetitions (spread evenly, ending with the last) are matched to teacher layers.
    hidden_layers: int = 2
    # Decay of an exponential moving average of the weights (0: off). With it, evaluation and the
    # saved checkpoints use the averaged weights, which are smoother than the last step's.
    ema: float = 0.0
    # "auto" (a CUDA GPU when present, else the CPU), "cpu", "cuda" or "mps".
    device: str = "auto"
    # Examples per forward pass on each rank; a global batch (`batch_size`, the same whatever the
    # number of ranks) bigger than ranks x this is accumulated over several passes. None: one pass.
    micro_batch_size: int | None = None
    # torch.compile the model's forward (dynamic shapes) for the training steps.
    compile: bool = False
    # End this invocation after N epochs (a time-boxed or preemptible job); `resume` continues it.
    stop_after_epochs: int | None = None


@dataclass
class TrainResult:
    best_metrics: dict[str, float]
    best_step: int
    steps: int
    epochs_run: int
    wall_seconds: float
    parameters: int
    checkpoint: str
    history: list[dict] = field(default_factory=list)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float,
    temperature: float,
) -> torch.Tensor:
    """alpha * KL(softmax(t/T) || softmax(s/T)) * T^2 + (1 - alpha) * CE(s, labels) (DistilBERT).

    Examples labelled -1 contribute only the soft term; the hard term is scaled by the labelled
    fraction of the batch so each gold label weighs the same whatever the batch mix.
    """
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=-1),
        F.log_softmax(teacher_logits / t, dim=-1),
        reduction="batchmean",
        log_target=True,
    ) * (t * t)
    # Label -1 marks a transfer-set example with no gold label (teacher-labelled augmentation).
    labelled = labels >= 0
    if bool(labelled.all()):
        hard = F.cross_entropy(student_logits, labels)
    elif bool(labelled.any()):
        hard = F.cross_entropy(student_logits[labelled], labels[labelled]) * labelled.float().mean()
    else:
        hard = student_logits.new_zeros(())
    return alpha * soft + (1.0 - alpha) * hard


def parameter_groups(model: AlbertForSequenceClassification, lr: float, weight_decay: float, layer_decay: float) -> list[dict]:
    """Layer-wise LR decay over ALBERT's tiers; no weight decay on biases and LayerNorm.

    Models other than ALBERT (a BERT teacher) get one tier.
    """
    n_groups = model.config.num_hidden_groups if hasattr(model, "albert") and hasattr(model.config, "num_hidden_groups") else 0
    top = n_groups + 1  # tiers: 0 embeddings, 1..G layer groups, G+1 pooler + classifier

    def tier(name: str) -> int:
        if not n_groups:
            return top
        if name.startswith("albert.embeddings") or "embedding_hidden_mapping_in" in name:
            return 0
        if "albert_layer_groups." in name:
            return int(name.split("albert_layer_groups.")[1].split(".")[0]) + 1
        return top

    buckets: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
        buckets.setdefault((tier(name), no_decay), []).append(param)
    return [
        {"params": params, "lr": lr * layer_decay ** (top - t), "weight_decay": 0.0 if nd else weight_decay}
        for (t, nd), params in sorted(buckets.items())
    ]


def make_optimizer(model: torch.nn.Module, config: TrainConfig, total_steps: int, extra: torch.nn.Module | None = None):
    """AdamW over `parameter_groups` (plus `extra`'s parameters at the peak rate) with linear
    warm-up then linear decay to zero."""
    warmup = int(total_steps * config.warmup_ratio)
    groups = parameter_groups(model, config.learning_rate, config.weight_decay, config.layer_decay)
    if extra is not None:
        groups.append({"params": [p for p in extra.parameters() if p.requires_grad], "lr": config.learning_rate, "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (step + 1) / max(1, warmup) if step < warmup else max(0.0, (total_steps - step) / max(1, total_steps - warmup)),
    )
    return optimizer, scheduler


@torch.no_grad()
def predict_outputs(
    model: torch.nn.Module, data: EncodedDataset, pad_id: int, batch_size: int = 64, features: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits for every example in dataset order, and with `features` the model's sentence
    representations (`forward_with_features`). Split across the ranks of a job."""
    model.eval()
    rows = forward_all(model, data, pad_id, batch_size, call=model.forward_with_features if features else None)
    if not rows:
        return np.zeros((0, 0), dtype=np.float32), None
    logits = np.stack([r[0] for r in rows]).astype(np.float32)
    return logits, (np.stack([r[1] for r in rows]).astype(np.float32) if features else None)


def predict_logits(model: torch.nn.Module, data: EncodedDataset, pad_id: int, batch_size: int = 64) -> np.ndarray:
    """Logits for every example, in dataset order."""
    return predict_outputs(model, data, pad_id, batch_size)[0]


class FeatureProjector(torch.nn.Module):
    """Maps the student's sentence representation onto the teacher's standardised one.

    Training-only: it is optimised with the student and dropped afterwards; the teacher's
    per-dimension mean and spread are fixed buffers so that every dimension weighs the same."""

    def __init__(self, student_dim: int, teacher_features: np.ndarray) -> None:
        super().__init__()
        feats = torch.from_numpy(np.asarray(teacher_features, dtype=np.float32))
        self.proj = torch.nn.Linear(student_dim, feats.shape[1])
        self.register_buffer("mean", feats.mean(0))
        self.register_buffer("std", feats.std(0).clamp_min(1e-4))

    def loss(self, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.proj(student_features), (teacher_features - self.mean) / self.std)


def evaluate(model: torch.nn.Module, data: EncodedDataset, pad_id: int) -> dict[str, float]:
    logits = predict_logits(model, data, pad_id)
    metrics = classification_metrics(logits, data.labels)
    metrics["loss"] = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(data.labels)))
    return metrics


class _LossStep(torch.nn.Module):
    """The model and the modules trained beside it, whose forward is one batch's loss: the one
    module DistributedDataParallel wraps, so every trained parameter's gradient is averaged."""

    def __init__(self, model: torch.nn.Module, aids: torch.nn.ModuleList, config: TrainConfig, precision: str, device: torch.device, *,
                 projector: FeatureProjector | None, distiller: WordStateDistiller | None, objective: TaskObjective | None) -> None:
        super().__init__()
        self.model = model
        self.aids = aids
        # not registered again: they are in `aids` (or, for the objective, hold no parameters of their own beyond it)
        self._parts = (projector, distiller, objective, torch.compile(model, dynamic=True) if config.compile else model)
        self.config, self.precision, self.device = config, precision, device

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, feature loss, hidden-state loss) of the batch, each a mean over its examples."""
        projector, distiller, objective, forward = self._parts
        config = self.config
        distilling = batch.soft_targets is not None
        inputs = (batch.input_ids, batch.attention_mask, batch.token_type_ids)
        with autocast(self.precision, self.device), (capture_layer_outputs(self.model) if distiller is not None else contextlib.nullcontext([])) as layer_outputs:
            logits, feats = self.model.forward_with_features(*inputs) if projector is not None else (forward(*inputs), None)
        # the losses in fp32 whatever the forward ran in
        logits = tuple(x.float() for x in logits) if isinstance(logits, tuple) else logits.float()
        if objective is not None and distilling:
            loss = objective.distillation_loss(logits, batch.soft_targets, batch.labels, config.alpha, config.temperature)
        elif objective is not None:
            loss = objective.loss(logits, batch.labels)
        elif distilling:
            loss = distillation_loss(logits, batch.soft_targets, batch.labels, config.alpha, config.temperature)
        else:
            loss = F.cross_entropy(logits, batch.labels)
        feature_loss = hidden_loss = loss.new_zeros(())
        if projector is not None:
            feature_loss = projector.loss(feats.float(), batch.teacher_features)
            loss = loss + config.feature_weight * feature_loss
        if distiller is not None:
            hidden_loss = distiller.loss(layer_outputs, batch.input_ids, batch.attention_mask, *batch.teacher_words)
            loss = loss + config.hidden_weight * hidden_loss
        return loss, feature_loss, hidden_loss


def leaves_parameters_unused(step_module: torch.nn.Module, batch: Batch) -> bool:
    """Whether some trained parameter gets no gradient from a batch's loss (the random-number
    stream is left as it was)."""
    rng = torch.get_rng_state()
    params = [p for p in step_module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(step_module(batch)[0], params, allow_unused=True)
    torch.set_rng_state(rng)
    return any(g is None for g in grads)


def rank_share(indices: np.ndarray, ranks: Ranks, micro_batch_size: int | None) -> list[np.ndarray]:
    """This rank's part of a global batch, cut into passes of at most `micro_batch_size`: the
    ranks take consecutive, near-equal slices (an empty list when the batch is smaller than the
    job: that rank contributes nothing to this step)."""
    mine = np.array_split(np.asarray(indices), ranks.world_size)[ranks.rank]
    if len(mine) == 0:
        return []
    size = micro_batch_size or len(mine)
    return [mine[i:i + size] for i in range(0, len(mine), size)]


class _Log:
    def __init__(self, path: Path, append: bool) -> None:
        self.fh = open(path, "a" if append else "w", encoding="utf-8")

    def write(self, **record) -> None:
        self.fh.write(json.dumps(record, sort_keys=True) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def save_albert(tokenizer_model: Path) -> Callable[[torch.nn.Module, Path], None]:
    """The default checkpointer: an ALBERT checkpoint directory with its spiece.model."""
    return lambda model, path: save_model(model, path, tokenizer_model=tokenizer_model, force=True)


def weight_average(model: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of `model`'s weights (torch's AveragedModel).

    The first update copies the weights; then the decay ramps up as (1 + n) / (10 + n) until it
    reaches `decay`, so the early, poor weights do not linger in the average for thousands of
    steps (the warm-up timm's ModelEma uses).
    """

    def ema_step(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        d = min(decay, (1.0 + float(num_averaged)) / (10.0 + float(num_averaged)))
        return averaged * d + current * (1.0 - d)

    return torch.optim.swa_utils.AveragedModel(model, avg_fn=ema_step)  # buffers (position ids) stay as copied


def train_classifier(
    model: torch.nn.Module,
    save: Callable[[torch.nn.Module, Path], None],
    train: EncodedDataset,
    dev: EncodedDataset | None,
    config: TrainConfig,
    run_dir: Path,
    *,
    pad_id: int = 0,
    resume: bool = False,
    stop_after_epochs: int | None = None,
    objective: TaskObjective | None = None,
) -> TrainResult:
    """Train `model` in place and keep the best dev checkpoint in `run_dir/model`.

    `objective` gives the loss and dev evaluation of a task other than sequence classification
    (token classification, question answering: see training/token_tasks.py); the best checkpoint
    is the one with the highest `objective.metric`.

    `stop_after_epochs` ends the run early as an interruption would (time-boxed jobs); a later
    call with `resume=True` continues on the same schedule and gives the same weights.
    """
    if len(train) == 0:
        raise InputError("training data is empty")
    stop_after_epochs = stop_after_epochs if stop_after_epochs is not None else config.stop_after_epochs
    if config.micro_batch_size is not None and config.micro_batch_size < 1:
        raise InputError(f"micro_batch_size must be at least 1, not {config.micro_batch_size}")
    ranks = setup(config.device)
    device = ranks.device
    run_dir = Path(run_dir)
    if ranks.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads or torch.get_num_threads())
    torch.manual_seed(config.seed)
    distilling = train.soft_targets is not None
    if objective is not None and ((distilling and not objective.distills) or train.teacher_features is not None or train.word_targets is not None):
        raise InputError(f"this distillation is not available for {objective.task} yet; train the student on the labels")
    metric = objective.metric if objective is not None else "accuracy"
    precision = resolve_precision(config.precision, device,
                                  probe=training_step_probe(model, length=config.max_length) if config.precision == "auto" else None)
    projector = None
    if train.teacher_features is not None and config.feature_weight > 0:
        if not hasattr(model, "forward_with_features"):
            raise InputError("representation distillation needs a student with forward_with_features (an ALBERT classifier)")
        projector = FeatureProjector(2 * model.config.hidden_size, train.teacher_features)
    distiller = None
    if train.word_targets is not None and config.hidden_weight > 0:
        if config.compile:
            raise InputError("--compile does not trace the layer hooks of --hidden-weight; drop one of them")
        targets = train.word_targets
        distiller = WordStateDistiller(model.config.hidden_size, targets.states, targets.student_layers, targets.starts, targets.special_ids)
    # Modules trained with the model and dropped afterwards (an objective may bring its own: the
    # sentence-embedding student's map onto the teacher's width).
    aids = torch.nn.ModuleList([m for m in (projector, distiller, getattr(objective, "training_module", None)) if m is not None])
    model.to(device)
    aids.to(device)
    step_module: torch.nn.Module = _LossStep(model, aids, config, precision, device, projector=projector, distiller=distiller, objective=objective)
    if ranks.distributed:
        # Averages every trained parameter's gradient over the ranks as backward runs. DDP must be
        # told when a task leaves parameters unused (the pooler of a tagger), and warns when told so
        # needlessly: one trial pass on one example tells which.
        unused = leaves_parameters_unused(step_module, make_batch(train, [0], pad_id).to(device))
        step_module = torch.nn.parallel.DistributedDataParallel(step_module, find_unused_parameters=unused)
    scaler = grad_scaler(precision, device)

    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    optimizer, scheduler = make_optimizer(model, config, total_steps, extra=aids if len(aids) else None)
    ema = weight_average(model, config.ema) if config.ema else None

    state_path = run_dir / "state.pt"
    start_epoch, step, best, best_step, stale = 0, 0, None, 0, 0
    history: list[dict] = []
    if resume:
        if not state_path.is_file():
            raise InputError("no state.pt to resume from; run without --resume", run_dir)
        # The state holds no trace of the number of ranks that wrote it: a job resumes at any size.
        state = torch.load(state_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        if ema is not None:
            if "ema" not in state:
                raise InputError("state.pt was saved without --ema; resume with the options it was started with", state_path)
            ema.load_state_dict(state["ema"])
        if len(aids):
            aids.load_state_dict(state["training_aids"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"].cpu())
        start_epoch, step, best_step, stale = state["epoch"], state["step"], state["best_step"], state["stale"]
        best = json.loads(state["best"]) if state["best"] else None
        history = json.loads(state["history"])
    if not ranks.is_main:
        # Dropout draws its own masks on each rank; rank 0 keeps the single-process stream.
        torch.manual_seed(config.seed + 1009 * ranks.rank + start_epoch)
    log = _Log(run_dir / "train_log.jsonl", append=resume) if ranks.is_main else None
    if log is not None:
        log.write(event="start", config=asdict(config), precision=precision, train_examples=len(train), dev_examples=len(dev) if dev else 0,
                  distilling=distilling, resumed_at_epoch=start_epoch, device=str(device), world_size=ranks.world_size)

    started = time.perf_counter()
    stop = False
    epoch = start_epoch - 1

    def do_eval(epoch: int) -> None:
        nonlocal best, best_step, stale
        shipped = ema.module if ema is not None else model
        if dev is None:
            if ranks.is_main:
                save(shipped, run_dir / "model")
            return
        # every rank evaluates its share; all of them see the same metrics and take the same decisions
        metrics = objective.evaluate(shipped, dev, pad_id) if objective is not None else evaluate(shipped, dev, pad_id)
        record = {"event": "eval", "epoch": epoch, "step": step, **{f"dev_{k}": v for k, v in metrics.items()}}
        history.append(record)
        if log is not None:
            log.write(**record)
        if best is None or metrics[metric] > best[metric]:
            best, best_step, stale = metrics, step, 0
            if ranks.is_main:
                save(shipped, run_dir / "model")
        else:
            stale += 1

    parallel = ranks.distributed or config.micro_batch_size is not None
    try:
        with progress_bar(total_steps, "distill" if distilling else "train", unit="step", shown=ranks.is_main) as advance:
            advance(step)
            for epoch in range(start_epoch, config.epochs):
                step_module.train()
                # summed over the logged steps: loss, feature loss, hidden loss
                running = torch.zeros(3, dtype=torch.float64)
                for indices in training_batch_indices(train, config.batch_size, config.seed + epoch):
                    passes = rank_share(indices, ranks, config.micro_batch_size)
                    optimizer.zero_grad(set_to_none=True)
                    if not passes:
                        # DDP needs every rank in every backward: a pass that weighs nothing
                        passes, weights = [indices[:1]], [0.0]
                    else:
                        # Each pass's mean loss weighs its share of the global batch (times the ranks,
                        # which DDP's average divides out): the gradient of the global batch's mean.
                        units = objective.loss_units if objective is not None else len
                        whole = units(train.labels[indices])
                        weights = [units(train.labels[p]) / whole * ranks.world_size if whole else 0.0 for p in passes]
                    for k, (part, weight) in enumerate(zip(passes, weights)):
                        batch = make_batch(train, part, pad_id).to(device)
                        last = k == len(passes) - 1
                        with step_module.no_sync() if ranks.distributed and not last else contextlib.nullcontext():
                            losses = step_module(batch)
                            scaler.scale(losses[0] * weight if parallel else losses[0]).backward()
                        values = torch.stack([x.detach().float() for x in losses]).cpu().double()
                        running += values * (weight / ranks.world_size) if parallel else values
                    if config.max_grad_norm:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    scaler.step(optimizer)
                    scaler.update()
                    scheduler.step()
                    if ema is not None:
                        ema.update_parameters(model)
                    step += 1
                    if step % config.log_every == 0:
                        mean = sum_across_ranks(running) / config.log_every
                        extra = {"feature_loss": float(mean[1])} if projector is not None else {}
                        if distiller is not None:
                            extra["hidden_loss"] = float(mean[2])
                        if log is not None:
                            log.write(event="step", epoch=epoch, step=step, loss=float(mean[0]), lr=scheduler.get_last_lr()[-1], **extra)
                        advance(1, loss=f"{float(mean[0]):.4f}")
                        running.zero_()
                    else:
                        advance(1)
                    if config.eval_every and step % config.eval_every == 0:
                        do_eval(epoch)
                        step_module.train()
                    if step >= total_steps:
                        stop = True
                        break
                if not config.eval_every or step % config.eval_every:
                    do_eval(epoch)
                if ranks.is_main:
                    with staged_file(state_path, force=True) as stage:
                        torch.save(
                            {
                                "model": model.state_dict(),
                                **({"ema": ema.state_dict()} if ema is not None else {}),
                                **({"training_aids": aids.state_dict()} if len(aids) else {}),
                                "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(),
                                "rng": torch.get_rng_state(),
                                "epoch": epoch + 1,
                                "step": step,
                                "best_step": best_step,
                                "stale": stale,
                                "best": json.dumps(best),
                                "history": json.dumps(history),
                            },
                            stage,
                        )
                if stop or (config.patience is not None and stale >= config.patience):
                    break
                if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs:
                    break
    finally:
        if log is not None:
            log.close()
    model.to("cpu")

    result = TrainResult(
        best_metrics=best or {},
        best_step=best_step,
        steps=step,
        epochs_run=epoch + 1 - start_epoch,
        wall_seconds=time.perf_counter() - started,
        parameters=parameter_count(model),
        checkpoint=str(run_dir / "model"),
        history=history,
    )
    if ranks.is_main:
        with staged_file(run_dir / "result.json", force=True) as stage:
            stage.write_text(json.dumps(asdict(result), indent=2) + "\n")
    # the other ranks return when rank 0 has written everything (a caller may read the run directory next)
    barrier()
    return result


__all__ = ["TrainConfig", "TrainResult", "train_classifier", "weight_average", "save_albert", "distillation_loss", "parameter_groups", "make_optimizer", "predict_logits", "predict_outputs", "FeatureProjector", "evaluate"]
