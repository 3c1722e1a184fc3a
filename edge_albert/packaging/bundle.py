"""`edge-albert package`: models + tokenizer + labels + manifest (checksums, input spec,
preprocessing, metrics, tool versions) in one zip, optionally signed with ed25519."""

from __future__ import annotations

import hashlib
import json
import platform
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

from edge_albert import __version__
from edge_albert.errors import InputError
from edge_albert.packaging.manifest import FORMAT_VERSION, MANIFEST_NAME, SIGNATURE_NAME
from edge_albert.runtimes import FILE_RUNTIMES, open_session
from edge_albert.staging import staged_file
from edge_albert.tasks import get_task
from edge_albert.tokenization import AlbertTokenizer

@dataclass
class BundleResult:
    path: Path
    size_bytes: int
    manifest: dict


def _model_metadata(path: Path) -> dict:
    """Our metadata of a model file, after proving its runtime loads it and its output fits."""
    session = open_session(path)  # InputError naming the file when the runtime cannot load it
    meta = session.metadata
    width = get_task(str(meta.get("task", "text-classification"))).output_width(meta)
    if width is not None and session.output_classes is not None and session.output_classes != width:
        what = f"a {width}-wide embedding" if meta.get("embedding") else f"{len(meta.get('labels') or [])} labels"
        raise InputError(f"outputs {session.output_classes} values per example but its metadata gives {what}", path)
    return meta


def tool_versions() -> dict[str, str]:
    out = {"edge-albert": __version__, "python": platform.python_version()}
    for name in ("torch", "onnx", "onnxruntime", "ai-edge-litert", "litert-torch", "ai-edge-quantizer", "executorch", "sentencepiece", "numpy"):
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


def build_bundle(
    models: Sequence[Path],
    tokenizer: Path,
    output: Path,
    *,
    metrics: dict[str, dict] | None = None,
    signing_key: Path | None = None,
    force: bool = False,
) -> BundleResult:
    """Write a bundle. Every model must carry our metadata and share the tokenizer's sha256."""
    if not models:
        raise InputError("give at least one .onnx, .tflite or .pte model to package")
    tok = AlbertTokenizer(tokenizer)
    entries, files, labels, task, embedding = [], {}, None, None, None
    for model_path in map(Path, models):
        if model_path.suffix not in FILE_RUNTIMES:
            raise InputError("expected a .onnx, .tflite or .pte file", model_path)
        if not model_path.is_file():
            raise InputError("model file not found", model_path)
        meta = _model_metadata(model_path)
        if not meta.get("labels"):
            raise InputError("has no edge-albert metadata (labels); convert it with `edge-albert convert`", model_path)
        if meta.get("tokenizer_sha256") and meta["tokenizer_sha256"] != tok.sha256:
            raise InputError(f"was built with another tokenizer (sha256 {meta['tokenizer_sha256'][:12]}..., given {tok.sha256[:12]}...)", model_path)
        model_task = get_task(str(meta.get("task", "text-classification"))).name
        if task is not None and model_task != task:
            raise InputError(f"is a {model_task} model but the other models are {task}; a bundle holds one task", model_path)
        task = model_task
        if labels is not None and meta["labels"] != labels:
            raise InputError(f"labels {meta['labels']} differ from the other models' {labels}", model_path)
        labels = meta["labels"]
        if meta.get("embedding"):
            if embedding is not None and meta["embedding"] != embedding:
                raise InputError(f"embeds as {meta['embedding']}, the other models as {embedding}", model_path)
            embedding = meta["embedding"]
        name = f"models/{model_path.name}"
        if name in files:
            raise InputError("two models share the file name; rename one", model_path)
        files[name] = model_path.read_bytes()
        entries.append({
            "file": name,
            "format": model_path.suffix[1:],
            "backend": FILE_RUNTIMES[model_path.suffix],
            "precision": meta.get("precision", "float32"),
            "recipe": meta.get("recipe"),
            "inputs": {
                "names": meta.get("inputs", ["input_ids", "attention_mask", "token_type_ids"]),
                "dtype": meta.get("input_dtype", "int64" if FILE_RUNTIMES[model_path.suffix] == "onnxruntime" else "int32"),
                "max_length": meta.get("max_length", 128),
                "buckets": meta.get("buckets"),
            },
            "metrics": (metrics or {}).get(str(model_path)) or (metrics or {}).get(model_path.name),
        })
    if task == "feature-extraction" and embedding is None:
        raise InputError("a sentence-embedding model needs its embedding metadata (width, pooling); re-export it with this edge-albert", models[0])
    files["spiece.model"] = tok.model_proto
    files["labels.json"] = (json.dumps(labels, indent=2) + "\n").encode()
    manifest = {
        "format_version": FORMAT_VERSION,
        "task": task,
        "labels": labels,
        **({"embedding": embedding} if embedding else {}),
        "models": entries,
        "tokenizer": {"file": "spiece.model", "sha256": tok.sha256, "vocab_size": tok.vocab_size},
        "preprocessing": {"lowercase": tok.do_lower_case, "keep_accents": tok.keep_accents, "truncation": "longest_first",
                          "template": "[CLS] A [SEP] (B [SEP])"},
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for name, data in sorted(files.items())},
        "tool_versions": tool_versions(),
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    signature = _sign(manifest_bytes, signing_key) if signing_key else None
    output = Path(output)
    with staged_file(output, force=force) as stage:
        with zipfile.ZipFile(stage, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST_NAME, manifest_bytes)
            if signature is not None:
                archive.writestr(SIGNATURE_NAME, signature)
            for name, data in sorted(files.items()):
                archive.writestr(name, data)
    return BundleResult(output, output.stat().st_size, manifest)


def _sign(manifest_bytes: bytes, key_path: Path) -> bytes:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:
        raise InputError("signing needs the `cryptography` package (pip install cryptography)") from None
    try:
        key = load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise InputError(f"not a PEM private key ({exc})", key_path) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("signing key must be ed25519", key_path)
    return key.sign(manifest_bytes)


def generate_signing_key(private_path: Path, public_path: Path, *, force: bool = False) -> None:
    """Write a new ed25519 key pair as PEM files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    with staged_file(Path(private_path), force=force) as stage:
        stage.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with staged_file(Path(public_path), force=force) as stage:
        stage.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


__all__ = ["build_bundle", "BundleResult", "generate_signing_key", "tool_versions"]
