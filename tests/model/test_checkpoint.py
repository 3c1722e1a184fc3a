"""Checkpoint directories: bad input gives one-line errors naming the file; nothing unpickles code."""

from __future__ import annotations

import json

import pytest
import torch

from edge_albert.errors import InputError
from edge_albert.model.checkpoint import load_model, save_model
from edge_albert.model.albert import AlbertForSequenceClassification
from edge_albert.model.config import AlbertConfig


@pytest.fixture()
def ckpt(tmp_path):
    torch.manual_seed(0)
    config = AlbertConfig(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=32)
    return save_model(AlbertForSequenceClassification(config), tmp_path / "ckpt")


def edit_config(path, **changes):
    data = json.loads((path / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    (path / "config.json").write_text(json.dumps(data))


def one_line(exc: InputError) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_round_trip_is_exact(ckpt):
    a = load_model(ckpt)
    save_model(a, ckpt, force=True)
    b = load_model(ckpt)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(hidden_size=None), "missing field(s) hidden_size"),
        (dict(model_type="bert"), "model_type is 'bert'"),
        (dict(model_type=None), "missing field 'model_type'"),
        (dict(num_attention_heads=3), "not a multiple of num_attention_heads"),
        (dict(hidden_size="big"), "hidden_size"),
        (dict(hidden_act="swish2"), "hidden_act"),
    ],
)
def test_bad_config_fields(ckpt, changes, words):
    edit_config(ckpt, **changes)
    with pytest.raises(InputError) as info:
        load_model(ckpt)
    text = one_line(info.value)
    assert "config.json" in text and words in text


def test_config_not_json(ckpt):
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="config.json: not valid JSON"):
        load_model(ckpt)


def test_shape_mismatch_names_key(ckpt):
    edit_config(ckpt, intermediate_size=64)
    with pytest.raises(InputError) as info:
        load_model(ckpt)
    assert "model.safetensors" in str(info.value) and "shape mismatch for" in str(info.value)


def test_truncated_safetensors(ckpt):
    path = ckpt / "model.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(InputError) as info:
        load_model(ckpt)
    assert "model.safetensors" in one_line(info.value) and "corrupt or truncated" in str(info.value)


def test_missing_weights(ckpt):
    (ckpt / "model.safetensors").unlink()
    with pytest.raises(InputError, match="no model.safetensors or pytorch_model.bin"):
        load_model(ckpt)


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_that_runs_code_is_refused(ckpt, capsys):
    state = dict(load_model(ckpt).state_dict())
    (ckpt / "model.safetensors").unlink()
    state["evil"] = Exploit()
    torch.save(state, ckpt / "pytorch_model.bin")
    with pytest.raises(InputError, match="not weights-only"):
        load_model(ckpt)
    assert "pwned" not in capsys.readouterr().out


def test_weights_only_pickle_loads(ckpt):
    model = load_model(ckpt)
    (ckpt / "model.safetensors").unlink()
    torch.save(model.state_dict(), ckpt / "pytorch_model.bin")
    again = load_model(ckpt)
    assert torch.equal(again.classifier.weight, model.classifier.weight)


def test_save_refuses_existing_without_force(ckpt):
    model = load_model(ckpt)
    with pytest.raises(InputError, match="already exists"):
        save_model(model, ckpt)


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    torch.manual_seed(0)
    config = AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=32)
    model = AlbertForSequenceClassification(config)
    import edge_albert.model.checkpoint as ck

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ck, "save_file", boom)
    with pytest.raises(OSError):
        save_model(model, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_not_a_directory(tmp_path):
    with pytest.raises(InputError, match="not a directory"):
        load_model(tmp_path / "nope")


def test_unknown_extra_fields_survive_round_trip(ckpt):
    edit_config(ckpt, transformers_version="4.57.6", some_new_field=[1, 2])
    model = load_model(ckpt)
    save_model(model, ckpt, force=True)
    data = json.loads((ckpt / "config.json").read_text())
    assert data["some_new_field"] == [1, 2]
