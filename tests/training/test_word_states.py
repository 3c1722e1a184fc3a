"""Word-level layer distillation: both tokenizers agree on the words, the teacher's word states are
its hidden states, and a student trained with the loss moves its states towards the teacher's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_albert.data.readers import LabeledTexts
from edge_albert.model.checkpoint import load_model
from edge_albert.tokenization import AlbertTokenizer, pad_encodings
from edge_albert.training.batching import EncodedDataset, encode_dataset
from edge_albert.training.teacher import HFClassifier, default_teacher_base
from edge_albert.training.trainer import predict_logits
from edge_albert.training.word_states import (
    WordStates,
    WordTargets,
    char_to_word,
    matched_layers,
    piece_starts_word,
    student_word_index,
    teacher_pass,
    word_means,
)
from tests.training.test_trainer import run, small_model

TRICKY = [
    "a gorgeous , witty movie .",
    "it 's a [MASK] film , but the cast is [MASK]",
    "it's 12,000 people's co-production!!",
    "naïve   café  cinema",
    "good",
]


@pytest.fixture(scope="module")
def teacher():
    return HFClassifier(default_teacher_base(), labels=["negative", "positive"]).eval()


def test_word_means_and_char_to_word():
    states = torch.arange(12, dtype=torch.float32).reshape(1, 4, 3)
    index = torch.tensor([[-1, 0, 0, 1]])
    means = word_means(states, index, 3)
    torch.testing.assert_close(means[0, 0], (states[0, 1] + states[0, 2]) / 2)
    torch.testing.assert_close(means[0, 1], states[0, 3])
    assert means[0, 2].abs().sum() == 0  # a word with no token
    assert char_to_word(" ab  c").tolist() == [-1, 0, 0, -1, -1, 1]


def test_matched_layers_spread_and_end_with_the_last():
    assert matched_layers(4, 6, 2) == [(2, 3), (4, 6)]
    assert matched_layers(4, 6, 4) == [(1, 2), (2, 3), (3, 4), (4, 6)]
    assert matched_layers(12, 6, 3) == [(4, 2), (8, 4), (12, 6)]
    assert matched_layers(2, 6, 5) == [(1, 3), (2, 6)]


def test_teacher_word_states_are_its_hidden_states(teacher):
    logits, feats, words = teacher_pass(teacher, TRICKY, 64, [3, 6], batch_size=2)
    assert [words.seen(i) for i in range(len(TRICKY))] == [len(t.split()) for t in TRICKY] == words.words.tolist()
    assert words.states.shape == (sum(len(t.split()) for t in TRICKY), 2, teacher.config.hidden_size)
    # Logits and features are the teacher's own, as the one-text-at-a-time path gives them.
    enc = teacher.encode(LabeledTexts(TRICKY, [0] * len(TRICKY), ["negative", "positive"]), 64)
    np.testing.assert_allclose(logits, predict_logits(teacher, enc, teacher.pad_id), atol=1e-4)
    # "good" is one WordPiece: its word state is that token's hidden state at layers 3 and 6.
    one = teacher.tokenizer(["good"], return_tensors="pt")
    with torch.no_grad():
        hidden = teacher.hf(**one, output_hidden_states=True).hidden_states
    i = len(TRICKY) - 1
    got = torch.from_numpy(words.states[words.offsets[i]].astype(np.float32))
    torch.testing.assert_close(got, torch.stack([hidden[3][0, 1], hidden[6][0, 1]]), atol=2e-2, rtol=1e-2)  # stored as float16
    assert feats.shape == (len(TRICKY), 2 * teacher.config.hidden_size)


def test_student_pieces_group_into_the_same_words(spiece_model):
    tok = AlbertTokenizer(spiece_model)
    arrays = pad_encodings([tok.encode(t, max_length=64) for t in TRICKY], tok.pad_id)
    ids, mask = torch.from_numpy(arrays["input_ids"]), torch.from_numpy(arrays["attention_mask"])
    index = student_word_index(ids, mask, torch.from_numpy(piece_starts_word(tok)), torch.tensor([tok.cls_id, tok.sep_id, tok.pad_id]))
    assert (index.max(1).values + 1).tolist() == [len(t.split()) for t in TRICKY]
    assert (index[:, 0] == -1).all()  # [CLS]
    specials = (ids == tok.sep_id) | (mask == 0)
    assert (index[specials] == -1).all()


def test_word_states_concatenate_and_batch():
    a = WordStates(np.ones((3, 1, 2), np.float16), np.array([0, 1, 3]), np.array([1, 2]), (6,))
    b = WordStates(np.full((2, 1, 2), 2, np.float16), np.array([0, 2]), np.array([3]), (6,))
    both = WordStates.concatenate([a, b])
    assert len(both) == 3 and both.offsets.tolist() == [0, 1, 3, 5]
    states, seen, total = both.batch([2, 0])
    assert states.shape == (2, 2, 1, 2) and seen.tolist() == [2, 1] and total.tolist() == [3, 1]
    assert states[0].eq(2).all() and states[1, 0].eq(1).all() and states[1, 1].eq(0).all()


def test_word_level_distillation_moves_student_towards_teacher(tmp_path, teacher, spiece_model, sst2_train, sst2_dev):
    tok = AlbertTokenizer(spiece_model)
    texts = [s for _, s in sst2_train[:320]]
    data = LabeledTexts(texts, [l for l, _ in sst2_train[:320]], ["negative", "positive"])
    logits, _, words = teacher_pass(teacher, texts, 48, [3, 6])
    train = encode_dataset(data, tok, 48)
    train.soft_targets = logits
    train.word_targets = WordTargets(words, piece_starts_word(tok), [tok.cls_id, tok.sep_id, tok.pad_id], [1, 2])
    dev = encode_dataset(LabeledTexts([s for _, s in sst2_dev[:64]], [l for l, _ in sst2_dev[:64]], ["negative", "positive"]), tok, 48)
    model, _ = run(tmp_path / "h", (tok, train, dev), epochs=6, hidden_weight=1.0, alpha=0.5, learning_rate_override=1e-3)
    records = [json.loads(l) for l in (tmp_path / "h" / "train_log.jsonl").read_text().splitlines()]
    hidden = [r["hidden_loss"] for r in records if r["event"] == "step"]
    # Standardised targets start near MSE 1; the student learns to predict them.
    assert np.mean(hidden[:2]) > 0.6 and np.mean(hidden[-3:]) < 0.85 * np.mean(hidden[:2])
    # The projections are a training aid: the checkpoint holds the plain model's tensors.
    plain = EncodedDataset(train.encodings, train.labels, logits)
    without, _ = run(tmp_path / "n", (tok, plain, dev), epochs=1, alpha=0.5, learning_rate_override=1e-3)
    assert load_model(tmp_path / "h" / "model").state_dict().keys() == without.state_dict().keys()
    assert small_model(tok.vocab_size).state_dict().keys() == without.state_dict().keys()


def test_distill_recipe_with_hidden_weight_caches_word_states(tmp_path, spiece_model, sst2_train, sst2_dev):
    from edge_albert.training.recipes import DataSpec, distill
    from edge_albert.training.trainer import TrainConfig

    for split, rows in (("train", sst2_train[:96]), ("dev", sst2_dev[:32])):
        (tmp_path / f"{split}.tsv").write_text("label\tsentence\n" + "".join(f"{l}\t{s}\n" for l, s in rows))
    # Unlabelled texts: 40 new ones, plus a dev sentence and a training phrase that must be dropped.
    unlabeled = [s for _, s in sst2_train[200:240]] + [sst2_dev[0][1], sst2_train[0][1].upper()]
    (tmp_path / "extra.txt").write_text("".join(t + "\n" for t in unlabeled))
    spec = DataSpec(tmp_path / "train.tsv", tmp_path / "dev.tsv", label_names=["negative", "positive"])
    config = TrainConfig(epochs=1, max_length=48, threads=1, log_every=2, hidden_weight=1.0, feature_weight=0.5)
    result = distill(spec, tmp_path / "run", config, teacher=default_teacher_base(), preset="tiny", tokenizer=spiece_model, augment=1,
                     unlabeled=[tmp_path / "extra.txt"], dropout=0.1)
    info = json.loads((tmp_path / "run" / "teacher.json").read_text())
    assert info["word_layer_pairs"] == [[2, 3], [4, 6]] and info["augmented_examples"] > 0
    assert info["unlabeled_examples"] == {"read": 42, "dropped": 2, "kept": 40}
    # Training texts, augmented variants and unlabelled texts: each labelled and cached on its own.
    assert len(list((tmp_path / "run" / "cache").glob("teacher-words-*-layers3-6.npz"))) == 3
    # One epoch covers every row: 96 labelled, the variants and the 40 unlabelled, in batches of 32.
    assert result.steps == -(-(96 + info["augmented_examples"] + 40) // 32)
    records = [json.loads(l) for l in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["event"] == "step"]
    assert steps and all("hidden_loss" in r and "feature_loss" in r for r in steps)
    config = load_model(result.checkpoint).config
    assert config.num_hidden_layers == 4 and config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.1
    # A stage 2 that shares the first run's teacher cache (--teacher-cache) labels nothing again.
    cache = tmp_path / "run" / "cache"
    stamps = {f.name: f.stat().st_mtime_ns for f in cache.iterdir()}
    stage2 = TrainConfig(epochs=1, max_steps=1, max_length=48, threads=1, hidden_weight=1.0, feature_weight=0.5)
    distill(spec, tmp_path / "stage2", stage2, teacher=default_teacher_base(), init=result.checkpoint, augment=1,
            unlabeled=[tmp_path / "extra.txt"], teacher_cache=cache)
    assert {f.name: f.stat().st_mtime_ns for f in cache.iterdir()} == stamps
    assert not (tmp_path / "stage2" / "cache").exists() and (tmp_path / "stage2" / "model" / "model.safetensors").is_file()
