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
@click.argument("name", required=False, type=TARGET, metavar="NAME|ds/NAME")
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

    ds/NAME: every child LWS of a DisaggregatedSet, a section per slice and role.

    \b
    Examples:
      kubectl lws history vllm --dir ./rec
      kubectl lws history ds/pd --dir ./rec -o json
      kubectl lws history vllm -g 1 --dir report_vllm.zip -o json
      kubectl lws history vllm                   # from the cluster: recent events only
    """
    from kubectl_lws import errors
    from kubectl_lws.render.history import history_text, set_history_text
    from kubectl_lws.render.output import emit

    if not name:
        raise errors.UsageError("NAME is required: kubectl lws history NAME [--dir DIR]",
                                hint="list them with: kubectl lws list")
    app = app_context()
    groups = list(group_filter)
    if directory:
        read_dir = _set_from_dir if name.is_ds else _from_dir
        doc = read_dir(app, name.name, directory, groups, ignore_cluster)
    else:
        doc = (_set_from_cluster if name.is_ds else _from_cluster)(app, name.name, groups)
    if not emit(doc, output):
        click.echo(set_history_text(doc) if name.is_ds else history_text(doc))
    return 0


def _from_dir(app: Any, name: str, directory: str, groups: list[int], ignore_cluster: bool) -> dict:
    from kubectl_lws import errors
    from kubectl_lws.model.history import from_recording
    from kubectl_lws.recording import INCARNATIONS

    reader = _open_recording(app, directory, ignore_cluster)
    namespace = _namespace(app, reader, name)
    if not reader.names(f"{namespace}/{name}/"):
        have = sorted({"/".join(n.split("/")[:2]) for n in reader.names() if n.count("/") >= 2})
        raise errors.NotFound(f'{directory} holds no recording of leaderworkerset "{name}" in namespace '
                              f'"{namespace}"' + (f" (it holds: {', '.join(have[:10])})" if have else ""), code=404)
    lines = list(reader.lines(f"{namespace}/{name}/{INCARNATIONS}"))
    return from_recording(name, namespace, lines, reader.names(f"{namespace}/{name}/"), reader.header, only=groups,
                          where=directory)


def _open_recording(app: Any, directory: str, ignore_cluster: bool) -> Any:
    """DIR (or a report archive) as a RecordingReader; a recording of another cluster is refused unless
    ``ignore_cluster``."""
    from kubectl_lws.recording import RecordingError, RecordingReader

    reader = RecordingReader(directory)
    if not ignore_cluster:
        why = _other_cluster(app, reader.header.get("cluster") or {})
        if why:
            raise RecordingError(f"{directory} was recorded from another cluster ({why})",
                                 hint="use that cluster's --context/--kubeconfig, or --ignore-cluster to read it anyway")
    return reader


def _set_from_dir(app: Any, ds: str, directory: str, groups: list[int], ignore_cluster: bool) -> dict:
    """Every child LWS of the set a recording holds (``record ds/NAME`` or ``-A``), each read as ``history
    CHILD --dir`` reads it."""
    from kubectl_lws import errors
    from kubectl_lws.model.history import NOTE_RECORDING, from_recording, recorded_child, set_doc
    from kubectl_lws.recording import INCARNATIONS

    reader = _open_recording(app, directory, ignore_cluster)
    scope = reader.header.get("scope") or {}
    if app.settings.namespace:
        namespace = app.settings.namespace
    elif scope.get("disaggregatedSet") == ds and scope.get("namespace"):
        namespace = scope["namespace"]
    else:
        try:
            namespace = app.cluster.namespace
        except errors.LwsError:
            namespace = "default"
    folders = sorted({n.split("/")[1] for n in reader.names(f"{namespace}/") if n.count("/") >= 2})
    children = []
    for lws in folders:
        lines = list(reader.lines(f"{namespace}/{lws}/{INCARNATIONS}"))
        owner = recorded_child(ds, lws, lines)
        if owner is not None:
            files = reader.names(f"{namespace}/{lws}/")
            children.append((owner, from_recording(lws, namespace, lines, files, reader.header, only=groups,
                                                   where=directory)))
    if not children:
        raise errors.NotFound(f'{directory} holds no recording of disaggregatedset "{ds}" in namespace '
                              f'"{namespace}"', code=404)
    roles = scope.get("roles") if scope.get("disaggregatedSet") == ds else None  # the set's order of roles
    return set_doc(ds, namespace, "recording", children, note=NOTE_RECORDING, recording=children[0][1]["recording"],
                   roles=roles if isinstance(roles, list) else ())


def _set_from_cluster(app: Any, ds: str, groups: list[int]) -> dict:
    """What the cluster still has of each child LWS: the set, its child LWS and their pods (by the set's
    label), the namespace's events: four requests."""
    from kubectl_lws.model import keys
    from kubectl_lws.model.ds import children_of, ds_view
    from kubectl_lws.model.groups import lws_view, pods_by_lws
    from kubectl_lws.model.history import NOTE_CLUSTER, from_cluster, set_doc
    from kubectl_lws.model.timeutil import utc_now

    cluster = app.cluster
    ns = cluster.namespace
    view = ds_view(cluster.get_ds(ds, ns))
    kids = children_of(ds, cluster.list_lws(ns, label_selector=keys.ds_selector(ds)))
    pods = pods_by_lws(cluster.list_pods(ns, label_selector=keys.ds_selector(ds), slim=True))
    raw, error = _namespace_events(app, ns)
    now = utc_now()
    children = [(ref.to_json(), from_cluster(lws_view(obj), pods.get((ns, obj["metadata"]["name"]), []),
                                              _events_of(raw, obj["metadata"]["name"]), now=now, only=groups,
                                              events_error=error))
                for ref, obj in kids]
    return set_doc(ds, ns, "cluster", children, note=NOTE_CLUSTER, roles=[r.name for r in view.roles],
                   unknown=[] if kids else [f"disaggregatedset {ds} has no child LeaderWorkerSet now"])


def _namespace_events(app: Any, ns: str) -> tuple[list | None, str | None]:
    """The namespace's events (one LIST), or None and why (a warning says only current incarnations show)."""
    from kubectl_lws import errors

    try:
        raw, _ = app.cluster.list_events(ns)
        return raw, None
    except errors.LwsError as exc:
        app.warn(f"cannot read events ({exc.message}): only the current incarnations are shown")
        return None, exc.message


def _events_of(raw: list | None, name: str) -> list | None:
    """One LWS's events among the namespace's, as ``events`` attributes them."""
    from kubectl_lws.model import events as E

    if raw is None:
        return None
    evs = E.normalize_all(E.raw_of_lws(raw, name))
    return E.events_of_lws(evs, name, others=E.other_lws_names(evs, name))


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
    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.history import from_cluster
    from kubectl_lws.model.keys import selector_for
    from kubectl_lws.model.timeutil import utc_now

    cluster = app.cluster
    ns = cluster.namespace
    view = lws_view(cluster.get_lws(name, ns))
    pods = cluster.list_pods(ns, label_selector=selector_for(name), slim=True)
    raw, error = _namespace_events(app, ns)
    return from_cluster(view, pods, _events_of(raw, name), now=utc_now(), only=groups, events_error=error)
