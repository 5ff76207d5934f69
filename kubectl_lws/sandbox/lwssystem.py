"""The LWS installation as a real cluster holds it, for ``kubectl lws doctor`` and ``report --include-controller``.

``install(sandbox)`` creates what the LWS release manifests create (reference §4 "Controller install"):
namespace ``lws-system``, the ``lws-controller-manager`` Deployment and its pod (image tag = the simulated
LWS version, controller-runtime-like logs), the webhook Service with a ready EndpointSlice, the mutating
and validating webhook configurations (caBundle = the sandbox's ``--tls`` CA, or a CA made once per
process without TLS; ``vdisaggregatedset.kb.io`` among the validating ones), the leader-election Lease
(renewed every few seconds), the LWS CRD and the two DisaggregatedSet CRDs (``dsapi.crds()``).

Faults that break each piece: ``controller-down`` (scaled to 0: no pod, no endpoints, the LWS controllers
paused, the DisaggregatedSet controller too, the Lease no longer renewed), ``webhook-cert-expired`` (the caBundle's notAfter moved into the
past; the signature is then invalid, which nothing here checks), ``webhook-failure-policy`` (Ignore),
``stale-lease`` (renewTime 10 minutes old, renewals stopped). While the webhook cannot be called (no
endpoints, an expired CA) and its failurePolicy is Fail, LWS and DisaggregatedSet creates and updates through
the API get the API server's 500 "failed calling webhook"; with Ignore they are admitted (and still defaulted
here).
"""
from __future__ import annotations

import base64
import copy
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from kubectl_lws.model.keys import DS_GROUP, DS_PLURAL

from . import dsapi

LWS_VERSION = "v0.10.0"
NAMESPACE = "lws-system"
DEPLOYMENT = "lws-controller-manager"
REPLICASET = f"{DEPLOYMENT}-7d5f8c9b6"
IMAGE = f"registry.k8s.io/lws/lws:{LWS_VERSION}"
SERVICE = "lws-webhook-service"
LEASE = "b8b2488c.x-k8s.io"
LEASE_SECONDS = 15
RENEW_SECONDS = 2.0
MUTATING = "lws-mutating-webhook-configuration"
VALIDATING = "lws-validating-webhook-configuration"
CRD = "leaderworkersets.leaderworkerset.x-k8s.io"
POD_LABELS = {"control-plane": "controller-manager"}
MANAGER_CONTROLLERS = {"lws", "lwspod", "disaggregatedset"}  # what lws-controller-manager runs
_LOGS = {"rate": 0.5, "startup": [
    'I{time} 1 main.go:138] "starting manager" version="' + LWS_VERSION + '"',
    'I{time} 1 server.go:208] "Starting metrics server" logger="controller-runtime.metrics"',
    'I{time} 1 leaderelection.go:257] attempting to acquire leader lease lws-system/' + LEASE + '...',
    'I{time} 1 leaderelection.go:271] successfully acquired lease lws-system/' + LEASE,
    'I{time} 1 controller.go:175] "Starting EventSource" controller="leaderworkerset"',
    'I{time} 1 controller.go:224] "Starting workers" controller="leaderworkerset" worker count=1'],
    "lines": ['I{time} 1 leaderworkerset_controller.go:121] "Reconciling LeaderWorkerSet" '
              'controller="leaderworkerset" reconcileID="{i}"']}

# resource -> (the first webhook the API server calls for it, its path, validating?)
_GATED = {"leaderworkersets.leaderworkerset.x-k8s.io": ("mleaderworkerset.kb.io",
                                                        "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset", False),
          f"{DS_PLURAL}.{DS_GROUP}": (dsapi.WEBHOOK, dsapi.WEBHOOK_PATH, True)}

_ca_lock = threading.Lock()
_ca_cache: dict[str, bytes] = {}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime, micro: bool = False) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _process_ca() -> bytes:
    """A self-signed EC CA (PEM) made once per process with openssl, for sandboxes without --tls."""
    with _ca_lock:
        if "pem" not in _ca_cache:
            openssl = shutil.which("openssl")
            pem = b""
            if openssl:
                tmp = tempfile.mkdtemp(prefix="kubectl-lws-ca-")
                try:
                    crt = os.path.join(tmp, "ca.crt")
                    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "365", "-subj", "/CN=lws-ca",
                                    "-keyout", os.path.join(tmp, "ca.key"), "-out", crt],
                                   check=True, capture_output=True, timeout=30)
                    with open(crt, "rb") as fh:
                        pem = fh.read()
                except (OSError, subprocess.SubprocessError):
                    pem = b""
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            _ca_cache["pem"] = pem
        return _ca_cache["pem"]


def ca_pem(sandbox: Any) -> bytes:
    if getattr(sandbox, "tls", False) and getattr(sandbox, "ca_file", None):
        with open(sandbox.ca_file, "rb") as fh:
            return fh.read()
    return _process_ca()


def expired_copy(pem: bytes, days_ago: int = 3) -> bytes:
    """The same certificate with notAfter ``days_ago`` days in the past (same DER length; signature broken)."""
    from kubectl_lws.model.certs import parse_der, pem_blocks

    der = bytearray(pem_blocks(pem)[0])
    info = parse_der(bytes(der))
    when = _now() - timedelta(days=days_ago)
    for (tag, start, end), t in zip(info.validity_offsets, (when - timedelta(days=30), when)):
        text = t.strftime("%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ").encode()
        assert len(text) == end - start
        der[start:end] = text
    body = base64.encodebytes(bytes(der)).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def _webhook(name: str, path: str, ca: str, resources: list[str], group: str) -> dict:
    return {"name": name, "admissionReviewVersions": ["v1"], "failurePolicy": "Fail", "sideEffects": "None",
            "matchPolicy": "Equivalent", "timeoutSeconds": 10,
            "namespaceSelector": {}, "objectSelector": {},
            "clientConfig": {"caBundle": ca, "service": {"name": SERVICE, "namespace": NAMESPACE, "path": path,
                                                         "port": 443}},
            "rules": [{"apiGroups": [group], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": resources, "scope": "*"}]}


class LwsSystem:
    """Creates the install, renews the Lease, and implements the faults."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.renewing = True
        self.holder = f"{DEPLOYMENT}-{uuid.uuid4().hex[:10]}_{uuid.uuid4()}"
        self._timer: Any = None
        self._stopped = False

    # ---- objects ----------------------------------------------------------------------------------
    def create(self) -> None:
        st = self.store
        if st.get("namespaces", None, NAMESPACE) is None:
            st.create("namespaces", {"metadata": {"name": NAMESPACE, "labels": {
                "kubernetes.io/metadata.name": NAMESPACE}}, "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}})
        st.create("customresourcedefinitions.apiextensions.k8s.io", {
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": CRD, "annotations": {"controller-gen.kubebuilder.io/version": "v0.17.2"}},
            "spec": {"group": "leaderworkerset.x-k8s.io", "scope": "Namespaced",
                     "names": {"kind": "LeaderWorkerSet", "listKind": "LeaderWorkerSetList",
                               "plural": "leaderworkersets", "singular": "leaderworkerset", "shortNames": ["lws"]},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "subresources": {"status": {}, "scale": {
                                       "specReplicasPath": ".spec.replicas",
                                       "statusReplicasPath": ".status.replicas",
                                       "labelSelectorPath": ".status.hpaPodSelector"}}}]},
            "status": {"acceptedNames": {"kind": "LeaderWorkerSet", "plural": "leaderworkersets"},
                       "storedVersions": ["v1"],
                       "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}]}})
        for crd in dsapi.crds():  # the same manager serves DisaggregatedSets (v0.10)
            st.create("customresourcedefinitions.apiextensions.k8s.io", crd)
        self._deployment(1)
        self._pod()
        st.create("services", {"apiVersion": "v1", "kind": "Service",
                               "metadata": {"name": SERVICE, "namespace": NAMESPACE},
                               "spec": {"selector": dict(POD_LABELS), "type": "ClusterIP", "clusterIP": "10.96.0.20",
                                        "ports": [{"port": 443, "protocol": "TCP", "targetPort": 9443}]}})
        self._endpoints(ready=True)
        ca = base64.b64encode(ca_pem(self.sandbox)).decode()
        st.create("mutatingwebhookconfigurations.admissionregistration.k8s.io", {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": MUTATING},
            "webhooks": [_webhook("mleaderworkerset.kb.io", "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset",
                                  ca, ["leaderworkersets"], "leaderworkerset.x-k8s.io"),
                         _webhook("mpod.kb.io", "/mutate--v1-pod", ca, ["pods"], "")]})
        st.create("validatingwebhookconfigurations.admissionregistration.k8s.io", {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": VALIDATING},
            "webhooks": [_webhook("vleaderworkerset.kb.io", "/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset",
                                  ca, ["leaderworkersets"], "leaderworkerset.x-k8s.io"),
                         _webhook("vpod.kb.io", "/validate--v1-pod", ca, ["pods"], ""),
                         _webhook(dsapi.WEBHOOK, dsapi.WEBHOOK_PATH, ca, [DS_PLURAL], DS_GROUP)]})
        now = _now()
        st.create("leases.coordination.k8s.io", {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": NAMESPACE},
            "spec": {"holderIdentity": self.holder, "leaseDurationSeconds": LEASE_SECONDS,
                     "acquireTime": _iso(now, True), "renewTime": _iso(now, True), "leaseTransitions": 0}})

    def _deployment(self, replicas: int) -> None:
        key = "deployments.apps"
        old = self.store.get(key, NAMESPACE, DEPLOYMENT)
        status = {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                  "readyReplicas": replicas, "availableReplicas": replicas,
                  "conditions": [{"type": "Available", "status": "True" if replicas else "False",
                                  "reason": "MinimumReplicasAvailable" if replicas else "MinimumReplicasUnavailable",
                                  "message": "Deployment has minimum availability." if replicas else
                                  "Deployment does not have minimum availability."}]}
        if replicas == 0:
            for k in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
                status.pop(k)
        if old is None:
            self.store.create(key, {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE, "labels": dict(POD_LABELS)},
                "spec": {"replicas": replicas, "selector": {"matchLabels": dict(POD_LABELS)},
                         "template": {"metadata": {"labels": dict(POD_LABELS)}, "spec": self._pod_spec()}},
                "status": status})
            return
        new = copy.deepcopy(old)
        new["spec"]["replicas"] = replicas
        self.store.update(key, new)
        new = copy.deepcopy(self.store.get(key, NAMESPACE, DEPLOYMENT))
        new["status"] = status
        self.store.update(key, new, subresource="status")

    @staticmethod
    def _pod_spec() -> dict:
        return {"serviceAccountName": "lws-controller-manager", "containers": [{
            "name": "manager", "image": IMAGE, "command": ["/manager"],
            "args": ["--config=/controller_manager_config.yaml", "--zap-log-level=2"],
            "ports": [{"containerPort": 9443, "name": "webhook-server", "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}]}

    def _pod(self) -> None:
        import json

        now = _iso(_now())
        name = f"{REPLICASET}-{uuid.uuid4().hex[:5]}"
        # controller-runtime's leader identity is "<hostname>_<uuid>", the hostname being the pod's name
        self.holder = f"{name}_{uuid.uuid4()}"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(POD_LABELS),
                            "annotations": {"sandbox.kubectl-lws.dev/logs": json.dumps(_LOGS)},
                            "ownerReferences": [self._replicaset_ref()]},
               "spec": {**self._pod_spec(), "nodeName": "control-plane"}}
        created = self.store.create("pods", pod)
        new = copy.deepcopy(created)
        new["status"] = {"phase": "Running", "podIP": "10.244.0.20", "podIPs": [{"ip": "10.244.0.20"}],
                         "hostIP": "127.0.0.1", "startTime": now, "qosClass": "Burstable",
                         "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                                        for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                         "containerStatuses": [{"name": "manager", "image": IMAGE, "imageID": "", "ready": True,
                                                "started": True, "restartCount": 0, "lastState": {},
                                                "state": {"running": {"startedAt": now}}}]}
        self.store.update("pods", new, subresource="status")

    def _replicaset_ref(self) -> dict:
        """The ReplicaSet the Deployment's pods belong to (created once, owned by the Deployment)."""
        rs = self.store.get("replicasets.apps", NAMESPACE, REPLICASET)
        if rs is None:
            deploy = self.store.get("deployments.apps", NAMESPACE, DEPLOYMENT)
            rs = self.store.create("replicasets.apps", {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": REPLICASET, "namespace": NAMESPACE,
                             "labels": {**POD_LABELS, "pod-template-hash": REPLICASET.rsplit("-", 1)[1]},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOYMENT,
                                                  "uid": deploy["metadata"]["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}] if deploy else []},
                "spec": {"replicas": 1, "selector": {"matchLabels": dict(POD_LABELS)}}})
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": REPLICASET, "uid": rs["metadata"]["uid"],
                "controller": True, "blockOwnerDeletion": True}

    def _pods(self) -> list[dict]:
        return self.store.list("pods", NAMESPACE, label_selector="control-plane=controller-manager")

    def _endpoints(self, ready: bool) -> None:
        key = "endpointslices.discovery.k8s.io"
        name = f"{SERVICE}-abcde"
        eps = [{"addresses": [(p.get("status") or {}).get("podIP", "10.244.0.20")],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": NAMESPACE}}
               for p in self._pods()] if ready else []
        obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
               "metadata": {"name": name, "namespace": NAMESPACE,
                            "labels": {"kubernetes.io/service-name": SERVICE,
                                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
               "endpoints": eps, "ports": [{"name": "", "port": 9443, "protocol": "TCP"}]}
        old = self.store.get(key, NAMESPACE, name)
        if old is None:
            self.store.create(key, obj)
        else:
            new = copy.deepcopy(old)
            new["endpoints"] = eps
            self.store.update(key, new)

    # ---- the lease --------------------------------------------------------------------------------
    def schedule_renew(self) -> None:
        if self._stopped:
            return
        self._timer = self.sandbox.loop.call_later(RENEW_SECONDS, self._renew)

    def _renew(self) -> None:
        if self._stopped:
            return
        if self.renewing:
            old = self.store.get("leases.coordination.k8s.io", NAMESPACE, LEASE)
            if old is not None:
                new = copy.deepcopy(old)
                new["spec"]["renewTime"] = _iso(_now(), True)
                new["spec"]["holderIdentity"] = self.holder
                self.store.update("leases.coordination.k8s.io", new)
        self.schedule_renew()

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()

    # ---- admission: the API server calls the LWS webhooks through the service ---------------------
    def webhook_problem(self, name: str = "mleaderworkerset.kb.io", validating: bool = False) -> str | None:
        """Why the API server could not call webhook ``name`` now, or None (also None with failurePolicy
        Ignore: the call failure is then ignored)."""
        from kubectl_lws.model.certs import CertError, parse_ca_bundle

        kind = "validating" if validating else "mutating"
        cfg = self.store.get(f"{kind}webhookconfigurations.admissionregistration.k8s.io", None,
                             VALIDATING if validating else MUTATING)
        hook = next((h for h in (cfg or {}).get("webhooks") or [] if h.get("name") == name), None)
        if hook is None or hook.get("failurePolicy", "Fail") == "Ignore":
            return None
        slices = self.store.list("endpointslices.discovery.k8s.io", NAMESPACE,
                                 label_selector=f"kubernetes.io/service-name={SERVICE}")
        if not any(ep.get("addresses") for sl in slices for ep in sl.get("endpoints") or []):
            return f'no endpoints available for service "{SERVICE}"'
        try:
            certs = parse_ca_bundle((hook.get("clientConfig") or {}).get("caBundle"))
        except CertError:
            return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        now = _now()
        for cert in certs:
            if cert.not_after <= now:
                return (f"tls: failed to verify certificate: x509: certificate has expired or is not yet valid: "
                        f"current time {_iso(now)} is after {_iso(cert.not_after)}")
        return None

    def gate(self, inner: Any) -> Any:
        """Wrap the API server's admission: LWS writes fail (HTTP 500) while the webhook cannot be called."""
        from .errors import ApiError

        def admit(sandbox: Any, operation: str, resource: str, obj: dict, old: dict | None) -> dict:
            hook = _GATED.get(resource) if operation in ("CREATE", "UPDATE") else None
            if hook is not None:
                name, path, validating = hook
                problem = self.webhook_problem(name, validating)
                if problem:
                    raise ApiError(500, "InternalError", f'Internal error occurred: failed calling webhook '
                                   f'"{name}": failed to call webhook: Post "https://{SERVICE}.{NAMESPACE}.svc:443'
                                   f'{path}?timeout=10s": {problem}')
            return inner(sandbox, operation, resource, obj, old) if inner is not None else obj
        return admit

    # ---- faults -----------------------------------------------------------------------------------
    def fault_controller_down(self, on: Any = True) -> dict:
        """Scale the controller to 0 (on) or back to 1: pods, endpoints, LWS reconciles and Lease follow."""
        down = _truthy(on)
        mgr = getattr(self.sandbox, "controllers", None)
        if down:
            self._deployment(0)
            for p in self._pods():
                self.store.remove("pods", NAMESPACE, p["metadata"]["name"])
            self._endpoints(ready=False)
            self.renewing = False
            if mgr is not None:
                mgr.paused.update(MANAGER_CONTROLLERS)
        else:
            self._deployment(1)
            if not self._pods():
                self._pod()
            self._endpoints(ready=True)
            self.renewing = True
            self._renew_now()
            if mgr is not None:
                mgr.paused.difference_update(MANAGER_CONTROLLERS)
                mgr.wake()
        return {"deployment": f"{NAMESPACE}/{DEPLOYMENT}", "replicas": 0 if down else 1}

    def _renew_now(self) -> None:
        old = self.store.get("leases.coordination.k8s.io", NAMESPACE, LEASE)
        if old is not None:
            new = copy.deepcopy(old)
            new["spec"]["renewTime"] = _iso(_now(), True)
            self.store.update("leases.coordination.k8s.io", new)

    def _each_webhook(self, fn: Any) -> None:
        for key, name in (("mutatingwebhookconfigurations.admissionregistration.k8s.io", MUTATING),
                          ("validatingwebhookconfigurations.admissionregistration.k8s.io", VALIDATING)):
            old = self.store.get(key, None, name)
            if old is None:
                continue
            new = copy.deepcopy(old)
            for wh in new.get("webhooks") or []:
                fn(wh)
            self.store.update(key, new)

    def fault_webhook_cert_expired(self, on: Any = True, days_ago: Any = 3) -> dict:
        """Replace both caBundles with an expired copy of the CA (on) or the valid CA (off)."""
        pem = ca_pem(self.sandbox)
        if not pem:
            raise RuntimeError("no CA to expire (openssl missing)")
        ca = expired_copy(pem, int(days_ago)) if _truthy(on) else pem
        value = base64.b64encode(ca).decode()
        self._each_webhook(lambda wh: wh["clientConfig"].__setitem__("caBundle", value))
        return {"expired": _truthy(on)}

    def fault_webhook_failure_policy(self, policy: str = "Ignore") -> dict:
        if policy not in ("Ignore", "Fail"):
            raise ValueError("policy must be Ignore or Fail")
        self._each_webhook(lambda wh: wh.__setitem__("failurePolicy", policy))
        return {"failurePolicy": policy}

    def fault_stale_lease(self, on: Any = True, minutes: Any = 10) -> dict:
        """Stop renewing the Lease and age its renewTime (on), or resume (off)."""
        old = self.store.get("leases.coordination.k8s.io", NAMESPACE, LEASE)
        if old is None:
            raise KeyError(f"lease {NAMESPACE}/{LEASE} not found")
        if _truthy(on):
            self.renewing = False
            new = copy.deepcopy(old)
            new["spec"]["renewTime"] = _iso(_now() - timedelta(minutes=float(minutes)), True)
            self.store.update("leases.coordination.k8s.io", new)
        else:
            self.renewing = True
            self._renew_now()
        return {"lease": f"{NAMESPACE}/{LEASE}", "stale": _truthy(on)}


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.lower() not in ("false", "0", "no", "off", "")
    return bool(v)


def install(sandbox: Any) -> LwsSystem:
    """Create the LWS install in the store and register its faults (runs on the loop thread)."""
    system = LwsSystem(sandbox)
    system.create()
    system.schedule_renew()
    sandbox.lws_system = system
    api = getattr(sandbox, "apiserver", None)
    if api is not None and hasattr(api, "_admit"):
        try:
            from . import webhooks
            inner = webhooks.admit
        except ImportError:
            inner = None
        api._admit, api._admit_loaded = system.gate(inner), True
    if hasattr(sandbox, "register_fault"):
        sandbox.register_fault("controller-down", system.fault_controller_down)
        sandbox.register_fault("webhook-cert-expired", system.fault_webhook_cert_expired)
        sandbox.register_fault("webhook-failure-policy", system.fault_webhook_failure_policy)
        sandbox.register_fault("stale-lease", system.fault_stale_lease)
    if hasattr(sandbox, "on_stop"):
        sandbox.on_stop(system.stop)
    return system
