"""ALBERT in plain PyTorch, numerically identical to Hugging Face's implementation.

Module and parameter names follow `transformers.models.albert.modeling_albert` exactly, so state
dicts are interchangeable. The forward pass has no data-dependent Python control flow: the only
loops run over config values, which keeps ONNX and TFLite export straightforward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from edge_albert.model.config import AlbertConfig

# Additive mask value for padded keys. exp(-10000) underflows to exactly 0 in fp32, like
# Hugging Face's finfo.min, but unlike finfo.min it also survives fp16 conversion without -inf.
MASK_VALUE = -10000.0


def _activation(name: str):
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu
    if name == "relu":
        return F.relu
    raise ValueError(f"unsupported activation {name!r}")


class AlbertEmbeddings(nn.Module):
    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer(
            "position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False
        )

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        seq_length = input_ids.shape[1]
        position_ids = self.position_ids[:, :seq_length]
        embeddings = (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(position_ids)
        )
        return self.dropout(self.LayerNorm(embeddings))


class AlbertAttention(nn.Module):
    def __init__(self, config: AlbertConfig, layer_index: int = 0) -> None:
        super().__init__()
        # Pruned heads are gone from the weights; the head size stays hidden / original heads.
        self.num_attention_heads = config.heads_in_layer(layer_index)
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dense = nn.Linear(self.all_head_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention_dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = self._heads(self.query(hidden_states))
        k = self._heads(self.key(hidden_states))
        v = self._heads(self.value(hidden_states))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        probs = self.attention_dropout(torch.softmax(scores + mask, dim=-1))
        context = torch.matmul(probs, v).transpose(1, 2)
        b, n = context.shape[0], context.shape[1]
        context = context.reshape(b, n, self.all_head_size)
        projected = self.output_dropout(self.dense(context))
        # `projected + hidden_states`, not the reverse as in transformers (the sum is bit-identical):
        # ONNX Runtime's attention fusion follows the first Add input of the residual LayerNorm,
        # and in the first layer `hidden_states` is itself an Add (the embedding projection's
        # bias), which sent it down the wrong branch; the first layer then stayed unfused.
        return self.LayerNorm(projected + hidden_states)


class AlbertLayer(nn.Module):
    def __init__(self, config: AlbertConfig, layer_index: int = 0) -> None:
        super().__init__()
        self.full_layer_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = AlbertAttention(config, layer_index)
        self.ffn = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.activation = _activation(config.hidden_act)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attention_output = self.attention(hidden_states, mask)
        ffn_output = self.ffn_output(self.activation(self.ffn(attention_output)))
        return self.full_layer_layer_norm(ffn_output + attention_output)


class AlbertLayerGroup(nn.Module):
    def __init__(self, config: AlbertConfig, group_index: int = 0) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList(
            [AlbertLayer(config, group_index * config.inner_group_num + i) for i in range(config.inner_group_num)]
        )

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.albert_layers:
            hidden_states = layer(hidden_states, mask)
        return hidden_states


class AlbertTransformer(nn.Module):
    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding_hidden_mapping_in = nn.Linear(config.embedding_size, config.hidden_size)
        self.albert_layer_groups = nn.ModuleList([AlbertLayerGroup(config, g) for g in range(config.num_hidden_groups)])

    def group_schedule(self) -> list[int]:
        """Which layer group runs at each of the `num_hidden_layers` repetitions (ALBERT's sharing)."""
        layers_per_group = self.config.num_hidden_layers // self.config.num_hidden_groups
        return [i // layers_per_group for i in range(self.config.num_hidden_layers)]

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden_states = self.embedding_hidden_mapping_in(hidden_states)
        for group_idx in self.group_schedule():
            hidden_states = self.albert_layer_groups[group_idx](hidden_states, mask)
        return hidden_states


class AlbertPreTrainedModel(nn.Module):
    """Weight initialisation shared by every ALBERT model (as in Hugging Face)."""

    config: AlbertConfig

    def init_weights(self) -> None:
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.padding_idx is not None:
                    with torch.no_grad():
                        module.weight[module.padding_idx].zero_()
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


class AlbertModel(AlbertPreTrainedModel):
    def __init__(self, config: AlbertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__()
        self.config = config
        self.embeddings = AlbertEmbeddings(config)
        self.encoder = AlbertTransformer(config)
        # Token-level heads have no pooler, as in Hugging Face (their files carry no pooler weights).
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.pooler_activation = nn.Tanh() if add_pooling_layer else None

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns (sequence_output [B, N, H], pooled_output [B, H] or None without a pooler)."""
        sequence_output = self.encoder(self.embeddings(input_ids, token_type_ids), self.additive_mask(attention_mask))
        if self.pooler is None:
            return sequence_output, None
        return sequence_output, self.pool(sequence_output)

    def additive_mask(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, 1, 1, N] additive mask: 0 for real tokens, MASK_VALUE for padding."""
        mask = attention_mask.to(torch.float32).unsqueeze(1).unsqueeze(2)
        return (1.0 - mask) * MASK_VALUE

    def pool(self, sequence_output: torch.Tensor) -> torch.Tensor:
        """The pooler: tanh(W h_[CLS] + b)."""
        return self.pooler_activation(self.pooler(sequence_output[:, 0]))


def set_encoder_dropout(model: AlbertForSequenceClassification | AlbertForPreTraining, p: float) -> None:
    """Set the dropout of the embeddings, attention and feed-forward blocks (hidden and attention
    probabilities; the classifier's own dropout is left alone), in the config and the live modules."""
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = p
    for module in model.albert.modules():
        if isinstance(module, nn.Dropout):
            module.p = p


def masked_mean(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of `states` [B, N, H] over the real (mask 1) tokens of each row."""
    weights = attention_mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def default_inputs(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, token_type_ids: torch.Tensor | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """A missing mask means every token is real; missing token types mean one segment (as in Hugging Face)."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    return attention_mask, token_type_ids


class AlbertForSequenceClassification(AlbertPreTrainedModel):
    """ALBERT + pooler + linear classifier. `forward` returns logits [B, num_labels]."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        _, pooled = self.albert(input_ids, attention_mask, token_type_ids)
        return self.classifier(self.dropout(pooled))

    def forward_with_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, sentence representation [B, 2H]): the pooled output next to the mean of the
        last layer over real tokens, what representation distillation matches to a teacher's."""
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        sequence, pooled = self.albert(input_ids, attention_mask, token_type_ids)
        return self.classifier(self.dropout(pooled)), torch.cat([pooled, masked_mean(sequence, attention_mask)], dim=-1)


class AlbertForTokenClassification(AlbertPreTrainedModel):
    """ALBERT (no pooler) + a linear classifier per token. `forward` returns logits [B, N, num_labels]."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        sequence, _ = self.albert(input_ids, attention_mask, token_type_ids)
        return self.classifier(self.dropout(sequence))


class AlbertForQuestionAnswering(AlbertPreTrainedModel):
    """ALBERT (no pooler) + one linear layer giving each token a start and an end score.
    `forward` returns (start_logits [B, N], end_logits [B, N])."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        sequence, _ = self.albert(input_ids, attention_mask, token_type_ids)
        logits = self.qa_outputs(sequence)
        return logits[..., 0].contiguous(), logits[..., 1].contiguous()


@dataclass(frozen=True)
class SentencePooling:
    """How token states become one sentence vector, as sentence-transformers records it
    (`1_Pooling/config.json`, `2_Normalize`): the mean over real tokens or the [CLS] state, then
    optionally L2-normalised so that a dot product is the cosine similarity."""

    mode: str = "mean"
    normalize: bool = True

    MODES = ("mean", "cls")

    def __post_init__(self) -> None:
        if self.mode not in self.MODES:
            raise ValueError(f"unsupported pooling {self.mode!r}; edge-albert pools with {', '.join(self.MODES)}")

    def __call__(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = masked_mean(states, attention_mask) if self.mode == "mean" else states[:, 0]
        if self.normalize:
            # F.normalize's clamp keeps an all-zero row finite, as sentence-transformers does.
            pooled = F.normalize(pooled, p=2.0, dim=-1)
        return pooled


class AlbertForSentenceEmbedding(AlbertPreTrainedModel):
    """Hugging Face's bare `AlbertModel` (encoder and pooler, the same tensor names without the
    `albert.` prefix in files) plus the `SentencePooling` that makes one vector per text.
    `forward` returns the sentence embedding [B, H]; `hidden_states` the encoder's outputs."""

    # The architecture name in config.json, and the prefix Hugging Face's bare model leaves out of files.
    architecture = "AlbertModel"
    file_prefix = "albert."

    def __init__(self, config: AlbertConfig, pooling: SentencePooling | None = None) -> None:
        super().__init__()
        self.config = config
        self.pooling = pooling or SentencePooling()
        self.albert = AlbertModel(config)
        self.init_weights()

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(last hidden state [B, N, H], pooler output [B, H]), as `transformers.AlbertModel` gives them."""
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        return self.albert(input_ids, attention_mask, token_type_ids)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        sequence, _ = self.albert(input_ids, attention_mask, token_type_ids)
        return self.pooling(sequence, attention_mask)


class AlbertForMultipleChoice(AlbertPreTrainedModel):
    """ALBERT + pooler + one score per choice. Inputs are [B, choices, N]; `forward` returns
    logits [B, choices] (every choice is encoded as its own sequence, as in Hugging Face)."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        choices, length = input_ids.shape[1], input_ids.shape[-1]
        flat = [t.reshape(-1, length) for t in (input_ids, attention_mask, token_type_ids)]
        _, pooled = self.albert(*flat)
        return self.classifier(self.dropout(pooled)).reshape(-1, choices)


class AlbertMLMHead(nn.Module):
    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.decoder = nn.Linear(config.embedding_size, config.vocab_size)
        self.activation = _activation(config.hidden_act)
        self.decoder.bias = self.bias

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden_states))))


class AlbertSOPHead(nn.Module):
    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        # num_labels outputs, as in Hugging Face (a pretraining config keeps its default of 2).
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(pooled_output))


class AlbertForPreTraining(AlbertPreTrainedModel):
    """ALBERT with the masked-LM head (decoder tied to the word embeddings) and the SOP head."""

    # Keys that Hugging Face leaves out of saved files because they are tied.
    tied_keys = {
        "predictions.decoder.weight": "albert.embeddings.word_embeddings.weight",
        "predictions.decoder.bias": "predictions.bias",
    }

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config)
        self.predictions = AlbertMLMHead(config)
        self.sop_classifier = AlbertSOPHead(config)
        self.init_weights()
        self.tie_weights()

    def tie_weights(self) -> None:
        self.predictions.decoder.weight = self.albert.embeddings.word_embeddings.weight
        self.predictions.decoder.bias = self.predictions.bias

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (MLM logits [B, N, V], sentence-order logits [B, 2])."""
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        sequence_output, pooled = self.albert(input_ids, attention_mask, token_type_ids)
        return self.predictions(sequence_output), self.sop_classifier(pooled)


class AlbertForMaskedLM(AlbertPreTrainedModel):
    """ALBERT (no pooler) with the masked-LM head, its decoder tied to the word embeddings.
    `forward` returns logits over the vocabulary [B, N, V]."""

    tied_keys = AlbertForPreTraining.tied_keys

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.predictions = AlbertMLMHead(config)
        self.init_weights()
        self.tie_weights()

    tie_weights = AlbertForPreTraining.tie_weights

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attention_mask, token_type_ids = default_inputs(input_ids, attention_mask, token_type_ids)
        sequence, _ = self.albert(input_ids, attention_mask, token_type_ids)
        return self.predictions(sequence)


def architecture_name(model_class: type[AlbertPreTrainedModel]) -> str:
    """The class's name in config.json's `architectures` (Hugging Face's class name)."""
    return getattr(model_class, "architecture", model_class.__name__)


ARCHITECTURES: dict[str, type[AlbertPreTrainedModel]] = {
    "AlbertModel": AlbertForSentenceEmbedding,
    "AlbertForMaskedLM": AlbertForMaskedLM,
    "AlbertForMultipleChoice": AlbertForMultipleChoice,
    "AlbertForSequenceClassification": AlbertForSequenceClassification,
    "AlbertForTokenClassification": AlbertForTokenClassification,
    "AlbertForQuestionAnswering": AlbertForQuestionAnswering,
    "AlbertForPreTraining": AlbertForPreTraining,
}

__all__ = [
    "set_encoder_dropout",
    "AlbertModel",
    "AlbertForSequenceClassification",
    "AlbertForTokenClassification",
    "AlbertForQuestionAnswering",
    "AlbertForPreTraining",
    "AlbertForSentenceEmbedding",
    "AlbertForMultipleChoice",
    "AlbertForMaskedLM",
    "SentencePooling",
    "architecture_name",
    "ARCHITECTURES",
    "MASK_VALUE",
    "masked_mean",
]
