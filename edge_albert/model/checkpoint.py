"""Hugging Face-format checkpoint directories: config.json, model.safetensors, spiece.model.

What we save loads with `transformers.AlbertFor<Task>.from_pretrained(dir)` (sequence and token
classification, question answering, multiple choice, masked LM, pretraining, and the bare
`AlbertModel`) and we load what it saves; the head comes from `architectures` in config.json. A
sentence-embedding model also carries sentence-transformers' module files (`modules.json`,
`1_Pooling/config.json`, `2_Normalize/`), so `SentenceTransformer(dir)` pools as we do, and we read
the pooling of the sentence-transformers ALBERT models users bring. Weights are read from safetensors, or from `pytorch_model.bin` with
`torch.load(weights_only=True)` only: a pickle that needs code to run is refused.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from edge_albert.errors import InputError
from edge_albert.model.albert import (
    ARCHITECTURES,
    AlbertForMaskedLM,
    AlbertForSentenceEmbedding,
    AlbertForSequenceClassification,
    AlbertPreTrainedModel,
    SentencePooling,
    architecture_name,
)
from edge_albert.model.config import AlbertConfig
from edge_albert.staging import staged_directory
from edge_albert.tokenization import TOKENIZER_SETTINGS

CONFIG_NAME = "config.json"
SAFETENSORS_NAME = "model.safetensors"
PICKLE_NAME = "pytorch_model.bin"
SPIECE_NAME = "spiece.model"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
MODULES_NAME = "modules.json"
POOLING_FOLDER = "1_Pooling"
NORMALIZE_FOLDER = "2_Normalize"
_ST = "sentence_transformers.models."


def weights_bytes(directory: Path) -> int:
    """The size of a checkpoint's weights file (safetensors, else the pickle); 0 when it has none."""
    for name in (SAFETENSORS_NAME, PICKLE_NAME):
        if (Path(directory) / name).is_file():
            return (Path(directory) / name).stat().st_size
    return 0


def read_sentence_pooling(directory: Path) -> SentencePooling:
    """The pooling a sentence-transformers folder declares (modules.json and its Pooling module's
    config); mean pooling with normalisation where a checkpoint declares none."""
    from edge_albert.jsonfile import read_json

    directory = Path(directory)
    if not (directory / MODULES_NAME).is_file():
        return SentencePooling()
    modules = read_json(directory / MODULES_NAME)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise InputError("expected a list of modules (sentence-transformers' modules.json)", directory / MODULES_NAME)
    kinds = [str(m.get("type", "")).removeprefix(_ST) for m in modules]
    unsupported = [k for k in kinds if k not in ("Transformer", "Pooling", "Normalize")]
    if unsupported:
        raise InputError(f"sentence-transformers module {unsupported[0]} is not supported; edge-albert embeds with "
                         "Transformer, Pooling and Normalize modules only", directory / MODULES_NAME)
    mode = "mean"
    if "Pooling" in kinds:
        path = directory / str(modules[kinds.index("Pooling")].get("path", POOLING_FOLDER)) / CONFIG_NAME
        pooling = read_json(path, missing="modules.json names a Pooling module without its config")
        if not isinstance(pooling, dict):
            raise InputError("expected a JSON object", path)
        chosen = [k.removeprefix("pooling_mode_").removesuffix("_tokens").removesuffix("_token") for k, v in pooling.items()
                  if k.startswith("pooling_mode_") and v is True]
        if chosen not in (["mean"], ["cls"]):
            raise InputError(f"pooling {'+'.join(chosen) or 'none'} is not supported; edge-albert pools with the mean or the [CLS] token", path)
        mode = chosen[0]
    return SentencePooling(mode, normalize="Normalize" in kinds)


def write_sentence_pooling(directory: Path, pooling: SentencePooling, hidden_size: int, max_length: int) -> None:
    """sentence-transformers' module files for `pooling` (the Transformer module is the folder itself)."""
    modules = [{"idx": 0, "name": "0", "path": "", "type": _ST + "Transformer"},
               {"idx": 1, "name": "1", "path": POOLING_FOLDER, "type": _ST + "Pooling"}]
    if pooling.normalize:
        modules.append({"idx": 2, "name": "2", "path": NORMALIZE_FOLDER, "type": _ST + "Normalize"})
        (directory / NORMALIZE_FOLDER).mkdir()
    (directory / MODULES_NAME).write_text(json.dumps(modules, indent=2) + "\n")
    (directory / POOLING_FOLDER).mkdir()
    config = {"word_embedding_dimension": hidden_size, "pooling_mode_cls_token": pooling.mode == "cls",
              "pooling_mode_mean_tokens": pooling.mode == "mean", "pooling_mode_max_tokens": False,
              "pooling_mode_mean_sqrt_len_tokens": False}
    (directory / POOLING_FOLDER / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_length, "do_lower_case": False}, indent=2) + "\n")


def read_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint directory, never unpickling arbitrary objects."""
    directory = Path(directory)
    st_path, bin_path = directory / SAFETENSORS_NAME, directory / PICKLE_NAME
    if st_path.is_file():
        try:
            return load_file(str(st_path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise InputError(f"corrupt or truncated safetensors file ({exc}); re-save or re-download it", st_path) from None
    if bin_path.is_file():
        try:
            state = torch.load(bin_path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise InputError(
                "refusing to load: this pickle is not weights-only (it would run code); "
                "convert it to model.safetensors with a trusted tool",
                bin_path,
            ) from None
        except (RuntimeError, EOFError, OSError) as exc:
            raise InputError(f"corrupt or truncated PyTorch checkpoint ({exc})", bin_path) from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise InputError("expected a state dict of tensors", bin_path)
        return state
    raise InputError(f"no {SAFETENSORS_NAME} or {PICKLE_NAME} found; is this a checkpoint directory?", directory)


def _architecture(config: AlbertConfig, requested: type[AlbertPreTrainedModel] | None) -> type[AlbertPreTrainedModel]:
    if requested is not None:
        return requested
    names = config.architectures or []
    for name in names:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
    if names:
        # Loading another head as a classifier would silently drop its weights and answer nonsense.
        raise InputError(f"config.json names architecture {', '.join(names)}; edge-albert handles {', '.join(sorted(ARCHITECTURES))}")
    return AlbertForSequenceClassification


def load_model(
    directory: Path,
    model_class: type[AlbertPreTrainedModel] | None = None,
    *,
    new_head_ok: bool = False,
    labels: list[str] | None = None,
) -> AlbertPreTrainedModel:
    """Load a model from a checkpoint directory.

    `new_head_ok` lets a sequence classifier start from a pretraining checkpoint, or from a
    classifier with other `labels`: the encoder weights load, the classifier keeps its fresh
    initialisation. Any other missing, unexpected or mis-shaped tensor is an error naming the file
    and the key.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("not a directory; pass a checkpoint directory holding config.json", directory)
    config = AlbertConfig.load(directory / CONFIG_NAME)
    if labels is not None:
        config = config.replace(id2label=dict(enumerate(labels)))
    cls = _architecture(config, model_class)
    state = read_state_dict(directory)
    weights_file = directory / (SAFETENSORS_NAME if (directory / SAFETENSORS_NAME).is_file() else PICKLE_NAME)

    # Shapes are checked on a model without storage (meta device) first: a config that disagrees
    # with its weights file is refused before gigabytes are allocated for it.
    with torch.device("meta"):
        expected = cls(config).state_dict()
    tied = getattr(cls, "tied_keys", {})
    # Hugging Face's legacy files carry these buffers; they are derived, not learned.
    state = {k: v for k, v in state.items() if not k.endswith(("position_ids", "embeddings.token_type_ids"))}
    if cls is AlbertForMaskedLM:
        # Hugging Face's masked-LM files saved from a pretraining model (albert-base-v2's) carry
        # the pooler and the sentence-order head; transformers ignores them on load, so do we.
        state = {k: v for k, v in state.items() if not k.startswith(("albert.pooler.", "sop_classifier."))}
    # A base-model file (transformers' AlbertModel, a sentence encoder) names its tensors without the
    # "albert." a task head puts before them; as transformers' base_model_prefix does, a head model
    # takes such a file's encoder (its head is then missing: refused unless `new_head_ok`).
    prefix = getattr(cls, "file_prefix", "") or ("albert." if any(k.startswith("albert.") for k in expected) else "")
    if prefix and not any(k.startswith(prefix) for k in state):
        state = {prefix + k: v for k, v in state.items()}
    head_prefixes = ("classifier.", "qa_outputs.", "predictions.", "sop_classifier.", "albert.pooler.", "dropout.")

    unexpected = [k for k in state if k not in expected]
    if unexpected and not (new_head_ok and all(k.startswith(head_prefixes) for k in unexpected)):
        raise InputError(f"unexpected tensor(s) {', '.join(sorted(unexpected)[:3])}: not an ALBERT of this config", weights_file)
    missing = [k for k in expected if k not in state and k not in tied]
    if missing and not (new_head_ok and all(k.startswith(head_prefixes) for k in missing)):
        raise InputError(f"missing tensor(s) {', '.join(sorted(missing)[:3])}", weights_file)
    if new_head_ok:
        state = {k: v for k, v in state.items() if not (k.startswith(head_prefixes) and k in expected and v.shape != expected[k].shape)}
    for key, tensor in state.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise InputError(
                f"shape mismatch for {key}: file has {tuple(tensor.shape)}, config.json implies "
                f"{tuple(expected[key].shape)}",
                weights_file,
            )
    model = cls(config, read_sentence_pooling(directory)) if cls is AlbertForSentenceEmbedding else cls(config)
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    model.eval()
    return model


def _safetensors_state(model: AlbertPreTrainedModel) -> dict[str, torch.Tensor]:
    tied = getattr(type(model), "tied_keys", {})
    prefix = getattr(type(model), "file_prefix", "")
    return {k.removeprefix(prefix): v.detach().contiguous().clone() for k, v in model.state_dict().items() if k not in tied}


def save_model(
    model: AlbertPreTrainedModel,
    directory: Path,
    *,
    tokenizer_model: Path | None = None,
    force: bool = False,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write a Hugging Face-format checkpoint directory, atomically (staged, then renamed)."""
    directory = Path(directory)
    config = model.config.replace(architectures=[architecture_name(type(model))])
    with staged_directory(directory, force=force) as stage:
        config.save(stage / CONFIG_NAME)
        save_file(_safetensors_state(model), str(stage / SAFETENSORS_NAME), metadata={"format": "pt"})
        if isinstance(model, AlbertForSentenceEmbedding):
            write_sentence_pooling(stage, model.pooling, config.hidden_size, min(512, config.max_position_embeddings))
        if tokenizer_model is not None:
            shutil.copyfile(tokenizer_model, stage / SPIECE_NAME)
            (stage / TOKENIZER_CONFIG_NAME).write_text(json.dumps(tokenizer_config(config), indent=2) + "\n")
        for name, text in (extra_files or {}).items():
            (stage / name).write_text(text)
    return directory


def tokenizer_config(config: AlbertConfig) -> dict:
    """What `transformers.AutoTokenizer` needs to rebuild ALBERT's tokenizer from spiece.model."""
    return {"tokenizer_class": "AlbertTokenizer", **TOKENIZER_SETTINGS, "model_max_length": config.max_position_embeddings}


__all__ = ["load_model", "save_model", "read_state_dict", "read_sentence_pooling", "write_sentence_pooling", "tokenizer_config", "CONFIG_NAME", "SAFETENSORS_NAME", "SPIECE_NAME"]
