"""TFLite export on the real LiteRT interpreter (XNNPACK): parity on every SST-2 dev sentence,
length buckets equal to full padding, metadata, and clean failures."""

from __future__ import annotations

import numpy as np
import pytest

from edge_albert.converters.tflite import export_tflite
from edge_albert.errors import InputError
from edge_albert.runtimes import open_session
from edge_albert.runtimes.litert import read_tflite_metadata
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.compare import compare_models


@pytest.mark.parametrize("which", ["tiny_checkpoint", "grouped_checkpoint"])
def test_parity_on_every_sst2_dev_sentence(request, tmp_path, which, sst2_dev):
    ckpt = request.getfixturevalue(which)
    path = request.getfixturevalue("tiny_tflite") if which == "tiny_checkpoint" else export_tflite(ckpt, tmp_path / "g.tflite").path
    tok = AlbertTokenizer(ckpt / "spiece.model")
    result = compare_models(ckpt, path, tok, [s for _, s in sst2_dev], max_length=128)
    assert result.examples == 872 and result.runtime == "litert"
    assert result.max_abs_logit_diff <= 1e-4
    assert result.agreement == 1.0


def test_every_bucket_equals_full_length_padding(tiny_checkpoint, tiny_tflite):
    sess = open_session(tiny_tflite)
    assert sess.buckets == [32, 64, 128]
    ref = open_session(tiny_checkpoint)
    tok = AlbertTokenizer(tiny_checkpoint / "spiece.model")
    texts = ["good", "a " * 25 + "fine film", "so " * 55 + "bad", "long " * 200]
    for text in texts:
        padded = tok.encode_batch([text], max_length=128, pad_to=128)
        n = int(padded["attention_mask"].sum())
        full = ref.run(padded)
        for bucket in [b for b in sess.buckets if b >= n]:
            runner, details = sess.runners[bucket]
            feed = {k: padded[k][:, :bucket].astype(details[k]["dtype"]) for k in padded}
            out = runner(**feed)["logits"]
            assert np.abs(out - full).max() <= 1e-4, (text[:20], bucket)


def test_weights_shared_across_buckets(tiny_checkpoint, tiny_tflite, tiny_onnx):
    # Three signatures, one copy of the weights: about the size of the ONNX file.
    assert tiny_tflite.stat().st_size < 1.1 * tiny_onnx.stat().st_size


def test_metadata(tiny_checkpoint, tiny_tflite):
    meta = read_tflite_metadata(tiny_tflite)
    assert meta["labels"] == ["negative", "positive"]
    assert meta["buckets"] == [32, 64, 128] and meta["max_length"] == 128
    assert meta["tokenizer_sha256"] == AlbertTokenizer(tiny_checkpoint / "spiece.model").sha256
    assert meta["input_dtype"] == "int32"


def test_bad_inputs(tmp_path, tiny_checkpoint, tiny_tflite):
    with pytest.raises(InputError, match="already exists"):
        export_tflite(tiny_checkpoint, tiny_tflite)
    with pytest.raises(InputError, match="exceeds the model's max_position_embeddings"):
        export_tflite(tiny_checkpoint, tmp_path / "x.tflite", buckets=[32, 1024])
    assert not (tmp_path / "x.tflite").exists()


def test_tensor_names_are_compact_and_unique(tiny_tflite):
    from ai_edge_litert import schema_py_generated as schema

    from edge_albert.converters.tflite import compact_tensor_name

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tiny_tflite.read_bytes(), 0))
    names = [t.name.decode() for sg in model.subgraphs for t in sg.tensors]
    assert len(names) == len(set(names))
    assert max(len(n) for n in names) < 200  # litert-torch writes up to ~1,700 characters
    assert {"seq32_input_ids", "seq128_logits_output"} <= set(names)
    long = ("edge_albert.converters.tflite._NamedOutputs/edge_albert.model.albert.AlbertModel_albert/"
            "torch.nn.modules.linear.Linear_embedding_hidden_mapping_in;7")
    assert compact_tensor_name(long) == "NamedOutputs/albert/embedding_hidden_mapping_in;7"
