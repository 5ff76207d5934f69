"""What a container runs: its command line after Kubernetes ``$(VAR)`` expansion and, inside ``sh -c`` /
``bash -c`` strings, after the shell's own expansion, as simple commands of words.

Pure functions. The shell subset is evaluated statically by :mod:`kubectl_lws.model.shell` (quotes,
``$V``/``${V:-d}``/``${V:=d}``, ``$(( ))``, assignments, ``if [ ]``, ``exec``, comments, continuations, ...);
nothing is ever run. A word keeps where its value came from (``raw``: ``--node-rank $(LWS_WORKER_INDEX)``
vs a literal ``1``) and, when part of it has no static value, the whole expression and why (``why``).
A script is parsed once (cached by its text) and only evaluated per pod, so one template for thousands
of pods costs one parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from kubectl_lws.model import shell
from kubectl_lws.model.shell import Command, Word, kubelet_expand

__all__ = ["Word", "Command", "Commands", "Flag", "SHELLS", "WRAPPERS", "k8s_expand", "split_script",
           "container_literal_env", "container_env", "expand_commands", "container_commands", "norm_flag",
           "parse_flags", "first_flag", "split_host_port"]

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})
# Commands that run the next word as the program (their own options are skipped).
WRAPPERS = frozenset({"exec", "nohup", "time", "stdbuf", "setsid", "command", "tini", "dumb-init"})
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_REF = re.compile(r"\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")
_LABEL_PATH = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")
MAX_DEPTH = 4


class Commands(list):
    """Simple commands (each a :class:`Command`: a list of words with ``cond``), with ``errors``: why the
    evaluation of a script stopped early (a syntax error, a script too long)."""

    errors: list[str]

    def __init__(self, items: Iterable = (), errors: Iterable[str] = ()):
        super().__init__(items)
        self.errors = list(errors)


# ---- Kubernetes $(VAR) expansion ---------------------------------------------------------------------

def k8s_expand(text: str, env: dict[str, str | None]) -> tuple[str, bool]:
    """``$(VAR)`` -> value for known vars, ``$$`` -> ``$``; unknown refs stay (as the kubelet does).
    Returns (text, whether a reference stayed unresolved)."""
    out, missing = kubelet_expand(text, env)
    return out, missing or ("$(" in out and _REF.search(out) is not None)


def split_script(text: str, env: dict[str, str | None]) -> list[list[Word]]:
    """A ``sh -c`` script (as written in the spec) as simple commands of expanded words."""
    return list(shell.run(text, env).commands)


# ---- from a container to its commands ----------------------------------------------------------------

def _field_ref(pod: dict | None, path: str) -> str | None:
    """A fieldRef's value when the pod says it statically (labels, names, IPs), else None."""
    if not pod:
        return None
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    m = _LABEL_PATH.match(path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2))
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"), "status.podIP": status.get("podIP"),
              "status.hostIP": status.get("hostIP")}
    value = simple.get(path)
    return None if value is None else str(value)


def _value_from(pod: dict | None, source: dict) -> tuple[str | None, str]:
    """(value, why it has none) of an env entry's ``valueFrom``."""
    for kind, body in sorted(source.items()):
        body = body or {}
        if kind == "fieldRef":
            path = body.get("fieldPath", "")
            value = _field_ref(pod, path)
            return value, "" if value is not None else f"from fieldRef {path}, not known from the spec"
        if kind in ("secretKeyRef", "configMapKeyRef"):
            return None, f"from {kind} {body.get('name', '')}/{body.get('key', '')}"
        if kind == "resourceFieldRef":
            return None, f"from resourceFieldRef {body.get('resource', '')}"
        return None, f"from {kind}"
    return None, "from valueFrom"


def container_env(container: dict, pod: dict | None = None) -> tuple[dict[str, str | None], dict[str, str]]:
    """(name -> value, name -> why it has no value) of a container's ``env`` as the kubelet builds it:
    ``$(VAR)`` expanded among earlier entries, fieldRefs read from ``pod`` (labels, names, IPs); Secrets,
    ConfigMaps and resources have no static value."""
    out: dict[str, str | None] = {}
    whys: dict[str, str] = {}
    for item in container.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if item.get("valueFrom"):
            out[name], why = _value_from(pod, item["valueFrom"])
            if out[name] is None:
                whys[name] = f"{name} comes {why}"
            continue
        value, missing = k8s_expand(str(item.get("value", "")), out)
        if missing:
            out[name] = None
            whys[name] = f"{name} refers to a variable with no static value"
        else:
            out[name] = value
    return out, whys


def container_literal_env(container: dict) -> dict[str, str | None]:
    """Name -> value after ``$(VAR)`` expansion among the env entries (None: valueFrom, unknown here)."""
    return container_env(container)[0]


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


def expand_commands(argv: list[Word], env: dict[str, str | None], depth: int = 0,
                    whys: dict[str, str] | None = None, errors: list[str] | None = None) -> list[list[Word]]:
    """Simple commands run by ``argv``: itself, or, for ``sh -c SCRIPT [NAME ARGS...]``, the script's
    commands (nested shells too, up to MAX_DEPTH)."""
    argv = _strip_wrappers(argv)
    if not argv:
        return []
    cond = getattr(argv, "cond", "")
    prog = argv[0].value.rsplit("/", 1)[-1]
    if prog in SHELLS and depth < MAX_DEPTH:
        i = 1
        while i < len(argv):
            flag = argv[i].value
            if flag == "-c" or (flag.startswith("-") and not flag.startswith("--") and "c" in flag[1:]):
                if i + 1 >= len(argv):
                    return []
                item = argv[i + 1]
                if item.unresolved and depth:
                    return [argv]
                # top level: the argv item as written (the kubelet's $(VAR) first, where values came from);
                # nested: the string the outer shell passes
                result = shell.run(item.raw if depth == 0 else item.value, env, kubelet=depth == 0,
                                   positional=argv[i + 2:], whys=whys)
                if errors is not None and result.error:
                    errors.append(result.error)
                out: list[list[Word]] = []
                for cmd in result.commands:
                    for inner in expand_commands(cmd, env, depth + 1, whys, errors):
                        if cond and not getattr(inner, "cond", ""):
                            inner = Command(inner)
                            inner.cond = cond
                        out.append(inner)
                return out
            if not flag.startswith("-"):
                break
            i += 1
    return [argv]


def _item_why(raw: str, env: dict[str, str | None], whys: dict[str, str]) -> str:
    for m in _REF.finditer(raw):
        name = m.group(1)
        if name not in env:
            return f"$({name}): no variable {name} in the container's env (the program gets it as written)"
        if env[name] is None:
            return f"$({name}): {whys.get(name) or name + ' has no value in the spec'}"
    return ""


def container_commands(container: dict, env: dict[str, str | None] | None = None,
                       whys: dict[str, str] | None = None) -> Commands:
    """Every simple command the container's ``command`` + ``args`` run (empty: the image's entrypoint)."""
    if env is None:
        env, whys = container_env(container)
    whys = whys or {}
    argv: list[Word] = []
    for item in list(container.get("command") or []) + list(container.get("args") or []):
        raw = str(item)
        value, missing = k8s_expand(raw, env)
        argv.append(Word(value, raw, missing, _item_why(raw, env, whys) if missing else ""))
    if not argv:
        return Commands()
    errors: list[str] = []
    return Commands(expand_commands(argv, env, 0, whys, errors), errors)


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
    why: str = ""   # unresolved: the whole expression and why it has no static value


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
                flags[norm_flag(name)] = Flag(name, value, raw, "=", w.unresolved, w.why)
            else:
                key = norm_flag(v)
                nxt = words[i + 1] if i + 1 < len(words) else None
                if key not in booleans and nxt is not None and (not nxt.value.startswith("-") or _is_number(nxt.value)):
                    flags[key] = Flag(v, nxt.value, nxt.raw, " ", nxt.unresolved, nxt.why)
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
