"""Reading a user's JSON file with one-line errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_albert.errors import InputError


def read_json(path: Path, *, missing: str = "file not found") -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError(missing, path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path) from None
