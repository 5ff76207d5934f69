"""Flags shared by every command, and the per-invocation application context.

kubectl accepts its connection flags anywhere (``kubectl lws -n ns status x`` and
``kubectl lws status x -n ns``). We get the same by attaching the global options to the root
group *and* to every leaf command; their callbacks write into one ``AppContext`` kept on the root
click context, so the last place a flag was given wins and commands never see them as arguments.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TextIO

import click

from kubectl_lws.errors import UsageError
from kubectl_lws.kubeconfig import ConnectionSettings, parse_duration

if TYPE_CHECKING:  # pragma: no cover
    from kubectl_lws.cluster import Cluster


@dataclass
class AppContext:
    """Everything a command needs besides its own flags."""

    settings: ConnectionSettings = field(default_factory=ConnectionSettings)
    verbosity: int = 0
    debug: bool = False
    color: str = "auto"
    _cluster: "Cluster | None" = None

    @property
    def cluster(self) -> "Cluster":
        """The API connection, built on first use (so offline commands never load the client)."""
        if self._cluster is None:
            from kubectl_lws.cluster import Cluster

            self._cluster = Cluster(self.settings, verbosity=self.verbosity, log=self.log)
        return self._cluster

    def close(self) -> None:
        """Release the API connections (for callers that run many commands in one process)."""
        if self._cluster is not None:
            self._cluster.close()

    def use_color(self, stream: TextIO | None = None) -> bool:
        """The one colour decision of every command (for ``stream``, stdout by default)."""
        return color_enabled(self.color, stream)

    # Data goes to stdout, progress, warnings and markers to stderr; all through render.output.echo
    # (cluster words in a message are shown, never obeyed, by the terminal).
    def out(self, text: object = "") -> None:
        from kubectl_lws.render.output import echo

        echo(text)

    def log(self, message: object) -> None:
        from kubectl_lws.render.output import echo

        echo(message, err=True)

    info = log

    def warn(self, message: object) -> None:
        from kubectl_lws.render.output import echo
        from kubectl_lws.render.safe import style, styled

        echo(styled(style("warning:", self.use_color(sys.stderr), fg="yellow"), " ", message), err=True)


def color_enabled(flag: str, stream: TextIO | None = None) -> bool:
    """``--color always|never`` wins; else ``NO_COLOR`` (any value) or ``TERM=dumb`` turn colour off;
    else (auto) colour only a terminal. The NO_COLOR convention: a command-line flag beats the variable."""
    if flag == "always":
        return True
    if flag == "never":
        return False
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def app_context(ctx: click.Context | None = None) -> AppContext:
    """The AppContext of the current invocation (created on first access)."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj


def _setter(attr: str, convert: Callable[[Any], Any] | None = None) -> Callable:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None or value is False or value == ():
            return
        app = app_context(ctx)
        value = convert(value) if convert else value
        if attr.startswith("settings."):
            name = attr.split(".", 1)[1]
            if name == "as_groups":
                app.settings.as_groups = [*app.settings.as_groups, *value]
            else:
                setattr(app.settings, name, value)
        else:
            setattr(app, attr, value)

    return callback


def _verbosity(value: str) -> int:
    text = str(value).lstrip("=")
    try:
        return int(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (e.g. -v 6)") from None


def _namespace(value: str) -> str:
    from kubectl_lws.names import check_namespace

    return check_namespace(str(value))


def _server(value: str) -> str:
    from kubectl_lws.kubeconfig import check_server_url

    return check_server_url(str(value))


def _timeout(value: str) -> float:
    try:
        return parse_duration(str(value))
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def global_options() -> list[click.Option]:
    """kubectl's connection and verbosity flags, as fresh click options (one set per command)."""
    def opt(decls: list[str], attr: str, help_text: str, *, convert: Callable | None = None,
            is_flag: bool = False, multiple: bool = False, metavar: str | None = None,
            type_: Any = None) -> click.Option:
        return click.Option(decls, expose_value=False, is_eager=False, callback=_setter(attr, convert),
                            help=help_text, is_flag=is_flag, multiple=multiple, metavar=metavar,
                            type=type_, default=None if not (is_flag or multiple) else (False if is_flag else ()))

    return [
        opt(["-n", "--namespace"], "settings.namespace", "Namespace (default: the context's).", metavar="NS",
            convert=_namespace),
        opt(["--kubeconfig"], "settings.kubeconfig", "Path to the kubeconfig file.", metavar="PATH"),
        opt(["--context"], "settings.context", "Kubeconfig context to use.", metavar="NAME"),
        opt(["--cluster"], "settings.cluster", "Kubeconfig cluster to use.", metavar="NAME"),
        opt(["--user"], "settings.user", "Kubeconfig user to use.", metavar="NAME"),
        opt(["-s", "--server"], "settings.server", "API server address.", metavar="URL", convert=_server),
        opt(["--token"], "settings.token", "Bearer token.", metavar="TOKEN"),
        opt(["--as"], "settings.as_user", "User to impersonate.", metavar="USER"),
        opt(["--as-group"], "settings.as_groups", "Group to impersonate (repeatable).", multiple=True,
            metavar="GROUP"),
        opt(["--as-uid"], "settings.as_uid", "UID to impersonate.", metavar="UID"),
        opt(["--certificate-authority"], "settings.certificate_authority", "CA certificate file.",
            metavar="PATH"),
        opt(["--client-certificate"], "settings.client_certificate", "Client certificate file.",
            metavar="PATH"),
        opt(["--client-key"], "settings.client_key", "Client key file.", metavar="PATH"),
        opt(["--insecure-skip-tls-verify"], "settings.insecure_skip_tls_verify",
            "Do not verify the server's certificate.", is_flag=True),
        opt(["--request-timeout"], "settings.request_timeout",
            "Per-request timeout: 0 (none), 30s, 1m30s or seconds.", convert=_timeout, metavar="DURATION"),
        opt(["-v", "--v"], "verbosity", "Log level; 6 logs every API request on stderr.",
            convert=_verbosity, metavar="N"),
        opt(["--color"], "color", "Colour: auto (TTY only), always or never.",
            type_=click.Choice(["auto", "always", "never"])),
        opt(["--debug"], "debug", "Show tracebacks for errors.", is_flag=True),
    ]


GLOBAL_OPTION_NAMES = {"namespace", "kubeconfig", "context", "cluster", "user", "server", "token", "as",
                       "as_group", "as_uid", "certificate_authority", "client_certificate", "client_key",
                       "insecure_skip_tls_verify", "request_timeout", "v", "color", "debug"}


def attach_global_options(command: click.Command) -> click.Command:
    """Give a command (and, for groups, every subcommand) the global flags, once."""
    if not getattr(command, "_lws_globals", False):
        taken = {d for p in command.params for d in getattr(p, "opts", [])}
        for option in global_options():
            if not (set(option.opts) & taken):
                command.params.append(option)
        command._lws_globals = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            attach_global_options(sub)
    return command


# ---- options that several commands share -------------------------------------------------------

def output_option(choices: tuple[str, ...] = ("table", "wide", "json", "yaml", "name"),
                  default: str = "table") -> Callable:
    return click.option("-o", "--output", type=click.Choice(list(choices)), default=default,
                        show_default=True, help="Output format.")


def no_headers_option() -> Callable:
    return click.option("--no-headers", is_flag=True, help="Omit table headers.")


def dry_run_option() -> Callable:
    """kubectl's --dry-run: bare flag = client; server sends dryRun=All."""
    return click.option("--dry-run", type=click.Choice(["none", "client", "server"]), default="none",
                        is_flag=False, flag_value="client", show_default=True,
                        help="Only print the plan (client) or have the server validate it (server).")


def yes_option() -> Callable:
    return click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")


def duration_type() -> click.ParamType:
    return DurationType()


class DurationType(click.ParamType):
    """A kubectl duration (``30s``, ``1m30s``, ``0`` or seconds) as float seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


class SizeType(click.ParamType):
    """A byte size: ``1048576``, ``512Ki``, ``1Mi``, ``1Gi`` (also ``KiB``/``MiB``/``GiB``, and ``K``/``M``/``G`` as
    powers of 1000, as Kubernetes quantities), at least ``minimum``."""

    name = "size"
    _UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
              "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            number = value
        else:
            import re

            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?)?[bB]?\s*", str(value))
            if not m:
                self.fail(f"{value!r} is not a size (e.g. 1048576, 512Ki, 1Mi, 1Gi)", param, ctx)
            number = int(float(m.group(1)) * self._UNITS[(m.group(2) or "").lower()])
        if number < self.minimum:
            self.fail(f"{value!r} is below the minimum of {self.minimum} bytes", param, ctx)
        return number


class NameType(click.ParamType):
    """An object NAME a user types: a DNS-1123 subdomain, checked while parsing (exit 2, nothing sent).

    Every command that takes a NAME uses ``LWS_NAME``; ``cluster.resource_path`` checks again, so a
    command that forgot still cannot put a hostile name into a URL.
    """

    name = "name"

    def __init__(self, kind: str = "leaderworkerset") -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from kubectl_lws.names import check_name

        return check_name(str(value), self.kind)


LWS_NAME = NameType()


class TargetType(NameType):
    """What a command acts on: ``NAME`` or ``lws/NAME`` (a LeaderWorkerSet), ``ds/NAME`` (a
    DisaggregatedSet; also ``disaggregatedset/NAME`` and the full resource name). Parsed and checked
    while click parses (exit 2, nothing sent), as every NAME is; the value is a ``model.target.Target``."""

    name = "target"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from kubectl_lws.model.target import Target, parse_target

        if isinstance(value, Target):
            return value
        return parse_target(str(value))


TARGET = TargetType()


class ContainerType(click.ParamType):
    """A container name (a DNS-1123 label)."""

    name = "container"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from kubectl_lws.names import check_container

        return check_container(str(value))


class SelectorType(click.ParamType):
    """A label selector, parsed with the API server's grammar before it is sent (exit 2 when it cannot be)."""

    name = "selector"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from kubectl_lws.names import check_selector

        return check_selector(str(value))


class NamespaceType(click.ParamType):
    """A namespace a command flag names (besides -n): a DNS-1123 label, checked while parsing."""

    name = "namespace"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from kubectl_lws.names import check_namespace

        return check_namespace(str(value))
