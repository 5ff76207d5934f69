"""The recorder behind ``kubectl lws record``: keeps every incarnation of every group, with its logs.

Shape: one live view (``waiting.Informer``: pods, LeaderWorkerSets and events, one list+watch each,
relist on 410, resilient to a lost server) whose listener hands every change to one queue; the main
thread is the only one that decides (which incarnation a pod belongs to, which container instance
ended, when an incarnation is over and how: ``model/incarnation``) and the only one that writes
JSON lines (``recording.RecordingDir``). Log bytes come from two kinds of worker threads, each
writing its own file:

* a *stream* per followed container instance (every leader's containers; every pod's with
  ``all_pods``), one ``follow`` GET kept open across cut connections (a cursor skips what was
  written) until the instance ended;
* a *tail* per container instance that ended without a stream (a worker that crashed: its
  ``previous`` log; a pod that started terminating: its current log), one GET of the newest
  ``tail_bytes``, sent the moment the watch says so, while the pod still exists.

No polling: the loop wakes on the queue, and on a short tick only to finish incarnations whose last
captures are in. A lost server is a gap: written into ``incarnations.ndjson`` when the view lists
again, and what ended meanwhile is closed as ``unknown``.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from kubectl_lws import errors
from kubectl_lws.model import events as E
from kubectl_lws.model import groups as g
from kubectl_lws.model import incarnation as inc_model
from kubectl_lws.model import keys
from kubectl_lws.model.ds import child_ref
from kubectl_lws.model.incarnation import Evidence, Termination
from kubectl_lws.model.logcursor import StreamCursor
from kubectl_lws.model.timeutil import parse_time, rfc3339, utc_now
from kubectl_lws.render.events import item_json
from kubectl_lws.recording import EVENTS, INCARNATIONS, LogFile, RecordingDir, RecordingError, incarnation_folder, \
    lws_folder, log_name

CHUNK = 64 * 1024
TICK = 0.25
# After a leader is gone: wait this long for its next leader (a rolling update shows in its revision) ...
NEXT_LEADER_WAIT = 5.0
# ... and at most this long for the incarnation's log captures, then write what was captured.
CAPTURE_WAIT = 15.0
RECHECK_SECONDS = 1.0  # a stream that ended: time for the watch to tell whether its container ended too
START_TAIL_LINES = 1000  # of a container already running when the recorder first lists it
STREAM_RETRY_MAX = 5.0
TAIL_WORKERS = 32


def stamp(dt: datetime | None = None) -> str:
    """RFC 3339 UTC with milliseconds (capture times: the 1 s target needs more than seconds)."""
    dt = dt or utc_now()
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Scope:
    """What to record: LWS ``names`` (None: every one) in ``namespace`` (None: every namespace); or, with
    ``ds``, every child LWS of that DisaggregatedSet, old and new revisions alike (its label selects them
    and their pods on the server, so a rollout's new children are recorded as they appear)."""

    namespace: str | None
    names: frozenset[str] | None = None
    ds: str | None = None

    def pod_selector(self) -> str:
        if self.ds is not None:
            return keys.ds_selector(self.ds)
        if self.names is None:
            return keys.NAME_LABEL
        if len(self.names) == 1:
            return f"{keys.NAME_LABEL}={next(iter(self.names))}"
        return f"{keys.NAME_LABEL} in ({','.join(sorted(self.names))})"

    def lws_selector(self) -> str | None:
        return keys.ds_selector(self.ds) if self.ds is not None else None

    def lws_field(self) -> str | None:
        if self.ds is None and self.names is not None and len(self.names) == 1:
            return f"metadata.name={next(iter(self.names))}"
        return None

    def wants(self, lws: str) -> bool:
        return self.ds is not None or self.names is None or lws in self.names


@dataclass
class Capture:
    """One log capture of a container instance (a stream followed to its end, or a tail)."""

    path: str
    pod: str
    container: str
    restart: int
    how: str  # "follow" | "tail"
    previous: bool = False
    terminated: str | None = None  # when the instance ended, best known (finishedAt, or the deletion seen)
    requested: str | None = None
    captured: str | None = None
    bytes: int = 0
    truncated: bool = False
    error: str | None = None

    def to_json(self) -> dict:
        return {"path": self.path, "pod": self.pod, "container": self.container, "restart": self.restart,
                "how": self.how, "previous": self.previous, "terminated": self.terminated,
                "requested": self.requested, "captured": self.captured, "bytes": self.bytes,
                "truncated": self.truncated, "error": self.error}


@dataclass
class Incarnation:
    """The live state of one incarnation (main thread only)."""

    namespace: str
    lws: str
    group: int
    leader_uid: str
    leader_pod: str
    started: str | None
    folder: str
    revision: str | None
    size: int
    seen_from: str
    complete: bool
    pods: dict[str, dict] = field(default_factory=dict)  # uid -> latest pod
    ready: str | None = None
    evidence: Evidence = field(default_factory=lambda: Evidence(group=0))
    captures: list[Capture] = field(default_factory=list)
    pending: int = 0
    gone_at: float | None = None  # monotonic: the leader deleted (or replaced)
    ended: datetime | None = None
    next_seen: bool = False
    notes: list[str] = field(default_factory=list)


class Recorder:
    """Run one recording session into ``recording`` until ``stop_after`` seconds or Ctrl-C."""

    def __init__(self, cluster: Any, scope: Scope, recording: RecordingDir, *, tail_bytes: int, all_pods: bool,
                 say: Callable[[str], None], warn: Callable[[str], None]) -> None:
        self.cluster = cluster
        self.scope = scope
        self.rec = recording
        self.tail_bytes = tail_bytes
        self.all_pods = all_pods
        self.say = say
        self.warn = warn
        self.q: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.pods: dict[str, dict] = {}  # uid -> latest pod (slim)
        self.pod_inc: dict[str, str] = {}  # pod uid -> leader uid of its incarnation
        self.incs: dict[str, Incarnation] = {}  # leader uid -> live incarnation
        self.current: dict[tuple[str, str, int], str] = {}  # (ns, lws, group) -> leader uid of the newest
        self.lws: dict[tuple[str, str], dict] = {}  # (ns, name) -> LWS object
        self.lws_gone: set[tuple[str, str]] = set()
        # (ns, name) -> the DisaggregatedSet, role, slice and revision of a child LWS, kept after it is deleted
        self.owners: dict[tuple[str, str], dict] = {}
        self.ended_instances: set[tuple[str, str, int]] = set()  # (pod uid, container, restart) seen ended
        self.captured: set[tuple[str, str, int]] = set()  # instances with a tail or stream
        self.streams: dict[tuple[str, str, int], threading.Thread] = {}
        self.stream_caps: dict[tuple[str, str, int], Capture] = {}  # followed instance -> its capture
        self.running: set[tuple[str, str, int]] = set()  # instances the watch says run (read by streams)
        self.running_lock = threading.Lock()
        self.files: dict[str, LogFile] = {}
        self.deleting: set[str] = set()
        self.event_seen: dict[str, tuple] = {}  # event uid -> (count, last) written
        self.disruptions: dict[str, tuple[str, str]] = {}  # pod uid -> (kind, detail) said by an event
        self.restarts: dict[str, str] = {}  # leader uid -> message of a `kubectl lws restart` event
        self.recreates: dict[str, str] = {}  # leader uid -> message of the controller's RecreateGroup event
        self.logs_forbidden: set[str] = set()
        self.gap_start: datetime | None = None
        self.relist_from: datetime | None = None  # while a relist after a gap is applied: the gap's start
        self.gap_reason = ""
        self.synced = False
        self.ended_count = 0
        self.pool = ThreadPoolExecutor(max_workers=TAIL_WORKERS, thread_name_prefix="record-tail")
        self.view: Any = None

    # ---- the view -------------------------------------------------------------------------------------
    def _hear(self, kind: str, what: str, payload: Any) -> None:
        """The informer's listener (its stream threads, under its lock): hand over, never block."""
        self.q.put((kind, what, payload))

    def run(self, stop_after: float | None) -> dict:
        from kubectl_lws.waiting import Informer

        self.cluster.max_connections = max(self.cluster.max_connections, 256)
        sources = [("pods", self.scope.pod_selector()),
                   ("leaderworkersets", self.scope.lws_selector(), self.scope.lws_field()),
                   ("events", None)]
        self.view = Informer(self.cluster, self.scope.namespace, sources, optional={"events"}, name="record",
                             listener=self._hear, resilient=True)
        deadline = None if stop_after is None else time.monotonic() + stop_after
        self.view.start(timeout=None)
        try:
            self._loop(deadline)
        finally:
            self._shutdown()
        return {"endedIncarnations": self.ended_count, "rotations": self.rec.rotations}

    def _loop(self, deadline: float | None) -> None:
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return
            error = self.view.error
            if error is not None:
                raise error
            try:
                item = self.q.get(timeout=TICK)
            except queue.Empty:
                item = None
            while item is not None:
                self._handle(item)
                try:
                    item = self.q.get_nowait()
                except queue.Empty:
                    item = None
            self._finish_ready()
            if self.rec.over():
                self.rec.rotate(self._live_folders(), self._live_files())

    def _handle(self, item: tuple) -> None:
        kind, what, payload = item
        if kind == "fatal":
            raise payload
        if kind == "done":
            self._capture_done(*payload)
        elif kind == "forbidden":
            self._logs_forbidden(payload)
        elif what == "LOST":
            self._lost(kind, payload)
        elif kind == "pods":
            self._pods(what, payload)
        elif kind == "leaderworkersets":
            self._lws(what, payload)
        elif kind == "events":
            self._events(what, payload)

    def _shutdown(self) -> None:
        """Stop the view and every stream; write the incarnations that ended with what was captured."""
        self.stop.set()
        if self.view is not None:
            self.view.close()
        self.cluster.close_streams()
        deadline = time.monotonic() + 2.0
        for thread in list(self.streams.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        self.pool.shutdown(wait=False, cancel_futures=True)
        try:
            while True:
                item = self.q.get_nowait()
                if item[0] == "done":
                    self._capture_done(*item[2])
        except queue.Empty:
            pass
        except RecordingError:
            pass
        for inc in list(self.incs.values()):
            if inc.gone_at is not None:
                inc.notes.append("the recording stopped while its logs were being captured")
                self._write(inc)
        for f in self.files.values():
            f.close()

    # ---- gaps -----------------------------------------------------------------------------------------
    def _lost(self, kind: str, exc: BaseException) -> None:
        if self.gap_start is None and self.synced:
            self.gap_start = utc_now()
            self.gap_reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.warn(f"lost the API server ({self.gap_reason}); recording resumes when it answers")

    def _close_gap(self) -> str | None:
        if self.gap_start is None:
            return None
        now = utc_now()
        gap = {"type": "gap", "from": stamp(self.gap_start), "to": stamp(now), "reason": self.gap_reason,
               "seconds": round((now - self.gap_start).total_seconds(), 3)}
        for ns, name in sorted(set(self.lws) | {(i.namespace, i.lws) for i in self.incs.values()}):
            self.rec.append_json(f"{lws_folder(ns, name)}/{INCARNATIONS}", gap)
        self.say(f"the API server answers again; gap of {gap['seconds']:.0f}s written "
                 f"({gap['from']} to {gap['to']})")
        self.gap_start = None
        return f"ended while the recording could not see the cluster (gap {gap['from']} to {gap['to']})"

    # ---- pods -----------------------------------------------------------------------------------------
    def _pods(self, what: str, payload: Any) -> None:
        if what == "SYNC":
            self.relist_from = self.gap_start
            unseen = self._close_gap()
            fresh = {(p.get("metadata") or {}).get("uid", ""): p for p in payload}
            for uid in [u for u in self.pods if u not in fresh]:
                self._pod_gone(self.pods[uid], unseen=unseen or "ended between two lists of the pods")
            # leaders first: their workers join the incarnation they make
            for pod in sorted(fresh.values(), key=lambda p: (g.worker_index(p) or 0) != 0):
                self._pod(pod, listed=True)
            self.relist_from = None
            if not self.synced:
                self.synced = True
                self._started_note()
            return
        if what == "DELETED":
            self._pod_gone(payload)
        else:
            self._pod(payload)

    def _started_note(self) -> None:
        groups = len({(i.namespace, i.lws, i.group) for i in self.incs.values()})
        names = sorted({f"{i.namespace}/{i.lws}" for i in self.incs.values()} |
                       {f"{ns}/{n}" for ns, n in self.lws})
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        self.say(f"recording {len(names)} leaderworkerset(s) ({shown or 'none yet'}), {groups} group(s); "
                 f"following {len(self.streams)} log stream(s)")

    def _group_key(self, pod: dict) -> tuple[str, str, int] | None:
        meta = pod.get("metadata") or {}
        lws = g.labels(pod).get(keys.NAME_LABEL)
        gi = g.group_index(pod)
        if not lws or gi is None or g.worker_index(pod) is None or not self.scope.wants(lws):
            return None
        return meta.get("namespace", ""), lws, gi

    def _inc_for(self, pod: dict, key: tuple[str, str, int], listed: bool) -> Incarnation | None:
        meta = pod.get("metadata") or {}
        uid = meta.get("uid", "")
        leader_uid = self.pod_inc.get(uid)
        if leader_uid is not None:
            return self.incs.get(leader_uid)
        if g.worker_index(pod) == 0:
            inc = self._new_incarnation(pod, key, listed)
        else:
            inc = self.incs.get(self.current.get(key, ""))
            if inc is None or inc.gone_at is not None:
                return None
            created, leader_created = parse_time(meta.get("creationTimestamp")), parse_time(inc.started)
            if created is not None and leader_created is not None and created < leader_created:
                return None  # a worker of an earlier incarnation still going
        self.pod_inc[uid] = inc.leader_uid
        return inc

    def _new_incarnation(self, leader: dict, key: tuple[str, str, int], listed: bool) -> Incarnation:
        """A leader not seen before starts an incarnation; one first met in a list (the first, or a relist after
        a gap) may have lived unseen, so it is not ``complete``."""
        meta = leader.get("metadata") or {}
        ns, lws, gi = key
        size = int(((meta.get("annotations") or {}).get(keys.SIZE_ANNOTATION) or 1))
        ident = inc_model.incarnation_id(leader)
        started = meta.get("creationTimestamp")
        seen = utc_now()
        complete = not listed
        inc = Incarnation(namespace=ns, lws=lws, group=gi, leader_uid=meta.get("uid", ""), leader_pod=g.pod_name(leader),
                          started=started, folder=incarnation_folder(ns, lws, gi, ident), revision=g.revision(leader),
                          size=size, seen_from=stamp(seen), complete=complete, evidence=Evidence(group=gi, lws=lws))
        inc.evidence.revision = inc.revision
        older = self.incs.get(self.current.get(key, ""))
        if older is not None:
            older.next_seen = True
            older.evidence.next_revision = inc.revision
            if older.gone_at is None:  # replaced without its deletion seen (a gap, or a relist)
                self._leader_gone(older, unseen="its leader was replaced while the recording could not see it")
        self.current[key] = inc.leader_uid
        self.incs[inc.leader_uid] = inc
        return inc

    def _pod(self, pod: dict, listed: bool = False) -> None:
        key = self._group_key(pod)
        meta = pod.get("metadata") or {}
        uid = meta.get("uid", "")
        if key is None:
            return
        old = self.pods.get(uid)
        self.pods[uid] = pod
        inc = self._inc_for(pod, key, listed)
        if inc is None:
            return
        inc.pods[uid] = pod
        self._note_running(pod)
        for t in inc_model.terminations(old, pod):
            instance = (uid, t.container, t.restart)
            if instance in self.ended_instances:
                continue
            self.ended_instances.add(instance)
            inc.evidence.terminations.append(t)
            if instance in self.stream_caps:
                self.stream_caps[instance].terminated = t.finished
            elif instance not in self.captured:
                self._tail(inc, pod, t.container, t.restart, previous=t.previous, terminated=t.finished)
        if meta.get("deletionTimestamp") and uid not in self.deleting:
            self.deleting.add(uid)
            began = inc_model.deletion_started(pod)
            ev = inc.evidence
            if began is not None and (ev.deletion_started is None or began < ev.deletion_started):
                ev.deletion_started = began
            seen = stamp()
            for cs in g.container_statuses(pod, init=False):
                instance = (uid, cs.get("name", ""), int(cs.get("restartCount") or 0))
                if instance in self.stream_caps:
                    self.stream_caps[instance].terminated = self.stream_caps[instance].terminated or seen
                elif "running" in (cs.get("state") or {}) and instance not in self.captured:
                    self._tail(inc, pod, instance[1], instance[2], previous=False, terminated=seen)
        disrupted = inc_model.disruption(pod)
        if disrupted is not None and inc.evidence.disruption is None:
            inc.evidence.disruption = (*disrupted, g.pod_name(pod), g.worker_index(pod))
        if inc.ready is None:
            inc.ready = inc_model.ready_at(inc.pods.values(), inc.size)
        if not meta.get("deletionTimestamp") and (self.all_pods or g.worker_index(pod) == 0):
            self._follow(inc, pod, listed)

    def _note_running(self, pod: dict) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        gone = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
        with self.running_lock:
            for cs in g.container_statuses(pod, init=False):
                instance = (uid, cs.get("name", ""), int(cs.get("restartCount") or 0))
                if "running" in (cs.get("state") or {}) and not gone:
                    self.running.add(instance)
                else:
                    self.running.discard(instance)
                for n in range(instance[2]):
                    self.running.discard((uid, instance[1], n))

    def _pod_gone(self, pod: dict, *, unseen: str | None = None) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        self.pods.pop(uid, None)
        self.deleting.discard(uid)
        with self.running_lock:
            for instance in [i for i in self.running if i[0] == uid]:
                self.running.discard(instance)
        inc = self.incs.get(self.pod_inc.get(uid, ""))
        if inc is None:
            return
        if uid == inc.leader_uid and inc.gone_at is None:
            self._leader_gone(inc, unseen=unseen)

    def _leader_gone(self, inc: Incarnation, *, unseen: str | None = None) -> None:
        inc.gone_at = time.monotonic()
        inc.ended = inc.evidence.deletion_started or utc_now()
        if unseen and inc.evidence.deletion_started is None and not inc.evidence.terminations:
            inc.evidence.unseen = unseen
            inc.ended = self.gap_start or inc.ended

    # ---- leaderworkersets -----------------------------------------------------------------------------
    def _lws(self, what: str, payload: Any) -> None:
        if what == "SYNC":
            fresh = {}
            for obj in payload:
                meta = obj.get("metadata") or {}
                if self.scope.wants(meta.get("name", "")):
                    fresh[(meta.get("namespace", ""), meta.get("name", ""))] = obj
                    self._note_owner(obj)
            for key in set(self.lws) - set(fresh):
                self._lws_deleted(key)
            self.lws = fresh
            return
        meta = payload.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if not self.scope.wants(key[1]):
            return
        if what == "DELETED":
            self.lws.pop(key, None)
            self._lws_deleted(key)
        else:
            self.lws[key] = payload
            self.lws_gone.discard(key)
            self._note_owner(payload)

    def _note_owner(self, obj: dict) -> None:
        ref = child_ref(obj)
        if ref is not None:
            meta = obj.get("metadata") or {}
            self.owners[(meta.get("namespace", ""), meta.get("name", ""))] = ref.to_json()

    def _lws_deleted(self, key: tuple[str, str]) -> None:
        self.lws_gone.add(key)
        for inc in self.incs.values():
            if (inc.namespace, inc.lws) == key:
                inc.evidence.lws_deleted = True

    def _replicas(self, inc: Incarnation) -> int | None:
        obj = self.lws.get((inc.namespace, inc.lws))
        return g.lws_view(obj).replicas if obj is not None else None

    # ---- events ---------------------------------------------------------------------------------------
    def _events(self, what: str, payload: Any) -> None:
        raws = payload if what == "SYNC" else ([payload] if what in ("ADDED", "MODIFIED") else [])
        by_lws: dict[tuple[str, str], list[dict]] = {}
        names = {k[1] for k in self.lws} | {i.lws for i in self.incs.values()}
        for raw in raws:
            ref = raw.get("involvedObject") or raw.get("regarding") or {}
            name = ref.get("name") or ""
            ns = (raw.get("metadata") or {}).get("namespace") or ref.get("namespace") or ""
            for lws in names:
                if name == lws or name.startswith(lws + "-"):
                    by_lws.setdefault((ns, lws), []).append(raw)
            self._event_evidence(raw, ref)
        for (ns, lws), items in sorted(by_lws.items()):
            evs = E.normalize_all(items)
            others = sorted(n for n in names if n != lws)
            for le in E.events_of_lws(evs, lws, others=others):
                doc = {"namespace": ns, **item_json(le)}
                mark = (doc["count"], doc["lastTime"])
                if self.event_seen.get(doc["uid"]) == mark:
                    continue
                self.event_seen[doc["uid"]] = mark
                self.rec.append_json(f"{lws_folder(ns, lws)}/{EVENTS}", doc)

    def _event_evidence(self, raw: dict, ref: dict) -> None:
        reason = raw.get("reason") or ""
        message = raw.get("message") or raw.get("note") or ""
        if ref.get("kind") == "Pod" and ref.get("uid"):
            said = inc_model.event_disruption(reason, message)
            if said is not None:
                self.disruptions.setdefault(ref["uid"], said)
        elif ref.get("kind") == "LeaderWorkerSet" and reason in (inc_model.RESTART_EVENT_REASON,
                                                                 inc_model.RECREATE_EVENT_REASON):
            related = raw.get("related") or {}
            if related.get("uid"):
                said = self.restarts if reason == inc_model.RESTART_EVENT_REASON else self.recreates
                said.setdefault(related["uid"], message.strip())

    def prime_events(self, lines: Any) -> None:
        """Events already in DIR's events.ndjson (an earlier session): not written twice."""
        for doc in lines:
            if doc.get("uid"):
                self.event_seen[doc["uid"]] = (doc.get("count"), doc.get("lastTime"))

    # ---- log captures ---------------------------------------------------------------------------------
    def _file(self, inc: Incarnation, pod: str, container: str) -> LogFile:
        rel = f"{inc.folder}/{log_name(pod, container)}"
        log = self.files.get(rel)
        if log is None:
            log = self.files[rel] = self.rec.log_file(rel)
        return log

    def _logs_allowed(self, inc: Incarnation) -> bool:
        return inc.namespace not in self.logs_forbidden

    def _logs_forbidden(self, payload: tuple[str, BaseException]) -> None:
        ns, exc = payload
        if ns in self.logs_forbidden:
            return
        self.logs_forbidden.add(ns)
        self.warn(f"cannot read pods/log in namespace {ns} (forbidden): the recording goes on without logs "
                  f"({getattr(exc, 'message', exc)})")

    def _tail(self, inc: Incarnation, pod: dict, container: str, restart: int, *, previous: bool,
              terminated: str | None) -> None:
        """The newest ``tail_bytes`` of a container instance that ended, fetched now (one GET)."""
        uid = (pod.get("metadata") or {}).get("uid", "")
        self.captured.add((uid, container, restart))
        if not self._logs_allowed(inc):
            return
        name = g.pod_name(pod)
        log = self._file(inc, name, container)
        cap = Capture(path=log.relpath, pod=name, container=container, restart=restart, how="tail", previous=previous,
                      terminated=terminated, requested=stamp())
        inc.captures.append(cap)
        inc.pending += 1
        ns = inc.namespace
        leader = inc.leader_uid

        def fetch() -> None:
            resp = None
            try:
                resp = self.cluster.pod_log_stream(name, namespace=ns, container=container, previous=previous,
                                                   timestamps=True)
                buf = bytearray()
                for chunk in resp.stream(CHUNK, decode_content=False):
                    buf += chunk
                    if len(buf) > 2 * self.tail_bytes:
                        del buf[: len(buf) - self.tail_bytes]
                        cap.truncated = True
                if len(buf) > self.tail_bytes:
                    del buf[: len(buf) - self.tail_bytes]
                    cap.truncated = True
                if cap.truncated:
                    cut = buf.find(b"\n")
                    if 0 <= cut < len(buf) - 1:
                        del buf[: cut + 1]
                if buf and not buf.endswith(b"\n"):
                    buf += b"\n"
                if log.bytes:
                    buf[:0] = _separator(container, restart)
                log.append(bytes(buf))
                cap.bytes = len(buf)
                cap.captured = stamp()
            except RecordingError as exc:
                self.q.put(("fatal", "", exc))
            except errors.Forbidden as exc:
                cap.error = "forbidden"
                self.q.put(("forbidden", "", (ns, exc)))
            except errors.LwsError as exc:
                cap.error = exc.message
            except Exception as exc:  # noqa: BLE001 — a broken stream is a note in the incarnation's line
                cap.error = f"{type(exc).__name__}: {exc}"
            finally:
                _release(resp)
                self.q.put(("done", "", (leader, cap)))

        try:
            self.pool.submit(fetch)
        except RuntimeError:  # shutting down
            inc.pending -= 1

    def _follow(self, inc: Incarnation, pod: dict, listed: bool) -> None:
        """Start a stream for each running container instance of ``pod`` not followed yet. An instance first
        met in a list was running before the recorder saw it: its newest ``START_TAIL_LINES`` lines (after a gap:
        from the gap's start) rather than the whole log a long-running server has written."""
        if not self._logs_allowed(inc):
            return
        uid = (pod.get("metadata") or {}).get("uid", "")
        for cs in g.container_statuses(pod, init=False):
            instance = (uid, cs.get("name", ""), int(cs.get("restartCount") or 0))
            if "running" not in (cs.get("state") or {}) or instance in self.captured:
                continue
            self.captured.add(instance)
            start: dict[str, Any] = {}
            if listed:
                start = {"since_time": rfc3339(self.relist_from)} if self.relist_from else \
                    {"tail_lines": START_TAIL_LINES}
            self._stream(inc, pod, instance, start)

    def _stream(self, inc: Incarnation, pod: dict, instance: tuple[str, str, int], start: dict[str, Any]) -> None:
        name = g.pod_name(pod)
        _, container, restart = instance
        log = self._file(inc, name, container)
        cap = Capture(path=log.relpath, pod=name, container=container, restart=restart, how="follow",
                      requested=stamp())
        inc.captures.append(cap)
        self.stream_caps[instance] = cap
        inc.pending += 1
        ns, leader = inc.namespace, inc.leader_uid
        separator = _separator(container, restart) if log.bytes else b""

        def run() -> None:
            from kubectl_lws.render.logs import LineSplitter

            cursor = StreamCursor()
            pause = RECHECK_SECONDS
            first = [separator]
            try:
                while not self.stop.is_set():
                    resp = None
                    since = cursor.resume_since()
                    query = {"since_time": since} if since else start
                    try:
                        resp = self.cluster.pod_log_stream(name, namespace=ns, container=container, follow=True,
                                                           timestamps=True, **query)
                        splitter = LineSplitter()
                        for chunk in resp.stream(CHUNK, decode_content=False):
                            self._write_block(log, cap, cursor, splitter.feed(chunk), first)
                            if self.stop.is_set():
                                return
                        self._write_block(log, cap, cursor, splitter.flush(), first)
                        cap.captured = stamp()  # the stream ended: all the instance wrote so far is in
                        pause = RECHECK_SECONDS
                    except RecordingError:
                        raise
                    except errors.Forbidden as exc:
                        cap.error = "forbidden"
                        self.q.put(("forbidden", "", (ns, exc)))
                        return
                    except (errors.NotFound, errors.Invalid) as exc:
                        if not cap.bytes:
                            cap.error = exc.message
                        return  # the pod is gone, or the instance cannot be read any more
                    except Exception:  # noqa: BLE001 — a cut connection or a lost server: re-attach below
                        pause = min(pause * 2, STREAM_RETRY_MAX)
                    finally:
                        _release(resp)
                    if self.stop.wait(pause) or not self._still_running(instance):
                        return
            except RecordingError as exc:
                self.q.put(("fatal", "", exc))
            finally:
                cap.captured = cap.captured or stamp()
                self.q.put(("done", "", (leader, cap)))

        thread = threading.Thread(target=run, name=f"record-{name}-{container}", daemon=True)
        self.streams[instance] = thread
        thread.start()

    @staticmethod
    def _write_block(log: LogFile, cap: Capture, cursor: StreamCursor, block: bytes, first: list[bytes]) -> None:
        block = cursor.filter(block) if block else b""
        if not block:
            return
        if first[0]:
            block = first[0] + block
            first[0] = b""
        log.append(block)
        cap.bytes += len(block)

    def _still_running(self, instance: tuple[str, str, int]) -> bool:
        with self.running_lock:
            return instance in self.running

    def _capture_done(self, leader: str, cap: Capture) -> None:
        inc = self.incs.get(leader)
        if inc is None:
            return
        inc.pending = max(0, inc.pending - 1)
        for key in [k for k, t in self.streams.items() if not t.is_alive()]:
            del self.streams[key]

    # ---- ending incarnations --------------------------------------------------------------------------
    def _finish_ready(self) -> None:
        now = time.monotonic()
        for inc in list(self.incs.values()):
            if inc.gone_at is None:
                continue
            waited = now - inc.gone_at
            lws_key = (inc.namespace, inc.lws)
            settled = inc.next_seen or lws_key in self.lws_gone or waited >= NEXT_LEADER_WAIT or \
                (self._replicas(inc) is not None and inc.group >= (self._replicas(inc) or 0))
            if not settled:
                continue
            if inc.pending and waited < CAPTURE_WAIT:
                continue
            if inc.pending:
                inc.notes.append(f"{inc.pending} log capture(s) still running {CAPTURE_WAIT:g}s after the leader "
                                 "was gone; written without them")
            self._write(inc)

    def _write(self, inc: Incarnation) -> None:
        ev = inc.evidence
        ev.replicas = self._replicas(inc)
        ev.lws_deleted = ev.lws_deleted or (inc.namespace, inc.lws) in self.lws_gone
        ev.restart_event = ev.restart_event or self.restarts.pop(inc.leader_uid, None)
        ev.recreate_event = ev.recreate_event or self.recreates.pop(inc.leader_uid, None)
        if ev.disruption is None:
            for uid, pod in inc.pods.items():
                said = self.disruptions.get(uid)
                if said is not None:
                    ev.disruption = (*said, g.pod_name(pod), g.worker_index(pod))
                    break
        end = inc_model.decide_end(ev)
        started, ended = inc.started, rfc3339(inc.ended) if inc.ended else None
        logs = sorted({c.path for c in inc.captures if c.bytes},
                      key=lambda path: (not end.get("pod") or f"/{end['pod']}.{end.get('container')}.log" not in path, path))
        line = {"type": "incarnation", "namespace": inc.namespace, "lws": inc.lws, "group": inc.group,
                "leaderUID": inc.leader_uid, "leaderPod": inc.leader_pod, "revision": inc.revision,
                "folder": inc.folder, "started": started, "ready": inc.ready,
                "readyAfterSeconds": inc_model.seconds_between(started, inc.ready),
                "ended": ended, "ranForSeconds": inc_model.seconds_between(started, ended), "end": end,
                "terminations": [t.to_json() for t in ev.terminations], "logs": logs,
                "captures": [c.to_json() for c in inc.captures],
                "pods": sorted({g.pod_name(p) for p in inc.pods.values()}),
                "nodes": sorted({n for p in inc.pods.values() if (n := (p.get("spec") or {}).get("nodeName"))}),
                "recordedFrom": inc.seen_from, "complete": inc.complete, "notes": inc.notes}
        line["owner"] = self.owners.get((inc.namespace, inc.lws))  # history ds/NAME finds a set's children by it
        self.rec.append_json(f"{lws_folder(inc.namespace, inc.lws)}/{INCARNATIONS}", line)
        self.ended_count += 1
        self._forget(inc)
        from kubectl_lws.render.safe import term

        ran = line["ranForSeconds"]
        what = inc_model.end_text(end) or end["kind"]
        where = f" (log: {logs[0]}{f' +{len(logs) - 1}' if len(logs) > 1 else ''})" if logs else ""
        self.say(term(f"{inc.namespace}/{inc.lws} g{inc.group}: incarnation of {inc.leader_pod} ended"
                      + (f" after {ran:.0f}s" if ran is not None else "") + f": {what}{where}"))

    def _forget(self, inc: Incarnation) -> None:
        self.incs.pop(inc.leader_uid, None)
        for uid in inc.pods:
            if self.pod_inc.get(uid) == inc.leader_uid:
                del self.pod_inc[uid]
                self.disruptions.pop(uid, None)
        for rel in [r for r in self.files if r.startswith(inc.folder + "/")]:
            self.files.pop(rel).close()
        key = (inc.namespace, inc.lws, inc.group)
        if self.current.get(key) == inc.leader_uid:
            del self.current[key]
        if len(self.captured) + len(self.ended_instances) > 65536:  # instances of pods long gone
            live = set(self.pods)
            self.captured = {i for i in self.captured if i[0] in live}
            self.ended_instances = {i for i in self.ended_instances if i[0] in live}
            self.stream_caps = {i: c for i, c in self.stream_caps.items() if i[0] in live}

    def _live_folders(self) -> set[str]:
        return {i.folder for i in self.incs.values()}

    def _live_files(self) -> list[LogFile]:
        return list(self.files.values())


def _separator(container: str, restart: int) -> bytes:
    """Between two instances of one container in one file (a restart that did not re-create the group)."""
    return f"--- kubectl-lws record: container {container}, instance {restart} (restart {restart}) ---\n".encode()


def _release(resp: Any) -> None:
    if resp is None:
        return
    try:
        resp.close()
        resp.release_conn()
    except Exception:  # noqa: BLE001 — already closed
        pass


__all__ = ["Recorder", "Scope", "Termination", "stamp"]
