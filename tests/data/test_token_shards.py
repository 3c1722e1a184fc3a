"""Token shards: the ids of our tokenizer, in file order, across shard boundaries, the same with
one worker or several, written whole or not at all, and refused when damaged or mismatched."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_albert.data.token_shards import TokenShards, prepare_shards
from edge_albert.errors import InputError
from edge_albert.tokenization import AlbertTokenizer


@pytest.fixture(scope="module")
def texts(sst2_train) -> list[str]:
    # odd texts in: accents, a one-piece line, an empty line (skipped), tabs inside a line
    return [s for _, s in sst2_train[:2500]] + ["Café déjà vu", "a", "", "tab\tinside"]


def test_shards_hold_our_tokenizers_ids_in_order(tmp_path, texts, spiece_model):
    (tmp_path / "a.txt").write_text("\n".join(texts[:1200]) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(texts[1200:]) + "\n")
    info = prepare_shards([tmp_path / "a.txt", tmp_path / "b.txt"], spiece_model, tmp_path / "shards", texts_per_shard=1000, workers=2)
    kept = [t for t in texts if t.strip()]
    assert info.texts == len(kept) and info.shards == 3 and info.dtype == "uint16"
    shards = TokenShards(tmp_path / "shards")
    tok = AlbertTokenizer(spiece_model)
    assert len(shards) == len(kept)
    assert all(shards[i] == tok.text_ids(t) for i, t in enumerate(kept))
    assert info.tokens == sum(len(tok.text_ids(t)) for t in kept)
    with pytest.raises(IndexError):
        shards[len(kept)]
    # one worker in-process writes the same bytes as two worker processes
    prepare_shards([tmp_path / "a.txt", tmp_path / "b.txt"], spiece_model, tmp_path / "one", texts_per_shard=1000, workers=1)
    for f in sorted((tmp_path / "shards").glob("shard-*")):
        assert f.read_bytes() == (tmp_path / "one" / f.name).read_bytes()


def test_damaged_or_mismatched_shards_are_refused(tmp_path, texts, spiece_model, sst2_train):
    (tmp_path / "a.txt").write_text("\n".join(texts[:300]) + "\n")
    out = prepare_shards([tmp_path / "a.txt"], spiece_model, tmp_path / "shards", workers=1)
    shards = TokenShards(tmp_path / "shards")
    with pytest.raises(InputError, match="another spiece.model"):
        from edge_albert.tokenization import train_tokenizer

        other = train_tokenizer([s for _, s in sst2_train[:3000]], tmp_path / "other.model", vocab_size=500)
        shards.check_tokenizer(other)
    tokens = tmp_path / "shards" / "shard-00000.tokens"
    tokens.write_bytes(tokens.read_bytes()[:-2])  # one id short
    with pytest.raises(InputError, match="does not match index.json"):
        TokenShards(tmp_path / "shards")
    with pytest.raises(InputError, match="no index.json"):
        TokenShards(tmp_path)
    # an existing folder is not replaced without force, and a failed run leaves no folder behind
    with pytest.raises(InputError):
        prepare_shards([tmp_path / "a.txt"], spiece_model, tmp_path / "shards", workers=1)
    with pytest.raises(InputError, match="no such text file"):
        prepare_shards([tmp_path / "missing.txt"], spiece_model, tmp_path / "never", workers=1)
    assert not (tmp_path / "never").exists() and not list(tmp_path.glob(".never*"))
    assert json.loads((tmp_path / "shards" / "index.json").read_text())["texts"] == out.texts


def test_a_big_vocabulary_is_stored_in_uint32(tmp_path, monkeypatch, spiece_model):
    import edge_albert.data.token_shards as token_shards

    monkeypatch.setattr(token_shards.AlbertTokenizer, "vocab_size", property(lambda self: 70_000))
    (tmp_path / "a.txt").write_text("hello world\n")
    info = prepare_shards([tmp_path / "a.txt"], spiece_model, tmp_path / "shards", workers=1)
    assert info.dtype == "uint32"
    assert np.fromfile(tmp_path / "shards" / "shard-00000.tokens", dtype=np.uint32).tolist() == AlbertTokenizer(spiece_model).text_ids("hello world")
