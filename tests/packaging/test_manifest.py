"""The bundle reader against hostile bundles: hand-edited manifests, zip bombs, and a fuzz of bit
flips and truncations of a real bundle. Every refusal is one InputError (exit 2 in the CLI);
nothing else escapes, and nothing is inflated that the manifest does not list."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from edge_albert.cli import main
from edge_albert.errors import InputError
from edge_albert.on_device import Classifier
from edge_albert.packaging import manifest as manifest_module
from edge_albert.packaging.manifest import read_bundle
from tests.json_edits import dropping, setting
from tests.packaging.test_bundle import rewrite


def edit_manifest(src, dst, edit):
    """Rewrite the bundle with `edit(manifest) -> new manifest` applied."""
    return rewrite(src, dst, replace={"manifest.json": lambda d: json.dumps(edit(json.loads(d))).encode()})


# Hand edits of manifest.json: what field the one-line error must name.
HOSTILE_MANIFESTS = {
    "a list": (lambda m: [m], "(top level)"),
    "a string": (lambda m: "manifest", "(top level)"),
    "null": (lambda m: None, "(top level)"),
    "labels empty": (setting(["labels"], []), "labels"),
    "labels not strings": (setting(["labels"], ["negative", 1]), "labels[1]"),
    "models empty": (setting(["models"], []), "models"),
    "model a string": (setting(["models", 0], "models/model.onnx"), "models[0]"),
    "model without file": (dropping(["models", 0, "file"]), "models[0]"),
    "file not listed": (setting(["models", 0, "file"], "models/nothere.onnx"), "models[0].file"),
    "max_length a string": (setting(["models", 0, "inputs", "max_length"], "128"), "models[0].inputs.max_length"),
    "max_length a float": (setting(["models", 0, "inputs", "max_length"], 12.5), "models[0].inputs.max_length"),
    "max_length negative": (setting(["models", 0, "inputs", "max_length"], -1), "models[0].inputs.max_length"),
    "inputs null": (setting(["models", 0, "inputs"], None), "models[0].inputs"),
    "unknown backend": (setting(["models", 0, "backend"], "tensorrt"), "models[0].backend"),
    "format_version a string": (setting(["format_version"], "1"), "format_version"),
    "format_version zero": (setting(["format_version"], 0), "format_version"),
    "files a list": (setting(["files"], []), "files"),
    "size not an integer": (setting(["files", "spiece.model", "size"], "274471"), "files.spiece.model.size"),
    "sha256 missing": (dropping(["files", "spiece.model", "sha256"]), "files.spiece.model"),
    "tokenizer unlisted": (dropping(["files", "spiece.model"]), "files"),
    "preprocessing flag a string": (setting(["preprocessing", "lowercase"], "yes"), "preprocessing.lowercase"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MANIFESTS))
def test_hand_edited_manifest_is_refused_naming_the_field(tmp_path, bundle, case):
    edit, field = HOSTILE_MANIFESTS[case]
    bad = edit_manifest(bundle, tmp_path / "m.eabundle", edit)
    with pytest.raises(InputError) as err:
        read_bundle(bad)
    message = str(err.value)
    assert "\n" not in message and str(bad) in message
    assert f"field {field}:" in message


def test_manifest_with_nan_is_refused(tmp_path, bundle):
    bad = rewrite(bundle, tmp_path / "n.eabundle", replace={"manifest.json": lambda d: d.replace(b'"format_version": 1', b'"format_version": NaN')})
    with pytest.raises(InputError, match="NaN is not a JSON number"):
        read_bundle(bad)


@pytest.mark.parametrize("backend", ["onnxruntime", "litert"])
def test_labels_that_disagree_with_the_model_output_are_refused(tmp_path, bundle, backend):
    bad = edit_manifest(bundle, tmp_path / "l.eabundle", setting(["labels"], ["negative", "neutral", "positive"]))
    read_bundle(bad)  # the manifest alone is well-formed
    with pytest.raises(InputError, match="outputs 2 values per example, not the manifest's 3 labels"):
        Classifier.from_bundle(bad, backend)


def test_bit_flip_in_a_deflate_stream_is_one_line(tmp_path, bundle):
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo("spiece.model")
    # The member's data starts after its local header (30 bytes + name + extra).
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 10] ^= 0xFF
    bad = tmp_path / "f.eabundle"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupted bundle|checksum mismatch"):
        read_bundle(bad)


def _bomb(tmp_path, bundle, *, listed: bool, size: int = 64 << 20):
    """The real bundle plus a highly compressible member, listed in the manifest or not."""
    zeros = bytes(size)
    entry = {"sha256": hashlib.sha256(zeros).hexdigest(), "size": size}
    out = tmp_path / "bomb.eabundle"
    with zipfile.ZipFile(bundle) as zin, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "manifest.json" and listed:
                m = json.loads(data)
                m["files"]["models/big.bin"] = entry
                data = json.dumps(m).encode()
            zout.writestr(info.filename, data)
        zout.writestr("models/big.bin", zeros)
    return out


@pytest.fixture
def reads(monkeypatch):
    """The members the reader inflates."""
    names: list[str] = []
    original = zipfile.ZipFile.read

    def read(self, name, pwd=None):
        names.append(name if isinstance(name, str) else name.filename)
        return original(self, name, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "read", read)
    return names


@pytest.mark.parametrize("listed, message", [(False, "does not list: models/big.bin"), (True, "likely zip bomb")])
def test_a_bomb_member_is_refused_before_it_is_inflated(tmp_path, bundle, reads, listed, message):
    bad = _bomb(tmp_path, bundle, listed=listed)
    reads.clear()
    with pytest.raises(InputError, match=message):
        read_bundle(bad)
    assert reads == ["manifest.json"]


def test_total_size_is_capped(tmp_path, bundle, monkeypatch):
    total = sum(e["size"] for e in read_bundle(bundle).manifest["files"].values())
    monkeypatch.setattr(manifest_module, "MAX_BUNDLE_BYTES", total)
    read_bundle(bundle)  # exactly at the cap: fine
    monkeypatch.setattr(manifest_module, "MAX_BUNDLE_BYTES", total - 1)
    with pytest.raises(InputError, match="over the"):
        read_bundle(bundle)


def test_declared_size_must_match_the_member(tmp_path, bundle):
    bad = edit_manifest(bundle, tmp_path / "s.eabundle", lambda m: setting(["files", "spiece.model", "size"], m["files"]["spiece.model"]["size"] + 1)(m))
    with pytest.raises(InputError, match="manifest says"):
        read_bundle(bad)


def test_missing_public_key_file_is_one_line(tmp_path, bundle):
    result = CliRunner().invoke(main, ["predict", str(bundle), "x", "--public-key", str(tmp_path / "nope.pem")])
    assert result.exit_code == 2 and "does not exist" in result.output


def mutations(original: bytes, count: int, seed: int = 0):
    """Seeded bit flips (1-8 bits anywhere) and truncations of `original`."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        data = bytearray(original)
        if i % 3 == 2:
            yield f"truncate@{(cut := int(rng.integers(0, len(data))))}", bytes(data[:cut])
            continue
        # Half the flips go to the last 4 KiB (manifest, central directory, end record), where a
        # flip changes structure rather than only compressed bytes.
        tail = i % 2 == 0
        positions = rng.integers(max(0, len(data) - 4096) if tail else 0, len(data), size=int(rng.integers(1, 9)))
        for pos in positions:
            data[pos] ^= 1 << int(rng.integers(0, 8))
        yield f"flip@{','.join(map(str, positions))}", bytes(data)


def test_fuzzed_bundles_load_intact_or_are_refused_with_input_error(tmp_path, bundle):
    original = read_bundle(bundle).files
    outcomes = {"loaded": 0, "refused": 0}
    for name, data in mutations(bundle.read_bytes(), 240):
        path = tmp_path / "fuzz.eabundle"
        path.write_bytes(data)
        try:
            contents = read_bundle(path)
        except InputError as exc:
            assert "\n" not in str(exc), name
            outcomes["refused"] += 1
            continue
        # A flip the checksums cannot see (zip metadata) must leave every file exactly as built.
        assert contents.files == original, name
        outcomes["loaded"] += 1
    assert outcomes["refused"] > 150, outcomes


def test_fuzzed_bundles_through_the_cli_exit_0_or_2(tmp_path, bundle):
    runner = CliRunner()
    codes = []
    for name, data in mutations(bundle.read_bytes(), 30, seed=1):
        path = tmp_path / "fuzz.eabundle"
        path.write_bytes(data)
        result = runner.invoke(main, ["predict", str(path), "a fine film", "--backend", "onnxruntime"])
        assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.exception)
        assert result.exit_code in (0, 2), (name, result.output)
        if result.exit_code == 2:
            assert result.output.startswith("error: ") and result.output.count("\n") == 1, (name, result.output)
        codes.append(result.exit_code)
    assert codes.count(2) >= 20
