"""One progress bar for every long loop: description, count, rate and ETA, on stderr.

On a terminal it is a live bar (rich). Where stderr is a file or a pipe (CI logs, `nohup`, a
script capturing output) a live bar prints nothing until the loop ends, so there the same
numbers go out as one plain line every EDGE_ALBERT_PROGRESS_EVERY seconds (default 30) and once
at the end."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

EVERY_ENV = "EDGE_ALBERT_PROGRESS_EVERY"


def _enabled() -> bool:
    return os.environ.get("EDGE_ALBERT_PROGRESS", "1") != "0"


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _line_interval() -> float:
    raw = os.environ.get(EVERY_ENV, "30")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 30.0  # a bad value must not stop a training run; the default applies


def progress_lines(total: int | None, description: str, unit: str, stream: TextIO, *, every: float,
                   clock: Callable[[], float] = time.monotonic) -> tuple[Callable[..., None], Callable[[], None]]:
    """`advance(n=1, **fields)` and `finish()` that write plain progress lines to `stream`:
    "description: done/total (pct%) rate unit/s elapsed H:MM:SS eta H:MM:SS fields", at most one
    per `every` seconds, and a last one from `finish()`."""
    start = clock()
    state = {"done": 0, "last": start, "fields": {}, "written": 0}

    def write() -> None:
        now = clock()
        elapsed = now - start
        done = state["done"]
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{description}: {done:,}" + (f"/{total:,} ({100 * done / total:.0f}%)" if total else "")]
        if rate:
            parts.append(f"{rate:,.1f} {unit}/s")
        parts.append(f"elapsed {_clock(elapsed)}")
        if total and rate and done < total:
            parts.append(f"eta {_clock((total - done) / rate)}")
        parts.extend(f"{k}={v}" for k, v in state["fields"].items())
        stream.write(" ".join(parts) + "\n")
        stream.flush()
        state["last"], state["written"] = now, done

    def advance(n: int = 1, **fields) -> None:
        state["done"] += n
        state["fields"].update(fields)
        if clock() - state["last"] >= every:
            write()

    def finish() -> None:
        if state["written"] != state["done"] or state["done"] == 0:
            write()

    return advance, finish


@contextlib.contextmanager
def progress_bar(total: int | None, description: str, unit: str = "it", *, shown: bool = True) -> Iterator:
    """Yields `advance(n=1, **fields)`; set EDGE_ALBERT_PROGRESS=0 to silence it (`shown=False`
    silences one bar: the ranks of a training job other than the first)."""
    if not shown or not _enabled():
        yield lambda n=1, **fields: None
        return
    console = Console(stderr=True)
    if not console.is_terminal:
        advance, finish = progress_lines(total, description, unit, sys.stderr, every=_line_interval())
        try:
            yield advance
        finally:
            finish()
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        # Rate is filled in by advance(): task.speed is None until the second update.
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    ]
    with Progress(*columns, console=console, transient=False, refresh_per_second=2) as bar:
        task = bar.add_task(description, total=total, status="", rate="")

        def advance(n: int = 1, **fields) -> None:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.1f} {unit}/s" if speed else "", status=" ".join(f"{k}={v}" for k, v in fields.items()))

        yield advance


__all__ = ["progress_bar", "progress_lines", "EVERY_ENV"]
