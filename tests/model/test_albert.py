"""Our ALBERT against the reference implementation (transformers), both ways through save/load."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from edge_albert.model.albert import (
    AlbertForPreTraining,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
    set_encoder_dropout,
)
from edge_albert.model.checkpoint import load_model, save_model
from edge_albert.errors import InputError
from edge_albert.model.config import AlbertConfig, preset_config

# The reference itself fails when inner_group_num > num_hidden_layers / num_hidden_groups (its
# head-mask slice is too short), so parity is checked on configs it can run.
SHAPES = [
    dict(num_hidden_groups=1, inner_group_num=1),
    dict(num_hidden_groups=2, inner_group_num=1),
    dict(num_hidden_groups=1, inner_group_num=3),
    dict(num_hidden_groups=2, inner_group_num=2),
]


def small_config(**kw) -> AlbertConfig:
    base = dict(vocab_size=300, embedding_size=16, hidden_size=48, num_hidden_layers=4, num_attention_heads=4,
                intermediate_size=96, id2label={0: "neg", 1: "pos", 2: "neutral"})
    base.update(kw)
    return AlbertConfig(**base)


def batch(vocab: int = 300):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab, (3, 19), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 11:] = 0
    mask[2, 4:] = 0
    types = torch.zeros_like(ids)
    types[:, 9:] = 1
    return ids, mask, types


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"groups{s['num_hidden_groups']}-inner{s['inner_group_num']}")
def test_sequence_classification_matches_reference_both_ways(tmp_path, shape):
    torch.manual_seed(0)
    ours = AlbertForSequenceClassification(small_config(**shape)).eval()
    save_model(ours, tmp_path / "ours")
    ref = transformers.AlbertForSequenceClassification.from_pretrained(tmp_path / "ours").eval()
    ids, mask, types = batch()
    with torch.no_grad():
        a = ours(ids, mask, types)
        b = ref(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
    assert (a - b).abs().max().item() <= 1e-5
    assert ref.config.id2label == {0: "neg", 1: "pos", 2: "neutral"}

    ref.save_pretrained(tmp_path / "ref")
    back = load_model(tmp_path / "ref")
    with torch.no_grad():
        c = back(ids, mask, types)
    assert (c - b).abs().max().item() <= 1e-5


def _outputs(model, ids, mask, types):
    out = model(ids, mask, types)
    return torch.stack(out) if isinstance(out, tuple) else out


def _reference_outputs(ref, ids, mask, types):
    out = ref(input_ids=ids, attention_mask=mask, token_type_ids=types)
    return torch.stack([out.start_logits, out.end_logits]) if hasattr(out, "start_logits") else out.logits


@pytest.mark.parametrize("head", ["AlbertForTokenClassification", "AlbertForQuestionAnswering"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"groups{s['num_hidden_groups']}-inner{s['inner_group_num']}")
def test_token_and_span_heads_match_reference_both_ways(tmp_path, shape, head):
    ours_class = {"AlbertForTokenClassification": AlbertForTokenClassification, "AlbertForQuestionAnswering": AlbertForQuestionAnswering}[head]
    labels = {0: "O", 1: "B-PER", 2: "I-PER"} if head == "AlbertForTokenClassification" else {0: "LABEL_0", 1: "LABEL_1"}
    torch.manual_seed(0)
    ours = ours_class(small_config(id2label=labels, **shape)).eval()
    assert not any(k.startswith("albert.pooler") for k in ours.state_dict())  # no pooler, as the reference
    save_model(ours, tmp_path / "ours")
    ref = getattr(transformers, head).from_pretrained(tmp_path / "ours").eval()
    ids, mask, types = batch()
    with torch.no_grad():
        a, b = _outputs(ours, ids, mask, types), _reference_outputs(ref, ids, mask, types)
    assert a.shape == b.shape and (a - b).abs().max().item() <= 1e-5

    ref.save_pretrained(tmp_path / "ref")
    back = load_model(tmp_path / "ref")
    assert type(back) is ours_class  # the head comes from config.json's architectures
    with torch.no_grad():
        c = _outputs(back, ids, mask, types)
    assert (c - b).abs().max().item() <= 1e-5


def test_unknown_architecture_is_refused_not_loaded_as_a_classifier(tmp_path):
    import json

    from edge_albert.errors import InputError

    torch.manual_seed(0)
    ref = transformers.AlbertForMaskedLM(transformers.AlbertConfig(vocab_size=300, embedding_size=16, hidden_size=48, num_hidden_layers=2,
                                                                     num_attention_heads=4, intermediate_size=96))
    ref.save_pretrained(tmp_path / "mlm")
    config = json.loads((tmp_path / "mlm" / "config.json").read_text())
    (tmp_path / "mlm" / "config.json").write_text(json.dumps(config | {"architectures": ["AlbertForCausalLM"]}))
    with pytest.raises(InputError, match="architecture AlbertForCausalLM"):
        load_model(tmp_path / "mlm")


def test_token_classifier_starts_from_a_sequence_classifier(tmp_path):
    torch.manual_seed(0)
    save_model(AlbertForSequenceClassification(small_config()), tmp_path / "cls")
    ner = load_model(tmp_path / "cls", AlbertForTokenClassification, new_head_ok=True, labels=["O", "B-LOC", "I-LOC", "B-PER", "I-PER"])
    source = load_model(tmp_path / "cls")
    assert torch.equal(ner.albert.embeddings.word_embeddings.weight, source.albert.embeddings.word_embeddings.weight)
    assert ner.classifier.weight.shape == (5, 48)


def test_heads_start_from_a_base_model_file_as_transformers_does(tmp_path):
    """transformers' AlbertModel saves its tensors without the "albert." prefix; a head model takes
    that encoder (as transformers' base_model_prefix does) and is refused without new_head_ok."""
    torch.manual_seed(0)
    base = transformers.AlbertModel(transformers.AlbertConfig(vocab_size=300, embedding_size=16, hidden_size=48, num_hidden_layers=2,
                                                               num_attention_heads=4, intermediate_size=96)).eval()
    base.save_pretrained(tmp_path / "base")
    qa = load_model(tmp_path / "base", AlbertForQuestionAnswering, new_head_ok=True)
    ref = transformers.AlbertForQuestionAnswering.from_pretrained(tmp_path / "base").eval()
    assert torch.equal(qa.albert.embeddings.word_embeddings.weight, base.embeddings.word_embeddings.weight)
    with torch.no_grad():
        qa.qa_outputs.load_state_dict(ref.qa_outputs.state_dict())
        ids, mask, types = batch()
        start, end = qa(ids, mask, types)
        out = ref(input_ids=ids, attention_mask=mask, token_type_ids=types)
    assert (start - out.start_logits).abs().max().item() <= 1e-5
    assert (end - out.end_logits).abs().max().item() <= 1e-5
    with pytest.raises(InputError, match="tensor"):
        load_model(tmp_path / "base", AlbertForQuestionAnswering)


def test_pretraining_heads_match_reference_with_tied_decoder(tmp_path):
    torch.manual_seed(0)
    ours = AlbertForPreTraining(small_config(id2label={0: "LABEL_0", 1: "LABEL_1"}, num_hidden_groups=2)).eval()
    save_model(ours, tmp_path / "ours")
    ref = transformers.AlbertForPreTraining.from_pretrained(tmp_path / "ours").eval()
    ids, mask, types = batch()
    with torch.no_grad():
        mlm, sop = ours(ids, mask, types)
        out = ref(input_ids=ids, attention_mask=mask, token_type_ids=types)
    assert (mlm - out.prediction_logits).abs().max().item() <= 1e-5
    assert (sop - out.sop_logits).abs().max().item() <= 1e-5
    # The decoder stays tied to the word embeddings after loading a file that stores it once.
    ref.save_pretrained(tmp_path / "ref")
    back = load_model(tmp_path / "ref")
    assert back.predictions.decoder.weight.data_ptr() == back.albert.embeddings.word_embeddings.weight.data_ptr()


def test_classifier_starts_from_pretraining_checkpoint(tmp_path):
    torch.manual_seed(0)
    pre = AlbertForPreTraining(small_config(id2label={0: "LABEL_0", 1: "LABEL_1"}))
    save_model(pre, tmp_path / "pre")
    clf = load_model(tmp_path / "pre", AlbertForSequenceClassification, new_head_ok=True)
    assert torch.equal(clf.albert.embeddings.word_embeddings.weight, pre.albert.embeddings.word_embeddings.weight)


def test_padding_does_not_change_logits():
    torch.manual_seed(0)
    model = AlbertForSequenceClassification(small_config()).eval()
    ids, _, types = batch()
    short = ids[:1, :7]
    padded = torch.cat([short, torch.zeros(1, 9, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 7, dtype=torch.long), torch.zeros(1, 9, dtype=torch.long)], dim=1)
    with torch.no_grad():
        a = model(short)
        b = model(padded, mask)
    assert (a - b).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", ["tiny", "small", "base", "large"])
def test_presets_build(name):
    config = preset_config(name, vocab_size=1000)
    assert config.hidden_size % config.num_attention_heads == 0
    if name == "tiny":
        assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.embedding_size) == (312, 4, 12, 128)
    if name == "base":
        assert (config.hidden_size, config.num_hidden_layers) == (768, 12)


def test_set_encoder_dropout_changes_training_passes_only_and_is_saved(tmp_path):
    torch.manual_seed(0)
    model = AlbertForSequenceClassification(preset_config("tiny", vocab_size=100))
    ids = torch.randint(5, 100, (2, 12))
    model.train()
    model.dropout.p = 0.0  # the classifier's own dropout, left alone below
    assert torch.equal(model(ids), model(ids))  # ALBERT's encoder has no dropout by default
    set_encoder_dropout(model, 0.2)
    assert not torch.equal(model(ids), model(ids)) and model.dropout.p == 0.0
    model.eval()
    assert torch.equal(model(ids), model(ids))
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.config.hidden_dropout_prob == loaded.config.attention_probs_dropout_prob == 0.2


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"groups{s['num_hidden_groups']}-inner{s['inner_group_num']}")
def test_bare_model_matches_reference_both_ways(tmp_path, shape):
    from edge_albert.model.albert import AlbertForSentenceEmbedding

    torch.manual_seed(0)
    ours = AlbertForSentenceEmbedding(small_config(**shape)).eval()
    save_model(ours, tmp_path / "ours")
    ref = transformers.AlbertModel.from_pretrained(tmp_path / "ours").eval()
    # The reference loads every tensor of our file: nothing of ours is missing or unexpected to it.
    assert set(ref.state_dict()) >= {k.removeprefix("albert.") for k in ours.state_dict()}
    ids, mask, types = batch()
    with torch.no_grad():
        sequence, pooled = ours.hidden_states(ids, mask, types)
        out = ref(input_ids=ids, attention_mask=mask, token_type_ids=types)
    assert (sequence - out.last_hidden_state).abs().max().item() <= 1e-5
    assert (pooled - out.pooler_output).abs().max().item() <= 1e-5

    ref.save_pretrained(tmp_path / "ref")
    back = load_model(tmp_path / "ref")
    assert type(back) is AlbertForSentenceEmbedding
    with torch.no_grad():
        sequence, pooled = back.hidden_states(ids, mask, types)
    assert (sequence - out.last_hidden_state).abs().max().item() <= 1e-5
    assert (pooled - out.pooler_output).abs().max().item() <= 1e-5


@pytest.mark.parametrize("head", ["AlbertForMultipleChoice", "AlbertForMaskedLM"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"groups{s['num_hidden_groups']}-inner{s['inner_group_num']}")
def test_multiple_choice_and_masked_lm_match_reference_both_ways(tmp_path, shape, head):
    from edge_albert.model.albert import AlbertForMaskedLM, AlbertForMultipleChoice

    ours_class = {"AlbertForMultipleChoice": AlbertForMultipleChoice, "AlbertForMaskedLM": AlbertForMaskedLM}[head]
    torch.manual_seed(0)
    ours = ours_class(small_config(**shape)).eval()
    save_model(ours, tmp_path / "ours")
    ref = getattr(transformers, head).from_pretrained(tmp_path / "ours").eval()
    ids, mask, types = batch()
    if head == "AlbertForMultipleChoice":  # 3 questions x 2 choices... here 1 question x 3 choices
        ids, mask, types = (t.unsqueeze(0) for t in (ids, mask, types))
    with torch.no_grad():
        a = ours(ids, mask, types)
        b = ref(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
    assert a.shape == b.shape == ((1, 3) if head == "AlbertForMultipleChoice" else (3, 19, 300))
    assert (a - b).abs().max().item() <= 1e-5

    ref.save_pretrained(tmp_path / "ref")
    back = load_model(tmp_path / "ref")
    assert type(back) is ours_class
    with torch.no_grad():
        assert (back(ids, mask, types) - b).abs().max().item() <= 1e-5
    if head == "AlbertForMaskedLM":  # the decoder stays tied after a file that stores it once
        assert back.predictions.decoder.weight.data_ptr() == back.albert.embeddings.word_embeddings.weight.data_ptr()


def test_sentence_embedding_pools_as_sentence_transformers_does(tmp_path, spiece_model):
    """sentence-transformers reads the pooling we record and gives our embeddings; we read its
    CLS-pooled, unnormalised folder the same way it does."""
    st = pytest.importorskip("sentence_transformers")
    from edge_albert.model.albert import AlbertForSentenceEmbedding, SentencePooling
    from edge_albert.tokenization import AlbertTokenizer, pad_encodings

    spiece = spiece_model
    vocab = AlbertTokenizer(spiece).vocab_size
    texts = ["a gorgeous, witty, seductive movie.", "it's slow -- very, very slow.", "the film is strictly routine and never quite takes off."]
    for pooling in (SentencePooling(), SentencePooling("cls", normalize=False)):
        torch.manual_seed(0)
        ours = AlbertForSentenceEmbedding(small_config(vocab_size=vocab), pooling).eval()
        folder = save_model(ours, tmp_path / f"{pooling.mode}", tokenizer_model=spiece)
        ref = st.SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        expected = ref.encode(texts, convert_to_tensor=True)
        tok = AlbertTokenizer(spiece)
        batch_arrays = pad_encodings([tok.encode(t) for t in texts], tok.pad_id)
        with torch.no_grad():
            got = load_model(folder)(*(torch.from_numpy(batch_arrays[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
        assert load_model(folder).pooling == pooling
        assert (got - expected).abs().max().item() <= 1e-5
    assert torch.allclose(load_model(tmp_path / "mean")(torch.tensor([[2, 7, 3]])).norm(dim=-1), torch.ones(1))


def test_unsupported_sentence_transformers_modules_are_refused_with_the_file(tmp_path):
    import json

    from edge_albert.errors import InputError
    from edge_albert.model.albert import AlbertForSentenceEmbedding

    folder = save_model(AlbertForSentenceEmbedding(small_config()), tmp_path / "emb")
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True, "pooling_mode_mean_tokens": False}))
    with pytest.raises(InputError, match="pooling max is not supported") as info:
        load_model(folder)
    assert "1_Pooling" in str(info.value)
    modules = json.loads((folder / "modules.json").read_text())
    (folder / "modules.json").write_text(json.dumps(modules + [{"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}]))
    with pytest.raises(InputError, match="module Dense is not supported"):
        load_model(folder)
