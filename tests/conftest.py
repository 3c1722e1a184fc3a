"""Shared fixtures: small models and tokenizers built on the spot, SST-2 from ../shared when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SST2 = Path(os.environ.get("EDGE_ALBERT_SST2", REPO.parent / "shared" / "data" / "sst2"))


def read_sst2(split: str) -> list[tuple[int, str]]:
    path = SST2 / f"{split}.tsv"
    if not path.is_file():
        pytest.skip(f"SST-2 not found at {path} (set EDGE_ALBERT_SST2)")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        label, sentence = line.split("\t", 1)
        rows.append((int(label), sentence))
    return rows


@pytest.fixture(scope="session")
def sst2_dev() -> list[tuple[int, str]]:
    return read_sst2("dev")


@pytest.fixture(scope="session")
def sst2_train() -> list[tuple[int, str]]:
    return read_sst2("train")


@pytest.fixture(scope="session")
def spiece_model(tmp_path_factory, sst2_train) -> Path:
    """A 2,000-piece sentencepiece model trained on SST-2 sentences with ALBERT's special pieces."""
    from edge_albert.tokenization import train_tokenizer

    out = tmp_path_factory.mktemp("spm") / "spiece.model"
    return train_tokenizer([s for _, s in sst2_train[:20000]], out, vocab_size=2000)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, spiece_model) -> Path:
    """A randomly initialised ALBERT of the `tiny` shape saved as a checkpoint directory."""
    import torch

    from edge_albert.model.albert import AlbertForSequenceClassification
    from edge_albert.model.checkpoint import save_model
    from edge_albert.model.config import preset_config

    torch.manual_seed(0)
    config = preset_config("tiny", vocab_size=2000, labels=["negative", "positive"], max_position_embeddings=128)
    model = AlbertForSequenceClassification(config)
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    return save_model(model, out, tokenizer_model=spiece_model)
