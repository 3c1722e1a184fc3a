"""`convert` keeps the user's files safe: a failed run (bad weights, bad tokenizer) leaves the
existing output as it was with `--force`, and nothing unchecked at a new destination."""

from __future__ import annotations

import shutil

import pytest
from safetensors.torch import load_file, save_file

from edge_albert.converters.convert import convert
from edge_albert.errors import InputError


def _nan_weights(ckpt):
    state = load_file(str(ckpt / "model.safetensors"))
    state["classifier.weight"][:] = float("nan")
    save_file(state, str(ckpt / "model.safetensors"), metadata={"format": "pt"})


def _albert_free_spiece(ckpt):
    """A valid sentencepiece model without ALBERT's [CLS]/[SEP]/[MASK] pieces."""
    import sentencepiece as spm

    model = ckpt / "spiece.model"
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["a small plain corpus of words"] * 50), model_prefix=str(ckpt / "plain"),
                                   vocab_size=20, minloglevel=2, hard_vocab_limit=False)
    shutil.move(ckpt / "plain.model", model)


BROKEN_CHECKPOINTS = {
    "NaN weights": (_nan_weights, "not finite"),
    "no spiece.model": (lambda c: (c / "spiece.model").unlink(), "sentencepiece model not found"),
    "empty spiece.model": (lambda c: (c / "spiece.model").write_bytes(b""), "spiece.model"),
    "garbage spiece.model": (lambda c: (c / "spiece.model").write_bytes(b"\x00garbage" * 64), "not a valid sentencepiece model"),
    "non-ALBERT spiece.model": (_albert_free_spiece, "lacks ALBERT's special pieces"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CHECKPOINTS))
@pytest.mark.parametrize("to", ["onnx", "tflite"])
def test_failed_convert_keeps_the_existing_file_and_writes_nothing_new(tmp_path, tiny_checkpoint, case, to):
    breaker, message = BROKEN_CHECKPOINTS[case]
    ckpt = shutil.copytree(tiny_checkpoint, tmp_path / "ckpt")
    breaker(ckpt)
    good = tmp_path / f"good.{to}"
    good.write_bytes(b"a good model from an earlier run")
    with pytest.raises(InputError, match=message):
        convert(ckpt, good, to, force=True)
    assert good.read_bytes() == b"a good model from an earlier run"
    if case != "NaN weights":  # (NaN fails the same check after a full export: once per format is enough)
        fresh = tmp_path / f"fresh.{to}"
        with pytest.raises(InputError, match=message):
            convert(ckpt, fresh, to)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", f"good.{to}"]
