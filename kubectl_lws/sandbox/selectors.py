"""Label and field selectors with kube-apiserver's parsing rules and error texts.

The parser follows the shape of apimachinery's ``labels.Parse`` (a small lexer plus a recursive
descent over requirements) so the 400 messages match the golden recordings exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ApiError, bad_request

_SPECIAL = "!=,()<>"
_OPERATORS = {"!": "!", "!=": "!=", "(": "(", ")": ")", ",": ",", "=": "=", "==": "==", ">": ">", "<": "<"}
_IDENT, _EOS = "IDENT", "EOS"


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (type, literal); type is _IDENT, _EOS, an operator literal, or the keywords in/notin."""
    toks: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _SPECIAL:
            j = i + 1
            best = ch
            while j < n and text[j] in _SPECIAL and text[i:j + 1] in _OPERATORS:
                best = text[i:j + 1]
                j += 1
            toks.append((best, best))
            i += len(best)
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
            j += 1
        word = text[i:j]
        toks.append((word if word in ("in", "notin") else _IDENT, word))
        i = j
    toks.append((_EOS, ""))
    return toks


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str            # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()
    # the values as a set: a LIST tests every object of the range against them (`name in (...)` of
    # a hundred LWS over 50,000 pods)
    lookup: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lookup", frozenset(self.values))

    def matches(self, labels: dict) -> bool:
        has = self.key in labels
        if self.op in ("=", "in"):
            return has and labels[self.key] in self.lookup
        if self.op in ("!=", "notin"):
            return not has or labels[self.key] not in self.lookup
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("gt", "lt"):
            if not has:
                return False
            try:
                v = int(labels[self.key])
            except ValueError:
                return False
            return v > int(self.values[0]) if self.op == "gt" else v < int(self.values[0])
        return False


class _Parser:
    def __init__(self, text: str):
        self.toks = _lex(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.pos]

    def take(self) -> tuple[str, str]:
        tok = self.toks[self.pos]
        if tok[0] != _EOS:
            self.pos += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            t, lit = self.peek()
            if t == _EOS:
                return reqs
            if t in (_IDENT, "!"):
                try:
                    reqs.append(self.requirement())
                except ValueError as e:
                    raise bad_request(f"unable to parse requirement: {e}") from None
                t, lit = self.take()
                if t == _EOS:
                    return reqs
                if t == ",":
                    t2, lit2 = self.peek()
                    if t2 not in (_IDENT, "!"):
                        raise bad_request(f"found '{lit2}', expected: identifier after ','")
                    continue
                raise bad_request(f"found '{lit}', expected: ',' or 'end of string'")
            raise bad_request(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        t, lit = self.take()
        negate = False
        if t == "!":
            negate = True
            t, lit = self.take()
        if t != _IDENT:
            raise ValueError(f"found '{lit}', expected: identifier")
        key = lit
        nt, _ = self.peek()
        if nt in (_EOS, ","):
            return Requirement(key, "!" if negate else "exists")
        if negate:
            raise ValueError(f"found '{self.peek()[1]}', expected: ',' or 'end of string'")
        op_t, op_lit = self.take()
        if op_t in ("in", "notin"):
            return Requirement(key, op_t, tuple(self.value_set()))
        if op_t in ("=", "=="):
            return Requirement(key, "=", (self.exact_value(),))
        if op_t == "!=":
            return Requirement(key, "!=", (self.exact_value(),))
        if op_t in (">", "<"):
            v = self.exact_value()
            try:
                int(v)
            except ValueError:
                raise ValueError(f"for 'Gt', 'Lt' operators, the value must be an integer") from None
            return Requirement(key, "gt" if op_t == ">" else "lt", (v,))
        raise ValueError(f"found '{op_lit}', expected: in, notin, =, ==, !=, gt, lt")

    def exact_value(self) -> str:
        t, lit = self.peek()
        if t in (_EOS, ","):
            return ""
        t, lit = self.take()
        if t == _IDENT:
            return lit
        raise ValueError(f"found '{lit}', expected: identifier")

    def value_set(self) -> list[str]:
        t, lit = self.take()
        if t != "(":
            raise ValueError(f"found '{lit}', expected:'('")
        values: list[str] = []
        t, lit = self.peek()
        if t == ")":
            self.take()
            return values
        if t not in (_IDENT, ","):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        while True:
            t, lit = self.take()
            if t == _IDENT:
                values.append(lit)
                t2, lit2 = self.peek()
                if t2 == ",":
                    self.take()
                    continue
                if t2 == ")":
                    self.take()
                    return values
                raise ValueError(f"found '{lit2}', expected: ',' or ')'")
            if t == ",":
                values.append("")
                continue
            if t == ")":
                values.append("")
                return values
            raise ValueError(f"found '{lit}', expected: ',' or ')'")


LabelMatcher = Callable[[dict], bool]


def parse_label_selector(selector: str | dict | None) -> list[Requirement]:
    """Parse a selector string, a ``LabelSelector`` dict (matchLabels/matchExpressions) or a plain label map."""
    if not selector:
        return []
    if isinstance(selector, str):
        return _Parser(selector).parse()
    if "matchLabels" in selector or "matchExpressions" in selector:
        reqs = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
        ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        for e in selector.get("matchExpressions") or []:
            reqs.append(Requirement(e["key"], ops[e["operator"]], tuple(e.get("values") or ())))
        return reqs
    return [Requirement(k, "=", (str(v),)) for k, v in selector.items()]


def label_matcher(selector: str | dict | None) -> LabelMatcher | None:
    """A predicate over a labels dict, or None when the selector selects everything."""
    reqs = parse_label_selector(selector)
    if not reqs:
        return None
    return lambda labels: all(r.matches(labels) for r in reqs)


def selector_string(selector: dict | None) -> str:
    """Render a LabelSelector as kube's canonical string (used for Scale ``status.selector``)."""
    parts: list[str] = []
    for r in sorted(parse_label_selector(selector or {}), key=lambda r: r.key):
        if r.op == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.op == "!=":
            parts.append(f"{r.key}!={r.values[0]}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(sorted(r.values))})")
        elif r.op == "exists":
            parts.append(r.key)
        elif r.op == "!":
            parts.append("!" + r.key)
    return ",".join(parts)


# ---------------------------------------------------------------------------------------------- fields

def _get_path(obj: dict, path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _field_value(obj: dict, path: str) -> str:
    v = _get_path(obj, path)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def parse_field_selector(selector: str | None, supported: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """``[(field, op, value)]`` with op ``=``/``!=``; unsupported fields give kube's 400."""
    if not selector:
        return []
    terms: list[tuple[str, str, str]] = []
    for raw in selector.split(","):
        term = raw.strip()
        if not term:
            continue
        for op in ("!=", "==", "="):
            if op in term:
                k, v = term.split(op, 1)
                terms.append((k.strip(), "!=" if op == "!=" else "=", v.strip()))
                break
        else:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
    for k, _, _ in terms:
        if k not in supported:
            raise bad_request(f"field label not supported: {k}")
    return terms


def field_matcher(selector: str | None, supported: tuple[str, ...]) -> Callable[[dict], bool] | None:
    terms = parse_field_selector(selector, supported)
    if not terms:
        return None

    def match(obj: dict) -> bool:
        for k, op, v in terms:
            actual = _field_value(obj, k)
            if (actual == v) != (op == "="):
                return False
        return True
    return match


__all__ = ["ApiError", "Requirement", "parse_label_selector", "label_matcher", "selector_string",
           "parse_field_selector", "field_matcher"]
