"""Where each group runs, per topology key, and which placement rules are broken.

Why a separate model: exclusive placement (reference §8.7) is a promise about *domains* (the node
label value for a key), not nodes, and it is only checkable with the nodes' labels. The status
view needs the domains per group and a list of violations; both are pure functions of pods +
nodes so they are unit-tested on the golden dumps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from kubectl_lws.model import keys
from kubectl_lws.model.admission import REQUIRED_TOPOLOGY_ANNOTATION, split_placement
from kubectl_lws.model.groups import Group, LwsView, pod_name, subgroup_index, worker_index
from kubectl_lws.model.health import _short_scheduler_message, node_ready, nodes_by_name

DEFAULT_KEYS = (keys.HOSTNAME_TOPOLOGY_KEY, keys.ZONE_TOPOLOGY_KEY)


def topology_keys(view: LwsView, extra: Iterable[str] = ()) -> list[str]:
    """Hostname, zone, the LWS's exclusive keys, the level Kueue TAS was asked for, then
    ``--topology-key`` values (no duplicates)."""
    out: list[str] = []
    tas = [((t.get("metadata") or {}).get("annotations") or {}).get(REQUIRED_TOPOLOGY_ANNOTATION)
           for t in (view.leader_template(), view.worker_template())]
    for key in (*DEFAULT_KEYS, view.exclusive_topology, view.subgroup_exclusive_topology, *tas, *extra):
        if key and key not in out:
            out.append(key)
    return out


def short_key(key: str) -> str:
    """Column title for a key: ``example.com/rack`` -> ``RACK``, hostname -> ``NODE``."""
    if key == keys.HOSTNAME_TOPOLOGY_KEY:
        return "NODE"
    return key.rsplit("/", 1)[-1].upper()


def domain_of(node_name: str | None, key: str, nodes: dict[str, dict] | None) -> str | None:
    """The node's value for ``key``; for hostname fall back to the node name (no node list)."""
    if not node_name:
        return None
    node = (nodes or {}).get(node_name)
    if node is None:
        return node_name if key == keys.HOSTNAME_TOPOLOGY_KEY else None
    value = ((node.get("metadata") or {}).get("labels") or {}).get(key)
    if value is None and key == keys.HOSTNAME_TOPOLOGY_KEY:
        return node_name
    return value


def group_domains(group: Group, key_list: Sequence[str], nodes: dict[str, dict] | None) -> dict[str, list[str]]:
    """For one group: key -> sorted distinct domains its scheduled pods occupy."""
    out: dict[str, list[str]] = {}
    for key in key_list:
        values = {domain_of((p.get("spec") or {}).get("nodeName"), key, nodes) for p in group.pods}
        out[key] = sorted(v for v in values if v)
    return out


@dataclass(frozen=True)
class Violation:
    group: int | None
    subgroup: int | None
    key: str | None
    message: str

    def to_json(self) -> dict:
        return {"group": self.group, "subgroup": self.subgroup, "key": self.key, "message": self.message}


@dataclass
class Placement:
    keys: list[str]
    domains: dict[int, dict[str, list[str]]]  # group index -> key -> domains
    violations: list[Violation]
    nodes_known: bool

    def to_json(self) -> dict:
        return {"keys": list(self.keys), "violations": [v.to_json() for v in self.violations]}


def placement(view: LwsView, groups: Sequence[Group], nodes: dict[str, dict] | Iterable[dict] | None,
              extra_keys: Iterable[str] = ()) -> Placement:
    """Domains per group and every placement violation (checked only when nodes are known)."""
    node_map = nodes_by_name(nodes)
    key_list = topology_keys(view, extra_keys)
    domains = {g.index: group_domains(g, key_list, node_map) for g in groups}
    violations: list[Violation] = []
    if view.exclusive_topology:
        violations += _exclusive(groups, domains, view.exclusive_topology, node_map)
    if view.subgroup_exclusive_topology:
        violations += _subgroup_exclusive(groups, view.subgroup_exclusive_topology, node_map)
    for index, key, message in split_placement(groups, node_map):  # Kueue TAS, pod sets placed apart
        violations.append(Violation(index, None, key, message))
    for g in groups:
        for p in g.pods:
            node_name = (p.get("spec") or {}).get("nodeName")
            if node_name and node_map is not None:
                if node_name not in node_map:
                    violations.append(Violation(g.index, subgroup_index(p), None,
                                                f"pod {pod_name(p)} is on node {node_name}, which no longer exists"))
                elif node_ready(node_map[node_name]) is False:
                    violations.append(Violation(g.index, subgroup_index(p), None,
                                                f"pod {pod_name(p)} is on NotReady node {node_name}"))
                elif node_ready(node_map[node_name]) is None:
                    violations.append(Violation(g.index, subgroup_index(p), None,
                                                f"pod {pod_name(p)} is on node {node_name} with unknown readiness"))
            if not node_name:
                sched = next((c for c in (p.get("status") or {}).get("conditions") or []
                              if c.get("type") == "PodScheduled"), None)
                if sched and sched.get("status") == "False" and sched.get("reason") == "Unschedulable":
                    key = view.exclusive_topology if worker_index(p) == 0 else None
                    violations.append(Violation(
                        g.index, subgroup_index(p), key,
                        f"pod {pod_name(p)} cannot be placed: "
                        f"{_short_scheduler_message(sched.get('message', ''), 160)}"))
    return Placement(keys=key_list, domains=domains, violations=violations, nodes_known=node_map is not None)


def _exclusive(groups: Sequence[Group], domains: dict[int, dict[str, list[str]]], key: str,
               nodes: dict[str, dict] | None) -> list[Violation]:
    out: list[Violation] = []
    owners: dict[str, list[int]] = {}
    for g in groups:
        doms = domains[g.index].get(key, [])
        if len(doms) > 1:
            out.append(Violation(g.index, None, key, f"group {g.index} spans {len(doms)} {key} domains: "
                                                     f"{', '.join(doms)}"))
        for d in doms:
            owners.setdefault(d, []).append(g.index)
        if nodes is not None:
            for p in g.pods:
                node_name = (p.get("spec") or {}).get("nodeName")
                if node_name and node_name in nodes and domain_of(node_name, key, nodes) is None:
                    out.append(Violation(g.index, None, key,
                                         f"pod {pod_name(p)} is on node {node_name}, which has no {key} label"))
    for dom, idxs in sorted(owners.items()):
        if len(idxs) > 1:
            listed = ", ".join(str(i) for i in idxs)
            out.append(Violation(idxs[0], None, key, f"groups {listed} share {key}={dom}"))
    return out


def _subgroup_exclusive(groups: Sequence[Group], key: str, nodes: dict[str, dict] | None) -> list[Violation]:
    out: list[Violation] = []
    owners: dict[str, list[tuple[int, int]]] = {}
    for g in groups:
        by_sub: dict[int, set[str]] = {}
        for p in g.pods:
            sg = subgroup_index(p)
            dom = domain_of((p.get("spec") or {}).get("nodeName"), key, nodes)
            if sg is None or dom is None:
                continue
            by_sub.setdefault(sg, set()).add(dom)
        for sg, doms in sorted(by_sub.items()):
            if len(doms) > 1:
                out.append(Violation(g.index, sg, key, f"group {g.index} subgroup {sg} spans {len(doms)} {key} "
                                                       f"domains: {', '.join(sorted(doms))}"))
            for d in doms:
                owners.setdefault(d, []).append((g.index, sg))
    for dom, members in sorted(owners.items()):
        if len(members) > 1:
            listed = ", ".join(f"{gi}/{sg}" for gi, sg in members)
            out.append(Violation(members[0][0], members[0][1], key,
                                 f"subgroups {listed} (group/subgroup) share {key}={dom}"))
    return out
