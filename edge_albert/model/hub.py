"""Checkpoints named the way the ecosystem names them: a Hugging Face Hub id (`albert/albert-base-v2`,
`owner/name@revision`) as well as a folder.

Resolution goes through `huggingface_hub` itself: its cache (`HF_HOME`, `HF_HUB_CACHE`), its offline
switch (`HF_HUB_OFFLINE=1`) and its revisions (a branch, a tag or a commit). Only the files a
checkpoint is made of are fetched: weights in safetensors, never a pickle (a repository that
has only `pytorch_model.bin` is loaded with `torch.load(weights_only=True)` like a local one).
"""

from __future__ import annotations

import re
from pathlib import Path

from edge_albert.errors import InputError

# What a checkpoint folder holds (weights, config, tokenizer, sentence-transformers pooling).
CHECKPOINT_FILES = ["config.json", "*.safetensors", "pytorch_model.bin", "spiece.model", "tokenizer_config.json", "tokenizer.json",
                    "special_tokens_map.json", "vocab.txt", "modules.json", "sentence_bert_config.json", "1_Pooling/*"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*(@[\w./-]+)?$")


def is_hub_id(name: str) -> bool:
    """`owner/name` or `owner/name@revision` that is not an existing path."""
    return bool(_HUB_ID.match(str(name))) and not Path(name).exists()


def resolve_checkpoint(name: str | Path, *, revision: str | None = None) -> Path:
    """A local checkpoint folder for `name`: the folder itself, or the Hub snapshot of a model id
    (from the cache when offline or when the Hub cannot be reached). One-line error otherwise."""
    text = str(name)
    if not is_hub_id(text):
        return Path(name)
    repo_id, _, at = text.partition("@")
    revision = revision or at or None
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:
        raise InputError(f"{text} looks like a Hugging Face Hub id; loading one needs huggingface_hub (pip install 'edge-albert[full]'), "
                         "or pass a checkpoint folder") from None
    from huggingface_hub import constants

    where = f"{repo_id}" + (f"@{revision}" if revision else "")
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=CHECKPOINT_FILES)
    except LocalEntryNotFoundError:
        mode = "the Hub is offline (HF_HUB_OFFLINE=1)" if constants.HF_HUB_OFFLINE else "the Hub cannot be reached"
        raise InputError(f"model {where} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and {mode}; download it once "
                         f"where the Hub is reachable (`huggingface-cli download {repo_id}`) or pass a checkpoint folder") from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise InputError(f"model {where} not found on the Hub ({type(exc).__name__}); check the id and revision") from None
    except HfHubHTTPError as exc:
        raise InputError(f"downloading {where} failed ({str(exc).splitlines()[0]})") from None
    return Path(folder)


__all__ = ["resolve_checkpoint", "is_hub_id", "CHECKPOINT_FILES"]
