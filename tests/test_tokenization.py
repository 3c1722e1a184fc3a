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


# Offsets, word ids and question-answering windows against transformers' fast ALBERT tokenizer
# (built from the same spiece.model by transformers' own converter). Ids always equal the slow
# reference's; the fast tokenizer itself emits other ids for a few inputs (a piece for trailing
# white space or for white space before a typed special token, <unk> for some pieces), and
# offsets are compared wherever its ids agree with the slow reference.
@pytest.fixture(scope="module")
def fast(spiece_model):
    return transformers.AlbertTokenizerFast(vocab_file=str(spiece_model))


OFFSET_CASES = ["Hello world, it's 1990, OK?", "  Café  ``quoted'' naïve", "`` the time machine '' is", "a''b ``c", "x ''",
                "İstanbul ǅ", "a\tb\n c", "[CLS]hi<pad>  [MASK]x", "x\u00a0y ﬁ ①"]


def offset_strings(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    alphabet = list("abcXYZ éÉüß,.'`\"-1239 \t\n") + ["[MASK]", "<pad>", "``", "''", "ﬁ", "①", "İ", "Σ", "\u00a0", "日本"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(n)]


def test_offsets_and_word_ids_match_fast_tokenizer(pair, fast, sst2_dev, conll_dev):
    ours, slow = pair
    texts = [s for _, s in sst2_dev] + [" ".join(w) for w in conll_dev.words] + OFFSET_CASES + offset_strings(200)
    compared = 0
    for text in texts:
        tokens = ours.tokens(text)
        ids = [t.id for t in tokens]
        assert ids == slow(text, add_special_tokens=False)["input_ids"] == ours.text_ids(text), text
        ref = fast(text, add_special_tokens=False, return_offsets_mapping=True)
        if ref["input_ids"] != ids:
            continue
        compared += 1
        assert [(t.start, t.end) for t in tokens] == [tuple(o) for o in ref["offset_mapping"]], text
        assert [t.word for t in tokens] == ref.word_ids(), text
    assert compared >= len(texts) - 60  # the fast tokenizer's own id differences stay rare


def test_pair_encoding_reports_sequence_ids_and_offsets_per_text(pair, fast):
    ours, _ = pair
    enc = ours.encode("Who won?", "The Broncos won in 2016.", max_length=None, offsets=True)
    ref = fast("Who won?", "The Broncos won in 2016.", return_offsets_mapping=True)
    assert enc.input_ids == ref["input_ids"] and enc.token_type_ids == ref["token_type_ids"]
    assert enc.offsets == [tuple(o) for o in ref["offset_mapping"]]
    assert enc.sequence_ids == ref.sequence_ids()


def test_words_match_is_split_into_words(pair, fast, conll_dev):
    ours, _ = pair
    for words in conll_dev.words:
        enc = ours.encode_words(words, max_length=64)
        ref = fast(words, is_split_into_words=True, return_offsets_mapping=True, truncation=True, max_length=64)
        assert enc.input_ids == ref["input_ids"] and enc.word_ids == ref.word_ids(), words
        assert enc.offsets == [tuple(o) for o in ref["offset_mapping"]], words


@pytest.mark.parametrize("max_length,stride", [(128, 32), (384, 128)])
def test_question_answering_windows_match_transformers(pair, fast, squad_dev, max_length, stride):
    """The Hugging Face QA preprocessing (only_second truncation, overflowing windows) on the first
    500 SQuAD dev questions: same windows, ids, offsets and sequence ids. Questions are stripped
    as transformers' run_qa example strips them (the fast tokenizer adds a piece for trailing space)."""
    ours, _ = pair
    windows = 0
    for ex in squad_dev[:500]:
        question = ex.question.strip()
        got = ours.encode_windows(question, ex.context, max_length=max_length, stride=stride)
        ref = fast(question, ex.context, truncation="only_second", max_length=max_length, stride=stride,
                   return_overflowing_tokens=True, return_offsets_mapping=True)
        assert len(got) == len(ref["input_ids"]), ex.id
        for i, window in enumerate(got):
            assert window.input_ids == ref["input_ids"][i] and window.token_type_ids == ref["token_type_ids"][i], ex.id
            assert window.offsets == [tuple(o) for o in ref["offset_mapping"][i]], ex.id
            assert window.sequence_ids == ref.sequence_ids(i), ex.id
        windows += len(got)
    assert windows > 500  # some contexts need several windows at these lengths


def test_question_too_long_for_the_window_is_a_clear_error(pair):
    ours, _ = pair
    with pytest.raises(InputError, match="leaving no room for the context"):
        ours.encode_windows("why " * 200, "short context", max_length=64, stride=16)
    with pytest.raises(InputError, match="lower the stride"):
        ours.encode_windows("why " * 20, "word " * 200, max_length=64, stride=60)
