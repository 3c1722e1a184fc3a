"""Reading a user's JSON with one-line errors that name the file and the field.

JSON from users (configs, manifests, reports, baselines, thresholds) is parsed strictly: Python's
`json` accepts `NaN`, `Infinity` and `-Infinity`, which no JSON writer but Python's emits and
which would slip through every range check (NaN compares false with everything). Documents with
a shape are checked against a JSON Schema (draft 2020-12) kept beside the code that reads them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from edge_albert.errors import InputError


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes, source: object) -> Any:
    """Parse JSON text, refusing NaN and Infinity; InputError naming `source` on failure."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(f"not valid JSON ({str(exc)[:200]})", source) from None


def read_json(path: Path, *, missing: str = "file not found") -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError(missing, path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read it ({exc.strerror})", path) from None
    return parse_json(data, path)


@lru_cache(maxsize=None)
def _validator(package: str, name: str):
    from jsonschema import Draft202012Validator

    schema = json.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def field_path(parts) -> str:
    """`models[0].inputs.max_length` from a jsonschema error path."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def check_schema(data: Any, package: str, schema_name: str, source: object, what: str) -> None:
    """Raise InputError naming the first offending field when `data` does not match the schema."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator(package, schema_name).iter_errors(data))
    if error is None:
        return
    if error.validator == "type":
        # jsonschema's message repeats the whole offending value; the types say it in one line.
        expected = error.validator_value if isinstance(error.validator_value, str) else " or ".join(error.validator_value)
        message = f"expected {expected}, got {json_type(error.instance)}"
    else:
        message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
    raise InputError(f"{what}: field {field_path(error.absolute_path)}: {message}", source)


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (null, boolean, integer, number, string, array, object)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for kind, name in ((int, "integer"), (float, "number"), (str, "string"), (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return f"{name} {json.dumps(value)[:40]}" if kind in (int, float, str) else name
    return type(value).__name__


__all__ = ["parse_json", "read_json", "check_schema", "field_path"]
