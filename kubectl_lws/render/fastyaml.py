"""Block-style YAML for JSON-shaped data (API objects), several times faster than PyYAML's dumper.

Why: a report of 512 real pods spent most of its time in PyYAML's Python representer (even with
the libyaml emitter). API objects are only dicts, lists, strings, numbers, booleans and null, so a
direct emitter is enough: strings that could be read back as anything else are written as JSON
double-quoted strings, which are valid YAML. Round-trip equality with ``yaml.safe_load`` is tested.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z/][A-Za-z0-9_./-]*\Z")
_RESERVED = frozenset({"yes", "no", "on", "off", "true", "false", "null", "y", "n"})
_ODD = ("\u2028", "\u2029", "\u0085", "\ufeff")


_cache: dict[str, str] = {}


def _string(text: str) -> str:
    """Plain when it reads back as the same string, else JSON-quoted; memoised (keys repeat a lot)."""
    hit = _cache.get(text)
    if hit is not None:
        return hit
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        out = text
    else:
        out = json.dumps(text, ensure_ascii=any(ch in text for ch in _ODD))
    if len(_cache) > 100_000:
        _cache.clear()
    _cache[text] = out
    return out


def _scalar(value: Any) -> str:
    if value.__class__ is str:
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return _string(str(value))


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Append the lines of a non-empty dict or list at ``indent``."""
    append = out.append
    if value.__class__ is dict or isinstance(value, dict):
        deeper = indent + "  "
        for key, item in value.items():
            k = _string(key) if key.__class__ is str else _string(str(key))
            cls = item.__class__
            if cls is dict and item:
                append(f"{indent}{k}:")
                _emit(item, deeper, out)
            elif cls is list and item:
                append(f"{indent}{k}:")
                _emit(item, indent, out)
            else:
                append(f"{indent}{k}: {_scalar(item)}")
        return
    cut = len(indent) + 2
    for item in value:
        if isinstance(item, (dict, list)) and item:
            start = len(out)
            _emit(item, indent + "  ", out)
            out[start] = f"{indent}- " + out[start][cut:]
        else:
            append(f"{indent}- {_scalar(item)}")


def dumps(data: Any) -> str:
    """YAML text of ``data`` (trailing newline), readable back by any YAML 1.1/1.2 parser."""
    if not isinstance(data, (dict, list)) or not data:
        return _scalar(data) + "\n"
    out: list[str] = []
    _emit(data, "", out)
    return "\n".join(out) + "\n"
