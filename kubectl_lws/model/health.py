"""Group and LWS health from pods (and nodes): the first step of the one verdict.

Views do not call this module for a state: ``model/verdict.judge`` does, then adds the causes of
every layer (pods, events, ...) and decides the final state. What is here is what the pods alone
say, never the LWS counters alone.

Why from pods: before LWS v0.9 ``status.readyReplicas`` counted a group whose workers were
Pending as ready (reference §3), and the controller publishes no per-group status at all. So a
group is *ready* here when its leader and all ``size - 1`` workers exist, are not terminating,
and are Running with Ready=True — stricter than the controller on purpose.

Public API (stable, used by status/list/rollout/restart/scale/logs):

* ``current_revision(view, pods, *, leader_sts=None) -> str | None``
* ``group_health(view, group, *, nodes=None, current_revision=None, now=None) -> GroupHealth``
* ``lws_health(view, groups, *, current_revision=None) -> (state, reason)`` and ``lws_state(...)``
* ``assess(view, pods, *, nodes=None, leader_sts=None, now=None) -> Assessment`` (all of it at once)
* ``pod_problem(pod, *, nodes=None, now=None) -> PodProblem | None`` and ``pod_info(...)``

Group states (most severe first): Stuck (a cause held past --stuck-after), Missing, Recreating, NodeNotReady, Pending, Degraded, Updating,
Ready. LWS states: Unavailable, Degraded, Paused, Scaling, Progressing, Canary, Healthy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from kubectl_lws.model import keys
from kubectl_lws.model.causes import Cause, Recreations
from kubectl_lws.model.groups import (Group, LwsView, group_pods, is_terminating, labels, pod_name,
                                      pod_ready, pod_restarts, revision, subgroup_index, worker_index)
from kubectl_lws.model.timeutil import age_seconds, parse_time, utc_now

# ---- states ---------------------------------------------------------------------------------------

READY = "Ready"
DEGRADED = "Degraded"
PENDING = "Pending"
RECREATING = "Recreating"
MISSING = "Missing"
NODE_NOT_READY = "NodeNotReady"
UPDATING = "Updating"

STUCK = "Stuck"  # not Ready past --stuck-after with a cause (model/verdict.judge)

GROUP_STATES = (STUCK, MISSING, RECREATING, NODE_NOT_READY, PENDING, DEGRADED, UPDATING, READY)

HEALTHY = "Healthy"
PROGRESSING = "Progressing"
CANARY = "Canary"
PAUSED = "Paused"
UNAVAILABLE = "Unavailable"
SCALING = "Scaling"

LWS_STATES = (UNAVAILABLE, DEGRADED, PAUSED, SCALING, PROGRESSING, CANARY, HEALTHY)

# Group states that need a human (as opposed to "the controller is on it").
FAILING_GROUP_STATES = frozenset({STUCK, MISSING, NODE_NOT_READY, DEGRADED})

# Container waiting reasons that will not fix themselves (kubelet vocabulary).
BAD_WAITING_REASONS = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "PreStartHookError",
    "PostStartHookError", "ContainerCannotRun",
})

# A live leader younger than this whose workers are not there yet is a group being (re)built, not
# a group with missing workers: the pod controller creates the worker STS right after the leader.
RECENT_SECONDS = 30.0


def short_hash(rev: str | None) -> str:
    return (rev or "")[:7] or "-"


def worker_label(index: int | None) -> str:
    """How a pod is named in reasons: ``leader`` for worker 0, ``w3`` for worker 3."""
    if index == 0:
        return "leader"
    return f"w{index}" if index is not None else "w?"


# ---- nodes -----------------------------------------------------------------------------------------

def node_ready(node: dict | None) -> bool | None:
    """Node condition Ready; None when the node (or its condition) is unknown."""
    if not node:
        return None
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return None


def nodes_by_name(nodes: Iterable[dict] | dict[str, dict] | None) -> dict[str, dict] | None:
    """Accept a NodeList's items or an already-built name -> node dict."""
    if nodes is None or isinstance(nodes, dict):
        return nodes
    return {(n.get("metadata") or {}).get("name", ""): n for n in nodes}


# ---- pods ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PodProblem:
    """Why one pod is not serving: a group state it implies and a short human reason."""

    state: str  # PENDING, DEGRADED, NODE_NOT_READY, RECREATING
    reason: str  # e.g. "CrashLoopBackOff (7 restarts)", "unschedulable (0/4 nodes: ...)"
    failing: bool  # True when it will not resolve by itself (drives Degraded vs Progressing)


def _condition(pod: dict, ctype: str) -> dict | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def _short_scheduler_message(message: str, limit: int = 80) -> str:
    """``0/7 nodes are available: 1 node(s) didn't ...`` -> ``0/7 nodes: 1 node(s) didn't ...``."""
    # keep the first sentence: the per-node reasons; drop "no new claims..." and the preemption part
    text = (message or "").replace(" nodes are available:", " nodes:").split(" preemption:")[0]
    text = text.split(". ")[0].strip().rstrip(".,")
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def last_termination_reason(pod: dict) -> str | None:
    """Reason of the most recent container termination (``OOMKilled``, ``Error``...)."""
    best: tuple[str, str] | None = None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = ((cs.get("lastState") or {}).get("terminated")
                or (cs.get("state") or {}).get("terminated"))
        if term and term.get("reason"):
            stamp = term.get("finishedAt") or ""
            if best is None or stamp > best[0]:
                best = (stamp, term["reason"])
    return best[1] if best else None


def pod_problem(pod: dict, *, nodes: dict[str, dict] | None = None,
                now: datetime | None = None) -> PodProblem | None:
    """The one most useful thing wrong with a pod, or None when it is Running and Ready."""
    return _pod_problem(pod, pod.get("status") or {}, pod_restarts(pod), is_terminating(pod), pod_ready(pod),
                        nodes, now)


def _pod_problem(pod: dict, status: dict, restarts: int, terminating: bool, ready: bool,
                 nodes: dict[str, dict] | None, now: datetime | None) -> PodProblem | None:
    """``pod_problem`` with what ``pod_info`` has already read passed in (list -A runs this per pod)."""
    phase = status.get("phase") or "Unknown"
    if terminating:
        return PodProblem(RECREATING, f"terminating{_ago(_deleted_at(pod), now)}", False)
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name and nodes is not None and node_ready(nodes.get(node_name)) is False:
        return PodProblem(NODE_NOT_READY, node_name, True)
    if node_name and nodes is not None and node_name not in nodes:
        return PodProblem(NODE_NOT_READY, f"{node_name} (node gone)", True)
    if phase == "Failed":
        return PodProblem(DEGRADED, f"Failed ({status.get('reason') or last_termination_reason(pod) or 'Error'})",
                          True)
    if phase == "Succeeded":
        return PodProblem(DEGRADED, "Completed (container exited)", True)
    # Container-level trouble first: a crash loop matters more than "not ready".
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in BAD_WAITING_REASONS:
            text = reason
            if reason == "CrashLoopBackOff" or restarts:
                text += f" ({restarts} restart{'s' if restarts != 1 else ''})"
            return PodProblem(DEGRADED, text, True)
    if phase == "Pending":
        sched = _condition(pod, "PodScheduled")
        if sched and sched.get("status") == "False":
            if sched.get("reason") == "SchedulingGated":
                return PodProblem(PENDING, "scheduling gated", False)
            msg = _short_scheduler_message(sched.get("message", ""))
            return PodProblem(PENDING, f"unschedulable ({msg})" if msg else "unschedulable", True)
        if not node_name:
            return PodProblem(PENDING, "not scheduled yet", False)
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
            if reason:
                return PodProblem(PENDING, reason, False)
        return PodProblem(PENDING, "starting", False)
    if phase != "Running":
        return PodProblem(DEGRADED, f"phase {phase}", True)
    if ready:
        return None
    for cs in status.get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if term:
            return PodProblem(DEGRADED, f"{term.get('reason') or 'terminated'}", True)
    if restarts:
        return PodProblem(DEGRADED, f"not ready ({restarts} restart{'s' if restarts != 1 else ''})", True)
    return PodProblem(DEGRADED, "not ready", False)


def _deleted_at(pod: dict) -> datetime | None:
    """When the delete was requested: deletionTimestamp minus the grace period."""
    meta = pod.get("metadata") or {}
    stamp = parse_time(meta.get("deletionTimestamp"))
    if stamp is None:
        return None
    grace = meta.get("deletionGracePeriodSeconds") or 0
    return stamp - timedelta(seconds=int(grace))


def _ago(when: datetime | None, now: datetime | None) -> str:
    if when is None:
        return ""
    seconds = int(max(((now or utc_now()) - when).total_seconds(), 0))
    if seconds < 120:
        text = f"{seconds}s"
    elif seconds < 7200:
        text = f"{seconds // 60}m"
    else:
        text = f"{seconds // 3600}h"
    return f" {text} ago"


@dataclass(frozen=True)
class PodInfo:
    """One pod as the status views show it (JSON field names are the camelCase of these)."""

    name: str
    worker_index: int | None
    subgroup_index: int | None
    node: str | None
    ip: str | None
    phase: str
    ready: bool
    restarts: int
    reason: str | None  # last termination reason, or the current problem
    age_seconds: float | None
    revision: str | None
    terminating: bool
    problem: PodProblem | None

    def to_json(self) -> dict:
        return {"name": self.name, "workerIndex": self.worker_index, "subgroupIndex": self.subgroup_index,
                "node": self.node, "ip": self.ip, "phase": self.phase, "ready": self.ready,
                "restarts": self.restarts, "reason": self.reason,
                "age": None if self.age_seconds is None else int(self.age_seconds),
                "revision": self.revision, "terminating": self.terminating}


def pod_info(pod: dict, *, nodes: dict[str, dict] | None = None, now: datetime | None = None) -> PodInfo:
    # Read once: list -A calls this for every LWS pod of the cluster.
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    terminating = bool(meta.get("deletionTimestamp"))
    restarts = pod_restarts(pod)
    ready = pod_ready(pod)
    problem = _pod_problem(pod, status, restarts, terminating, ready, nodes, now)
    reason = last_termination_reason(pod) or (problem.reason if problem else None)
    pod_labels = meta.get("labels") or {}
    return PodInfo(
        name=meta.get("name", ""), worker_index=worker_index(pod),
        subgroup_index=subgroup_index(pod),
        node=(pod.get("spec") or {}).get("nodeName"), ip=status.get("podIP"),
        phase="Terminating" if terminating else (status.get("phase") or "Unknown"),
        ready=ready and not terminating, restarts=restarts, reason=reason,
        age_seconds=age_seconds(meta.get("creationTimestamp"), now),
        revision=pod_labels.get(keys.REVISION_LABEL), terminating=terminating, problem=problem)


# ---- revision --------------------------------------------------------------------------------------

def current_revision(view: LwsView, pods: Iterable[dict], *, leader_sts: dict | None = None) -> str | None:
    """The LWS's current ``template-revision-hash`` (reference §8.1).

    Authoritative source: the leader StatefulSet's label, when the caller has it. Otherwise it is
    inferred from pods, which is what ``status``/``list`` do to stay within their request budget:
    groups are updated from the highest index down and surge groups are born at the new revision,
    so the live leader with the highest group index carries the current revision. One window is
    invisible from pods: right after a template change, before any group was replaced; there the
    LWS reports ``UpdateInProgress=True`` with no ``updatedReplicas``, and we return None
    ("a revision no group runs yet") so every group shows as outdated.
    """
    if leader_sts:
        rev = revision(leader_sts)
        if rev:
            return rev
    leaders = [p for p in pods if worker_index(p) == 0 and not is_terminating(p) and revision(p)]
    if not leaders:
        return None
    top = max(leaders, key=lambda p: int(labels(p).get(keys.GROUP_INDEX_LABEL, -1) or -1))
    candidate = revision(top)
    status = view.status
    update = view.condition("UpdateInProgress")
    stale = view.observed_generation is not None and view.observed_generation < view.generation
    updating = bool(update and update.get("status") == "True")
    # With partition >= replicas (a staged or paused rollout) no group is at or above the partition,
    # so the controller never raises UpdateInProgress; updatedReplicas still drops to 0 when the
    # template changes. generation > 1 keeps a brand-new LWS (status not filled in yet) out of it.
    staged = view.partition >= view.replicas and view.generation > 1 and "replicas" in status
    if (not stale and (updating or staged) and not status.get("updatedReplicas") and view.replicas > 0):
        return None
    return candidate


# ---- group health ----------------------------------------------------------------------------------

@dataclass
class GroupHealth:
    """One group's health: a state, a one-line reason, and what the views print about it."""

    index: int
    state: str
    reason: str
    ready: int  # pods Running+Ready (not terminating)
    size: int
    group_ready: bool  # leader and every worker present and ready
    updated: bool  # leader (and live workers) on the current revision
    revision: str | None
    revision_role: str  # current / canary / stable / outdated / unknown
    surge: bool
    restarts: int
    leader: str | None
    leader_uid: str | None
    age_seconds: float | None
    pods: list[PodInfo] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)  # worker indexes with no live pod
    group: Group | None = field(default=None, repr=False, compare=False)
    # Filled in by the verdict (model/verdict.judge): the best cause of any layer, and the
    # re-creation history (None when events were not read: not known, not zero).
    cause: Cause | None = field(default=None, repr=False, compare=False)
    recreations: Recreations | None = field(default=None, repr=False, compare=False)
    stuck: bool = False
    # Every cause the admission/gang/storage layers found (layers.LayerReader), most important first;
    # the verdict picks ``cause`` among them and the pods' and events' causes. Empty: nothing to say.
    layer_causes: "list[Cause]" = field(default_factory=list, repr=False, compare=False)

    @property
    def healthy(self) -> bool:
        return self.state == READY

    @property
    def failing(self) -> bool:
        return self.state in FAILING_GROUP_STATES or (self.state == PENDING and self._pending_failing) \
            or bool(self.cause is not None and self.cause.blocking) \
            or bool(self.recreations is not None and self.recreations.loop)

    _pending_failing: bool = field(default=False, repr=False)

    @property
    def label(self) -> str:
        """``State: reason`` as printed in tables."""
        return f"{self.state}: {self.reason}" if self.reason else self.state

    def to_json(self, domains: dict[str, list[str]] | None = None, *, with_pods: bool = True) -> dict:
        out = {"index": self.index, "state": self.state, "reason": self.reason, "ready": self.ready,
               "size": self.size, "groupReady": self.group_ready, "revision": self.revision,
               "revisionRole": self.revision_role, "updated": self.updated, "surge": self.surge,
               "leader": self.leader, "restarts": self.restarts,
               "age": None if self.age_seconds is None else int(self.age_seconds),
               "missing": list(self.missing)}
        if domains is not None:
            out["domains"] = domains
        out["cause"] = self.cause.to_json() if self.cause is not None else None
        # every cause found, each with its layer (the primary one is "cause")
        out["causes"] = [c.to_json() for c in _all_causes(self)]
        out["stuck"] = self.stuck
        out["recreations"] = self.recreations.to_json() if self.recreations is not None else None
        # pods whose worker index has no place in the group (model/groups.Stray): listed, never counted
        out["unexpectedPods"] = [s.to_json() for s in self.group.strays] if self.group is not None else []
        if with_pods:
            out["pods"] = [p.to_json() for p in self.pods]
        return out


def _all_causes(g: GroupHealth) -> list:
    out = [g.cause] if g.cause is not None else []
    return out + [c for c in g.layer_causes if c is not g.cause]


def group_health(view: LwsView, group: Group, *, nodes: dict[str, dict] | Iterable[dict] | None = None,
                 current_revision: str | None = None, now: datetime | None = None) -> GroupHealth:
    """Classify one group (see the module docstring for the states and their order)."""
    now = now or utc_now()
    nodes = nodes_by_name(nodes)
    size = view.size
    infos = [pod_info(p, nodes=nodes, now=now) for p in group.pods]
    term_infos = [pod_info(p, nodes=nodes, now=now) for p in group.terminating]
    # From the infos (one per live pod, in group.pods order) rather than Group's properties, which
    # would walk the pods again for each: list -A does this for every group of the cluster.
    indexes = [i.worker_index for i in infos]
    leader = group.pods[indexes.index(0)] if 0 in indexes else None
    ready = sum(1 for i in infos if i.ready)
    present = set(indexes)
    missing = [w for w in range(size) if w not in present]
    rev = revision(leader) if leader else None
    live_revs = {i.revision for i in infos if i.revision}
    # §8.1: updated needs the leader *and* the worker STS at the current revision; without the STS,
    # "some worker exists" stands in for "the worker STS exists" (excl-2 in golden counts as not updated).
    has_workers = size == 1 or any((w or 0) > 0 for w in indexes)
    updated = bool(leader) and has_workers and current_revision is not None and rev == current_revision \
        and live_revs <= {current_revision}
    group_ready = leader is not None and not missing and not group.terminating and ready == size
    restarts = sum(i.restarts for i in infos)
    leader_age = age_seconds((leader.get("metadata") or {}).get("creationTimestamp"), now) if leader else None
    role = _role(rev, current_revision, group.index, view)
    health = GroupHealth(
        index=group.index, state=READY, reason="", ready=ready, size=size, group_ready=group_ready,
        updated=updated, revision=rev, revision_role=role, surge=group.surge, restarts=restarts,
        leader=pod_name(leader) if leader else None,
        leader_uid=(leader.get("metadata") or {}).get("uid") if leader else None,
        age_seconds=leader_age, pods=infos + term_infos, missing=missing, group=group)
    health.pods.sort(key=lambda i: (i.worker_index if i.worker_index is not None else 1 << 30, i.terminating))
    state, reason, pending_failing = _classify(view, group, health, infos, term_infos, now)
    health.state, health.reason, health._pending_failing = state, reason, pending_failing
    return health


def _role(rev: str | None, current: str | None, index: int, view: LwsView) -> str:
    if rev is None:
        return "unknown"
    if current is not None and rev == current:
        return "canary" if view.partition > 0 else "current"
    if index < view.partition:
        return "stable"
    return "outdated"


def _join_pods(items: list[tuple[int | None, str]], limit: int = 3) -> str:
    """``w2 CrashLoopBackOff (7 restarts)``, several joined with ``, `` and ``+N more``."""
    parts = [f"{worker_label(w)} {text}" for w, text in items[:limit]]
    if len(items) > limit:
        parts.append(f"+{len(items) - limit} more")
    return ", ".join(parts)


def _classify(view: LwsView, group: Group, health: GroupHealth, infos: list[PodInfo],
              term_infos: list[PodInfo], now: datetime) -> tuple[str, str, bool]:
    leader = group.leader
    # No pod at all: the group is gone (or a scale-up has not reached it yet; the LWS state says so).
    if not group.pods and not group.terminating:
        return MISSING, "no pods", True
    # Pods being deleted: the controller (or someone) is re-creating the group.
    if group.terminating:
        term_leader = next((p for p in group.terminating if worker_index(p) == 0), None)
        if term_leader is not None:
            return RECREATING, f"leader deleted{_ago(_deleted_at(term_leader), now)}", False
        if leader is None:
            return RECREATING, "leader missing, old pods terminating", False
        ws = sorted(worker_index(p) or 0 for p in group.terminating)
        first = min(group.terminating, key=lambda p: (parse_time((p.get("metadata") or {})
                                                                 .get("deletionTimestamp")) or now))
        names = ",".join(worker_label(w) for w in ws[:4]) + (f",+{len(ws) - 4}" if len(ws) > 4 else "")
        return RECREATING, f"{names} deleted{_ago(_deleted_at(first), now)}", False
    if leader is None:
        # The worker STS is owned by the leader pod: without a leader, GC removes the workers and the
        # leader STS re-creates the leader at once (golden b1). Transitional, not a failure.
        return RECREATING, "leader gone, old workers being removed", False
    problems = [(i.worker_index, i.problem) for i in infos if i.problem is not None]
    # A node gone NotReady takes its pods with it: name the node.
    bad_nodes = sorted({p.reason for _, p in problems if p.state == NODE_NOT_READY})
    if bad_nodes:
        return NODE_NOT_READY, ", ".join(bad_nodes), True
    unsched = [(w, p.reason) for w, p in problems if p.state == PENDING and p.failing]
    if unsched:
        return PENDING, _join_pods(unsched), True
    failing = [(w, p.reason) for w, p in problems if p.failing]
    if failing:
        return DEGRADED, _join_pods(failing), True
    leader_age = health.age_seconds
    if health.missing:
        leader_info = infos[0] if infos and infos[0].worker_index == 0 else None
        if view.startup_policy == "LeaderReady" and leader_info is not None and not leader_info.ready:
            return PENDING, "waiting for leader Ready (startupPolicy LeaderReady)", False
        if view.exclusive_topology and not (leader.get("spec") or {}).get("nodeName"):
            return PENDING, "workers wait for the leader to be scheduled (exclusive topology)", False
        miss = ",".join(worker_label(w) for w in health.missing[:6])
        if len(health.missing) > 6:
            miss += f",+{len(health.missing) - 6}"
        if leader_age is not None and leader_age < RECENT_SECONDS:
            return RECREATING, f"creating {miss} (leader {int(leader_age)}s old)", False
        return MISSING, miss, True
    pending = [(w, p.reason) for w, p in problems if p.state == PENDING]
    if pending:
        return PENDING, _join_pods(pending), False
    others = [(w, p.reason) for w, p in problems]
    if others:
        return DEGRADED, _join_pods(others), False
    if health.revision_role == "outdated":
        return UPDATING, f"waiting for rollout ({short_hash(health.revision)} is outdated)", False
    return READY, "", False


# ---- LWS health ------------------------------------------------------------------------------------

def lws_health(view: LwsView, groups: Sequence[GroupHealth] | Sequence[Group], *,
               current_revision: str | None = None, nodes: dict[str, dict] | None = None,
               now: datetime | None = None) -> tuple[str, str]:
    """Overall state and reason; ``groups`` as returned by ``group_health`` (Groups are assessed)."""
    healths = [g if isinstance(g, GroupHealth) else
               group_health(view, g, nodes=nodes, current_revision=current_revision, now=now) for g in groups]
    return lws_state(view, healths, current_revision)


def lws_state(view: LwsView, healths: Sequence[GroupHealth], current: str | None) -> tuple[str, str]:
    """The LWS state and reason from its groups' health (the verdict calls it again after causes)."""
    desired = view.replicas
    base = [h for h in healths if not h.surge]
    surge = [h for h in healths if h.surge]
    status_replicas = view.status.get("replicas")
    stale = view.observed_generation is not None and view.observed_generation < view.generation
    # Groups with no pod at all right after a scale-up are the controller's work, not a failure.
    unborn = [h for h in base if h.state == MISSING and h.reason == "no pods"]
    scaling_up = bool(unborn) and (stale or status_replicas is None or status_replicas < desired)
    ready = sum(1 for h in base if h.group_ready)
    not_ready = [h for h in base if not h.group_ready and not (scaling_up and h in unborn)]
    failing = [h for h in base + surge if h.failing and not (scaling_up and h in unborn)]
    # Outdated is about revisions only (a group whose workers are being rebuilt is not "outdated").
    outdated = [h for h in base if h.index >= view.partition and h.leader and h.revision != current]
    updated_base = sum(1 for h in base if h.updated)
    update_cond = view.condition("UpdateInProgress")
    rolling = bool(outdated) or bool(update_cond and update_cond.get("status") == "True")
    paused_from = view.annotations.get(keys.PAUSED_PARTITION_ANNOTATION)

    def first_problem(items: Sequence[GroupHealth]) -> str:
        head = items[0]
        extra = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
        return f"group {head.index} {head.label}{extra}"

    if desired == 0:
        if healths:
            return SCALING, f"scaling to 0 ({len(healths)} group{'s' if len(healths) != 1 else ''} left)"
        return HEALTHY, "scaled to 0"
    if ready == 0 and not scaling_up:
        cause = first_problem(failing or not_ready) if (failing or not_ready) else "no group is ready"
        return UNAVAILABLE, f"0/{desired} groups ready: {cause}"
    if failing:
        return DEGRADED, f"{ready}/{desired} groups ready: {first_problem(failing)}"
    if paused_from is not None:
        reason = (f"rollout paused at partition {view.partition} (was {paused_from}); "
                  f"{updated_base}/{desired} groups updated")
        held_surge = view.annotations.get(keys.PAUSED_MAX_SURGE_ANNOTATION)
        if held_surge is not None:
            reason += f"; maxSurge held at {view.max_surge} (was {held_surge})"
        if surge:
            live = [h for h in surge if h.leader]
            names = ",".join(str(h.index) for h in (live or surge))
            reason += (f"; surge group{'s' if len(surge) > 1 else ''} {names} still running"
                       f"{' ' + short_hash(surge[0].revision) if surge[0].revision else ''}")
        return PAUSED, reason
    if scaling_up or (surge and not rolling):
        have = sum(1 for h in healths if h.leader)
        return SCALING, f"{have} -> {desired} groups, {ready} ready"
    if rolling:
        new = short_hash(current) if current else "a new revision"
        parts = [f"rolling out {new}: {updated_base}/{desired} groups updated", f"{ready} ready"]
        if surge:
            parts.append(f"{len(surge)} surge")
        if view.partition:
            parts.append(f"partition {view.partition}")
        return PROGRESSING, ", ".join(parts)
    if not_ready:
        return PROGRESSING, f"{ready}/{desired} groups ready: {first_problem(not_ready)}"
    revisions = {h.revision for h in base if h.revision}
    if view.partition > 0 and len(revisions) > 1:
        return CANARY, (f"{updated_base}/{desired} groups on {short_hash(current)} "
                        f"(partition {view.partition})")
    return HEALTHY, f"{ready}/{desired} groups ready"


# ---- one call for the views -------------------------------------------------------------------------

@dataclass
class Assessment:
    """Everything ``status``/``list`` show about one LWS, from one GET + one pod LIST (+ nodes)."""

    view: LwsView
    state: str
    reason: str
    current_revision: str | None
    groups: list[GroupHealth]
    desired: int
    ready: int  # non-surge groups ready (from pods)
    updated: int  # non-surge groups on the current revision
    current: int  # groups that have a live leader, surge included (like status.replicas)
    # What reading events gave (model/verdict.judge): None when they were not read.
    events_info: dict | None = None
    # What the verdict was judged from: "pods" (every group from its pods), or "lws-status" (list
    # only: the LWS status said enough, model/verdict.settled_by_status; no group detail then).
    source: str = "pods"
    # What reading the admission/gang/storage layers gave (layers.LayerReader): None when not read.
    admission_info: dict | None = None

    @property
    def healthy(self) -> bool:
        return all(g.healthy for g in self.groups) and self.state in (HEALTHY, CANARY)

    def group(self, index: int) -> GroupHealth | None:
        for g in self.groups:
            if g.index == index:
                return g
        return None


def assess(view: LwsView, pods: Sequence[dict], *, nodes: dict[str, dict] | Iterable[dict] | None = None,
           leader_sts: dict | None = None, now: datetime | None = None) -> Assessment:
    """Group the pods, classify every group and the LWS."""
    now = now or utc_now()
    nodes = nodes_by_name(nodes)
    current = current_revision(view, pods, leader_sts=leader_sts)
    groups = group_pods(pods, view.replicas, size=view.size)
    healths = [group_health(view, g, nodes=nodes, current_revision=current, now=now) for g in groups]
    state, reason = lws_state(view, healths, current)
    base = [h for h in healths if not h.surge]
    return Assessment(view=view, state=state, reason=reason, current_revision=current, groups=healths,
                      desired=view.replicas, ready=sum(1 for h in base if h.group_ready),
                      updated=sum(1 for h in base if h.updated),
                      current=sum(1 for h in healths if h.leader), )


def images_by_revision(groups: Sequence[GroupHealth]) -> dict[str, dict[str, list[str]]]:
    """revision -> {"leader": [images], "worker": [images]}, as the pods run them (most common first)."""
    out: dict[str, dict[str, Counter]] = {}
    for gh in groups:
        if gh.group is None:
            continue
        for pod in gh.group.pods:
            rev = revision(pod) or "unknown"
            role = "leader" if worker_index(pod) == 0 else "worker"
            bucket = out.setdefault(rev, {"leader": Counter(), "worker": Counter()})
            for c in (pod.get("spec") or {}).get("containers") or []:
                if c.get("image"):
                    bucket[role][c["image"]] += 1
    return {rev: {role: [img for img, _ in counts.most_common()] for role, counts in roles.items()}
            for rev, roles in out.items()}
