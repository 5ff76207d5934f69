"""``kubectl lws record``: keep every incarnation of the groups, with their logs, until Ctrl-C.

Thin: checks the flags (nothing is sent before), reads the LWS (a missing one is the usual error),
says who the cluster is, opens DIR (lock, header: ``recording.RecordingDir``) and runs the recorder
(``kubectl_lws/recorder.py``). Ctrl-C, SIGTERM or ``--for`` stop it cleanly (exit 0); a DIR that
cannot be written stops it with one error (exit 1), everything written until then still readable.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from kubectl_lws.options import TARGET, DurationType, SizeType, app_context

DEFAULT_TAIL_BYTES = 1024 * 1024
DEFAULT_MAX_SIZE = 1024 ** 3


@click.command("record")
@click.argument("name", required=False, type=TARGET, metavar="NAME|ds/NAME")
@click.option("-A", "--all-namespaces", "all_lws", is_flag=True,
              help="Every LWS: of every namespace, or of the namespace -n names.")
@click.option("--dir", "directory", metavar="DIR", help="Folder to record into (created; required).")
@click.option("--for", "duration", type=DurationType(), metavar="DURATION",
              help="Stop after this long (e.g. 30m, 2h). Default: until Ctrl-C.")
@click.option("--all-pods", is_flag=True, help="Follow every pod's logs, not only the leaders'.")
@click.option("--tail-bytes", type=SizeType(1024), default=str(DEFAULT_TAIL_BYTES), show_default="1Mi",
              metavar="SIZE", help="Newest bytes kept of a container that ended without a followed stream.")
@click.option("--max-size", type=SizeType(1024 * 1024), default=str(DEFAULT_MAX_SIZE), show_default="1Gi",
              metavar="SIZE", help="Bound on DIR; the oldest ended incarnations are removed first.")
def record(name: Any, all_lws: bool, directory: str | None, duration: float | None, all_pods: bool,
           tail_bytes: int, max_size: int) -> int:
    """Record how every group's incarnations start and end, with their logs, into DIR.

    \b
    Under RecreateGroupOnPodRestart one crashed container deletes the whole group, its restart
    counts and its logs within seconds. The recorder keeps them: it follows every leader's logs
    across re-creations and, the moment any container of the groups ends, fetches its log tail
    (previous where it restarted) while the pod still exists. Read it with kubectl lws history.
    ds/NAME records every child LWS of a DisaggregatedSet, including those a rollout creates.

    \b
    Examples:
      kubectl lws record vllm --dir ./rec                  # until Ctrl-C
      kubectl lws record vllm --dir ./rec --for 2h --all-pods
      kubectl lws record ds/pd --dir ./rec                 # every role, slice and revision
      kubectl lws record -A --dir /var/lib/lws-rec --max-size 5Gi
      kubectl lws history vllm --dir ./rec
    """
    from kubectl_lws import errors

    if not directory:
        raise errors.UsageError("--dir DIR is required: the folder to record into")
    if name and all_lws:
        raise errors.UsageError("NAME and -A cannot be combined")
    if not name and not all_lws:
        raise errors.UsageError("NAME or -A is required: kubectl lws record NAME --dir DIR",
                                hint="list them with: kubectl lws list")
    if duration is not None and duration <= 0:
        raise errors.UsageError("--for must be a positive duration (e.g. 30m)")
    if tail_bytes > max_size:
        raise errors.UsageError("--tail-bytes cannot be larger than --max-size")
    app = app_context()
    return _record(app, name, all_lws, directory, duration, all_pods, tail_bytes, max_size)


def _record(app: Any, target: Any, all_lws: bool, directory: str, duration: float | None, all_pods: bool,
            tail_bytes: int, max_size: int) -> int:
    from kubectl_lws import __version__, errors
    from kubectl_lws.model.bundle import command_line
    from kubectl_lws.recorder import Recorder, Scope, stamp
    from kubectl_lws.recording import FORMAT_VERSION, KIND, RecordingDir, RecordingError, size_text

    cluster = app.cluster
    namespace = cluster.namespace
    name = target.name if target else None
    roles: list[str] = []
    if target and target.is_ds:
        from kubectl_lws.model.ds import ds_view

        roles = [r.name for r in ds_view(cluster.get_ds(name, namespace)).roles]  # a missing set: the usual error
        scope = Scope(namespace, ds=name)
    elif target:
        cluster.get_lws(name, namespace)  # a missing LWS: the usual error, with close names
        scope = Scope(namespace, frozenset({name}))
    else:
        scope = Scope(namespace if app.settings.namespace else None)
    identity = _cluster_identity(cluster)
    started = stamp()
    options = {"tailBytes": tail_bytes, "maxSize": max_size, "allPods": all_pods, "for": duration}
    scope_doc = {"namespace": scope.namespace, "names": sorted(scope.names) if scope.names else None,
                 **({"disaggregatedSet": scope.ds, "roles": roles} if scope.ds else {})}
    session = {"started": started, "command": command_line(sys.argv[1:]), "scope": scope_doc, "options": options,
               "plugin": __version__}
    header = {"kind": KIND, "formatVersion": FORMAT_VERSION, "started": started, "cluster": identity,
              "versions": {"plugin": __version__, "server": identity.pop("serverVersion", None)},
              "command": session["command"], "scope": scope_doc, "options": options, "sessions": [session]}
    rec = RecordingDir(directory, max_size=max_size, say=app.info)
    rec.open(header, lambda old: _other_cluster(old, identity))
    recorder = Recorder(cluster, scope, rec, tail_bytes=tail_bytes, all_pods=all_pods, say=app.info, warn=app.warn)
    recorder.prime_events(_recorded_events(rec))
    what = f"{target.kind_word} {namespace}/{name}" if target else \
        (f"every leaderworkerset of namespace {scope.namespace}" if scope.namespace else "every leaderworkerset")
    app.info(f"recording {what} into {directory} (max {size_text(max_size)}); "
             + (f"stops in {duration:g}s" if duration else "Ctrl-C to stop"))
    summary: dict = {}
    stopped_by = "--for" if duration else "Ctrl-C"
    try:
        summary = recorder.run(duration)
    except KeyboardInterrupt as exc:
        stopped_by = "SIGTERM" if isinstance(exc, errors.Terminated) else "Ctrl-C"
        summary = {"endedIncarnations": recorder.ended_count, "rotations": rec.rotations}
    except RecordingError:
        rec.close(stamp(), {"endedIncarnations": recorder.ended_count, "error": True})
        raise
    rec.close(stamp(), summary)
    reader = f"ds/{name}" if scope.ds else (name or "NAME")
    app.info(f"stopped ({stopped_by}): {summary.get('endedIncarnations', 0)} ended incarnation(s) written to "
             f"{directory} ({size_text(rec.used)}); read them with: kubectl lws history "
             f"{reader} --dir {directory}")
    return 0


def _cluster_identity(cluster: Any) -> dict:
    """Who the cluster is: its server URL, the context, the kube-system namespace's uid (the usual cluster
    id; None when it may not be read) and the server version."""
    from kubectl_lws import errors

    out: dict = {"server": cluster.host, "context": cluster.resolved.context_name, "uid": None,
                 "serverVersion": None}
    try:
        out["uid"] = (cluster.get("namespaces", "kube-system").get("metadata") or {}).get("uid")
    except errors.LwsError:
        pass
    try:
        out["serverVersion"] = (cluster.server_version() or {}).get("gitVersion")
    except errors.LwsError:
        pass
    return out


def _other_cluster(old: dict, now: dict) -> str | None:
    """Why a recording's cluster is not this one (None: the same, or cannot tell)."""
    if old.get("uid") and now.get("uid"):
        return None if old["uid"] == now["uid"] else f"cluster uid {old['uid']}, this one is {now['uid']}"
    if old.get("server") and now.get("server") and old["server"].rstrip("/") != now["server"].rstrip("/"):
        return f"server {old['server']}, this one is {now['server']}"
    return None


def _recorded_events(rec: Any) -> list[dict]:
    """Events an earlier session already wrote (so a resumed recording does not write them again)."""
    from kubectl_lws.recording import EVENTS, RecordingReader

    reader = RecordingReader(str(rec.root))
    return [doc for rel in reader.names() if rel.endswith("/" + EVENTS) for doc in reader.lines(rel)]
