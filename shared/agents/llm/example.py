"""An example answer for a contract: what a valid reply looks like, built from its JSON schema.

Where only the prompt can carry the contract (plain JSON mode), a small model shown the raw JSON
schema tends to copy the schema back instead of filling it; shown a filled example it answers in
kind. The example is built from the schema alone (the first enum value, the lower bound of a
number, a placeholder string of an allowed length, one item per list), never from the event, and
it is checked against the contract itself before it is used.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

_TEXT = "..."
_SAMPLES = ("en", "...", "x", "a-1", "A1")


@functools.lru_cache(maxsize=256)
def example_answer(schema: type[BaseModel]) -> str | None:
    """Compact JSON of a valid instance of ``schema``; ``None`` if none could be built."""
    root = schema.model_json_schema()
    value = _example(root, root.get("$defs", {}), depth=0)
    try:
        schema.model_validate(value)
    except ValidationError:
        return None
    return orjson.dumps(value).decode()


def _example(node: dict[str, Any], defs: dict[str, Any], depth: int) -> Any:
    if depth > 8:
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _example(defs.get(ref.rsplit("/", 1)[-1], {}), defs, depth + 1)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in node.get(key, []) if o.get("type") != "null"]
        if options:
            return _example(options[0], defs, depth + 1)
    return _typed(node, defs, depth)


def _typed(node: dict[str, Any], defs: dict[str, Any], depth: int) -> Any:
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        return {name: _example(sub, defs, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        if node.get("maxItems") == 0:
            return []
        count = max(1, int(node.get("minItems", 1)))
        return [_example(node.get("items", {}), defs, depth + 1) for _ in range(count)]
    if kind == "string":
        return _string(node)
    if kind in ("number", "integer"):
        return _number(node, integer=kind == "integer")
    if kind == "boolean":
        return False
    return None


def _string(node: dict[str, Any]) -> str | None:
    pattern = node.get("pattern")
    if isinstance(pattern, str):  # e.g. a language code: the first sample it accepts
        return next((c for c in _SAMPLES if re.fullmatch(pattern, c)), None)
    least = int(node.get("minLength", 0))
    most = int(node.get("maxLength", max(least, len(_TEXT))))
    return (_TEXT * (least // len(_TEXT) + 1))[: max(least, min(most, len(_TEXT)))]


def _number(node: dict[str, Any], *, integer: bool) -> float | int:
    if "minimum" in node:
        low: float | int = node["minimum"]
        return low
    if "exclusiveMinimum" in node:
        bound: float | int = node["exclusiveMinimum"]
        return bound + (1 if integer else 0.5)
    return 0
