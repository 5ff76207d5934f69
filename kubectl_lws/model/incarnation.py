"""Incarnations of a group: one leader pod's life, from its creation to its deletion, and how it ended.

Under ``RecreateGroupOnPodRestart`` one crashed container makes the LWS controller delete the whole
group, and with it every restart count and log. ``record`` keeps each incarnation as it ends and
``history`` reads them back; both, and ``status``/``list`` for a looping group, use these pure
functions over pod dicts (slim records are enough) and events, so they name an ending the same way.

Public API (no network, no printing):

* ``Termination`` and ``terminations(old, new)``: container instances of a pod that ended between two
  observations (``restartCount`` rose: the previous instance, in ``lastState``; or ``state.terminated``)
* ``incarnation_id(leader)``: the folder name of an incarnation (creation time and leader uid)
* ``disruption(pod)`` / ``event_disruption(event)``: eviction, preemption or a lost node, said by the
  pod's ``DisruptionTarget`` condition or status, or by an event
* ``Evidence``, ``pods_evidence(group, pods, lws)`` and ``decide_end(evidence)``: the one rule that names how an incarnation ended
  (``END_KINDS``), as a dict with the fields of ``history -o json``'s ``end``
* ``restart_event(...)``: the event `kubectl lws restart` leaves for each group it re-creates
* ``end_text(end)``: ``w3 exit 137 OOMKilled`` (one line for tables and loop reasons)
* ``ready_at(pods, size)``: when every pod of an incarnation was first Ready together
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from kubectl_lws.model import groups as g
from kubectl_lws.model.timeutil import parse_time, rfc3339

FORMAT_VERSION = 1

# How an incarnation can end (end.kind), most telling first when several could apply.
CONTAINER = "container"          # a container exited (crash, OOM kill, exit 0) and the group was re-created
EVICTION = "eviction"            # the Eviction API, or the kubelet under node pressure
PREEMPTION = "preemption"        # the scheduler preempted a pod for a higher-priority one
NODE_LOST = "node-lost"          # the node went NotReady/unreachable and the taint manager deleted the pod
ROLLING_UPDATE = "rolling-update"  # the next leader runs another template revision
SCALE_DOWN = "scale-down"        # the group index is no longer below spec.replicas
RESTART = "restart"              # `kubectl lws restart` re-created it (its RestartGroup event)
LWS_DELETED = "lws-deleted"      # the LeaderWorkerSet itself was deleted
DELETED = "deleted"              # the leader was deleted by a client, no other trace (kubectl delete pod, ...)
UNKNOWN = "unknown"              # not known how: it ended unseen (a gap), or only an event says a pod failed
END_KINDS = (CONTAINER, EVICTION, PREEMPTION, NODE_LOST, ROLLING_UPDATE, SCALE_DOWN, RESTART, LWS_DELETED, DELETED,
             UNKNOWN)

# The event `kubectl lws restart` leaves on the LWS for each group it re-creates.
RESTART_EVENT_REASON = "RestartGroup"
# the endings a pod's own status can tell (a termination record, a DisruptionTarget condition)
POD_ENDS = (CONTAINER, EVICTION, PREEMPTION, NODE_LOST)
RECREATE_EVENT_REASON = "RecreateGroup"  # the LWS controller's: "Worker pod X failed, deleted leader pod ..."
_FAILED_POD = re.compile(r"[Ww]orker pod (\S+) failed")

_SIGNALS = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
            8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM",
            15: "SIGTERM"}


def signal_of(exit_code: Any) -> str | None:
    """The signal a container died of, from the shell convention 128+N (137 = SIGKILL), else None."""
    if not isinstance(exit_code, int) or not 128 < exit_code <= 128 + 64:
        return None
    n = exit_code - 128
    return _SIGNALS.get(n, f"signal {n}")


@dataclass(frozen=True)
class Termination:
    """One container instance that ended: what its ``lastState``/``state.terminated`` said."""

    pod: str
    worker: int | None
    container: str
    restart: int  # the instance's number (0 = first run), what ``previous`` serves after a restart
    previous: bool  # ended and restarted: its log is the pod's ``previous`` log
    exit_code: int | None
    reason: str | None
    message: str | None
    node: str | None
    started: str | None
    finished: str | None

    @property
    def failed(self) -> bool:
        return self.reason == "OOMKilled" or (self.exit_code or 0) != 0

    def to_json(self) -> dict:
        return {"pod": self.pod, "worker": self.worker, "container": self.container, "restart": self.restart,
                "exitCode": self.exit_code, "reason": self.reason, "signal": signal_of(self.exit_code),
                "message": self.message, "node": self.node, "startedAt": self.started, "finishedAt": self.finished}


def _statuses(pod: dict) -> dict[str, dict]:
    return {cs.get("name", ""): cs for cs in g.container_statuses(pod, init=False)}


def _termination(pod: dict, cs: dict, term: dict, restart: int, previous: bool) -> Termination:
    code = term.get("exitCode")
    return Termination(pod=g.pod_name(pod), worker=g.worker_index(pod), container=cs.get("name", ""), restart=restart,
                       previous=previous, exit_code=code if isinstance(code, int) else None,
                       reason=term.get("reason"), message=(term.get("message") or "").strip() or None,
                       node=(pod.get("spec") or {}).get("nodeName"), started=term.get("startedAt"),
                       finished=term.get("finishedAt"))


def terminations(old: dict | None, new: dict) -> list[Termination]:
    """Container instances of ``new`` that ended since ``old`` (the same pod seen before; None: first sight,
    when an instance that already ended and restarted still counts, its previous log being readable)."""
    before = _statuses(old) if old is not None else {}
    out: list[Termination] = []
    for name, cs in _statuses(new).items():
        count = int(cs.get("restartCount") or 0)
        prev = before.get(name)
        was = int(prev.get("restartCount") or 0) if prev is not None else None
        last = (cs.get("lastState") or {}).get("terminated")
        if last and count > 0 and (was is None or count > was):
            out.append(_termination(new, cs, last, count - 1, True))
        term = (cs.get("state") or {}).get("terminated")
        if term and not (prev is not None and was == count and (prev.get("state") or {}).get("terminated")):
            out.append(_termination(new, cs, term, count, False))
    return out


def incarnation_id(leader: dict) -> str:
    """``20261122T102607Z-<uid>``: sorts by creation time, unique by the leader's uid."""
    meta = leader.get("metadata") or {}
    created = parse_time(meta.get("creationTimestamp"))
    stamp = created.strftime("%Y%m%dT%H%M%SZ") if created else "unknown"
    return f"{stamp}-{meta.get('uid') or 'nouid'}"


def deletion_started(pod: dict) -> datetime | None:
    """When the pod's deletion was asked for: its deletionTimestamp less the grace period it was given."""
    meta = pod.get("metadata") or {}
    when = parse_time(meta.get("deletionTimestamp"))
    if when is None:
        return None
    grace = meta.get("deletionGracePeriodSeconds")
    return when - timedelta(seconds=grace) if isinstance(grace, (int, float)) else when


# DisruptionTarget reasons (k8s 1.26+) -> end kind
_DISRUPTION = {"PreemptionByScheduler": PREEMPTION, "PreemptionByKubeScheduler": PREEMPTION,
               "EvictionByEvictionAPI": EVICTION, "TerminationByKubelet": EVICTION,
               "DeletionByTaintManager": NODE_LOST, "DeletionByPodGC": NODE_LOST}
_EVENT_DISRUPTION = {"Preempted": PREEMPTION, "Evicted": EVICTION, "Evicting": EVICTION, "Eviction": EVICTION,
                     "TaintManagerEviction": NODE_LOST, "NodeNotReady": NODE_LOST, "NodeLost": NODE_LOST}


def disruption(pod: dict) -> tuple[str, str] | None:
    """(kind, detail) when the pod's own status says it was disrupted, else None."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
            kind = _DISRUPTION.get(cond.get("reason") or "")
            if kind:
                return kind, (cond.get("message") or cond.get("reason") or "").strip()
    if status.get("reason") == "Evicted":
        return EVICTION, (status.get("message") or "Evicted").strip()
    if status.get("reason") == "NodeLost":
        return NODE_LOST, (status.get("message") or "NodeLost").strip()
    return None


def event_disruption(reason: str, message: str) -> tuple[str, str] | None:
    """(kind, detail) for an event about a pod that says it was evicted, preempted or lost with its node."""
    kind = _EVENT_DISRUPTION.get(reason)
    return (kind, message.strip() or reason) if kind else None


@dataclass
class Evidence:
    """What was seen of one incarnation, for ``decide_end``."""

    group: int
    terminations: list[Termination] = field(default_factory=list)  # in the order seen
    deletion_started: datetime | None = None  # the first pod of the incarnation asked to go
    disruption: tuple[str, str, str, int | None] | None = None  # (kind, detail, pod, worker)
    restart_event: str | None = None  # message of the RestartGroup event of `kubectl lws restart`
    recreate_event: str | None = None  # message of the LWS controller's RecreateGroup event for this leader
    lws: str = ""  # the LWS's name (to tell a pod's worker index from its name)
    lws_deleted: bool = False
    replicas: int | None = None  # the LWS's spec.replicas when it ended
    revision: str | None = None  # the leader's template revision
    next_revision: str | None = None  # the next leader's, once seen
    unseen: str | None = None  # it ended unseen: why (a gap in the recording)


def pods_evidence(group: int, pods: Iterable[dict], lws: str, **known: Any) -> Evidence:
    """What the pods of one incarnation still say, for ``decide_end``: their termination records (by the time
    they ended), when their deletion began, a disruption their status names. ``known``: the other fields."""
    ev = Evidence(group=group, lws=lws, **known)
    for pod in pods:
        ev.terminations.extend(terminations(None, pod))
        began = deletion_started(pod)
        if began is not None and (ev.deletion_started is None or began < ev.deletion_started):
            ev.deletion_started = began
        said = disruption(pod)
        if said is not None and ev.disruption is None:
            ev.disruption = (*said, g.pod_name(pod), g.worker_index(pod))
    ev.terminations.sort(key=lambda t: parse_time(t.finished) or datetime.max.replace(tzinfo=timezone.utc))
    return ev


def _failed_first(items: Iterable[Termination], before: datetime | None) -> Termination | None:
    """The first termination that started the end: a failure before the deletion (those after it are
    the deletion's SIGTERMs), else the first exit at all before it."""
    early = [t for t in items if before is None or (parse_time(t.finished) or before) <= before]
    for t in early:
        if t.failed:
            return t
    return early[0] if early else None


def decide_end(ev: Evidence) -> dict:
    """How an incarnation ended: ``{"kind", "pod", "worker", "container", "exitCode", "reason", "signal",
    "message", "node", "detail"}`` (None where it does not apply). One rule, in this order: a container that
    exited before the deletion began; a disruption (preemption, eviction, lost node); the LWS deleted; a
    scale-down; a `kubectl lws restart`; another template revision next; a gap; else a plain deletion."""
    end: dict[str, Any] = {"kind": DELETED, "pod": None, "worker": None, "container": None, "exitCode": None,
                           "reason": None, "signal": None, "message": None, "node": None, "detail": None}
    first = _failed_first(ev.terminations, ev.deletion_started)
    if first is not None:
        end.update(kind=CONTAINER, pod=first.pod, worker=first.worker, container=first.container,
                   exitCode=first.exit_code, reason=first.reason, signal=signal_of(first.exit_code),
                   message=first.message, node=first.node)
        return end
    if ev.disruption is not None:
        kind, detail, pod, worker = ev.disruption
        end.update(kind=kind, pod=pod, worker=worker, detail=detail)
    elif ev.lws_deleted:
        end.update(kind=LWS_DELETED, detail="the LeaderWorkerSet was deleted")
    elif ev.replicas is not None and ev.group >= ev.replicas:
        end.update(kind=SCALE_DOWN, detail=f"scaled to {ev.replicas} group(s)")
    elif ev.restart_event is not None:
        end.update(kind=RESTART, detail=ev.restart_event)
    elif ev.next_revision and ev.revision and ev.next_revision != ev.revision:
        end.update(kind=ROLLING_UPDATE, detail=f"revision {ev.revision} replaced by {ev.next_revision}")
    elif ev.recreate_event:
        pod = failed_pod(ev.recreate_event)
        end.update(kind=UNKNOWN, pod=pod, worker=worker_of(pod, ev.lws),
                   detail=f"{ev.recreate_event} (how it failed was not seen)")
    elif ev.unseen:
        end.update(kind=UNKNOWN, detail=ev.unseen)
    else:
        end.update(detail="the leader pod was deleted (kubectl delete, another client or controller)")
    return end


def restart_event(lws: str, namespace: str, group: int, leader: str, leader_uid: str, now: datetime) -> dict:
    """The core/v1 Event `kubectl lws restart` leaves on the LWS for a group it re-creates (``related``: the
    leader it deleted), so that a recording and ``history`` can tell that ending from a crash or a plain delete."""
    when = rfc3339(now)
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{lws}.", "namespace": namespace},
            "involvedObject": {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": lws,
                               "namespace": namespace},
            "related": {"apiVersion": "v1", "kind": "Pod", "name": leader, "namespace": namespace, "uid": leader_uid},
            "reason": RESTART_EVENT_REASON, "type": "Normal",
            "message": f"kubectl lws restart: deleted leader pod {leader} to re-create group {group}",
            "source": {"component": "kubectl-lws"}, "reportingComponent": "kubectl-lws", "reportingInstance": "",
            "firstTimestamp": when, "lastTimestamp": when, "count": 1}


def failed_pod(message: str) -> str | None:
    """The pod a ``RecreateGroup`` event says failed."""
    m = _FAILED_POD.search(message or "")
    return m.group(1) if m else None


def worker_of(pod: str | None, lws: str) -> int | None:
    from kubectl_lws.model.events import object_group

    where = object_group("Pod", pod, lws) if pod and lws else None
    return where[1] if where else None


def who(worker: int | None) -> str:
    return "?" if worker is None else ("leader" if worker == 0 else f"w{worker}")


def end_text(end: dict | None) -> str:
    """One line: ``w3 exit 137 OOMKilled``, ``w1 exit 1 Error``, ``evicted``, ``rolling update``..."""
    if not end:
        return ""
    kind = end.get("kind")
    if kind == CONTAINER:
        parts = [who(end.get("worker"))]
        if end.get("exitCode") is not None:
            parts.append(f"exit {end['exitCode']}")
        if end.get("reason"):
            parts.append(str(end["reason"]))
        return " ".join(parts)
    words = {EVICTION: "evicted", PREEMPTION: "preempted", NODE_LOST: "node lost", ROLLING_UPDATE: "rolling update",
             SCALE_DOWN: "scaled down", RESTART: "kubectl lws restart", LWS_DELETED: "LWS deleted",
             DELETED: "leader deleted", UNKNOWN: "ended unseen"}
    text = words.get(str(kind), str(kind))
    if kind == UNKNOWN and end.get("worker") is not None:
        return f"{who(end['worker'])} failed, cause unknown"
    if kind in (EVICTION, PREEMPTION, NODE_LOST) and end.get("worker") is not None:
        text = f"{who(end['worker'])} {text}"
    return text


def ready_at(pods: Iterable[dict], size: int) -> str | None:
    """When every pod of an incarnation was first Ready together (its last Ready transition), or None."""
    live = [p for p in pods if not g.is_terminating(p)]
    if len(live) < size or not all(g.pod_ready(p) for p in live):
        return None
    times = [c["lastTransitionTime"] for p in live for c in (p.get("status") or {}).get("conditions") or []
             if c.get("type") == "Ready" and c.get("lastTransitionTime")]
    return max(times, key=lambda t: parse_time(t) or datetime.min.replace(tzinfo=timezone.utc)) if times else None


def seconds_between(start: str | None, end: str | None) -> float | None:
    a, b = parse_time(start), parse_time(end)
    return None if a is None or b is None else round(max(0.0, (b - a).total_seconds()), 3)


def iso(dt: datetime | None) -> str | None:
    return rfc3339(dt) if dt is not None else None
