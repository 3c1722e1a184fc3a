"""Training loop: loss goes down, distillation loss is DistilBERT's, seeds and resume are exact."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from edge_albert.data.readers import LabeledTexts
from edge_albert.errors import InputError
from edge_albert.model.albert import AlbertForSequenceClassification
from edge_albert.model.checkpoint import load_model
from edge_albert.model.config import AlbertConfig
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.training.batching import EncodedDataset, encode_dataset
from edge_albert.training.trainer import TrainConfig, distillation_loss, parameter_groups, save_albert, train_classifier


def test_distillation_loss_matches_hand_computation():
    s = torch.tensor([[1.0, -0.5], [0.2, 0.3]])
    t = torch.tensor([[2.0, 0.0], [-1.0, 1.0]])
    y = torch.tensor([0, 1])
    alpha, temp = 0.7, 2.0
    kl = 0.0
    for i in range(2):
        p = [math.exp(v / temp) for v in t[i].tolist()]
        p = [v / sum(p) for v in p]
        q = [math.exp(v / temp) for v in s[i].tolist()]
        q = [v / sum(q) for v in q]
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    kl = kl / 2 * temp**2
    ce = 0.0
    for i in range(2):
        z = [math.exp(v) for v in s[i].tolist()]
        ce -= math.log(z[y[i]] / sum(z))
    ce /= 2
    expected = alpha * kl + (1 - alpha) * ce
    assert distillation_loss(s, t, y, alpha, temp).item() == pytest.approx(expected, rel=1e-6)
    # alpha = 0 is plain cross-entropy.
    assert distillation_loss(s, t, y, 0.0, temp).item() == pytest.approx(F.cross_entropy(s, y).item(), rel=1e-6)


def small_model(vocab: int, seed: int = 0) -> AlbertForSequenceClassification:
    torch.manual_seed(seed)
    config = AlbertConfig(vocab_size=vocab, embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=128, id2label={0: "negative", 1: "positive"}, max_position_embeddings=64)
    return AlbertForSequenceClassification(config)


@pytest.fixture(scope="module")
def data(spiece_model, sst2_train, sst2_dev):
    tok = AlbertTokenizer(spiece_model)
    train = LabeledTexts([s for _, s in sst2_train[:640]], [l for l, _ in sst2_train[:640]], ["negative", "positive"])
    dev = LabeledTexts([s for _, s in sst2_dev[:128]], [l for l, _ in sst2_dev[:128]], ["negative", "positive"])
    return tok, encode_dataset(train, tok, 48), encode_dataset(dev, tok, 48)


def run(tmp: Path, data, epochs: int, resume: bool = False, seed: int = 0, stop_after_epochs=None, learning_rate_override=None, **kw):
    tok, train, dev = data
    model = small_model(tok.vocab_size)
    cfg = TrainConfig(**{"epochs": epochs, "batch_size": 32, "learning_rate": learning_rate_override or 3e-4, "seed": seed, "log_every": 5, "threads": 1, **kw})
    result = train_classifier(model, save_albert(tok.model_file), train, dev, cfg, tmp, pad_id=tok.pad_id, resume=resume,
                              stop_after_epochs=stop_after_epochs)
    return model, result


def test_loss_goes_down_and_best_checkpoint_is_saved(tmp_path, data):
    tok, train, dev = data
    small = EncodedDataset(train.encodings[:160], train.labels[:160])
    model, result = run(tmp_path, (tok, small, dev), epochs=25, learning_rate_override=1e-3)
    steps = [json.loads(l) for l in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in steps if r["event"] == "step"]
    assert len(losses) >= 6
    # A small set trained long enough is memorised: the loss falls far below ln 2.
    assert np.mean(losses[-3:]) < 0.3 < np.mean(losses[:3])
    assert (tmp_path / "model" / "model.safetensors").is_file() and (tmp_path / "model" / "spiece.model").is_file()
    assert [r for r in steps if r["event"] == "eval"]
    best = load_model(tmp_path / "model")
    assert best.config.labels == ["negative", "positive"]


def test_same_seed_same_weights_and_resume_matches(tmp_path, data):
    a, _ = run(tmp_path / "a", data, epochs=2)
    b, _ = run(tmp_path / "b", data, epochs=2)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    # Interrupted after one epoch, then resumed: the same weights as two epochs straight.
    run(tmp_path / "c", data, epochs=2, stop_after_epochs=1)
    c, result = run(tmp_path / "c", data, epochs=2, resume=True)
    for (k, va), vc in zip(a.state_dict().items(), c.state_dict().values()):
        assert torch.equal(va, vc), k
    assert result.epochs_run == 1


def test_different_seed_differs(tmp_path, data):
    a, _ = run(tmp_path / "a", data, epochs=1, seed=0)
    b, _ = run(tmp_path / "b", data, epochs=1, seed=1)
    assert not torch.equal(a.classifier.weight, b.classifier.weight)


def test_weight_average_follows_the_ramped_decay():
    from edge_albert.training.trainer import weight_average

    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema = weight_average(net, 0.3)
    expected = None
    for n, value in enumerate([3.0, -2.0, 5.0, 7.0, 0.0, 4.0]):
        with torch.no_grad():
            net.weight.fill_(value)
        ema.update_parameters(net)
        # The first update copies; then the decay ramps as (1 + n) / (10 + n) up to 0.3.
        d = 0.0 if n == 0 else min(0.3, (1 + n) / (10 + n))
        expected = value if expected is None else expected * d + value * (1 - d)
        assert ema.module.weight.item() == pytest.approx(expected, rel=1e-6)
    assert d == 0.3  # the ramp reached the decay


def test_ema_saves_the_averaged_weights_and_resumes_exactly(tmp_path, data):
    model, result = run(tmp_path / "a", data, epochs=2, ema=0.9, eval_every=None)
    saved = load_model(tmp_path / "a" / "model")
    # The last evaluation is the best one here or not, but the saved weights are an average:
    # never the raw weights of the step that was evaluated.
    assert not torch.equal(saved.classifier.weight, model.classifier.weight)
    assert result.best_metrics
    run(tmp_path / "b", data, epochs=2, ema=0.9, stop_after_epochs=1)
    _, resumed = run(tmp_path / "b", data, epochs=2, ema=0.9, resume=True)
    again = load_model(tmp_path / "b" / "model")
    assert resumed.best_step == result.best_step
    for (k, va), vb in zip(saved.state_dict().items(), again.state_dict().values()):
        assert torch.equal(va, vb), k
    # A run started without --ema cannot be resumed with it: its state has no average.
    run(tmp_path / "c", data, epochs=2, stop_after_epochs=1)
    with pytest.raises(InputError, match="without --ema"):
        run(tmp_path / "c", data, epochs=2, ema=0.9, resume=True)


def test_layer_decay_groups():
    model = small_model(100)
    groups = parameter_groups(model, lr=1.0, weight_decay=0.1, layer_decay=0.5)
    lrs = {}
    for g in groups:
        for p in g["params"]:
            lrs[p.data_ptr()] = (g["lr"], g["weight_decay"])
    assert lrs[model.classifier.weight.data_ptr()] == (1.0, 0.1)
    assert lrs[model.albert.encoder.albert_layer_groups[0].albert_layers[0].ffn.weight.data_ptr()] == (0.5, 0.1)
    assert lrs[model.albert.embeddings.word_embeddings.weight.data_ptr()] == (0.25, 0.1)
    assert lrs[model.albert.embeddings.LayerNorm.weight.data_ptr()][1] == 0.0
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in model.parameters())


def test_representation_distillation_fits_teacher_features_and_saves_plain_model(tmp_path, data):
    from edge_albert.training.trainer import predict_outputs

    tok, train, dev = data
    # The "teacher" is another small ALBERT; its sentence representations are the targets.
    teacher = small_model(tok.vocab_size, seed=7)
    logits, feats = predict_outputs(teacher, train, tok.pad_id, features=True)
    assert feats.shape == (len(train), 2 * teacher.config.hidden_size)
    distilled = EncodedDataset(train.encodings, train.labels, logits, feats.astype(np.float16))
    with_features, _ = run(tmp_path / "f", (tok, distilled, dev), epochs=6, feature_weight=1.0, alpha=0.5, learning_rate_override=1e-3)
    records = [json.loads(l) for l in (tmp_path / "f" / "train_log.jsonl").read_text().splitlines()]
    feature_losses = [r["feature_loss"] for r in records if r["event"] == "step"]
    # Standardised targets start near MSE 1 and the student learns to predict them.
    assert np.mean(feature_losses[:3]) > 0.5 and np.mean(feature_losses[-6:]) < 0.8 * np.mean(feature_losses[:3])
    without, _ = run(tmp_path / "n", (tok, EncodedDataset(train.encodings, train.labels, logits), dev), epochs=6, alpha=0.5, learning_rate_override=1e-3)
    assert not torch.equal(with_features.classifier.weight, without.classifier.weight)
    # The projector is a training aid: the saved checkpoint has exactly the plain model's tensors.
    saved = load_model(tmp_path / "f" / "model").state_dict()
    assert saved.keys() == without.state_dict().keys()


def test_compiled_training_steps_match_eager(tmp_path, data):
    """--compile (torch.compile, dynamic shapes, inductor on the CPU) trains the same model as
    eager mode, within float rounding (~15 s of compilation). Dropout off: compiled code draws
    its masks from another generator."""
    tok, train, dev = data
    small = EncodedDataset(train.encodings[:96], train.labels[:96])
    models, losses = [], []
    for name, compile_ in (("eager", False), ("compiled", True)):
        model = small_model(tok.vocab_size)
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        cfg = TrainConfig(epochs=1, batch_size=32, learning_rate=1e-3, log_every=1, threads=1, compile=compile_)
        train_classifier(model, save_albert(tok.model_file), small, dev, cfg, tmp_path / name, pad_id=tok.pad_id)
        models.append(model)
        losses.append([r["loss"] for r in map(json.loads, (tmp_path / name / "train_log.jsonl").read_text().splitlines()) if r["event"] == "step"])
    assert len(losses[0]) == 3 and np.allclose(losses[0], losses[1], atol=1e-5)
    for (name, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert torch.allclose(a, b, atol=1e-4), name
