"""The resource types the sandbox serves, and the facts about each one the server and store need.

One table instead of scattered ``if resource == ...`` checks: discovery, the store (scope, generation),
field-selector support, and error messages (group, kind) are all driven from it.
"""
from __future__ import annotations

from dataclasses import dataclass

from kubectl_lws.model import keys as _k

LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS = f"leaderworkersets.{LWS_GROUP}"
DS = f"{_k.DS_PLURAL}.{_k.DS_GROUP}"
DSRS = f"{_k.DSRS_PLURAL}.{_k.DS_GROUP}"


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
    # served only when the sandbox has this add-on installed (a scenario's ``addons``: kueue, volcano...)
    addon: str = ""

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
    # The DisaggregatedSet CRDs of the LWS install (v0.10): no short name for the set, `dsrs` for the scaler
    ResourceType(_k.DS_PLURAL, _k.DS_KIND, _k.DS_GROUP, _k.DS_VERSION, generation=True, subresources=("status",),
                 singular="disaggregatedset", custom=True),
    ResourceType(_k.DSRS_PLURAL, _k.DSRS_KIND, _k.DS_GROUP, _k.DS_VERSION, generation=True,
                 subresources=("status", "scale"), short_names=("dsrs",), singular="disaggregatedsetrolescaler",
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
    # Served (empty) because every cluster has them and `ds` is their short name: `kubectl get ds,dsrs` lists
    # DaemonSets and role scalers, as on a real cluster (a DisaggregatedSet has no short name)
    ResourceType("daemonsets", "DaemonSet", "apps", "v1", generation=True, subresources=("status",),
                 short_names=("ds",), singular="daemonset", categories=("all",)),
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

# Add-ons a scenario can install (``addons: [...]``): the APIs of the admission and gang layers that
# `kubectl lws status` explains (sandbox/controllers/kueue_*.py, volcano.py). Kueue serves v1beta2 (the
# storage version since 0.16) and the deprecated v1beta1 (golden kueue/, README G); its visibility API
# is an aggregated API of its own, so it is an add-on apart ("kueue-visibility").
KUEUE_GROUP = "kueue.x-k8s.io"
KUEUE_VISIBILITY_GROUP = "visibility.kueue.x-k8s.io"
VOLCANO_GROUP = "scheduling.volcano.sh"
ADDONS = ("kueue", "kueue-visibility", "volcano")
for _rt in (
    ResourceType("workloads", "Workload", KUEUE_GROUP, "v1beta2", generation=True, subresources=("status",),
                 short_names=("wl",), singular="workload", categories=("kueue",), custom=True, addon="kueue"),
    ResourceType("clusterqueues", "ClusterQueue", KUEUE_GROUP, "v1beta2", namespaced=False, generation=True,
                 subresources=("status",), short_names=("cq",), singular="clusterqueue", categories=("kueue",),
                 custom=True, addon="kueue"),
    ResourceType("localqueues", "LocalQueue", KUEUE_GROUP, "v1beta2", generation=True, subresources=("status",),
                 short_names=("lq", "queue", "queues"), singular="localqueue", categories=("kueue",), custom=True,
                 addon="kueue"),
    ResourceType("resourceflavors", "ResourceFlavor", KUEUE_GROUP, "v1beta2", namespaced=False, generation=True,
                 short_names=("flavor", "flavors", "rf"), singular="resourceflavor", categories=("kueue",),
                 custom=True, addon="kueue"),
    ResourceType("topologies", "Topology", KUEUE_GROUP, "v1beta2", namespaced=False, generation=True,
                 singular="topology", categories=("kueue",), custom=True, addon="kueue"),
    # visibility.kueue.x-k8s.io: only the pendingworkloads subresources answer (sandbox/kueue_api.py)
    ResourceType("clusterqueues", "ClusterQueue", KUEUE_VISIBILITY_GROUP, "v1beta2", namespaced=False,
                 subresources=("pendingworkloads",), singular="clusterqueue", verbs=("get",),
                 addon="kueue-visibility"),
    ResourceType("localqueues", "LocalQueue", KUEUE_VISIBILITY_GROUP, "v1beta2", subresources=("pendingworkloads",),
                 singular="localqueue", verbs=("get",), addon="kueue-visibility"),
    ResourceType("podgroups", "PodGroup", VOLCANO_GROUP, "v1beta1", generation=True, subresources=("status",),
                 short_names=("pg", "podgroup-v1beta1"), singular="podgroup", custom=True, addon="volcano"),
    ResourceType("queues", "Queue", VOLCANO_GROUP, "v1beta1", namespaced=False, generation=True,
                 subresources=("status",), short_names=("q", "queue-v1beta1"), singular="queue", custom=True,
                 addon="volcano"),
    # the controller pods' owner, which names their Deployment (doctor finds the LWS controller by it)
    ResourceType("replicasets", "ReplicaSet", "apps", "v1", generation=True, subresources=("status", "scale"),
                 short_names=("rs",), singular="replicaset", categories=("all",)),
    # what StatefulSets make of volumeClaimTemplates, and the classes they name (sandbox/controllers/storage.py)
    ResourceType("persistentvolumeclaims", "PersistentVolumeClaim", "", "v1", subresources=("status",),
                 short_names=("pvc",), singular="persistentvolumeclaim"),
    ResourceType("storageclasses", "StorageClass", "storage.k8s.io", "v1", namespaced=False,
                 short_names=("sc",), singular="storageclass"),
):
    RESOURCES[_rt.key] = _rt

# Extra versions served for a group (kubectl asks autoscaling/v1 for Scale and HPA listing works in v1 too).
EXTRA_GROUP_VERSIONS: dict[str, tuple[str, ...]] = {"autoscaling": ("v1",), KUEUE_GROUP: ("v1beta1",),
                                                    KUEUE_VISIBILITY_GROUP: ("v1beta1",)}


def is_served(rt: ResourceType, installed: frozenset[str] | set[str] = frozenset()) -> bool:
    """A built-in resource always is; an add-on's only once the add-on is installed."""
    return not rt.addon or rt.addon in installed


def lookup(group: str, version: str, plural: str,
           installed: frozenset[str] | set[str] = frozenset()) -> ResourceType | None:
    """Find the resource type served at ``/apis/<group>/<version>/<plural>`` (``group=""`` for /api/v1)."""
    key = f"{plural}.{group}" if group else plural
    rt = RESOURCES.get(key)
    if rt is None or not is_served(rt, installed):
        return None
    if rt.version != version and version not in EXTRA_GROUP_VERSIONS.get(group, ()):
        return None
    return rt


def groups(installed: frozenset[str] | set[str] = frozenset()) -> dict[str, list[str]]:
    """Group name -> served versions (preferred first); the core group is ``""``."""
    out: dict[str, list[str]] = {}
    for rt in RESOURCES.values():
        if not is_served(rt, installed):
            continue
        vs = out.setdefault(rt.group, [])
        if rt.version not in vs:
            vs.append(rt.version)
    for g, extra in EXTRA_GROUP_VERSIONS.items():
        if g not in out:
            continue
        for v in extra:
            if v not in out[g]:
                out[g].append(v)
    return out
