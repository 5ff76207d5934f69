"""The resource types the sandbox serves, and the facts about each one the server and store need.

One table instead of scattered ``if resource == ...`` checks: discovery, the store (scope, generation),
field-selector support, and error messages (group, kind) are all driven from it.
"""
from __future__ import annotations

from dataclasses import dataclass

LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS = f"leaderworkersets.{LWS_GROUP}"


@dataclass(frozen=True)
class ResourceType:
    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool = True
    generation: bool = False           # kube sets metadata.generation (spec-bearing workload kinds, all CRs)
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    singular: str = ""
    categories: tuple[str, ...] = ()
    custom: bool = False               # CRD-backed: sorted JSON keys, CR list shape, no strategic merge
    field_labels: tuple[str, ...] = ("metadata.name", "metadata.namespace")
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

    @property
    def key(self) -> str:
        """Store key: ``pods`` for core, ``plural.group`` otherwise."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


_POD_FIELDS = ("metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
               "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
               "status.nominatedNodeName")
_EVENT_FIELDS = ("metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
                 "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
                 "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent",
                 "source", "type")

RESOURCES: dict[str, ResourceType] = {r.key: r for r in [
    ResourceType("namespaces", "Namespace", "", "v1", namespaced=False, subresources=("status", "finalize"),
                 short_names=("ns",), singular="namespace", field_labels=("metadata.name", "status.phase"),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    ResourceType("nodes", "Node", "", "v1", namespaced=False, subresources=("status",), short_names=("no",),
                 singular="node", field_labels=("metadata.name", "spec.unschedulable")),
    ResourceType("pods", "Pod", "", "v1", generation=True, subresources=("status", "binding", "eviction", "log", "exec", "proxy"),
                 short_names=("po",), singular="pod", categories=("all",), field_labels=_POD_FIELDS),
    ResourceType("services", "Service", "", "v1", subresources=("status",), short_names=("svc",),
                 singular="service", categories=("all",)),
    ResourceType("events", "Event", "", "v1", short_names=("ev",), singular="event", field_labels=_EVENT_FIELDS),
    ResourceType("resourcequotas", "ResourceQuota", "", "v1", subresources=("status",), short_names=("quota",),
                 singular="resourcequota"),
    ResourceType("statefulsets", "StatefulSet", "apps", "v1", generation=True, subresources=("status", "scale"),
                 short_names=("sts",), singular="statefulset", categories=("all",)),
    ResourceType("controllerrevisions", "ControllerRevision", "apps", "v1", singular="controllerrevision"),
    ResourceType("horizontalpodautoscalers", "HorizontalPodAutoscaler", "autoscaling", "v2",
                 subresources=("status",), short_names=("hpa",), singular="horizontalpodautoscaler",
                 categories=("all",)),
    ResourceType("events", "Event", "events.k8s.io", "v1", short_names=("ev",), singular="event",
                 field_labels=("metadata.name", "metadata.namespace", "regarding.kind", "regarding.name",
                               "regarding.namespace", "reason", "type", "reportingController")),
    ResourceType("leaderworkersets", "LeaderWorkerSet", LWS_GROUP, "v1", generation=True,
                 subresources=("status", "scale"), short_names=("lws",), singular="leaderworkerset",
                 custom=True),
    # What real LWS manifests reference (chat templates, HF tokens, identities) and an LWS install holds.
    ResourceType("secrets", "Secret", "", "v1", singular="secret"),
    ResourceType("configmaps", "ConfigMap", "", "v1", short_names=("cm",), singular="configmap"),
    ResourceType("serviceaccounts", "ServiceAccount", "", "v1", subresources=("token",), short_names=("sa",),
                 singular="serviceaccount"),
    ResourceType("roles", "Role", "rbac.authorization.k8s.io", "v1", singular="role"),
    ResourceType("rolebindings", "RoleBinding", "rbac.authorization.k8s.io", "v1", singular="rolebinding"),
    ResourceType("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", namespaced=False,
                 singular="clusterrole"),
    ResourceType("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1",
                 namespaced=False, singular="clusterrolebinding"),
    ResourceType("deployments", "Deployment", "apps", "v1", generation=True, subresources=("status", "scale"),
                 short_names=("deploy",), singular="deployment", categories=("all",)),
    ResourceType("endpointslices", "EndpointSlice", "discovery.k8s.io", "v1", singular="endpointslice"),
    ResourceType("leases", "Lease", "coordination.k8s.io", "v1", singular="lease"),
    ResourceType("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", "admissionregistration.k8s.io",
                 "v1", namespaced=False, generation=True, singular="mutatingwebhookconfiguration"),
    ResourceType("validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
                 "admissionregistration.k8s.io", "v1", namespaced=False, generation=True,
                 singular="validatingwebhookconfiguration"),
    ResourceType("customresourcedefinitions", "CustomResourceDefinition", "apiextensions.k8s.io", "v1",
                 namespaced=False, generation=True, subresources=("status",), short_names=("crd", "crds"),
                 singular="customresourcedefinition"),
    ResourceType("selfsubjectaccessreviews", "SelfSubjectAccessReview", "authorization.k8s.io", "v1",
                 namespaced=False, singular="selfsubjectaccessreview", verbs=("create",)),
    ResourceType("selfsubjectrulesreviews", "SelfSubjectRulesReview", "authorization.k8s.io", "v1",
                 namespaced=False, singular="selfsubjectrulesreview", verbs=("create",)),
    ResourceType("selfsubjectreviews", "SelfSubjectReview", "authentication.k8s.io", "v1",
                 namespaced=False, singular="selfsubjectreview", verbs=("create",)),
]}

# Extra versions served for a group (kubectl asks autoscaling/v1 for Scale and HPA listing works in v1 too).
EXTRA_GROUP_VERSIONS: dict[str, tuple[str, ...]] = {"autoscaling": ("v1",)}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """Find the resource type served at ``/apis/<group>/<version>/<plural>`` (``group=""`` for /api/v1)."""
    key = f"{plural}.{group}" if group else plural
    rt = RESOURCES.get(key)
    if rt is None:
        return None
    if rt.version != version and version not in EXTRA_GROUP_VERSIONS.get(group, ()):
        return None
    return rt


def groups() -> dict[str, list[str]]:
    """Group name -> served versions (preferred first); the core group is ``""``."""
    out: dict[str, list[str]] = {}
    for rt in RESOURCES.values():
        vs = out.setdefault(rt.group, [])
        if rt.version not in vs:
            vs.append(rt.version)
    for g, extra in EXTRA_GROUP_VERSIONS.items():
        for v in extra:
            if v not in out.get(g, []):
                out.setdefault(g, []).append(v)
    return out
