"""``kubectl lws history NAME``: each group's incarnations, newest first, and how each one ended.

Thin: from ``--dir`` (a recording, or a ``report`` archive holding one; ``recording.RecordingReader``)
without a request, else from what the cluster still has (the LWS, its pods, the namespace's events:
three requests). ``model/history`` builds the document, ``render/history`` draws it.
"""

from __future__ import annotations

from typing import Any, Sequence

import click

from kubectl_lws.options import TARGET, app_context, output_option


@click.command("history")
@click.argument("name", required=False, type=TARGET, metavar="NAME")
@click.option("-g", "--group", "group_filter", type=click.IntRange(min=0), multiple=True, metavar="N",
              help="Only these groups (repeatable).")
@click.option("--dir", "directory", metavar="DIR",
              help="Read a recording (kubectl lws record --dir DIR), or a report archive that holds one.")
@click.option("--ignore-cluster", is_flag=True,
              help="Read a recording of another cluster than the current context's.")
@output_option(("table", "json", "yaml"), default="table")
def history(name: Any, group_filter: Sequence[int], directory: str | None, ignore_cluster: bool,
            output: str) -> int:
    """How each group's incarnations started and ended, newest first.

    \b
    With --dir, from a recording: every incarnation that ended while kubectl lws record ran, with
    its exit code, reason, termination message, node and the files holding its logs. Without it,
    from what the cluster still has: the current pods and the events, which expire (1h by default)
    and never say an exit code.

    \b
    Examples:
      kubectl lws history vllm --dir ./rec
      kubectl lws history vllm -g 1 --dir report_vllm.zip -o json
      kubectl lws history vllm                   # from the cluster: recent events only
    """
    from kubectl_lws import errors
    from kubectl_lws.render.history import history_text
    from kubectl_lws.render.output import emit

    if not name:
        raise errors.UsageError("NAME is required: kubectl lws history NAME [--dir DIR]",
                                hint="list them with: kubectl lws list")
    if name.is_ds:
        raise errors.UsageError(f"history reads one LeaderWorkerSet; a recording of {name.ref} keeps each child LWS "
                                "in a folder of its own",
                                hint=f"kubectl lws history CHILD --dir DIR (kubectl lws status {name.ref} names "
                                     "the children)")
    name = name.name
    app = app_context()
    if directory:
        doc = _from_dir(app, name, directory, list(group_filter), ignore_cluster)
    else:
        doc = _from_cluster(app, name, list(group_filter))
    if not emit(doc, output):
        click.echo(history_text(doc))
    return 0


def _from_dir(app: Any, name: str, directory: str, groups: list[int], ignore_cluster: bool) -> dict:
    from kubectl_lws import errors
    from kubectl_lws.model.history import from_recording
    from kubectl_lws.recording import INCARNATIONS, RecordingError, RecordingReader

    reader = RecordingReader(directory)
    recorded = reader.header.get("cluster") or {}
    if not ignore_cluster:
        why = _other_cluster(app, recorded)
        if why:
            raise RecordingError(f"{directory} was recorded from another cluster ({why})",
                                 hint="use that cluster's --context/--kubeconfig, or --ignore-cluster to read it anyway")
    namespace = _namespace(app, reader, name)
    if not reader.names(f"{namespace}/{name}/"):
        have = sorted({"/".join(n.split("/")[:2]) for n in reader.names() if n.count("/") >= 2})
        raise errors.NotFound(f'{directory} holds no recording of leaderworkerset "{name}" in namespace '
                              f'"{namespace}"' + (f" (it holds: {', '.join(have[:10])})" if have else ""), code=404)
    lines = list(reader.lines(f"{namespace}/{name}/{INCARNATIONS}"))
    return from_recording(name, namespace, lines, reader.names(f"{namespace}/{name}/"), reader.header, only=groups,
                          where=directory)


def _other_cluster(app: Any, recorded: dict) -> str | None:
    """Why the current context is not the recorded cluster (None: the same, or nothing to compare with:
    no kubeconfig, as when a ticket's bundle is read on a laptop)."""
    from kubectl_lws import errors

    try:
        server = app.cluster.host
    except errors.LwsError:
        return None
    old = (recorded.get("server") or "").rstrip("/")
    if old and server and old != server.rstrip("/"):
        context = f" (context {recorded['context']})" if recorded.get("context") else ""
        return f"{old}{context}; the current context's server is {server}"
    return None


def _namespace(app: Any, reader: Any, name: str) -> str:
    """-n, else the context's namespace, else the one namespace of the recording that holds NAME."""
    from kubectl_lws import errors

    if app.settings.namespace:
        return app.settings.namespace
    try:
        namespace = app.cluster.namespace
    except errors.LwsError:
        namespace = None
    if namespace and reader.names(f"{namespace}/{name}/"):
        return namespace
    holders = sorted({n.split("/")[0] for n in reader.names() if n.split("/")[1:2] == [name]})
    if len(holders) == 1:
        return holders[0]
    if namespace:
        return namespace
    raise errors.UsageError(f"leaderworkerset {name} is recorded in several namespaces ({', '.join(holders)}): "
                            "pass -n NAMESPACE")


def _from_cluster(app: Any, name: str, groups: list[int]) -> dict:
    from kubectl_lws import errors
    from kubectl_lws.model import events as E
    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.history import from_cluster
    from kubectl_lws.model.keys import selector_for
    from kubectl_lws.model.timeutil import utc_now

    cluster = app.cluster
    ns = cluster.namespace
    view = lws_view(cluster.get_lws(name, ns))
    pods = cluster.list_pods(ns, label_selector=selector_for(name), slim=True)
    mine: list | None
    error = None
    try:
        raw, _ = cluster.list_events(ns)
        evs = E.normalize_all(E.raw_of_lws(raw, name))
        mine = E.events_of_lws(evs, name, others=E.other_lws_names(evs, name))
    except errors.LwsError as exc:
        mine, error = None, exc.message
        app.warn(f"cannot read events ({exc.message}): only the current incarnations are shown")
    return from_cluster(view, pods, mine, now=utc_now(), only=groups, events_error=error)
