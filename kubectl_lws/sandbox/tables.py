"""Server-side Table rendering (what ``kubectl get`` asks for), with kube's column definitions.

The column descriptions are the API field docs kube-apiserver sends; kubectl only shows names, but tests
compare the shape with the golden recordings.
"""
from __future__ import annotations

POD_COLUMNS: list[dict] = [{'name': 'Name',
  'type': 'string',
  'format': 'name',
  'description': 'Name must be unique within a namespace. Is required when creating resources, although some '
                 'resources may allow a client to request the generation of an appropriate name automatically. '
                 'Name is primarily intended for creation idempotence and configuration definition. Cannot be '
                 'updated. More info: '
                 'https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  'priority': 0},
 {'name': 'Ready',
  'type': 'string',
  'format': '',
  'description': 'The aggregate readiness state of this pod for accepting traffic.',
  'priority': 0},
 {'name': 'Status',
  'type': 'string',
  'format': '',
  'description': 'The aggregate status of the containers in this pod.',
  'priority': 0},
 {'name': 'Restarts',
  'type': 'string',
  'format': '',
  'description': 'The number of times the containers in this pod have been restarted and when the last container '
                 'in this pod has restarted.',
  'priority': 0},
 {'name': 'Age',
  'type': 'string',
  'format': '',
  'description': 'CreationTimestamp is a timestamp representing the server time when this object was created. It '
                 'is not guaranteed to be set in happens-before order across separate operations. Clients may not '
                 'set this value. It is represented in RFC3339 form and is in UTC.\n'
                 '\n'
                 'Populated by the system. Read-only. Null for lists. More info: '
                 'https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
  'priority': 0},
 {'name': 'IP',
  'type': 'string',
  'format': '',
  'description': 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet '
                 'allocated.',
  'priority': 1},
 {'name': 'Node',
  'type': 'string',
  'format': '',
  'description': 'NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for '
                 'scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for '
                 'this node becomes responsible for the lifecycle of this pod. This field should not be used to '
                 'express a desire for the pod to be scheduled on a specific node. '
                 'https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename',
  'priority': 1},
 {'name': 'Nominated Node',
  'type': 'string',
  'format': '',
  'description': 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be '
                 'scheduled right away as preemption victims receive their graceful termination periods. This '
                 'field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to '
                 'place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to '
                 'give the resources on this node to a higher priority pod that is created after preemption. As a '
                 'result, this field may be different than PodSpec.nodeName when the pod is scheduled.',
  'priority': 1},
 {'name': 'Readiness Gates',
  'type': 'string',
  'format': '',
  'description': 'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all '
                 'its containers are ready AND all conditions specified in the readiness gates have status equal '
                 'to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates',
  'priority': 1}]

LWS_COLUMNS: list[dict] = [POD_COLUMNS[0],  # kube's Name column, the same for every kind
 {'name': 'Ready', 'type': 'integer', 'format': '', 'description': 'Number of ready replicas', 'priority': 0},
 {'name': 'Desired', 'type': 'integer', 'format': '', 'description': 'Number of desired replicas', 'priority': 0},
 {'name': 'Up-to-date',
  'type': 'integer',
  'format': '',
  'description': 'Number of up-to-date replicas',
  'priority': 0},
 {'name': 'Age',
  'type': 'date',
  'format': '',
  'description': 'Custom resource definition column (in JSONPath format): .metadata.creationTimestamp',
  'priority': 0}]

from datetime import datetime, timezone
from typing import Any, Callable

# The sandbox may use the product's pure helpers (never the other way round).
from kubectl_lws.model.timeutil import parse_time
from kubectl_lws.render.output import human_age

from .dsapi import DSRS_PRINTER_COLUMNS

_NAME_COLUMN = POD_COLUMNS[0]
_AGE_COLUMN = {"name": "Age", "type": "string", "format": "",
               "description": "CreationTimestamp is a timestamp representing the server time when this object was "
                              "created.", "priority": 0}


def age(ts: str | None, now: datetime | None = None) -> str:
    t = parse_time(ts)
    if t is None:
        return "<unknown>"
    return human_age(((now or datetime.now(timezone.utc)) - t).total_seconds())


def pod_cells(pod: dict, now: datetime | None = None) -> list[Any]:
    """The cells kube's pod printer fills (Name Ready Status Restarts Age IP Node Nominated-Node Readiness-Gates)."""
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or ""
    total = len(spec.get("containers") or [])
    ready = 0
    restarts = 0
    last_restart: str | None = None

    def note_restart(cs: dict) -> None:
        nonlocal restarts, last_restart
        restarts += int(cs.get("restartCount") or 0)
        fin = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if fin and (last_restart is None or fin > last_restart):
            last_restart = fin

    initializing = False
    init_specs = spec.get("initContainers") or []
    # native sidecars (restartPolicy: Always, Kubernetes 1.29+) count in READY and RESTARTS, as kubectl shows
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total += len(sidecars)
    sidecar_restarts, sidecar_last = 0, None
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        note_restart(cs)
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if cs.get("name") in sidecars:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            fin = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
            if fin and (sidecar_last is None or fin > sidecar_last):
                sidecar_last = fin
        if term and term.get("exitCode") == 0:
            continue
        if cs.get("name") in sidecars and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        initializing = True
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif wait and wait.get("reason") and wait.get("reason") != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        break
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True" for c in status.get("conditions") or [])
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, sidecar_last
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            note_restart(cs)
            state = cs.get("state") or {}
            wait, term, run = state.get("waiting"), state.get("terminated"), state.get("running")
            if wait and wait.get("reason"):
                reason = wait["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = f"ExitCode:{term.get('exitCode')}"
            elif run is not None and cs.get("ready"):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_cond = any(c.get("type") == "Ready" and c.get("status") == "True"
                             for c in status.get("conditions") or [])
            reason = "Running" if ready_cond else "NotReady"
    if meta.get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    restarts_s = str(restarts)
    if restarts and last_restart:
        restarts_s = f"{restarts} ({age(last_restart, now)} ago)"
    gates = spec.get("readinessGates") or []
    gates_s = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        ok = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_s = f"{ok}/{len(gates)}"
    return [meta.get("name"), f"{ready}/{total}", reason, restarts_s, age(meta.get("creationTimestamp"), now),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates_s]


def lws_cells(lws: dict, now: datetime | None = None) -> list[Any]:
    """The CRD printer columns: .status.readyReplicas, .spec.replicas, .status.updatedReplicas, age."""
    st, sp = lws.get("status") or {}, lws.get("spec") or {}
    return [lws["metadata"].get("name"), st.get("readyReplicas"), sp.get("replicas"), st.get("updatedReplicas"),
            age(lws["metadata"].get("creationTimestamp"), now)]


def _dsrs_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    """The role scaler's printer columns: .spec.replicas, .status.replicas, age."""
    return [obj["metadata"].get("name"), (obj.get("spec") or {}).get("replicas"),
            (obj.get("status") or {}).get("replicas"), age(obj["metadata"].get("creationTimestamp"), now)]


def _generic_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    return [obj["metadata"].get("name"), age(obj["metadata"].get("creationTimestamp"), now)]


def _sts_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    st = obj.get("status") or {}
    return [obj["metadata"].get("name"), f"{st.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}",
            age(obj["metadata"].get("creationTimestamp"), now)]


def _node_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    conds = {c.get("type"): c.get("status") for c in (obj.get("status") or {}).get("conditions") or []}
    status = "Ready" if conds.get("Ready") == "True" else "NotReady"
    if (obj.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    version = ((obj.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
    return [obj["metadata"].get("name"), status, "<none>", age(obj["metadata"].get("creationTimestamp"), now), version]


def _ns_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    return [obj["metadata"].get("name"), (obj.get("status") or {}).get("phase", "Active"),
            age(obj["metadata"].get("creationTimestamp"), now)]


def _svc_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    spec = obj.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    ext = ",".join(spec.get("externalIPs") or []) or "<none>"
    return [obj["metadata"].get("name"), spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", ext, ports,
            age(obj["metadata"].get("creationTimestamp"), now), selector_text(spec.get("selector"))]


def selector_text(sel: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (sel or {}).items()) or "<none>"


def _event_cells(ev: dict, now: datetime | None = None) -> list[Any]:
    """core/v1 Event printer: Last Seen, Type, Reason, Object, Message (+ wide columns); an events.k8s.io
    series counts and dates the row, as kube's printer does."""
    last = ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    first = ev.get("firstTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    count = ev.get("count") or 1
    series = ev.get("series")
    if isinstance(series, dict):
        last, count = series.get("lastObservedTime") or last, series.get("count") or count
    inv = ev.get("involvedObject") or {}
    obj = f"{(inv.get('kind') or '').lower()}/{inv.get('name', '')}"
    src = ev.get("reportingComponent") or (ev.get("source") or {}).get("component", "")
    return [age(last, now), ev.get("type", ""), ev.get("reason", ""), obj, ev.get("message", ""),
            inv.get("fieldPath", ""), src, age(first, now), count, ev["metadata"].get("name")]


def _cr_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    owner = next((o for o in obj["metadata"].get("ownerReferences") or [] if o.get("controller")), None)
    ctrl = f"{owner['kind'].lower()}.{owner['apiVersion'].split('/')[0]}/{owner['name']}" if owner else "<none>"
    return [obj["metadata"].get("name"), ctrl, obj.get("revision"), age(obj["metadata"].get("creationTimestamp"), now)]


def _col(name: str, description: str = "", priority: int = 0, type_: str = "string") -> dict:
    return {"name": name, "type": type_, "format": "", "description": description, "priority": priority}


_TABLES: dict[str, tuple[list[dict], Callable[..., list[Any]]]] = {
    "pods": (POD_COLUMNS, pod_cells),
    "leaderworkersets.leaderworkerset.x-k8s.io": (LWS_COLUMNS, lws_cells),
    "statefulsets.apps": ([_NAME_COLUMN, _col("Ready", "Number of the pod with ready state"), _AGE_COLUMN],
                          _sts_cells),
    "nodes": ([_NAME_COLUMN, _col("Status", "The status of the node"), _col("Roles", "The roles of the node"),
               _AGE_COLUMN, _col("Version", "Kubelet Version reported by the node.")], _node_cells),
    # a CRD without printer columns gets apiextensions' default Age column (creationTimestamp's description)
    "disaggregatedsets.disaggregatedset.x-k8s.io": ([_NAME_COLUMN, {**POD_COLUMNS[4], "type": "date"}],
                                                     _generic_cells),
    "disaggregatedsetrolescalers.disaggregatedset.x-k8s.io": (
        [_NAME_COLUMN] + [_col(c["name"], "Custom resource definition column (in JSONPath format): " + c["jsonPath"],
                               0, c["type"]) for c in DSRS_PRINTER_COLUMNS], _dsrs_cells),
}


_TABLES["namespaces"] = ([_NAME_COLUMN, _col("Status", "The status of the namespace"), _AGE_COLUMN], _ns_cells)
_TABLES["services"] = ([_NAME_COLUMN, _col("Type", "The type of the service"), _col("Cluster-IP", "The cluster IP"),
                        _col("External-IP", "The external IP"), _col("Port(s)", "The ports of the service"),
                        _AGE_COLUMN, _col("Selector", "The label selector of the service", 1)], _svc_cells)
_TABLES["events"] = ([_col("Last Seen", "Time since the event was last seen"), _col("Type", "Type of the event"),
                      _col("Reason", "Reason of the event"), _col("Object", "The object the event is about"),
                      _col("Message", "Message of the event"), _col("Subobject", "Field path", 1),
                      _col("Source", "Reporting component", 1), _col("First Seen", "Time since first seen", 1),
                      _col("Count", "Number of occurrences", 1, "integer"), _col("Name", "Event name", 1)],
                     _event_cells)
_TABLES["controllerrevisions.apps"] = ([_NAME_COLUMN, _col("Controller", "The owning controller"),
                                        _col("Revision", "The revision number", 0, "integer"), _AGE_COLUMN], _cr_cells)


def columns_for(resource: str) -> list[dict]:
    return _TABLES.get(resource, ([_NAME_COLUMN, _AGE_COLUMN], _generic_cells))[0]


def partial_metadata(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(resource: str, objs: list[dict], list_meta: dict, *, include_object: str = "Metadata",
          with_columns: bool = True) -> dict:
    """A ``meta.k8s.io/v1`` Table. ``include_object``: Metadata (default), Object or None, as the query param."""
    cols, cells = _TABLES.get(resource, ([_NAME_COLUMN, _AGE_COLUMN], _generic_cells))
    now = datetime.now(timezone.utc)
    rows = []
    for o in objs:
        row: dict[str, Any] = {"cells": cells(o, now)}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = partial_metadata(o)
        rows.append(row)
    out: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta}
    out["columnDefinitions"] = cols if with_columns else None
    out["rows"] = rows
    return out


def _quota_cells(q: dict, now: datetime | None = None) -> list[Any]:
    """kube's ResourceQuota printer: ``pods: 3/3, requests.nvidia.com/gpu: 3/8`` (used/hard)."""
    st = q.get("status") or {}
    hard, used = st.get("hard") or (q.get("spec") or {}).get("hard") or {}, st.get("used") or {}
    req = [f"{k}: {used.get(k, '0')}/{v}" for k, v in sorted(hard.items()) if not k.startswith("limits.")]
    lim = [f"{k}: {used.get(k, '0')}/{v}" for k, v in sorted(hard.items()) if k.startswith("limits.")]
    return [q["metadata"].get("name"), age(q["metadata"].get("creationTimestamp"), now), ", ".join(req),
            ", ".join(lim)]


_TABLES["resourcequotas"] = ([_NAME_COLUMN, _AGE_COLUMN, _col("Request", "Request represents a minimum amount of "
                                                              "cpu/memory that a container may consume."),
                              _col("Limit", "Limits control the maximum amount of cpu/memory that a container "
                                            "may use independent of contention on the node.")], _quota_cells)


# The kinds LWS manifests reference, with kube's printer columns (pkg/printers/internalversion).
def _secret_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    return [obj["metadata"].get("name"), obj.get("type", "Opaque"),
            len(obj.get("data") or {}) + len(obj.get("stringData") or {}),
            age(obj["metadata"].get("creationTimestamp"), now)]


def _configmap_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    return [obj["metadata"].get("name"), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}),
            age(obj["metadata"].get("creationTimestamp"), now)]


def _sa_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    return [obj["metadata"].get("name"), len(obj.get("secrets") or []), age(obj["metadata"].get("creationTimestamp"), now)]


def _role_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    return [obj["metadata"].get("name"), obj["metadata"].get("creationTimestamp") or ""]


def _binding_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    ref = obj.get("roleRef") or {}
    subjects = obj.get("subjects") or []

    def names(kind: str) -> str:
        return ", ".join(s.get("name", "") if kind != "ServiceAccount" else f"{s.get('namespace', '')}/{s.get('name', '')}"
                         for s in subjects if s.get("kind") == kind)
    return [obj["metadata"].get("name"), f"{ref.get('kind', '')}/{ref.get('name', '')}",
            age(obj["metadata"].get("creationTimestamp"), now), names("User"), names("Group"), names("ServiceAccount")]


def _deployment_cells(obj: dict, now: datetime | None = None) -> list[Any]:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = ",".join(f"{k}={v}" for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items())
    return [obj["metadata"].get("name"), f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            age(obj["metadata"].get("creationTimestamp"), now), ",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers), selector or "<none>"]


_CREATED_AT = _col("Created At", "Time the object was created", 0, "date")
_BINDING_COLUMNS = [_NAME_COLUMN, _col("Role", "The role this binding grants"), _AGE_COLUMN,
                    _col("Users", "Users in the binding", 1), _col("Groups", "Groups in the binding", 1),
                    _col("ServiceAccounts", "Service accounts in the binding", 1)]
_TABLES["secrets"] = ([_NAME_COLUMN, _col("Type", "The type of the secret"),
                       _col("Data", "The number of entries in the secret", 0, "integer"), _AGE_COLUMN], _secret_cells)
_TABLES["configmaps"] = ([_NAME_COLUMN, _col("Data", "The number of entries", 0, "integer"), _AGE_COLUMN],
                         _configmap_cells)
_TABLES["serviceaccounts"] = ([_NAME_COLUMN, _col("Secrets", "The number of secrets", 0, "integer"), _AGE_COLUMN],
                              _sa_cells)
_TABLES["roles.rbac.authorization.k8s.io"] = ([_NAME_COLUMN, _CREATED_AT], _role_cells)
_TABLES["clusterroles.rbac.authorization.k8s.io"] = ([_NAME_COLUMN, _CREATED_AT], _role_cells)
_TABLES["rolebindings.rbac.authorization.k8s.io"] = (_BINDING_COLUMNS, _binding_cells)
_TABLES["clusterrolebindings.rbac.authorization.k8s.io"] = (_BINDING_COLUMNS, _binding_cells)
_TABLES["deployments.apps"] = ([_NAME_COLUMN, _col("Ready", "Number of ready replicas"),
                                _col("Up-to-date", "Number of updated replicas", 0, "integer"),
                                _col("Available", "Number of available replicas", 0, "integer"), _AGE_COLUMN,
                                _col("Containers", "Names of each container in the template", 1),
                                _col("Images", "Images referenced by each container in the template", 1),
                                _col("Selector", "Label selector for pods", 1)], _deployment_cells)
