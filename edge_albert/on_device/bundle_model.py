"""What every on-device predictor shares: the model file of a bundle opened with its runtime, the
bundle's tokenizer and labels, the task the bundle records, and the checks on input texts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.packaging.manifest import BundleContents
from edge_albert.runtimes import FILE_RUNTIMES, open_session
from edge_albert.tasks import Task, get_task
from edge_albert.tokenization import AlbertTokenizer, Encoding, pad_encodings


def check_text(text: object, what: str) -> None:
    """A text must be a str that encodes as UTF-8 (command-line arguments with invalid bytes
    arrive as lone surrogates, which sentencepiece cannot take)."""
    if not isinstance(text, str):
        raise InputError(f"{what} is a {type(text).__name__}, expected a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what} is not valid UTF-8 (character {exc.start} is a lone surrogate)") from None


def bundle_task(bundle: BundleContents) -> Task:
    """The task a bundle records (bundles written before tasks existed are classifiers)."""
    return get_task(str(bundle.manifest.get("task", "text-classification")))


class BundleModel:
    """One model of a bundle, ready to run: `session.run(batch)`, `tokenizer`, `labels`, `max_length`."""

    def __init__(self, bundle: BundleContents, backend: str | None, *, threads: int, task: str) -> None:
        self.task = bundle_task(bundle)
        if self.task.name != task:
            raise InputError(f"the bundle holds a {self.task.name} model, not {task}; open it with edge_albert.on_device.open_predictor", bundle.path)
        entry = bundle.model_entry(backend)
        content = bundle.files[entry["file"]]
        name = Path(f"{bundle.path}!{entry['file']}")
        if entry["backend"] not in FILE_RUNTIMES.values():
            raise InputError(f"unknown backend {entry['backend']!r} in the manifest", bundle.path)
        self.session = open_session(name, entry["backend"], threads=threads, content=content)
        pre = bundle.manifest.get("preprocessing", {})
        self.tokenizer = AlbertTokenizer(model_proto=bundle.files["spiece.model"], do_lower_case=pre.get("lowercase", True),
                                         keep_accents=pre.get("keep_accents", False))
        self.labels: list[str] = bundle.manifest["labels"]
        self.max_length = int(entry["inputs"]["max_length"])
        self.backend: str = entry["backend"]
        self.manifest = bundle.manifest
        self.model_entry = entry
        classes = self.session.output_classes
        self.dimension = int((bundle.manifest.get("embedding") or {}).get("dimension", 0))
        expected = self.task.output_width(bundle.manifest)
        if classes is not None and expected is not None and classes != expected:
            what = f"the manifest's {expected}-wide embedding" if self.dimension else f"the manifest's {len(self.labels)} labels"
            raise InputError(f"{entry['file']} outputs {classes} values per example, not {what}", bundle.path)


def run_rows(session, texts: Sequence[str], encodings: Sequence[Encoding], pad_id: int) -> np.ndarray:
    """One batch of outputs: the texts themselves for a file that tokenizes inside its graph
    (`convert --with-tokenizer`), their padded encodings for any other."""
    if getattr(session, "takes_text", False):
        return session.run_text(list(texts))
    return session.run(pad_encodings(list(encodings), pad_id))


def check_batch_size(batch_size: object) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")


def text_list(texts: object, what: str = "texts") -> list[str]:
    """`texts` as a list of checked strings (a bare string is refused: it would be read as characters)."""
    if isinstance(texts, str):
        raise InputError(f"{what} takes a list of texts, not a single string")
    out = list(texts)  # type: ignore[call-overload]
    for i, text in enumerate(out):
        check_text(text, f"text {i}")
    return out


__all__ = ["BundleModel", "bundle_task", "check_text", "check_batch_size", "run_rows", "text_list"]
