"""``kubectl lws logs``: the logs of many groups at once, prefixed and coloured by group.

Structure (the stern shape, adapted to groups): one thread per log stream reads chunks, cuts them
at the last newline and hands whole-line blocks to one queue; the main thread is the only writer.
With ``-f`` a pod watch (``Cluster.list_watch``) feeds the same queue, and the main thread
re-selects the streams after each change (``model.logsel``), attaching to every new pod UID or
container restart of the selected groups. A second watch on the LWS ends the command when the
LWS is deleted. Every thread is a daemon and every response is shut down on exit, so Ctrl-C
leaves nothing running.
"""

from __future__ import annotations

import itertools
import math
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import click

from kubectl_lws.model.logcursor import StreamCursor
from kubectl_lws.model.target import ds_flags_on_lws
from kubectl_lws.options import TARGET, ContainerType, DurationType

CHUNK = 64 * 1024
QUEUE_BLOCKS = 512  # bounded: a slow stdout slows the readers (TCP back-pressure), memory stays flat
JOIN_SECONDS = 1.5
TRANSIENT_WAITING = frozenset({"Pending", "ContainerCreating", "PodInitializing"})
RECHECK_SECONDS = 1.0  # after a stream ends: long enough for the watch to report a crash or deletion
MAX_RESUMES = 10  # per container instance, so a server that keeps closing streams cannot spin us
WATCH_RETRY_SECONDS = 1.0  # first pause before a broken watch lists again; doubles up to the max below
WATCH_RETRY_MAX_SECONDS = 5.0
RECONNECT_TIMEOUT = "30s"  # -f gives up (exit 1) once the API server has not answered for this long
_TS_PREFIX = re.compile(rb"(?m)^\d{4}-\d\d-\d\dT[^ \n]* ")


@click.command("logs")
@click.argument("name", type=TARGET, metavar="NAME")
@click.option("-g", "--group", "groups", type=click.IntRange(min=0), multiple=True, metavar="N",
              help="Only these groups (repeatable). Default: every group.")
@click.option("--role", "roles", multiple=True, metavar="ROLE", help="ds/NAME: only this role (repeatable).")
@click.option("--slice", "slices", type=click.IntRange(min=0), multiple=True, metavar="S",
              help="ds/NAME: only this slice (repeatable).")
@click.option("--workers", is_flag=True, help="Also the workers of each group (not only the leader).")
@click.option("--all-pods", is_flag=True,
              help="Every pod of the LWS, with surge groups and pods still terminating (-g/--worker still filter).")
@click.option("--worker", "worker_indexes", type=click.IntRange(min=0), multiple=True, metavar="M",
              help="Only these worker indexes (0 = leader; repeatable; narrows --workers/--all-pods).")
@click.option("-c", "--container", type=ContainerType(), metavar="NAME",
              help="Container (default: the default-container annotation, else the first).")
@click.option("--all-containers", is_flag=True, help="Every container of each pod.")
@click.option("-f", "--follow", is_flag=True,
              help="Stream new lines; follows the groups across re-creation, scale-up and restarts.")
@click.option("--since", type=DurationType(), metavar="DURATION", help="Only lines newer than this (5s, 2m, 3h).")
@click.option("--since-time", metavar="TIME", help="Only lines after this RFC 3339 time.")
@click.option("--tail", type=click.IntRange(min=-1, max=2**63 - 1), default=-1, show_default=True,
              help="Lines of recent log per stream (-1: all).")
@click.option("--timestamps", is_flag=True, help="Start each line with the kubelet's RFC 3339 timestamp.")
@click.option("-p", "--previous", is_flag=True, help="The previous (crashed) container instance.")
@click.option("--no-prefix", is_flag=True, help="Do not prefix lines with g<group>/w<worker>.")
@click.option("--max-streams", type=click.IntRange(1, 1024), default=64, show_default=True,
              help="Concurrent log streams; more pods queue (or, with -f, are listed as not followed).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text, or json: one object per line {time, group, worker, pod, container, line}.")
@click.option("--reconnect-timeout", type=DurationType(), default=RECONNECT_TIMEOUT, show_default=True,
              metavar="DURATION",
              help="With -f: when the API server stops answering, retry (with back-off, after a warning) "
                   "for this long, then exit 1.")
def logs(name: Any, groups: tuple[int, ...], roles: tuple[str, ...], slices: tuple[int, ...], workers: bool,
         all_pods: bool, worker_indexes: tuple[int, ...], container: str | None, all_containers: bool, follow: bool,
         since: float | None, since_time: str | None, tail: int, timestamps: bool, previous: bool,
         no_prefix: bool, max_streams: int, output: str, reconnect_timeout: float) -> int:
    """Print or follow the logs of the groups' pods (default: every group's leader).

    ds/NAME: every role of a DisaggregatedSet, lines prefixed role/slice/group/worker (decode/s0/g1/w0;
    the revision is added where a slice runs two), --role and --slice narrow it.

    \b
    Examples:
      kubectl lws logs vllm                     # every leader, one block per pod, groups in order
      kubectl lws logs vllm -f                  # follow all leaders, even across group re-creation
      kubectl lws logs vllm -g 2 --workers -f   # the whole of group 2
      kubectl lws logs vllm --previous          # why did the leaders crash?
      kubectl lws logs vllm -o json --tail 20   # one JSON object per line
      kubectl lws logs ds/pd --role decode -f   # every decode leader of every slice
    """
    from kubectl_lws import errors
    from kubectl_lws.model import keys
    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.timeutil import parse_time
    from kubectl_lws.options import app_context

    if workers and all_pods:
        raise errors.UsageError("--workers and --all-pods cannot be combined (--all-pods includes the workers)")
    if container and all_containers:
        raise errors.UsageError("-c/--container and --all-containers cannot be combined")
    if since is not None and since_time:
        raise errors.UsageError("--since and --since-time cannot be combined")
    if since_time and parse_time(since_time) is None:
        raise errors.UsageError(f'--since-time "{since_time}" is not an RFC 3339 time (e.g. 2026-11-22T10:26:00Z)')
    if previous and follow:
        raise errors.UsageError("--previous shows a finished container instance; it cannot be combined with -f")
    if tail < -1:
        raise errors.UsageError("--tail must be -1 (all) or a number of lines >= 0")

    if (roles or slices) and not name.is_ds:
        raise ds_flags_on_lws(name)
    app = app_context()
    cluster = app.cluster
    cluster.max_connections = max(cluster.max_connections, max_streams + 8)
    namespace = cluster.namespace
    kind = "leaderworkersets"
    if name.is_ds:
        uid, replicas, size, selector, kind = _ds_scope(cluster, name.name, namespace, roles, slices)
    else:
        view = lws_view(cluster.get_lws(name.name, namespace))
        uid, replicas, size, selector = view.uid, view.replicas, view.size, keys.selector_for(name.name)
    json_out = output == "json"
    request = LogRequest(
        tail_lines=None if tail < 0 else tail,
        since_seconds=None if since is None else max(1, math.ceil(since)),
        since_time=since_time, timestamps=timestamps or json_out, previous=previous)
    spec = RunSpec(
        name=name.name, namespace=namespace, lws_uid=uid, replicas=replicas, size=size,
        selector=selector, kind=kind,
        select_args=dict(groups=groups, worker_indexes=worker_indexes, workers=workers, all_pods=all_pods,
                         container=container, all_containers=all_containers, roles=roles, slices=slices),
        request=request, json_out=json_out, prefix=not no_prefix,
        color=(not json_out) and app.use_color(sys.stdout), err_color=app.use_color(sys.stderr),
        max_streams=max_streams)
    if follow:
        cluster.prepare_streams()  # before the first "+ pod" marker: streams then open at once
        return Follower(cluster, spec, reconnect_timeout=max(1.0, reconnect_timeout)).run()
    return dump(cluster, spec)


def _ds_scope(cluster: Any, name: str, namespace: str, roles: tuple[str, ...],
              slices: tuple[int, ...]) -> tuple[str, int, int, str, str]:
    """(uid, replicas, size, pod selector, kind to watch) of a DisaggregatedSet: GET it; -g and --worker are
    checked against its largest role (every pod of the set is selected by its name label)."""
    from kubectl_lws.model import keys
    from kubectl_lws.model.ds import check_scope, ds_view

    view = ds_view(cluster.get_ds(name, namespace))
    check_scope(view, roles, slices)
    chosen = [r for r in view.roles if not roles or r.name in roles]
    return (view.uid, max((r.replicas for r in chosen), default=0), max((r.size for r in chosen), default=1),
            keys.ds_selector(name), keys.DS_PLURAL)


# ---- plumbing shared by both modes ---------------------------------------------------------------

@dataclass(frozen=True)
class LogRequest:
    """The pods/log query for a stream."""

    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: str | None = None
    timestamps: bool = False
    previous: bool = False

    def query(self, *, follow: bool, fresh: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``Cluster.pod_log_stream``; ``fresh`` = a new instance, from its start."""
        return dict(follow=follow, tail_lines=None if fresh else self.tail_lines,
                    since_seconds=self.since_seconds, since_time=self.since_time,
                    timestamps=self.timestamps, previous=self.previous)


@dataclass
class RunSpec:
    name: str
    namespace: str
    lws_uid: str
    replicas: int
    size: int
    selector: str
    select_args: dict[str, Any]
    request: LogRequest
    json_out: bool
    prefix: bool
    color: bool
    err_color: bool
    max_streams: int
    width: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    kind: str = "leaderworkersets"  # what ends a follow when deleted: the LWS, or a DisaggregatedSet

    @property
    def kind_word(self) -> str:
        return "disaggregatedset" if self.kind == "disaggregatedsets" else "leaderworkerset"

    def validate_and_select(self, pods: list[dict]) -> Any:
        """Validate -g/--worker/-c against the pods that exist, then select the streams."""
        from kubectl_lws.model import logsel

        logsel.validate_request(pods, replicas=self.replicas, size=self.size, lws_name=self.name,
                                groups=self.select_args["groups"],
                                worker_indexes=self.select_args["worker_indexes"], kind=self.kind_word)
        selection = logsel.select_targets(pods, **self.select_args)
        if self.select_args["container"]:
            logsel.check_container(pods, self.select_args["container"], selection)
        labels = [t.prefix for t in selection.targets] + [w.label for w in selection.waiting]
        self.width = max((len(x) for x in labels), default=0)
        return selection

    def formatter(self, target: Any) -> Callable[[bytes], bytes]:
        """Block formatter for one target: prefixed text or JSON lines."""
        from kubectl_lws.render import logs as render

        if self.json_out:
            fields = {"group": target.group, "worker": target.worker, "pod": target.pod,
                      "container": target.container}
            stamps = self.request.timestamps
            return lambda block: render.json_block(fields, block, timestamps=stamps)
        prefix = render.prefix_bytes(target.prefix, target.color if self.color else None, width=self.width,
                                     enabled=self.prefix)
        return lambda block: render.text_block(prefix, block)

    def marker_color(self, target: Any) -> str | None:
        return target.color if self.err_color else None


def pump(cluster: Any, namespace: str, target: Any, query: dict[str, Any], fmt: Callable[[bytes], bytes],
         put: Callable[[tuple], bool], stop: threading.Event, on_open: Callable[[], None] | None = None) -> None:
    """Read one log stream to its end, handing over formatted whole-line blocks; never raises."""
    from kubectl_lws.render.logs import LineSplitter

    resp = None
    complete = False
    try:
        resp = cluster.pod_log_stream(target.pod, namespace=namespace, container=target.container, **query)
        if on_open is not None:
            on_open()
        splitter = LineSplitter()
        for chunk in resp.stream(CHUNK, decode_content=False):
            block = splitter.feed(chunk)
            if block and not put(("out", fmt(block))):
                return
            if stop.is_set():
                return
        complete = True
        block = splitter.flush()
        if block:
            put(("out", fmt(block)))
    except Exception as exc:  # noqa: BLE001 — reported by the writer; a shut-down stream is not an error
        if not stop.is_set():
            put(("fail", target, exc))
    finally:
        if resp is not None:
            try:
                if not complete:
                    resp.close()  # unread body: the connection must not go back to the pool as is
                resp.release_conn()
            except Exception:  # noqa: BLE001
                pass
        put(("end", target))


def describe_failure(target: Any, exc: BaseException) -> tuple[bool, str]:
    """``(is_error, message)``: missing previous instances and vanished pods are notes, not errors."""
    from kubectl_lws import errors

    where = f"{target.label} (pod {target.pod}, container {target.container})"
    if isinstance(exc, errors.Invalid):
        text = exc.message
        if "previous terminated container" in text or "previous" in text and "not found" in text:
            return False, f"note: {where}: no previous instance to show"
        if "waiting to start" in text:
            return False, f"note: {where}: {text}"
        return True, f"error: {where}: {text}"
    if isinstance(exc, errors.NotFound):
        return False, f"note: {where}: the pod no longer exists"
    if isinstance(exc, errors.LwsError):
        return True, f"error: {where}: {exc.message}"
    return True, f"error: {where}: {type(exc).__name__}: {exc}"


def _stop_all(cluster: Any, stop: threading.Event, threads: list[threading.Thread]) -> None:
    """Stop every reader: flag, shut the sockets down, and wait (bounded) for the threads."""
    stop.set()
    cluster.close_streams()
    deadline = time.monotonic() + JOIN_SECONDS  # one bound for all of them: Ctrl-C must end in ~2 s
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    # a reader that opened its response after close_streams ran: shut it down too
    if any(t.is_alive() for t in threads):
        cluster.close_streams()
        deadline = time.monotonic() + 0.5
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


# ---- without -f: blocks in group order -------------------------------------------------------------

def dump(cluster: Any, spec: RunSpec) -> int:
    """Each stream in one block, groups in order; at most ``max_streams`` requests in flight."""
    from kubectl_lws.model import logsel
    from kubectl_lws.render.logs import BlockWriter

    pods = cluster.list_pods(spec.namespace, label_selector=spec.selector)
    selection = spec.validate_and_select(pods)
    writer = BlockWriter()
    for note in selection.notes:
        writer.err(f"note: {note}")
    items: list[Any] = selection.ordered
    targets = [x for x in items if isinstance(x, logsel.Target)]
    if not items:
        writer.err(f'note: {spec.kind_word} "{spec.name}" has no pods to show')
        return 0
    queues: dict[int, queue.SimpleQueue] = {id(t): queue.SimpleQueue() for t in targets}
    stop = threading.Event()
    counter = itertools.count()
    lock = threading.Lock()
    query = spec.request.query(follow=False)

    def work() -> None:
        while not stop.is_set():
            with lock:
                index = next(counter)
            if index >= len(targets):
                return
            target = targets[index]
            q = queues[id(target)]
            pump(cluster, spec.namespace, target, query, spec.formatter(target), _simple_put(q), stop)

    threads = [threading.Thread(target=work, name=f"lws-logs-{i}", daemon=True)
               for i in range(min(spec.max_streams, len(targets)))]
    for thread in threads:
        thread.start()
    failed = False
    try:
        for item in items:
            if isinstance(item, logsel.Waiting):
                writer.err(f"note: {item.label}: pod {item.pod} is {item.reason}; no logs yet")
                continue
            q = queues[id(item)]
            while True:
                try:
                    msg = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                kind = msg[0]
                if kind == "out":
                    writer.out(msg[1])
                elif kind == "fail":
                    is_error, text = describe_failure(msg[1], msg[2])
                    failed = failed or is_error
                    writer.err(text)
                else:
                    break
    finally:
        _stop_all(cluster, stop, threads)
    return 1 if failed else 0


def _simple_put(q: queue.SimpleQueue) -> Callable[[tuple], bool]:
    def put(item: tuple) -> bool:
        q.put(item)
        return True
    return put


# ---- with -f: merged, following the groups -----------------------------------------------------------

class Follower:
    """State of a follow: the pods seen, the instances attached, the streams running.

    Only the main thread touches this state; the watch and stream threads just post messages.
    """

    def __init__(self, cluster: Any, spec: RunSpec, *, reconnect_timeout: float = 30.0) -> None:
        from kubectl_lws.render.logs import BlockWriter

        self.cluster = cluster
        self.spec = spec
        self.reconnect_timeout = reconnect_timeout
        self.lost_since: float | None = None  # monotonic time the server stopped answering (None: it answers)
        self.lost_error: str = ""
        self.cursors: dict[tuple, StreamCursor] = {}  # instance -> how far its output got
        self.queries: dict[tuple, dict[str, Any]] = {}  # instance -> the query of its first attach
        self.writer = BlockWriter()
        self.q: queue.Queue = queue.Queue(maxsize=QUEUE_BLOCKS)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.pods: dict[str, dict] = {}  # uid -> pod
        self.attached: set[tuple] = set()  # instances ever attached
        self.active: dict[tuple, Any] = {}  # instance -> target, streams running now
        self.slot_uid: dict[tuple, str] = {}  # slot -> pod uid last attached
        self.shown_uids: dict[str, Any] = {}  # pod uid -> a target/waiting shown for it (for "-" markers)
        self.initial: set[tuple] = set()  # instances present at the first list (they get --tail)
        self.noted_waiting: set[tuple] = set()
        self.not_followed: set[tuple] = set()
        self.synced = False
        self.resumes: dict[tuple, int] = {}
        self.rechecks: list[tuple[float, Any]] = []  # (due monotonic time, target) of ended streams

    # -- threads -------------------------------------------------------------------------------------
    def put(self, item: tuple) -> bool:
        """Post to the writer, waiting while it is behind; False once stopping."""
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.25)
                return True
            except queue.Full:
                continue
        return False

    def _spawn(self, fn: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=fn, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _resilient(self, body: Callable[[], None]) -> None:
        """Run a list+watch loop; a broken connection relists after a pause that doubles (up to a few
        seconds) while the server does not answer; RBAC/auth errors end the command."""
        from kubectl_lws import errors

        pause = WATCH_RETRY_SECONDS
        while not self.stop.is_set():
            try:
                body()
                return
            except (errors.Forbidden, errors.Unauthorized, errors.NotFound, errors.Invalid) as exc:
                if not self.stop.is_set():
                    self.put(("fatal", exc))
                return
            except errors.ApiError as exc:  # it answered (429, 5xx): no give-up; back off, by Retry-After if set
                retry = ((exc.status or {}).get("details") or {}).get("retryAfterSeconds")
                wait = max(pause, float(retry)) if isinstance(retry, (int, float)) else pause
                if self.stop.wait(min(wait, 60.0)):
                    return
                pause = min(pause * 2, WATCH_RETRY_MAX_SECONDS)
            except Exception as exc:  # noqa: BLE001 — reset, proxy cut, server restart: list again (SYNC)
                self.put(("lost", exc))
                if self.stop.wait(pause):
                    return
                pause = min(pause * 2, WATCH_RETRY_MAX_SECONDS) if self.lost_since is not None else WATCH_RETRY_SECONDS

    def _watch_pods(self) -> None:
        def body() -> None:
            for etype, obj in self.cluster.list_watch("pods", self.spec.namespace,
                                                      label_selector=self.spec.selector, stop=self.stop):
                if not self.put(("pods", etype, obj)):
                    return
        self._resilient(body)

    def _watch_lws(self) -> None:
        def body() -> None:
            for etype, obj in self.cluster.list_watch(self.spec.kind, self.spec.namespace, stop=self.stop,
                                                      field_selector=f"metadata.name={self.spec.name}"):
                if etype == "SYNC":
                    gone = not any((o.get("metadata") or {}).get("uid") == self.spec.lws_uid for o in obj)
                else:
                    gone = etype == "DELETED" and (obj.get("metadata") or {}).get("uid") == self.spec.lws_uid
                if gone:
                    self.put(("lws-gone",))
                    return
        self._resilient(body)

    # -- main loop -------------------------------------------------------------------------------------
    def run(self) -> int:
        self._spawn(self._watch_pods, "lws-logs-watch-pods")
        self._spawn(self._watch_lws, "lws-logs-watch-lws")
        try:
            return self._loop()
        finally:
            _stop_all(self.cluster, self.stop, self.threads)

    def _loop(self) -> int:
        from kubectl_lws import errors

        while True:
            if self.lost_since is not None and time.monotonic() - self.lost_since >= self.reconnect_timeout:
                raise errors.Unreachable(
                    f"no answer from the API server at {getattr(self.cluster, 'host', '?')} for "
                    f"{self.reconnect_timeout:g}s; stopped following ({self.lost_error})",
                    hint="check the server and run the command again (--reconnect-timeout sets the wait)")
            if self.rechecks:
                self._run_rechecks()
            try:
                item = self.q.get(timeout=0.25 if self.rechecks else 0.5)
            except queue.Empty:
                continue
            kind = item[0]
            if kind == "out":
                chunks = [item[1]]
                # drain what is already queued into one write (output blocks only, in order)
                while len(chunks) < 64:
                    try:
                        nxt = self.q.get_nowait()
                    except queue.Empty:
                        break
                    if nxt[0] != "out":
                        self.writer.out(b"".join(chunks))
                        chunks = []
                        result = self._handle(nxt)
                        if result is not None:
                            return result
                        break
                    chunks.append(nxt[1])
                if chunks:
                    self.writer.out(b"".join(chunks))
                continue
            result = self._handle(item)
            if result is not None:
                return result

    def _handle(self, item: tuple) -> int | None:
        kind = item[0]
        if kind == "pods":
            if self.lost_since is not None:
                self.lost_since = None
                self.writer.err("note: the API server answers again; following resumes")
            self._on_pod_event(item[1], item[2])
        elif kind == "lost":
            exc = item[1]
            self.lost_error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            if self.lost_since is None:
                self.lost_since = time.monotonic()
                self.writer.err(f"warning: lost the API server ({self.lost_error}); retrying with back-off for "
                                f"up to {self.reconnect_timeout:g}s")
        elif kind == "end":
            target = item[1]
            self.active.pop(target.instance, None)
            if self._still_running(target):
                # The stream ended but, as far as the watch knows, the container runs on: either the
                # watch has not told us about the crash/deletion yet, or the connection was cut.
                self.rechecks.append((time.monotonic() + RECHECK_SECONDS, target))
            if self.not_followed:
                self._reconcile()
        elif kind == "fail":
            target, exc = item[1], item[2]
            from kubectl_lws import errors

            if not isinstance(exc, errors.ApiError):
                return None  # a transport error mid-stream: "end" follows and decides about resuming
            _, text = describe_failure(target, exc)
            self.writer.err(text)
            if isinstance(exc, errors.Invalid):  # e.g. not started yet: try again on the next pod change
                self.attached.discard(target.instance)
        elif kind == "say":
            self.writer.err(item[1])
        elif kind == "lws-gone":
            self.writer.err(f'{self.spec.kind_word} "{self.spec.name}" was deleted; stopping')
            return 0
        elif kind == "fatal":
            raise item[1]
        return None

    def _still_running(self, target: Any) -> bool:
        """The latest watched state still shows this exact container instance running."""
        from kubectl_lws.model import groups as g

        if self.stop.is_set():
            return False
        pod = self.pods.get(target.uid)
        if pod is None or g.is_terminating(pod):
            return False
        for cs in g.container_statuses(pod):
            if cs.get("name") == target.container:
                return int(cs.get("restartCount") or 0) == target.restarts and "running" in (cs.get("state") or {})
        return False

    def _run_rechecks(self) -> None:
        """Resume streams that ended while their container kept running (from the last line's second)."""
        now = time.monotonic()
        due = [t for when, t in self.rechecks if when <= now]
        self.rechecks = [(when, t) for when, t in self.rechecks if when > now]
        for target in due:
            instance = target.instance
            if instance in self.active or not self._still_running(target):
                continue
            if self.lost_since is not None or len(self.active) >= self.spec.max_streams:
                # no server to re-attach to (the watches tell when it is back), or no free stream slot
                self.rechecks.append((now + RECHECK_SECONDS, target))
                continue
            if self.resumes.get(instance, 0) >= MAX_RESUMES:
                continue
            self.resumes[instance] = self.resumes.get(instance, 0) + 1
            cursor = self.cursors.get(instance)
            since = cursor.resume_since() if cursor is not None else None
            if since is not None:
                # from the last line shown: the cursor drops what was already printed, so nothing repeats
                query = self.spec.request.query(follow=True, fresh=True)
                query.update(since_seconds=None, since_time=since)
            else:  # nothing shown yet (e.g. the first attach failed): ask again what was asked first
                query = dict(self.queries.get(instance) or self.spec.request.query(follow=True, fresh=True))
            self._start(target, query, "reconnected")

    def _start(self, target: Any, query: dict[str, Any], detail: str | None) -> None:
        """Mark the instance attached, print the + marker and start its reader thread."""
        from kubectl_lws.render.logs import marker_added

        self.attached.add(target.instance)
        self.active[target.instance] = target
        self.slot_uid[target.slot] = target.uid
        self.shown_uids[target.uid] = target
        label = target.prefix if self.spec.select_args["all_containers"] else target.label
        marker = marker_added(label, target.pod, detail, color=self.spec.marker_color(target))
        on_open = None
        if detail == "reconnected":  # said once the server took the re-attach, not for every failed try
            def on_open() -> None:
                self.put(("say", marker))
        else:
            self.writer.err(marker)
        base = self.spec.formatter(target)
        instance = target.instance
        self.queries.setdefault(instance, dict(query))
        cursor = self.cursors.setdefault(instance, StreamCursor())
        keep_stamps = self.spec.request.timestamps
        query = {**query, "timestamps": True}  # the cursor needs the kubelet's stamps; stripped unless asked

        def fmt(block: bytes) -> bytes:
            block = cursor.filter(block)
            if not block:
                return b""
            return base(block if keep_stamps else _TS_PREFIX.sub(b"", block))

        self._spawn(lambda: pump(self.cluster, self.spec.namespace, target, query, fmt, self.put, self.stop,
                                 on_open), f"lws-logs-{target.prefix}")

    def _on_pod_event(self, etype: str, obj: Any) -> None:
        if etype == "SYNC":
            fresh = {(p.get("metadata") or {}).get("uid", ""): p for p in obj}
            first = not self.synced
            if first:
                selection = self.spec.validate_and_select(list(fresh.values()))
                self.initial = {t.instance for t in selection.targets}
                for note in selection.notes:
                    self.writer.err(f"note: {note}")
            for uid in set(self.pods) - set(fresh):
                self._removed(uid)
            self.pods = fresh
            self.synced = True
            self._reconcile(initial=first)
            return
        uid = (obj.get("metadata") or {}).get("uid", "")
        if etype == "DELETED":
            self.pods.pop(uid, None)
            self._removed(uid)
        else:
            self.pods[uid] = obj
        self._reconcile()

    def _removed(self, uid: str) -> None:
        from kubectl_lws.render.logs import marker_removed

        shown = self.shown_uids.pop(uid, None)
        if shown is not None:
            self.writer.err(marker_removed(shown.label, color=self.spec.marker_color(shown)))

    def _reconcile(self, *, initial: bool = False) -> None:
        """Attach every selected instance not attached yet, within --max-streams."""
        from kubectl_lws.model import logsel

        selection = logsel.select_targets(list(self.pods.values()), **self.spec.select_args)
        for waiting in selection.waiting:
            key = (waiting.uid, waiting.container, waiting.reason)
            self.shown_uids.setdefault(waiting.uid, waiting)
            # A re-created or new pod is briefly Pending/ContainerCreating: only say so for pods that
            # were already waiting at start, or that wait for a reason worth reading (Unschedulable...).
            transient = waiting.reason in TRANSIENT_WAITING
            if (initial or not transient) and key not in self.noted_waiting:
                self.noted_waiting.add(key)
                self.writer.err(f"note: {waiting.label}: pod {waiting.pod} is {waiting.reason}; "
                                "attaching when it starts")
        newly_skipped: list[Any] = []
        for target in selection.targets:
            if target.instance in self.attached:
                continue
            if len(self.active) >= self.spec.max_streams:
                if target.instance not in self.not_followed:
                    self.not_followed.add(target.instance)
                    newly_skipped.append(target)
                continue
            self.not_followed.discard(target.instance)
            previous_uid = self.slot_uid.get(target.slot)
            if initial or (target.instance in self.initial and previous_uid is None):
                detail = None
            elif previous_uid == target.uid:
                detail = f"restart {target.restarts}"
            else:
                detail = "new"
            self._start(target, self.spec.request.query(follow=True, fresh=target.instance not in self.initial),
                        detail)
        if newly_skipped:
            shown = ", ".join(f"{t.prefix} (pod {t.pod})" for t in newly_skipped[:10])
            more = f" and {len(newly_skipped) - 10} more" if len(newly_skipped) > 10 else ""
            self.writer.err(f"warning: not following {shown}{more}: --max-streams {self.spec.max_streams} "
                            "reached (they are attached when a stream ends; raise --max-streams to follow all)")
        # forget finished threads so a long follow does not accumulate them
        self.threads = [t for t in self.threads if t.is_alive()]
