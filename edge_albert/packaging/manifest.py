"""Bundle format: a zip holding `manifest.json`, `spiece.model`, `labels.json` and the models.

Reading needs only the standard library (and `cryptography` to check a signature), so the
on-device runtime can verify bundles without torch or tensorflow. Bundles are read in memory:
nothing is extracted, so no member can be written anywhere, and member names that would escape
a directory are rejected outright all the same.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edge_albert.errors import InputError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.sig"
MAX_MEMBER_BYTES = 2 << 30


@dataclass
class BundleContents:
    path: Path
    manifest: dict
    files: dict[str, bytes]

    def model_entry(self, backend: str | None) -> dict:
        models = self.manifest["models"]
        if backend is None:
            return models[0]
        for entry in models:
            if entry["backend"] == backend:
                return entry
        have = ", ".join(sorted({m["backend"] for m in models}))
        raise InputError(f"bundle has no model for backend {backend!r} (it has: {have})", self.path)


def _safe_name(name: str, path: Path) -> None:
    pure = PurePosixPath(name)
    unsafe = (
        pure.is_absolute()
        or ".." in pure.parts
        or "\\" in name  # Windows separators would escape on extraction there
        or (bool(pure.parts) and ":" in pure.parts[0])  # drive letters
    )
    if unsafe:
        raise InputError(f"unsafe member name {name!r} (escapes the bundle directory); refusing the bundle", path)


def verify_signature(manifest_bytes: bytes, signature: bytes, public_key: Path | bytes, path: Path) -> None:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError:
        raise InputError("checking a signature needs the `cryptography` package (pip install cryptography)") from None
    key_bytes = Path(public_key).read_bytes() if isinstance(public_key, (str, Path)) else public_key
    try:
        key = load_pem_public_key(key_bytes)
        key.verify(signature, manifest_bytes)
    except InvalidSignature:
        raise InputError("manifest signature does not match the public key; the bundle was altered or signed by someone else", path) from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot check the signature ({exc})", path) from None


def read_bundle(path: Path, *, public_key: Path | bytes | None = None) -> BundleContents:
    """Open and verify a bundle: format version, sha256 of every file, optional signature."""
    path = Path(path)
    if not path.is_file():
        raise InputError("bundle not found", path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"not a readable bundle (zip) file ({exc}); it may be truncated", path) from None
    with archive:
        infos = archive.infolist()
        for info in infos:
            _safe_name(info.filename, path)
            if info.file_size > MAX_MEMBER_BYTES:
                raise InputError(f"member {info.filename} is implausibly large ({info.file_size} bytes)", path)
        names = {i.filename for i in infos}
        if MANIFEST_NAME not in names:
            raise InputError("no manifest.json: not an edge-albert bundle", path)
        try:
            files = {name: archive.read(name) for name in names}
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(f"corrupted bundle ({exc}); rebuild it with `edge-albert package`", path) from None
    try:
        manifest = json.loads(files[MANIFEST_NAME].decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"manifest.json is not valid JSON ({exc})", path) from None
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise InputError("manifest.json has no integer format_version", path)
    if version > FORMAT_VERSION:
        raise InputError(f"bundle format version {version} is newer than this runtime supports ({FORMAT_VERSION}); upgrade edge-albert", path)
    for name, entry in manifest.get("files", {}).items():
        if name not in files:
            raise InputError(f"manifest lists {name} but the bundle lacks it", path)
        if hashlib.sha256(files[name]).hexdigest() != entry.get("sha256"):
            raise InputError(f"checksum mismatch for {name}: the bundle was altered or damaged", path)
    unlisted = names - set(manifest.get("files", {})) - {MANIFEST_NAME, SIGNATURE_NAME}
    if unlisted:
        raise InputError(f"bundle holds files the manifest does not list: {', '.join(sorted(unlisted))}", path)
    if not manifest.get("models"):
        raise InputError("manifest lists no models", path)
    if public_key is not None:
        if SIGNATURE_NAME not in files:
            raise InputError("a public key was given but the bundle is not signed", path)
        verify_signature(files[MANIFEST_NAME], files[SIGNATURE_NAME], public_key, path)
    return BundleContents(path, manifest, files)


__all__ = ["read_bundle", "BundleContents", "FORMAT_VERSION", "MANIFEST_NAME", "SIGNATURE_NAME", "verify_signature"]
