"""Shell completion engine, speaking kubectl's plugin completion protocol.

kubectl (>= 1.26) completes ``kubectl lws ...`` by running ``kubectl_complete-lws`` with the words
typed after ``lws`` (the partial word last). We print one candidate a line (``value<TAB>help``)
and a final ``:<directive>`` line (cobra's ShellCompDirective: 0 default, 4 no file completion).
Our own bash/zsh/fish scripts call the same engine through ``kubectl-lws __complete``, so there
is one implementation. Subcommands and flags never load the kubernetes client; names come from
the cluster with a 1 s budget and complete to nothing when it cannot be reached.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Iterable

import click

DIRECTIVE_DEFAULT = 0  # let the shell complete files
DIRECTIVE_NO_FILE = 4
LOOKUP_TIMEOUT_S = 1.0

# option name -> what its value is
_SETTING_FLAGS = {"--namespace": "namespace", "-n": "namespace", "--context": "context",
                  "--kubeconfig": "kubeconfig", "--cluster": "cluster", "--user": "user", "--server": "server",
                  "-s": "server", "--token": "token"}
_FILE_FLAGS = {"--kubeconfig", "--certificate-authority", "--client-certificate", "--client-key", "--save-logs",
               "--filename", "-f"}


@dataclass
class Line:
    """What the user typed so far, as far as completion needs it."""

    command: click.Command
    path: list[str] = field(default_factory=list)
    positionals: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    pending_option: click.Option | None = None


def _find_option(command: click.Command, name: str) -> click.Option | None:
    for param in command.params:
        if isinstance(param, click.Option) and name in param.opts + param.secondary_opts:
            return param
    return None


def _subcommand(command: click.Command, name: str) -> click.Command | None:
    if not isinstance(command, click.Group):
        return None
    ctx = click.Context(command)
    return command.get_command(ctx, name)


def parse_line(words: list[str]) -> Line:
    """Walk the command tree over the complete words (all but the partial one)."""
    from kubectl_lws.cli import cli

    line = Line(cli)
    for word in words:
        if line.pending_option is not None:
            _record(line, line.pending_option, word)
            line.pending_option = None
            continue
        if word.startswith("-") and word != "-":
            name, eq, value = word.partition("=")
            option = _find_option(line.command, name)
            if option is None:
                continue
            if eq:
                _record(line, option, value)
            elif not option.is_flag:
                line.pending_option = option
            continue
        sub = _subcommand(line.command, word) if not line.positionals else None
        if sub is not None:
            line.command = sub
            line.path.append(word)
        else:
            line.positionals.append(word)
    return line


def _record(line: Line, option: click.Option, value: str) -> None:
    for opt in option.opts:
        if opt in _SETTING_FLAGS:
            line.settings[_SETTING_FLAGS[opt]] = value
            return


def complete(words: list[str]) -> tuple[list[tuple[str, str]], int]:
    """Candidates ``(value, help)`` and the directive for the words typed after ``kubectl lws``."""
    if not words:
        words = [""]
    *done, partial = words
    line = parse_line(done)
    if line.pending_option is not None:
        return _option_values(line, line.pending_option, partial, prefix="")
    if partial.startswith("-"):
        name, eq, value = partial.partition("=")
        if eq:
            option = _find_option(line.command, name)
            if option is None:
                return [], DIRECTIVE_NO_FILE
            found, directive = _option_values(line, option, value, prefix=f"{name}=")
            return found, directive
        return _flags(line.command, partial), DIRECTIVE_NO_FILE
    if isinstance(line.command, click.Group) and not line.positionals:
        return _subcommands(line.command, partial), DIRECTIVE_NO_FILE
    return _arguments(line, partial), DIRECTIVE_NO_FILE


def _subcommands(group: click.Group, partial: str) -> list[tuple[str, str]]:
    from kubectl_lws.cli import COMMANDS, cli

    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        if not name.startswith(partial):
            continue
        if group is cli:
            out.append((name, COMMANDS[name][2]))
        else:
            sub = group.get_command(ctx, name)
            out.append((name, (sub.get_short_help_str(80) if sub else "")))
    return out


def _flags(command: click.Command, partial: str) -> list[tuple[str, str]]:
    out = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        for opt in param.opts + param.secondary_opts:
            if opt.startswith("--") and opt.startswith(partial):
                out.append((opt, (param.help or "").split(".")[0]))
    if partial in ("-", "") or not partial.startswith("--"):
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                out.extend((o, (param.help or "").split(".")[0]) for o in param.opts
                           if not o.startswith("--") and o.startswith(partial))
    return sorted(set(out))


def _option_values(line: Line, option: click.Option, partial: str, *, prefix: str) -> tuple[list[tuple[str, str]], int]:
    opts = set(option.opts)
    if opts & _FILE_FLAGS:
        return [], DIRECTIVE_DEFAULT
    values: Iterable[tuple[str, str]] = []
    if isinstance(option.type, click.Choice):
        values = [(str(c), "") for c in option.type.choices]
    elif opts & {"--namespace", "-n"}:
        values = [(n, "namespace") for n in _lookup(line, "namespaces")]
    elif "--context" in opts:
        from kubectl_lws.kubeconfig import ConnectionSettings, context_names

        values = [(c, "context") for c in context_names(ConnectionSettings(kubeconfig=line.settings.get("kubeconfig")))]
    elif opts & {"--group", "-g"}:
        values = [(str(i), "group") for i in _lookup(line, "groups")]
    elif opts & {"--container", "-c"}:
        values = [(c, "container") for c in _lookup(line, "containers")]
    elif "--worker" in opts:
        values = [(str(i), "worker index") for i in _lookup(line, "workers")]
    return [(prefix + v, h) for v, h in values if v.startswith(partial)], DIRECTIVE_NO_FILE


def _arguments(line: Line, partial: str) -> list[tuple[str, str]]:
    """The NAME argument of every LWS command."""
    names = [p.name for p in line.command.params if isinstance(p, click.Argument)]
    if not names or line.positionals:
        return []
    if line.path and line.path[0] in ("completion",):
        return [(s, "") for s in ("bash", "zsh", "fish", "k9s", "install") if s.startswith(partial)]
    if line.path and line.path[0] == "sandbox":
        return []
    return [(n, "LeaderWorkerSet") for n in _lookup(line, "lws") if n.startswith(partial)]


def _lookup(line: Line, what: str) -> list:
    """Names from the cluster, within LOOKUP_TIMEOUT_S; any failure completes to nothing."""
    try:
        from kubectl_lws.cluster import Cluster
        from kubectl_lws.kubeconfig import ConnectionSettings
        from kubectl_lws.model.groups import container_names, lws_view

        settings = ConnectionSettings(kubeconfig=line.settings.get("kubeconfig"),
                                      context=line.settings.get("context"),
                                      namespace=line.settings.get("namespace"),
                                      server=line.settings.get("server"), token=line.settings.get("token"),
                                      cluster=line.settings.get("cluster"), user=line.settings.get("user"),
                                      request_timeout=LOOKUP_TIMEOUT_S)
        cluster = Cluster(settings)
        if what == "namespaces":
            return sorted(n["metadata"]["name"] for n in cluster.list("namespaces")[0])
        if what == "lws":
            return sorted(o["metadata"]["name"] for o in cluster.list_lws())
        if not line.positionals:
            return []
        view = lws_view(cluster.get("leaderworkersets", line.positionals[0], cluster.namespace))
        if what == "groups":
            return list(range(view.replicas))
        if what == "workers":
            return list(range(view.size))
        if what == "containers":
            seen: list[str] = []
            for template in (view.leader_template(), view.worker_template()):
                for name in container_names(template, init=True):
                    if name not in seen:
                        seen.append(name)
            return seen
    except Exception:  # noqa: BLE001 — completion never fails loudly
        return []
    return []


def render(candidates: list[tuple[str, str]], directive: int) -> str:
    """The protocol's lines. A value that is not printable text (a line feed, a tab, an escape: a
    kubeconfig or a cluster can hold any name) is left out: it would split into other candidates or
    drive the terminal, and could not be typed anyway. Descriptions are shown, never obeyed."""
    from kubectl_lws.render.safe import term

    lines = [f"{v}\t{term(h)}" if h else v for v, h in candidates if v.isprintable()]
    return "\n".join([*lines, f":{directive}"]) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``kubectl_complete-lws WORD... PARTIAL``."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        candidates, directive = complete(words)
    except Exception:  # noqa: BLE001
        candidates, directive = [], DIRECTIVE_NO_FILE
    sys.stdout.write(render(candidates, directive))
