"""Grouping LWS pods into groups, and typed views over the raw LWS object.

Pure functions over API dicts. Every command that thinks in groups (status, logs, verify,
restart, rollout) starts here, so the rules live once: group by the ``group-index`` label,
order by ``worker-index``, leader = worker 0, surge = index >= spec.replicas (reference §4, §10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from kubectl_lws.model import keys


def _int_or(value: Any, default: int | None = None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """Resolve an IntOrString (``2`` or ``"25%"``) against ``total`` like the controller does."""
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1] or 0)
        exact = total * pct
        return -(-exact // 100) if round_up else exact // 100
    return int(value)


@dataclass(frozen=True)
class LwsView:
    """The fields of an LWS that the plugin reasons about, with the webhook defaults applied."""

    name: str
    namespace: str
    uid: str
    replicas: int
    size: int
    partition: int
    max_unavailable: Any
    max_surge: Any
    restart_policy: str
    startup_policy: str
    subdomain_policy: str
    exclusive_topology: str | None
    subgroup_exclusive_topology: str | None
    subgroup_size: int | None
    subgroup_policy_type: str | None
    generation: int
    observed_generation: int | None
    status: dict
    annotations: dict
    labels: dict
    creation_timestamp: str | None
    raw: dict = field(repr=False, compare=False)

    @property
    def max_unavailable_count(self) -> int:
        return int_or_percent(self.max_unavailable, self.replicas, round_up=False)

    @property
    def max_surge_count(self) -> int:
        return min(int_or_percent(self.max_surge, self.replicas, round_up=True), self.replicas)

    def condition(self, ctype: str) -> dict | None:
        for cond in self.status.get("conditions") or []:
            if cond.get("type") == ctype:
                return cond
        return None

    def leader_template(self) -> dict:
        lwt = self.raw.get("spec", {}).get("leaderWorkerTemplate", {})
        return lwt.get("leaderTemplate") or lwt.get("workerTemplate") or {}

    def worker_template(self) -> dict:
        return self.raw.get("spec", {}).get("leaderWorkerTemplate", {}).get("workerTemplate") or {}


def lws_view(obj: dict) -> LwsView:
    """Read an LWS dict; missing fields get the defaults the webhook would set (golden B.2)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    lwt = spec.get("leaderWorkerTemplate") or {}
    ruc = (spec.get("rolloutStrategy") or {}).get("rollingUpdateConfiguration") or {}
    sgp = lwt.get("subGroupPolicy") or {}
    annotations = meta.get("annotations") or {}
    status = obj.get("status") or {}
    return LwsView(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        uid=meta.get("uid", ""),
        replicas=_int_or(spec.get("replicas"), 1) or 0,
        size=_int_or(lwt.get("size"), 1) or 1,
        partition=_int_or(ruc.get("partition"), 0) or 0,
        max_unavailable=ruc.get("maxUnavailable", 1),
        max_surge=ruc.get("maxSurge", 0),
        restart_policy=lwt.get("restartPolicy") or "RecreateGroupOnPodRestart",
        startup_policy=spec.get("startupPolicy") or "LeaderCreated",
        subdomain_policy=(spec.get("networkConfig") or {}).get("subdomainPolicy") or "Shared",
        exclusive_topology=annotations.get(keys.EXCLUSIVE_TOPOLOGY_ANNOTATION),
        subgroup_exclusive_topology=annotations.get(keys.SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION),
        subgroup_size=_int_or(sgp.get("subGroupSize")),
        subgroup_policy_type=(sgp.get("subGroupPolicyType") or "LeaderWorker") if sgp else None,
        generation=_int_or(meta.get("generation"), 0) or 0,
        observed_generation=_int_or(status.get("observedGeneration")),
        status=status,
        annotations=annotations,
        labels=meta.get("labels") or {},
        creation_timestamp=meta.get("creationTimestamp"),
        raw=obj,
    )


# ---- pod helpers -------------------------------------------------------------------------------

def labels(pod: dict) -> dict:
    return (pod.get("metadata") or {}).get("labels") or {}


def pod_name(pod: dict) -> str:
    return (pod.get("metadata") or {}).get("name", "")


def _pod_order(pod: dict) -> tuple[int, str]:
    wi = worker_index(pod)
    return (wi if wi is not None else 1 << 30, pod_name(pod))


def group_index(pod: dict) -> int | None:
    """The pod's group, or None when the label is missing or not an integer (hash identity, §12)."""
    return _int_or(labels(pod).get(keys.GROUP_INDEX_LABEL))


# label value -> int: the same few strings ("0".."7") are parsed for every pod of a big LWS
_INDEX_CACHE: dict[str, int | None] = {}


def _label_index(value: Any) -> int | None:
    """A label's index as the controller writes it (``strconv.Itoa``): decimal digits only, so
    ``abc``, ``-1``, `` 1`` or ``1_0`` are None, never a number Python's int() would make of them."""
    if value.__class__ is str and value.isascii() and value.isdigit():
        return int(value)
    return None


def worker_index(pod: dict) -> int | None:
    """The pod's worker index, or None when the label is missing or not a non-negative integer."""
    value = ((pod.get("metadata") or {}).get("labels") or {}).get(keys.WORKER_INDEX_LABEL)
    if value.__class__ is str:
        if value in _INDEX_CACHE:
            return _INDEX_CACHE[value]
        parsed = _label_index(value)
        if len(_INDEX_CACHE) < 4096:
            _INDEX_CACHE[value] = parsed
        return parsed
    return _label_index(value)


def worker_index_problem(pod: dict, size: int | None = None) -> str | None:
    """Why the pod's worker index cannot place it in its group (None when it can): missing, not a
    number, or beyond the group ``size`` (else the pod's size annotation)."""
    raw = labels(pod).get(keys.WORKER_INDEX_LABEL)
    index = worker_index(pod)
    if raw is None:
        return "no worker-index label"
    if index is None:
        return f'worker-index "{raw}" is not a number' if not str(raw).lstrip("-").isdigit() \
            else f"worker-index {raw} is negative"
    if size is None:
        size = _label_index(((pod.get("metadata") or {}).get("annotations") or {}).get(keys.SIZE_ANNOTATION))
    if size is not None and index >= size:
        return f"worker-index {index} is beyond the group size {size}"
    return None


def subgroup_index(pod: dict) -> int | None:
    return _int_or(labels(pod).get(keys.SUBGROUP_INDEX_LABEL))


def revision(pod_or_obj: dict) -> str | None:
    return labels(pod_or_obj).get(keys.REVISION_LABEL)


def is_terminating(obj: dict) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def pod_ready(pod: dict) -> bool:
    """Running with condition Ready=True (what the controller counts, §8.1)."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def container_statuses(pod: dict, *, init: bool = True) -> list[dict]:
    status = pod.get("status") or {}
    out = list(status.get("containerStatuses") or [])
    if init:
        out += list(status.get("initContainerStatuses") or [])
    return out


def pod_restarts(pod: dict) -> int:
    return sum(int(cs.get("restartCount") or 0) for cs in container_statuses(pod))


def container_names(pod_or_template: dict, *, init: bool = False) -> list[str]:
    """Container names of a pod or pod template (``spec.containers`` order)."""
    spec = pod_or_template.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    if init:
        names = [c.get("name", "") for c in spec.get("initContainers") or []] + names
    return names


def default_container(pod: dict) -> str | None:
    """kubectl's rule: the default-container annotation if it names a container, else the first."""
    names = container_names(pod)
    wanted = ((pod.get("metadata") or {}).get("annotations") or {}).get(keys.DEFAULT_CONTAINER_ANNOTATION)
    if wanted and wanted in names:
        return wanted
    return names[0] if names else None


# ---- grouping -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stray:
    """A live pod of a group that has no place in it: its worker index is missing, not a number, beyond
    the group size, or another pod's. Shown as a finding, never counted (not ready, not a leader)."""

    pod: dict
    why: str

    @property
    def name(self) -> str:
        return pod_name(self.pod)

    @property
    def label(self) -> str | None:
        """The worker-index label as served."""
        return labels(self.pod).get(keys.WORKER_INDEX_LABEL)

    def to_json(self) -> dict:
        return {"name": self.name, "workerIndex": None, "workerIndexLabel": self.label, "reason": self.why}


@dataclass
class Group:
    """One LWS replica: the leader (worker 0) and its workers, as they exist right now."""

    index: int
    pods: list[dict] = field(default_factory=list)  # live pods, leader first, by worker index
    terminating: list[dict] = field(default_factory=list)  # pods with a deletionTimestamp
    surge: bool = False
    strays: list[Stray] = field(default_factory=list)  # live pods without a usable worker index

    @property
    def leader(self) -> dict | None:
        for pod in self.pods:
            if worker_index(pod) == 0:
                return pod
        return None

    @property
    def workers(self) -> list[dict]:
        return [p for p in self.pods if (worker_index(p) or 0) > 0]

    @property
    def revision(self) -> str | None:
        """The group's revision is its leader's (the controller's rule, §8.1)."""
        leader = self.leader
        return revision(leader) if leader else None

    def pod_for_worker(self, index: int) -> dict | None:
        for pod in self.pods:
            if worker_index(pod) == index:
                return pod
        return None

    def missing_workers(self, size: int) -> list[int]:
        present = {worker_index(p) for p in self.pods}
        return [w for w in range(size) if w not in present]


def group_pods(pods: Iterable[dict], replicas: int | None = None, *,
               include_empty: bool = True, size: int | None = None) -> list[Group]:
    """Group pods by ``group-index``, ordered by index; workers ordered by ``worker-index``.

    With ``replicas`` every index 0..replicas-1 gets a Group even when it has no pod (a missing
    group is something to show, not to hide); pods at index >= replicas are surge groups. A live
    pod whose worker index is unusable (``worker_index_problem`` against ``size``, else the pod's size
    annotation), or a second pod at the same index, is a :class:`Stray` of its group, not one of its pods.
    """
    groups: dict[int, Group] = {}
    for pod in pods:
        gi = group_index(pod)
        if gi is None:
            continue
        group = groups.setdefault(gi, Group(gi))
        if is_terminating(pod):
            group.terminating.append(pod)
            continue
        why = worker_index_problem(pod, size)
        if why is not None:
            group.strays.append(Stray(pod, why))
        else:
            group.pods.append(pod)
    if replicas is not None and include_empty:
        for gi in range(replicas):
            groups.setdefault(gi, Group(gi))
    ordered = sorted(groups.values(), key=lambda g: g.index)
    for group in ordered:
        group.pods.sort(key=_pod_order)
        _split_duplicates(group)
        group.terminating.sort(key=lambda p: (worker_index(p) or 0, pod_name(p)))
        group.surge = replicas is not None and group.index >= replicas
    return ordered


def _split_duplicates(group: Group) -> None:
    """Two live pods at one worker index: the one the controller would have made (its name, else the
    older) stays, the other becomes a stray."""
    by_index: dict[int | None, list[dict]] = {}
    for pod in group.pods:
        by_index.setdefault(worker_index(pod), []).append(pod)
    if all(len(same) == 1 for same in by_index.values()):
        return
    keep: list[dict] = []
    for index, same in by_index.items():
        if len(same) > 1:
            lws = labels(same[0]).get(keys.NAME_LABEL, "")
            expected = f"{lws}-{group.index}" if index == 0 else f"{lws}-{group.index}-{index}"
            same = sorted(same, key=lambda p: (pod_name(p) != expected,
                                               (p.get("metadata") or {}).get("creationTimestamp") or "",
                                               pod_name(p)))
            group.strays += [Stray(p, f"worker-index {index} is also {pod_name(same[0])}'s") for p in same[1:]]
        keep.append(same[0])
    group.pods = sorted(keep, key=_pod_order)


def pods_by_lws(pods: Iterable[dict]) -> dict[tuple[str, str], list[dict]]:
    """Split one pod LIST across LWS objects: (namespace, lws name) -> pods."""
    out: dict[tuple[str, str], list[dict]] = {}
    for pod in pods:
        name = labels(pod).get(keys.NAME_LABEL)
        if not name:
            continue
        ns = (pod.get("metadata") or {}).get("namespace", "")
        out.setdefault((ns, name), []).append(pod)
    return out
