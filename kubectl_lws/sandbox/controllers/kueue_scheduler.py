"""Kueue's admission: quota per ClusterQueue and flavor, BestEffortFIFO order, Topology Aware Scheduling.

What the recordings show (golden G.1-G.3) and this reproduces: pending Workloads are tried oldest first
(priority, then the time they entered the queue); one that does not fit gets ``QuotaReserved=False``
``Pending`` with Kueue's per-pod-set message (the shortfall counts the pod sets before it) and a
``Pending`` Warning; the next ones are still tried. A Workload that arrives while its ClusterQueue
already holds an inadmissible one is not evaluated at all until quota or the queue changes (the 4th
group had no QuotaReserved condition for 27 s). An admitted Workload gets ``status.admission`` with
flavors and usage, and, on a flavor with a Topology, the nodes TAS chose (the lowest level only).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import events
from .base import Controller
from .kueue_common import (CLUSTER_QUEUES, COMPONENT_ADMISSION, FLAVORS, HOSTNAME, LOCAL_QUEUES, TOPOLOGIES,
                           WORKLOADS, condition, fmt, is_true, pod_requests, set_condition)
from .kueue_common import seconds_since
from .scheduler import node_ready, selector_matches
from ..admission import quantity
from ..kueue_api import arrivals, arrived, is_pending, queue_key, slices
from ..store import now_iso

WORKLOAD_ANNOTATION = "kueue.x-k8s.io/workload"


@dataclass
class Assignment:
    ok: bool
    message: str = ""
    podsets: list[dict] = field(default_factory=list)  # status.admission.podSetAssignments
    usage: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (flavor, resource) -> amount


class KueueScheduler(Controller):
    """One key, "cycle": an admission pass over every ClusterQueue."""
    name = "kueue-scheduler"

    def __init__(self, mgr):
        super().__init__(mgr)
        self.full = True  # the next pass evaluates every pending Workload
        self.blocked: set[str] = set()  # ClusterQueues holding an inadmissible Workload

    def on_event(self, type_, resource, obj, old):
        if resource == WORKLOADS:
            if type_ == "ADDED" or (old is not None and is_true(obj, "Evicted") and not is_true(old, "Evicted")):
                arrived(self.store, obj)
            if type_ == "DELETED" or old is None:
                if type_ == "DELETED" and ((obj.get("status") or {}).get("admission")):
                    self.full = True  # quota freed
            else:
                was, now = bool((old.get("status") or {}).get("admission")), bool((obj.get("status") or {}).get("admission"))
                requeued = is_true(obj, "Requeued") and not is_true(old, "Requeued")
                reactivated = (obj.get("spec") or {}).get("active", True) and not (old.get("spec") or {}).get("active", True)
                if (was and not now) or requeued or reactivated:
                    self.full = True
            self.enqueue("cycle")
        elif resource in (CLUSTER_QUEUES, LOCAL_QUEUES, FLAVORS, TOPOLOGIES):
            if type_ != "MODIFIED" or obj.get("spec") != (old or {}).get("spec"):  # not the queues' status
                self.full = True
                self.enqueue("cycle")
        elif resource == "nodes" and type_ != "MODIFIED":
            self.full = True
            self.enqueue("cycle")

    # ------------------------------------------------------------------------------------------- pass
    def reconcile(self, key):
        full, self.full = self.full, False
        now = now_iso()
        store = self.store
        cqs = {c["metadata"]["name"]: c for c in store.list(CLUSTER_QUEUES)}
        workloads = store.list(WORKLOADS)
        usage = _usage(workloads)
        by_cq: dict[str, list[dict]] = {}
        order = arrivals(store)
        for wl in sorted((w for w in workloads if is_pending(w, now)), key=lambda w: queue_key(w, order)):
            ns = wl["metadata"].get("namespace")
            queue = (wl.get("spec") or {}).get("queueName") or ""
            lq = store.get(LOCAL_QUEUES, ns, queue)
            if lq is None:
                self._inadmissible(wl, f"LocalQueue {queue} doesn't exist")
                continue
            cq_name = (lq.get("spec") or {}).get("clusterQueue") or ""
            cq = cqs.get(cq_name)
            if cq is None:
                self._inadmissible(wl, f"ClusterQueue {cq_name} doesn't exist")
                continue
            nsobj = store.get("namespaces", None, ns) or {"metadata": {}}
            sel = (cq.get("spec") or {}).get("namespaceSelector")
            if sel is not None and sel and not selector_matches(sel, nsobj["metadata"].get("labels") or {}):
                self._inadmissible(wl, "Workload namespace doesn't match ClusterQueue selector")
                continue
            by_cq.setdefault(cq_name, []).append(wl)
        tas = _TasState(store, workloads)
        for cq_name, wls in by_cq.items():
            if not full and cq_name in self.blocked:
                continue  # new arrivals wait for the next quota change (golden G.1)
            blocked = False
            for wl in wls:
                result = self._assign(cqs[cq_name], wl, usage.setdefault(cq_name, {}), tas)
                if result.ok:
                    self._reserve(wl, cq_name, result)
                    for k, v in result.usage.items():
                        usage[cq_name][k] = usage[cq_name].get(k, Decimal(0)) + v
                else:
                    self._pending(wl, result.message)
                    blocked = True
            (self.blocked.add if blocked else self.blocked.discard)(cq_name)

    # ------------------------------------------------------------------------------------------- fit
    def _assign(self, cq: dict, wl: dict, used: dict, tas: "_TasState") -> Assignment:
        groups = (cq.get("spec") or {}).get("resourceGroups") or []
        cumulative: dict[str, Decimal] = {}
        failures: list[str] = []
        out = Assignment(ok=True)
        for ps in (wl.get("spec") or {}).get("podSets") or []:
            count = int(ps.get("count") or 1)
            per_pod = pod_requests(ps)
            total = {r: v * count for r, v in per_pod.items() if v}
            for r, v in total.items():
                cumulative[r] = cumulative.get(r, Decimal(0)) + v
            flavors: dict[str, str] = {}
            problem = None
            for r in total:
                if not any(r in (g.get("coveredResources") or []) for g in groups):
                    problem = f"resource {r} unavailable in ClusterQueue"
                    break
            for g in groups if problem is None else []:
                covered = [r for r in total if r in (g.get("coveredResources") or [])]
                if not covered:
                    continue
                chosen, first_miss = None, None
                for fl in g.get("flavors") or []:
                    quota = {x.get("name"): quantity(x.get("nominalQuota")) for x in fl.get("resources") or []}
                    miss = None
                    for r in covered:
                        have = quota.get(r, Decimal(0))
                        need = used.get((fl["name"], r), Decimal(0)) + cumulative[r]
                        if cumulative[r] > have:
                            miss = (f"insufficient quota for {r} in flavor {fl['name']}, request > maximum capacity "
                                    f"({fmt(r, cumulative[r])} > {fmt(r, have)})")
                            break
                        if need > have:
                            miss = f"insufficient unused quota for {r} in flavor {fl['name']}, {fmt(r, need - have)} more needed"
                            break
                    if miss is None:
                        chosen = fl["name"]
                        break
                    first_miss = first_miss or miss
                if chosen is None:
                    problem = first_miss
                    break
                for r in covered:
                    flavors[r] = chosen
            if problem is not None:
                failures.append(f"couldn't assign flavors to pod set {ps.get('name')}: {problem}")
                continue
            psa = {"count": count, "flavors": dict(sorted(flavors.items())), "name": ps.get("name"),
                   "resourceUsage": {r: fmt(r, v) for r, v in sorted(total.items())}}
            out.podsets.append(psa)
            for r, v in total.items():
                out.usage[(flavors[r], r)] = out.usage.get((flavors[r], r), Decimal(0)) + v
        if failures:
            return Assignment(ok=False, message="; ".join(failures))
        problem = tas.place(wl, out.podsets)
        if problem:
            return Assignment(ok=False, message=problem)
        return out

    # ------------------------------------------------------------------------------------------- writes
    def _pending(self, wl: dict, message: str) -> None:
        new = copy.deepcopy(wl)
        changed = set_condition(new, "QuotaReserved", "False", "Pending", message)
        requests = [{"name": ps.get("name"), "resources": {r: fmt(r, v * int(ps.get("count") or 1))
                                                          for r, v in sorted(pod_requests(ps).items())}}
                    for ps in (wl.get("spec") or {}).get("podSets") or []]
        if new.setdefault("status", {}).get("resourceRequests") != requests:
            new["status"]["resourceRequests"] = requests
            changed = True
        if not changed:
            return
        updated = self.store.update(WORKLOADS, new, subresource="status")
        old = condition(wl, "QuotaReserved")
        if old is None or old.get("message") != message:
            events.emit(self.store, updated, "Pending", message, type_="Warning", action="Pending",
                        component=COMPONENT_ADMISSION)

    def _inadmissible(self, wl: dict, message: str) -> None:
        new = copy.deepcopy(wl)
        if set_condition(new, "QuotaReserved", "False", "Inadmissible", message):
            self.store.update(WORKLOADS, new, subresource="status")

    def _reserve(self, wl: dict, cq_name: str, result: Assignment) -> None:
        new = copy.deepcopy(wl)
        st = new.setdefault("status", {})
        st["admission"] = {"clusterQueue": cq_name, "podSetAssignments": result.podsets}
        st.pop("resourceRequests", None)
        evicted = condition(new, "Evicted")
        queued_at = (evicted or {}).get("lastTransitionTime") if evicted and evicted.get("status") == "True" \
            else wl["metadata"].get("creationTimestamp")
        set_condition(new, "QuotaReserved", "True", "QuotaReserved", f"Quota reserved in ClusterQueue {cq_name}")
        set_condition(new, "Admitted", "True", "Admitted", "The workload is admitted")
        if evicted is not None and evicted.get("status") == "True":
            set_condition(new, "Evicted", "False", "QuotaReserved", f"Previously: {evicted.get('message')}")
        updated = self.store.update(WORKLOADS, new, subresource="status")
        waited = seconds_since(queued_at)
        events.emit(self.store, updated, "QuotaReserved",
                    f"Quota reserved in ClusterQueue {cq_name}, wait time since queued was {waited}s",
                    action="QuotaReserved", component=COMPONENT_ADMISSION)
        events.emit(self.store, updated, "Admitted",
                    f"Admitted by ClusterQueue {cq_name}, wait time since reservation was 0s",
                    action="Admitted", component=COMPONENT_ADMISSION)


def _usage(workloads: list[dict]) -> dict[str, dict[tuple[str, str], Decimal]]:
    """ClusterQueue -> (flavor, resource) -> reserved, from the admitted Workloads."""
    out: dict[str, dict[tuple[str, str], Decimal]] = {}
    for wl in workloads:
        adm = (wl.get("status") or {}).get("admission") or {}
        if not adm or not is_true(wl, "QuotaReserved"):
            continue
        mine = out.setdefault(adm.get("clusterQueue"), {})
        for psa in adm.get("podSetAssignments") or []:
            for r, v in (psa.get("resourceUsage") or {}).items():
                flavor = (psa.get("flavors") or {}).get(r)
                if flavor:
                    mine[(flavor, r)] = mine.get((flavor, r), Decimal(0)) + quantity(v)
    return out


class _TasState:
    """Free capacity per node for Topology Aware Scheduling: allocatable, less bound pods that no TAS
    Workload accounts for, less the nodes already assigned to admitted TAS Workloads."""

    def __init__(self, store: Any, workloads: list[dict]):
        self.store = store
        self.nodes = {n["metadata"]["name"]: n for n in store.list("nodes")
                      if node_ready(n) and not (n.get("spec") or {}).get("unschedulable")}
        self.free: dict[str, dict[str, Decimal]] = {}
        for name, n in self.nodes.items():
            alloc = (n.get("status") or {}).get("allocatable") or (n.get("status") or {}).get("capacity") or {}
            self.free[name] = {r: quantity(v) for r, v in alloc.items()}
        tas_workloads = set()
        for wl in workloads:
            adm = (wl.get("status") or {}).get("admission") or {}
            for psa in adm.get("podSetAssignments") or []:
                ta = psa.get("topologyAssignment")
                if not ta:
                    continue
                tas_workloads.add(wl["metadata"]["name"])
                per_pod = next((pod_requests(ps) for ps in (wl.get("spec") or {}).get("podSets") or []
                                if ps.get("name") == psa.get("name")), {})
                for sl in ta.get("slices") or []:
                    node = ((sl.get("valuesPerLevel") or [{}])[-1]).get("universal")
                    count = int((sl.get("podCounts") or {}).get("universal") or 0)
                    self._take(node, per_pod, count)
        for p in store.list("pods"):
            node = (p.get("spec") or {}).get("nodeName")
            if not node or (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            if (p["metadata"].get("annotations") or {}).get(WORKLOAD_ANNOTATION) in tas_workloads:
                continue
            req: dict[str, Decimal] = {}
            for c in (p.get("spec") or {}).get("containers") or []:
                res = c.get("resources") or {}
                r2 = dict(res.get("limits") or {})
                r2.update(res.get("requests") or {})
                for k, v in r2.items():
                    req[k] = req.get(k, Decimal(0)) + quantity(v)
            req["pods"] = Decimal(1)
            self._take(node, req, 1)

    def _take(self, node: str | None, per_pod: dict, count: int) -> None:
        if node not in self.free:
            return
        for r, v in per_pod.items():
            self.free[node][r] = self.free[node].get(r, Decimal(0)) - v * count

    def _fits(self, node: str, per_pod: dict, free: dict) -> tuple[int, str | None]:
        """How many pods fit on ``node`` and, when none, the first resource that keeps them out."""
        n = 1 << 30
        limit = None
        for r, v in per_pod.items():
            if not v:
                continue
            have = free[node].get(r, Decimal(0))
            k = int(have // v) if have > 0 else 0
            if k < n:
                n, limit = k, r
        return (n if n != 1 << 30 else 64), (limit if n == 0 else None)

    def place(self, wl: dict, podsets: list[dict]) -> str | None:
        """Give each pod set on a TAS flavor its nodes (``topologyAssignment``); a message when one does not fit."""
        specs = {ps.get("name"): ps for ps in (wl.get("spec") or {}).get("podSets") or []}
        units: dict[str, list[dict]] = {}
        order: list[str] = []
        for psa in podsets:
            flavor = self.store.get(FLAVORS, None, next(iter(psa["flavors"].values()), ""))
            topo_name = ((flavor or {}).get("spec") or {}).get("topologyName")
            if not topo_name:
                continue
            psa["_flavor"], psa["_topology"] = flavor, topo_name
            group = ((specs.get(psa["name"]) or {}).get("topologyRequest") or {}).get("podSetGroupName")
            key = f"group:{group}" if group else f"set:{psa['name']}"
            if key not in units:
                units[key] = []
                order.append(key)
            units[key].append(psa)
        free = {n: dict(v) for n, v in self.free.items()}
        for key in order:
            problem = self._place_unit(units[key], specs, free)
            if problem:
                for psa in podsets:
                    psa.pop("_flavor", None)
                    psa.pop("_topology", None)
                return problem
        for psa in podsets:
            psa.pop("_flavor", None)
            psa.pop("_topology", None)
        self.free = free
        return None

    def _place_unit(self, members: list[dict], specs: dict, free: dict, *, anywhere: bool = False) -> str | None:
        first = members[0]
        topo = self.store.get(TOPOLOGIES, None, first["_topology"]) or {}
        levels = [lv.get("nodeLabel") for lv in (topo.get("spec") or {}).get("levels") or [] if lv.get("nodeLabel")]
        flavor_labels = ((first["_flavor"].get("spec") or {}).get("nodeLabels")) or {}
        candidates = sorted(n for n, node in self.nodes.items()
                            if all((node["metadata"].get("labels") or {}).get(k) == v for k, v in flavor_labels.items()))
        request = (specs.get(first["name"]) or {}).get("topologyRequest") or {}
        level = None if anywhere else (request.get("required") or request.get("preferred"))
        domains: dict[str, list[str]] = {}
        for n in candidates:
            value = (self.nodes[n]["metadata"].get("labels") or {}).get(level) if level else "all"
            if value is not None:
                domains.setdefault(value, []).append(n)
        best_fit = 0
        options = []
        for value, nodes in sorted(domains.items()):
            trial = {n: dict(free[n]) for n in nodes}
            plan: list[list[tuple[str, int]]] = []
            ok = True
            for psa in members:
                per_pod = pod_requests(specs.get(psa["name"]) or {})
                placed = self._fill(nodes, per_pod, int(psa["count"]), trial)
                best_fit = max(best_fit, sum(c for _, c in placed))
                if sum(c for _, c in placed) < int(psa["count"]):
                    ok = False
                    break
                plan.append(placed)
            if ok:
                first_pod = pod_requests(specs.get(first["name"]) or {})
                spare = sum(self._fits(n, first_pod, trial)[0] for n in nodes)
                options.append((spare, value, plan))
        if not options:
            if request.get("preferred") and level:  # preferred: a higher level (here: any node) will do
                return self._place_unit(members, specs, free, anywhere=True)
            psa = members[-1]
            per_pod = pod_requests(specs.get(psa["name"]) or {})
            excluded: dict[str, int] = {}
            for n in candidates:
                count, limit = self._fits(n, per_pod, free)
                if count == 0 and limit:
                    excluded[limit] = excluded.get(limit, 0) + 1
            tail = "; excluded: " + ", ".join(f'resource "{r}": {c}' for r, c in sorted(excluded.items())) \
                if excluded else ""
            return (f"couldn't assign flavors to pod set {psa['name']}: topology \"{first['_topology']}\" allows to "
                    f"fit only {min(best_fit, int(psa['count']))} out of {psa['count']} pod(s). Total nodes: "
                    f"{len(candidates)}{tail}")
        _, _, plan = min(options, key=lambda o: (o[0], o[1]))  # the tightest domain that fits (BestFit)
        for psa, placed in zip(members, plan):
            per_pod = pod_requests(specs.get(psa["name"]) or {})
            for node, count in placed:
                for r, v in per_pod.items():
                    free[node][r] = free[node].get(r, Decimal(0)) - v * count
            psa["topologyAssignment"] = slices([HOSTNAME], [([node], count) for node, count in placed])
        return None

    def _fill(self, nodes: list[str], per_pod: dict, count: int, free: dict) -> list[tuple[str, int]]:
        """Pods on the nodes with the most room first (fewest nodes), taking the room from ``free``."""
        ranked = sorted(nodes, key=lambda n: (-self._fits(n, per_pod, free)[0], n))
        placed, left = [], count
        for n in ranked:
            if left <= 0:
                break
            k = min(self._fits(n, per_pod, free)[0], left)
            if k <= 0:
                continue
            for r, v in per_pod.items():
                free[n][r] = free[n].get(r, Decimal(0)) - v * k
            placed.append((n, k))
            left -= k
        return placed
