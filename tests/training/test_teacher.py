"""Teachers: the real MiniLM's sentence representations, and the on-disk cache of teacher outputs."""

from __future__ import annotations

import numpy as np
import torch

from edge_albert.data.readers import LabeledTexts
from edge_albert.training.teacher import HFClassifier, cached_teacher_outputs, default_teacher_base


def test_hf_teacher_features_are_what_its_classifier_reads():
    teacher = HFClassifier(default_teacher_base(), labels=["negative", "positive"]).eval()
    enc = teacher.tokenizer(["a gorgeous , witty movie .", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits, feats = teacher.forward_with_features(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        hidden = teacher.config.hidden_size
        assert feats.shape == (2, 2 * hidden)
        torch.testing.assert_close(teacher.hf.classifier(feats[:, :hidden]), logits)
        # The second half is the mean over real tokens only: padding does not change it.
        alone = teacher.tokenizer(["dull"], return_tensors="pt")
        _, single = teacher.forward_with_features(alone["input_ids"], alone["attention_mask"], alone["token_type_ids"])
    torch.testing.assert_close(single[0, hidden:], feats[1, hidden:], atol=1e-5, rtol=1e-4)


def test_cached_teacher_outputs_reuse_and_recompute_damaged_files(tmp_path, trained_checkpoint):
    data = LabeledTexts(["good fun", "a bore", "fine"], [1, 0, 1], ["negative", "positive"])
    first = cached_teacher_outputs(trained_checkpoint, data, 32, tmp_path, features=True)
    assert first.logits.shape == (3, 2) and first.features.dtype == np.float16
    files = sorted(tmp_path.glob("teacher-*.npy"))
    assert [f.name.split("-")[1] for f in files] == ["features", "logits"]
    stamps = [f.stat().st_mtime_ns for f in files]
    again = cached_teacher_outputs(trained_checkpoint, data, 32, tmp_path, features=True)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # served from the cache
    np.testing.assert_array_equal(again.features, first.features)
    files[0].write_bytes(b"not a numpy file")
    repaired = cached_teacher_outputs(trained_checkpoint, data, 32, tmp_path, features=True)
    np.testing.assert_array_equal(repaired.features, first.features)
    assert cached_teacher_outputs(trained_checkpoint, data, 32, tmp_path).features is None
