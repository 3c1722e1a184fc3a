"""One progress bar for every long loop: description, count, rate and ETA, on stderr."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def _enabled() -> bool:
    return os.environ.get("EDGE_ALBERT_PROGRESS", "1") != "0"


@contextlib.contextmanager
def progress_bar(total: int | None, description: str, unit: str = "it", *, shown: bool = True) -> Iterator:
    """Yields `advance(n=1, **fields)`; set EDGE_ALBERT_PROGRESS=0 to silence it (`shown=False`
    silences one bar: the ranks of a training job other than the first)."""
    if not shown or not _enabled():
        yield lambda n=1, **fields: None
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
    with Progress(*columns, console=Console(stderr=True), transient=False, refresh_per_second=2) as bar:
        task = bar.add_task(description, total=total, status="", rate="")

        def advance(n: int = 1, **fields) -> None:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.1f} {unit}/s" if speed else "", status=" ".join(f"{k}={v}" for k, v in fields.items()))

        yield advance


__all__ = ["progress_bar"]
