"""Why a group waits below its pods: admission queues, gang schedulers, storage and scheduling gates.

Shared GPU clusters run LWS behind Kueue (one Workload per group; pods gated until quota frees),
under Volcano or KAI-Scheduler gang scheduling, or with the native Workload/PodGroup API; a claim
from ``volumeClaimTemplates`` that stays Pending holds a pod forever; a scheduling gate nobody owns
holds it too. The cause is then in an object the pods do not show. This module turns what was
read of those objects into causes per group, each with the ``layer`` it came from, so any verdict
(status, list, watch, report) can take them. Pure functions over raw API dicts: the reads are
``Cluster.read_layers`` and ``Cluster.queue_positions``; what to read is decided here.

Public API:

* ``layers_of(view, pods)``: which layers this LWS uses, from its own and its pods' keys (no read)
* ``Served.from_group_list(doc)``: what discovery (one GET /apis) says is served
* ``plan(view, groups, served)``: the cheapest reads, only for groups not Ready
* ``queue_lookups(facts)``: LocalQueue -> pending Workloads whose position to look up
* ``group_causes(view, groups, facts, events)``: group index -> causes (most important first), the
  ``causes`` of ``model/verdict.Facts``: the verdict picks each group's cause among them and those of
  the pods and events
* ``kueue_workload_name(lws, uid, index)``, ``tas_assignment(workload)``, ``lws_conditions(view)``

Facts about Kueue are those of v0.19.2 as recorded in tests/data/golden/kueue (README section G):
they win over a reading of Kueue's code.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Iterable, Sequence

from kubectl_lws.model import keys
from kubectl_lws.model.causes import Cause
from kubectl_lws.model.events import Event
from kubectl_lws.model.groups import LwsView, pod_name, worker_index
from kubectl_lws.model.timeutil import parse_time

if TYPE_CHECKING:  # pragma: no cover
    from kubectl_lws.model.groups import Group
    from kubectl_lws.model.health import GroupHealth

# ---- layers (the JSON ``layer`` of a cause) -----------------------------------------------------------

PODS, EVENTS = "pods", "events"
KUEUE, VOLCANO, KAI, SCHEDULING, STORAGE = "kueue", "volcano", "kai", "scheduling", "storage"
LAYERS = (PODS, EVENTS, KUEUE, VOLCANO, KAI, SCHEDULING, STORAGE)
# What each read layer is called in sentences ("cannot read Kueue workloads (forbidden) ...").
LAYER_OBJECTS = {KUEUE: "Kueue workloads", VOLCANO: "Volcano podgroups", KAI: "KAI podgroups",
                 SCHEDULING: "scheduling.k8s.io podgroups", STORAGE: "persistentvolumeclaims"}

# ---- Kueue (golden G.1) ---------------------------------------------------------------------------------

KUEUE_GROUP = "kueue.x-k8s.io"
KUEUE_VERSIONS = ("v1beta2", "v1beta1")  # v1beta2 is the storage version since 0.16
VISIBILITY_GROUP = "visibility.kueue.x-k8s.io"
VISIBILITY_VERSIONS = ("v1beta2", "v1beta1")
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
MANAGED_LABEL = "kueue.x-k8s.io/managed"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
LOCAL_QUEUE_LABEL = "kueue.x-k8s.io/local-queue-name"
CLUSTER_QUEUE_LABEL = "kueue.x-k8s.io/cluster-queue-name"
WORKLOAD_INDEX_ANNOTATION = "kueue.x-k8s.io/component-workload-index"
PREBUILT_WORKLOAD_ANNOTATION = "kueue.x-k8s.io/prebuilt-workload-name"
ADMISSION_GATE = "kueue.x-k8s.io/admission"
TOPOLOGY_GATE = "kueue.x-k8s.io/topology"
REQUIRED_TOPOLOGY_ANNOTATION = "kueue.x-k8s.io/podset-required-topology"
PREFERRED_TOPOLOGY_ANNOTATION = "kueue.x-k8s.io/podset-preferred-topology"
PODSET_GROUP_ANNOTATION = "kueue.x-k8s.io/podset-group-name"
# jobframework/workload_names.go: the prefix is cut to fit 253 (63 with ShortWorkloadNames) - 6.
_NAME_LIMITS = (253, 63)
_HASH_LEN = 5

# ---- gang schedulers ----------------------------------------------------------------------------------

VOLCANO_GROUP = "scheduling.volcano.sh"
VOLCANO_VERSIONS = ("v1beta1",)
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"  # LWS sets it on every pod (reference §5)
VOLCANO_QUEUE_ANNOTATION = "scheduling.volcano.sh/queue-name"
VOLCANO_SCHEDULER = "volcano"
KAI_GROUP = "scheduling.run.ai"
KAI_VERSIONS = ("v2alpha2",)
KAI_GROUP_ANNOTATION = "pod-group-name"
KAI_SCHEDULER = "kai-scheduler"
NATIVE_GROUP = "scheduling.k8s.io"
# PodGroup: 1.36 v1alpha2 (PodGroupScheduled), 1.37 v1alpha3/v1beta1 (PodGroupInitiallyScheduled);
# scheduling.k8s.io/v1 (PriorityClass) has none.
NATIVE_VERSIONS = ("v1beta1", "v1alpha3", "v1alpha2")
NATIVE_CONDITIONS = ("PodGroupInitiallyScheduled", "PodGroupScheduled")

# Gates whose owner we read; any other gate is shown as it is ("gated by <gate>").
KNOWN_GATES = {ADMISSION_GATE: KUEUE, TOPOLOGY_GATE: KUEUE}

# Conditions of the LWS we explain elsewhere; any other is shown, never dropped.
KNOWN_LWS_CONDITIONS = ("Available", "Progressing", "UpdateInProgress")

# The visibility API: pages of this size, never more than this many items (thousands may wait).
QUEUE_PAGE = 100
QUEUE_BOUND = 1000


def kueue_workload_name(lws: str, uid: str, index: int, *, short: bool = False) -> str:
    """Kueue's Workload name for group ``index`` of LWS ``lws`` (jobframework/workload_names.go):
    ``leaderworkerset-<lws>-<index>-<h5>``, h5 the first 5 hex of sha1 over kind, group, the
    group's owner name ``<lws>-<index>`` and the LWS uid, one per line. ``short``: the
    ShortWorkloadNames feature's 63-character limit."""
    owner = f"{lws}-{index}"
    digest = hashlib.sha1("\n".join(("LeaderWorkerSet", keys.LWS_GROUP, owner, uid)).encode()).hexdigest()
    limit = _NAME_LIMITS[1 if short else 0] - 1 - _HASH_LEN
    return f"{f'leaderworkerset-{owner}'[:limit]}-{digest[:_HASH_LEN]}"


# ---- which layers an LWS uses (from what was already read) -----------------------------------------------

def _dict(value: object) -> dict:
    """A field that should be an object; anything else (missing, null, a string) reads as empty."""
    return value if isinstance(value, dict) else {}


def _meta(obj: dict) -> dict:
    return _dict(_dict(obj).get("metadata"))


def _spec(obj: dict) -> dict:
    return _dict(_dict(obj).get("spec"))


def _status(obj: dict) -> dict:
    return _dict(_dict(obj).get("status"))


def _gates(pod: dict) -> list[str]:
    return [g.get("name", "") for g in _spec(pod).get("schedulingGates") or [] if isinstance(g, dict)]


def claim_templates(view: LwsView) -> list[str]:
    """Names of the LWS's volumeClaimTemplates (claims ``<name>-<pod>``, reference §5)."""
    lwt = _spec(view.raw).get("leaderWorkerTemplate") or {}
    return [_meta(t).get("name", "") for t in lwt.get("volumeClaimTemplates") or []
            if isinstance(t, dict) and _meta(t).get("name")]


def layers_of(view: LwsView, pods: Iterable[dict]) -> set[str]:
    """The layers this LWS's groups go through, from keys already in hand (LWS and pods)."""
    out: set[str] = set()
    if view.labels.get(QUEUE_LABEL):
        out.add(KUEUE)
    if view.annotations.get(VOLCANO_QUEUE_ANNOTATION):
        out.add(VOLCANO)
    if claim_templates(view):
        out.add(STORAGE)
    for pod in pods:
        meta = _meta(pod)
        labels = meta.get("labels") or {}
        ann = meta.get("annotations") or {}
        spec = _spec(pod)
        gates = _gates(pod)
        if labels.get(MANAGED_LABEL) == "true" or QUEUE_LABEL in labels or ann.get(PREBUILT_WORKLOAD_ANNOTATION) \
                or any(g in KNOWN_GATES for g in gates):
            out.add(KUEUE)
        if ann.get(VOLCANO_GROUP_ANNOTATION) or spec.get("schedulerName") == VOLCANO_SCHEDULER:
            out.add(VOLCANO)
        if spec.get("schedulerName") == KAI_SCHEDULER or (ann.get(KAI_GROUP_ANNOTATION) and VOLCANO not in out):
            out.add(KAI)
        if isinstance(spec.get("schedulingGroup"), dict) or isinstance(spec.get("workloadRef"), dict):
            out.add(SCHEDULING)
        if any(g not in KNOWN_GATES for g in gates):
            out.add(SCHEDULING)
    return out


# ---- discovery ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Served:
    """API groups and versions the server serves (one GET /apis), preferred version first."""

    groups: dict[str, tuple[str, ...]]

    @classmethod
    def from_group_list(cls, doc: dict | None) -> "Served":
        out: dict[str, tuple[str, ...]] = {}
        for g in (doc or {}).get("groups") or []:
            if not isinstance(g, dict) or not g.get("name"):
                continue
            versions = [v.get("version", "") for v in g.get("versions") or [] if isinstance(v, dict)]
            preferred = (g.get("preferredVersion") or {}).get("version")
            if preferred in versions:
                versions.remove(preferred)
                versions.insert(0, preferred)
            out[g["name"]] = tuple(v for v in versions if v)
        return cls(out)

    def version(self, group: str, known: Sequence[str]) -> str | None:
        """The version to read ``group`` in: the first of ``known`` (newest first) that is served."""
        served = self.groups.get(group) or ()
        return next((v for v in known if v in served), None)

    def has(self, group: str) -> bool:
        return bool(self.groups.get(group))


# ---- what to read --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Read:
    """One LIST of a layer's objects in the LWS's namespace (plus, for old Kueue, GETs by name)."""

    layer: str
    group: str  # "" for core
    version: str
    plural: str
    namespace: str
    label_selector: str | None = None
    names: frozenset[str] = frozenset()  # keep only these (objects without a label to select on)
    # Kueue before 0.17 sets no job-uid label: when the LIST finds nothing, GET these computed names
    fallback_names: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{prefix}/namespaces/{self.namespace}/{self.plural}"


@dataclass
class Plan:
    reads: list[Read] = field(default_factory=list)
    # layers in use whose API is not served ("gated by kueue.x-k8s.io/admission, but Kueue is not
    # installed"): a cause of their own, no read
    missing: dict[str, str] = field(default_factory=dict)
    needs_discovery: bool = False


def _waiting(groups: Sequence["GroupHealth"]) -> list["GroupHealth"]:
    return [g for g in groups if not g.group_ready]


def _pods_of(groups: Sequence["GroupHealth"]) -> list[dict]:
    out: list[dict] = []
    for g in groups:
        if g.group is not None:
            out += list(g.group.pods)
    return out


def _native_groups(pods: Iterable[dict]) -> set[str]:
    """PodGroup names the pods point at (``spec.schedulingGroup.podGroupName``, 1.36+)."""
    out = set()
    for pod in pods:
        ref = _spec(pod).get("schedulingGroup")
        if isinstance(ref, dict) and ref.get("podGroupName"):
            out.add(str(ref["podGroupName"]))
    return out


def plan(view: LwsView, groups: Sequence["GroupHealth"], served: Served | None) -> Plan:
    """The reads that explain the groups that are not Ready: at most one LIST per layer in use, by
    label where the layer labels its objects (Kueue ``job-uid``, LWS's own name label on PVCs and
    native PodGroups), else filtered to the names the pods carry (Volcano, KAI). Nothing when every
    group is Ready: a healthy LWS pays nothing."""
    out = Plan()
    waiting = _waiting(groups)
    if not waiting:
        return out
    pods = _pods_of(waiting)
    layers = layers_of(view, pods)
    ns = view.namespace
    if STORAGE in layers:
        out.reads.append(Read(STORAGE, "", "v1", "persistentvolumeclaims", ns,
                              label_selector=f"{keys.NAME_LABEL}={view.name}"))
    api_layers = layers & {KUEUE, VOLCANO, KAI} or bool(_native_groups(pods))
    if not api_layers:
        return out
    out.needs_discovery = True
    if served is None:
        return out
    if KUEUE in layers:
        version = served.version(KUEUE_GROUP, KUEUE_VERSIONS)
        if version is None:
            out.missing[KUEUE] = f"{KUEUE_GROUP} is not served (Kueue is not installed)"
        else:
            fallback = tuple(kueue_workload_name(view.name, view.uid, g.index) for g in waiting[:3])
            out.reads.append(Read(KUEUE, KUEUE_GROUP, version, "workloads", ns,
                                  label_selector=f"{JOB_UID_LABEL}={view.uid}" if view.uid else None,
                                  fallback_names=fallback))
    for layer, group, versions, annotation in ((VOLCANO, VOLCANO_GROUP, VOLCANO_VERSIONS, VOLCANO_GROUP_ANNOTATION),
                                               (KAI, KAI_GROUP, KAI_VERSIONS, KAI_GROUP_ANNOTATION)):
        if layer not in layers:
            continue
        version = served.version(group, versions)
        if version is None:
            out.missing[layer] = f"{group} is not served"
            continue
        names = frozenset(str((_meta(p).get("annotations") or {}).get(annotation)) for p in pods
                          if (_meta(p).get("annotations") or {}).get(annotation))
        out.reads.append(Read(layer, group, version, "podgroups", ns, names=names))
    native = _native_groups(pods)
    if native:
        version = served.version(NATIVE_GROUP, NATIVE_VERSIONS)
        if version is None:
            out.missing[SCHEDULING] = f"no {NATIVE_GROUP} version serving podgroups"
        else:
            out.reads.append(Read(SCHEDULING, NATIVE_GROUP, version, "podgroups", ns,
                                  label_selector=f"{keys.NAME_LABEL}={view.name}", names=frozenset(native)))
    return out


# ---- what was read -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueSpot:
    """A pending Workload's place in its queues (visibility API; 0 is the head of the queue)."""

    local_queue: str
    in_local_queue: int | None
    in_cluster_queue: int | None


@dataclass
class Facts:
    """What ``Cluster.read_layers`` (and ``queue_positions``) brought back for one LWS."""

    served: Served | None = None
    objects: dict[str, list[dict]] = field(default_factory=dict)  # layer -> items
    unread: dict[str, str] = field(default_factory=dict)  # layer -> why not ("forbidden", "not served", ...)
    missing: dict[str, str] = field(default_factory=dict)  # layer in use whose API is not served
    queue: dict[str, QueueSpot] = field(default_factory=dict)  # workload name -> position
    queue_unread: str | None = None  # "visibility API not served", "timed out", "forbidden", ...
    queue_truncated: dict[str, int] = field(default_factory=dict)  # workload -> items seen when bound hit
    # StorageClass name -> exists (None: could not tell); read for the Pending claims of waiting groups
    classes: dict[str, bool | None] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"read": sorted(self.objects), "unread": dict(self.unread), "missing": dict(self.missing),
                "queue": None if not self.queue and self.queue_unread is None else {
                    "positions": {n: {"localQueue": s.local_queue, "positionInLocalQueue": s.in_local_queue,
                                      "positionInClusterQueue": s.in_cluster_queue}
                                  for n, s in sorted(self.queue.items())},
                    "unread": self.queue_unread,
                    "truncated": dict(self.queue_truncated)}}


def unread_warning(layer: str, why: str) -> str:
    """The one warning a layer we may not read gives (never a failure)."""
    what = "admission causes" if layer == KUEUE else "gang causes" if layer in (VOLCANO, KAI, SCHEDULING) \
        else "claim causes"
    return f"cannot read {LAYER_OBJECTS.get(layer, layer)} ({why}): {what} not shown"


def _condition(obj: dict, ctype: str) -> dict | None:
    for c in _status(obj).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def _true(obj: dict, ctype: str) -> bool:
    c = _condition(obj, ctype)
    return bool(c and c.get("status") == "True")


def workload_admitted(wl: dict) -> bool:
    return _true(wl, "Admitted")


def workload_pending(wl: dict) -> bool:
    """Waiting for quota: no reservation yet (also: no QuotaReserved condition at all, golden G.1)."""
    return _spec(wl).get("active", True) is not False and not _true(wl, "QuotaReserved")


def classes_to_check(view: LwsView, groups: Sequence["GroupHealth"], facts: Facts) -> set[str]:
    """The StorageClasses the Pending claims of not-Ready groups name (one GET each tells a missing one,
    the same answer in ``list`` and ``status``, events or not)."""
    out = set()
    waiting = {g.index for g in _waiting(groups)}
    templates = claim_templates(view)
    for pvc in facts.objects.get(STORAGE) or []:
        if not isinstance(pvc, dict) or (_status(pvc).get("phase") or "Pending") == "Bound":
            continue
        owner = _claim_owner(_meta(pvc).get("name", ""), view, templates)
        sc = _spec(pvc).get("storageClassName")
        if owner is not None and owner[0] in waiting and isinstance(sc, str) and sc:
            out.add(sc)
    return out


def queue_lookups(facts: Facts) -> dict[str, set[str]]:
    """LocalQueue -> names of this LWS's pending Workloads (one paged visibility read per queue)."""
    out: dict[str, set[str]] = {}
    for wl in facts.objects.get(KUEUE) or []:
        queue = _spec(wl).get("queueName")
        name = _meta(wl).get("name")
        if queue and name and workload_pending(wl):
            out.setdefault(str(queue), set()).add(str(name))
    return out


# ---- which group an object is about --------------------------------------------------------------------

def _group_of_workload(wl: dict, view: LwsView, by_pod_name: dict[str, int]) -> int | None:
    meta = _meta(wl)
    index = (meta.get("annotations") or {}).get(WORKLOAD_INDEX_ANNOTATION)
    if isinstance(index, str) and index.isdigit():
        return int(index)
    name = meta.get("name", "")
    if name in by_pod_name:
        return by_pod_name[name]
    m = re.fullmatch(rf"leaderworkerset-{re.escape(view.name)}-(\d+)-[0-9a-f]{{{_HASH_LEN}}}", name)
    if m and view.uid and name in (kueue_workload_name(view.name, view.uid, int(m.group(1))),
                                   kueue_workload_name(view.name, view.uid, int(m.group(1)), short=True)):
        return int(m.group(1))
    return None


def _owned_by(obj: dict, uid: str) -> bool:
    return any(isinstance(r, dict) and r.get("uid") == uid for r in _meta(obj).get("ownerReferences") or [])


def _workloads_by_group(view: LwsView, groups: Sequence["GroupHealth"], items: Sequence[dict]) -> dict[int, dict]:
    """Group index -> its Workload: by the index annotation, the pods' prebuilt-workload-name, or the
    computed name; only Workloads of this LWS (job-uid label, owner, or a computed name)."""
    by_pod_name: dict[str, int] = {}
    for g in groups:
        for pod in (g.group.pods if g.group is not None else []):
            name = (_meta(pod).get("annotations") or {}).get(PREBUILT_WORKLOAD_ANNOTATION)
            if name:
                by_pod_name[str(name)] = g.index
    out: dict[int, dict] = {}
    for wl in items:
        if not isinstance(wl, dict):
            continue
        labels = _meta(wl).get("labels") or {}
        index = _group_of_workload(wl, view, by_pod_name)
        if index is None:
            continue
        if view.uid and labels.get(JOB_UID_LABEL) not in (None, view.uid) and not _owned_by(wl, view.uid):
            continue
        out[index] = wl
    return out


# ---- causes ---------------------------------------------------------------------------------------------

# most important first: a deactivated Workload will never start by itself
_RANK = ("Deactivated", "ClaimPending", "ClaimMissing", "Evicted", "Preempted", "GangUnschedulable",
         "NotInstalled", "QuotaPending", "NotEvaluated", "AdmissionChecks", "NoWorkload", "StillGated",
         "Gated", "PodGroupPending")


def rank(cause: Cause) -> int:
    return _RANK.index(cause.reason) if cause.reason in _RANK else len(_RANK)


# A layer cause says why the pods are not even scheduled: it ranks before every pod or event cause
# (model/causes.rank puts those at 0..10), in _RANK order among themselves.
_PRIORITY_BASE = -100


def _cause(reason: str, message: str, summary: str, obj: str, since: datetime | None, blocking: bool,
           layer: str, count: int = 1) -> Cause:
    """A layer's cause for the verdict: ranked first, and a non-blocking one is a wait (never Stuck)."""
    prio = _PRIORITY_BASE + (_RANK.index(reason) if reason in _RANK else len(_RANK))
    return Cause(reason, message, summary, obj, since, count, blocking, layer, priority=prio, waits=not blocking)


def _hhmm(stamp: str | None) -> str:
    dt = parse_time(stamp)
    return dt.strftime("%H:%M:%S") if dt else (stamp or "?")


_FLAVOR_CLAUSE = re.compile(r"couldn't assign flavors to pod set ([^:]+): ")
_MORE_NEEDED = re.compile(r"^(?P<text>.*), (?P<n>\d+) more needed$")


def quota_text(message: str) -> str:
    """Kueue's per-pod-set message, one line: ``couldn't assign flavors to pod set leader: X, 2 more
    needed; couldn't assign flavors to pod set worker: X, 4 more needed`` -> ``X: 6 more needed
    (leader 2, worker 4)``; other texts lose only the "couldn't assign flavors" prefix."""
    parts = [p.strip() for p in re.split(r"; (?=couldn't assign flavors to pod set )", message or "") if p.strip()]
    clauses: list[tuple[str | None, str]] = []
    for part in parts:
        m = _FLAVOR_CLAUSE.match(part)
        clauses.append((m.group(1), part[m.end():]) if m else (None, part))
    needed = [(ps, _MORE_NEEDED.match(text)) for ps, text in clauses]
    if len(needed) > 1 and all(m is not None for _, m in needed) \
            and len({m.group("text") for _, m in needed if m}) == 1:
        head = needed[0][1].group("text")  # type: ignore[union-attr]
        total = sum(int(m.group("n")) for _, m in needed if m)
        each = ", ".join(f"{ps or '?'} {m.group('n')}" for ps, m in needed if m)
        return f"{head}: {total} more needed ({each})"
    seen: list[str] = []
    for ps, text in clauses:
        item = f"pod set {ps}: {text}" if ps and len(clauses) > 1 else text
        item = item.rstrip(".")
        if item not in seen:
            seen.append(item)
    return "; ".join(seen)


# QuotaReserved=False reasons (with Kueue's observability gate) and messages that no freed quota fixes
_NEVER_FITS_REASONS = ("ExceedsMaxQuota", "NoMatchingFlavor", "InadmissibleWorkload")


def _never_fits(reason: str | None, message: str) -> bool:
    if reason in _NEVER_FITS_REASONS:
        return True
    low = (message or "").lower()
    return any(t in low for t in ("request > maximum capacity", "exceeds the maximum", "no matching flavor"))


def _kueue_cause(wl: dict, group: "GroupHealth", facts: Facts, cluster_queue_hint: str | None,
                 ns: str) -> Cause | None:
    """The cause a Workload gives one not-Ready group, or None when Kueue has let it go."""
    meta = _meta(wl)
    name = meta.get("name", "?")
    obj = f"Workload/{name}"
    spec = _spec(wl)
    status = _status(wl)
    queue = spec.get("queueName") or "?"
    admission = status.get("admission") if isinstance(status.get("admission"), dict) else {}
    cq = admission.get("clusterQueue") or cluster_queue_hint
    evicted = _condition(wl, "Evicted")
    requeued = _condition(wl, "Requeued")
    reserved = _condition(wl, "QuotaReserved")
    evictions = [e for e in (status.get("schedulingStats") or {}).get("evictions") or [] if isinstance(e, dict)]
    history = ", ".join(f"{e.get('reason')} x{e.get('count', 1)}" for e in evictions if e.get("reason"))
    reactivate = (f"kubectl -n {ns} patch workloads.{KUEUE_GROUP} {name} --type merge "
                  "-p '{\"spec\":{\"active\":true}}'")
    if spec.get("active", True) is False:
        why = (evicted or {}).get("message") or (reserved or {}).get("message") or "spec.active is false"
        reason = (evicted or {}).get("reason") or "Deactivated"
        since = parse_time((evicted or {}).get("lastTransitionTime"))
        return _cause("Deactivated", f"{reason}: {why}" + (f" (evictions: {history})" if history else "")
                      + f"; it will not start again until reactivated: {reactivate}",
                      f"deactivated by Kueue ({reason}): will not start again until reactivated",
                      obj, since, True, KUEUE)
    if evicted and evicted.get("status") == "True":
        why = evicted.get("reason") or "Evicted"
        state = status.get("requeueState") if isinstance(status.get("requeueState"), dict) else {}
        at = state.get("requeueAt")
        retries = state.get("count")
        when = f", requeued at {_hhmm(at)}" if at else (", requeued" if requeued and requeued.get("status") == "True"
                                                         else "")
        tries = f" (retry {retries})" if retries else ""
        return _cause("Evicted", f"{why}: {evicted.get('message') or ''}".rstrip(": ")
                      + (f"; evictions: {history}" if history else ""),
                      f"evicted by Kueue: {why}{when}{tries}", obj, parse_time(evicted.get("lastTransitionTime")),
                      False, KUEUE)
    preempted = _condition(wl, "Preempted")
    if preempted and preempted.get("status") == "True" and not workload_admitted(wl):
        return _cause("Preempted", preempted.get("message") or "", f"preempted by Kueue: {preempted.get('reason')}",
                      obj, parse_time(preempted.get("lastTransitionTime")), False, KUEUE)
    if workload_admitted(wl):
        gated = sorted({g for p in (group.group.pods if group.group is not None else []) for g in _gates(p)
                        if g in KNOWN_GATES})
        if gated:
            return _cause("StillGated", f"Workload {name} is admitted in ClusterQueue {cq or '?'}; pods still "
                          f"carry {', '.join(gated)}", f"admitted, still gated by {', '.join(gated)}", obj,
                          None, False, KUEUE)
        return None
    spot = facts.queue.get(name)
    where = f"LocalQueue {queue}"
    inner = [f"ClusterQueue {cq}"] if cq else []
    if spot is not None and spot.in_cluster_queue is not None:
        inner.append(f"position {spot.in_cluster_queue + 1}")
    elif spot is None and name in facts.queue_truncated:
        inner.append(f"position > {facts.queue_truncated[name]}")
    place = where + (f" ({', '.join(inner)})" if inner else "")
    if _true(wl, "QuotaReserved"):
        checks = [c for c in status.get("admissionChecks") or [] if isinstance(c, dict)]
        waiting = [f"{c.get('name')} {c.get('state', '?')}" + (f": {c['message']}" if c.get("message") else "")
                   for c in checks if c.get("state") != "Ready"]
        return _cause("AdmissionChecks", "; ".join(waiting) or "waiting for admission checks",
                      f"quota reserved in {place}, waiting for admission checks"
                      + (f": {', '.join(waiting)}" if waiting else ""), obj, None, False, KUEUE)
    if reserved is None:
        return _cause("NotEvaluated", f"Workload {name} has no QuotaReserved condition yet",
                      f"waiting for Kueue admission in {place}: not yet evaluated by Kueue", obj,
                      parse_time(meta.get("creationTimestamp")), False, KUEUE)
    message = reserved.get("message") or ""
    blocking = _never_fits(reserved.get("reason"), message)
    text = quota_text(message)
    return _cause("QuotaPending", message, f"waiting for Kueue admission in {place}" + (f": {text}" if text else ""),
                  obj, parse_time(reserved.get("lastTransitionTime")), blocking, KUEUE)


def _kueue_causes(view: LwsView, groups: Sequence["GroupHealth"], facts: Facts, out: dict[int, list[Cause]]) -> None:
    items = facts.objects.get(KUEUE)
    by_group = _workloads_by_group(view, groups, items or [])
    admitted_cq = next(((_status(w).get("admission") or {}).get("clusterQueue")
                        for w in by_group.values() if isinstance(_status(w).get("admission"), dict)),
                       None)
    if admitted_cq is None:
        admitted_cq = next(((_meta(p).get("labels") or {}).get(CLUSTER_QUEUE_LABEL) for g in groups
                            for p in (g.group.pods if g.group is not None else [])
                            if (_meta(p).get("labels") or {}).get(CLUSTER_QUEUE_LABEL)), None)
    for g in _waiting(groups):
        wl = by_group.get(g.index)
        if wl is not None:
            cause = _kueue_cause(wl, g, facts, admitted_cq, view.namespace)
            if cause is not None:
                out.setdefault(g.index, []).append(cause)
        elif items is not None and _group_gates(g) & set(KNOWN_GATES):
            name = kueue_workload_name(view.name, view.uid, g.index) if view.uid else "?"
            out.setdefault(g.index, []).append(_cause(
                "NoWorkload", f"no Kueue Workload for group {g.index} (expected {name}); is Kueue running?",
                f"gated by Kueue, no Workload yet (expected {name})", f"Workload/{name}", None, False, KUEUE))


def _group_gates(g: "GroupHealth") -> set[str]:
    return {gate for p in (g.group.pods if g.group is not None else []) for gate in _gates(p)}


def _volcano_cause(pg: dict) -> Cause | None:
    name = _meta(pg).get("name", "?")
    status = _status(pg)
    phase = status.get("phase") or "Pending"
    if phase in ("Running", "Completed"):
        return None
    cond = _condition(pg, "Unschedulable")
    if cond and cond.get("status") == "True":
        msg = cond.get("message") or cond.get("reason") or "unschedulable"
        return _cause("GangUnschedulable", msg, f"Volcano: {msg}", f"PodGroup/{name}",
                      parse_time(cond.get("lastTransitionTime")), True, VOLCANO)
    queue = _spec(pg).get("queue")
    return _cause("PodGroupPending", f"PodGroup {name} is {phase}", f"Volcano: PodGroup {phase}"
                  + (f" in queue {queue}" if queue else ""), f"PodGroup/{name}", None, False, VOLCANO)


def _kai_cause(pg: dict) -> Cause | None:
    name = _meta(pg).get("name", "?")
    conds = [c for c in _status(pg).get("schedulingConditions") or [] if isinstance(c, dict)]
    if not conds:
        return None
    last = max(conds, key=lambda c: str(c.get("lastTransitionTime") or ""))
    reasons = [r for r in last.get("reasons") or [] if isinstance(r, dict)]
    msg = "; ".join(f"{r.get('reason')}: {r.get('message')}" if r.get("message") else str(r.get("reason"))
                    for r in reasons) or last.get("message") or last.get("reason") or "unschedulable"
    pool = f" (node pool {last['nodePool']})" if last.get("nodePool") else ""
    return _cause("GangUnschedulable", msg + pool, f"KAI: {msg}{pool}", f"PodGroup/{name}",
                  parse_time(last.get("lastTransitionTime")), True, KAI)


def _native_cause(pg: dict) -> Cause | None:
    name = _meta(pg).get("name", "?")
    for ctype in NATIVE_CONDITIONS:
        cond = _condition(pg, ctype)
        if cond is None:
            continue
        if cond.get("status") == "True":
            return None
        msg = cond.get("message") or cond.get("reason") or "not scheduled"
        policy = (_spec(pg).get("schedulingPolicy") or {}).get("gang") or {}
        gang = f" (gang of {policy['minCount']})" if isinstance(policy, dict) and policy.get("minCount") else ""
        return _cause("GangUnschedulable", f"{ctype}=False ({cond.get('reason')}): {msg}",
                      f"PodGroup {name}{gang} {cond.get('reason') or 'not scheduled'}: {msg}", f"PodGroup/{name}",
                      parse_time(cond.get("lastTransitionTime")), cond.get("reason") == "Unschedulable", SCHEDULING)
    return None


def _podgroup_causes(groups: Sequence["GroupHealth"], facts: Facts, out: dict[int, list[Cause]]) -> None:
    for layer, annotation, judge in ((VOLCANO, VOLCANO_GROUP_ANNOTATION, _volcano_cause),
                                     (KAI, KAI_GROUP_ANNOTATION, _kai_cause)):
        items = facts.objects.get(layer)
        if items is None:
            continue
        found = {_meta(pg).get("name"): pg for pg in items if isinstance(pg, dict)}
        for g in _waiting(groups):
            names = {(_meta(p).get("annotations") or {}).get(annotation) for p in (g.group.pods if g.group else [])}
            names.discard(None)
            for name in sorted(n for n in names if isinstance(n, str)):
                pg = found.get(name)
                if pg is None:
                    what = "Volcano" if layer == VOLCANO else "KAI"
                    out.setdefault(g.index, []).append(_cause(
                        "PodGroupPending", f"the pods name PodGroup {name}, which does not exist",
                        f"{what}: PodGroup {name} not created yet", f"PodGroup/{name}", None, False, layer))
                    continue
                cause = judge(pg)
                if cause is not None:
                    out.setdefault(g.index, []).append(cause)
    items = facts.objects.get(SCHEDULING)
    if items is not None:
        found = {_meta(pg).get("name"): pg for pg in items if isinstance(pg, dict)}
        for g in _waiting(groups):
            for name in sorted(_native_groups(g.group.pods if g.group else [])):
                pg = found.get(name)
                cause = _native_cause(pg) if pg is not None else _cause(
                    "PodGroupPending", f"the pods name PodGroup {name}, which does not exist yet",
                    f"waiting for PodGroup {name} to exist", f"PodGroup/{name}", None, False, SCHEDULING)
                if cause is not None:
                    out.setdefault(g.index, []).append(cause)


def _claim_owner(claim: str, view: LwsView, templates: Sequence[str]) -> tuple[int, int] | None:
    """(group, worker) of claim ``<template>-<lws>-<g>[-<w>]``."""
    for t in templates:
        m = re.fullmatch(rf"{re.escape(t)}-{re.escape(view.name)}-(\d+)(?:-(\d+))?", claim)
        if m:
            return int(m.group(1)), int(m.group(2) or 0)
    return None


def _storage_causes(view: LwsView, groups: Sequence["GroupHealth"], facts: Facts, events: Sequence[Event],
                    out: dict[int, list[Cause]]) -> None:
    items = facts.objects.get(STORAGE)
    if items is None:
        return
    templates = claim_templates(view)
    waiting = {g.index: g for g in _waiting(groups)}
    by_claim: dict[str, Event] = {}  # the newest Warning per claim (events come oldest first)
    for ev in events:
        if ev.kind == "PersistentVolumeClaim" and ev.type == "Warning":
            by_claim[ev.object_name] = ev
    have = set()
    for pvc in items:
        if not isinstance(pvc, dict):
            continue
        name = _meta(pvc).get("name", "")
        have.add(name)
        owner = _claim_owner(name, view, templates)
        if owner is None or owner[0] not in waiting:
            continue
        phase = _status(pvc).get("phase") or "Pending"
        if phase == "Bound":
            continue
        ev = by_claim.get(name)
        sc = _spec(pvc).get("storageClassName")
        exists = facts.classes.get(sc) if isinstance(sc, str) else None
        if exists is False:
            text = f': no StorageClass "{sc}"'
        elif sc:
            text = f" (storageClass {sc})"
        else:
            text = " (no storageClassName: the default StorageClass)"
        message = f"{ev.reason}: {ev.message}" if ev is not None else f"claim {name} is {phase}" + text.replace(": ", ", ", 1)
        # the pod cannot be scheduled while its claim is unbound (unless it binds on first consumer)
        pod_waits = any(not _spec(p).get("nodeName") for p in (waiting[owner[0]].group.pods
                                                                if waiting[owner[0]].group else []))
        # since the claim exists (every view reads the claim, not every view its events)
        out.setdefault(owner[0], []).append(_cause(
            "ClaimPending", message, f"claim {name} {phase}{text}", f"PersistentVolumeClaim/{name}",
            parse_time(_meta(pvc).get("creationTimestamp")), pod_waits, STORAGE))
    # a pod whose claim does not exist at all waits for it too (the StatefulSet creates claims first)
    for index, g in waiting.items():
        for pod in (g.group.pods if g.group is not None else []):
            if (_spec(pod).get("nodeName")):
                continue
            for t in templates:
                claim = f"{t}-{pod_name(pod)}"
                if claim not in have:
                    out.setdefault(index, []).append(_cause(
                        "ClaimMissing", f"pod {pod_name(pod)} needs claim {claim}, which does not exist",
                        f"claim {claim} missing", f"PersistentVolumeClaim/{claim}", None, True, STORAGE))


def _gate_causes(groups: Sequence["GroupHealth"], facts: Facts, out: dict[int, list[Cause]]) -> None:
    """Gates no layer we read owns ("gated by <gate>"), and Kueue's gates when Kueue is not there."""
    for g in _waiting(groups):
        gates = sorted(_group_gates(g))
        unknown = [x for x in gates if x not in KNOWN_GATES]
        if unknown:
            gated = sorted({worker_index(p) or 0 for p in (g.group.pods if g.group else [])
                            if set(_gates(p)) & set(unknown)})
            who = "leader" if gated == [0] else f"{len(gated)} pod{'s' if len(gated) != 1 else ''}"
            out.setdefault(g.index, []).append(_cause(
                "Gated", f"scheduling gates {', '.join(unknown)} on {who}: no known controller removes them",
                f"gated by {', '.join(unknown)}", f"Pod/{pod_name(g.group.pods[0]) if g.group and g.group.pods else '?'}",
                None, False, SCHEDULING))
        if KUEUE in facts.missing and set(gates) & set(KNOWN_GATES):
            out.setdefault(g.index, []).append(_cause(
                "NotInstalled", f"pods gated by {', '.join(x for x in gates if x in KNOWN_GATES)}; "
                f"{facts.missing[KUEUE]}", "gated by Kueue, but Kueue is not installed "
                f"({KUEUE_GROUP} not served)", "Pod/" + (pod_name(g.group.pods[0]) if g.group and g.group.pods else "?"),
                None, True, KUEUE))


def group_causes(view: LwsView, groups: Sequence["GroupHealth"], facts: Facts,
                 events: Sequence[Event] = ()) -> dict[int, list[Cause]]:
    """Group index -> causes from the layers, most important first (``rank``). Only groups that are
    not Ready get causes; a layer that was not read gives none (its warning says so)."""
    out: dict[int, list[Cause]] = {}
    if KUEUE in facts.objects:
        _kueue_causes(view, groups, facts, out)
    _podgroup_causes(groups, facts, out)
    _storage_causes(view, groups, facts, events, out)
    _gate_causes(groups, facts, out)
    for causes in out.values():
        causes.sort(key=rank)
    return out


def claim_events(raw_events: Iterable[dict], view: LwsView) -> list[Event]:
    """The events of this LWS's claims (``<template>-<lws>-...``), normalised: a namespace's events
    as ``status`` already reads them, for the storage causes."""
    from kubectl_lws.model.events import normalize_all

    prefixes = tuple(f"{t}-{view.name}-" for t in claim_templates(view))
    if not prefixes:
        return []
    mine = [raw for raw in raw_events if isinstance(raw, dict)
            and ((raw.get("involvedObject") or raw.get("regarding") or {}).get("kind") == "PersistentVolumeClaim")
            and str((raw.get("involvedObject") or raw.get("regarding") or {}).get("name") or "").startswith(prefixes)]
    return normalize_all(mine)


# ---- who refused: Kueue's LWS webhook shares LWS's name --------------------------------------------------

SHARED_WEBHOOK = "vleaderworkerset.kb.io"
# What only Kueue refuses on an LWS (golden G.5): its group size and queue are immutable once queued, and
# one topology annotation a template; LWS's own webhook allows a size change since v0.7.
_KUEUE_REFUSALS = ("spec.leaderWorkerTemplate.size: Invalid value", f"metadata.labels[{QUEUE_LABEL}]",
                   "must not contain more than one topology annotation")


def webhook_refusal_hint(message: str) -> str | None:
    """Name the webhook that refused, when the message tells: Kueue's LWS webhook is also called
    ``vleaderworkerset.kb.io``, so the server's words alone do not say it was Kueue."""
    if f'admission webhook "{SHARED_WEBHOOK}" denied the request' not in (message or ""):
        return None
    if any(t in message for t in _KUEUE_REFUSALS):
        return (f"refused by Kueue's LWS webhook (it shares the name {SHARED_WEBHOOK} with LWS's own): a queued "
                "LWS keeps its group size and its queue; delete and re-create it to change them")
    return None


# ---- LWS conditions nobody else explains -----------------------------------------------------------------

def lws_conditions(view: LwsView) -> list[dict]:
    """Every LWS condition as JSON, unknown types included (shown, never dropped)."""
    out = []
    for c in view.status.get("conditions") or []:
        if isinstance(c, dict) and c.get("type"):
            out.append({"type": c.get("type"), "status": c.get("status"), "reason": c.get("reason"),
                        "message": c.get("message"), "lastTransitionTime": c.get("lastTransitionTime"),
                        "known": c.get("type") in KNOWN_LWS_CONDITIONS})
    return out


def unknown_condition_lines(view: LwsView) -> list[str]:
    """``Foo=True (Reason): message`` for each condition type this tool does not interpret."""
    return [f"{c['type']}={c['status']}" + (f" ({c['reason']})" if c.get("reason") else "")
            + (f": {c['message']}" if c.get("message") else "")
            for c in lws_conditions(view) if not c["known"]]


# ---- Kueue Topology Aware Scheduling ------------------------------------------------------------------

@dataclass(frozen=True)
class TasDomain:
    values: tuple[str, ...]  # one per level
    count: int


@dataclass(frozen=True)
class TasAssignment:
    levels: tuple[str, ...]
    domains: tuple[TasDomain, ...]

    def to_json(self) -> dict:
        return {"levels": list(self.levels),
                "domains": [{"values": list(d.values), "count": d.count} for d in self.domains]}

    def text(self) -> str:
        key = self.levels[-1] if self.levels else "?"
        return ", ".join(f"{d.values[-1] if d.values else '?'}" + (f" x{d.count}" if d.count != 1 else "")
                         for d in self.domains) + f" ({key})"


def _slice_values(level: dict, n: int) -> list[str]:
    if "universal" in level:
        return [str(level["universal"])] * n
    ind = level.get("individual") or {}
    roots = [str(r) for r in ind.get("roots") or []]
    return [f"{ind.get('prefix') or ''}{r}{ind.get('suffix') or ''}" for r in roots]


def tas_assignment(podset_assignment: dict) -> TasAssignment | None:
    """One podSetAssignment's ``topologyAssignment`` in either Workload version: v1beta1 ``domains
    [{values, count}]``, v1beta2 ``slices [{domainCount, valuesPerLevel, podCounts}]`` (golden G.3)."""
    ta = podset_assignment.get("topologyAssignment") if isinstance(podset_assignment, dict) else None
    if not isinstance(ta, dict):
        return None
    levels = tuple(str(x) for x in ta.get("levels") or [])
    domains: list[TasDomain] = []
    for d in ta.get("domains") or []:
        if isinstance(d, dict):
            domains.append(TasDomain(tuple(str(v) for v in d.get("values") or []), int(d.get("count") or 0)))
    for sl in ta.get("slices") or []:
        if not isinstance(sl, dict):
            continue
        n = int(sl.get("domainCount") or 0)
        per_level = [_slice_values(lv, n) for lv in sl.get("valuesPerLevel") or [] if isinstance(lv, dict)]
        counts_doc = sl.get("podCounts") or {}
        if "universal" in counts_doc:
            counts = [int(counts_doc["universal"])] * n
        else:
            counts = [int(c) for c in counts_doc.get("individual") or counts_doc.get("podCounts") or []]
        for i in range(n):
            values = tuple(vals[i] for vals in per_level if i < len(vals))
            domains.append(TasDomain(values, counts[i] if i < len(counts) else 0))
    return TasAssignment(levels, tuple(domains))


def tas_by_group(view: LwsView, groups: Sequence["GroupHealth"], facts: Facts) -> dict[int, dict[str, TasAssignment]]:
    """Group index -> pod set name -> the topology Kueue assigned (admitted TAS Workloads only)."""
    out: dict[int, dict[str, TasAssignment]] = {}
    for index, wl in _workloads_by_group(view, groups, facts.objects.get(KUEUE) or []).items():
        admission = _status(wl).get("admission")
        if not isinstance(admission, dict):
            continue
        for psa in admission.get("podSetAssignments") or []:
            ta = tas_assignment(psa)
            if ta is not None:
                out.setdefault(index, {})[str(psa.get("name") or "?")] = ta
    return out


def split_placement(groups: Sequence["Group"], nodes: dict[str, dict] | None) -> list[tuple[int, str, str]]:
    """Groups whose leader and workers landed in different domains of the topology Kueue was asked
    for (``podset-required-topology`` without ``podset-group-name``: each pod set is placed on its
    own, golden G.3 tas1). Returns (group, key, message); needs the nodes' labels."""
    if nodes is None:
        return []
    out = []
    for g in groups:
        pods = [p for p in g.pods if _spec(p).get("nodeName")]
        leader = next((p for p in pods if worker_index(p) == 0), None)
        if leader is None or len(pods) < 2:
            continue
        ann = _meta(leader).get("annotations") or {}
        key = ann.get(REQUIRED_TOPOLOGY_ANNOTATION)
        if not key or ann.get(PODSET_GROUP_ANNOTATION):
            continue

        def dom(p: dict) -> str | None:
            node = nodes.get(_spec(p).get("nodeName") or "")
            return ((_meta(node).get("labels") or {}).get(key)) if node else None
        lead = dom(leader)
        others = sorted({d for p in pods if p is not leader for d in [dom(p)] if d is not None and d != lead})
        if lead is not None and others:
            out.append((g.index, key, f"group {g.index}: leader on {key}={lead}, workers on {', '.join(others)}: "
                        f"Kueue placed each pod set on its own ({REQUIRED_TOPOLOGY_ANNOTATION} without "
                        f"{PODSET_GROUP_ANNOTATION}; add {PODSET_GROUP_ANNOTATION} to both templates)"))
    return out


__all__ = ["LAYERS", "Served", "Read", "Plan", "Facts", "QueueSpot", "plan", "layers_of", "queue_lookups",
           "group_causes", "kueue_workload_name", "tas_assignment", "tas_by_group", "split_placement",
           "lws_conditions", "unknown_condition_lines", "quota_text", "unread_warning", "claim_events",
           "classes_to_check", "webhook_refusal_hint"]
