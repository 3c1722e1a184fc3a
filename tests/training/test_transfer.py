"""Teacher-embedding initialisation and the transfer sets (augmented, unlabelled)."""

from __future__ import annotations

import pytest
import torch

from edge_albert.errors import InputError
from edge_albert.training.trainer import distillation_loss
from edge_albert.training.transfer import MASK_WORD, augment_texts, teacher_embedding_init, unlabeled_transfer_texts


def test_augment_texts_is_seeded_new_and_bounded():
    texts = ["a gorgeous , witty , seductive movie .", "the film is strictly routine .", "bad", ""]
    out = augment_texts(texts, 3, seed=0)
    assert out == augment_texts(texts, 3, seed=0) and out != augment_texts(texts, 3, seed=1)
    assert len(out) == len(set(out)) and not set(out) & set(texts)
    assert 1 <= len(out) <= 3 * 3  # "bad" has no new variant but "[MASK]" alone, which is dropped
    originals = [set(t.split()) for t in texts if t]
    for text in out:
        words = text.split()
        assert any(set(words) - {MASK_WORD} <= o for o in originals)  # only words of a source text
        assert any(w != MASK_WORD for w in words)


def test_distillation_loss_ignores_missing_labels():
    torch.manual_seed(0)
    s, t = torch.randn(6, 2), torch.randn(6, 2)
    gold = torch.tensor([0, 1, 1, 0, 1, 0])
    soft_only = distillation_loss(s, t, torch.full((6,), -1), alpha=0.7, temperature=2.0)
    assert soft_only == pytest.approx(float(distillation_loss(s, t, gold, alpha=1.0, temperature=2.0)) * 0.7, rel=1e-6)
    mixed = gold.clone()
    mixed[3:] = -1
    expected = 0.7 * distillation_loss(s, t, gold, 1.0, 2.0) + 0.3 * torch.nn.functional.cross_entropy(s[:3], gold[:3]) * 0.5
    assert float(distillation_loss(s, t, mixed, 0.7, 2.0)) == pytest.approx(float(expected), rel=1e-6)


def test_teacher_embeddings_carry_word_similarity(spiece_model):
    from edge_albert.model.albert import AlbertForSequenceClassification
    from edge_albert.model.config import preset_config
    from edge_albert.tokenization import AlbertTokenizer
    from edge_albert.training.teacher import HFClassifier, default_teacher_base

    tok = AlbertTokenizer(spiece_model)
    teacher = HFClassifier(default_teacher_base(), labels=["negative", "positive"])  # the real pretrained MiniLM
    torch.manual_seed(0)
    student = AlbertForSequenceClassification(preset_config("tiny", vocab_size=tok.vocab_size, labels=["negative", "positive"],
                                                            max_position_embeddings=128))
    before = student.albert.embeddings.word_embeddings.weight.detach().clone()
    info = teacher_embedding_init(student, tok, teacher)
    assert info.mapped >= 0.99 * info.pieces and info.positions_copied == 128 and 0.3 < info.explained_variance < 1.0
    weights = student.albert.embeddings.word_embeddings.weight.detach()
    assert weights.std() == pytest.approx(float(before.std()), rel=1e-3)  # the student's initial scale is kept

    def cos(a: str, b: str) -> float:
        ids = [tok.sp.PieceToId(p) for p in (a, b)]
        assert tok.unk_id not in ids, (a, b)
        return float(torch.nn.functional.cosine_similarity(weights[ids[0]], weights[ids[1]], dim=0))

    # Random vectors are near-orthogonal; the teacher's put synonyms together.
    assert cos("▁good", "▁great") > cos("▁good", "▁film") + 0.2
    assert cos("▁movie", "▁film") > cos("▁movie", "▁good") + 0.2


def test_augment_join_makes_long_texts_from_two_sources():
    from edge_albert.training.transfer import CONNECTIVES

    texts = [f"phrase number {i} is rather good" for i in range(50)]
    plain = augment_texts(texts, 2, seed=0)
    joined = augment_texts(texts, 2, seed=0, p_join=1.0)
    assert joined == augment_texts(texts, 2, seed=0, p_join=1.0) and joined != plain
    source_words = {w for t in texts for w in t.split()}
    for text in joined:
        words = text.split()
        assert len(words) >= 12  # two six-word texts and a connective
        assert set(words) <= source_words | {MASK_WORD} | {w for c in CONNECTIVES for w in c.split()}
    assert max(len(t.split()) for t in plain) <= 6
    half = augment_texts(texts, 4, seed=1, p_join=0.5)
    share = sum(len(t.split()) > 6 for t in half) / len(half)
    assert 0.4 < share < 0.8  # above one half: plain variants collide and are dropped more often


def test_unlabeled_transfer_texts_drop_held_and_duplicate_texts_and_sample_with_the_seed(tmp_path):
    (tmp_path / "a.txt").write_text("a fine film .\nThe  Dev sentence .\n\na fine film .\n")
    (tmp_path / "b.jsonl").write_text("".join(f'{{"body": "text number {i} ."}}\n' for i in range(50)))
    held = ["the dev sentence .", "a training phrase"]
    texts, counts = unlabeled_transfer_texts([tmp_path / "a.txt"], held)
    # Compared case- and space-insensitively: a dev sentence must not reach training with a teacher label.
    assert texts == ["a fine film ."] and counts == {"read": 3, "dropped": 2, "kept": 1}
    with pytest.raises(InputError, match="b.jsonl: .*pass --unlabeled-column"):
        unlabeled_transfer_texts([tmp_path / "b.jsonl"], held)
    sample, counts = unlabeled_transfer_texts([tmp_path / "a.txt", tmp_path / "b.jsonl"], held, limit=10, seed=3, text_column="body")
    assert len(sample) == 10 and counts["kept"] == 10 and counts["read"] == 53
    assert sample == unlabeled_transfer_texts([tmp_path / "a.txt", tmp_path / "b.jsonl"], held, limit=10, seed=3, text_column="body")[0]
    assert sample != unlabeled_transfer_texts([tmp_path / "a.txt", tmp_path / "b.jsonl"], held, limit=10, seed=4, text_column="body")[0]


def test_teacher_layers_make_the_student_the_cut_teacher(spiece_model):
    """`teacher_layer_init`: a student of the teacher's width started from teacher layers 1 and 4
    computes what transformers' own MiniLM cut to those two layers computes, on pieces that are one
    teacher token each (the reference: the same BertForQuestionAnswering with its other layers removed)."""
    import copy

    from edge_albert.model.albert import AlbertForQuestionAnswering
    from edge_albert.model.config import preset_config
    from edge_albert.tokenization import AlbertTokenizer
    from edge_albert.training.teacher import HFClassifier, default_teacher_base
    from edge_albert.training.transfer import _teacher_token_ids, teacher_layer_init

    tok = AlbertTokenizer(spiece_model)
    torch.manual_seed(0)
    teacher = HFClassifier(default_teacher_base(), task="question-answering").eval()
    shape = dict(embedding_size=384, hidden_size=384, intermediate_size=1536, num_attention_heads=12, hidden_act="gelu",
                 num_hidden_layers=2, num_hidden_groups=2)
    student = AlbertForQuestionAnswering(preset_config("tiny", vocab_size=tok.vocab_size, labels=["start", "end"], **shape)).eval()
    info = teacher_layer_init(student, tok, teacher, [1, 4])
    assert info.head_copied and info.mapped >= 0.99 * info.pieces

    cut = copy.deepcopy(teacher.hf).eval()
    cut.bert.encoder.layer = torch.nn.ModuleList([cut.bert.encoder.layer[i] for i in (1, 4)])
    vocab = teacher.tokenizer.get_vocab()
    ours, theirs = [tok.cls_id], [teacher.tokenizer.cls_token_id]
    for piece_id in tok.encode("what a gorgeous , witty , seductive movie ! the film is strictly routine , sadly .").input_ids[1:-1]:
        mapped = _teacher_token_ids(tok.sp.IdToPiece(piece_id), teacher.tokenizer, vocab)
        if len(mapped) == 1:
            ours.append(piece_id)
            theirs.append(mapped[0])
    ours.append(tok.sep_id)
    theirs.append(teacher.tokenizer.sep_token_id)
    assert len(ours) >= 12
    types = torch.tensor([[0] * 6 + [1] * (len(ours) - 6)])
    with torch.no_grad():
        start, end = student(torch.tensor([ours]), torch.ones(1, len(ours), dtype=torch.long), types)
        ref = cut(input_ids=torch.tensor([theirs]), attention_mask=torch.ones(1, len(ours), dtype=torch.long), token_type_ids=types)
        full = teacher.hf(input_ids=torch.tensor([theirs]), token_type_ids=types).start_logits
    assert float((start - ref.start_logits).abs().max()) < 1e-5 and float((end - ref.end_logits).abs().max()) < 1e-5
    assert float((start - full).abs().max()) > 0.1  # the cut teacher, not the whole one


def test_teacher_layers_refuse_a_student_of_another_shape(spiece_model):
    from edge_albert.model.albert import AlbertForQuestionAnswering
    from edge_albert.model.config import preset_config
    from edge_albert.tokenization import AlbertTokenizer
    from edge_albert.training.teacher import HFClassifier, default_teacher_base
    from edge_albert.training.transfer import teacher_layer_init

    tok = AlbertTokenizer(spiece_model)
    teacher = HFClassifier(default_teacher_base(), task="question-answering")
    tiny = AlbertForQuestionAnswering(preset_config("tiny", vocab_size=tok.vocab_size, labels=["start", "end"]))
    with pytest.raises(InputError, match="hidden_size 312 .teacher layers need 384."):
        teacher_layer_init(tiny, tok, teacher, [1, 3, 5])
    shape = dict(embedding_size=384, hidden_size=384, intermediate_size=1536, num_attention_heads=12, hidden_act="gelu",
                 num_hidden_layers=2, num_hidden_groups=2)
    student = AlbertForQuestionAnswering(preset_config("tiny", vocab_size=tok.vocab_size, labels=["start", "end"], **shape))
    with pytest.raises(InputError, match=r"teacher layers \[6\] do not exist; the teacher has layers 0 to 5"):
        teacher_layer_init(student, tok, teacher, [1, 6])
