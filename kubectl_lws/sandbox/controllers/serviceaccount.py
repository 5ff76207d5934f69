"""What kube-controller-manager puts in every namespace: the ``default`` ServiceAccount (serviceaccount
controller) and the ``kube-root-ca.crt`` ConfigMap (root-ca-cert-publisher), recreated when deleted.

Pods name ``serviceAccountName: default`` and mount ``kube-root-ca.crt`` through their projected token
volume, so manifests that reference them find them here as on a real cluster.
"""
from __future__ import annotations

from .base import Controller

DEFAULT_SA = "default"
ROOT_CA = "kube-root-ca.crt"


class ServiceAccountController(Controller):
    name = "serviceaccount"

    def on_event(self, type_: str, resource: str, obj: dict, old: dict | None) -> None:
        meta = obj["metadata"]
        if resource == "namespaces" and type_ != "DELETED":
            self.enqueue(meta["name"])
        elif type_ == "DELETED" and ((resource, meta.get("name")) in (("serviceaccounts", DEFAULT_SA),
                                                                       ("configmaps", ROOT_CA))):
            self.enqueue(meta.get("namespace") or "")

    def reconcile(self, namespace: str) -> None:
        ns = self.store.get("namespaces", None, namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        if self.store.get("serviceaccounts", namespace, DEFAULT_SA) is None:
            self.store.create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                  "metadata": {"name": DEFAULT_SA, "namespace": namespace}})
        if self.store.get("configmaps", namespace, ROOT_CA) is None:
            self.store.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": ROOT_CA, "namespace": namespace},
                                             "data": {"ca.crt": self._ca()}})

    def _ca(self) -> str:
        from ..lwssystem import ca_pem

        return ca_pem(self.mgr.sandbox).decode("ascii", "replace")
