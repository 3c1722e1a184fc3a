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


# Fields of the wrong type or range: one line naming the field, before anything is built.
BAD_FIELDS = [
    (dict(hidden_size=None), "missing field(s) hidden_size"),
    (dict(model_type="bert"), "model_type is 'bert'"),
    (dict(model_type=None), "missing field 'model_type'"),
    (dict(num_attention_heads=3), "not a multiple of num_attention_heads"),
    (dict(hidden_size="big"), "hidden_size"),
    (dict(hidden_act="swish2"), "hidden_act"),
    (dict(num_hidden_layers=1_000_000_000), "'num_hidden_layers' must be an integer from 1 to 512"),
    (dict(num_hidden_layers=513), "'num_hidden_layers' must be an integer from 1 to 512"),
    (dict(hidden_size=10**7), "'hidden_size' must be an integer from 1 to 16,384"),
    (dict(intermediate_size=True), "'intermediate_size' must be an integer"),
    (dict(type_vocab_size=-1), "'type_vocab_size' must be an integer from 1"),
    (dict(type_vocab_size=0), "'type_vocab_size' must be an integer from 1"),
    (dict(classifier_dropout_prob=5), "'classifier_dropout_prob' must be a number in [0, 1)"),
    (dict(classifier_dropout_prob=1.0), "'classifier_dropout_prob' must be a number in [0, 1)"),
    (dict(hidden_dropout_prob=-0.1), "'hidden_dropout_prob' must be a number in [0, 1)"),
    (dict(layer_norm_eps="abc"), "'layer_norm_eps' must be a number in (0, 1]"),
    (dict(layer_norm_eps=0), "'layer_norm_eps' must be a number in (0, 1]"),
    (dict(initializer_range="0.02"), "'initializer_range' must be a number in [0, 10]"),
    (dict(pad_token_id=100), "'pad_token_id' must be an integer from 0 to vocab_size - 1 (99)"),
    (dict(pad_token_id=-1), "'pad_token_id' must be an integer from 0 to vocab_size - 1 (99)"),
    (dict(num_hidden_groups=3), "num_hidden_groups 3 exceeds num_hidden_layers 2"),
    (dict(vocab_size=1_000_000, embedding_size=16384), "more than the 2,000,000,000 this tool builds"),
    (dict(id2label=[1, 2]), "invalid field value"),
]


@pytest.mark.parametrize("changes, words", BAD_FIELDS, ids=[str(c) for c, _ in BAD_FIELDS])
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





@pytest.mark.parametrize("changes", [dict(num_hidden_layers=512), dict(classifier_dropout_prob=0.999), dict(layer_norm_eps=1.0),
                                     dict(pad_token_id=99), dict(initializer_range=10.0), dict(type_vocab_size=2)])
def test_config_limits_are_inclusive_where_they_say_so(ckpt, changes):
    edit_config(ckpt, **changes)
    load_model(ckpt)  # just inside every limit: loads (the layer is shared, so 512 repetitions need no new weights)


def test_inspect_of_a_billion_layers_answers_at_once(ckpt):
    import subprocess
    import sys
    import time

    edit_config(ckpt, num_hidden_layers=1_000_000_000)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "edge_albert.cli", "inspect", str(ckpt)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "num_hidden_layers" in out.stderr and out.stderr.count("\n") == 1
    assert time.perf_counter() - started < 60


def test_weights_that_disagree_with_a_huge_config_are_refused_before_allocation(ckpt, monkeypatch):
    edit_config(ckpt, vocab_size=900_000, embedding_size=2048)  # 1.8e9 parameters: 7 GB if built
    allocated = []
    original = AlbertForSequenceClassification.__init__

    def spy(self, config):
        allocated.append(torch.empty(0).device.type)
        original(self, config)

    monkeypatch.setattr(AlbertForSequenceClassification, "__init__", spy)
    with pytest.raises(InputError, match="shape mismatch"):
        load_model(ckpt)
    assert allocated == ["meta"]  # only the storage-free shape check was built
