"""Scheduler: scheduling gates, node readiness, nodeSelector, required node affinity, required pod
(anti-)affinity on a topology key (both directions, as kube-scheduler's InterPodAffinity), and capacity.
Unschedulable pods stay Pending with ``PodScheduled=False/Unschedulable`` and a ``FailedScheduling`` event
worded like golden trace e. A pod with scheduling gates is never bound while one remains: it shows
``PodScheduled=False/SchedulingGated`` (what kube-apiserver sets on create, golden kueue G.1) and is
placed once the last gate is removed."""
from __future__ import annotations

import functools
import re
from typing import Any

from ..store import now_iso
from . import events
from .base import Controller

RESOURCES = ("cpu", "memory", "nvidia.com/gpu", "google.com/tpu")
# copied from the node onto bound pods (kube's pod topology labels admission; seen on golden excl pods)
TOPOLOGY_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone")
_UNITS = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024**2,
          "Gi": 1024**3, "Ti": 1024**4}
_QTY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")


@functools.lru_cache(maxsize=4096)
def _parse_quantity(v: str) -> float:
    m = _QTY.match(v.strip())
    if not m:
        return 0.0
    return float(m.group(1)) * _UNITS.get(m.group(2), 1)


def quantity(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, (int, float)):
        return float(v)
    return _parse_quantity(str(v))


def pod_requests(pod: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        req = dict(res.get("limits") or {})
        req.update(res.get("requests") or {})
        for k in RESOURCES:
            if k in req:
                out[k] = out.get(k, 0.0) + quantity(req[k])
    return out


def selector_matches(sel: dict | None, labels: dict) -> bool:
    """metav1.LabelSelector semantics (matchLabels + matchExpressions); None matches nothing."""
    if sel is None:
        return False
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def _node_term_matches(term: dict, node: dict) -> bool:
    labels = node["metadata"].get("labels") or {}
    for e in term.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        v = labels.get(k)
        if op == "In" and v not in vals:
            return False
        if op == "NotIn" and v in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
        if op in ("Gt", "Lt"):
            try:
                a, b = int(v), int(vals[0])
            except (TypeError, ValueError, IndexError):
                return False
            if (op == "Gt" and not a > b) or (op == "Lt" and not a < b):
                return False
    for f in term.get("matchFields") or []:
        if f.get("key") == "metadata.name":
            if (f.get("operator") == "In") != (node["metadata"]["name"] in (f.get("values") or [])):
                return False
    return True


def node_ready(node: dict) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return True


def _terms(pod: dict, kind: str) -> list[dict]:
    aff = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    return aff.get("requiredDuringSchedulingIgnoredDuringExecution") or []


# what kube-apiserver writes on a pod created with scheduling gates (golden kueue g2 pods)
GATED_REASON = "SchedulingGated"
GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"

# reason -> (message fragment, preemption note)
_AFF = ("node(s) didn't match pod affinity rules", "Preemption is not helpful for scheduling")
_ANTI = ("node(s) didn't match pod anti-affinity rules", "No preemption victims found for incoming pod")
_SEL = ("node(s) didn't match Pod's node affinity/selector", "Preemption is not helpful for scheduling")
_NOTREADY = ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
             "Preemption is not helpful for scheduling")


class Scheduler(Controller):
    """Keys: (ns, name) of pods to place; ('*',) retries every pending pod after node/pod changes."""
    name = "scheduler"

    def __init__(self, mgr):
        super().__init__(mgr)
        self.pending: set[tuple[str, str]] = set()
        self.unschedulable: set[tuple[str, str]] = set()
        self.gated: set[tuple[str, str]] = set()
        self.retry = False

    def on_event(self, type_, resource, obj, old):
        meta = obj["metadata"]
        if resource == "pods":
            key = (meta.get("namespace"), meta["name"])
            if type_ == "DELETED" or meta.get("deletionTimestamp"):
                self.pending.discard(key)
                self.unschedulable.discard(key)
                self.gated.discard(key)
                if type_ == "DELETED" and self.unschedulable:
                    self.retry = True
                    self.enqueue("run")
                return
            if not (obj.get("spec") or {}).get("nodeName") and key not in self.pending:
                self.pending.add(key)
                self.enqueue("run")
            elif key in self.gated and not (obj.get("spec") or {}).get("schedulingGates"):
                self.gated.discard(key)  # the last gate was removed: place it now
                self.enqueue("run")
        elif resource in ("nodes", "persistentvolumeclaims") and self.unschedulable:
            self.retry = True
            self.enqueue("run")

    def reconcile(self, key):
        """Place every pending pod in one pass over a shared snapshot of placed pods and usage."""
        todo = sorted(self.pending - (set() if self.retry else self.unschedulable) - self.gated)
        self.retry = False
        if not todo:
            return
        ctx = self._context()
        for k in todo:
            self._schedule(k, ctx)

    # ------------------------------------------------------------------------------------------ fit
    def _context(self) -> dict:
        """Nodes, placed pods (those with affinity terms kept apart) and per-node usage."""
        nodes = self.store.list("nodes")
        by_name = {n["metadata"]["name"]: n for n in nodes}
        placed, anti, used = [], [], {}
        for p in self.store.list("pods"):
            nn = (p.get("spec") or {}).get("nodeName")
            if nn and nn in by_name and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                self._account(p, by_name[nn], placed, anti, used)
        return {"nodes": nodes, "placed": placed, "anti": anti, "used": used}

    @staticmethod
    def _account(p: dict, n: dict, placed: list, anti: list, used: dict) -> None:
        placed.append((p, n))
        if _terms(p, "podAntiAffinity"):
            anti.append((p, n))
        u = used.setdefault(n["metadata"]["name"], {})
        for r, a in pod_requests(p).items():
            u[r] = u.get(r, 0.0) + a
        u["pods"] = u.get("pods", 0) + 1

    def _fit(self, pod: dict, node: dict, ctx: dict) -> tuple | None:
        """None if the pod fits the node, else the (reason, preemption) pair."""
        if not node_ready(node) or (node.get("spec") or {}).get("unschedulable"):
            return _NOTREADY
        placed, used = ctx["placed"], ctx["used"]
        nlabels = node["metadata"].get("labels") or {}
        spec = pod.get("spec") or {}
        for k, v in (spec.get("nodeSelector") or {}).items():
            if nlabels.get(k) != v:
                return _SEL
        na = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution")
        if na and not any(_node_term_matches(t, node) for t in na.get("nodeSelectorTerms") or []):
            return _SEL
        ns = pod["metadata"].get("namespace")
        plabels = pod["metadata"].get("labels") or {}
        for term in _terms(pod, "podAffinity"):
            tk = term.get("topologyKey")
            if tk not in nlabels:
                return _AFF
            sel = term.get("labelSelector")
            same = [n for p, n in placed if p["metadata"].get("namespace") == ns
                    and selector_matches(sel, p["metadata"].get("labels") or {})]
            if any((n["metadata"].get("labels") or {}).get(tk) == nlabels[tk] for n in same):
                continue
            # kube lets the first pod of a self-affine set through when nothing matches anywhere
            if not same and selector_matches(sel, plabels):
                continue
            return _AFF
        for term in _terms(pod, "podAntiAffinity"):
            tk = term.get("topologyKey")
            if tk not in nlabels:
                continue
            sel = term.get("labelSelector")
            for p, n in placed:
                if p["metadata"].get("namespace") == ns and (n["metadata"].get("labels") or {}).get(tk) == nlabels[tk] \
                        and selector_matches(sel, p["metadata"].get("labels") or {}) \
                        and p["metadata"]["name"] != pod["metadata"]["name"]:
                    return _ANTI
        # symmetry: existing pods' anti-affinity against this pod
        for p, n in ctx["anti"]:
            if p["metadata"].get("namespace") != ns:
                continue
            for term in _terms(p, "podAntiAffinity"):
                tk = term.get("topologyKey")
                nl = n["metadata"].get("labels") or {}
                if tk in nl and nlabels.get(tk) == nl[tk] and selector_matches(term.get("labelSelector"), plabels):
                    return _ANTI
        alloc = (node.get("status") or {}).get("allocatable") or (node.get("status") or {}).get("capacity") or {}
        req = ctx.get("req") or {}
        u = used.get(node["metadata"]["name"], {})
        for r, amount in req.items():
            if amount and u.get(r, 0.0) + amount > quantity(alloc.get(r, 0)) + 1e-9:
                return (f"Insufficient {r}", "No preemption victims found for incoming pod")
        max_pods = quantity(alloc.get("pods", 110))
        if u.get("pods", 0) + 1 > max_pods:
            return ("Too many pods", "No preemption victims found for incoming pod")
        return None

    def _schedule(self, key, ctx: dict) -> None:
        ns, name = key
        pod = self.store.get("pods", ns, name)
        if pod is None or pod["metadata"].get("deletionTimestamp") or (pod.get("spec") or {}).get("nodeName"):
            self.pending.discard(key)
            self.unschedulable.discard(key)
            return
        if (pod.get("spec") or {}).get("schedulingGates"):
            self._gated(pod)
            return
        if (pod.get("spec") or {}).get("schedulerName", "default-scheduler") != "default-scheduler":
            self.pending.discard(key)  # another scheduler's pod (volcano.py gangs)
            return
        nodes, used = ctx["nodes"], ctx["used"]
        if self._unbound_claims(pod):
            n = len(nodes)
            self._unschedulable(pod, f"0/{n} nodes are available: pod has unbound immediate PersistentVolumeClaims. "
                                     f"preemption: 0/{n} nodes are available: {n} Preemption is not helpful for "
                                     "scheduling.")
            return
        ctx["req"] = pod_requests(pod)
        fails: dict[tuple, int] = {}
        fitting = []
        for node in nodes:
            why = self._fit(pod, node, ctx)
            if why is None:
                fitting.append(node)
            else:
                fails[why] = fails.get(why, 0) + 1
        if fitting:
            def score(n: dict) -> tuple:
                alloc = (n.get("status") or {}).get("allocatable") or {}
                u = used.get(n["metadata"]["name"], {})
                cpu = quantity(alloc.get("cpu", 1)) or 1
                return (u.get("cpu", 0.0) / cpu + u.get("pods", 0) * 1e-3, n["metadata"]["name"])
            node = min(fitting, key=score)
            bound = self._bind(pod, node)
            self._account(bound, node, ctx["placed"], ctx["anti"], ctx["used"])
            return
        total = len(nodes)
        if total == 0:
            msg = "no nodes available to schedule pods"
        else:
            parts = sorted(f"{c} {r[0]}" for r, c in fails.items())
            pre = sorted(f"{c} {r[1]}" for r, c in fails.items())
            msg = (f"0/{total} nodes are available: {', '.join(parts)}. no new claims to deallocate, preemption: "
                   f"0/{total} nodes are available: {', '.join(pre)}.")
        self._unschedulable(pod, msg)

    def _bind(self, pod: dict, node: dict) -> dict:
        # shallow copies of the touched parts only: the store deep-copies what it stores
        new = dict(pod)
        new["spec"] = dict(pod["spec"], nodeName=node["metadata"]["name"])
        new["metadata"] = dict(pod["metadata"])
        labels = new["metadata"]["labels"] = dict(pod["metadata"].get("labels") or {})
        for k in TOPOLOGY_LABELS:
            if k in (node["metadata"].get("labels") or {}):
                labels[k] = node["metadata"]["labels"][k]
        st = new["status"] = dict(pod.get("status") or {})
        conds = [c for c in st.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": now_iso()})
        st["conditions"] = conds
        st.setdefault("phase", "Pending")
        bound = self.store.update("pods", new, subresource="binding")  # pods/binding: generation stays
        key = (pod["metadata"].get("namespace"), pod["metadata"]["name"])
        self.pending.discard(key)
        self.unschedulable.discard(key)
        events.emit(self.store, bound, "Scheduled",
                    f"Successfully assigned {pod['metadata'].get('namespace')}/{pod['metadata']['name']} to "
                    f"{node['metadata']['name']}", action="Binding", component="default-scheduler")
        return bound

    def _unbound_claims(self, pod: dict) -> bool:
        ns = pod["metadata"].get("namespace")
        for v in (pod.get("spec") or {}).get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                pvc = self.store.get("persistentvolumeclaims", ns, claim)
                if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound":
                    return True
        return False

    def _gated(self, pod: dict) -> None:
        """Kept out of the queue until its gates are gone (no event: kube-scheduler records none)."""
        key = (pod["metadata"].get("namespace"), pod["metadata"]["name"])
        self.gated.add(key)
        self.unschedulable.discard(key)
        st = pod.get("status") or {}
        cur = next((c for c in st.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if cur is not None and cur.get("reason") == GATED_REASON:
            return
        new = dict(pod)
        nst = new["status"] = dict(st)
        nst["phase"] = "Pending"
        conds = [c for c in nst.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                      "lastTransitionTime": now_iso(), "reason": GATED_REASON, "message": GATED_MESSAGE})
        nst["conditions"] = conds
        self.store.update("pods", new, subresource="status")

    def _unschedulable(self, pod: dict, msg: str) -> None:
        key = (pod["metadata"].get("namespace"), pod["metadata"]["name"])
        self.unschedulable.add(key)
        st = pod.get("status") or {}
        cur = next((c for c in st.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if cur is not None and cur.get("status") == "False" and cur.get("message") == msg:
            return
        new = dict(pod)
        nst = new["status"] = dict(pod.get("status") or {})
        nst["phase"] = "Pending"
        conds = [c for c in nst.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "observedGeneration": pod["metadata"].get("generation", 1),
                      "status": "False", "lastProbeTime": None, "lastTransitionTime": now_iso(),
                      "reason": "Unschedulable", "message": msg})
        nst["conditions"] = conds
        updated = self.store.update("pods", new, subresource="status")
        events.emit(self.store, updated, "FailedScheduling", msg, type_="Warning", action="Scheduling",
                    component="default-scheduler")
