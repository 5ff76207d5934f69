"""Names a user types, checked as the API server checks them, before they reach a URL.

A name is a path segment: ``nothere/../victim`` would otherwise address another object (urllib3
removes dot segments), ``web#x`` would lose its tail and ``web?x=1`` would add a query. The API
server accepts only DNS-1123 subdomains as object names and DNS-1123 labels as namespaces, so
anything else is refused here with the apimachinery wording, exit 2, nothing sent. Pure: no I/O.
"""

from __future__ import annotations

import re

from kubectl_lws.errors import UsageError

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_RE = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_LABEL_RE = re.compile(_LABEL)
SUBDOMAIN_MAX = 253
LABEL_MAX = 63

SUBDOMAIN_RULE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                  "'.', and must start and end with an alphanumeric character (e.g. 'example.com')")
LABEL_RULE = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
              "must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')")


def subdomain_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 subdomain (an object name), or None."""
    if len(value) > SUBDOMAIN_MAX:
        return f"must be no more than {SUBDOMAIN_MAX} characters"
    if not _SUBDOMAIN_RE.fullmatch(value):
        return SUBDOMAIN_RULE
    return None


def label_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 label (a namespace, a container name), or None."""
    if len(value) > LABEL_MAX:
        return f"must be no more than {LABEL_MAX} characters"
    if not _LABEL_RE.fullmatch(value):
        return LABEL_RULE
    return None


def _shown(value: str) -> str:
    """The value as a message can carry it: control characters escaped, long values shortened."""
    text = value.encode("unicode_escape").decode("ascii") if not value.isprintable() else value
    return text if len(text) <= 80 else text[:77] + "..."


def check_name(value: str, kind: str = "leaderworkerset") -> str:
    """``value`` if it can be the name of an object, else a UsageError (exit 2)."""
    if value == "":
        raise UsageError(f"{kind} name must not be empty")
    problem = subdomain_problem(value)
    if problem:
        raise UsageError(f'invalid {kind} name "{_shown(value)}": {problem}')
    return value


def check_namespace(value: str) -> str:
    """``value`` if it can be a namespace, else a UsageError (exit 2)."""
    if value == "":
        raise UsageError("namespace must not be empty")
    problem = label_problem(value)
    if problem:
        raise UsageError(f'invalid namespace "{_shown(value)}": {problem}')
    return value


def check_container(value: str) -> str:
    """``value`` if it can be a container name (a DNS-1123 label), else a UsageError (exit 2)."""
    problem = label_problem(value) if value else "must not be empty"
    if problem:
        raise UsageError(f'invalid container name "{_shown(value)}": {problem}')
    return value


_QNAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)"
_KEY_RE = re.compile(rf"({_LABEL}(\.{_LABEL})*/)?{_QNAME}")
_VALUE_RE = re.compile(rf"{_QNAME}?")
_REQ_RE = re.compile(r"\s*(?P<neg>!)?\s*(?P<key>[^\s!=<>(),]+)\s*"
                     r"(?:(?P<op>==|!=|=|<|>)\s*(?P<value>[^\s,()]*)"
                     r"|\s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\))?\s*")


def _selector_parts(text: str) -> list[str]:
    """Split on the commas outside ``in (...)`` sets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def selector_problem(text: str) -> str | None:
    """Why ``text`` is not a label selector the API server would parse, or None (kubectl's grammar)."""
    if not text.strip():
        return None
    for part in _selector_parts(text):
        m = _REQ_RE.fullmatch(part)
        if not m or (m.group("neg") and (m.group("op") or m.group("setop"))):
            return f"unable to parse requirement {part.strip()!r}"
        key = m.group("key")
        if len(key.split("/")[-1]) > LABEL_MAX or len(key) > SUBDOMAIN_MAX + 1 + LABEL_MAX \
                or not _KEY_RE.fullmatch(key):
            return (f"invalid label key {key!r}: a name part must be at most 63 characters of alphanumerics, "
                    "'-', '_' or '.', starting and ending with an alphanumeric, with an optional DNS "
                    "subdomain prefix and '/'")
        values = [m.group("value")] if m.group("op") else \
            [v.strip() for v in m.group("values").split(",")] if m.group("setop") else []
        for value in values:
            if value is None or len(value) > LABEL_MAX or not _VALUE_RE.fullmatch(value):
                return (f"invalid label value {value!r}: at most 63 characters of alphanumerics, '-', '_' "
                        "or '.', starting and ending with an alphanumeric")
        if m.group("op") in ("<", ">") and not re.fullmatch(r"-?\d+", values[0]):
            return f"for '{m.group('op')}' the value must be an integer, got {values[0]!r}"
    return None


def check_selector(text: str) -> str:
    """``text`` if it is a label selector the API server would parse, else a UsageError (exit 2)."""
    problem = selector_problem(text)
    if problem:
        raise UsageError(f'invalid label selector "{_shown(text)}": {problem}')
    return text


def check_label_key(value: str, flag: str = "label key") -> str:
    """``value`` if it is a label key (``example.com/rack``) or resource name (``nvidia.com/gpu``), else a
    UsageError (exit 2) naming ``flag``."""
    if not value or len(value.split("/")[-1]) > LABEL_MAX or len(value) > SUBDOMAIN_MAX + 1 + LABEL_MAX \
            or not _KEY_RE.fullmatch(value):
        raise UsageError(f'invalid {flag} "{_shown(value)}": a name of at most 63 alphanumerics, \'-\', \'_\' '
                         "or '.', starting and ending with an alphanumeric, with an optional DNS subdomain "
                         "prefix and '/' (e.g. example.com/rack)")
    return value
