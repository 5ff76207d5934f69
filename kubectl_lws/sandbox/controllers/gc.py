"""Garbage collector: ownerReference cascades (Background, Foreground, Orphan) and dangling dependents."""
from __future__ import annotations

import copy

from .base import Controller, owner_uids


class GarbageCollector(Controller):
    """Keys are (resource, ns, name) of objects whose owners or deletion state changed."""
    name = "gc"

    def on_event(self, type_, resource, obj, old):
        meta = obj["metadata"]
        ref = (resource, meta.get("namespace") or "", meta["name"])
        uid = meta.get("uid")
        if type_ == "DELETED":
            # Background cascade: every dependent of a removed owner is re-checked.
            for dep in self.mgr.index.dependents(uid):
                self.enqueue(dep)
            self.enqueue(("__gone__", uid, ""))
            return
        fins = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and ("foregroundDeletion" in fins or "orphan" in fins):
            self.enqueue(ref)
        if type_ == "ADDED" and meta.get("ownerReferences"):
            self.enqueue(ref)

    def reconcile(self, key):
        resource, ns, name = key
        if resource == "__gone__":
            # a dependent gone may unblock a foreground-deleting owner
            for owner_key in list(self._waiting):
                self.enqueue(owner_key)
            return
        obj = self.store.get(resource, ns, name)
        if obj is None:
            self._waiting.discard(key)
            return
        meta = obj["metadata"]
        fins = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and "orphan" in fins:
            for dres, dns, dname in self.mgr.index.dependents(meta["uid"]):
                dep = self.store.get(dres, dns, dname)
                if dep is None:
                    continue
                dep = copy.deepcopy(dep)
                dep["metadata"]["ownerReferences"] = [r for r in dep["metadata"]["ownerReferences"]
                                                      if r.get("uid") != meta["uid"]]
                self.store.update(dres, dep)
            self._drop_finalizer(resource, obj, "orphan")
            return
        if meta.get("deletionTimestamp") and "foregroundDeletion" in fins:
            blocking = 0
            for dres, dns, dname in self.mgr.index.dependents(meta["uid"]):
                dep = self.store.get(dres, dns, dname)
                if dep is None:
                    continue
                refs = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") == meta["uid"]]
                if self._solid_owner(dep, meta["uid"]):
                    # kube's GC deletes a dependent only with its last owner: it drops this reference
                    dep = copy.deepcopy(dep)
                    dep["metadata"]["ownerReferences"] = [r for r in dep["metadata"]["ownerReferences"]
                                                          if r.get("uid") != meta["uid"]]
                    self.store.update(dres, dep)
                    continue
                if any(r.get("blockOwnerDeletion") for r in refs):
                    blocking += 1
                if not dep["metadata"].get("deletionTimestamp"):
                    self.store.delete(dres, dns, dname, propagation="Foreground")
            if blocking:
                self._waiting.add(key)
            else:
                self._waiting.discard(key)
                self._drop_finalizer(resource, obj, "foregroundDeletion")
            return
        # dangling: every owner is gone -> delete (Background)
        uids = owner_uids(obj)
        if uids and not meta.get("deletionTimestamp") and not any(u in self.mgr.index.by_uid for u in uids):
            self.store.delete(resource, ns, name, propagation="Background")

    def _solid_owner(self, dep: dict, deleting_uid: str) -> bool:
        """Another owner of ``dep`` exists and is not being deleted (a Kueue Workload owned by its LWS
        and, beside it, by the group's pods)."""
        for r in dep["metadata"].get("ownerReferences") or []:
            uid = r.get("uid")
            if not uid or uid == deleting_uid or uid not in self.mgr.index.by_uid:
                continue
            owner = self.store.get(*self.mgr.index.by_uid[uid])
            if owner is not None and not owner["metadata"].get("deletionTimestamp"):
                return True
        return False

    def _drop_finalizer(self, resource: str, obj: dict, fin: str) -> None:
        new = copy.deepcopy(obj)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or [] if f != fin]
        if not new["metadata"]["finalizers"]:
            del new["metadata"]["finalizers"]
        self.store.update(resource, new)

    def __init__(self, mgr):
        super().__init__(mgr)
        self._waiting: set = set()
