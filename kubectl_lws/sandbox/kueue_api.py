"""Kueue's API surface in the sandbox: v1beta1 <-> v1beta2 conversion and the visibility API.

Why apart from the controllers: these are what the API server serves (a conversion webhook and an
aggregated API in a real cluster), pure functions of the store. The recordings (golden kueue/, README
G) fix the facts: v1beta2 is the storage version; v1beta1 differs in the TAS assignment (``domains
[{values, count}]`` instead of compressed ``slices``) and in a misspelt field; the visibility API
answers ``PendingWorkloadsSummary`` lists paged by ``limit``/``offset`` with 0-based positions.
"""
from __future__ import annotations

import copy
from typing import Any

from . import errors
from .resources import KUEUE_GROUP, KUEUE_VISIBILITY_GROUP

STORAGE_VERSION = "v1beta2"
_TYPO = ("accumulatedPastExecutionTimeSeconds", "accumulatedPastExexcutionTimeSeconds")  # v1beta2, v1beta1


def converts(route: Any) -> bool:
    """A Kueue object asked for in a version other than the storage one."""
    return route.group == KUEUE_GROUP and route.version != route.rt.version


# ---- conversion ----------------------------------------------------------------------------------------

def _slices_to_domains(ta: dict) -> dict:
    domains = []
    for sl in ta.get("slices") or []:
        n = int(sl.get("domainCount") or 0)
        levels = []
        for lv in sl.get("valuesPerLevel") or []:
            if "universal" in lv:
                levels.append([lv["universal"]] * n)
            else:
                ind = lv.get("individual") or {}
                levels.append([f"{ind.get('prefix') or ''}{r}{ind.get('suffix') or ''}" for r in ind.get("roots") or []])
        pc = sl.get("podCounts") or {}
        counts = [pc["universal"]] * n if "universal" in pc else list(pc.get("individual") or [])
        for i in range(n):
            domains.append({"count": counts[i] if i < len(counts) else 0,
                            "values": [vals[i] for vals in levels if i < len(vals)]})
    return {"domains": domains, "levels": list(ta.get("levels") or [])}


def slices(levels: list[str], domains: list[tuple[list[str], int]]) -> dict:
    """A v1beta2 ``topologyAssignment`` (one slice per domain, ``universal`` values, as golden G.3)."""
    return {"levels": list(levels), "slices": [
        {"domainCount": 1, "podCounts": {"universal": count},
         "valuesPerLevel": [{"universal": v} for v in values]} for values, count in domains]}


def _domains_to_slices(ta: dict) -> dict:
    return slices(list(ta.get("levels") or []),
                  [(list(d.get("values") or []), int(d.get("count") or 0)) for d in ta.get("domains") or []])


def _walk_assignments(obj: dict, fn: Any) -> None:
    for psa in ((obj.get("status") or {}).get("admission") or {}).get("podSetAssignments") or []:
        if isinstance(psa, dict) and isinstance(psa.get("topologyAssignment"), dict):
            psa["topologyAssignment"] = fn(psa["topologyAssignment"])


def _convert(obj: dict, api_version: str, kind: str, assignments: Any, typo: tuple[str, str]) -> dict:
    out = copy.deepcopy(obj)
    out["apiVersion"] = api_version
    if kind == "Workload":
        _walk_assignments(out, assignments)
        st = out.get("status") or {}
        if typo[0] in st:
            st[typo[1]] = st.pop(typo[0])
    return out


def to_served(route: Any, obj: dict) -> dict:
    """The stored (v1beta2) object as the route's version serves it."""
    if not converts(route):
        return obj
    return _convert(obj, f"{route.group}/{route.version}", route.rt.kind, _slices_to_domains, _TYPO)


def to_storage(route: Any, body: dict) -> dict:
    """A body sent in another Kueue version, as stored (v1beta2)."""
    if not converts(route) or not isinstance(body, dict):
        return body
    return _convert(body, f"{route.group}/{route.rt.version}", route.rt.kind, _domains_to_slices,
                    (_TYPO[1], _TYPO[0]))


# ---- queue order and the visibility API -----------------------------------------------------------------

def _cond(wl: dict, ctype: str) -> dict | None:
    return next((c for c in (wl.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)


def is_pending(wl: dict, now_iso: str | None = None) -> bool:
    """In its queue: active, no quota reserved, not deleted, not waiting out a requeue back-off."""
    if (wl.get("spec") or {}).get("active", True) is False or wl["metadata"].get("deletionTimestamp"):
        return False
    reserved = _cond(wl, "QuotaReserved")
    if reserved is not None and reserved.get("status") == "True":
        return False
    at = ((wl.get("status") or {}).get("requeueState") or {}).get("requeueAt")
    return not (at and now_iso is not None and at > now_iso)


def arrivals(store: Any) -> dict[str, int]:
    """uid -> the order in which Workloads (re)entered their queue, kept beside the store: timestamps have
    one-second resolution and a sandbox at speed 50 lives many queue events in one second."""
    return store.__dict__.setdefault("_kueue_arrivals", {})


def arrived(store: Any, wl: dict) -> None:
    """A Workload enters (or, evicted, re-enters) the back of its queue."""
    order = arrivals(store)
    order[wl["metadata"]["uid"]] = len(order) + max(order.values(), default=0) + 1


def queue_key(wl: dict, order: dict[str, int] | None = None) -> tuple:
    """Kueue's BestEffortFIFO order: priority, then the time it (re)entered the queue (the eviction time
    after a requeue, ``requeuingStrategy.timestamp: Eviction``), then the name."""
    evicted = _cond(wl, "Evicted")
    since = wl["metadata"].get("creationTimestamp") or ""
    if evicted is not None and evicted.get("status") == "True":
        since = evicted.get("lastTransitionTime") or since
    seq = (order or {}).get(wl["metadata"].get("uid", ""), 1 << 62)
    return (-int((wl.get("spec") or {}).get("priority") or 0), since, seq, wl["metadata"]["name"])


def cluster_queue_of(store: Any, wl: dict) -> str | None:
    lq = store.get(f"localqueues.{KUEUE_GROUP}", wl["metadata"].get("namespace"), (wl.get("spec") or {}).get("queueName") or "")
    return (lq or {}).get("spec", {}).get("clusterQueue") if lq else None


def pending_in(store: Any, cluster_queue: str, now_iso: str | None = None) -> list[dict]:
    """The pending Workloads of a ClusterQueue in queue order."""
    out = [wl for wl in store.list(f"workloads.{KUEUE_GROUP}")
           if is_pending(wl, now_iso) and cluster_queue_of(store, wl) == cluster_queue]
    order = arrivals(store)
    return sorted(out, key=lambda wl: queue_key(wl, order))


def pending_workloads(store: Any, route: Any, query: Any) -> dict:
    """``GET .../clusterqueues/CQ/pendingworkloads`` or ``.../namespaces/NS/localqueues/LQ/pendingworkloads``."""
    from .store import now_iso

    try:
        limit = int(query.get("limit") or 1000)
        offset = int(query.get("offset") or 0)
    except ValueError:
        raise errors.bad_request("limit and offset must be integers") from None
    if route.rt.plural == "clusterqueues":
        if store.get(f"clusterqueues.{KUEUE_GROUP}", None, route.name) is None:
            raise errors.not_found("clusterqueue", route.name, KUEUE_VISIBILITY_GROUP)
        cq, lq = route.name, None
    else:
        local = store.get(f"localqueues.{KUEUE_GROUP}", route.namespace, route.name)
        if local is None:
            raise errors.not_found("localqueue", route.name, KUEUE_VISIBILITY_GROUP)
        cq, lq = (local.get("spec") or {}).get("clusterQueue"), route.name
    ordered = pending_in(store, cq, now_iso())
    items = []
    per_lq: dict[tuple, int] = {}
    for pos, wl in enumerate(ordered):
        meta = wl["metadata"]
        key = (meta.get("namespace"), (wl.get("spec") or {}).get("queueName"))
        in_lq = per_lq.get(key, 0)
        per_lq[key] = in_lq + 1
        if lq is not None and key != (route.namespace, lq):
            continue
        items.append({"metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                                   "creationTimestamp": meta.get("creationTimestamp"),
                                   "ownerReferences": meta.get("ownerReferences") or []},
                      "priority": int((wl.get("spec") or {}).get("priority") or 0),
                      "localQueueName": key[1], "positionInClusterQueue": pos, "positionInLocalQueue": in_lq})
    return {"kind": "PendingWorkloadsSummary", "apiVersion": f"{KUEUE_VISIBILITY_GROUP}/{route.version}",
            "metadata": {}, "items": items[offset:offset + max(limit, 0)]}
