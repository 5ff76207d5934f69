"""The cluster's topology as nested domains down to nodes, and which LWS group runs where.

Why a model of its own: ``map``, its SVG/HTML exports, the report bundle and the dashboard all draw
the same picture, so the facts are decided once here — levels (from ``--topology-key``, a Kueue
``Topology`` or well-known node labels), per node the accelerators allocatable and requested by LWS
groups and by other pods, NotReady / cordoned / tainted nodes, placement violations (from
``model/topology.placement``), and groups that cannot be placed with their cause (from
``model/verdict.judge``, the one verdict of every view). Pure functions of API dicts; no network, no printing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from kubectl_lws.model import keys
from kubectl_lws.model.ds import child_ref
from kubectl_lws.model.groups import LwsView, group_pods, labels, lws_view, pods_by_lws
from kubectl_lws.model.health import Assessment, node_ready
from kubectl_lws.model.topology import Violation, placement
from kubectl_lws.model.verdict import Facts, judge

# Extended resources that are accelerators, in the order we pick one when nodes have several.
ACCELERATORS = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "habana.ai/gaudi", "intel.com/gpu",
                "aws.amazon.com/neuroncore", "aws.amazon.com/neuron")

# Node labels that describe where a node sits, outermost first (clouds, NVIDIA Topograph, node pools).
WELL_KNOWN_LEVELS = (
    "topology.kubernetes.io/region",
    keys.ZONE_TOPOLOGY_KEY,
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
    "network.topology.nvidia.com/core",
    "network.topology.nvidia.com/spine",
    "network.topology.nvidia.com/leaf",
    "topology.k8s.aws/network-node-layer-1",
    "topology.k8s.aws/network-node-layer-2",
    "topology.k8s.aws/network-node-layer-3",
    "cloud.google.com/gce-topology-block",
    "cloud.google.com/gce-topology-subblock",
    "oci.oraclecloud.com/host.network_block_id",
    "oci.oraclecloud.com/host.rack_id",
    "network.topology.nvidia.com/accelerator",
    "cloud.google.com/gce-topology-host",
)

# Labels for groups: one character each, so a GPU slot holds exactly one.
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

# Accelerator slots of a node as the text and SVG maps draw them: a group's label, another pod, free.
FREE, OTHER = ".", "#"
MAX_SLOTS = 16  # more accelerators than this on a node are drawn to scale

# Node marks, most severe first (JSON carries the words; the text map shows the first one's symbol).
NOT_READY = "NotReady"
CORDONED = "Cordoned"
VIOLATION = "Violation"
TAINTED = "Tainted"
MARKS = (NOT_READY, CORDONED, VIOLATION, TAINTED)

# Taints that a mark of their own already says (cordon, NotReady) are not "tainted" again.
_IMPLIED_TAINTS = ("node.kubernetes.io/unschedulable", "node.kubernetes.io/not-ready",
                   "node.kubernetes.io/unreachable")

GroupKey = tuple[str, str, int]  # namespace, LWS name, group index


def quantity(value: object) -> int:
    """An extended-resource quantity (always whole: ``"8"``, ``8``, ``"1k"``) as an int; 0 when unreadable."""
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    scale = {"k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "Ki": 1024, "Mi": 1024 ** 2}
    for suffix, mult in scale.items():
        if text.endswith(suffix):
            try:
                return int(float(text[: -len(suffix)]) * mult)
            except ValueError:
                return 0
    try:
        return int(float(text))
    except ValueError:
        return 0


def pod_request(pod: dict, resource: str) -> int:
    """What the scheduler counts for ``resource``: max(sum of containers, largest init container).

    An extended resource given only as a limit is requested at that limit (API defaulting)."""
    spec = pod.get("spec") or {}
    main = 0
    for c in spec.get("containers") or ():
        main += _container_request(c, resource)
    init = 0
    for c in spec.get("initContainers") or ():
        init = max(init, _container_request(c, resource))
    return max(main, init)


def _container_request(container: dict, resource: str) -> int:
    res = container.get("resources")
    if not res:
        return 0
    req = (res.get("requests") or {}).get(resource)
    if req is None:
        req = (res.get("limits") or {}).get(resource)
    return 0 if req is None else quantity(req)


def node_allocatable(node: dict, resource: str) -> int:
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    return quantity(alloc.get(resource))


def pick_resource(nodes: Iterable[dict], wanted: str | None = None) -> str:
    """``wanted``, else the first accelerator any node offers, else nvidia.com/gpu."""
    if wanted:
        return wanted
    offered: set[str] = set()
    for n in nodes:
        status = n.get("status") or {}
        offered.update((status.get("allocatable") or status.get("capacity") or {}).keys())
    return next((r for r in ACCELERATORS if r in offered), ACCELERATORS[0])


def node_labels(node: dict) -> dict:
    return (node.get("metadata") or {}).get("labels") or {}


def node_taints(node: dict) -> list[str]:
    """Scheduling taints (NoSchedule / NoExecute) not already said by another mark, as key=value:Effect."""
    out = []
    for t in (node.get("spec") or {}).get("taints") or []:
        if t.get("effect") not in ("NoSchedule", "NoExecute") or t.get("key") in _IMPLIED_TAINTS:
            continue
        value = t.get("value")
        out.append(f"{t.get('key')}{'=' + value if value else ''}:{t.get('effect')}")
    return out


# ---- levels ------------------------------------------------------------------------------------------

def kueue_levels(topologies: Sequence[dict]) -> list[str]:
    """The levels of the Kueue ``Topology`` that describes these nodes best (the one with most levels;
    ties by name), hostname left out: nodes are the map's leaves."""
    best: list[str] = []
    for topo in sorted(topologies, key=lambda t: (t.get("metadata") or {}).get("name", "")):
        levels = [lv.get("nodeLabel") for lv in (topo.get("spec") or {}).get("levels") or [] if lv.get("nodeLabel")]
        if len(levels) > len(best):
            best = levels
    return [k for k in best if k != keys.HOSTNAME_TOPOLOGY_KEY]


# Name parts of node label keys that say where a node sits, whatever the prefix (``example.com/rack``).
GENERIC_LEVEL_NAMES = frozenset({"rack", "rack-id", "rack_id", "block", "subblock", "sub-block", "superpod",
                                 "spine", "leaf", "pod-group", "nvlink-domain"})


def detect_levels(nodes: Sequence[dict], views: Sequence[LwsView], *, explicit: Sequence[str] = (),
                  kueue: Sequence[str] = ()) -> tuple[list[str], str]:
    """Topology levels, outermost first, and where they came from (``flag``, ``kueue``, ``labels``).

    Detected levels are the well-known labels, keys named like a rack or block, and the LWS
    exclusive-topology keys, kept only when they group something (more than one value, some value
    on two nodes or more) and ordered by how many domains they have (fewer is outer)."""
    if explicit:
        return [k for k in dict.fromkeys(explicit) if k != keys.HOSTNAME_TOPOLOGY_KEY], "flag"
    if kueue:
        return list(dict.fromkeys(kueue)), "kueue"
    candidates = list(WELL_KNOWN_LEVELS)
    for v in views:
        for key in (v.exclusive_topology, v.subgroup_exclusive_topology):
            if key and key not in candidates and key != keys.HOSTNAME_TOPOLOGY_KEY:
                candidates.append(key)
    counts: dict[str, dict[str, int]] = {}
    for n in nodes:
        for key, value in node_labels(n).items():
            if key in candidates or key.rsplit("/", 1)[-1].lower() in GENERIC_LEVEL_NAMES:
                per = counts.setdefault(key, {})
                per[value] = per.get(value, 0) + 1
    rank = {k: i for i, k in enumerate(candidates)}
    kept = [k for k, per in counts.items() if len(per) > 1 and max(per.values()) > 1]
    kept.sort(key=lambda k: (len(counts[k]), rank.get(k, len(rank)), k))
    return kept, "labels"


def short_level(key: str) -> str:
    """``topology.kubernetes.io/zone`` -> ``zone``, ``cloud.google.com/gce-topology-block`` -> ``block``."""
    tail = key.rsplit("/", 1)[-1]
    for prefix in ("gce-topology-", "gke-", "host."):
        if tail.startswith(prefix):
            tail = tail[len(prefix):]
    return tail or key


# ---- the map -------------------------------------------------------------------------------------------

@dataclass
class MapGroup:
    """One LWS group on the map: its label, verdict and where its pods are."""

    namespace: str
    lws: str
    index: int
    label: str
    state: str
    reason: str
    size: int
    pods: int = 0  # live pods
    placed: int = 0  # live pods with a node
    gpus: int = 0  # accelerators its placed pods request
    nodes: list[str] = field(default_factory=list)
    surge: bool = False
    owner: dict | None = None  # the DisaggregatedSet, role, slice and revision of a child LWS (ChildRef)

    @property
    def key(self) -> GroupKey:
        return (self.namespace, self.lws, self.index)

    @property
    def unplaced(self) -> bool:
        """Some pod of the group is missing or has no node (shown under the map with its cause)."""
        return self.placed < self.size and self.state != "Ready"

    def to_json(self) -> dict:
        return {"namespace": self.namespace, "lws": self.lws, "group": self.index, "label": self.label,
                "state": self.state, "reason": self.reason, "size": self.size, "pods": self.pods,
                "placed": self.placed, "gpus": self.gpus, "nodes": list(self.nodes), "surge": self.surge,
                "owner": self.owner}


@dataclass
class MapNode:
    name: str
    domains: tuple[str | None, ...]  # one value per level (None: the node has no such label)
    ready: bool | None
    cordoned: bool
    taints: list[str]
    gpus: int  # allocatable accelerators
    gpu_groups: dict[GroupKey, int] = field(default_factory=dict)  # accelerators requested per group
    gpu_other: int = 0  # accelerators requested by pods of no group on the map
    pod_groups: dict[GroupKey, int] = field(default_factory=dict)  # pods per group
    other_pods: int = 0
    violations: list[str] = field(default_factory=list)
    known: bool = True  # False: a node a pod names that the node list does not have

    @property
    def marks(self) -> list[str]:
        out = []
        if self.ready is False or not self.known:
            out.append(NOT_READY)
        if self.cordoned:
            out.append(CORDONED)
        if self.violations:
            out.append(VIOLATION)
        if self.taints:
            out.append(TAINTED)
        return out

    @property
    def idle(self) -> bool:
        """Nothing runs here and nothing is wrong: the nodes a text map may summarise."""
        return not self.pod_groups and not self.other_pods and not self.marks

    @property
    def gpus_used(self) -> int:
        return sum(self.gpu_groups.values()) + self.gpu_other

    def to_json(self, labels_of: dict[GroupKey, str]) -> dict:
        return {"name": self.name, "domains": list(self.domains), "ready": self.ready, "cordoned": self.cordoned,
                "taints": list(self.taints), "marks": self.marks, "exists": self.known,
                "gpus": {"allocatable": self.gpus, "lws": sum(self.gpu_groups.values()), "other": self.gpu_other,
                         "free": max(0, self.gpus - self.gpus_used)},
                "groups": [{"label": labels_of.get(k, "?"), "namespace": k[0], "lws": k[1], "group": k[2],
                            "pods": n, "gpus": self.gpu_groups.get(k, 0)} for k, n in self.pod_groups.items()],
                "otherPods": self.other_pods, "violations": list(self.violations)}


@dataclass
class Domain:
    """A box of the map: one value of one level (or several merged levels), its sub-boxes or nodes."""

    keys: tuple[str, ...]
    values: tuple[str | None, ...]
    children: list["Domain"] = field(default_factory=list)
    nodes: list[MapNode] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return " / ".join(f"{short_level(k)} {v if v is not None else '(none)'}"
                          for k, v in zip(self.keys, self.values))

    def all_nodes(self) -> list[MapNode]:
        out = list(self.nodes)
        for c in self.children:
            out += c.all_nodes()
        return out

    def to_json(self) -> dict:
        doc: dict = {"levels": list(self.keys), "values": list(self.values), "violations": list(self.violations)}
        if self.children:
            doc["domains"] = [c.to_json() for c in self.children]
        else:
            doc["nodes"] = [n.name for n in self.nodes]
        return doc


@dataclass
class ClusterMap:
    levels: list[str]
    levels_from: str  # flag, kueue, labels
    resource: str
    roots: list[Domain]
    nodes: list[MapNode]
    groups: list[MapGroup]
    violations: list[dict]  # {namespace, lws, group, subgroup, key, message}
    nodes_known: bool  # the node list could be read
    others_scope: str  # "cluster", "namespace" or "none" (not read): which pods "other" counts
    by_lws: bool = False  # labels name LWS, not groups (more groups than labels)
    lws: list[dict] = field(default_factory=list)  # namespace, name, state, reason, label (by_lws)

    @property
    def labels_of(self) -> dict[GroupKey, str]:
        return {g.key: g.label for g in self.groups}

    @property
    def unplaced(self) -> list[MapGroup]:
        return [g for g in self.groups if g.unplaced]

    def totals(self) -> dict:
        alloc = sum(n.gpus for n in self.nodes)
        lws = sum(sum(n.gpu_groups.values()) for n in self.nodes)
        other = sum(n.gpu_other for n in self.nodes)
        return {"nodes": len(self.nodes), "gpus": alloc, "lws": lws, "other": other,
                "free": sum(max(0, n.gpus - n.gpus_used) for n in self.nodes)}

    def summary(self) -> str:
        """One line of totals, the same under every picture (text, SVG, HTML)."""
        t = self.totals()
        others = f"{t['other']} other pods" if self.others_scope != "none" else "other pods not read"
        return (f"{t['nodes']} node{'s' if t['nodes'] != 1 else ''}, {t['gpus']} {self.resource}: {t['lws']} for "
                f"LWS groups, {others}, {t['free']} free")

    def to_json(self) -> dict:
        labels_of = self.labels_of
        return {"kind": "LeaderWorkerSetMap", "levels": list(self.levels), "levelsFrom": self.levels_from,
                "resource": self.resource, "labelsPer": "lws" if self.by_lws else "group",
                "otherPods": self.others_scope, "nodesKnown": self.nodes_known, "totals": self.totals(),
                "domains": [d.to_json() for d in self.roots],
                "nodes": [n.to_json(labels_of) for n in self.nodes],
                "groups": [g.to_json() for g in self.groups],
                "unplaced": [{"namespace": g.namespace, "lws": g.lws, "group": g.index, "label": g.label,
                              "state": g.state, "cause": g.reason} for g in self.unplaced],
                "violations": list(self.violations),
                "leaderWorkerSets": list(self.lws)}


def build_map(lws_objs: Sequence[dict], pods: Sequence[dict], nodes: Sequence[dict] | None, *,
              levels: Sequence[str] = (), levels_from: str = "labels", resource: str | None = None,
              others_scope: str = "cluster", assessments: dict[tuple[str, str], Assessment] | None = None,
              now=None) -> ClusterMap:  # noqa: ANN001 — a datetime, as model.verdict.Facts takes it
    """The map of ``lws_objs``' groups over ``nodes``; ``pods`` may hold any pods of the cluster (those of
    no listed LWS count as "other" on their node). ``assessments``: the verdicts the caller made
    (``reads.verdict``, with events where needed); an LWS without one is judged here from its pods."""
    views = [lws_view(o) for o in lws_objs]
    owners = {((o.get("metadata") or {}).get("namespace"), (o.get("metadata") or {}).get("name")):
              ref.to_json() for o in lws_objs if (ref := child_ref(o)) is not None}
    node_list = list(nodes or [])
    node_map = {(n.get("metadata") or {}).get("name", ""): n for n in node_list} if nodes is not None else None
    res = pick_resource(node_list, resource)
    mine = {(v.namespace, v.name) for v in views}
    given = assessments or {}
    by_lws = pods_by_lws(pods) if any(k not in given for k in mine) else {}

    # verdicts and groups, per LWS, in a stable order
    groups: list[MapGroup] = []
    violations: list[dict] = []
    node_violations: dict[str, list[str]] = {}
    domain_violations: dict[tuple[str, str], list[str]] = {}
    lws_rows: list[dict] = []
    for v in sorted(views, key=lambda x: (x.namespace, x.name)):
        lws_pods = by_lws.get((v.namespace, v.name), [])
        a = given.get((v.namespace, v.name)) or judge(Facts(v, lws_pods, node_map, now=now))
        owner = owners.get((v.namespace, v.name))
        lws_rows.append({"namespace": v.namespace, "name": v.name, "state": a.state, "reason": a.reason,
                         "owner": owner})
        place = placement(v, [g.group for g in a.groups if g.group is not None] or group_pods([], v.replicas),
                          node_map)
        for viol in place.violations:
            violations.append({"namespace": v.namespace, "lws": v.name, **viol.to_json()})
            _attach(viol, v, node_violations, domain_violations)
        for gh in a.groups:
            live = gh.group.pods if gh.group is not None else []
            mg = MapGroup(v.namespace, v.name, gh.index, "", gh.state, gh.reason, v.size, surge=gh.surge,
                          pods=len(live), owner=owner)
            seen_nodes: dict[str, None] = {}
            for p in live:
                node = (p.get("spec") or {}).get("nodeName")
                if node:
                    mg.placed += 1
                    seen_nodes[node] = None
            mg.nodes = list(seen_nodes)  # its accelerators are added up with the nodes' below
            groups.append(mg)

    by_lws_labels = len(groups) > len(LABELS) and len(lws_rows) <= len(LABELS)
    if by_lws_labels:
        for i, row in enumerate(lws_rows):
            row["label"] = LABELS[i]
        lws_label = {(r["namespace"], r["name"]): r["label"] for r in lws_rows}
        for g in groups:
            g.label = lws_label[(g.namespace, g.lws)]
    else:
        for i, g in enumerate(groups):
            g.label = LABELS[i] if i < len(LABELS) else "?"

    # nodes: every listed node, plus any node a pod names that the list does not have
    cells: dict[str, MapNode] = {}
    group_gpus: dict[GroupKey, int] = {}
    level_list = list(levels)
    for n in node_list:
        name = (n.get("metadata") or {}).get("name", "")
        lab = node_labels(n)
        cells[name] = MapNode(name=name, domains=tuple(lab.get(k) for k in level_list), ready=node_ready(n),
                              cordoned=bool((n.get("spec") or {}).get("unschedulable")), taints=node_taints(n),
                              gpus=node_allocatable(n, res))
    for p in pods:
        spec = p.get("spec") or {}
        node = spec.get("nodeName")
        if not node:
            continue
        phase = (p.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            continue  # holds no resources any more
        meta = p.get("metadata") or {}
        pod_labels = labels(p)
        lname = pod_labels.get(keys.NAME_LABEL)
        gi = pod_labels.get(keys.GROUP_INDEX_LABEL)
        ours = bool(lname) and (meta.get("namespace", ""), lname) in mine and str(gi).isdigit()
        cell = cells.get(node)
        if cell is None:
            if not ours:
                continue  # another pod on a node we cannot see: not this map's business
            # a group's pod on a node the list does not have (deleted), or no node list at all
            cell = cells[node] = MapNode(name=node, domains=tuple(None for _ in level_list), ready=None,
                                         cordoned=False, taints=[], gpus=0, known=nodes is None)
        want = pod_request(p, res)
        if ours:
            key = (meta.get("namespace", ""), str(lname), int(str(gi)))
            cell.pod_groups[key] = cell.pod_groups.get(key, 0) + 1
            if want:
                cell.gpu_groups[key] = cell.gpu_groups.get(key, 0) + want
                if not meta.get("deletionTimestamp"):  # a group's live pods, as its pod count
                    group_gpus[key] = group_gpus.get(key, 0) + want
        else:
            cell.other_pods += 1
            cell.gpu_other += want
    for name, texts in node_violations.items():
        if name in cells:
            cells[name].violations.extend(texts)
    for g in groups:
        g.gpus = group_gpus.get(g.key, 0)
    if domain_violations:  # e.g. two groups in one rack: every node of that rack is marked
        for n in node_list:
            lab = node_labels(n)
            cell = cells[(n.get("metadata") or {}).get("name", "")]
            for (key, value), texts in domain_violations.items():
                if lab.get(key) == value:
                    cell.violations.extend(t for t in texts if t not in cell.violations)
    ordered = sorted(cells.values(), key=lambda c: (tuple((d is None, d or "") for d in c.domains), c.name))
    roots = _tree(ordered, level_list, domain_violations)
    return ClusterMap(levels=level_list, levels_from=levels_from, resource=res, roots=roots, nodes=ordered,
                      groups=groups, violations=violations, nodes_known=nodes is not None,
                      others_scope=others_scope, by_lws=by_lws_labels, lws=lws_rows)


def _attach(viol: Violation, view: LwsView, node_violations: dict[str, list[str]],
            domain_violations: dict[tuple[str, str], list[str]]) -> None:
    """Mark the node or topology domains a violation is about (unscheduled pods are the "cannot be
    placed" list's business, not a node's)."""
    text = f"{view.namespace}/{view.name}: {viol.message}"
    if viol.node:
        node_violations.setdefault(viol.node, []).append(text)
    if viol.key:
        for value in viol.domains:
            domain_violations.setdefault((viol.key, value), []).append(text)


def _tree(nodes: list[MapNode], level_keys: list[str],
          domain_violations: dict[tuple[str, str], list[str]]) -> list[Domain]:
    """Nested domains; a level that splits its parent no further is merged into the parent's box."""
    if not level_keys:
        return [Domain(keys=(), values=(), nodes=list(nodes))]

    def build(members: list[MapNode], depth: int) -> list[Domain]:
        buckets: dict[str | None, list[MapNode]] = {}
        for n in members:
            buckets.setdefault(n.domains[depth], []).append(n)
        out = []
        for value, inner in buckets.items():
            d = Domain(keys=(level_keys[depth],), values=(value,))
            if value is not None:
                d.violations = list(domain_violations.get((level_keys[depth], value), []))
            if depth + 1 < len(level_keys):
                kids = build(inner, depth + 1)
                if len(kids) == 1:  # merged: "zone z1 / pool pool-a" rather than a box in a box
                    only = kids[0]
                    d.keys += only.keys
                    d.values += only.values
                    d.violations += [t for t in only.violations if t not in d.violations]
                    d.children, d.nodes = only.children, only.nodes
                else:
                    d.children = kids
            else:
                d.nodes = inner
            out.append(d)
        return out

    return build(nodes, 0)


def node_slots(node: MapNode, labels_of: dict[GroupKey, str]) -> list[tuple[str, GroupKey | None]]:
    """The node's accelerator slots, left to right: (character, group or None)."""
    ordered = sorted(node.gpu_groups.items(), key=lambda kv: labels_of.get(kv[0], ""))
    parts: list[tuple[str, GroupKey | None, int]] = [(labels_of.get(k, "?"), k, n) for k, n in ordered]
    if node.gpu_other:
        parts.append((OTHER, None, node.gpu_other))
    free = max(0, node.gpus - node.gpus_used)
    if free:
        parts.append((FREE, None, free))
    total = sum(n for *_, n in parts)
    if total > MAX_SLOTS:  # to scale, each part keeping at least one slot
        scaled = [(ch, k, max(1, round(n * MAX_SLOTS / total))) for ch, k, n in parts]
        parts = scaled
    return [(ch, k) for ch, k, n in parts for _ in range(n)]


def cpu_only_groups(node: MapNode, labels_of: dict[GroupKey, str]) -> list[tuple[str, GroupKey]]:
    """Groups with pods on the node that requested no accelerator there."""
    seen: dict[str, GroupKey] = {}
    for k in node.pod_groups:
        if k not in node.gpu_groups:
            seen.setdefault(labels_of.get(k, "?"), k)
    return sorted(seen.items())
