"""The ``kubectl lws`` root command: lazy subcommands, global flags, error and exit-code mapping.

Start-up must stay light (``--help`` and ``version`` never import the kubernetes client), so
subcommands are imported only when invoked and the root help lists them from a static table.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from typing import Any

import click

from kubectl_lws import __version__, errors
from kubectl_lws.options import app_context, attach_global_options, global_options

# name -> (module, attribute, one-line help). Order is the help order.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "list": ("kubectl_lws.commands.list_cmd", "list_cmd", "List LeaderWorkerSets with group health."),
    "status": ("kubectl_lws.commands.status", "status", "Show groups, pods, placement and health of one LWS."),
    "logs": ("kubectl_lws.commands.logs", "logs", "Print or follow the logs of the groups' pods."),
    "events": ("kubectl_lws.commands.events", "events", "One timeline of an LWS's events, by group."),
    "verify": ("kubectl_lws.commands.verify", "verify", "Check injected env and NCCL reachability per group."),
    "metrics": ("kubectl_lws.commands.metrics", "metrics", "Inference metrics per group: load, tokens/s, TTFT."),
    "rollout": ("kubectl_lws.commands.rollout", "rollout", "Canary, promote, pause, resume, status, history, undo."),
    "restart": ("kubectl_lws.commands.restart", "restart", "Re-create one group, several, or all (rolling)."),
    "scale": ("kubectl_lws.commands.scale", "scale", "Change the number of groups through /scale."),
    "map": ("kubectl_lws.commands.map", "map_cmd", "Draw where the groups run: topology, nodes, GPUs per group."),
    "dashboard": ("kubectl_lws.commands.dashboard", "dashboard", "Serve a live, read-only view in a local browser."),
    "record": ("kubectl_lws.commands.record", "record", "Record every group's incarnations and their logs into a folder."),
    "history": ("kubectl_lws.commands.history", "history", "How each group's incarnations started and ended."),
    "report": ("kubectl_lws.commands.report", "report", "Write a support bundle (zip/tar.gz) for one LWS."),
    "doctor": ("kubectl_lws.commands.doctor", "doctor", "Check the LWS install, its health and your permissions."),
    "sandbox": ("kubectl_lws.commands.sandbox", "sandbox", "Run a simulated cluster with LWS to try everything."),
    "completion": ("kubectl_lws.commands.completion", "completion", "Print or install shell completion."),
    "version": ("kubectl_lws.commands.version", "version", "Print the plugin version (and the server's)."),
}

EPILOG = """\b
Exit codes: 0 ok, 1 error, 2 usage, 3 unhealthy/verification failed, 4 timed out, 130 interrupted,
143 terminated (SIGTERM, handled like Ctrl-C).
Connection flags (-n, --context, --kubeconfig, ...) work before or after the subcommand."""


class RootGroup(click.Group):
    """Loads subcommands lazily and maps every failure to one stderr line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _, _) in COMMANDS.items() if importlib.util.find_spec(module)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not importlib.util.find_spec(entry[0]):
            return None
        command = getattr(importlib.import_module(entry[0]), entry[1])
        return attach_global_options(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            close = [c for c in self.list_commands(ctx) if c.startswith(name[:2])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise click.UsageError(f'unknown command "{name}" for "kubectl lws"{hint}', ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        # click's main() turns EPIPE into a bare exit 1; a closed stdout must reach run() instead.
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise StdoutClosed() from exc

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        code = run(self, args, prog_name or "kubectl lws", **extra)
        if standalone_mode and _HARD_EXIT and code in (errors.EXIT_INTERRUPTED, errors.EXIT_TERMINATED):
            # The command already closed its streams and exec sessions and said what was done; a worker
            # thread still blocked on a dead socket must not keep the process alive (gone within 3 s).
            _flush_and_exit(code)
        if standalone_mode:
            sys.exit(code)
        return code


_HARD_EXIT = False  # set by the console entry point only (never under click's test runner)


def _flush_and_exit(code: int) -> None:
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise errors.Terminated()


class StdoutClosed(Exception):
    """The reader of stdout went away (``| head -1``): the command ends quietly."""


def run(group: click.Group, args: Any, prog_name: str, **extra: Any) -> int:
    """Invoke the CLI and return the exit code; the one place errors become messages.

    SIGTERM is turned into :class:`errors.Terminated` (a KeyboardInterrupt) for the command's run, so
    it ends like Ctrl-C: the same cleanup and summary, then exit 143."""
    import signal
    import threading

    debug = "--debug" in (args if args is not None else sys.argv[1:])
    previous = None
    if threading.current_thread() is threading.main_thread():
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            previous = None
    from kubectl_lws import terminal
    from kubectl_lws.render.output import echo

    terminal.degrade_streams()
    if not debug:  # library warnings (urllib3, kubernetes, websocket) are internals, not messages
        import warnings

        warnings.filterwarnings("ignore", module=r"(urllib3|kubernetes|websocket|yaml)(\.|$)")
    try:
        result = click.Group.main(group, args=args, prog_name=prog_name, standalone_mode=False, **extra)
        sys.stdout.flush()  # here, not at exit: a stdout that cannot take it (>/dev/full) is an error
        if isinstance(result, int):
            return result
        return errors.EXIT_OK
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        # click turns KeyboardInterrupt (and so our Terminated) into Abort, keeping it as the cause
        if isinstance(exc, errors.Terminated) or isinstance(exc.__cause__, errors.Terminated):
            click.echo("terminated", err=True)
            return errors.EXIT_TERMINATED
        click.echo("interrupted", err=True)
        return errors.EXIT_INTERRUPTED
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
            exc.show()
            return errors.EXIT_USAGE
        message, hint = usage_message(exc, _command_path(group, args, prog_name))
        echo(f"error: {message}", err=True)  # it may quote what was typed: shown, never obeyed
        echo(f"hint: {hint}", err=True)
        return errors.EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except errors.LwsError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        # the message often carries the server's words (a 403, a webhook's denial): shown, never obeyed
        echo(f"error: {exc.message}", err=True)
        if exc.hint:
            echo(f"hint: {exc.hint}", err=True)
        return exc.exit_code
    except (BrokenPipeError, StdoutClosed):
        # stdout closed early (e.g. piped to head): not an error worth a message, like kubectl.
        terminal.silence_stdout()
        return errors.EXIT_OK
    except Exception as exc:  # noqa: BLE001 — last line of defence: no tracebacks for users
        from kubectl_lws.files import stdout_failure

        failed = stdout_failure(exc)
        if failed is not None:  # >/dev/full, a file-size limit: one sentence, and no second try at exit
            terminal.silence_stdout()
            echo(f"error: {failed.message}", err=True)
            return failed.exit_code
        if debug:
            import traceback

            traceback.print_exc()
        echo(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
        return errors.EXIT_ERROR
    finally:
        if previous is not None:
            try:
                signal.signal(signal.SIGTERM, previous)
            except (ValueError, OSError):
                pass


def _command_path(group: click.Group, args: Any, prog_name: str) -> str:
    """``kubectl lws rollout pause`` from the arguments, for errors click raises without a context."""
    path = [prog_name]
    command: click.Command = group
    for token in list(args if args is not None else sys.argv[1:]):
        if not isinstance(command, click.Group) or token.startswith("-"):
            continue
        try:
            sub = command.get_command(click.Context(command), token)
        except Exception:  # noqa: BLE001 — a best-effort hint only
            sub = None
        if sub is not None:
            path.append(token)
            command = sub
    return " ".join(path)


def usage_message(exc: click.UsageError, fallback_path: str = "kubectl lws") -> tuple[str, str]:
    """click's usage errors in kubectl's (cobra's) words: one ``error:`` line and a ``hint:``."""
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else fallback_path
    hint = f"see '{path} --help'"
    if isinstance(exc, click.NoSuchOption):
        name = exc.option_name
        if name.startswith("--") or len(name) != 2:
            return f"unknown flag: {name}", hint
        return f"unknown shorthand flag: {name[1:]!r} in {name}", hint
    if isinstance(exc, click.BadOptionUsage) and "requires an argument" in exc.message:
        return f"flag needs an argument: {exc.option_name}", hint
    if isinstance(exc, click.MissingParameter) and exc.param is not None:
        param = exc.param
        if isinstance(param, click.Argument):
            return f"missing argument {param.make_metavar(ctx) if ctx else param.name}", hint  # type: ignore[arg-type]
        return f"required flag not set: {param.opts[-1] if param.opts else param.name}", hint
    if isinstance(exc, click.BadParameter):
        param = exc.param_hint or (exc.param.get_error_hint(ctx) if exc.param is not None and ctx else None)  # type: ignore[arg-type]
        if isinstance(param, (list, tuple)):
            param = " / ".join(param)
        text = exc.message.rstrip(".").replace("valid integer range", "valid integer").replace(
            "valid float range", "valid number")
        if param:
            return f"invalid value for {str(param).replace(chr(39), '')}: {text}", hint
        return text, hint
    text = exc.message.rstrip(".")
    extra = re.match(r"Got unexpected extra arguments? \((.*)\)$", text)
    if extra:
        return f"unexpected argument{'s' if ' ' in extra.group(1) else ''}: {extra.group(1)}", hint
    missing = re.match(r"No such command '(.*)'$", text)
    if missing:
        return f'unknown command "{missing.group(1)}" for "{path}"', hint
    return text[:1].lower() + text[1:], hint


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
             epilog=EPILOG)
@click.version_option(__version__, "--version", message="kubectl-lws %(version)s")
def cli() -> None:
    """Operate LeaderWorkerSet (LWS) workloads: groups of one leader and N-1 workers.

    \b
    Examples:
      kubectl lws list -A
      kubectl lws status vllm --pods
      kubectl lws logs vllm -f
      kubectl lws verify nccl vllm
      kubectl lws rollout canary vllm --groups 1
    """
    app_context()


cli.params.extend(global_options())


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``kubectl-lws``).

    ``kubectl-lws __complete WORDS...`` is the completion engine (the same as
    ``kubectl_complete-lws``), so a single-file install (krew) can complete too.
    """
    global _HARD_EXIT
    _HARD_EXIT = True
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["__complete"]:
        from kubectl_lws.completion_entry import main as complete_main

        complete_main(args[1:])
        return
    cli.main(args=args, prog_name="kubectl lws")
