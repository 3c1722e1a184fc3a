"""Checkpoints by Hugging Face Hub id, from a cache laid out offline with huggingface_hub's own
functions (the Hub is never contacted: HF_HUB_OFFLINE=1): a model id converts end to end, a
revision picks its snapshot, and an id that is not cached is one line naming it and the fix."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from edge_albert.model.hub import is_hub_id


def cache_model(hf_home: Path, repo_id: str, folder: Path, *, revision: str = "main") -> str:
    """Put `folder`'s files in a Hub cache under HF_HOME as huggingface_hub lays one out
    (blobs by hash, a snapshot of symlinks per commit, refs naming the commit)."""
    from huggingface_hub.file_download import _cache_commit_hash_for_specific_revision, _create_symlink, repo_folder_name

    storage = hf_home / "hub" / repo_folder_name(repo_id=repo_id, repo_type="model")
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = storage / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, blob)
        target = storage / "snapshots" / commit / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        _create_symlink(str(blob), str(target))
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    _cache_commit_hash_for_specific_revision(str(storage), revision, commit)
    if revision != "main":
        (storage / "refs" / revision).write_text(commit)
    return commit


def edge_albert(*args: str, hf_home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
    env.pop("HF_HUB_CACHE", None)
    return subprocess.run([sys.executable, "-m", "edge_albert.cli", *args], capture_output=True, text=True, timeout=600, env=env)


def test_hub_ids_are_told_from_paths(tmp_path, monkeypatch):
    assert is_hub_id("albert/albert-base-v2") and is_hub_id("owner/name@v1.0")
    assert not is_hub_id("runs/model/extra") and not is_hub_id("model")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "model").mkdir(parents=True)
    assert not is_hub_id("runs/model")  # an existing folder wins


def test_a_cached_hub_id_converts_end_to_end_offline(tmp_path, embedding_checkpoint, tiny_checkpoint):
    hf_home = tmp_path / "hf"
    cache_model(hf_home, "someone/albert-embedder", embedding_checkpoint)
    out = edge_albert("convert", "someone/albert-embedder", "--to", "onnx", "-o", str(tmp_path / "emb.onnx"), hf_home=hf_home)
    assert out.returncode == 0, out.stderr
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "emb.onnx")).metadata_props}
    assert meta["task"] == '"feature-extraction"'
    # A revision picks its own snapshot: v2 of another repo is a classifier.
    cache_model(hf_home, "someone/albert-sst2", embedding_checkpoint)
    cache_model(hf_home, "someone/albert-sst2", tiny_checkpoint, revision="v2")
    inspected = edge_albert("inspect", "someone/albert-sst2@v2", "--json", hf_home=hf_home)
    assert inspected.returncode == 0 and '"text-classification"' in inspected.stdout
    assert '"feature-extraction"' in edge_albert("inspect", "someone/albert-sst2", "--json", hf_home=hf_home).stdout


def test_an_uncached_hub_id_offline_is_one_line(tmp_path):
    out = edge_albert("convert", "someone/not-cached", "--to", "onnx", "-o", str(tmp_path / "x.onnx"), hf_home=tmp_path / "hf")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "model someone/not-cached is not in the Hugging Face cache" in out.stderr and "HF_HUB_OFFLINE=1" in out.stderr
    assert "huggingface-cli download someone/not-cached" in out.stderr and not (tmp_path / "x.onnx").exists()
