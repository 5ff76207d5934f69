"""Rollout view-models for LWS: partition math, canary/promote/pause plans, status and history.

Pure functions over raw API dicts (no network, no printing), the way argo-rollouts' plugin keeps
its ``info`` package apart from its commands. The rules come from reference §8.1-8.4 and §9 and
from golden traces a and d:

* the current revision key is the leader StatefulSet's ``template-revision-hash`` label;
* a group is *updated* when its leader (and its workers) carry that key; groups with index >=
  partition are updated, highest index first, each group re-created whole; lowering the
  partition continues a rollout, raising it never reverts groups already updated;
* LWS deletes every revision but the current one once a rollout completes with partition 0;
* a label query for ControllerRevisions also returns the StatefulSets' own revisions (golden D1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from kubectl_lws import errors
from kubectl_lws.model import keys
from kubectl_lws.model.groups import (Group, LwsView, group_pods, int_or_percent, lws_view, pod_ready, revision,
                                      worker_index)
from kubectl_lws.model.words import plural

PARTITION_PATH = ("spec", "rolloutStrategy", "rollingUpdateConfiguration", "partition")


# ---- small helpers ------------------------------------------------------------------------------

def spans(indexes: Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``: group lists stay short for 100-group LWS."""
    ordered = sorted(set(indexes))
    if not ordered:
        return "none"
    parts: list[str] = []
    start = prev = ordered[0]
    for value in ordered[1:] + [None]:  # type: ignore[list-item]
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ", ".join(parts)


def groups_phrase(indexes: Iterable[int]) -> str:
    """``"group 2"`` / ``"groups 0-1"`` / ``"none"``."""
    ordered = sorted(set(indexes))
    if not ordered:
        return "none"
    return ("group " if len(ordered) == 1 else "groups ") + spans(ordered)


def owned_by(obj: dict, kind: str, uid: str | None = None) -> bool:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == kind and (uid is None or not ref.get("uid") or ref.get("uid") == uid):
            return True
    return False


# ---- revisions (reference §9, golden D1) -----------------------------------------------------------

def lws_revisions(revisions: Iterable[dict], lws_uid: str | None = None) -> list[dict]:
    """Only the LWS's own ControllerRevisions, oldest first.

    ``-l leaderworkerset.sigs.k8s.io/name=L`` also returns the leader and worker StatefulSets'
    revisions (golden D1): keep those owned by the LeaderWorkerSet, or, when ownerReferences are
    missing, those without the StatefulSet controller's hash label.
    """
    out = []
    for rev in revisions:
        meta = rev.get("metadata") or {}
        refs = meta.get("ownerReferences") or []
        if refs:
            if not owned_by(rev, keys.LWS_KIND, lws_uid):
                continue
        elif keys.STS_REVISION_HASH_LABEL in (meta.get("labels") or {}):
            continue
        out.append(rev)
    return sorted(out, key=lambda r: int(r.get("revision") or 0))


def revision_key(rev: dict) -> str | None:
    return ((rev.get("metadata") or {}).get("labels") or {}).get(keys.REVISION_LABEL)


def revision_spec(rev: dict) -> dict:
    """The ``spec`` stored in a revision, without the strategic-merge ``$patch`` markers."""
    spec = ((rev.get("data") or {}).get("spec")) or {}
    return _strip_directives(spec)


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def template_images(lwt: dict) -> tuple[list[str], list[str]]:
    """(leader images, worker images) of a leaderWorkerTemplate; no leaderTemplate = worker's."""
    def images(template: dict) -> list[str]:
        spec = template.get("spec") or {}
        return [c.get("image", "") for c in (spec.get("containers") or [])]

    worker = images(lwt.get("workerTemplate") or {})
    leader = images(lwt.get("leaderTemplate") or {}) if lwt.get("leaderTemplate") else list(worker)
    return leader, worker


def current_revision_key(leader_sts: dict | None, revisions: Sequence[dict] = ()) -> str | None:
    """The leader StatefulSet's revision label (§8.1); else the newest LWS revision's key."""
    if leader_sts:
        key = ((leader_sts.get("metadata") or {}).get("labels") or {}).get(keys.REVISION_LABEL)
        if key:
            return key
    if revisions:
        return revision_key(revisions[-1])
    return None


# ---- per-group rollout state ----------------------------------------------------------------------

@dataclass(frozen=True)
class GroupState:
    """One group as the rollout sees it."""

    index: int
    present: bool  # a live leader exists
    revision: str | None  # the leader's revision key
    updated: bool  # leader and every live worker on the current revision, no worker missing
    ready: bool  # leader Running+Ready and all workers Ready (or the health model's verdict)
    surge: bool
    problem: str | None = None  # why the group is failing (crash loop, unschedulable...), if it is
    live_pods: int = 0  # pods without a deletionTimestamp (a surge group is gone when this is 0)
    leader_uid: str | None = None
    definitive: bool = False  # the problem is a kubelet/scheduler verdict (crash loop, unschedulable)

    def to_dict(self) -> dict:
        return {"index": self.index, "present": self.present, "revision": self.revision,
                "updated": self.updated, "ready": self.ready, "surge": self.surge, "problem": self.problem}


# (group, size) -> (ready, problem, definitive): the status developer's health model plugs in here.
# ``definitive`` marks problems that do not fix themselves (crash loop, image pull, unschedulable),
# as opposed to states a group passes through while it is re-created (missing leader, ...).
HealthFn = Callable[[Group, int], "tuple[bool, str | None] | tuple[bool, str | None, bool]"]


def pods_health(group: Group, size: int) -> tuple[bool, str | None]:
    """Readiness from pods alone (the controller's rule §8.1 without the StatefulSet check)."""
    leader = group.leader
    if leader is None or not pod_ready(leader):
        return False, None
    workers = {worker_index(p): p for p in group.workers}
    return all(w in workers and pod_ready(workers[w]) for w in range(1, size)), None


def group_states(view: LwsView, pods: Iterable[dict], current_key: str | None,
                 health: HealthFn = pods_health) -> list[GroupState]:
    """Every group 0..replicas-1 plus any surge group, with revision, updated and ready."""
    out = []
    for group in group_pods(pods, view.replicas):
        leader = group.leader
        rev = revision(leader) if leader else None
        updated = bool(leader) and current_key is not None and rev == current_key
        if updated:
            present_workers = {worker_index(p) for p in group.workers}
            updated = all(revision(p) == current_key for p in group.workers) and all(
                w in present_workers for w in range(1, view.size))
        verdict = health(group, view.size)
        ready, problem = verdict[0], verdict[1]
        definitive = bool(verdict[2]) if len(verdict) > 2 else False  # type: ignore[misc]
        leader_uid = (leader.get("metadata") or {}).get("uid") if leader else None
        out.append(GroupState(group.index, leader is not None, rev, updated, bool(ready), group.surge, problem,
                              len(group.pods), leader_uid, definitive and problem is not None))
    return out


# ---- partition arithmetic ------------------------------------------------------------------------

def canary_partition(replicas: int, *, groups: int | None = None, partition: int | None = None) -> int:
    """The partition that puts the current revision on ``groups`` top groups (or exactly ``partition``)."""
    if (groups is None) == (partition is None):
        raise errors.UsageError("give exactly one of --groups K or --partition P")
    if groups is not None:
        if groups < 0:
            raise errors.UsageError(f"--groups must be 0 or more, got {groups}")
        if groups > replicas:
            raise errors.UsageError(f"--groups {groups} is more than the {plural(replicas, 'group')} this "
                                    f"LeaderWorkerSet has; use --groups {replicas} (or promote --full) "
                                    "to update every group")
        return replicas - groups
    assert partition is not None
    if partition < 0:
        raise errors.UsageError(f"--partition must be 0 or more, got {partition}")
    return partition


def promote_partition(current: int, replicas: int, *, step: int | None = None, full: bool = False) -> int:
    """Lower the partition by ``step`` groups (a partition above replicas counts as replicas) or to 0."""
    if full:
        return 0
    step = 1 if step is None else step
    if step < 1:
        raise errors.UsageError(f"--step must be 1 or more, got {step}")
    return max(0, min(current, replicas) - step)


# ---- plans ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PartitionPlan:
    """What changing the partition of one LWS does right now (the thing the user consents to)."""

    name: str
    namespace: str
    action: str  # canary | promote | pause | resume
    replicas: int
    size: int
    current_key: str | None
    old_partition: int
    new_partition: int
    recreate_now: tuple[int, ...]  # groups >= new partition not on the current revision
    already_updated: tuple[int, ...]  # groups >= new partition already on it
    held: tuple[int, ...]  # groups < new partition (keep what they run)
    held_updated: tuple[int, ...]  # held groups that already run the current revision (not reverted)
    surge_groups: tuple[int, ...]
    ready_now: int  # ready groups (surge included) when planned
    down_at_once: int  # upper bound of groups re-created at the same time
    min_serving: int  # lower bound of ready groups during the step
    max_unavailable: int
    max_surge: int
    old_revisions: dict[int, str | None] = field(default_factory=dict, compare=False)
    annotation_patch: dict[str, str | None] = field(default_factory=dict)
    resource_version: str = field(default="", compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)
    # maxSurge / maxUnavailable set by pause (hold surge) or put back by resume/canary/promote,
    # with the values they replace.
    strategy_patch: dict[str, Any] = field(default_factory=dict)
    old_strategy: dict[str, Any] = field(default_factory=dict, compare=False)
    surge_on_change: int = 0  # surge groups the next template change creates at the new revision
    surge_removed: tuple[int, ...] = ()  # existing surge groups the controller removes (maxSurge -> 0)

    @property
    def changes_partition(self) -> bool:
        return self.new_partition != self.old_partition

    @property
    def noop(self) -> bool:
        return not self.changes_partition and not self.annotation_patch and not self.strategy_patch

    @property
    def new_template_groups(self) -> int:
        """Groups that run the current template once this step and the next template change are done:
        the groups >= the new partition plus the surge groups (which are born at the new revision)."""
        surge = len(self.surge_groups) if self.surge_groups and not self.surge_removed else self.surge_on_change
        return max(0, self.replicas - self.new_partition) + surge

    def key(self) -> tuple:
        """What must not change between the plan and a retried patch (409 handling)."""
        return (self.new_partition, self.recreate_now, self.replicas, self.current_key,
                tuple(sorted(self.annotation_patch.items(), key=lambda kv: kv[0])),
                tuple(sorted((k, str(v)) for k, v in self.strategy_patch.items())))

    def patch(self) -> dict:
        """Merge patch for the LWS (the caller adds the resourceVersion precondition)."""
        body: dict[str, Any] = {}
        ruc: dict[str, Any] = dict(self.strategy_patch)
        if self.changes_partition:
            ruc["partition"] = self.new_partition
        if ruc:
            body["spec"] = {"rolloutStrategy": {"rollingUpdateConfiguration": ruc}}
        if self.annotation_patch:
            body["metadata"] = {"annotations": dict(self.annotation_patch)}
        return body

    def to_dict(self) -> dict:
        return {"name": self.name, "namespace": self.namespace, "action": self.action,
                "replicas": self.replicas, "currentRevision": self.current_key,
                "partition": {"from": self.old_partition, "to": self.new_partition},
                "recreatedNow": list(self.recreate_now), "alreadyUpdated": list(self.already_updated),
                "held": list(self.held), "surgeGroups": list(self.surge_groups),
                "minServingGroups": self.min_serving, "groupsRecreatedAtOnce": self.down_at_once,
                "strategy": {k: {"from": self.old_strategy.get(k), "to": v} for k, v in self.strategy_patch.items()},
                "newTemplateGroups": self.new_template_groups, "notes": list(self.notes)}


def plan_partition(lws: dict, pods: Iterable[dict], current_key: str | None, new_partition: int, *,
                   action: str, annotation_patch: dict[str, str | None] | None = None,
                   health: HealthFn = pods_health, strategy_patch: dict[str, Any] | None = None) -> PartitionPlan:
    """Plan setting the spec partition of ``lws`` to ``new_partition``.

    Groups re-created now are those at or above the new partition that do not run the current
    revision yet (none when no template change is pending: the partition then only decides which
    groups the *next* template change reaches). Without the MaxUnavailableStatefulSet gate the
    leader StatefulSet replaces one leader at a time (golden D2); with it, up to maxUnavailable.
    """
    view = lws_view(lws)
    states = group_states(view, pods, current_key, health)
    regular = [s for s in states if not s.surge]
    surge = tuple(s.index for s in states if s.surge and s.live_pods)
    recreate = tuple(s.index for s in regular if s.index >= new_partition and not s.updated)
    already = tuple(s.index for s in regular if s.index >= new_partition and s.updated)
    held = tuple(s.index for s in regular if s.index < new_partition)
    held_updated = tuple(s.index for s in regular if s.index < new_partition and s.updated)
    ready_now = sum(1 for s in states if s.ready)
    max_unavailable = view.max_unavailable_count
    max_surge = view.max_surge_count
    down = min(len(recreate), max(1, max_unavailable)) if recreate else 0
    # A group that is being re-created is down; at worst those are ready groups right now.
    ready_recreated = sum(1 for s in regular if s.index in recreate and s.ready)
    min_serving = max(0, ready_now - min(down, ready_recreated))
    notes: list[str] = []
    if held_updated and new_partition > view.partition:
        one = len(held_updated) == 1
        notes.append(f"{groups_phrase(held_updated)} already run{'s' if one else ''} the current revision and "
                     f"stay{'s' if one else ''} on it: raising the partition never reverts a group")
    strategy_patch = dict(strategy_patch or {})
    old_strategy = {"maxSurge": view.max_surge, "maxUnavailable": view.max_unavailable}
    surge_cap = _surge_for(view, strategy_patch)
    surge_removed = surge if surge and surge_cap == 0 and "maxSurge" in strategy_patch else ()
    return PartitionPlan(
        strategy_patch=strategy_patch, old_strategy={k: old_strategy[k] for k in strategy_patch},
        surge_on_change=surge_cap, surge_removed=tuple(surge_removed),
        name=view.name, namespace=view.namespace, action=action, replicas=view.replicas, size=view.size,
        current_key=current_key, old_partition=view.partition, new_partition=new_partition,
        recreate_now=recreate, already_updated=already, held=held, held_updated=held_updated,
        surge_groups=surge, ready_now=ready_now, down_at_once=down, min_serving=min_serving,
        max_unavailable=max_unavailable, max_surge=max_surge,
        old_revisions={s.index: s.revision for s in states},
        annotation_patch=dict(annotation_patch or {}),
        resource_version=(lws.get("metadata") or {}).get("resourceVersion", ""), notes=tuple(notes))


def paused_from(lws: dict) -> int | None:
    """The partition saved by ``rollout pause`` (None when not paused by us)."""
    value = ((lws.get("metadata") or {}).get("annotations") or {}).get(keys.PAUSED_PARTITION_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _surge_for(view: LwsView, strategy_patch: dict[str, Any] | None = None) -> int:
    """Surge groups a template change creates (reference §8.2 step 1), after ``strategy_patch``."""
    patch = strategy_patch or {}
    ms = min(int_or_percent(patch.get("maxSurge", view.max_surge), view.replicas, round_up=True), view.replicas)
    mu = int_or_percent(patch.get("maxUnavailable", view.max_unavailable), view.replicas, round_up=False)
    if view.replicas <= 0 or ms <= 0:
        return 0
    return ms if view.replicas > ms else max(0, view.replicas - mu)


def _intstr(value: str) -> int | str:
    """An annotation back into an int-or-percent field value ("1" -> 1, "25%" stays)."""
    return int(value) if value.strip().isdigit() else value


def hold_surge(lws: dict) -> tuple[dict[str, Any], dict[str, str | None]]:
    """(strategy patch, annotation patch) so that a paused LWS starts no surge group on a template change.

    The partition holds groups 0..replicas-1 only: surge groups (indexes >= replicas) are born at the new
    revision whatever the partition says, so pause also sets maxSurge to 0. maxUnavailable 0 is invalid
    with maxSurge 0 (webhook), so it goes to 1, which changes nothing while every group is held.
    """
    view = lws_view(lws)
    annotations = (lws.get("metadata") or {}).get("annotations") or {}
    if view.replicas <= 0 or keys.PAUSED_MAX_SURGE_ANNOTATION in annotations:
        return {}, {}
    if int_or_percent(view.max_surge, view.replicas, round_up=True) <= 0:
        return {}, {}
    strategy: dict[str, Any] = {"maxSurge": 0}
    notes: dict[str, str | None] = {keys.PAUSED_MAX_SURGE_ANNOTATION: str(view.max_surge)}
    if view.max_unavailable_count <= 0:
        strategy["maxUnavailable"] = 1
        notes[keys.PAUSED_MAX_UNAVAILABLE_ANNOTATION] = str(view.max_unavailable)
    return strategy, notes


def release_surge(lws: dict) -> tuple[dict[str, Any], dict[str, str | None]]:
    """(strategy patch, annotation patch) putting back what :func:`hold_surge` changed.

    A value someone changed by hand while paused (maxSurge no longer 0) is theirs: it stays.
    """
    view = lws_view(lws)
    annotations = (lws.get("metadata") or {}).get("annotations") or {}
    strategy: dict[str, Any] = {}
    notes: dict[str, str | None] = {}
    saved_ms = annotations.get(keys.PAUSED_MAX_SURGE_ANNOTATION)
    if saved_ms is not None:
        notes[keys.PAUSED_MAX_SURGE_ANNOTATION] = None
        if int_or_percent(view.max_surge, max(view.replicas, 1), round_up=True) == 0:
            strategy["maxSurge"] = _intstr(saved_ms)
    saved_mu = annotations.get(keys.PAUSED_MAX_UNAVAILABLE_ANNOTATION)
    if saved_mu is not None:
        notes[keys.PAUSED_MAX_UNAVAILABLE_ANNOTATION] = None
        if "maxSurge" in strategy and str(view.max_unavailable) == "1":
            strategy["maxUnavailable"] = _intstr(saved_mu)
    return strategy, notes


def pause_target(lws: dict) -> tuple[int, dict[str, str | None], str | None]:
    """(new partition, annotation patch, why nothing changes or None) for ``rollout pause``."""
    view = lws_view(lws)
    saved = paused_from(lws)
    if view.replicas <= 0:
        return view.partition, {}, "0 replicas: there is no group to hold"
    if saved is not None and view.partition >= view.replicas:
        return view.partition, {}, (f"already paused: partition {view.partition} holds all "
                                    f"{plural(view.replicas, 'group')}; resume restores partition {saved}")
    if saved is None and view.partition >= view.replicas:
        return view.partition, {}, (f"already held: partition {view.partition} >= replicas {view.replicas}, "
                                    "no group is updated (set by hand, not by pause: resume has nothing to "
                                    "restore; use promote or canary)")
    return view.replicas, {keys.PAUSED_PARTITION_ANNOTATION: str(view.partition)}, None


def resume_target(lws: dict) -> tuple[int, dict[str, str | None], str | None]:
    """(new partition, annotation patch, why nothing changes or None) for ``rollout resume``."""
    view = lws_view(lws)
    saved = paused_from(lws)
    annotations = (lws.get("metadata") or {}).get("annotations") or {}
    if saved is None:
        if keys.PAUSED_PARTITION_ANNOTATION in annotations:
            return view.partition, {keys.PAUSED_PARTITION_ANNOTATION: None}, None
        return view.partition, {}, (f"not paused (no {keys.PAUSED_PARTITION_ANNOTATION} annotation); "
                                    f"partition stays {view.partition}")
    return saved, {keys.PAUSED_PARTITION_ANNOTATION: None}, None


def clear_pause(lws: dict) -> dict[str, str | None]:
    """Canary/promote set an explicit partition: a saved pause would be stale, so drop it (the surge it
    held comes back through :func:`release_surge`, whose annotations it drops too)."""
    annotations = (lws.get("metadata") or {}).get("annotations") or {}
    out: dict[str, str | None] = {}
    for key in (keys.PAUSED_PARTITION_ANNOTATION, keys.PAUSED_MAX_SURGE_ANNOTATION,
                keys.PAUSED_MAX_UNAVAILABLE_ANNOTATION):
        if key in annotations:
            out[key] = None
    return out


# ---- rollout status ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RolloutStatus:
    """Partition-aware rollout progress of one LWS at one instant."""

    done: bool
    failing: tuple[tuple[int, str], ...]  # (group index, reason) of groups being updated that fail
    message: str
    observed: bool
    partition: int  # spec partition
    effective_partition: int  # min(partition, replicas)
    replicas: int
    current_key: str | None
    target: tuple[int, ...]  # groups that must be on the current revision
    target_done: tuple[int, ...]
    held: tuple[int, ...]
    held_old: tuple[int, ...]
    surge_groups: tuple[int, ...]
    paused_from: int | None
    groups: tuple[GroupState, ...] = ()
    definitive: bool = False  # some failing group has a problem that will not fix itself

    def to_dict(self) -> dict:
        return {"done": self.done, "message": self.message, "observedGeneration": self.observed,
                "partition": self.partition, "replicas": self.replicas, "currentRevision": self.current_key,
                "updatedCanaryGroups": list(self.target_done), "canaryGroups": list(self.target),
                "heldGroups": list(self.held), "surgeGroups": list(self.surge_groups),
                "pausedFromPartition": self.paused_from,
                "failing": [{"group": i, "reason": r} for i, r in self.failing],
                "groups": [g.to_dict() for g in self.groups]}


def evaluate_status(lws: dict, pods: Iterable[dict], current_key: str | None, *,
                    health: HealthFn = pods_health) -> RolloutStatus:
    """Is the rollout of ``lws`` done, progressing or failing?

    Done means: the controller observed the latest generation, every group >= partition runs the
    current revision and is ready, and (with partition 0) no surge group is left. A finished
    canary (partition > 0) is done; partition >= replicas holds every group and is done at once.
    """
    view = lws_view(lws)
    pods = list(pods)
    observed = view.observed_generation is None or view.observed_generation >= view.generation
    eff = min(max(view.partition, 0), view.replicas)
    states = tuple(group_states(view, pods, current_key, health))
    regular = [s for s in states if not s.surge]
    # A surge group is gone once none of its pods is left alive: the leader goes first and the
    # workers follow through garbage collection, so a leaderless surge group still counts.
    surge = tuple(s.index for s in states if s.surge and s.live_pods)
    target = tuple(s.index for s in regular if s.index >= eff)
    target_done = tuple(s.index for s in regular if s.index >= eff and s.updated and s.ready)
    held = tuple(s.index for s in regular if s.index < eff)
    held_old = tuple(s.index for s in regular if s.index < eff and not s.updated)
    updating = {s.index for s in regular if s.index >= eff} | set(surge)
    failing = tuple((s.index, s.problem) for s in states if s.index in updating and s.problem)
    definitive = any(s.definitive for s in states if s.index in updating and s.problem)
    saved = paused_from(lws)
    name = f"{view.namespace}/{view.name}" if view.namespace else view.name

    surge_blocks = eff == 0 and bool(surge)
    done = observed and len(target_done) == len(target) and not surge_blocks
    held_text = f"{len(held_old)} held at the old revision" if held_old else ""
    if not observed:
        message = (f"Waiting for the controller to observe generation {view.generation} of {name} "
                   f"(observed {view.observed_generation})")
    elif eff >= view.replicas and view.replicas > 0:
        why = f"paused, resume restores partition {saved}" if saved is not None else \
            f"partition {view.partition} >= replicas {view.replicas}"
        updated_count = sum(1 for s in regular if s.updated)
        message = (f"Rollout held ({why}): no group is updated; {updated_count} of {view.replicas} groups run "
                   f"revision {current_key}")
        if surge:
            message += f"; {plural(len(surge), 'surge group')} ({spans(surge)}) still running"
    elif view.replicas == 0:
        message = f"{name} has 0 replicas: nothing to roll out"
    elif eff == 0:
        if len(target_done) < len(target):
            message = (f"Waiting for rollout to finish: {len(target_done)} of {view.replicas} groups updated "
                       "and ready")
        elif surge_blocks:
            message = f"Waiting for rollout to finish: {plural(len(surge), 'surge group')} still to be removed"
        else:
            message = f"Rollout of {name} complete: all {plural(view.replicas, 'group')} on revision {current_key}"
    else:
        scope = f"groups >= {eff}"
        if len(target_done) < len(target):
            message = (f"Waiting for partitioned rollout: {len(target_done)} of {len(target)} canary "
                       f"{'group' if len(target) == 1 else 'groups'} updated ({scope})")
        else:
            message = (f"Partitioned rollout complete (canary done): {len(target_done)} of {len(target)} canary "
                       f"{'group' if len(target) == 1 else 'groups'} updated ({scope})")
        if held_text:
            message += f", {held_text}"
        if surge:
            message += f"; {plural(len(surge), 'surge group')} kept until partition is 0"
    if failing:
        message += "; failing: " + "; ".join(f"group {i}: {r}" for i, r in failing)
    return RolloutStatus(done=done, failing=failing, message=message, observed=observed,
                         partition=view.partition, effective_partition=eff, replicas=view.replicas,
                         current_key=current_key, target=target, target_done=target_done, held=held,
                         held_old=held_old, surge_groups=surge, paused_from=saved, groups=states,
                         definitive=definitive)


class RecreateTracker:
    """Counts the incarnations of each group on the current revision while `status` watches.

    Under RecreateGroupOnPodRestart a crashing pod never shows CrashLoopBackOff: the controller
    re-creates the whole group instead. A group that keeps coming back with new leader UIDs on the
    current revision is the rollout failing, even though each snapshot looks merely "recreating".
    """

    def __init__(self, threshold: int = 3) -> None:
        self.threshold = threshold
        self.seen: dict[int, list[str]] = {}
        self.key: str | None = None

    def observe(self, status: RolloutStatus) -> None:
        if status.current_key != self.key:
            self.key, self.seen = status.current_key, {}
        for g in status.groups:
            if g.leader_uid and g.revision == status.current_key:
                uids = self.seen.setdefault(g.index, [])
                if g.leader_uid not in uids:
                    uids.append(g.leader_uid)

    def failing(self, status: RolloutStatus) -> list[tuple[int, str]]:
        updating = set(status.target) | set(status.surge_groups)
        out = []
        for index, uids in sorted(self.seen.items()):
            if index in updating and len(uids) >= self.threshold:
                out.append((index, f"re-created {len(uids) - 1} times on revision {self.key} "
                                   "(its pods keep failing and the controller re-creates the group)"))
        return out


# ---- history and undo ----------------------------------------------------------------------------

HISTORY_NOTE = ("LWS keeps old revisions only while a rollout or canary is in progress: once a rollout "
                "completes with partition 0 every revision but the current one is deleted")


@dataclass(frozen=True)
class HistoryEntry:
    revision: int
    name: str
    key: str | None
    created: str | None
    leader_images: tuple[str, ...]
    worker_images: tuple[str, ...]
    groups: tuple[int, ...]  # groups whose leader runs it now
    current: bool

    def to_dict(self) -> dict:
        return {"revision": self.revision, "name": self.name, "hash": self.key, "created": self.created,
                "leaderImages": list(self.leader_images), "workerImages": list(self.worker_images),
                "groups": list(self.groups), "current": self.current}


def history(revisions: Iterable[dict], pods: Iterable[dict], current_key: str | None,
            lws_uid: str | None = None) -> list[HistoryEntry]:
    """The LWS's own revisions (D1 filter), oldest first, with images and the groups running each."""
    by_key: dict[str, list[int]] = {}
    for group in group_pods(pods):
        key = group.revision
        if key:
            by_key.setdefault(key, []).append(group.index)
    own = lws_revisions(revisions, lws_uid)
    if current_key is None and own:
        current_key = revision_key(own[-1])
    out = []
    for rev in own:
        key = revision_key(rev)
        lwt = revision_spec(rev).get("leaderWorkerTemplate") or {}
        leader, worker = template_images(lwt)
        out.append(HistoryEntry(int(rev.get("revision") or 0), (rev.get("metadata") or {}).get("name", ""), key,
                                (rev.get("metadata") or {}).get("creationTimestamp"), tuple(leader),
                                tuple(worker), tuple(sorted(by_key.get(key or "", []))), key == current_key))
    return out


@dataclass(frozen=True)
class UndoPlan:
    name: str
    namespace: str
    to_revision: int
    to_key: str | None
    from_key: str | None
    template: dict = field(compare=False, repr=False)
    network_config: dict | None = field(compare=False, repr=False)
    recreate: tuple[int, ...]  # groups >= partition not on the target revision
    held: tuple[int, ...]
    partition: int
    images_from: tuple[tuple[str, ...], tuple[str, ...]]
    images_to: tuple[tuple[str, ...], tuple[str, ...]]
    resource_version: str = field(default="", compare=False)

    @property
    def noop(self) -> bool:
        return self.to_key is not None and self.to_key == self.from_key

    def key(self) -> tuple:
        return (self.to_revision, self.to_key, self.from_key, self.recreate, self.partition)

    def json_patch(self, lws: dict) -> list[dict]:
        spec = lws.get("spec") or {}
        ops = [{"op": "replace" if "leaderWorkerTemplate" in spec else "add",
                "path": "/spec/leaderWorkerTemplate", "value": self.template}]
        if self.network_config is not None:
            ops.append({"op": "replace" if "networkConfig" in spec else "add", "path": "/spec/networkConfig",
                        "value": self.network_config})
        return ops


def plan_undo(lws: dict, revisions: Iterable[dict], pods: Iterable[dict], current_key: str | None,
              to_revision: int | None = None) -> UndoPlan:
    """Plan putting back the template of ``to_revision`` (default: the newest one before the current)."""
    view = lws_view(lws)
    own = lws_revisions(revisions, view.uid or None)
    if current_key is None and own:
        current_key = revision_key(own[-1])
    existing = ", ".join(str(r.get("revision")) for r in own) or "none"
    if to_revision is None:
        older = [r for r in own if revision_key(r) != current_key]
        if not older:
            raise errors.LwsError(f"no earlier revision of {view.name} exists to undo to (existing: {existing}); "
                                  + HISTORY_NOTE,
                                  hint="re-apply the previous manifest, or keep your own copy of the template")
        target = older[-1]
    else:
        matches = [r for r in own if int(r.get("revision") or 0) == to_revision]
        if not matches:
            raise errors.LwsError(f"revision {to_revision} of {view.name} no longer exists (existing: {existing}); "
                                  + HISTORY_NOTE,
                                  hint="re-apply the manifest of that revision, or see: kubectl lws rollout "
                                       f"history {view.name}")
        target = matches[0]
    spec = revision_spec(target)
    lwt = spec.get("leaderWorkerTemplate") or {}
    to_key = revision_key(target)
    eff = min(view.partition, view.replicas)
    groups = [g for g in group_pods(pods, view.replicas) if not g.surge]
    recreate = tuple(g.index for g in groups if g.index >= eff and g.revision != to_key)
    held = tuple(g.index for g in groups if g.index < eff)
    cur_lwt = (lws.get("spec") or {}).get("leaderWorkerTemplate") or {}
    return UndoPlan(name=view.name, namespace=view.namespace, to_revision=int(target.get("revision") or 0),
                    to_key=to_key, from_key=current_key, template=lwt,
                    network_config=spec.get("networkConfig"), recreate=recreate, held=held, partition=view.partition,
                    images_from=tuple(map(tuple, template_images(cur_lwt))),  # type: ignore[arg-type]
                    images_to=tuple(map(tuple, template_images(lwt))),  # type: ignore[arg-type]
                    resource_version=(lws.get("metadata") or {}).get("resourceVersion", ""))


# ---- HPA -------------------------------------------------------------------------------------------

def hpa_note(hpa: dict, action: str) -> str:
    spec = hpa.get("spec") or {}
    name = (hpa.get("metadata") or {}).get("name", "")
    bounds = f"{spec.get('minReplicas', 1)}-{spec.get('maxReplicas', '?')} groups"
    if action == "pause":
        return (f"HPA {name} scales this LWS ({bounds}): groups it adds start on the current revision, so "
                "the pause only holds the groups that exist now")
    return (f"HPA {name} scales this LWS ({bounds}): the partition is an index, so groups the HPA adds "
            "above it start on the current revision and a scale-down removes the highest (canary) groups first")
