"""Waiting on live objects: one list+watch per kind and command run, never a polling loop.

Why an informer object: a rolling restart waits many times (batch after batch) and ``rollout
status`` judges the LWS, its StatefulSets and its pods together; both must see every change in
between. Each ``Cluster.list_watch`` stream runs on a daemon thread (a blocked watch read cannot
time out on the caller's deadline) and feeds a store; the caller waits on one condition variable
with its own deadline and judges the stores with a check of its own.

Shared by status -w and metrics -w (``follow``: one loop for every live screen), restart, scale (``PodWatcher`` +
group goals), rollout status (its own check) and the dashboard (``wait_change`` + pushes to the browser):
one live view, one implementation. The stores keep
slim records (``model/slim.py``) for pods and nodes, so a long watch of a big LWS holds what the
models read, never whole objects; a relist (410 or a broken stream) pages like any LIST.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Mapping, Sequence

from kubectl_lws import errors
from kubectl_lws.model import keys
from kubectl_lws.model.groups import Group, group_pods, pod_ready

if TYPE_CHECKING:  # pragma: no cover
    from kubectl_lws.cluster import Cluster

GROUP_SEPARATOR = "; "
Check = Callable[[list[dict]], "tuple[bool, str]"]
# (kind, what, payload): every change as it is applied ("ADDED"/"MODIFIED"/"DELETED" and the object, "SYNC"
# and the relisted items), and "LOST" with the error when a resilient stream lost the server.
Listener = Callable[[str, str, Any], None]
# How long close() waits for the stream threads after shutting their connections.
CLOSE_GRACE_SECONDS = 2.0
# A resilient stream that lost the server lists again after this pause, doubling up to the maximum.
RETRY_SECONDS, RETRY_MAX_SECONDS = 1.0, 10.0


class Informer:
    """Live stores of one or more kinds in a namespace, each fed by a list+watch on its own thread.

    ``sources`` is ``[(kind, label_selector), ...]`` or ``(kind, label_selector, field_selector)``;
    kinds in ``all_namespaces`` are read in every namespace.
    A kind in ``optional`` that we may not read (403) counts as synced and empty (and is named in
    ``forbidden``), so the caller can fall back to what it can see. ``slim`` keeps slim records.
    ``namespace`` None watches every namespace. ``listener`` hears every change as it is applied (for a
    caller that must act on each one, such as a recorder, rather than judge the stores). ``resilient``:
    a stream that loses the server (unreachable, 5xx, a broken relist) tells the listener ``LOST`` and
    lists again with back-off until it answers, instead of ending the view with the error.
    ``keep``: kind -> a test an object must pass to enter the store, for what no selector can narrow
    on the server (a namespace's events, of which only one LWS's matter): the others neither fill
    the store nor count as a change (nor reach the listener).
    """

    def __init__(self, cluster: "Cluster", namespace: str | None, sources: Sequence[tuple], *,
                 optional: Collection[str] = (), name: str = "", slim: bool = True,
                 listener: Listener | None = None, resilient: bool = False,
                 keep: Mapping[str, Callable[[dict], bool]] | None = None,
                 all_namespaces: Collection[str] = ()) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self._all_namespaces = set(all_namespaces)  # kinds read in every namespace (the dashboard's -A)
        self._listener = listener
        self._resilient = resilient
        self._sources = [(src[0], src[1], src[2] if len(src) > 2 else None) for src in sources]
        self._optional = set(optional)
        self._keep = dict(keep or {})
        self._label = name
        self._slim = slim
        self._stores: dict[str, dict[str, dict]] = {kind: {} for kind, *_ in self._sources}
        self._synced: set[str] = set()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self.changes = 0  # number of events applied (for progress, tests and ``wait_change``)
        self.forbidden: set[str] = set()  # optional kinds we were not allowed to read

    def __enter__(self) -> "Informer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def error(self) -> BaseException | None:
        """What ended a stream (None while every stream runs, or retries when resilient)."""
        with self._cond:
            return self._error

    @property
    def synced(self) -> bool:
        return len(self._synced) == len(self._sources)

    def start(self, timeout: float | None = 60.0) -> "Informer":
        """Start the streams; with a ``timeout``, return once every first list is in (or raise
        what a list raised); with None, return at once (``wait`` holds checks until synced)."""
        self.cluster.prepare_streams()
        for kind, selector, fields in self._sources:
            thread = threading.Thread(target=self._run, args=(kind, selector, fields), daemon=True,
                                      name=f"watch-{kind}-{self._label}")
            self._threads.append(thread)
            thread.start()
        if timeout is None:
            return self
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.synced and self._error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.close()
                    raise errors.WaitTimeout(f"could not list the {self._kinds()} of {self._label} in "
                                             f"{timeout:g}s")
                self._cond.wait(left)
            if self._error is not None:
                self.close()
                raise self._error
        return self

    def close(self) -> None:
        """Stop the streams now: shut their connections so no thread lingers on a quiet watch.

        ``Cluster.close_streams`` shuts every open stream of this Cluster; a command runs one
        informer at a time, so nothing else is streaming then.
        """
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS
        for thread in self._threads:
            while thread.is_alive() and time.monotonic() < deadline:
                # Again each round: a thread may open its watch just after the previous shutdown.
                self.cluster.close_streams()
                thread.join(0.05)

    def _run(self, kind: str, selector: str | None, fields: str | None = None) -> None:
        pause = RETRY_SECONDS
        while True:
            try:
                self._stream(kind, selector, fields)
                return
            except Exception as exc:  # noqa: BLE001 — handed to the waiting thread (or retried)
                if self._stop.is_set():
                    return  # our own close() cut the stream
                if not (self._resilient and _transient(exc)):
                    self._fail(kind, exc)
                    return
                self._lost(kind, exc)
                if self._stop.wait(pause):
                    return
                pause = min(pause * 2, RETRY_MAX_SECONDS)

    def _stream(self, kind: str, selector: str | None, fields: str | None) -> None:
        store = self._stores[kind]
        keep = self._keep.get(kind)
        for etype, obj in self.cluster.list_watch(kind, self.namespace, label_selector=selector,
                                                  field_selector=fields, stop=self._stop, slim=self._slim,
                                                  all_namespaces=self.namespace is None
                                                  or kind in self._all_namespaces,
                                                  on_lost=(lambda exc: self._lost(kind, exc))
                                                  if self._resilient else None):
            if self._stop.is_set():
                return
            if keep is not None and etype != "SYNC" and not keep(obj):
                continue
            with self._cond:
                if etype == "SYNC":
                    store.clear()
                    store.update((_uid(o), o) for o in obj if keep is None or keep(o))
                    self._synced.add(kind)
                elif etype == "DELETED":
                    store.pop(_uid(obj), None)
                elif etype in ("ADDED", "MODIFIED"):
                    store[_uid(obj)] = obj
                self.changes += 1
                if self._listener is not None:
                    self._listener(kind, etype, obj)
                self._cond.notify_all()

    def _lost(self, kind: str, exc: BaseException) -> None:
        if self._listener is not None and not self._stop.is_set():
            with self._cond:
                self._listener(kind, "LOST", exc)

    def _fail(self, kind: str, exc: BaseException) -> None:
        with self._cond:
            if kind in self._optional and isinstance(exc, errors.Forbidden):
                self._synced.add(kind)  # not allowed to read it: the caller does without
                self.forbidden.add(kind)
            elif isinstance(exc, errors.LwsError):
                self._error = exc
            else:
                self._error = errors.LwsError(f"watching {kind} failed: {exc}")
            self._cond.notify_all()

    def items(self, kind: str) -> list[dict]:
        with self._cond:
            return list(self._stores[kind].values())

    def wait_change(self, seen: int, timeout: float | None) -> int:
        """Block until a change after ``seen`` (the ``changes`` count the caller last drew), the
        timeout, or an error (raised); returns the current count. For callers that redraw."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                if self.synced and self.changes != seen:
                    return self.changes
                left = None if deadline is None else deadline - time.monotonic()
                if (left is not None and left <= 0) or self._stop.is_set():
                    return self.changes
                self._cond.wait(left)

    def wait_for(self, check: Callable[[], "tuple[bool, str]"], *, timeout: float | None,
                 progress: Callable[[str], None] | None = None, what: str = "condition",
                 tick: float | None = None) -> str:
        """Block until ``check()`` is true; report each new status; WaitTimeout at the deadline.

        ``check`` reads the stores (it runs under the informer's lock, once every kind is synced)
        and may raise to stop the wait. ``tick`` re-runs it without events (for time-based
        verdicts). ``timeout`` None or 0 waits forever (kubectl's ``--timeout=0``).
        """
        deadline = time.monotonic() + timeout if timeout else None
        last: str | None = None
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                if self.synced:
                    done, status = check()
                    if status != last and progress:
                        progress(status)
                    last = status
                    if done:
                        return status
                if self._stop.is_set():
                    raise errors.LwsError(f"stopped waiting for {what}")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise errors.WaitTimeout(f"timed out after {_secs(timeout)} waiting for {what}: "
                                             f"{last if last is not None else 'no state seen yet'}")
                if tick is not None:
                    left = tick if left is None else min(left, tick)
                self._cond.wait(left)

    def _kinds(self) -> str:
        return "/".join(kind for kind, *_ in self._sources)


def follow(view: Informer, update: Callable[[bool], "float | None"], *, timeout: float | None = None,
           poll: float = 0.25) -> None:
    """The loop of every live screen (status -w, metrics -w): wait for a change in ``view`` or the next tick,
    then ``update(changed)``; it returns when it wants to be called again without a change (a monotonic
    time, or None: only on changes). Returns at ``timeout``; raises what the view's streams raised."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = -1
    due: float | None = None
    view.start(timeout=None)
    while True:
        wait = poll
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - time.monotonic()))
        if due is not None:
            wait = min(wait, max(0.0, due - time.monotonic()))
        changes = view.wait_change(seen, wait)
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        if not view.synced:
            continue
        changed = changes != seen
        if not changed and (due is None or now < due):
            continue
        seen = changes
        due = update(changed)


class PodWatcher(Informer):
    """A live view of one LWS's pods (restart, scale): the informer with the LWS's pods only."""

    def __init__(self, cluster: "Cluster", lws_name: str, namespace: str) -> None:
        super().__init__(cluster, namespace, [("pods", keys.selector_for(lws_name))], name=lws_name)
        self.lws_name = lws_name

    def pods(self) -> list[dict]:
        return self.items("pods")

    def wait(self, check: Check, *, timeout: float | None, progress: Callable[[str], None] | None = None,
             what: str = "condition") -> str:
        """``check(pods)`` until true (see ``Informer.wait_for``). Returns the last status."""
        store = self._stores["pods"]
        return self.wait_for(lambda: check(list(store.values())), timeout=timeout, progress=progress,
                             what=what)


@dataclass(frozen=True)
class GroupGoal:
    """What one group must look like: re-created (none of ``old_uids``) and Ready, or ``gone``."""

    index: int
    old_uids: frozenset[str] = field(default_factory=frozenset)
    gone: bool = False


def group_status(group: Group | None, goal: GroupGoal, size: int) -> tuple[bool, str]:
    """Is the goal met, and a short human line saying where the group is."""
    pods = group.pods if group else []
    terminating = group.terminating if group else []
    if goal.gone:
        left = len(pods) + len(terminating)
        return left == 0, f"group {goal.index}: {'gone' if not left else f'{left} pod(s) left'}"
    old_left = [p for p in [*pods, *terminating] if _uid(p) in goal.old_uids]
    fresh = [p for p in pods if _uid(p) not in goal.old_uids]
    ready = [p for p in fresh if pod_ready(p)]
    leader_new = group is not None and group.leader is not None and _uid(group.leader) not in goal.old_uids
    done = leader_new and not old_left and len(fresh) >= size and len(ready) >= size
    new = " new" if goal.old_uids else ""
    if done:
        return True, f"group {goal.index}: Ready ({size}/{size}{new} pods)"
    if old_left:
        going = [p for p in old_left if (p.get("metadata") or {}).get("deletionTimestamp")]
        if not going:
            return False, f"group {goal.index}: not re-created yet ({len(old_left)} old pod(s) running)"
        return False, f"group {goal.index}: {len(old_left)} old pod(s) terminating"
    if not leader_new:
        return False, f"group {goal.index}: waiting for a{new} leader"
    note = _why_not_ready(fresh)
    return False, f"group {goal.index}: {len(ready)}/{size}{new} pods Ready{note}"


def _why_not_ready(pods: Sequence[dict]) -> str:
    """The first telling reason a new pod is not Ready (model/health: unschedulable, CrashLoopBackOff...)."""
    from kubectl_lws.model.health import pod_problem

    for pod in pods:
        problem = pod_problem(pod)
        if problem is not None:
            return f" ({_name(pod)} {problem.reason})"
    return ""


def groups_check(goals: Iterable[GroupGoal], size: int, met: Callable[[int], None] | None = None) -> Check:
    """A ``PodWatcher.wait`` check that is true when every goal is met; the status joins the groups.
    ``met(n)`` hears how many goals hold at each check (a progress count)."""
    goals = list(goals)

    def check(pods: list[dict]) -> tuple[bool, str]:
        by_index = {g.index: g for g in group_pods(pods)}
        results = [group_status(by_index.get(goal.index), goal, size) for goal in goals]
        if met is not None:
            met(sum(1 for ok, _ in results if ok))
        return all(ok for ok, _ in results), GROUP_SEPARATOR.join(line for _, line in results)

    return check


def wait_for_groups(watcher: PodWatcher, goals: Sequence[GroupGoal], *, size: int, timeout: float | None,
                    progress: Callable[[str], None] | None = None, met: Callable[[int], None] | None = None) -> None:
    """Wait until every goal holds (WaitTimeout, exit 4, says which groups are still missing); ``met``
    hears how many goals hold so far (``progress.Progress.update``)."""
    what = "group" + ("s " if len(goals) > 1 else " ") + ",".join(str(g.index) for g in goals)
    started = time.monotonic()
    shown: dict[str, str] = {}

    def report(status: str) -> None:
        # One line per group whose state changed (the status joins "group N: ..." lines).
        if not progress:
            return
        for line in status.split(GROUP_SEPARATOR):
            key = line.split(":", 1)[0]
            if shown.get(key) != line:
                shown[key] = line
                progress(f"[{time.monotonic() - started:5.1f}s] {line}")

    watcher.wait(groups_check(goals, size, met), timeout=timeout, progress=report, what=what)


def wait_for_groups_shown(watcher: PodWatcher, goals: Sequence[GroupGoal], *, size: int, timeout: float | None,
                          what: str) -> None:
    """``wait_for_groups`` through the shared progress helper: on a terminal a bar counting the goals met,
    with each group's line above it; elsewhere the same lines."""
    from kubectl_lws.progress import Progress

    with Progress(plain_counts=False) as bar:
        bar.start(what, len(goals))
        wait_for_groups(watcher, goals, size=size, timeout=timeout, progress=bar.line, met=bar.update)


class FailingGrace:
    """When a rollout that looks failing is failing: at once when the failure is definitive, else once it
    has looked failing for ``seconds`` in a row. Old pods still terminating may hold the GPUs the new ones
    wait for (a Pending new worker is normal then), so the clock only runs once none is terminating."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: float | None = None

    def failed(self, failing: bool, *, definitive: bool, terminating: bool) -> bool:
        if not failing or (terminating and not definitive):
            self._since = None
            return False
        now = time.monotonic()
        self._since = self._since if self._since is not None else now
        return definitive or now - self._since >= self.seconds


def watch_until(informer: Informer, check: Callable[[], "tuple[bool, str]"], *, timeout: float | None,
                progress: Callable[[str], None], what: str, tick: float) -> None:
    """Start ``informer``, hold ``check`` until it says done (or raises, or the deadline), then close it."""
    informer.start(timeout=None)
    try:
        informer.wait_for(check, timeout=timeout, progress=progress, what=what, tick=tick)
    finally:
        informer.close()


def _transient(exc: BaseException) -> bool:
    """A failure that a later list may not meet: the server unreachable, restarting or overloaded (5xx,
    429, a timeout, a broken stream); never a refusal (401, 403, 404, 400)."""
    if isinstance(exc, (errors.Unreachable, errors.RequestTimeout)):
        return True
    code = getattr(exc, "code", None)
    return isinstance(exc, errors.ApiError) and isinstance(code, int) and (code >= 500 or code == 429)


def _uid(pod: dict) -> str:
    meta = pod.get("metadata") or {}
    return meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}"


def _name(pod: dict) -> str:
    return (pod.get("metadata") or {}).get("name", "?")


def _secs(timeout: float | None) -> str:
    if not timeout:
        return "0s"
    return f"{timeout:g}s" if timeout < 120 else f"{timeout / 60:g}m"
