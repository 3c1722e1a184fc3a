"""`convert --to executorch` on ExecuTorch's own runtime: the program equals PyTorch within 1e-4 on
SST-2 dev at real lengths, takes any length up to its maximum, stores ALBERT's shared layer
once, carries our metadata as a constant method (with the memory it plans), and bad input gets
one line."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edge_albert.converters.convert import convert
from edge_albert.errors import InputError
from edge_albert.model.checkpoint import load_model
from edge_albert.model.factory import parameter_count
from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer, pad_encodings


def test_float_program_matches_pytorch_on_sst2_dev(trained_checkpoint, executorch_programs, sst2_dev):
    report = executorch_programs["float32"]
    assert report.check.max_abs_logit_diff <= 1e-4 and report.check.agreement == 1.0
    tok = AlbertTokenizer(trained_checkpoint / "spiece.model")
    encodings = [tok.encode(s, max_length=128) for _, s in sst2_dev]
    ref, pte = open_session(trained_checkpoint), open_session(report.export.path)
    assert pte.runtime == "executorch" and pte.max_length == 128 and pte.output_classes == 2
    worst, lengths = 0.0, set()
    for start in range(0, len(encodings), 64):
        batch = pad_encodings(encodings[start:start + 64], tok.pad_id)
        lengths.update(int(n) for n in batch["attention_mask"].sum(axis=1))
        worst = max(worst, float(np.abs(ref.run(batch) - pte.run(batch)).max()))
    assert len(lengths) > 40  # many distinct lengths through one dynamic program
    assert worst <= 1e-4
    # A row's logits do not depend on the batch it came in (each row runs at its own length).
    batch = pad_encodings(encodings[:8], tok.pad_id)
    alone = np.concatenate([pte.run(pad_encodings([e], tok.pad_id)) for e in encodings[:8]])
    assert np.array_equal(pte.run(batch), alone)


def test_program_stores_the_shared_layer_once_and_carries_metadata(trained_checkpoint, executorch_programs):
    from executorch.exir._serialize._program import deserialize_pte_binary

    export = executorch_programs["float32"].export
    params = parameter_count(load_model(trained_checkpoint))
    # 4 layers share one set of weights: a copy per layer would add 3 x 1.2M parameters.
    assert abs(export.size_bytes - 4 * params) / (4 * params) <= 0.03
    meta = open_session(export.path).metadata
    assert meta["task"] == "text-classification" and meta["labels"] == ["negative", "positive"]
    assert meta["format"] == "executorch" and meta["precision"] == "float32" and meta["max_batch"] == 1
    assert meta["tokenizer_sha256"] == AlbertTokenizer(trained_checkpoint / "spiece.model").sha256
    # The arena the program plans, as recorded, is the one the serialized program declares.
    pte = deserialize_pte_binary(export.path.read_bytes())
    program = getattr(pte, "program", pte)
    plan = next(p for p in program.execution_plan if p.name == "forward")
    assert meta["planned_memory_bytes"] == sum(plan.non_const_buffer_sizes) > 0
    # Batch 1 keeps the arena small: the tiny shape at 128 tokens plans a few MB (64 rows: 141 MB).
    assert meta["planned_memory_bytes"] < 8e6


def test_rows_longer_than_the_program_are_refused(executorch_programs):
    session = open_session(executorch_programs["float32"].export.path)
    ids = np.full((1, 129), 7, dtype=np.int64)
    with pytest.raises(InputError, match="longer than the program's maximum 128"):
        session.run({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})


def test_question_answering_program_on_squad_windows(tmp_path, spiece_model, squad_dev):
    """Two outputs (start, end) and grouped layers (2 groups), on real SQuAD windows."""
    import torch

    from edge_albert.model.albert import AlbertForQuestionAnswering
    from edge_albert.model.checkpoint import save_model
    from edge_albert.model.config import AlbertConfig

    torch.manual_seed(3)
    config = AlbertConfig(vocab_size=2000, embedding_size=32, hidden_size=96, num_hidden_layers=2, num_hidden_groups=2, inner_group_num=1,
                          num_attention_heads=4, intermediate_size=192, max_position_embeddings=512, id2label={0: "start", 1: "end"})
    checkpoint = save_model(AlbertForQuestionAnswering(config), tmp_path / "qa", tokenizer_model=spiece_model)
    report = convert(checkpoint, tmp_path / "qa.pte", "executorch", max_length=256)
    session = open_session(tmp_path / "qa.pte")
    assert session.task.name == "question-answering" and session.max_length == 256
    tok = AlbertTokenizer(spiece_model)
    encodings = [w for ex in squad_dev[:30] for w in tok.encode_windows(ex.question.strip(), ex.context, max_length=256, stride=64)]
    ref = open_session(checkpoint)
    for start in range(0, len(encodings), 16):
        batch = pad_encodings(encodings[start:start + 16], tok.pad_id)
        a, b = ref.run(batch), session.run(batch)
        mask = batch["attention_mask"].astype(bool)
        assert a.shape == b.shape and b.shape[-1] == 2
        assert float(np.abs(a - b)[mask].max()) <= 1e-4
    assert report.check.max_abs_logit_diff <= 1e-4


def test_multiple_choice_is_refused_in_one_line(tmp_path, spiece_model):
    from edge_albert.model.albert import AlbertForMultipleChoice
    from tests.conftest import head_checkpoint

    checkpoint = head_checkpoint(tmp_path / "mc", spiece_model, AlbertForMultipleChoice, ["LABEL_0"])
    with pytest.raises(InputError, match="multiple-choice models export to onnx, tflite only"):
        convert(checkpoint, tmp_path / "mc.pte", "executorch")
    assert not (tmp_path / "mc.pte").exists()


def test_without_executorch_installed_the_error_names_the_extra(tmp_path, tiny_checkpoint, monkeypatch):
    for name in [m for m in sys.modules if m == "executorch" or m.startswith("executorch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "executorch", None)  # import executorch -> ImportError
    with pytest.raises(InputError, match=r"edge-albert\[executorch\]"):
        convert(tiny_checkpoint, tmp_path / "m.pte", "executorch")
    assert list(tmp_path.iterdir()) == []


def test_tanh_gelu_stays_tanh_in_the_xnnpack_program(tmp_path, tiny_checkpoint):
    """ExecuTorch 1.5's XNNPACK lowering runs aten.gelu(approximate="tanh") as the exact GELU; the
    export spells the tanh form out. A model whose FFN inputs are large enough for the two GELUs to
    differ in its logits converts within 1e-4 of PyTorch."""
    import torch
    from torch.nn import functional as F

    from edge_albert.converters.executorch import tanh_gelu
    from edge_albert.model.checkpoint import save_model

    x = torch.linspace(-6, 6, 1001)
    assert (tanh_gelu(x) - F.gelu(x, approximate="tanh")).abs().max().item() <= 1e-6
    model = load_model(tiny_checkpoint)
    with torch.no_grad():
        for layer in model.modules():
            if hasattr(layer, "ffn"):
                layer.ffn.weight.mul_(4.0)  # FFN inputs of a few units, where erf and tanh GELU part
        model.classifier.weight.mul_(100.0)  # logits of a trained model's size (about 7 here)
    checkpoint = save_model(model, tmp_path / "wide", tokenizer_model=tiny_checkpoint / "spiece.model")
    ids = torch.tensor([[2, 45, 817, 96, 1204, 33, 3]])
    with torch.no_grad():
        tanh_logits = model(ids)
        for layer in model.modules():
            if hasattr(layer, "activation"):
                layer.activation = F.gelu
        erf_logits = model(ids)
    assert (tanh_logits - erf_logits).abs().max().item() > 1e-3  # the bug would show
    report = convert(checkpoint, tmp_path / "wide.pte", "executorch")
    assert report.check.max_abs_logit_diff <= 1e-4
