"""Plans for the disruptive verbs (restart, scale): what will go, in what order, what keeps serving.

Pure functions over raw API dicts so the plan the user agrees to can be computed, printed and
tested without a cluster; the commands only execute a plan. The rules come from the reference:
restarting group *i* = deleting leader ``L-<i>`` with Foreground propagation (§8.5), a template
restart = the ``restartedAt`` annotation in both templates (§8.3), scale-down removes the highest
indexes (§8.4), and an HPA that targets the LWS undoes a manual scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from kubectl_lws.model import keys
from kubectl_lws.model.groups import Group, LwsView, container_names, group_pods, pod_name
from kubectl_lws.model.health import current_revision, group_health

ACCELERATOR_SUFFIXES = ("/gpu",)


# ---- groups as the plan sees them -----------------------------------------------------------------

@dataclass(frozen=True)
class GroupTarget:
    """One group as it exists when the plan is made (the incarnation the user agreed to touch)."""

    index: int
    leader: str | None
    leader_uid: str | None
    pods: tuple[str, ...]
    pod_uids: frozenset[str]
    nodes: tuple[str, ...]
    ready: bool  # every expected pod present and Ready
    leader_terminating: bool = False
    state: str = field(default="", compare=False)  # model/health's "State: reason" label

    @property
    def node_text(self) -> str:
        return ",".join(self.nodes) if self.nodes else "(unscheduled)"


def target_of(view: LwsView, group: Group, current: str | None = None) -> GroupTarget:
    """The group as the plan shows it; readiness and its reason come from model/health."""
    health = group_health(view, group, current_revision=current)
    leader = group.leader
    terminating_leader = next((p for p in group.terminating if _worker_zero(p)), None)
    every = [*group.pods, *group.terminating]
    nodes: list[str] = []
    for pod in every:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node not in nodes:
            nodes.append(node)
    return GroupTarget(
        index=group.index,
        leader=pod_name(leader) if leader else (pod_name(terminating_leader) if terminating_leader else None),
        leader_uid=_uid(leader) if leader else None,
        pods=tuple(pod_name(p) for p in group.pods),
        pod_uids=frozenset(_uid(p) for p in every if _uid(p)),
        nodes=tuple(nodes),
        ready=health.group_ready,
        leader_terminating=leader is None and terminating_leader is not None,
        state=health.label,
    )


def _worker_zero(pod: dict) -> bool:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(keys.WORKER_INDEX_LABEL) == "0"


def _uid(pod: dict | None) -> str:
    return ((pod or {}).get("metadata") or {}).get("uid", "")


def targets_by_index(view: LwsView, pods: Iterable[dict]) -> dict[int, GroupTarget]:
    """Every group 0..replicas-1 (and any surge group that exists) as a GroupTarget."""
    pods = list(pods)
    current = current_revision(view, pods)
    return {g.index: target_of(view, g, current) for g in group_pods(pods, view.replicas)}


def serving_text(serving: int, total: int) -> str:
    word = "group" if total == 1 else "groups"
    verb = "keeps" if serving == 1 else "keep"
    return f"{serving} of {total} {word} {verb} serving"


def _group_line(t: GroupTarget) -> str:
    state = t.state or ("Ready" if t.ready else "not Ready")
    pods = ", ".join(t.pods) if t.pods else "(no pods)"
    return f"group {t.index}: {state}; pods {pods}; nodes {t.node_text}"


# ---- restart ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RestartPlan:
    """What ``kubectl lws restart`` will do; equality is what a 409 re-plan is compared with."""

    lws: str
    namespace: str
    mode: str  # "groups" (delete leaders now), "rolling" (batch by batch), "template" (restartedAt)
    total: int  # spec.replicas
    targets: tuple[GroupTarget, ...] = ()
    batches: tuple[tuple[int, ...], ...] = ()
    max_unavailable: int = 1
    min_serving: int = 0  # fewest Ready groups outside the groups being restarted, at the worst moment
    warnings: tuple[str, ...] = field(default=(), compare=False)
    size: int = 1  # pods per group

    def target(self, index: int) -> GroupTarget:
        return next(t for t in self.targets if t.index == index)

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.mode == "template":
            out.append("set kubectl.kubernetes.io/restartedAt in the leader and worker templates: the LWS "
                       f"controller re-creates groups by its rolling-update strategy (maxUnavailable "
                       f"{self.max_unavailable})")
        for t in self.targets:
            out.append(_group_line(t))
        if self.mode == "groups":
            leaders = ", ".join(t.leader or "?" for t in self.targets)
            out.append(f"delete leader pod(s) {leaders} (propagation Foreground): each group's workers "
                       "go first, then the controller re-creates the whole group")
        elif self.mode == "rolling":
            order = " -> ".join("[" + ",".join(str(i) for i in b) + "]" for b in self.batches)
            out.append(f"rolling, at most {self.max_unavailable} group(s) at a time, highest index first: "
                       f"{order}; each batch must be Ready again before the next")
        if self.mode != "template" or self.targets:
            out.append(f"capacity: {serving_text(self.min_serving, self.total)} during the restart")
        return out


def restartable(view: LwsView, by_index: dict[int, GroupTarget], indexes: Sequence[int]) -> None:
    """ValueError unless every index is a group the controller manages now: below ``replicas``, or a
    surge group of a rollout in progress (``replicas <= i < replicas + maxSurge``, with pods). A pod left
    at another index (a leftover of an earlier size) is named: deleting it would not restart a group."""
    surge_end = view.replicas + view.max_surge_count
    valid = [i for i in by_index if i < view.replicas or i < surge_end]
    bad = sorted(set(indexes) - set(valid))
    if not bad:
        return
    have = f"groups {_range_text(range(view.replicas))}" if view.replicas else "no groups"
    surge = sorted(i for i in valid if i >= view.replicas)
    if surge:
        have += f" and surge {_range_text(surge)}"
    leftovers = {i: by_index[i] for i in bad if i in by_index and (by_index[i].pods or by_index[i].leader)}
    if not leftovers:
        raise ValueError(f"group {', '.join(map(str, bad))} does not exist: {view.name} has {have}")
    what = [f"group {i} is only pod(s) {', '.join(t.pods) or t.leader} left beyond replicas {view.replicas} "
            f"(maxSurge {view.max_surge_count})" for i, t in leftovers.items()]
    raise ValueError(f"group {', '.join(map(str, bad))} is not a group of {view.name} ({view.name} has {have}): "
                     + "; ".join(what) + ": the controller does not manage them, so restarting cannot re-create "
                     "them; delete them if they should not be there")


def plan_restart_groups(view: LwsView, pods: Sequence[dict], indexes: Sequence[int]) -> RestartPlan:
    """Restart the given groups at once by deleting their leaders (ValueError on a bad index)."""
    by_index = targets_by_index(view, pods)
    wanted = sorted(set(indexes), reverse=True)
    restartable(view, by_index, wanted)
    targets = tuple(by_index[i] for i in wanted)
    serving = sum(1 for i, t in by_index.items() if t.ready and i not in wanted and i < view.replicas)
    return RestartPlan(view.name, view.namespace, "groups", view.replicas, targets, (tuple(wanted),),
                       len(wanted), serving, tuple(_restart_warnings(view, by_index, targets)), view.size)


def plan_rolling_restart(view: LwsView, pods: Sequence[dict], max_unavailable: int,
                         indexes: Sequence[int] | None = None) -> RestartPlan:
    """Every group (or ``indexes``), highest index first, in batches of ``max_unavailable`` (>= 1)."""
    if max_unavailable < 1:
        raise ValueError("--max-unavailable must be at least 1")
    by_index = targets_by_index(view, pods)
    if indexes is not None:
        restartable(view, by_index, indexes)
        order = sorted(set(indexes), reverse=True)
    else:
        order = sorted((i for i in by_index if i < view.replicas), reverse=True)
    batches = tuple(tuple(order[k:k + max_unavailable]) for k in range(0, len(order), max_unavailable))
    ready = {i for i, t in by_index.items() if t.ready and i < view.replicas}
    serving = min((len(ready - set(b)) for b in batches), default=len(ready))
    targets = tuple(by_index[i] for i in order)
    warnings = _restart_warnings(view, by_index, targets)
    down = sorted(set(order) - ready)
    if down:
        warnings.append(f"group(s) {_range_text(down)} are not Ready now: they count against capacity "
                        "until they come back")
    return RestartPlan(view.name, view.namespace, "rolling", view.replicas, targets, batches,
                       max_unavailable, serving, tuple(warnings), view.size)


def plan_template_restart(view: LwsView, pods: Sequence[dict]) -> RestartPlan:
    """The ``kubectl rollout restart`` equivalent: the controller rolls by its own strategy (§8.3)."""
    by_index = targets_by_index(view, pods)
    affected = sorted((i for i in by_index if view.partition <= i < view.replicas), reverse=True)
    targets = tuple(by_index[i] for i in affected)
    ready = {i for i, t in by_index.items() if t.ready and i < view.replicas}
    step = max(1, view.max_unavailable_count)
    serving = max(0, len(ready) - step) if affected else len(ready)
    warnings: list[str] = []
    if view.partition > 0:
        warnings.append(f"partition is {view.partition}: only groups >= {view.partition} restart; groups "
                        f"{_range_text(list(range(min(view.partition, view.replicas))))} keep running until "
                        "the partition is lowered")
    if view.max_surge_count:
        warnings.append(f"maxSurge {view.max_surge}: the controller adds up to {view.max_surge_count} extra "
                        "group(s) while it rolls")
    return RestartPlan(view.name, view.namespace, "template", view.replicas, targets, (), step, serving,
                       tuple(warnings), view.size)


def template_restart_patch(view: LwsView, timestamp: str) -> dict:
    """Merge patch setting ``restartedAt`` in the worker template and, if set, the leader template."""
    annotation = {keys.RESTARTED_AT_ANNOTATION: timestamp}
    lwt: dict[str, Any] = {"workerTemplate": {"metadata": {"annotations": annotation}}}
    if (view.raw.get("spec") or {}).get("leaderWorkerTemplate", {}).get("leaderTemplate"):
        lwt["leaderTemplate"] = {"metadata": {"annotations": dict(annotation)}}
    return {"spec": {"leaderWorkerTemplate": lwt}}


def _restart_warnings(view: LwsView, by_index: dict[int, GroupTarget],
                      targets: Sequence[GroupTarget]) -> list[str]:
    warnings: list[str] = []
    for t in targets:
        if t.leader_terminating:
            warnings.append(f"group {t.index}: its leader is already being deleted; it will be skipped")
        elif t.leader is None:
            warnings.append(f"group {t.index}: no leader pod right now; it will be skipped")
    cond = view.condition("UpdateInProgress")
    if cond and cond.get("status") == "True":
        warnings.append("a rollout is in progress: re-created groups below the partition come back at the "
                        "old revision")
    return warnings


def _range_text(indexes: Sequence[int]) -> str:
    """``0-2`` for contiguous indexes, else ``0,2,5``; a range stays a range (it may be huge)."""
    if not indexes:
        return "(none)"
    if isinstance(indexes, range) and indexes.step == 1:
        return f"{indexes[0]}-{indexes[-1]}" if len(indexes) > 2 else ",".join(str(i) for i in indexes)
    ordered = sorted(indexes)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(i) for i in ordered)


# ---- scale ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScalePlan:
    lws: str
    namespace: str
    current: int
    target: int
    size: int
    removed: tuple[GroupTarget, ...] = ()
    added: Sequence[int] = ()  # a range: a scale to 10^6 groups must not build 10^6 of anything
    accelerators_per_group: dict[str, int] = field(default_factory=dict, compare=False)
    hpas: tuple[str, ...] = field(default=(), compare=False)

    @property
    def direction(self) -> str:
        return "up" if self.target > self.current else "down" if self.target < self.current else "none"

    @property
    def pods_added(self) -> int:
        return len(self.added) * self.size

    @property
    def accelerators_added(self) -> dict[str, int]:
        return {k: v * len(self.added) for k, v in self.accelerators_per_group.items()}

    def lines(self) -> list[str]:
        out = [f"replicas {self.current} -> {self.target} (groups of {self.size} pods)"]
        if self.direction == "down":
            out.append(f"groups {_range_text([t.index for t in self.removed] or range(self.target, self.current))}"
                       " will be deleted (scale-down always removes the highest indexes):")
            out.extend("  " + _group_line(t) for t in self.removed)
            out.append(f"capacity: {self.target} of {self.current} groups remain")
        elif self.direction == "up":
            acc = ", ".join(f"{n} {k}" for k, n in sorted(self.accelerators_added.items()))
            out.append(f"new groups {_range_text(self.added)}: {self.pods_added} pods"
                       + (f", {acc}" if acc else ", no GPUs requested"))
        for hpa in self.hpas:
            out.append(f"HPA {hpa} targets this LWS: it will undo a manual scale")
        return out


def plan_scale(view: LwsView, pods: Sequence[dict], current: int, target: int,
               hpas: Sequence[str] = ()) -> ScalePlan:
    """``current`` comes from /scale (what the patch replaces), not from a possibly older LWS read."""
    if target < 0:
        raise ValueError("replicas must be a non-negative integer")
    removed: tuple[GroupTarget, ...] = ()
    if target < current:
        by_index = targets_by_index(view, pods)
        removed = tuple(by_index[i] for i in sorted(by_index, reverse=True) if target <= i < max(current, 0)
                        and i in by_index)
    added = range(current, target) if target > current else range(0)
    return ScalePlan(view.name, view.namespace, current, target, view.size, removed, added,
                     group_accelerators(view), tuple(hpas))


def _quantity(value: Any) -> int:
    """Extended resources (GPUs) are whole numbers; anything else counts as 0."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def template_accelerators(template: dict) -> dict[str, int]:
    """GPUs a pod template asks for: limits (extended resources must set them), else requests."""
    out: dict[str, int] = {}
    spec = template.get("spec") or {}
    for container in spec.get("containers") or []:
        res = container.get("resources") or {}
        merged = {**(res.get("requests") or {}), **(res.get("limits") or {})}
        for name, value in merged.items():
            if name.endswith(ACCELERATOR_SUFFIXES):
                out[name] = out.get(name, 0) + _quantity(value)
    return out


def group_accelerators(view: LwsView) -> dict[str, int]:
    """GPUs per group: the leader template once, the worker template size-1 times."""
    total = dict(template_accelerators(view.leader_template()))
    if view.size > 1:
        for name, count in template_accelerators(view.worker_template()).items():
            total[name] = total.get(name, 0) + count * (view.size - 1)
    return {k: v for k, v in total.items() if v}


def hpa_objects_targeting(hpas: Iterable[dict], lws_name: str) -> list[dict]:
    """HPAs whose scaleTargetRef is this LWS (any autoscaling version), sorted by name.

    Shared by scale (the HPA undoes a manual scale) and rollout (groups it adds land above the
    partition); a ref without apiVersion counts, one of another API group does not.
    """
    out = []
    for hpa in hpas:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        api_version = ref.get("apiVersion", "")
        if ref.get("kind") == keys.LWS_KIND and ref.get("name") == lws_name and \
                (not api_version or api_version.split("/")[0] == keys.LWS_GROUP):
            out.append(hpa)
    return sorted(out, key=lambda h: (h.get("metadata") or {}).get("name", ""))


def hpas_targeting(hpas: Iterable[dict], lws_name: str) -> list[str]:
    """Names of the HPAs whose scaleTargetRef is this LWS."""
    return [(h.get("metadata") or {}).get("name", "") for h in hpa_objects_targeting(hpas, lws_name)]


def containers_of(pod: dict) -> list[str]:
    """Init containers then containers: every container whose logs a restart destroys."""
    return container_names(pod, init=True)
