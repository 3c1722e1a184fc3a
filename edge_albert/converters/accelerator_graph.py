"""ALBERT spelled in the operators phone accelerators take: the model behind
`convert --to onnx --fixed-length N`.

Android's NNAPI and Apple's CoreML (through ONNX Runtime's execution providers) take a graph only
in the pieces whose every node they support, with fixed shapes; each piece boundary costs a copy
between the accelerator and the CPU. ONNX Runtime's checker on our dynamic export: NNAPI takes 3
of 143 nodes (dynamic shapes), and with shapes fixed 128 of 143 in 14 pieces, because NNAPI has no
`LayerNormalization` and no `Gelu` (one of each per layer) and CoreML's ML Program has no
`Gather`. This module swaps, in a loaded model and for export only, each such piece for the
same arithmetic in operators all of them take:

- LayerNorm as MatMul (means) / Sub / Mul / Add / Sqrt / Div;
- the tanh GELU ALBERT uses (`gelu_new`) as Mul / Add / Tanh (the exact, erf GELU has no
  NNAPI form and stays as it is);
- the token-type lookup (two types) as `e0 + type * (e1 - e0)`, no Gather on an input;
- the pooler's first-token pick and question answering's start / end split as Slice + Squeeze
  instead of Gather, and the mask's new axes as Reshape instead of Unsqueeze.

Same weights, same function: the export is checked against the unchanged PyTorch model
(`convert`'s 1e-4 check; measured ~1e-6).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from edge_albert.model.albert import MASK_VALUE, AlbertEmbeddings, AlbertForQuestionAnswering, AlbertModel, default_inputs

TANH_GELU_ACTS = ("gelu_new", "gelu_pytorch_tanh")


class DecomposedLayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Means as a MatMul with a constant 1/H column: CoreML's NeuralNetwork format has no ReduceMean.
        average = torch.full((x.shape[-1], 1), 1.0 / x.shape[-1], dtype=x.dtype)
        centered = x - torch.matmul(x, average)
        variance = torch.matmul(centered * centered, average)
        return centered / torch.sqrt(variance + self.eps) * self.weight + self.bias


def tanh_gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))


class TwoTypeEmbeddings(AlbertEmbeddings):
    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        seq_length = input_ids.shape[1]
        table = self.token_type_embeddings.weight
        # Reshape, not Unsqueeze (CoreML's NeuralNetwork format has no Unsqueeze); shapes are fixed.
        types = token_type_ids.to(table.dtype).reshape(token_type_ids.shape[0], seq_length, 1)
        embeddings = (
            self.word_embeddings(input_ids)
            + (table[0] + types * (table[1] - table[0]))
            + self.position_embeddings(self.position_ids[:, :seq_length])
        )
        return self.dropout(self.LayerNorm(embeddings))


class SlicedPoolerAlbertModel(AlbertModel):
    def additive_mask(self, attention_mask: torch.Tensor) -> torch.Tensor:
        batch, length = attention_mask.shape
        return (1.0 - attention_mask.to(torch.float32).reshape(batch, 1, 1, length)) * MASK_VALUE

    def pool(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.pooler_activation(self.pooler(sequence_output[:, :1].squeeze(1)))


class SlicedAlbertForQuestionAnswering(AlbertForQuestionAnswering):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None):
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        logits = self.qa_outputs(self.albert(input_ids, attention_mask, token_type_ids)[0])
        return logits[..., 0:1].squeeze(-1), logits[..., 1:2].squeeze(-1)


def use_accelerator_operators(model: nn.Module) -> list[str]:
    """Swap, in place, the pieces above for their accelerator-friendly spelling (same parameters,
    same buffers: only the classes and the activation functions change). Returns what it swapped."""
    swapped = set()
    config = getattr(model, "config", None)
    for module in model.modules():
        if type(module) is nn.LayerNorm:
            module.__class__ = DecomposedLayerNorm
            swapped.add("layer_norm")
        elif type(module) is AlbertEmbeddings and module.token_type_embeddings.num_embeddings == 2:
            module.__class__ = TwoTypeEmbeddings
            swapped.add("token_types")
        elif type(module) is AlbertModel:
            module.__class__ = SlicedPoolerAlbertModel
            swapped.add("pooler_slice")
        elif type(module) is AlbertForQuestionAnswering:
            module.__class__ = SlicedAlbertForQuestionAnswering
            swapped.add("span_slice")
        if hasattr(module, "activation") and config is not None and getattr(config, "hidden_act", None) in TANH_GELU_ACTS:
            module.activation = tanh_gelu
            swapped.add("tanh_gelu")
    return sorted(swapped)


__all__ = ["DecomposedLayerNorm", "TwoTypeEmbeddings", "SlicedAlbertForQuestionAnswering", "SlicedPoolerAlbertModel", "tanh_gelu",
           "use_accelerator_operators"]
