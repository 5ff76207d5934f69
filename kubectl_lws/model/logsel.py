"""Which pods and containers ``kubectl lws logs`` streams, how each stream is labelled and coloured.

Pure functions over pod dicts (no network, no printing) so the follow loop can recompute the whole
selection after every watch event and simply diff it: a stream is identified by its *slot* (group,
worker, container), which survives group re-creation, and by its *instance* (pod UID, container,
restart count), which changes when LWS re-creates the group or the kubelet restarts the container.
That split is what lets ``-f`` follow the group rather than the pod (idea from stern's target state
keyed by container ID; kwok and the sandbox have no container IDs, so the restart count stands in).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Iterable

from kubectl_lws.errors import UsageError
from kubectl_lws.model import groups as g

# SGR foreground codes, one per group (index modulo the palette): bright first, then normal, so
# neighbouring groups never share a hue. Red is last: it reads as an error.
PALETTE: tuple[str, ...] = ("96", "92", "95", "93", "94", "36", "32", "35", "33", "34", "91", "31")


def group_color(group: int | str) -> str:
    """Stable SGR colour for a group: the same group index gets the same colour in every run."""
    if isinstance(group, int):
        return PALETTE[group % len(PALETTE)]
    return PALETTE[zlib.crc32(group.encode()) % len(PALETTE)]


def group_key(pod: dict) -> int | str | None:
    """The group a pod belongs to: the integer index, or the raw label (hash identity, ref §12)."""
    gi = g.group_index(pod)
    if gi is not None:
        return gi
    raw = g.labels(pod).get("leaderworkerset.sigs.k8s.io/group-index")
    return raw or None


def group_label(group: int | str) -> str:
    return str(group) if isinstance(group, int) else str(group)[:8]


def make_prefix(group: int | str, worker: int | None, container: str | None = None) -> str:
    """``g1/w0`` (or ``g1/w0/sidecar`` when a pod shows several containers); ``g1/w?`` for a pod whose
    worker index has no place in its group (model/groups.Stray)."""
    base = f"g{group_label(group)}/w{'?' if worker is None else worker}"
    return f"{base}/{container}" if container else base


@dataclass(frozen=True)
class Target:
    """One log stream: a container instance of a selected pod."""

    group: int | str
    worker: int | None  # None: a stray (its worker-index label is unusable or another pod's)
    pod: str
    uid: str
    container: str
    restarts: int
    prefix: str
    color: str

    @property
    def slot(self) -> tuple[str, int, str]:
        """What the user asked to follow; stays the same across re-creation."""
        return (str(self.group), self.worker, self.container)

    @property
    def instance(self) -> tuple[str, str, int]:
        """What the kubelet serves; a new value means a new stream to attach."""
        return (self.uid, self.container, self.restarts)

    @property
    def label(self) -> str:
        """The prefix without the container (for markers)."""
        return make_prefix(self.group, self.worker)


@dataclass(frozen=True)
class Waiting:
    """A selected pod/container that has no log to read yet (Pending, not started)."""

    group: int | str
    worker: int | None
    pod: str
    uid: str
    container: str
    reason: str

    @property
    def label(self) -> str:
        return make_prefix(self.group, self.worker)


@dataclass
class Selection:
    targets: list[Target] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. pods without the requested container
    ordered: list["Target | Waiting"] = field(default_factory=list)  # both, in display order


def sort_key(group: int | str, worker: int | None) -> tuple[int, int | str, int]:
    worker = 1 << 30 if worker is None else worker  # strays last in their group
    return (0, group, worker) if isinstance(group, int) else (1, group, worker)


def existing_groups(pods: Iterable[dict], replicas: int) -> list[int | str]:
    """Group indexes that exist now: 0..replicas-1 plus any group a pod carries (surge groups)."""
    found: set[int | str] = set(range(replicas))
    for pod in pods:
        key = group_key(pod)
        if key is not None:
            found.add(key)
    return sorted(found, key=lambda k: sort_key(k, 0))


def describe_indexes(values: Iterable[int | str]) -> str:
    """``0-2, 5`` for a readable list of indexes."""
    ints = sorted(v for v in values if isinstance(v, int))
    parts: list[str] = []
    start = prev = None
    for v in ints:
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = v
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else str(start))
    parts += [str(v) for v in values if not isinstance(v, int)]
    return ", ".join(parts) if parts else "none"


def validate_request(pods: list[dict], *, replicas: int, size: int, lws_name: str,
                     groups: Iterable[int] = (), worker_indexes: Iterable[int] = ()) -> None:
    """Refuse group or worker indexes that do not exist, listing those that do (exit 2)."""
    wanted = list(groups)
    if wanted:
        present = existing_groups(pods, replicas)
        missing = [x for x in wanted if x not in present]
        if missing:
            which = ", ".join(str(m) for m in missing)
            raise UsageError(f'group {which} does not exist in leaderworkerset "{lws_name}" '
                             f"(groups: {describe_indexes(present)})")
    bad = [w for w in worker_indexes if w < 0 or w >= size]
    if bad:
        which = ", ".join(str(b) for b in bad)
        raise UsageError(f"worker index {which} does not exist: group size is {size} "
                         f"(workers: {describe_indexes(range(size))}; 0 is the leader)")


def _waiting_reason(pod: dict, container: str) -> str | None:
    """Why a container has no log yet, or None when the kubelet can serve one."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    if not spec.get("nodeName"):
        reason = "Pending"
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get("reason"):
                reason = f"Pending ({cond['reason']})"
        return reason
    for cs in g.container_statuses(pod):
        if cs.get("name") != container:
            continue
        state = cs.get("state") or {}
        if "running" in state or "terminated" in state:
            return None
        if (cs.get("lastState") or {}).get("terminated"):
            return None  # crash loop: the kubelet serves the last dead instance
        waiting = state.get("waiting") or {}
        return waiting.get("reason") or "ContainerCreating"
    if status.get("phase") in ("Running", "Succeeded", "Failed"):
        return None
    return "ContainerCreating"


def restart_count(pod: dict, container: str) -> int:
    for cs in g.container_statuses(pod):
        if cs.get("name") == container:
            return int(cs.get("restartCount") or 0)
    return 0


def pod_containers(pod: dict, container: str | None, all_containers: bool) -> list[str]:
    """The containers to show for one pod: all, the named one (if the pod has it), or the default."""
    names = g.container_names(pod)
    if all_containers:
        return names
    if container:
        return [container] if container in g.container_names(pod, init=True) else []
    default = g.default_container(pod)
    return [default] if default else []


def select_targets(pods: Iterable[dict], *, groups: Iterable[int | str] = (),
                   worker_indexes: Iterable[int] = (), workers: bool = False, all_pods: bool = False,
                   container: str | None = None, all_containers: bool = False) -> Selection:
    """The streams for the flags, ordered by group, worker, container.

    Default: the leader (worker 0) of every group. ``workers``: every worker of the selected
    groups. ``worker_indexes``: exactly those worker indexes. ``all_pods``: every pod of the LWS,
    including surge groups and pods already terminating (which still log until they are gone).
    Terminating pods are otherwise skipped: during a re-creation the new pod is the one to follow.
    ``groups`` and ``worker_indexes`` narrow every mode, ``all_pods`` included: a flag the user
    typed is never silently ignored. An explicit ``container`` may also name an init container,
    as with ``kubectl logs -c``.
    """
    group_filter = set(groups)
    worker_filter = set(worker_indexes)
    selection = Selection()
    missing_container: dict[tuple[str, ...], list[str]] = {}
    rows: list[tuple[tuple, Target | Waiting]] = []
    pods = list(pods)
    strays = {s.name: s.why for grp in g.group_pods(pods) for s in grp.strays}
    for pod in pods:
        gk = group_key(pod)
        if gk is None:
            continue
        stray = strays.get(g.pod_name(pod))
        wi = None if stray is not None else g.worker_index(pod)
        if wi is None and stray is None:
            continue
        if not all_pods and g.is_terminating(pod):
            continue
        if group_filter and gk not in group_filter:
            continue
        if worker_filter:
            if wi not in worker_filter:
                continue
        elif not (workers or all_pods) and wi != 0:
            continue
        if stray is not None:
            selection.notes.append(f"pod {g.pod_name(pod)} (group {group_label(gk)}): {stray}; shown as "
                                   f"{make_prefix(gk, None)}")
        meta = pod.get("metadata") or {}
        name, uid = meta.get("name", ""), meta.get("uid", "")
        names = pod_containers(pod, container, all_containers)
        if container and not names and not all_containers:
            missing_container.setdefault(tuple(g.container_names(pod)), []).append(name)
            continue
        show_container = all_containers and len(g.container_names(pod)) > 1
        order = g.container_names(pod, init=True)
        for cname in names:
            pos = order.index(cname) if cname in order else 0
            key = (sort_key(gk, wi), pos, name)
            reason = _waiting_reason(pod, cname)
            if reason is not None:
                rows.append((key, Waiting(gk, wi, name, uid, cname, reason)))
                continue
            rows.append((key, Target(group=gk, worker=wi, pod=name, uid=uid, container=cname,
                                     restarts=restart_count(pod, cname),
                                     prefix=make_prefix(gk, wi, cname if show_container else None),
                                     color=group_color(gk))))
    rows.sort(key=lambda r: r[0])
    for _, item in rows:
        selection.ordered.append(item)
        (selection.targets if isinstance(item, Target) else selection.waiting).append(item)
    for names, pods_without in sorted(missing_container.items()):
        have = ", ".join(names) or "none"
        shown = ", ".join(pods_without[:3]) + (f" and {len(pods_without) - 3} more" if len(pods_without) > 3 else "")
        selection.notes.append(f'container "{container}" is not in {shown} (containers: {have}); skipped')
    return selection


def check_container(pods: Iterable[dict], container: str, selection: Selection) -> None:
    """An unknown ``-c`` (in none of the selected pods) is a usage error that lists the containers."""
    if selection.targets or selection.waiting or not container or not selection.notes:
        return
    names: list[str] = []
    inits: list[str] = []
    for pod in pods:
        for n in g.container_names(pod):
            if n not in names:
                names.append(n)
        for n in g.container_names(pod, init=True):
            if n not in names and n not in inits:
                inits.append(n)
    more = f"; init containers: {', '.join(inits)}" if inits else ""
    raise UsageError(f'container "{container}" not found; containers: {", ".join(names) or "none"}{more}')
