"""Edits of parsed JSON documents (manifests, reports) for the hostile-input tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def _parent(document, path: Sequence):
    for key in path[:-1]:
        document = document[key]
    return document


def setting(path: Sequence, value) -> Callable:
    """An edit that sets the field at `path` (keys and list indices) to `value`, in place."""
    def edit(document):
        _parent(document, path)[path[-1]] = value
        return document
    return edit


def dropping(path: Sequence) -> Callable:
    """An edit that deletes the field at `path`, in place."""
    def edit(document):
        del _parent(document, path)[path[-1]]
        return document
    return edit
