from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def grouped_checkpoint(tmp_path_factory, spiece_model) -> Path:
    """A small ALBERT with several hidden groups and inner layers (no sharing across all layers)."""
    from edge_albert.model.albert import AlbertForSequenceClassification
    from edge_albert.model.checkpoint import save_model
    from edge_albert.model.config import AlbertConfig

    torch.manual_seed(1)
    config = AlbertConfig(vocab_size=2000, embedding_size=32, hidden_size=96, num_hidden_layers=4, num_hidden_groups=2,
                          inner_group_num=2, num_attention_heads=4, intermediate_size=192, max_position_embeddings=128,
                          id2label={0: "negative", 1: "positive"})
    return save_model(AlbertForSequenceClassification(config), tmp_path_factory.mktemp("grouped") / "ckpt", tokenizer_model=spiece_model)


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, tiny_checkpoint) -> Path:
    from edge_albert.converters.onnx import export_onnx

    return export_onnx(tiny_checkpoint, tmp_path_factory.mktemp("onnx") / "tiny.onnx").path


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory, tiny_checkpoint) -> Path:
    from edge_albert.converters.tflite import export_tflite

    return export_tflite(tiny_checkpoint, tmp_path_factory.mktemp("tflite") / "tiny.tflite").path


@pytest.fixture(scope="session")
def int8_onnx(tmp_path_factory, trained_checkpoint) -> Path:
    """Dynamic int8 ONNX of the trained classifier (the .ort and text-input tests start from it)."""
    from edge_albert.quantization.api import quantize
    from edge_albert.quantization.configs import DynamicInt8Config

    path = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    quantize(trained_checkpoint, path, DynamicInt8Config(), to="onnx")
    return path
