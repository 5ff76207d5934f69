"""In-memory object store with kube-apiserver semantics (resourceVersion, generation, finalizers,
deletion) and a change feed.

Everything runs on the sandbox's asyncio loop thread, so there is no locking; other threads go through
``Sandbox.call``. Stored objects are treated as immutable: every change stores a fresh dict, which lets
readers hand out the live object without copying and lets the API server cache serialized bytes per
object version.
"""
from __future__ import annotations

import bisect
import copy
import json
import random
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Callable

from . import errors
from .resources import RESOURCES, ResourceType
from .selectors import field_matcher, label_matcher

Callback = Callable[[str, str, dict, "dict | None"], None]

_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_iso(offset_seconds: float = 0) -> str:
    """RFC 3339 seconds-precision UTC timestamp, as kube writes metadata times."""
    t = datetime.now(timezone.utc) + timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


_META_ORDER = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
               "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
               "ownerReferences", "finalizers", "managedFields")
_META_RANK = {k: i for i, k in enumerate(_META_ORDER)}


def _typed(rt: ResourceType, obj: dict) -> dict:
    """``kind`` and ``apiVersion`` first and metadata in ObjectMeta field order, as kube serializes built-in
    objects (CRs are key-sorted on the wire anyway)."""
    out = {"kind": obj.get("kind") or rt.kind, "apiVersion": obj.get("apiVersion") or rt.group_version}
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = dict(sorted(meta.items(), key=lambda kv: _META_RANK.get(kv[0], len(_META_ORDER))))
    return out


def resource_type(resource: str) -> ResourceType:
    rt = RESOURCES.get(resource)
    if rt is None:
        raise KeyError(f"unknown resource {resource!r}; known: {sorted(RESOURCES)}")
    return rt


class WatchEvent:
    """One entry of the history ring: enough for a watch to replay and filter without re-reading the store."""
    __slots__ = ("rv", "type", "resource", "namespace", "obj")

    def __init__(self, rv: int, type_: str, resource: str, namespace: str, obj: dict):
        self.rv = rv
        self.type = type_
        self.resource = resource
        self.namespace = namespace
        self.obj = obj


class Store:
    """Objects indexed by resource -> namespace ('' for cluster-scoped) -> name."""

    def __init__(self, history_size: int = 50_000, initial_rv: int = 1000):
        self._data: dict[str, dict[str, dict[str, dict]]] = {key: {} for key in RESOURCES}
        self.resource_version: int = initial_rv
        self.history: deque[WatchEvent] = deque(maxlen=history_size)
        self._subscribers: list[Callback] = []
        self._encoded: dict[int, tuple[dict, bytes]] = {}  # id(obj) -> (obj, bytes); obj kept so the id stays unique
        # (resource, namespace or None for all) -> etcd-ordered keys and (namespace, name) refs; dropped when
        # an object of the resource is added or removed (updates keep the key set)
        self._key_index: dict[tuple[str, str | None], tuple[list[str], list[tuple[str, str]]]] = {}

    # ----------------------------------------------------------------------------------------- reads
    def get(self, resource: str, namespace: str | None, name: str) -> dict | None:
        """The live stored object (do not mutate it) or None."""
        rt = resource_type(resource)
        ns = (namespace or "") if rt.namespaced else ""
        return self._data[resource].get(ns, {}).get(name)

    def list(self, resource: str, namespace: str | None = None, label_selector: str | dict | None = None,
             field_selector: str | None = None) -> list[dict]:
        """Live objects in etcd key order (see ``page``). Bad selectors raise ApiError 400."""
        return self.page(resource, namespace, label_selector, field_selector)[0]

    def page(self, resource: str, namespace: str | None = None, label_selector: str | dict | None = None,
             field_selector: str | None = None, *, after: str | None = None, limit: int = 0
             ) -> tuple[list[dict], int]:
        """Up to ``limit`` (0: all) matching objects whose key sorts after ``after``, and how many keys of the
        listed range remain unread after the last one returned.

        Keys are what etcd orders by: ``/<namespace>/<name>`` across namespaces, ``/<name>`` within one
        namespace or for cluster-scoped resources. Like kube-apiserver's watch cache, a page seeks to its
        continue key in a sorted index instead of filtering the whole resource again.
        """
        rt = resource_type(resource)
        lmatch = label_matcher(label_selector)
        fmatch = field_matcher(field_selector, rt.field_labels)
        keys, refs = self._keys(resource, namespace if rt.namespaced and namespace else None)
        by_ns = self._data[resource]
        start = bisect.bisect_right(keys, after) if after is not None else 0
        out: list[dict] = []
        last = start - 1
        for i in range(start, len(keys)):
            ns, name = refs[i]
            obj = by_ns[ns][name]
            if lmatch is not None and not lmatch(obj["metadata"].get("labels") or {}):
                continue
            if fmatch is not None and not fmatch(obj):
                continue
            out.append(obj)
            last = i
            if limit and len(out) >= limit:
                break
        else:
            last = len(keys) - 1
        return out, len(keys) - 1 - last

    def _keys(self, resource: str, namespace: str | None) -> tuple[list[str], list[tuple[str, str]]]:
        cached = self._key_index.get((resource, namespace))
        if cached is not None:
            return cached
        by_ns = self._data[resource]
        if namespace is not None:
            pairs = sorted(("/" + name, (namespace, name)) for name in by_ns.get(namespace, {}))
        elif resource_type(resource).namespaced:
            pairs = sorted((f"/{ns}/{name}", (ns, name)) for ns, space in by_ns.items() for name in space)
        else:
            pairs = sorted(("/" + name, ("", name)) for name in by_ns.get("", {}))
        index = ([k for k, _ in pairs], [r for _, r in pairs])
        self._key_index[(resource, namespace)] = index
        return index

    def count(self, resource: str, namespace: str | None = None) -> int:
        by_ns = self._data[resource]
        if namespace:
            return len(by_ns.get(namespace, {}))
        return sum(len(v) for v in by_ns.values())

    def encoded(self, obj: dict, *, sort_keys: bool = False) -> bytes:
        """Compact JSON bytes of a stored (immutable) object, cached per object version."""
        hit = self._encoded.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        data = json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False).encode()
        if len(self._encoded) > 200_000:
            self._encoded.clear()
        self._encoded[id(obj)] = (obj, data)
        return data

    # ---------------------------------------------------------------------------------------- writes
    def _next_rv(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)

    def _emit(self, type_: str, resource: str, obj: dict, old: dict | None) -> None:
        meta = obj["metadata"]
        self.history.append(WatchEvent(int(meta["resourceVersion"]), type_, resource,
                                       meta.get("namespace", ""), obj))
        if old is not None:
            self._encoded.pop(id(old), None)
        if type_ != "MODIFIED":
            for key in [k for k in self._key_index if k[0] == resource]:
                del self._key_index[key]
        for cb in list(self._subscribers):
            cb(type_, resource, obj, old)

    def _ns_key(self, rt: ResourceType, obj: dict) -> str:
        return obj["metadata"].get("namespace") or "" if rt.namespaced else ""

    def create(self, resource: str, obj: dict, *, dry_run: bool = False) -> dict:
        """Store a copy of ``obj`` with server-set metadata; 409 AlreadyExists on a taken name."""
        rt = resource_type(resource)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        ns = self._ns_key(rt, obj)
        space = self._data[resource].setdefault(ns, {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise errors.invalid(rt.kind, "", [{"reason": "FieldValueRequired",
                                                     "message": "Required value: name or generateName is required",
                                                     "field": "metadata.name"}], rt.group)
            for _ in range(100):
                cand = prefix + "".join(random.choice(_GENERATE_CHARS) for _ in range(5))
                if cand not in space:
                    meta["name"] = cand
                    break
        name = meta["name"]
        if name in space:
            raise errors.already_exists(rt.plural, name, rt.group)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta.pop("deletionTimestamp", None)
        meta.pop("deletionGracePeriodSeconds", None)
        if rt.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        meta["resourceVersion"] = str(self.resource_version) if dry_run else self._next_rv()
        obj = _typed(rt, obj)
        if dry_run:
            return obj
        space[name] = obj
        self._emit("ADDED", resource, obj, None)
        return obj

    def update(self, resource: str, obj: dict, *, expect_rv: str | None = None, subresource: str | None = None,
               dry_run: bool = False) -> dict:
        """Replace a stored object (a copy of ``obj`` is stored).

        ``subresource='status'`` keeps the stored spec and only takes status + metadata labels/annotations;
        ``subresource='binding'`` stores the object as given. The generation grows only when spec changes on
        a main-resource update (kube's pods/binding writes storage directly: no bump). An object being
        deleted whose finalizers become empty is removed (DELETED), unless a grace period still runs (a pod
        its kubelet has not stopped yet).
        """
        rt = resource_type(resource)
        meta_in = obj.get("metadata") or {}
        ns = (meta_in.get("namespace") or "") if rt.namespaced else ""
        name = meta_in.get("name", "")
        old = self._data[resource].get(ns, {}).get(name)
        if old is None:
            raise errors.not_found(rt.plural, name, rt.group)
        if expect_rv is not None and expect_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, name, rt.group)
        new = copy.deepcopy(obj)
        if subresource == "status":
            merged = copy.deepcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            for k in ("labels", "annotations", "finalizers", "ownerReferences"):
                if k in new.get("metadata", {}):
                    merged["metadata"][k] = new["metadata"][k]
                elif k in merged["metadata"] and k in ("labels", "annotations"):
                    pass
            new = merged
        meta = new.setdefault("metadata", {})
        # Immutable server-owned metadata.
        for k in ("uid", "creationTimestamp", "namespace", "name"):
            if k in old["metadata"]:
                meta[k] = old["metadata"][k]
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in old["metadata"] and k not in meta:
                meta[k] = old["metadata"][k]
            elif k not in old["metadata"]:
                meta.pop(k, None)
        new.setdefault("apiVersion", old.get("apiVersion", rt.group_version))
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]  # placeholders keep ObjectMeta order
        if rt.generation:
            meta["generation"] = old["metadata"].get("generation", 1)
        new = _typed(rt, new)
        meta = new["metadata"]
        if rt.generation:
            gen = old["metadata"].get("generation", 1)
            if subresource is None and new.get("spec") != old.get("spec"):
                gen += 1
            meta["generation"] = gen
        if dry_run:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            return new
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not meta.get("deletionGracePeriodSeconds"):
            # kube deletes on update only once the grace period is 0: a terminating pod whose last finalizer
            # goes stays until its kubelet has stopped the containers (ShouldDeleteDuringUpdate)
            meta["resourceVersion"] = self._next_rv()
            self._data[resource][ns].pop(name, None)
            self._emit("DELETED", resource, new, old)
            return new
        meta["resourceVersion"] = self._next_rv()
        self._data[resource][ns][name] = new
        self._emit("MODIFIED", resource, new, old)
        return new

    def delete(self, resource: str, namespace: str | None, name: str, *, propagation: str | None = None,
               grace_seconds: int | None = None, preconditions: dict | None = None,
               dry_run: bool = False) -> dict:
        """Start or finish deletion; returns the object's state after the call.

        Objects with finalizers (or Foreground/Orphan propagation) get ``deletionTimestamp`` instead of being
        removed. Pods on a node get a grace period (``deletionTimestamp`` = now + grace) and are removed later
        by the kubelet emulation; grace 0 or an unscheduled pod is removed at once.
        """
        rt = resource_type(resource)
        ns = (namespace or "") if rt.namespaced else ""
        old = self._data[resource].get(ns, {}).get(name)
        if old is None:
            raise errors.not_found(rt.plural, name, rt.group)
        ometa = old["metadata"]
        if preconditions:
            if preconditions.get("uid") and preconditions["uid"] != ometa.get("uid"):
                raise errors.conflict(rt.plural, name, rt.group,
                                      f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                                      f"UID in object meta: {ometa.get('uid')}")
            if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != ometa["resourceVersion"]:
                raise errors.conflict(rt.plural, name, rt.group,
                                      f"Precondition failed: ResourceVersion in precondition: "
                                      f"{preconditions['resourceVersion']}, ResourceVersion in object meta: "
                                      f"{ometa['resourceVersion']}")
        new = copy.deepcopy(old)
        meta = new["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append("foregroundDeletion")
        elif propagation == "Orphan" and "orphan" not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append("orphan")
        grace = 0
        if resource == "pods":
            spec = new.get("spec") or {}
            if grace_seconds is None:
                grace = int(spec.get("terminationGracePeriodSeconds", 30))
            else:
                grace = max(0, int(grace_seconds))
            phase = (new.get("status") or {}).get("phase")
            if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
                grace = 0
            if meta.get("deletionTimestamp") and grace_seconds is None:
                grace = int(meta.get("deletionGracePeriodSeconds", grace))
        already = bool(meta.get("deletionTimestamp"))
        if finalizers:
            meta["finalizers"] = finalizers
        if grace > 0 or finalizers:
            if not already:
                meta["deletionTimestamp"] = now_iso(grace)
                meta["deletionGracePeriodSeconds"] = grace
                if rt.generation and resource == "pods":
                    meta["generation"] = int(meta.get("generation", 1)) + 1
            elif grace < int(meta.get("deletionGracePeriodSeconds", 0)):
                meta["deletionGracePeriodSeconds"] = grace
            if dry_run or new == old:
                return new
            meta["resourceVersion"] = self._next_rv()
            self._data[resource][ns][name] = new
            self._emit("MODIFIED", resource, new, old)
            return new
        if dry_run:
            return new
        if resource == "pods" and already and int(meta.get("deletionGracePeriodSeconds", 0)) != 0:
            # A force delete of a terminating pod shows first as MODIFIED with grace 0, as in kube.
            meta["deletionGracePeriodSeconds"] = 0
            meta["resourceVersion"] = self._next_rv()
            self._data[resource][ns][name] = new
            self._emit("MODIFIED", resource, new, old)
            old, new = new, copy.deepcopy(new)
        return self._remove(resource, ns, name, new, old)

    def rewrite(self, resource: str, namespace: str | None, name: str, edit: Callable[[dict], None]) -> dict:
        """Store ``edit`` applied to a copy of the object, server-owned fields included (a MODIFIED
        with a new resourceVersion): for what no client may write, e.g. the ``age`` fault moving
        creation times back. Identity (name, namespace, uid) stays."""
        rt = resource_type(resource)
        ns = (namespace or "") if rt.namespaced else ""
        old = self._data[resource].get(ns, {}).get(name)
        if old is None:
            raise errors.not_found(rt.plural, name, rt.group)
        new = copy.deepcopy(old)
        edit(new)
        for k in ("name", "namespace", "uid"):
            if k in old["metadata"]:
                new["metadata"][k] = old["metadata"][k]
        new["metadata"]["resourceVersion"] = self._next_rv()
        self._data[resource][ns][name] = new
        self._emit("MODIFIED", resource, new, old)
        return new

    def remove(self, resource: str, namespace: str | None, name: str) -> None:
        """Hard removal (GC, kubelet finishing a graceful delete); no-op if already gone."""
        rt = resource_type(resource)
        ns = (namespace or "") if rt.namespaced else ""
        old = self._data[resource].get(ns, {}).get(name)
        if old is None:
            return
        new = copy.deepcopy(old)
        self._remove(resource, ns, name, new, old)

    def _remove(self, resource: str, ns: str, name: str, new: dict, old: dict) -> dict:
        new["metadata"]["resourceVersion"] = self._next_rv()
        del self._data[resource][ns][name]
        self._emit("DELETED", resource, new, old)
        return new

    # --------------------------------------------------------------------------------------- feed
    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(type, resource, obj, old)`` synchronously after every change; returns unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            try:
                self._subscribers.remove(callback)
            except ValueError:
                pass
        return unsubscribe

    def oldest_rv(self) -> int:
        """Lowest RV a watch can resume from without 410 (the ring's oldest entry, or the current RV)."""
        if self.history:
            return self.history[0].rv - 1
        return self.resource_version

    def events_since(self, rv: int) -> list[WatchEvent]:
        """History entries with RV > rv (caller checked ``rv >= oldest_rv()``)."""
        if not self.history or self.history[-1].rv <= rv:
            return []
        # History RVs are increasing: binary search over the deque index.
        lo, hi = 0, len(self.history)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.history[mid].rv <= rv:
                lo = mid + 1
            else:
                hi = mid
        return [self.history[i] for i in range(lo, len(self.history))]


def deep_copy(obj: dict) -> dict:
    """A mutable copy of a stored object (for callers about to update it)."""
    return copy.deepcopy(obj)


__all__ = ["Store", "WatchEvent", "now_iso", "deep_copy", "resource_type"]
