"""Waiting for groups to come back: one list+watch per command run, never a polling loop.

Why a watcher object: a rolling restart waits many times (batch after batch) and must see every
change in between; one ``Cluster.list_watch`` stream feeds a live pod map that each wait checks
against a goal. The stream runs on a daemon thread because a blocked watch read cannot time out
on the caller's deadline; the caller waits on a condition variable with that deadline instead.

Generic on purpose (restart, scale, rollout): a goal is "group i exists with none of these pod
UIDs, all pods Ready" or "group i has no pods left".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from kubectl_lws import errors
from kubectl_lws.model import keys
from kubectl_lws.model.groups import Group, group_pods, pod_ready

if TYPE_CHECKING:  # pragma: no cover
    from kubectl_lws.cluster import Cluster

GROUP_SEPARATOR = "; "
Check = Callable[[list[dict]], "tuple[bool, str]"]


class PodWatcher:
    """A live view of one LWS's pods, fed by a single list+watch on a background thread."""

    def __init__(self, cluster: "Cluster", lws_name: str, namespace: str) -> None:
        self.cluster = cluster
        self.lws_name = lws_name
        self.namespace = namespace
        self._pods: dict[str, dict] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._synced = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.changes = 0  # number of events applied (for progress and tests)

    def __enter__(self) -> "PodWatcher":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, timeout: float = 60.0) -> "PodWatcher":
        """Start the stream and return once the first list is in (raises what the list raised)."""
        self._thread = threading.Thread(target=self._run, name=f"watch-pods-{self.lws_name}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._synced and self._error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise errors.WaitTimeout(f"could not list the pods of {self.lws_name} in {timeout:g}s")
                self._cond.wait(left)
            if self._error is not None and not self._synced:
                raise self._error
        return self

    def close(self) -> None:
        """Ask the stream to stop; it ends at its next event (the thread is a daemon either way)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        selector = keys.selector_for(self.lws_name)
        try:
            for etype, obj in self.cluster.list_watch("pods", self.namespace, label_selector=selector,
                                                      stop=self._stop):
                with self._cond:
                    if etype == "SYNC":
                        self._pods = {_uid(p): p for p in obj}
                        self._synced = True
                    elif etype == "DELETED":
                        self._pods.pop(_uid(obj), None)
                    elif etype in ("ADDED", "MODIFIED"):
                        self._pods[_uid(obj)] = obj
                    self.changes += 1
                    self._cond.notify_all()
                if self._stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 — handed to the waiting thread
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def pods(self) -> list[dict]:
        with self._cond:
            return list(self._pods.values())

    def wait(self, check: Check, *, timeout: float | None, progress: Callable[[str], None] | None = None,
             what: str = "condition") -> str:
        """Block until ``check(pods)`` is true; report each new status line; WaitTimeout at the deadline.

        ``timeout`` None or 0 waits forever (like kubectl's ``--timeout=0``). Returns the last status.
        """
        deadline = time.monotonic() + timeout if timeout else None
        last = None
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                done, status = check(list(self._pods.values()))
                if status != last and progress:
                    progress(status)
                last = status
                if done:
                    return status
                if self._stop.is_set():
                    raise errors.LwsError(f"stopped waiting for {what}")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise errors.WaitTimeout(f"timed out after {_secs(timeout)} waiting for {what}: {status}")
                self._cond.wait(left)


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


def groups_check(goals: Iterable[GroupGoal], size: int) -> Check:
    """A ``PodWatcher.wait`` check that is true when every goal is met; the status joins the groups."""
    goals = list(goals)

    def check(pods: list[dict]) -> tuple[bool, str]:
        by_index = {g.index: g for g in group_pods(pods)}
        results = [group_status(by_index.get(goal.index), goal, size) for goal in goals]
        return all(ok for ok, _ in results), GROUP_SEPARATOR.join(line for _, line in results)

    return check


def wait_for_groups(watcher: PodWatcher, goals: Sequence[GroupGoal], *, size: int, timeout: float | None,
                    progress: Callable[[str], None] | None = None) -> None:
    """Wait until every goal holds (WaitTimeout, exit 4, says which groups are still missing)."""
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

    watcher.wait(groups_check(goals, size), timeout=timeout, progress=report, what=what)


def _uid(pod: dict) -> str:
    meta = pod.get("metadata") or {}
    return meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}"


def _name(pod: dict) -> str:
    return (pod.get("metadata") or {}).get("name", "?")


def _secs(timeout: float | None) -> str:
    if not timeout:
        return "0s"
    return f"{timeout:g}s" if timeout < 120 else f"{timeout / 60:g}m"
