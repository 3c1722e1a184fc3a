"""Bundle format: a zip holding `manifest.json`, `spiece.model`, `labels.json` and the models.

Reading needs only the standard library (and `cryptography` to check a signature), so the
on-device runtime can verify bundles without torch or tensorflow. Bundles are read in memory:
nothing is extracted, so no member can be written anywhere, and member names that would escape
a directory are rejected outright all the same.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edge_albert.errors import InputError
from edge_albert.jsonfile import check_schema, parse_json

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.sig"
MAX_MEMBER_BYTES = 2 << 30
MAX_BUNDLE_BYTES = 4 << 30
MAX_MANIFEST_BYTES = 16 << 20
MAX_SIGNATURE_BYTES = 4096
# Model weights barely deflate (fp32 ~1.1x, int8 ~1.3x; magnitude-pruned zeros a few x); only
# crafted data inflates hundreds of times. Checked for members over 1 MiB.
MAX_COMPRESSION_RATIO = 100


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
    if isinstance(public_key, (str, Path)):
        try:
            key_bytes = Path(public_key).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the public key ({exc.strerror})", public_key) from None
    else:
        key_bytes = public_key
    try:
        key = load_pem_public_key(key_bytes)
        key.verify(signature, manifest_bytes)
    except InvalidSignature:
        raise InputError("manifest signature does not match the public key; the bundle was altered or signed by someone else", path) from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot check the signature ({exc})", path) from None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise InputError(f"corrupted bundle: member {info.filename} cannot be read ({str(exc)[:120]}); rebuild it with `edge-albert package`", path) from None


def _check_manifest(manifest: object, path: Path) -> dict:
    check_schema(manifest, "edge_albert.packaging", "manifest.schema.json", path, "manifest.json")
    assert isinstance(manifest, dict)  # the schema says so
    if manifest["format_version"] > FORMAT_VERSION:
        raise InputError(f"bundle format version {manifest['format_version']} is newer than this runtime supports ({FORMAT_VERSION}); upgrade edge-albert", path)
    for i, entry in enumerate(manifest["models"]):
        if entry["file"] not in manifest["files"]:
            raise InputError(f"manifest.json: field models[{i}].file: {entry['file']!r} is not listed under files", path)
    return manifest


def read_bundle(path: Path, *, public_key: Path | bytes | None = None) -> BundleContents:
    """Open and verify a bundle: manifest schema and format version, sha256 of every file, optional signature.

    The manifest is read and checked first, and only the members it lists are inflated, each
    within its declared size, the total within MAX_BUNDLE_BYTES and at a compression ratio a model
    can have: a zip bomb is refused before it costs memory.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("bundle not found", path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, UnicodeDecodeError, struct.error) as exc:
        raise InputError(f"not a readable bundle (zip) file ({str(exc)[:120]}); it may be truncated", path) from None
    with archive:
        infos = archive.infolist()
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            _safe_name(info.filename, path)
            if info.filename in members:
                raise InputError(f"member {info.filename} appears twice; refusing the bundle", path)
            members[info.filename] = info
        if MANIFEST_NAME not in members:
            raise InputError("no manifest.json: not an edge-albert bundle", path)
        for name, limit in ((MANIFEST_NAME, MAX_MANIFEST_BYTES), (SIGNATURE_NAME, MAX_SIGNATURE_BYTES)):
            if name in members and members[name].file_size > limit:
                raise InputError(f"{name} is implausibly large ({members[name].file_size} bytes)", path)
        manifest_bytes = _read_member(archive, members[MANIFEST_NAME], path)
        manifest = _check_manifest(parse_json(manifest_bytes, f"{path}: manifest.json"), path)
        listed = manifest["files"]
        unlisted = set(members) - set(listed) - {MANIFEST_NAME, SIGNATURE_NAME}
        if unlisted:
            raise InputError(f"bundle holds files the manifest does not list: {', '.join(sorted(unlisted)[:5])}", path)
        total = 0
        for name, entry in listed.items():
            info = members.get(name)
            if info is None:
                raise InputError(f"manifest lists {name} but the bundle lacks it", path)
            if info.file_size != entry["size"]:
                raise InputError(f"member {name} is {info.file_size} bytes but the manifest says {entry['size']}: the bundle was altered or damaged", path)
            if info.file_size > MAX_MEMBER_BYTES:
                raise InputError(f"member {name} is implausibly large ({info.file_size} bytes)", path)
            if info.file_size > 1 << 20 and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                raise InputError(f"member {name} inflates {info.file_size / max(info.compress_size, 1):.0f}x (no model compresses past "
                                 f"{MAX_COMPRESSION_RATIO}x); refusing a likely zip bomb", path)
            total += info.file_size
        if total > MAX_BUNDLE_BYTES:
            raise InputError(f"members add up to {total} bytes, over the {MAX_BUNDLE_BYTES} a bundle may hold", path)
        files = {}
        for name, entry in listed.items():
            data = _read_member(archive, members[name], path)
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise InputError(f"checksum mismatch for {name}: the bundle was altered or damaged", path)
            files[name] = data
        signature = _read_member(archive, members[SIGNATURE_NAME], path) if SIGNATURE_NAME in members else None
    files[MANIFEST_NAME] = manifest_bytes
    if signature is not None:
        files[SIGNATURE_NAME] = signature
    if public_key is not None:
        if signature is None:
            raise InputError("a public key was given but the bundle is not signed", path)
        verify_signature(manifest_bytes, signature, public_key, path)
    return BundleContents(path, manifest, files)


__all__ = ["read_bundle", "BundleContents", "FORMAT_VERSION", "MANIFEST_NAME", "SIGNATURE_NAME", "verify_signature"]
