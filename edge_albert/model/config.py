"""ALBERT configuration with the same field names as Hugging Face's `AlbertConfig`.

`config.json` files written here load in `transformers` and the other way round. Fields that
`transformers` writes and we do not use (`transformers_version`, `torch_dtype`, ...) are kept in
`extra` so a round trip loses nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_albert.errors import InputError
from edge_albert.jsonfile import read_json

# Fields a config.json must carry: without them we cannot know the shapes of the weights.
REQUIRED_FIELDS = (
    "vocab_size",
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
)

SUPPORTED_ACTIVATIONS = ("gelu_new", "gelu", "relu", "gelu_pytorch_tanh")

# Upper bounds of the integer fields: generous for any real ALBERT (xxlarge: H=4096, I=16384,
# vocab 30,000), small enough that a typo or a hostile file fails here, before anything is built
# (a billion layers hung `inspect`; other sizes tried to allocate a terabyte).
FIELD_LIMITS = {
    "vocab_size": 1_000_000,
    "embedding_size": 16384,
    "hidden_size": 16384,
    "num_hidden_layers": 512,
    "num_attention_heads": 1024,
    "intermediate_size": 131072,
    "num_hidden_groups": 512,
    "inner_group_num": 64,
    "max_position_embeddings": 65536,
    "type_vocab_size": 1024,
}
# config.json key under which `prune` records what it removed (Hugging Face keeps unknown keys).
PRUNING_KEY = "edge_albert_pruning"
MAX_PARAMETERS = 2_000_000_000  # 8 GB of fp32 weights
# Float fields: (low, high, whether high itself is allowed).
FLOAT_LIMITS = {
    "hidden_dropout_prob": (0.0, 1.0, False),
    "attention_probs_dropout_prob": (0.0, 1.0, False),
    "classifier_dropout_prob": (0.0, 1.0, False),
    "initializer_range": (0.0, 10.0, True),
    "layer_norm_eps": (0.0, 1.0, True),
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


@dataclass
class AlbertConfig:
    vocab_size: int = 30000
    embedding_size: int = 128
    hidden_size: int = 4096
    num_hidden_layers: int = 12
    num_hidden_groups: int = 1
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    inner_group_num: int = 1
    hidden_act: str = "gelu_new"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    classifier_dropout_prob: float = 0.1
    position_embedding_type: str = "absolute"
    pad_token_id: int = 0
    bos_token_id: int = 2
    eos_token_id: int = 3
    id2label: dict[int, str] = field(default_factory=lambda: {0: "LABEL_0", 1: "LABEL_1"})
    # Hugging Face's field: {distinct layer index (group * inner_group_num + inner): [original head ids]}.
    pruned_heads: dict[int, list[int]] = field(default_factory=dict)
    problem_type: str | None = None
    architectures: list[str] | None = None
    model_type: str = "albert"
    # Keys of a loaded config.json that we carry through unchanged.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        self.pruned_heads = {int(k): sorted(int(h) for h in v) for k, v in (self.pruned_heads or {}).items()}

    # Derived properties -------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @property
    def label2id(self) -> dict[str, int]:
        return {v: k for k, v in self.id2label.items()}

    @property
    def labels(self) -> list[str]:
        return [self.id2label[i] for i in range(self.num_labels)]

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def distinct_layers(self) -> int:
        return self.num_hidden_groups * self.inner_group_num

    @property
    def pruned(self) -> bool:
        """Whether structured pruning made this model from a larger one (heads, FFN or depth):
        recorded so every later stage (exports, validation, the gate) knows it is a new model,
        not a copy of its parent."""
        return bool(self.pruned_heads) or PRUNING_KEY in self.extra

    def heads_in_layer(self, layer: int) -> int:
        """Attention heads left in distinct layer `layer` after pruning."""
        return self.num_attention_heads - len(self.pruned_heads.get(layer, []))

    def validate(self, source: object = "config") -> None:
        """Raise InputError naming the field when the config cannot describe a working ALBERT."""
        if self.model_type != "albert":
            raise InputError(
                f"model_type is {self.model_type!r}, expected 'albert' (this tool converts ALBERT "
                "checkpoints only)",
                source,
            )
        for name, limit in FIELD_LIMITS.items():
            value = getattr(self, name)
            if not _is_int(value) or not 0 < value <= limit:
                raise InputError(f"field {name!r} must be an integer from 1 to {limit:,}, got {value!r}", source)
        for name, (low, high, high_ok) in FLOAT_LIMITS.items():
            value = getattr(self, name)
            if name == "classifier_dropout_prob" and value is None:  # Hugging Face's "use hidden_dropout_prob"
                continue
            if not _is_real(value) or value < low or value > high or (value == high and not high_ok) or (name == "layer_norm_eps" and value == 0):
                interval = f"({low:g}, {high:g}]" if name == "layer_norm_eps" else f"[{low:g}, {high:g}{']' if high_ok else ')'}"
                raise InputError(f"field {name!r} must be a number in {interval}, got {value!r}", source)
        if not _is_int(self.pad_token_id) or not 0 <= self.pad_token_id < self.vocab_size:
            raise InputError(f"field 'pad_token_id' must be an integer from 0 to vocab_size - 1 ({self.vocab_size - 1}), got {self.pad_token_id!r}", source)
        if self.num_hidden_groups > self.num_hidden_layers:
            raise InputError(f"num_hidden_groups {self.num_hidden_groups} exceeds num_hidden_layers {self.num_hidden_layers}", source)
        parameters = parameter_estimate(self)
        if parameters > MAX_PARAMETERS:
            raise InputError(f"describes {parameters:,} parameters ({parameters * 4 / 1e9:.0f} GB in fp32), more than the "
                             f"{MAX_PARAMETERS:,} this tool builds; check the size fields", source)
        if self.hidden_size % self.num_attention_heads:
            raise InputError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads "
                f"{self.num_attention_heads}",
                source,
            )
        if self.num_hidden_layers % self.num_hidden_groups:
            raise InputError(
                f"num_hidden_layers {self.num_hidden_layers} is not a multiple of num_hidden_groups "
                f"{self.num_hidden_groups}",
                source,
            )
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise InputError(
                f"hidden_act {self.hidden_act!r} is not supported; use one of {SUPPORTED_ACTIVATIONS}",
                source,
            )
        if self.position_embedding_type != "absolute":
            raise InputError(
                f"position_embedding_type {self.position_embedding_type!r} is not supported; "
                "only 'absolute' is",
                source,
            )
        for layer, heads in self.pruned_heads.items():
            if not 0 <= layer < self.distinct_layers or any(not 0 <= h < self.num_attention_heads for h in heads):
                raise InputError(f"pruned_heads entry {layer}: {heads} is out of range", source)
            if len(set(heads)) >= self.num_attention_heads:
                raise InputError(f"pruned_heads removes every head of layer {layer}", source)
        if self.num_labels < 1 or sorted(self.id2label) != list(range(self.num_labels)):
            raise InputError("id2label must map 0..N-1 to label names", source)

    # Serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            out[f.name] = getattr(self, f.name)
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["pruned_heads"] = {str(k): v for k, v in self.pruned_heads.items()}
        out["label2id"] = self.label2id
        if out["architectures"] is None:
            out["architectures"] = ["AlbertForSequenceClassification"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: object = "config") -> AlbertConfig:
        if not isinstance(data, dict):
            raise InputError("expected a JSON object", source)
        model_type = data.get("model_type")
        if model_type is None:
            raise InputError("missing field 'model_type' (expected 'albert')", source)
        if model_type != "albert":
            raise InputError(
                f"model_type is {model_type!r}, expected 'albert' (this tool handles ALBERT "
                "checkpoints only)",
                source,
            )
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            raise InputError(f"missing field(s) {', '.join(missing)}", source)
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k not in ("label2id", "num_labels")}
        if "id2label" not in data and isinstance(data.get("num_labels"), int):
            kwargs["id2label"] = {i: f"LABEL_{i}" for i in range(data["num_labels"])}
        try:
            config = cls(**kwargs, extra=extra)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"invalid field value ({exc})", source) from None
        config.validate(source)
        return config

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> AlbertConfig:
        data = read_json(path, missing="config.json not found; is this a checkpoint directory?")
        return cls.from_dict(data, source=Path(path))

    def replace(self, **changes: Any) -> AlbertConfig:
        return dataclasses.replace(self, **changes)


# Named presets. `tiny` follows the issue (H=312, 4 layers, 12 heads, E=128); the others follow
# the ALBERT paper's table 1 (base/large) and a mid-sized `small` for quick demos.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=312, num_hidden_layers=4, num_attention_heads=12, intermediate_size=1248, embedding_size=128),
    "small": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=1536, embedding_size=128),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, embedding_size=128),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096, embedding_size=128),
}


# The fields a shape file sets: the model's size and how its layers share weights. A checkpoint's
# config.json works as a shape file too (its vocabulary, labels and names are not read: the
# student's tokenizer and task decide those).
SHAPE_FIELDS = ("embedding_size", "hidden_size", "num_hidden_layers", "num_hidden_groups", "num_attention_heads", "intermediate_size",
                "inner_group_num", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob")


def read_shape(path: Path) -> dict[str, Any]:
    """The shape fields of a JSON file (a preset of one's own, or a checkpoint's config.json)."""
    data = read_json(Path(path), missing="shape file not found; give a preset name or a JSON file of AlbertConfig fields")
    if not isinstance(data, dict):
        raise InputError("a shape file is a JSON object of AlbertConfig fields (hidden_size, num_hidden_layers, ...)", path)
    shape = {k: v for k, v in data.items() if k in SHAPE_FIELDS}
    if not shape:
        raise InputError(f"no shape fields in it; give some of {', '.join(SHAPE_FIELDS)}", path)
    return shape


def preset_config(name: str, *, vocab_size: int = 30000, labels: list[str] | None = None, **overrides: Any) -> AlbertConfig:
    """A config from a named preset (`tiny`, `small`, `base`, `large`) or a shape file (`*.json`:
    `SHAPE_FIELDS` over the defaults of `tiny`, e.g. {"num_hidden_groups": 4} for tiny with four
    distinct layers)."""
    if name in PRESETS:
        kwargs: dict[str, Any] = dict(PRESETS[name])
    elif str(name).endswith(".json"):
        kwargs = {**PRESETS["tiny"], **read_shape(Path(name))}
    else:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)} or give a JSON file of AlbertConfig shape fields")
    kwargs["vocab_size"] = vocab_size
    if labels is not None:
        kwargs["id2label"] = dict(enumerate(labels))
    kwargs.update(overrides)
    config = AlbertConfig(**kwargs)
    config.validate(f"preset {name}")
    return config


def parameter_estimate(config: AlbertConfig) -> int:
    """Learned parameters the config describes (embeddings, projection, distinct layers), from the
    sizes alone: what `validate` bounds before anything is allocated."""
    e, h, i = config.embedding_size, config.hidden_size, config.intermediate_size
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * e + e * h
    layer = 4 * (h * h + h) + 2 * h * i + h + i + 4 * h
    return embeddings + config.num_hidden_groups * config.inner_group_num * layer


def encoder_flops(config: AlbertConfig, seq_len: int) -> int:
    """Floating-point operations (2 x multiply-accumulates) of the encoder for one sequence.

    Counts what edge devices pay: every repetition of a shared layer, with pruned heads and FFN
    neurons removed.
    """
    h, i, n, d = config.hidden_size, config.intermediate_size, seq_len, config.head_dim
    total = 2 * n * config.embedding_size * h
    layers_per_group = config.num_hidden_layers // config.num_hidden_groups
    for rep in range(config.num_hidden_layers):
        group = rep // layers_per_group
        for inner in range(config.inner_group_num):
            a = config.heads_in_layer(group * config.inner_group_num + inner) * d
            total += 2 * n * (3 * h * a + a * h) + 2 * 2 * n * n * a + 2 * n * 2 * h * i
    return total


__all__ = ["AlbertConfig", "PRESETS", "preset_config", "encoder_flops", "parameter_estimate", "REQUIRED_FIELDS", "FIELD_LIMITS"]
