"""What a container runs: its command line after Kubernetes ``$(VAR)`` expansion and, inside ``sh -c`` /
``bash -c`` strings, after the shell's own ``$VAR`` expansion, split into simple commands.

Pure functions. Why our own small lexer and not ``shlex``: the checks must see *where* a value came
from (``--node-rank $(LWS_WORKER_INDEX)`` vs a literal ``1``) and evaluate one template for thousands of
pods cheaply, so a script is lexed once (cached by its text) into words made of literal and variable
parts, and only the expansion runs per pod. The shell subset covers what serving manifests use:
quotes, ``$VAR``/``${VAR}``/``${VAR:-default}``, ``NAME=value`` and ``export NAME=value`` assignments,
and the ``;`` ``&&`` ``||`` ``|`` ``&`` separators. Anything fancier (loops, functions, ``$(cmd)``)
leaves its words unrecognised rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})
# Commands that run the next word as the program (their own options are skipped).
WRAPPERS = frozenset({"exec", "nohup", "time", "stdbuf", "setsid", "command", "tini", "dumb-init"})
_K8S_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_SPECIAL = re.compile(r"[\s'\"\\;&|<>()`$]")
MAX_DEPTH = 4


@dataclass(frozen=True)
class Word:
    """One word of a command: ``value`` after expansion, ``raw`` as written (before any expansion)."""

    value: str
    raw: str
    unresolved: bool = False  # a variable in it had no known value

    def refers_to(self, var: str) -> bool:
        return f"$({var})" in self.raw or f"${var}" in self.raw or f"${{{var}" in self.raw


# ---- Kubernetes $(VAR) expansion ---------------------------------------------------------------------

def k8s_expand(text: str, env: dict[str, str | None]) -> tuple[str, bool]:
    """``$(VAR)`` -> value for known literal vars, ``$$`` -> ``$``; unknown refs stay (as the kubelet does).
    Returns (text, whether a reference stayed unresolved)."""
    if "$" not in text:
        return text, False
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        if m.group(0) == "$$":
            return "$"
        value = env.get(m.group(1))
        if value is None:
            missing = True
            return m.group(0)
        return value

    return _K8S_REF.sub(sub, text), missing


# ---- the shell lexer -----------------------------------------------------------------------------------

# A lexed word is a tuple of parts: ("lit", text, quoted) | ("var", name, default|None, quoted) |
# ("k8s", name, quoted): a $(VAR) the kubelet expands before the shell sees the text.
Part = tuple


def _lex(text: str) -> list[list[tuple[tuple[Part, ...], str]]]:
    """Commands -> words -> (parts, raw text). Separators end a command; comments are dropped."""
    commands: list[list[tuple[tuple[Part, ...], str]]] = []
    words: list[tuple[tuple[Part, ...], str]] = []
    parts: list[Part] = []
    lit: list[str] = []
    i, n = 0, len(text)
    start = None
    in_word = False

    def flush_lit(quoted: bool) -> None:
        if lit:
            parts.append(("lit", "".join(lit), quoted))
            lit.clear()

    def end_word(pos: int) -> None:
        nonlocal in_word, start
        flush_lit(False)
        if in_word:
            words.append((tuple(parts), text[start:pos]))
        parts.clear()
        in_word = False
        start = None

    def end_command() -> None:
        if words:
            commands.append(list(words))
            words.clear()

    def begin(pos: int) -> None:
        nonlocal in_word, start
        if not in_word:
            in_word, start = True, pos

    def dollar(pos: int, quoted: bool) -> int:
        """Parse a $-expansion at ``pos``; returns the index after it."""
        if text.startswith("$(", pos):
            m = _NAME.match(text, pos + 2)
            if m and text.startswith(")", m.end()):
                flush_lit(quoted)
                parts.append(("k8s", m.group(0), quoted))
                return m.end() + 1
            lit.append("$")
            return pos + 1
        if text.startswith("${", pos):
            close = text.find("}", pos + 2)
            m = _NAME.match(text, pos + 2)
            if close > 0 and m:
                rest = text[m.end():close]
                default = None
                if rest.startswith(":-") or rest.startswith("-"):
                    default = rest.split("-", 1)[1]
                elif rest:
                    lit.append(text[pos:close + 1])
                    return close + 1
                flush_lit(quoted)
                parts.append(("var", m.group(0), default, quoted))
                return close + 1
            lit.append("$")
            return pos + 1
        m = _NAME.match(text, pos + 1)
        if m:
            flush_lit(quoted)
            parts.append(("var", m.group(0), None, quoted))
            return m.end()
        lit.append("$")
        return pos + 1

    while i < n:
        c = text[i]
        if c in " \t":
            end_word(i)
            i += 1
        elif c in "\n;&|":
            end_word(i)
            end_command()
            i += 2 if text.startswith(("&&", "||"), i) else 1
        elif c == "#" and not in_word:
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
        elif c == "'":
            begin(i)
            flush_lit(False)
            close = text.find("'", i + 1)
            close = n if close < 0 else close
            parts.append(("lit", text[i + 1:close], True))
            i = close + 1
        elif c == '"':
            begin(i)
            flush_lit(False)
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\$`':
                    lit.append(text[i + 1])
                    i += 2
                elif text[i] == "$":
                    i = dollar(i, True)
                else:
                    lit.append(text[i])
                    i += 1
            flush_lit(True)
            if not parts or parts[-1][0] != "lit":
                parts.append(("lit", "", True))  # "" is still a word
            i += 1
        elif c == "\\":
            if i + 1 < n and text[i + 1] == "\n":  # line continuation
                i += 2
                continue
            begin(i)
            lit.append(text[i + 1] if i + 1 < n else "")
            i += 2
        elif c == "$":
            begin(i)
            i = dollar(i, False)
        else:
            begin(i)
            lit.append(c)
            i += 1
    end_word(n)
    end_command()
    return commands


_lex_cached = lru_cache(maxsize=4096)(lambda text: _lex(text))


def _expand_word(parts: tuple[Part, ...], raw: str, k8s: dict[str, str | None],
                 shell: dict[str, str | None]) -> list[Word]:
    """Expand one lexed word; unquoted variables with spaces split into several words (field splitting)."""
    fields: list[list[str]] = [[]]
    unresolved = False
    for part in parts:
        kind = part[0]
        if kind == "lit":
            fields[-1].append(part[1])
            continue
        if kind == "k8s":
            value = k8s.get(part[1])
            quoted = part[2]
            if value is None:
                unresolved = True
                value = f"$({part[1]})"
                quoted = True
        else:
            name, default, quoted = part[1], part[2], part[3]
            value = shell.get(name)
            if not value and default is not None:
                value = default
            if value is None:
                unresolved = True
                value = "${" + name + "}"
                quoted = True
        if quoted or not any(ch.isspace() for ch in value):
            fields[-1].append(value)
        else:
            pieces = value.split()
            if value[:1].isspace():
                fields.append([])
            for j, piece in enumerate(pieces):
                if j:
                    fields.append([])
                fields[-1].append(piece)
            if value[-1:].isspace():
                fields.append([])
    out = ["".join(f) for f in fields]
    if len(out) > 1:
        out = [w for w in out if w]
    return [Word(v, raw, unresolved) for v in out]


def split_script(text: str, env: dict[str, str | None]) -> list[list[Word]]:
    """A ``sh -c`` script as simple commands of expanded words.

    ``env``: the container's literal env (after ``$(VAR)`` expansion; None for valueFrom entries). The
    kubelet expands ``$(VAR)`` in the script text first; the shell then expands ``$VAR`` with the same
    env plus the script's own assignments, in order.
    """
    lexed = _lex_cached(text)
    k8s_values = env
    # A $(VAR) whose value holds shell syntax changes the lexing: expand first, then lex that text.
    if "$(" in text:
        for m in _K8S_REF.finditer(text):
            if m.group(1) and env.get(m.group(1)) and _SPECIAL.search(env[m.group(1)] or ""):
                lexed = _lex_cached(k8s_expand(text, env)[0])
                break
    shell: dict[str, str | None] = dict(env)
    commands: list[list[Word]] = []
    for words in lexed:
        expanded: list[Word] = []
        for parts, raw in words:
            expanded += _expand_word(parts, raw, k8s_values, shell)
        # leading NAME=value assignments (and `export NAME=value`) set variables for what follows
        j = 0
        while j < len(expanded) and _ASSIGN.match(expanded[j].value) and not expanded[j].raw.startswith(("'", '"')):
            m = _ASSIGN.match(expanded[j].value)
            shell[m.group(1)] = None if expanded[j].unresolved else m.group(2)
            j += 1
        if j < len(expanded) and expanded[j].value in ("export", "declare", "local", "readonly"):
            for w in expanded[j + 1:]:
                m = _ASSIGN.match(w.value)
                if m:
                    shell[m.group(1)] = None if w.unresolved else m.group(2)
            continue
        if expanded[j:]:
            commands.append(expanded[j:])
    return commands


# ---- from a container to its commands ----------------------------------------------------------------

def container_literal_env(container: dict) -> dict[str, str | None]:
    """Name -> value after ``$(VAR)`` expansion among the env entries (None: valueFrom, unknown here)."""
    out: dict[str, str | None] = {}
    for item in container.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if item.get("valueFrom"):
            out[name] = None
            continue
        out[name] = k8s_expand(str(item.get("value", "")), out)[0]
    return out


def _strip_wrappers(words: list[Word]) -> list[Word]:
    """``exec x``, ``nohup x``, ``env A=B x``, ``/usr/bin/x`` -> ``x ...`` (the program and its args)."""
    i = 0
    while i < len(words):
        base = words[i].value.rsplit("/", 1)[-1]
        if base in WRAPPERS:
            i += 1
            while i < len(words) and words[i].value.startswith("-") and base != "command":
                i += 1
            continue
        if base == "env":
            i += 1
            while i < len(words) and (words[i].value.startswith("-") or _ASSIGN.match(words[i].value)):
                i += 1
            continue
        if base == "--":
            i += 1
            continue
        break
    return words[i:]


def expand_commands(argv: list[Word], env: dict[str, str | None], depth: int = 0) -> list[list[Word]]:
    """Simple commands run by ``argv``: itself, or, for ``sh -c SCRIPT``, the script's commands (nested
    shells too, up to MAX_DEPTH)."""
    argv = _strip_wrappers(argv)
    if not argv:
        return []
    prog = argv[0].value.rsplit("/", 1)[-1]
    if prog in SHELLS and depth < MAX_DEPTH:
        i = 1
        script = None
        while i < len(argv):
            flag = argv[i].value
            if flag == "-c" or (flag.startswith("-") and not flag.startswith("--") and "c" in flag[1:]):
                # top level: the argv item as written (the lexer expands $(VAR) and keeps where values
                # came from); nested: the word as the outer shell passes it
                script = "" if i + 1 >= len(argv) else argv[i + 1].raw if depth == 0 else argv[i + 1].value
                break
            if not flag.startswith("-"):
                break
            i += 1
        if script is not None:
            out: list[list[Word]] = []
            for cmd in split_script(script, env):
                out += expand_commands(cmd, env, depth + 1)
            return out
    return [argv]


def container_commands(container: dict, env: dict[str, str | None] | None = None) -> list[list[Word]]:
    """Every simple command the container's ``command`` + ``args`` run (empty: the image's entrypoint)."""
    env = container_literal_env(container) if env is None else env
    argv: list[Word] = []
    for item in list(container.get("command") or []) + list(container.get("args") or []):
        raw = str(item)
        value, missing = k8s_expand(raw, env)
        argv.append(Word(value, raw, missing))
    if not argv:
        return []
    return expand_commands(argv, env)


# ---- flags -----------------------------------------------------------------------------------------------

def norm_flag(name: str) -> str:
    """``--Tensor_Parallel-Size`` -> ``tensor-parallel-size`` (argparse users accept both spellings)."""
    return name.lstrip("-").replace("_", "-").lower()


@dataclass(frozen=True)
class Flag:
    name: str       # as written, e.g. "--tensor_parallel_size"
    value: str | None
    raw: str        # the value's source text (e.g. "$(LWS_WORKER_INDEX)")
    form: str       # "=" (--flag=value), " " (--flag value) or "" (boolean)
    unresolved: bool = False


def parse_flags(words: Iterable[Word], booleans: frozenset[str] = frozenset()) -> tuple[dict[str, Flag], list[Word]]:
    """(normalised name -> last Flag, positional words). ``--flag=value`` and ``--flag value``; a flag
    followed by another flag (or in ``booleans``) is a switch. Single-dash long flags (``-tp 8``) count."""
    flags: dict[str, Flag] = {}
    positional: list[Word] = []
    words = list(words)
    i = 0
    while i < len(words):
        w = words[i]
        v = w.value
        if v.startswith("-") and len(v) > 1 and not _is_number(v):
            if "=" in v:
                name, value = v.split("=", 1)
                raw = w.raw.split("=", 1)[1] if "=" in w.raw else value
                flags[norm_flag(name)] = Flag(name, value, raw, "=", w.unresolved)
            else:
                key = norm_flag(v)
                nxt = words[i + 1] if i + 1 < len(words) else None
                if key not in booleans and nxt is not None and (not nxt.value.startswith("-") or _is_number(nxt.value)):
                    flags[key] = Flag(v, nxt.value, nxt.raw, " ", nxt.unresolved)
                    i += 1
                else:
                    flags[key] = Flag(v, None, "", "")
        else:
            positional.append(w)
        i += 1
    return flags, positional


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def first_flag(flags: dict[str, Flag], *names: str) -> Flag | None:
    for name in names:
        if name in flags:
            return flags[name]
    return None


def split_host_port(text: str) -> tuple[str, int | None]:
    """``host:port`` / ``[v6]:port`` / ``host`` -> (host, port or None)."""
    text = text.strip()
    if text.startswith("tcp://"):
        text = text[6:]
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    try:
        return host, int(port) if port else None
    except ValueError:
        return host, None
