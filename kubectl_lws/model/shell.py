"""A static evaluator for the shell subset that serving manifests use: what a pod's ``sh -c`` script
would run, without running anything.

Why our own: the checks must evaluate one template for thousands of pods (each with its own
``LWS_WORKER_INDEX``), must know where a value came from (``$((LWS_GROUP_SIZE * DP_SIZE_LOCAL))`` vs a
literal ``16``), and must never execute a byte from the cluster. ``shlex`` knows neither ``$(( ))`` nor
``${V:-d}``; a real shell would run the script.

Two stages, as in a pod:

1. The kubelet's ``$(VAR)`` expansion of ``command``/``args`` (the exact rules of Kubernetes'
   ``third_party/forked/golang/expansion``: ``$$`` is a literal ``$``, ``$(NAME)`` of a variable the
   container has is replaced, anything else stays as written). Each replaced reference becomes an atom
   that keeps its name, so a word knows it was written ``$(LWS_WORKER_INDEX)``.
2. The shell: words with single/double/``$'...'`` quotes, backslashes and line continuations, comments,
   ``$V`` ``${V}`` ``${V:-d}`` ``${V-d}`` ``${V:=d}`` ``${V:+d}`` ``${#V}``, ``$0..$9`` ``$@`` ``$*`` ``$#``
   (from ``sh -c SCRIPT NAME ARGS``), ``$(( ))`` with ``+ - * / %`` and parentheses over integers and
   variables (64-bit, as bash), assignments (``A=1``, ``export A=1``, ``unset A``), ``;`` ``&&`` ``||``
   ``|`` ``&`` and newlines, redirections (their targets are not arguments), here-documents,
   ``if``/``elif``/``else`` with ``[ ]``/``[[ ]]``/``test`` conditions over strings and integers, ``{ }``
   and ``( )`` groups, functions, ``eval`` and ``exec`` (nothing after an ``exec`` runs).

What cannot be evaluated statically (``$(cmd)``, backticks, ``${V%x}``, a variable from a Secret, a
file test) leaves the word *unresolved*, carrying the whole expression and the reason, so a check can
say exactly what it could not evaluate; a loop body or a branch whose condition is unknown runs "maybe":
its commands are kept with that condition, its assignments make the variable unknown.

Bounded on hostile input: scripts above ``MAX_SCRIPT`` are not parsed, nesting deeper than ``MAX_NEST``
stops the parse, values above ``MAX_VALUE`` become unknown, and every evaluation has a step budget.
Parsing is one left-to-right pass (no rescans), so time is linear in the script's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping

MAX_SCRIPT = 256 * 1024   # characters; a longer script is not evaluated
MAX_NEST = 32             # ${ $( $(( ( if { nesting
MAX_VALUE = 64 * 1024     # a value growing beyond this is unknown (A=$A$A ... doubles each line)
MAX_STEPS = 200_000       # evaluation steps (words, parts, arithmetic nodes) per script and env
MAX_CALL_DEPTH = 8        # functions, eval, nested arithmetic variables
SHOWN = 100               # an expression is shown up to this many characters in messages

_K8S_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\+?)=")
_INT = re.compile(r"^\s*[-+]?\d+\s*$")
_PLAIN = re.compile(r"[^\s'\"\\$`;&|()<>#\ue000\ue001\n]+")
_REF_OPEN, _REF_CLOSE = "\ue000", "\ue001"
_ATOM = re.compile("\ue000(\\d+)\ue001")
RESERVED = frozenset({"if", "then", "elif", "else", "fi", "for", "while", "until", "do", "done", "case",
                      "esac", "{", "}", "!", "function", "select", "in", "[[", "]]"})
_TESTS = frozenset({"[", "[[", "test"})
_DECLARE = frozenset({"export", "declare", "typeset", "local", "readonly"})
_INT64 = 1 << 64


def shown(text: str, width: int = SHOWN) -> str:
    """An expression for a message: one line, at most ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ---- stage 1: the kubelet's $(VAR) expansion -------------------------------------------------------------

def kubelet_expand(text: str, env: Mapping[str, str | None]) -> tuple[str, bool]:
    """``$(VAR)`` -> value, ``$$`` -> ``$``, as the kubelet expands command, args and env values.

    Returns (text, whether a reference to a variable with no static value stayed as written).
    """
    if "$" not in text:
        return text, False
    missing = False

    def value(name: str) -> str | None:
        nonlocal missing
        v = env.get(name)
        if v is None and name in env:
            missing = True
        return v

    return _kubelet_scan(text, value), missing


def _kubelet_scan(text: str, value) -> str:
    """One pass of the kubelet's rules; ``value(name)`` gives the replacement or None (kept as written)."""
    out: list[str] = []
    i, n, start = 0, len(text), 0
    while i < n - 1:
        if text[i] != "$":
            i = text.find("$", i)
            if i < 0:
                break
            continue
        out.append(text[start:i])
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
            else:
                replaced = value(text[i + 2:close])
                out.append(text[i:close + 1] if replaced is None else replaced)
                i = close + 1
        else:
            out.append(text[i:i + 2])
            i += 2
        start = i
    out.append(text[start:])
    return "".join(out)


@lru_cache(maxsize=2048)
def _kubelet_atoms(text: str, inline: tuple[tuple[str, str], ...] = ()) -> tuple[str, tuple[str, ...]]:
    """Stage 1 without values: the text the shell will see, each ``$(NAME)`` replaced by an atom
    (private-use marks around an index) that keeps its name; values come per pod, later. ``inline``:
    variables whose values hold shell syntax, pasted as text (the shell then lexes them, as in a pod)."""
    text = text.replace(_REF_OPEN, "?").replace(_REF_CLOSE, "?")
    if "$" not in text:
        return text, ()
    refs: list[str] = []
    pasted = dict(inline)

    def value(name: str) -> str | None:
        if name in pasted:
            return pasted[name]
        if not _K8S_NAME.match(name):
            return None
        refs.append(name)
        return f"{_REF_OPEN}{len(refs) - 1}{_REF_CLOSE}"

    return _kubelet_scan(text, value), tuple(refs)


# ---- words and results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Word:
    """One word of a command: ``value`` after expansion, ``raw`` as written (before any expansion).

    ``unresolved``: part of it has no static value; ``why`` then names the whole expression and the
    reason (``$(python3 -c ...)``: a command substitution runs a program)."""

    value: str
    raw: str
    unresolved: bool = False
    why: str = ""

    def refers_to(self, var: str) -> bool:
        return f"$({var})" in self.raw or f"${var}" in self.raw or f"${{{var}" in self.raw


class Command(list):
    """The words of one simple command; ``cond`` is set when it runs only maybe (an ``if`` whose condition
    is unknown, a loop body): the condition as written."""

    cond: str = ""


@dataclass
class Script:
    """What a script runs: its simple commands in order, and why evaluation stopped early (if it did)."""

    commands: list[Command] = field(default_factory=list)
    error: str = ""


# ---- stage 2: parsing --------------------------------------------------------------------------------------

# A word is a tuple of parts:
#   ("lit", text, quoted)                           literal text
#   ("ref", index, quoted)                          a kubelet $(NAME) reference (stage 1 atom)
#   ("var", name, op, word|None, source, quoted)    $V ${V} ${V:-w} ${V:=w} ${V:+w} ${#V} ...
#   ("pos", name, quoted)                           $0..$9 $@ $* $#
#   ("arith", parts, source, quoted)                $(( ... )); parts of the expression text
#   ("opaque", source, why, quoted)                 $(cmd), `cmd`, ${V%x}, $? ...: no static value
#   ("quote",)                                      a quote closed here: the word exists even when empty

class ParseError(Exception):
    pass


@dataclass
class _Simple:
    words: list[tuple[tuple, str]]      # (parts, raw)
    literal: list = field(default_factory=list)  # per word: its Words when it has no expansion, else None

    def __post_init__(self) -> None:
        """Words without an expansion evaluate the same for every pod: made once, at parse time."""
        for parts, raw in self.words:
            if all(p[0] in ("lit", "quote") for p in parts):
                text = "".join(p[1] for p in parts if p[0] == "lit")
                self.literal.append([Word(text, raw)] if text or any(p[0] == "quote" for p in parts) else [])
            else:
                self.literal.append(None)


@dataclass
class _Pipeline:
    commands: list
    bang: bool = False


@dataclass
class _AndOr:
    items: list[tuple[str, _Pipeline]]  # (op: "" | "&&" | "||", pipeline)


@dataclass
class _If:
    clauses: list[tuple[list, list, str]]  # (condition list, body list, condition as written)
    orelse: list | None


@dataclass
class _Block:
    body: list
    kind: str                           # "group" | "subshell" | "loop" | "case"
    raw: str = ""


@dataclass
class _ArithCmd:
    parts: tuple
    source: str


@dataclass
class _Func:
    name: str
    body: list


@dataclass
class _Error:
    message: str


@dataclass
class Parsed:
    """A parsed script: its top-level list, the kubelet references it contains, a parse error if any."""

    body: list
    refs: tuple[str, ...]
    error: str = ""


_OPS = ("&&", "||", ";;", "|&", ";", "&", "|", "(", ")", "\n")
_REDIR = re.compile(r"(\d*)(<<<|<<-|<<|&>>|&>|>>|>&|<&|<>|>\||<|>)")
_BRACE_OP = re.compile(r":?[-=+?]")
_POS_NAME = re.compile(r"[0-9@*#]")
_TEST_OPS = {"&&": "&&", "||": "||"}


class _Parser:
    """One pass over the text; tokens are words (tuples of parts), operators and redirections."""

    def __init__(self, text: str, refs: tuple[str, ...] = ()):
        self.s = text
        self.refs = refs
        self.n = len(text)
        self.i = 0
        self.nest = 0
        self.heredocs: list[tuple[str, bool]] = []
        self.peeked: tuple | None = None
        self.peeked_at = 0      # where the peeked token starts
        self.token_at = 0

    # -- characters ----------------------------------------------------------------------------------------
    def _enter(self) -> None:
        self.nest += 1
        if self.nest > MAX_NEST:
            raise ParseError(f"nested deeper than {MAX_NEST} levels")

    def _leave(self) -> None:
        self.nest -= 1

    def _skip_blank(self) -> None:
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in " \t\r":
                self.i += 1
            elif c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
            elif c == "#":
                nl = s.find("\n", self.i)
                self.i = n if nl < 0 else nl
            else:
                break

    def _read_heredocs(self) -> None:
        """After a newline: skip the bodies of pending here-documents (data, not commands)."""
        for delim, strip in self.heredocs:
            while self.i < self.n:
                nl = self.s.find("\n", self.i)
                line = self.s[self.i: self.n if nl < 0 else nl]
                self.i = self.n if nl < 0 else nl + 1
                if (line.lstrip("\t") if strip else line) == delim:
                    break
        self.heredocs.clear()

    # -- tokens ----------------------------------------------------------------------------------------------
    def peek(self) -> tuple:
        if self.peeked is None:
            self.peeked = self._token()
            self.peeked_at = self.token_at
        return self.peeked

    def next(self) -> tuple:
        tok = self.peek()
        self.peeked = None
        return tok

    def _token(self) -> tuple:
        """("eof",) | ("op", text) | ("redir", op) | ("word", parts, raw)."""
        self._skip_blank()
        s = self.s
        self.token_at = self.i
        if self.i >= self.n:
            return ("eof",)
        c = s[self.i]
        if c == "\n":
            self.i += 1
            if self.heredocs:
                self._read_heredocs()
            return ("op", "\n")
        if c in "<>&" or c.isdigit():
            m = _REDIR.match(s, self.i)
            if m and not (m.group(2) in ("<", ">") and s.startswith("(", m.end())):
                self.i = m.end()
                op = m.group(2)
                self._skip_blank()
                if op in (">&", "<&") and self.i < self.n and (s[self.i].isdigit() or s[self.i] == "-"):
                    while self.i < self.n and (s[self.i].isdigit() or s[self.i] == "-"):
                        self.i += 1
                elif self.i < self.n and s[self.i] not in "\n;&|()<>":
                    target = self._word()
                    if op in ("<<", "<<-"):
                        delim = "".join(p[1] for p in target[0] if p[0] == "lit")
                        self.heredocs.append((delim, op == "<<-"))
                return ("redir", op)
        for op in _OPS:
            if s.startswith(op, self.i):
                self.i += len(op)
                return ("op", op)
        return ("word", *self._word())

    def _word(self) -> tuple[tuple, str]:
        """Parts of one word, up to an unquoted blank or operator."""
        start = self.i
        parts: list[tuple] = []
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in "<>" and s.startswith("(", self.i + 1):  # process substitution
                at = self.i
                self.i += 1
                self._skip_group("(", ")")
                parts.append(("opaque", s[at:self.i], "a process substitution runs a program", False))
                continue
            if c in " \t\r\n;&|()<>":
                break
            m = _PLAIN.match(s, self.i)
            if m:
                self._lit(parts, m.group(0), False)
                self.i = m.end()
            elif c == "'":
                close = s.find("'", self.i + 1)
                if close < 0:
                    raise ParseError("unterminated single quote")
                self._single(parts, s[self.i + 1:close])
                self.i = close + 1
                parts.append(("quote",))
            elif c == '"':
                self.i += 1
                self._double(parts)
                parts.append(("quote",))
            elif c == "\\":
                if s.startswith("\\\n", self.i):
                    self.i += 2
                else:
                    self._lit(parts, s[self.i + 1:self.i + 2], True)
                    self.i += 2
            elif c == "$":
                self._dollar(parts, False)
            elif c == "`":
                self._backtick(parts, False)
            elif c == _REF_OPEN:
                self._ref(parts, False)
            else:  # "#" inside a word, a stray private-use mark
                self._lit(parts, c, False)
                self.i += 1
        raw = s[start:self.i]
        if _REF_OPEN in raw:  # as written in the spec: the kubelet reference, not its atom
            raw = _ATOM.sub(lambda m: f"$({self.refs[int(m.group(1))]})", raw)
        return tuple(parts), raw

    @staticmethod
    def _lit(parts: list, text: str, quoted: bool) -> None:
        if not text:
            return
        if parts and parts[-1][0] == "lit" and parts[-1][2] == quoted:
            parts[-1] = ("lit", parts[-1][1] + text, quoted)
        else:
            parts.append(("lit", text, quoted))

    def _ref(self, parts: list, quoted: bool) -> None:
        close = self.s.find(_REF_CLOSE, self.i)
        parts.append(("ref", int(self.s[self.i + 1:close]), quoted))
        self.i = close + 1

    def _single(self, parts: list, body: str) -> None:
        while _REF_OPEN in body:
            a = body.index(_REF_OPEN)
            b = body.index(_REF_CLOSE, a)
            self._lit(parts, body[:a], True)
            parts.append(("ref", int(body[a + 1:b]), True))
            body = body[b + 1:]
        self._lit(parts, body, True)

    def _double(self, parts: list) -> None:
        """Inside double quotes (the opening one consumed), through the closing one."""
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c == '"':
                self.i += 1
                return
            if c == "\\":
                nxt = s[self.i + 1:self.i + 2]
                if nxt == "\n":
                    self.i += 2
                elif nxt in ('"', "\\", "$", "`"):
                    self._lit(parts, nxt, True)
                    self.i += 2
                else:
                    self._lit(parts, "\\", True)
                    self.i += 1
            else:
                self._expansion_or_text(parts, True, '"\\$`\ue000')
        raise ParseError("unterminated double quote")

    def _expansion_or_text(self, parts: list, quoted: bool, stops: str) -> None:
        """At self.i: a ``$`` expansion, a backtick command, a kubelet atom, else literal text up to ``stops``."""
        c = self.s[self.i]
        if c == "$":
            self._dollar(parts, quoted)
        elif c == "`":
            self._backtick(parts, quoted)
        elif c == _REF_OPEN:
            self._ref(parts, quoted)
        else:
            j = self.i + 1
            while j < self.n and self.s[j] not in stops:
                j += 1
            self._lit(parts, self.s[self.i:j], quoted)
            self.i = j

    def _backtick(self, parts: list, quoted: bool) -> None:
        start = self.i
        self.i += 1
        while self.i < self.n and self.s[self.i] != "`":
            self.i += 2 if self.s[self.i] == "\\" else 1
        if self.i >= self.n:
            raise ParseError("unterminated backtick")
        self.i += 1
        parts.append(("opaque", self.s[start:self.i], "a command substitution runs a program", quoted))

    def _skip_group(self, open_: str, close: str) -> None:
        """From an ``open_`` char at self.i, past its matching ``close`` (quotes, escapes, nested ``$(``,
        ``${`` and backticks skipped as units). One pass: a nested group continues from where it is."""
        s, n = self.s, self.n
        self._enter()
        self.i += 1
        depth = 1
        while self.i < n:
            c = s[self.i]
            if c == "\\":
                self.i += 2
            elif c == "'":
                close_q = s.find("'", self.i + 1)
                if close_q < 0:
                    raise ParseError("unterminated single quote")
                self.i = close_q + 1
            elif c == '"':
                self.i += 1
                self._double([])
            elif c == "`":
                self._backtick([], False)
            elif c == "$" and s.startswith("${", self.i):
                self.i += 1
                self._skip_group("{", "}")
            elif c == "$" and s.startswith("$(", self.i):
                self.i += 1
                self._skip_group("(", ")")
            elif c == open_:
                depth += 1
                self.i += 1
            elif c == close:
                depth -= 1
                self.i += 1
                if depth == 0:
                    self._leave()
                    return
            else:
                self.i += 1
        raise ParseError(f"unterminated {open_}")

    def _dollar(self, parts: list, quoted: bool) -> None:
        s = self.s
        start = self.i
        nxt = s[self.i + 1:self.i + 2]
        if s.startswith("$((", self.i):
            arith = self._arith()
            if arith is not None:
                parts.append(("arith", arith, s[start:self.i], quoted))
                return
            self.i = start
        if nxt == "(":
            self.i += 1
            self._skip_group("(", ")")
            parts.append(("opaque", s[start:self.i], "a command substitution runs a program", quoted))
        elif nxt == "{":
            self._brace(parts, quoted)
        elif nxt == "'" and not quoted:
            self._ansi_c(parts)
        elif nxt and (nxt.isdigit() or nxt in "@*#"):
            parts.append(("pos", nxt, quoted))
            self.i += 2
        elif nxt and nxt in "?$!-":
            parts.append(("opaque", s[start:start + 2], f"${nxt} is only known while the shell runs", quoted))
            self.i += 2
        else:
            m = _NAME.match(s, self.i + 1)
            if m:
                parts.append(("var", m.group(0), "", None, "$" + m.group(0), quoted))
                self.i = m.end()
            else:
                self._lit(parts, "$", quoted)
                self.i += 1

    def _ansi_c(self, parts: list) -> None:
        """``$'a\\tb'``: C escapes in single quotes."""
        s = self.s
        j = self.i + 2
        out: list[str] = []
        escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "e": "\x1b", "a": "\a",
                   "b": "\b", "v": "\v", "f": "\f"}
        while j < self.n and s[j] != "'":
            if s[j] == "\\" and j + 1 < self.n:
                out.append(escapes.get(s[j + 1], "\\" + s[j + 1]))
                j += 2
            else:
                out.append(s[j])
                j += 1
        if j >= self.n:
            raise ParseError("unterminated $'...' quote")
        self._lit(parts, "".join(out), True)
        parts.append(("quote",))
        self.i = j + 1

    def _brace(self, parts: list, quoted: bool) -> None:
        """``${...}`` at self.i."""
        s = self.s
        start = self.i
        self._enter()
        self.i += 2
        length = False
        if s.startswith("#", self.i):
            m = _NAME.match(s, self.i + 1)
            if m and s.startswith("}", m.end()):
                length = True
                self.i += 1
        m = _NAME.match(s, self.i) or _POS_NAME.match(s, self.i)
        op, word, name = "", None, ""
        if m:
            name = m.group(0)
            self.i = m.end()
            if length:
                op = "#len"
            else:
                mo = _BRACE_OP.match(s, self.i)
                if mo:
                    op = mo.group(0)
                    self.i = mo.end()
                    wparts: list[tuple] = []
                    self._brace_word(wparts, quoted)
                    word = tuple(wparts)
        if m and s.startswith("}", self.i):
            self.i += 1
            self._leave()
            source = s[start:self.i]
            if not _NAME.fullmatch(name):
                if op:
                    parts.append(("opaque", source, "this parameter expansion is not evaluated", quoted))
                else:
                    parts.append(("pos", name, quoted))
                return
            parts.append(("var", name, op, word, source, quoted))
            return
        # an operator we do not evaluate (${V%x}, ${V/a/b}, ${V:1:2}, ${!V}): skip to the matching brace
        self._leave()
        self.i = start + 1
        self._skip_group("{", "}")
        parts.append(("opaque", s[start:self.i], "this parameter expansion (pattern, substring or "
                                                  "indirection) is not evaluated", quoted))

    def _brace_word(self, parts: list, quoted: bool) -> None:
        """The word of ``${V:-word}``: quotes and expansions up to the closing brace."""
        s, n = self.s, self.n
        while self.i < n and s[self.i] != "}":
            c = s[self.i]
            if c == "'" and not quoted:
                close = s.find("'", self.i + 1)
                if close < 0:
                    raise ParseError("unterminated single quote")
                self._single(parts, s[self.i + 1:close])
                self.i = close + 1
            elif c == '"':
                self.i += 1
                self._double(parts)
            elif c == "\\":
                self._lit(parts, s[self.i + 1:self.i + 2], True)
                self.i += 2
            else:
                self._expansion_or_text(parts, quoted, "}'\"\\$`\ue000")

    def _arith(self, skip: int = 3) -> tuple | None:
        """``$(( expr ))`` at self.i (``(( expr ))`` with ``skip`` 2): the parts of ``expr``, or None when no
        ``))`` closes it at depth 0 (then it is ``$( (cmd) )``)."""
        s, n = self.s, self.n
        self._enter()
        self.i += skip
        parts: list[tuple] = []
        depth = 0
        while self.i < n:
            c = s[self.i]
            if c == "(":
                depth += 1
                self._lit(parts, c, False)
                self.i += 1
            elif c == ")":
                self._leave()
                if depth == 0:
                    if s.startswith("))", self.i):
                        self.i += 2
                        return tuple(parts)
                    return None
                self._enter()
                depth -= 1
                self._lit(parts, c, False)
                self.i += 1
            elif c == "$":
                self._dollar(parts, False)
            elif c == _REF_OPEN:
                self._ref(parts, False)
            elif c in "'`":
                self._leave()
                return None
            elif c == '"':
                self.i += 1
                self._double(parts)
            elif c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
            else:
                j = self.i + 1
                while j < n and s[j] not in "()$'`\"\\\ue000":
                    j += 1
                self._lit(parts, s[self.i:j], False)
                self.i = j
        raise ParseError("unterminated $((")

    # -- commands --------------------------------------------------------------------------------------------
    def parse_list(self, until: frozenset[str] = frozenset()) -> list:
        """Commands up to a reserved word in ``until`` (not consumed), ``)``, ``;;`` or the end."""
        items: list = []
        while True:
            tok = self.peek()
            if tok[0] == "eof":
                return items
            if tok[0] == "op":
                if tok[1] in ("\n", ";", "&"):
                    self.next()
                    continue
                if tok[1] == ")" or (tok[1] == ";;" and "esac" in until):
                    return items
                if tok[1] == ";;":
                    raise ParseError("unexpected ;;")
            if tok[0] == "word" and _reserved(tok) in until:
                return items
            items.append(self._and_or(until))

    def _and_or(self, until: frozenset[str]) -> _AndOr:
        items = [("", self._pipeline(until))]
        while True:
            tok = self.peek()
            if tok[0] == "op" and tok[1] in ("&&", "||"):
                self.next()
                while self.peek() == ("op", "\n"):
                    self.next()
                items.append((tok[1], self._pipeline(until)))
            else:
                return _AndOr(items)

    def _pipeline(self, until: frozenset[str]) -> _Pipeline:
        bang = False
        if _reserved(self.peek()) == "!":
            self.next()
            bang = True
        commands = [self._command(until)]
        while self.peek()[0] == "op" and self.peek()[1] in ("|", "|&"):
            self.next()
            while self.peek() == ("op", "\n"):
                self.next()
            commands.append(self._command(until))
        return _Pipeline(commands, bang)

    def _expect(self, word: str) -> None:
        if _reserved(self.next()) != word:
            raise ParseError(f"expected '{word}'")

    def _trailing_redirs(self) -> None:
        while self.peek()[0] == "redir":
            self.next()

    def _command(self, until: frozenset[str]):
        tok = self.peek()
        word = _reserved(tok)
        if tok == ("op", "(") and self.s.startswith("(", self.i):
            at = self.peeked_at
            self.peeked = None
            self.i = at
            parts = self._arith(2)
            if parts is not None:
                self._trailing_redirs()
                return _ArithCmd(parts, self.s[at:self.i])
            self.i = at + 1
            self.peeked, self.peeked_at = ("op", "("), at
        if tok == ("op", "("):
            self.next()
            self._enter()
            body = self.parse_list()
            if self.next() != ("op", ")"):
                raise ParseError("unterminated (")
            self._leave()
            self._trailing_redirs()
            return _Block(body, "subshell")
        if word == "if":
            return self._if()
        if word in ("while", "until", "for", "select"):
            return self._loop(word)
        if word == "case":
            return self._case()
        if word == "{":
            self.next()
            self._enter()
            body = self.parse_list(frozenset({"}"}))
            self._expect("}")
            self._leave()
            self._trailing_redirs()
            return _Block(body, "group")
        if word == "[[":
            return self._double_bracket()
        if word == "function" or (tok[0] == "word" and self._is_funcdef()):
            return self._function(until, word == "function")
        words: list[tuple[tuple, str]] = []
        while True:
            tok = self.peek()
            if tok[0] == "word":
                if not words and _reserved(tok) in {"then", "do", "done", "fi", "elif", "else", "esac", "}"}:
                    raise ParseError(f"unexpected '{_reserved(tok)}'")
                self.next()
                words.append((tok[1], tok[2]))
            elif tok[0] == "redir":
                self.next()
            else:
                return _Simple(words)

    def _if(self) -> _If:
        self.next()
        self._enter()
        clauses = []
        orelse = None
        while True:
            at = self.i if self.peeked is None else self.peeked_at
            cond = self.parse_list(frozenset({"then"}))
            self.peek()
            raw = self.s[at:self.peeked_at]
            self._expect("then")
            body = self.parse_list(frozenset({"elif", "else", "fi"}))
            clauses.append((cond, body, raw))
            nxt = _reserved(self.next())
            if nxt == "elif":
                continue
            if nxt == "else":
                orelse = self.parse_list(frozenset({"fi"}))
                self._expect("fi")
            elif nxt != "fi":
                raise ParseError("if without fi")
            break
        self._leave()
        self._trailing_redirs()
        return _If(clauses, orelse)

    def _loop(self, word: str) -> _Block:
        self.next()
        self._enter()
        at = self.i
        if word in ("for", "select"):
            while _reserved(self.peek()) != "do":
                if self.next()[0] == "eof":
                    raise ParseError(f"{word} without do")
        else:
            self.parse_list(frozenset({"do"}))
            self.peek()
        header = f"{word} {self.s[at:self.peeked_at].strip().rstrip(';')}"
        self._expect("do")
        body = self.parse_list(frozenset({"done"}))
        self._expect("done")
        self._leave()
        self._trailing_redirs()
        return _Block(body, "loop", shown(header, 60))

    def _case(self) -> _Block:
        self.next()
        self._enter()
        subject = self.next()
        self._expect("in")
        bodies: list = []
        while _reserved(self.peek()) != "esac":
            tok = self.next()
            if tok[0] == "eof":
                raise ParseError("case without esac")
            if tok == ("op", ")"):
                bodies += self.parse_list(frozenset({"esac"}))
                if self.peek() == ("op", ";;"):
                    self.next()
        self._expect("esac")
        self._leave()
        self._trailing_redirs()
        return _Block(bodies, "case", shown(f"case {subject[2] if len(subject) > 2 else ''}", 60))

    def _double_bracket(self) -> _Simple:
        """``[[ ... ]]``: operators inside are words of the test, not command separators."""
        words: list[tuple[tuple, str]] = []
        while True:
            tok = self.next()
            if tok[0] == "eof":
                raise ParseError("[[ without ]]")
            if tok[0] == "word":
                words.append((tok[1], tok[2]))
                if _reserved(tok) == "]]":
                    self._trailing_redirs()
                    return _Simple(words)
            elif tok[0] == "op" and tok[1] != "\n":
                words.append(((("lit", tok[1], True),), tok[1]))
            elif tok[0] == "redir":
                words.append(((("lit", tok[1], True),), tok[1]))

    def _function(self, until: frozenset[str], keyword: bool) -> _Func:
        if keyword:
            self.next()
        name_tok = self.next()
        name = "".join(p[1] for p in name_tok[1] if p[0] == "lit") if name_tok[0] == "word" else ""
        if self.peek() == ("op", "("):
            self.next()
            if self.next() != ("op", ")"):
                raise ParseError("bad function definition")
        while self.peek() == ("op", "\n"):
            self.next()
        self._enter()
        body = self._command(until)
        self._leave()
        return _Func(name, [_AndOr([("", _Pipeline([body]))])])

    def _is_funcdef(self) -> bool:
        """``name ( )`` follows the peeked word."""
        j = self.i
        while j < self.n and self.s[j] in " \t":
            j += 1
        if not self.s.startswith("(", j):
            return False
        j += 1
        while j < self.n and self.s[j] in " \t":
            j += 1
        return self.s.startswith(")", j)


def _reserved(tok: tuple) -> str | None:
    """The reserved word a token is (an unquoted literal word), else None."""
    if tok[0] != "word" or len(tok[1]) != 1 or tok[1][0][0] != "lit" or tok[1][0][2]:
        return None
    text = tok[1][0][1]
    return text if text in RESERVED else None


@lru_cache(maxsize=1024)
def parse(text: str, kubelet: bool = True, inline: tuple[tuple[str, str], ...] = ()) -> Parsed:
    """Parse a script once (cached by its text). ``kubelet``: apply stage 1 first (a command/args item as
    written in the spec); ``inline``: variables pasted as text (see ``_kubelet_atoms``)."""
    if len(text) > MAX_SCRIPT:
        return Parsed([_Error(f"the script is {len(text)} characters long (more than {MAX_SCRIPT}): not "
                              "evaluated")], (), "too long")
    if kubelet:
        text, refs = _kubelet_atoms(text, inline)
    else:
        text, refs = text.replace(_REF_OPEN, "?").replace(_REF_CLOSE, "?"), ()
    p = _Parser(text, refs)
    body: list = []
    try:
        while True:  # one and-or list at a time: what parsed before a syntax error is kept
            tok = p.peek()
            if tok[0] == "eof":
                break
            if tok[0] == "op" and tok[1] in ("\n", ";", "&"):
                p.next()
            elif tok[0] == "op" and tok[1] in (")", ";;"):
                raise ParseError(f"unexpected '{tok[1]}'")
            else:
                body.append(p._and_or(frozenset()))
    except ParseError as exc:
        line = text[:p.i].count("\n") + 1
        return Parsed(body + [_Error(f"shell syntax error on line {line}: {exc}")], refs, str(exc))
    except RecursionError:
        return Parsed(body + [_Error("the script is nested too deeply")], refs, "nested too deeply")
    return Parsed(body, refs)


# ---- stage 2: evaluation ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Value:
    """A shell variable: ``text`` None when it has no static value, ``why`` saying where that came from."""

    text: str | None
    why: str = ""


class _Stop(Exception):
    """``exec PROGRAM`` or ``exit``: nothing after it runs in this shell."""


class _Budget(Exception):
    pass


class _Unknown(Exception):
    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def env_values(env: Mapping[str, str | None], whys: Mapping[str, str] | None = None) -> dict[str, Value]:
    """Container env -> shell variables (only names a shell can use)."""
    out: dict[str, Value] = {}
    for name, text in env.items():
        if name.isascii() and name.isidentifier():  # a shell name: [A-Za-z_][A-Za-z0-9_]*
            why = "" if text is not None else (whys or {}).get(name) or f"{name} has no value in the spec"
            out[name] = Value(text, why)
    return out


class Evaluator:
    """Evaluates a parsed script for one pod: ``k8s`` the container env (values for kubelet references),
    ``shell`` the shell's variables, ``positional`` $0 $1 ... from ``sh -c SCRIPT NAME ARGS``."""

    def __init__(self, parsed: Parsed, k8s: Mapping[str, str | None], shell: dict[str, Value],
                 positional: tuple[Word, ...] = (), *, whys: Mapping[str, str] | None = None):
        self.parsed = parsed
        self.k8s = k8s
        self.whys = whys or {}
        self.vars = shell
        self.positional = positional
        self.steps = MAX_STEPS
        self.funcs: dict[str, list] = {}
        self.out: list[Command] = []
        self.calls = 0

    def run(self) -> Script:
        error = ""
        try:
            self._list(self.parsed.body, "")
        except _Stop:
            pass
        except _Budget:
            error = f"evaluation stopped after {MAX_STEPS} steps: the script is too long or too big"
        except RecursionError:
            error = "the script is nested too deeply"
        for node in self.parsed.body:
            if isinstance(node, _Error):
                error = error or node.message
        return Script(self.out, error)

    def _tick(self, n: int = 1) -> None:
        self.steps -= n
        if self.steps < 0:
            raise _Budget()

    # -- lists and commands ----------------------------------------------------------------------------------
    def _list(self, nodes: list, cond: str) -> bool | None:
        status: bool | None = True
        for node in nodes:
            if isinstance(node, _Error):
                raise _Stop()
            status = self._node(node, cond)
        return status

    def _node(self, node, cond: str) -> bool | None:
        self._tick()
        if isinstance(node, _AndOr):
            status = self._pipeline(node.items[0][1], cond)
            for op, pipe in node.items[1:]:
                runs = status is not False if op == "&&" else status is not True
                if not runs:
                    continue
                known = status is (True if op == "&&" else False)
                status = self._pipeline(pipe, cond if known else cond or f"the command before {op}")
            return status
        if isinstance(node, _If):
            return self._if(node, cond)
        if isinstance(node, _Block):
            if node.kind == "group":
                return self._list(node.body, cond)
            if node.kind == "subshell":
                saved = dict(self.vars)
                try:
                    return self._list(node.body, cond)
                except _Stop:
                    return None
                finally:
                    self.vars = saved
            self._branch(node.body, cond or node.raw)
            return None
        if isinstance(node, _Func):
            self.funcs[node.name] = node.body
            return True
        if isinstance(node, _ArithCmd):  # (( expr )): true when not 0
            try:
                return self._arith(("arith", node.parts, node.source, False)) != 0
            except _Unknown:
                return None
        if isinstance(node, _Pipeline):
            return self._pipeline(node, cond)
        return self._simple(node, cond)

    def _pipeline(self, pipe: _Pipeline, cond: str) -> bool | None:
        status: bool | None = True
        if len(pipe.commands) == 1:
            status = self._node(pipe.commands[0], cond)
        else:
            for cmd in pipe.commands:  # each stage runs in a subshell: an exec there ends only that stage
                try:
                    status = self._node(cmd, cond)
                except _Stop:
                    status = None
        if pipe.bang and status is not None:
            status = not status
        return status

    def _if(self, node: _If, cond: str) -> bool | None:
        for k, (test, body, raw) in enumerate(node.clauses):
            status = self._list(test, cond)
            if status is True:
                return self._list(body, cond)
            if status is None:
                maybe = cond or f"if {shown(raw.strip().rstrip(';'), 60)}"
                for _, rest, _ in node.clauses[k:]:
                    self._branch(rest, maybe)
                if node.orelse is not None:
                    self._branch(node.orelse, maybe)
                return None
        if node.orelse is not None:
            return self._list(node.orelse, cond)
        return True

    def _branch(self, body: list, maybe: str) -> None:
        try:
            self._list(body, maybe)
        except _Stop:
            pass

    def _simple(self, node: _Simple, cond: str) -> bool | None:
        words: list[Word] = []
        assigns: list[tuple[str, Value, bool]] = []
        declare = False
        for (parts, raw), literal in zip(node.words, node.literal):
            self._tick()
            if literal is not None and words and not declare:
                words += literal
                continue
            m = _ASSIGN.match(raw) if (not words or declare) else None
            if m and parts and parts[0][0] == "lit" and not parts[0][2] and parts[0][1].startswith(m.group(0)):
                value = self._join(_strip_prefix(parts, len(m.group(0))), raw)
                if declare:
                    self._assign(m.group(1), value, cond, bool(m.group(2)))
                else:
                    assigns.append((m.group(1), value, bool(m.group(2))))
                continue
            words += literal if literal is not None else self._fields(parts, raw)
            declare = bool(words) and words[0].value in _DECLARE
        if not words:
            for name, value, append in assigns:
                self._assign(name, value, cond, append)
            return True
        prog = words[0].value
        if declare:
            return True
        if prog == "unset":
            for w in words[1:]:
                if _NAME.fullmatch(w.value):
                    if cond:
                        self.vars[w.value] = Value(None, f"{w.value} is unset under {cond}")
                    else:
                        self.vars.pop(w.value, None)
            return True
        if prog in _TESTS or prog in ("true", ":", "false"):
            return self._test(words)
        if prog in ("exit", "return"):
            if not cond:
                raise _Stop()
            return None
        if prog == "eval" and len(words) > 1:
            return self._eval(words, cond)
        if prog in self.funcs and self.calls < MAX_CALL_DEPTH:
            self.calls += 1
            saved = self.positional
            self.positional = tuple(words)
            try:
                return self._list(self.funcs[prog], cond)
            finally:
                self.positional = saved
                self.calls -= 1
        if prog == "exec" and len(words) == 1:
            return True  # exec with only redirections
        cmd = Command(words)
        cmd.cond = cond
        self.out.append(cmd)
        if prog == "exec" and not cond:
            raise _Stop()
        return True

    def _eval(self, words: list[Word], cond: str) -> bool | None:
        if any(w.unresolved for w in words[1:]) or self.calls >= MAX_CALL_DEPTH:
            cmd = Command(words)
            cmd.cond = cond
            self.out.append(cmd)
            return None
        self.calls += 1
        try:
            parsed = parse(" ".join(w.value for w in words[1:]), False)
            self._list([n for n in parsed.body if not isinstance(n, _Error)], cond)
        finally:
            self.calls -= 1
        return None

    def _assign(self, name: str, value: Value, cond: str, append: bool = False) -> None:
        if append:
            old = self.vars.get(name, Value(""))
            value = Value(None, old.why or value.why) if old.text is None or value.text is None \
                else Value(old.text + value.text)
        if cond:
            old = self.vars.get(name)
            if old is None or old.text != value.text:
                value = Value(None, f"{name} is set under {cond}")
        if value.text is not None and len(value.text) > MAX_VALUE:
            value = Value(None, f"{name} grows beyond {MAX_VALUE} characters")
        self.vars[name] = value

    # -- conditions ------------------------------------------------------------------------------------------
    def _test(self, words: list[Word]) -> bool | None:
        prog = words[0].value
        if prog in ("true", ":"):
            return True
        if prog == "false":
            return False
        args = words[1:]
        if prog in ("[", "[["):
            close = "]" if prog == "[" else "]]"
            if not args or args[-1].value != close:
                return None
            args = args[:-1]
        if prog != "[[":
            return _test_args(args, False)
        # [[ A && B || C ]]: left to right, an unknown operand stays unknown unless the other decides
        result: bool | None = None
        op = ""
        chunk: list[Word] = []
        for w in args + [Word("&&", "&&")]:
            if w.value in ("&&", "||") and w.raw == w.value:
                value = _test_args(chunk, True)
                if op == "":
                    result = value
                elif op == "&&":
                    result = False if (result is False or value is False) else (
                        None if result is None or value is None else True)
                else:
                    result = True if (result is True or value is True) else (
                        None if result is None or value is None else False)
                op, chunk = w.value, []
            else:
                chunk.append(w)
        return result

    # -- words -----------------------------------------------------------------------------------------------
    def _fields(self, parts: tuple, raw: str) -> list[Word]:
        """Expand one word: field splitting of unquoted expansions, ``"$@"`` into several words."""
        fields: list[list] = [[[], False]]      # [texts, quoted]
        unresolved = False
        why = ""
        size = 0
        empty_at = False
        for part in parts:
            self._tick()
            kind = part[0]
            if kind == "quote":
                if not empty_at:
                    fields[-1][1] = True
                empty_at = False
                continue
            if kind == "lit":
                fields[-1][0].append(part[1])
                fields[-1][1] = fields[-1][1] or part[2]
                size += len(part[1])
                continue
            if kind == "pos" and part[1] == "@" and part[2]:
                items = self.positional[1:]
                if not items:
                    empty_at = not fields[-1][0]
                    continue
                for j, item in enumerate(items):
                    if j:
                        fields.append([[], True])
                    fields[-1][0].append(item.value)
                    fields[-1][1] = True
                    if item.unresolved:
                        unresolved, why = True, why or item.why
                continue
            quoted = part[-1]
            try:
                text = self._part(part)
            except _Unknown as exc:
                unresolved = True
                why = why or exc.why
                fields[-1][0].append(self._source(part))
                fields[-1][1] = True
                continue
            size += len(text)
            self._tick(len(text) >> 6)
            if size > MAX_VALUE:
                return [Word(shown(raw, 40), raw, True, f"{shown(raw, 40)}: grows beyond {MAX_VALUE} characters")]
            if quoted or not any(ch in " \t\n" for ch in text):
                fields[-1][0].append(text)
                fields[-1][1] = fields[-1][1] or (quoted and True)
                continue
            pieces = text.split()
            if text[:1].isspace():
                fields.append([[], False])
            for j, piece in enumerate(pieces):
                if j:
                    fields.append([[], False])
                fields[-1][0].append(piece)
            if text[-1:].isspace():
                fields.append([[], False])
        out = [Word("".join(texts), raw, unresolved, why) for texts, quoted in fields if texts and
               ("".join(texts) or quoted) or quoted]
        return out

    def _source(self, part: tuple) -> str:
        return f"$({self.parsed.refs[part[1]]})" if part[0] == "ref" else _source(part)

    def _join(self, parts: tuple, raw: str) -> Value:
        """An assignment's value (or a ``${V:-word}`` word): expanded, not split."""
        texts: list[str] = []
        size = 0
        for part in parts:
            self._tick()
            if part[0] == "quote":
                continue
            if part[0] == "lit":
                text = part[1]
            elif part[0] == "pos" and part[1] in "@*":
                text = " ".join(w.value for w in self.positional[1:])
            else:
                try:
                    text = self._part(part)
                except _Unknown as exc:
                    return Value(None, exc.why)
            size += len(text)
            self._tick(len(text) >> 6)
            if size > MAX_VALUE:
                return Value(None, f"{shown(raw, 40)}: grows beyond {MAX_VALUE} characters")
            texts.append(text)
        return Value("".join(texts))

    def _part(self, part: tuple) -> str:
        """The text of one expansion, or _Unknown naming the whole expression and why."""
        kind = part[0]
        if kind == "ref":
            name = self.parsed.refs[part[1]]
            if name not in self.k8s:
                raise _Unknown(f"$({name}): no variable {name} in the container's env, so the shell runs it "
                               "as a command")
            value = self.k8s.get(name)
            if value is None:
                raise _Unknown(f"$({name}): {self.whys.get(name) or name + ' has no value in the spec'}")
            return value
        if kind == "var":
            return self._var(part)
        if kind == "pos":
            name = part[1]
            if name == "#":
                return str(max(0, len(self.positional) - 1))
            if name in "@*":
                return " ".join(w.value for w in self.positional[1:])
            idx = int(name)
            if idx < len(self.positional):
                w = self.positional[idx]
                if w.unresolved:
                    raise _Unknown(w.why)
                return w.value
            return ""
        if kind == "arith":
            return str(self._arith(part))
        raise _Unknown(f"{shown(part[1])}: {part[2]}")

    def _var(self, part: tuple) -> str:
        _, name, op, word, source, _ = part
        val = self.vars.get(name)
        if val is not None and val.text is None:
            raise _Unknown(f"{shown(source)}: {val.why}")
        if op == "#len":
            if val is None:
                raise _Unknown(f"{shown(source)}: {name} is not set in the pod spec (only the image could set it)")
            return str(len(val.text))
        is_set = val is not None
        is_null = not is_set or val.text == ""
        if op in (":-", "-", ":=", "="):
            if is_null if op.startswith(":") else not is_set:
                default = self._join(word or (), source)
                if default.text is None:
                    raise _Unknown(f"{shown(source)}: {default.why.split(': ', 1)[-1]}")
                if op.endswith("="):
                    self.vars[name] = default
                return default.text
        elif op in (":+", "+"):
            if not (not is_null if op.startswith(":") else is_set):
                return ""
            alt = self._join(word or (), source)
            if alt.text is None:
                raise _Unknown(f"{shown(source)}: {alt.why.split(': ', 1)[-1]}")
            return alt.text
        elif op in (":?", "?") and (is_null if op.startswith(":") else not is_set):
            raise _Unknown(f"{shown(source)}: the shell stops here ({name} is unset)")
        if val is None:
            if op:
                return ""
            raise _Unknown(f"{shown(source)}: {name} is not set in the pod spec (only the image could set it)")
        return val.text

    # -- arithmetic ------------------------------------------------------------------------------------------
    def _arith(self, part: tuple) -> int:
        _, parts, source, _ = part
        texts: list[str] = []
        for p in parts:
            self._tick()
            if p[0] == "quote":
                continue
            if p[0] == "lit":
                texts.append(p[1])
                continue
            try:
                texts.append(self._part(p))
            except _Unknown as exc:
                raise _Unknown(f"{shown(source)}: {exc.why.split(': ', 1)[-1]}") from None
        text = "".join(texts)
        if len(text) > MAX_VALUE:
            raise _Unknown(f"{shown(source)}: the expression grows beyond {MAX_VALUE} characters")
        try:
            return _Arith(text, self._arith_var, self._tick).value()
        except _ArithError as exc:
            raise _Unknown(f"{shown(source)}: {exc}") from None

    def _arith_var(self, name: str, depth: int) -> int:
        val = self.vars.get(name)
        if val is None:
            raise _ArithError(f"{name} is not set in the pod spec (only the image could set it)")
        if val.text == "":
            return 0
        if val.text is None:
            raise _ArithError(val.why)
        if _INT.match(val.text):
            return _wrap(int(val.text))
        if depth >= MAX_CALL_DEPTH:
            raise _ArithError(f"{name} refers to itself")
        return _Arith(val.text, self._arith_var, self._tick, depth + 1).value()


def _strip_prefix(parts: tuple, length: int) -> tuple:
    """The parts after the first ``length`` characters of the leading literal (``NAME=``)."""
    first = parts[0]
    rest = first[1][length:]
    return ((("lit", rest, first[2]),) if rest else ()) + tuple(parts[1:])


def _source(part: tuple) -> str:
    """An expansion as written (for an unresolved word's value and messages)."""
    kind = part[0]
    if kind == "var":
        return part[4]
    if kind in ("arith",):
        return part[2]
    if kind == "opaque":
        return part[1]
    if kind == "pos":
        return "$" + part[1]
    return ""


def _test_args(args: list[Word], double: bool) -> bool | None:
    """``[ ... ]`` / ``test`` operands: strings and integers; file tests are unknown (no filesystem)."""
    neg = False
    if args and args[0].value == "!" and args[0].raw == "!":
        neg, args = True, args[1:]
    result = _test_plain(args, double)
    return None if result is None else (not result if neg else result)


def _test_plain(args: list[Word], double: bool) -> bool | None:
    if any(a.unresolved for a in args):
        return None
    v = [a.value for a in args]
    if len(v) == 0:
        return False
    if len(v) == 1:
        return v[0] != ""
    if len(v) == 2:
        if v[0] == "-z":
            return v[1] == ""
        if v[0] == "-n":
            return v[1] != ""
        return None
    if len(v) == 3:
        a, op, b = v
        if op in ("=", "==", "!="):
            if double and args[2].raw == b and any(ch in b for ch in "*?["):
                return None  # [[ x == pattern ]]: a glob match we do not evaluate
            return (a == b) if op != "!=" else (a != b)
        ints = {"-eq": lambda x, y: x == y, "-ne": lambda x, y: x != y, "-lt": lambda x, y: x < y,
                "-le": lambda x, y: x <= y, "-gt": lambda x, y: x > y, "-ge": lambda x, y: x >= y}
        if op in ints:
            if not (_INT.match(a) and _INT.match(b)):
                return None
            return ints[op](int(a), int(b))
    return None


class _ArithError(Exception):
    pass


def _wrap(n: int) -> int:
    """Signed 64-bit, as bash's arithmetic."""
    n %= _INT64
    return n - _INT64 if n >= 1 << 63 else n


_ATOK = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)|([A-Za-z_][A-Za-z0-9_]*)|"
                   r"(\*\*|&&|\|\||==|!=|<=|>=|[-+*/%()<>!]))")


class _Arith:
    """``+ - * / %`` (and ``**``, comparisons, ``&& || !``) with parentheses and unary signs over integers
    and variables."""

    def __init__(self, text: str, lookup, tick, depth: int = 0):
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _ATOK.match(text, pos)
            if not m or m.end() == pos:
                raise _ArithError(f"'{shown(text[pos:].strip(), 20)}' is not arithmetic we evaluate "
                                  "(+ - * / %, comparisons and parentheses)")
            pos = m.end()
            if m.group(1):
                self.tokens.append(("num", m.group(1)))
            elif m.group(2):
                self.tokens.append(("name", m.group(2)))
            else:
                self.tokens.append(("op", m.group(3)))
        self.k = 0
        self.lookup = lookup
        self.tick = tick
        self.depth = depth
        self.nest = 0

    def value(self) -> int:
        if not self.tokens:
            return 0
        v = self._or()
        if self.k != len(self.tokens):
            raise _ArithError(f"unexpected '{self.tokens[self.k][1]}'")
        return v

    def _peek(self) -> str | None:
        return self.tokens[self.k][1] if self.k < len(self.tokens) else None

    def _or(self) -> int:
        v = self._and()
        while self._peek() == "||":
            self.k += 1
            w = self._and()
            v = int(bool(v) or bool(w))
        return v

    def _and(self) -> int:
        v = self._compare()
        while self._peek() == "&&":
            self.k += 1
            w = self._compare()
            v = int(bool(v) and bool(w))
        return v

    def _compare(self) -> int:
        v = self._sum()
        ops = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
               ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}
        while self._peek() in ops:
            op = self.tokens[self.k][1]
            self.k += 1
            v = int(ops[op](v, self._sum()))
        return v

    def _sum(self) -> int:
        v = self._product()
        while self._peek() in ("+", "-"):
            op = self.tokens[self.k][1]
            self.k += 1
            w = self._product()
            v = _wrap(v + w if op == "+" else v - w)
        return v

    def _product(self) -> int:
        v = self._power()
        while self._peek() in ("*", "/", "%"):
            op = self.tokens[self.k][1]
            self.k += 1
            w = self._power()
            if op == "*":
                v = _wrap(v * w)
            elif w == 0:
                raise _ArithError("division by 0")
            else:
                q = abs(v) // abs(w)
                q = q if (v >= 0) == (w >= 0) else -q  # truncation toward zero, as bash
                v = _wrap(q) if op == "/" else _wrap(v - q * w)
        return v

    def _power(self) -> int:
        v = self._unary()
        if self._peek() == "**":
            self.k += 1
            self._deeper()
            w = self._power()
            self.nest -= 1
            if w < 0:
                raise _ArithError("exponent less than 0")
            v = _wrap(pow(v, w, _INT64))
        return v

    def _deeper(self) -> None:
        self.nest += 1
        if self.nest > MAX_NEST:
            raise _ArithError("nested too deeply")

    def _unary(self) -> int:
        self.tick()
        tok = self._peek()
        if tok in ("+", "-", "!"):
            self.k += 1
            self._deeper()
            v = self._unary()
            self.nest -= 1
            return _wrap(-v) if tok == "-" else int(not v) if tok == "!" else v
        if tok == "(":
            self.k += 1
            self._deeper()
            v = self._or()
            self.nest -= 1
            if self._peek() != ")":
                raise _ArithError("missing )")
            self.k += 1
            return v
        if self.k >= len(self.tokens):
            raise _ArithError("an operand is missing")
        kind, text = self.tokens[self.k]
        self.k += 1
        if kind == "num":
            if text[:2] in ("0x", "0X"):
                return _wrap(int(text, 16))
            if len(text) > 1 and text.startswith("0"):
                if any(ch in "89" for ch in text):
                    raise _ArithError(f"{text}: value too great for base (octal)")
                return _wrap(int(text, 8))
            return _wrap(int(text))
        if kind == "name":
            return self.lookup(text, self.depth)
        raise _ArithError(f"unexpected '{text}'")


# ---- entry point -------------------------------------------------------------------------------------------

_SHELL_SYNTAX = re.compile(r"['\"\\$`;&|<>()#=\n]")


def run(text: str, env: Mapping[str, str | None], *, kubelet: bool = True, positional: Iterable[Word] = (),
        whys: Mapping[str, str] | None = None) -> Script:
    """The simple commands ``sh -c text`` would run in a container with ``env`` (name -> value, None: no
    static value; ``whys``: why, by name). ``kubelet``: ``text`` is a command/args item as written in the
    spec (the kubelet expands ``$(VAR)`` first); False for a string the shell produced (``sh -c "$X"``)."""
    inline: tuple[tuple[str, str], ...] = ()
    if kubelet and "$(" in text:
        inline = tuple(sorted((name, value) for name, value in env.items()
                              if value and _SHELL_SYNTAX.search(value) and f"$({name})" in text))
    parsed = parse(text, kubelet, inline)
    return Evaluator(parsed, env, env_values(env, whys), tuple(positional), whys=whys).run()
