"""Token ids identical to transformers.AlbertTokenizer (sentencepiece) on the same spiece.model."""

from __future__ import annotations

import random

import pytest

from edge_albert.errors import InputError
from edge_albert.tokenization import AlbertTokenizer, train_tokenizer

transformers = pytest.importorskip("transformers")

EDGE_CASES = [
    "", " ", "   \t\n  ", "Café naïve résumé Ångström", "ΟΔΟΣ Σ ΣΑΣ", "日本語のテキストと English mixed",
    "Привет, мир", "مرحبا بالعالم", "emoji 😀🎉👍🏽 ok", "ctrl\x00\x07\x1bchars\x7f", "a [MASK] b", "x[MASK]y",
    "<PAD> <pad> [CLS][SEP] [cls]", "In 1990, 2,000 people paid $3,50,", "``quoted'' text ''", "İstanbul ǅ ß",
    "ﬁ ligature ① ½", "\u200b zero\u200dwidth\ufeff", "tab\tsep\r\nline", "a<unk>b", "x" * 3000,
    "word " * 400, "\u0301 leading combining", "Ｆｕｌｌｗｉｄｔｈ", "ŉ ǰ ΐ", "\U0001F1FA\U0001F1F8 flags",
]


def random_strings(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    alphabet = "abcdefghijk ,.!?'\"-0123456789ÉéüÑñ日本語😀\t\u00a0[]<>"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(n)]


@pytest.fixture(scope="module")
def pair(spiece_model):
    return AlbertTokenizer(spiece_model), transformers.AlbertTokenizer(str(spiece_model))


def test_ids_match_reference_on_sst2_dev_and_edge_cases(pair, sst2_dev):
    ours, ref = pair
    texts = [s for _, s in sst2_dev] + EDGE_CASES + random_strings(200)
    assert len(texts) >= 1000
    mismatches = [t for t in texts if ours.encode(t, max_length=None).input_ids != ref(t)["input_ids"]]
    assert mismatches == []


@pytest.mark.parametrize("max_length", [3, 8, 9, 16, 64, 128])
def test_truncation_and_pairs_match_reference(pair, sst2_dev, max_length):
    ours, ref = pair
    texts = [s for _, s in sst2_dev[:60]]
    for a, b in zip(texts[::2], texts[1::2]):
        for x, y in ((a, None), (a, b), (a + " " + a, b), (b, a * 3)):
            mine = ours.encode(x, y, max_length=max_length)
            theirs = ref(x, y, truncation=True, max_length=max_length)
            assert mine.input_ids == theirs["input_ids"], (x, y)
            assert mine.token_type_ids == theirs["token_type_ids"]


def test_batch_padding_and_mask(pair):
    ours, _ = pair
    batch = ours.encode_batch(["a good film", "bad", "x " * 500], max_length=16)
    assert batch["input_ids"].shape == (3, 16)
    assert batch["attention_mask"].sum(1).tolist()[2] == 16
    assert batch["input_ids"][1, batch["attention_mask"][1] == 0].tolist() == [ours.pad_id] * (16 - batch["attention_mask"][1].sum())
    assert (batch["input_ids"][:, 0] == ours.cls_id).all()


def test_special_piece_ids_follow_albert(pair):
    ours, _ = pair
    assert (ours.pad_id, ours.unk_id, ours.cls_id, ours.sep_id, ours.mask_id) == (0, 1, 2, 3, 4)


def test_model_without_special_pieces_is_rejected(tmp_path):
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(sentence_iterator=iter(["hello world"] * 50 + ["good bad film"] * 50),
                                   model_prefix=str(tmp_path / "plain"), vocab_size=18, minloglevel=2)
    with pytest.raises(InputError, match="special pieces"):
        AlbertTokenizer(tmp_path / "plain.model")


def test_garbage_model_file(tmp_path):
    bad = tmp_path / "spiece.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match="not a valid sentencepiece model"):
        AlbertTokenizer(bad)


def test_train_tokenizer_rejects_empty(tmp_path):
    with pytest.raises(InputError, match="no text"):
        train_tokenizer(["", "   "], tmp_path / "s.model", vocab_size=100)
