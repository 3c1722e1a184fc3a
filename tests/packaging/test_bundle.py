"""Bundles: manifest with checksums, signatures, and every kind of bad bundle refused cleanly."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest

from edge_albert.errors import InputError
from edge_albert.packaging.bundle import build_bundle, generate_signing_key
from edge_albert.packaging.manifest import FORMAT_VERSION, read_bundle


def rewrite(src, dst, *, drop=(), replace=None, extra=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info.filename)
            if replace and info.filename in replace:
                data = replace[info.filename](data)
            zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def test_manifest_describes_everything(bundle):
    contents = read_bundle(bundle)
    m = contents.manifest
    assert m["format_version"] == FORMAT_VERSION
    assert m["labels"] == ["negative", "positive"]
    assert [e["backend"] for e in m["models"]] == ["onnxruntime", "litert"]
    assert m["models"][1]["inputs"]["buckets"] == [32, 64, 128] and m["models"][1]["inputs"]["dtype"] == "int32"
    assert m["models"][0]["inputs"]["dtype"] == "int64"
    for name, entry in m["files"].items():
        assert hashlib.sha256(contents.files[name]).hexdigest() == entry["sha256"]
    assert {"edge-albert", "onnxruntime", "numpy"} <= set(m["tool_versions"])
    assert m["preprocessing"]["lowercase"] is True


def test_checksum_mismatch(tmp_path, bundle):
    bad = rewrite(bundle, tmp_path / "b.zip", replace={"spiece.model": lambda d: d[:-1] + bytes([d[-1] ^ 1])})
    with pytest.raises(InputError, match="checksum mismatch for spiece.model"):
        read_bundle(bad)


def test_truncated_zip(tmp_path, bundle):
    bad = tmp_path / "t.eabundle"
    bad.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated|corrupted"):
        read_bundle(bad)


def test_newer_format_version(tmp_path, bundle):
    bump = lambda d: json.dumps({**json.loads(d), "format_version": FORMAT_VERSION + 1}).encode()  # noqa: E731
    bad = rewrite(bundle, tmp_path / "v.zip", replace={"manifest.json": bump})
    with pytest.raises(InputError, match="newer than this runtime supports"):
        read_bundle(bad)


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "models/../../evil", "C:\\evil"])
def test_zip_slip_member_is_refused_and_nothing_written(tmp_path, bundle, name):
    bad = rewrite(bundle, tmp_path / "z.zip", extra={name: b"x"})
    with pytest.raises(InputError, match="unsafe member name"):
        read_bundle(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.zip"]


def test_unlisted_member(tmp_path, bundle):
    bad = rewrite(bundle, tmp_path / "u.zip", extra={"models/extra.onnx": b"x"})
    with pytest.raises(InputError, match="does not list"):
        read_bundle(bad)


def test_missing_backend(tmp_path, trained_checkpoint, trained_artifacts):
    only_onnx = build_bundle([trained_artifacts["onnx"]], trained_checkpoint / "spiece.model", tmp_path / "o.eabundle")
    with pytest.raises(InputError, match="no model for backend 'litert'"):
        read_bundle(only_onnx.path).model_entry("litert")


def test_signed_bundle(tmp_path, trained_checkpoint, trained_artifacts):
    generate_signing_key(tmp_path / "key.pem", tmp_path / "key.pub")
    signed = build_bundle([trained_artifacts["onnx"]], trained_checkpoint / "spiece.model", tmp_path / "s.eabundle", signing_key=tmp_path / "key.pem").path
    read_bundle(signed, public_key=tmp_path / "key.pub")
    generate_signing_key(tmp_path / "other.pem", tmp_path / "other.pub")
    with pytest.raises(InputError, match="signature does not match"):
        read_bundle(signed, public_key=tmp_path / "other.pub")
    # A manifest edited after signing (checksums updated to hide it) still fails the signature.
    tamper = lambda d: json.dumps({**json.loads(d), "labels": ["pos", "neg"]}).encode()  # noqa: E731
    bad = rewrite(signed, tmp_path / "t.zip", replace={"manifest.json": tamper})
    with pytest.raises(InputError, match="signature does not match"):
        read_bundle(bad, public_key=tmp_path / "key.pub")
    with pytest.raises(InputError, match="cannot read the public key"):
        read_bundle(signed, public_key=tmp_path / "missing.pub")
    unsigned = build_bundle([trained_artifacts["onnx"]], trained_checkpoint / "spiece.model", tmp_path / "u.eabundle").path
    with pytest.raises(InputError, match="not signed"):
        read_bundle(unsigned, public_key=tmp_path / "key.pub")


def test_model_from_another_tokenizer_is_refused(tmp_path, trained_artifacts, spiece_model, sst2_train):
    from edge_albert.tokenization import train_tokenizer

    other = train_tokenizer([s for _, s in sst2_train[:3000]], tmp_path / "other.model", vocab_size=500)
    with pytest.raises(InputError, match="another tokenizer"):
        build_bundle([trained_artifacts["onnx"]], other, tmp_path / "x.eabundle")
    assert not (tmp_path / "x.eabundle").exists()


def _unloadable_onnx(src, dst):
    """Our metadata intact, one node an op no runtime has: parses as ONNX, ONNX Runtime refuses it."""
    import onnx

    model = onnx.load(str(src))
    model.graph.node[0].op_type = "NoSuchOp"
    onnx.save(model, str(dst))
    return dst


BROKEN_MODELS = {
    "garbage.onnx": lambda src, dst: dst.write_bytes(b"\x08\x07garbage" * 100),
    "truncated.onnx": lambda src, dst: dst.write_bytes(src["onnx"].read_bytes()[:5000]),
    "unloadable.onnx": lambda src, dst: _unloadable_onnx(src["onnx"], dst),
    "garbage.tflite": lambda src, dst: dst.write_bytes(b"TFL3" + b"\x00garbage" * 100),
    "truncated.tflite": lambda src, dst: dst.write_bytes(src["tflite"].read_bytes()[:5000]),
}


@pytest.mark.parametrize("name", sorted(BROKEN_MODELS))
def test_package_refuses_a_model_its_runtime_cannot_load(tmp_path, trained_checkpoint, trained_artifacts, name):
    model = tmp_path / name
    BROKEN_MODELS[name](trained_artifacts, model)
    with pytest.raises(InputError, match="cannot load it") as err:
        build_bundle([model], trained_checkpoint / "spiece.model", tmp_path / "b.eabundle")
    assert str(model) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "b.eabundle").exists()


def test_package_never_replaces_a_directory(tmp_path, trained_checkpoint, trained_artifacts):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(InputError, match="is a directory"):
        build_bundle([trained_artifacts["onnx"]], trained_checkpoint / "spiece.model", target, force=True)
    assert (target / "keep").read_text() == "x"
