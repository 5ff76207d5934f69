"""Claims from ``volumeClaimTemplates``: a claim whose StorageClass exists is Bound; one whose class does not
exist (or with no class and no default) stays Pending with the PV controller's Warning, and the scheduler
keeps its pod out ("pod has unbound immediate PersistentVolumeClaims"). Creating the class binds it.
"""
from __future__ import annotations

import copy

from . import events
from .base import Controller

PVC = "persistentvolumeclaims"
STORAGE_CLASSES = "storageclasses.storage.k8s.io"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
COMPONENT = "persistentvolume-controller"


class StorageController(Controller):
    """Keys: (namespace, claim name)."""
    name = "storage"

    def on_event(self, type_, resource, obj, old):
        if resource == PVC and type_ != "DELETED":
            if ((obj.get("status") or {}).get("phase") or "Pending") == "Pending":
                self.enqueue((obj["metadata"].get("namespace"), obj["metadata"]["name"]))
        elif resource == STORAGE_CLASSES and type_ == "ADDED":
            for pvc in self.store.list(PVC):
                if ((pvc.get("status") or {}).get("phase") or "Pending") == "Pending":
                    self.enqueue((pvc["metadata"].get("namespace"), pvc["metadata"]["name"]))

    def reconcile(self, key):
        ns, name = key
        pvc = self.store.get(PVC, ns, name)
        if pvc is None or ((pvc.get("status") or {}).get("phase") or "Pending") != "Pending":
            return
        wanted = (pvc.get("spec") or {}).get("storageClassName")
        classes = {c["metadata"]["name"]: c for c in self.store.list(STORAGE_CLASSES)}
        if wanted is None:
            wanted = next((n for n, c in classes.items()
                           if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"), None)
        if wanted is None:
            self._warn(pvc, "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
            return
        if wanted not in classes:
            self._warn(pvc, "ProvisioningFailed", f'storageclass.storage.k8s.io "{wanted}" not found')
            return
        new = copy.deepcopy(pvc)
        spec = new.setdefault("spec", {})
        spec.setdefault("storageClassName", wanted)
        spec["volumeName"] = f"pvc-{pvc['metadata']['uid']}"
        new["status"] = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                         "capacity": dict(((spec.get("resources") or {}).get("requests") or {"storage": "1Gi"}))}
        self.store.update(PVC, new)

    def _warn(self, pvc: dict, reason: str, message: str) -> None:
        events.emit(self.store, pvc, reason, message, type_="Warning", component=COMPONENT, legacy=True,
                    aggregate=True)


def claims_for(sts: dict, pod_name: str) -> list[dict]:
    """The claims a StatefulSet makes for one pod (``<template>-<pod>``, labelled with its selector)."""
    out = []
    labels = dict(((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    for tpl in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
        tname = (tpl.get("metadata") or {}).get("name")
        if not tname:
            continue
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": f"{tname}-{pod_name}", "namespace": sts["metadata"]["namespace"],
                                 "labels": {**((tpl.get("metadata") or {}).get("labels") or {}), **labels}},
                    "spec": copy.deepcopy(tpl.get("spec") or {}), "status": {"phase": "Pending"}})
    return out
