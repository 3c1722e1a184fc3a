"""Pre-tokenized corpora larger than memory: memory-mapped token shards.

`prepare_shards` tokenizes text files once, in parallel worker processes, into a folder of shards:

    SHARDS/index.json            format, tokenizer digest, dtype, per-shard text and token counts
    SHARDS/shard-00000.tokens    every text's piece ids back to back (uint16, or uint32 for big vocabularies)
    SHARDS/shard-00000.offsets   int64 [texts + 1]: where each text starts (and where the last ends)

`TokenShards` opens the folder without reading it: texts are read from the page cache on demand,
so a pretraining job (one per rank) holds only the texts of its batches. The folder is written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_albert.checksums import sha256_file
from edge_albert.errors import InputError
from edge_albert.staging import staged_directory
from edge_albert.tokenization import AlbertTokenizer

FORMAT = "edge-albert-token-shards/1"
INDEX_NAME = "index.json"


@dataclass(frozen=True)
class ShardsInfo:
    directory: str
    texts: int
    tokens: int
    shards: int
    vocab_size: int
    dtype: str
    seconds: float


def _text_lines(paths: Sequence[Path], text_column: str | None) -> Iterator[str]:
    """The texts of each file: .txt line by line (streamed, never whole in memory), other formats
    through the project's readers."""
    from edge_albert.data.readers import read_texts

    for path in map(Path, paths):
        if not path.is_file():
            raise InputError("no such text file; pass existing .txt/.tsv/.csv/.jsonl files", path)
        if path.suffix == ".txt" and text_column is None:
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.strip():
                        yield line.rstrip("\n")
        else:
            yield from read_texts(path, text_column=text_column)


def _chunks(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_worker_tokenizer: AlbertTokenizer | None = None


def _start_worker(model_file: str) -> None:
    global _worker_tokenizer
    _worker_tokenizer = AlbertTokenizer(Path(model_file))


def _tokenize_chunk(texts: list[str]) -> list[np.ndarray]:
    assert _worker_tokenizer is not None
    return [np.asarray(_worker_tokenizer.text_ids(t), dtype=np.int64) for t in texts]


class _ShardWriter:
    def __init__(self, folder: Path, dtype: np.dtype, texts_per_shard: int) -> None:
        self.folder, self.dtype, self.texts_per_shard = folder, dtype, texts_per_shard
        self.shards: list[dict] = []
        self._fh = None
        self._offsets: list[int] = []

    def add(self, ids: np.ndarray) -> None:
        if self._fh is None:
            name = f"shard-{len(self.shards):05d}"
            self._fh = open(self.folder / f"{name}.tokens", "wb")
            self._offsets = [0]
            self.shards.append({"name": name})
        self._fh.write(ids.astype(self.dtype).tobytes())
        self._offsets.append(self._offsets[-1] + len(ids))
        if len(self._offsets) - 1 == self.texts_per_shard:
            self.close_shard()

    def close_shard(self) -> None:
        if self._fh is None:
            return
        self._fh.close()
        self._fh = None
        shard = self.shards[-1]
        np.asarray(self._offsets, dtype=np.int64).tofile(self.folder / f"{shard['name']}.offsets")
        shard.update(texts=len(self._offsets) - 1, tokens=self._offsets[-1])


def prepare_shards(
    text_files: Sequence[Path],
    tokenizer: Path,
    output: Path,
    *,
    texts_per_shard: int = 1_000_000,
    workers: int | None = None,
    text_column: str | None = None,
    force: bool = False,
    advance: Callable[[int], None] | None = None,
) -> ShardsInfo:
    """Tokenize `text_files` with `tokenizer` (spiece.model) into memory-mapped shards in
    `output`, `workers` processes at a time (default: all cores); texts keep their file order."""
    if texts_per_shard < 1:
        raise InputError(f"texts per shard must be at least 1, not {texts_per_shard}")
    tokenizer = Path(tokenizer)
    tok = AlbertTokenizer(tokenizer)
    dtype = np.dtype(np.uint16 if tok.vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32)
    workers = workers or multiprocessing.cpu_count()
    started = time.perf_counter()
    with staged_directory(Path(output), force=force) as stage:
        writer = _ShardWriter(stage, dtype, texts_per_shard)
        # Chunks of lines go to the workers and come back in order; a few are in flight at a time,
        # so memory stays bounded by the chunk size, not the corpus.
        chunks = _chunks(_text_lines(text_files, text_column), 2048)
        context = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
        with context.Pool(workers, initializer=_start_worker, initargs=(str(tokenizer),)) if workers > 1 else _InProcess(tokenizer) as pool:
            for ids_list in pool.imap(_tokenize_chunk, chunks):
                for ids in ids_list:
                    writer.add(ids)
                if advance is not None:
                    advance(len(ids_list))
        writer.close_shard()
        if not writer.shards:
            raise InputError("no text in the input files", text_files[0] if text_files else None)
        index = {
            "format": FORMAT,
            "tokenizer_sha256": sha256_file(tokenizer),
            "vocab_size": tok.vocab_size,
            "dtype": dtype.name,
            "texts": sum(s["texts"] for s in writer.shards),
            "tokens": sum(s["tokens"] for s in writer.shards),
            "shards": writer.shards,
            "sources": [str(p) for p in text_files],
        }
        (stage / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
    return ShardsInfo(str(output), index["texts"], index["tokens"], len(writer.shards), tok.vocab_size, dtype.name, time.perf_counter() - started)


class _InProcess:
    """`Pool`'s imap in this process (one worker: no process to start)."""

    def __init__(self, tokenizer: Path) -> None:
        _start_worker(str(tokenizer))

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def imap(self, fn, items):
        return map(fn, items)


class TokenShards:
    """A prepared corpus, memory-mapped: `len(shards)` texts, `shards[i]` the piece ids of text i."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        index_path = self.directory / INDEX_NAME
        if not index_path.is_file():
            raise InputError("not a token-shard folder (no index.json); make one with `edge-albert prepare`", self.directory)
        try:
            index = json.loads(index_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"index.json is not JSON ({exc}); prepare the shards again", index_path) from None
        if index.get("format") != FORMAT:
            raise InputError(f"unknown shard format {index.get('format')!r} (expected {FORMAT}); prepare the shards again", index_path)
        self.index = index
        self.vocab_size = int(index["vocab_size"])
        self.tokenizer_sha256 = index["tokenizer_sha256"]
        self._tokens, self._offsets = [], []
        for shard in index["shards"]:
            tokens_path = self.directory / f"{shard['name']}.tokens"
            offsets_path = self.directory / f"{shard['name']}.offsets"
            offsets = np.memmap(offsets_path, dtype=np.int64, mode="r") if offsets_path.stat().st_size else np.zeros(1, np.int64)
            if len(offsets) != shard["texts"] + 1 or int(offsets[-1]) != shard["tokens"] or tokens_path.stat().st_size != shard["tokens"] * np.dtype(index["dtype"]).itemsize:
                raise InputError(f"shard {shard['name']} does not match index.json (truncated or replaced); prepare the shards again", self.directory)
            self._offsets.append(offsets)
            self._tokens.append(np.memmap(tokens_path, dtype=index["dtype"], mode="r") if shard["tokens"] else np.zeros(0, index["dtype"]))
        self._starts = np.cumsum([0] + [s["texts"] for s in index["shards"]])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, i: int) -> list[int]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        shard = int(np.searchsorted(self._starts, i, side="right")) - 1
        local = i - int(self._starts[shard])
        offsets = self._offsets[shard]
        return self._tokens[shard][int(offsets[local]):int(offsets[local + 1])].astype(np.int64).tolist()

    def check_tokenizer(self, tokenizer: Path) -> None:
        if sha256_file(Path(tokenizer)) != self.tokenizer_sha256:
            raise InputError("these shards were tokenized with another spiece.model; pass the one they were prepared with, or prepare again",
                             Path(tokenizer))


__all__ = ["prepare_shards", "TokenShards", "ShardsInfo", "FORMAT"]
