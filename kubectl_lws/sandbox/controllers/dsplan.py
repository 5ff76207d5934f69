"""Pure parts of the DisaggregatedSet controller (LWS v0.10, ``pkg/controllers/disaggregatedset`` and
``pkg/utils/disaggregatedset``): the revision hash, child names and labels, placement affinities, and the
rolling-update planner with its coordinated drain. No store, no clock; the controller module applies them.

The revision is the first 8 hex of SHA-256 over ``[{"name": role, "template": <leaderWorkerTemplate>}...]``
serialized as Go's ``encoding/json`` serializes the typed structs: fields in struct order, ``omitempty``
fields dropped when empty, non-pointer structs always written (``"metadata":{}``, ``"resources":{}``), map
keys sorted. ``_GO_FIELDS`` lists the structs a pod template commonly uses; an unlisted struct keeps its keys
sorted (the stored JSON's order), so the hash then matches upstream only where Go's order is alphabetical.
The golden revisions (f5319d59, 0fec0569, c96cd1c8, b890c4a6, fde9fa21) come out bit-identical.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from kubectl_lws.model import keys as _k

REVISION_LENGTH = 8

# Go struct -> [(json field, struct type or None, always written)]; "[T" is a slice of T, "Q" a ResourceList.
_F = tuple[str, "str | None", bool]


def _fields(spec: str, types: dict[str, str] | None = None, always: tuple[str, ...] = ()) -> list[_F]:
    types = types or {}
    return [(f, types.get(f), f in always) for f in spec.split()]


_GO_FIELDS: dict[str, list[_F]] = {
    "LeaderWorkerTemplate": _fields(
        "leaderTemplate workerTemplate size restartPolicy subGroupPolicy volumeClaimTemplates",
        {"leaderTemplate": "PodTemplateSpec", "workerTemplate": "PodTemplateSpec",
         "subGroupPolicy": "SubGroupPolicy"}, ("workerTemplate",)),
    "SubGroupPolicy": _fields("subGroupPolicyType subGroupSize"),
    "PodTemplateSpec": _fields("metadata spec", {"metadata": "ObjectMeta", "spec": "PodSpec"}, ("metadata", "spec")),
    "ObjectMeta": _fields("name generateName namespace selfLink uid resourceVersion generation creationTimestamp "
                          "deletionTimestamp deletionGracePeriodSeconds labels annotations ownerReferences "
                          "finalizers managedFields"),
    "PodSpec": _fields(
        "volumes initContainers containers ephemeralContainers restartPolicy terminationGracePeriodSeconds "
        "activeDeadlineSeconds dnsPolicy nodeSelector serviceAccountName serviceAccount "
        "automountServiceAccountToken nodeName hostNetwork hostPID hostIPC shareProcessNamespace securityContext "
        "imagePullSecrets hostname subdomain affinity schedulerName tolerations hostAliases priorityClassName "
        "priority dnsConfig readinessGates runtimeClassName enableServiceLinks preemptionPolicy overhead "
        "topologySpreadConstraints setHostnameAsFQDN os hostUsers schedulingGates resourceClaims resources "
        "hostnameOverride",
        {"volumes": "[Volume", "initContainers": "[Container", "containers": "[Container",
         "tolerations": "[Toleration", "affinity": "Affinity", "overhead": "Q", "resources": "ResourceRequirements"},
        ("containers",)),
    "Container": _fields(
        "name image command args workingDir ports envFrom env resources resizePolicy restartPolicy "
        "restartPolicyRules volumeMounts volumeDevices livenessProbe readinessProbe startupProbe lifecycle "
        "terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce tty",
        {"ports": "[ContainerPort", "env": "[EnvVar", "envFrom": "[EnvFromSource",
         "resources": "ResourceRequirements", "volumeMounts": "[VolumeMount", "livenessProbe": "Probe",
         "readinessProbe": "Probe", "startupProbe": "Probe"}, ("name", "resources")),
    "ContainerPort": _fields("name hostPort containerPort protocol hostIP", always=("containerPort",)),
    "EnvVar": _fields("name value valueFrom", {"valueFrom": "EnvVarSource"}, ("name",)),
    "EnvVarSource": _fields("fieldRef resourceFieldRef configMapKeyRef secretKeyRef fileKeyRef",
                            {"fieldRef": "ObjectFieldSelector", "resourceFieldRef": "ResourceFieldSelector",
                             "configMapKeyRef": "KeySelector", "secretKeyRef": "KeySelector"}),
    "ObjectFieldSelector": _fields("apiVersion fieldPath", always=("fieldPath",)),
    "ResourceFieldSelector": _fields("containerName resource divisor", always=("resource",)),
    "KeySelector": _fields("name key optional", always=("key",)),
    "EnvFromSource": _fields("prefix configMapRef secretRef"),
    "ResourceRequirements": _fields("limits requests claims", {"limits": "Q", "requests": "Q"}),
    "VolumeMount": _fields("name readOnly recursiveReadOnly mountPath subPath mountPropagation subPathExpr",
                           always=("name", "mountPath")),
    "Volume": _fields(
        "name hostPath emptyDir gcePersistentDisk awsElasticBlockStore gitRepo secret nfs iscsi glusterfs "
        "persistentVolumeClaim rbd flexVolume cinder cephfs flocker downwardAPI fc azureFile configMap "
        "vsphereVolume quobyte azureDisk photonPersistentDisk projected portworxVolume scaleIO storageos csi "
        "ephemeral image", {"emptyDir": "EmptyDir"}, ("name",)),
    "EmptyDir": _fields("medium sizeLimit"),
    "Probe": _fields("exec httpGet tcpSocket grpc initialDelaySeconds timeoutSeconds periodSeconds "
                     "successThreshold failureThreshold terminationGracePeriodSeconds",
                     {"httpGet": "HTTPGetAction", "tcpSocket": "TCPSocketAction"}),
    "HTTPGetAction": _fields("path port host scheme httpHeaders", always=("port",)),
    "TCPSocketAction": _fields("port host", always=("port",)),
    "Toleration": _fields("key operator value effect tolerationSeconds"),
    "Affinity": _fields("nodeAffinity podAffinity podAntiAffinity",
                        {"nodeAffinity": "NodeAffinity", "podAffinity": "PodAffinity",
                         "podAntiAffinity": "PodAffinity"}),
    "NodeAffinity": _fields("requiredDuringSchedulingIgnoredDuringExecution "
                            "preferredDuringSchedulingIgnoredDuringExecution",
                            {"requiredDuringSchedulingIgnoredDuringExecution": "NodeSelector",
                             "preferredDuringSchedulingIgnoredDuringExecution": "[PreferredSchedulingTerm"}),
    "NodeSelector": _fields("nodeSelectorTerms", {"nodeSelectorTerms": "[NodeSelectorTerm"},
                            ("nodeSelectorTerms",)),
    "NodeSelectorTerm": _fields("matchExpressions matchFields",
                                {"matchExpressions": "[Requirement", "matchFields": "[Requirement"}),
    "PreferredSchedulingTerm": _fields("weight preference", {"preference": "NodeSelectorTerm"},
                                       ("weight", "preference")),
    "PodAffinity": _fields("requiredDuringSchedulingIgnoredDuringExecution "
                           "preferredDuringSchedulingIgnoredDuringExecution",
                           {"requiredDuringSchedulingIgnoredDuringExecution": "[PodAffinityTerm",
                            "preferredDuringSchedulingIgnoredDuringExecution": "[WeightedPodAffinityTerm"}),
    "PodAffinityTerm": _fields("labelSelector namespaces topologyKey namespaceSelector matchLabelKeys "
                               "mismatchLabelKeys", {"labelSelector": "LabelSelector",
                                                     "namespaceSelector": "LabelSelector"}, ("topologyKey",)),
    "WeightedPodAffinityTerm": _fields("weight podAffinityTerm", {"podAffinityTerm": "PodAffinityTerm"},
                                       ("weight", "podAffinityTerm")),
    "LabelSelector": _fields("matchLabels matchExpressions", {"matchExpressions": "[Requirement"}),
    "Requirement": _fields("key operator values", always=("key", "operator")),
}
# Non-pointer bool/int fields with omitempty: Go drops their zero value (pointer fields keep it).
_ZERO_DROPPED = {("PodSpec", "hostNetwork"), ("PodSpec", "hostPID"), ("PodSpec", "hostIPC"),
                 ("Container", "stdin"), ("Container", "stdinOnce"), ("Container", "tty"),
                 ("VolumeMount", "readOnly"), ("ContainerPort", "hostPort"), ("Probe", "initialDelaySeconds"),
                 ("Probe", "timeoutSeconds"), ("Probe", "periodSeconds"), ("Probe", "successThreshold"),
                 ("Probe", "failureThreshold"), ("Toleration", "tolerationSeconds")}


def _empty(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, (list, dict)) and not v)


def _zero(go_type: str | None, field: str) -> Any:
    """What Go writes for an absent field that has no ``omitempty``."""
    if go_type in _GO_FIELDS:
        return go_encode({}, go_type)
    if go_type is not None:  # a slice or a map: nil
        return None
    return 0 if field in ("containerPort", "weight") else ""


def go_encode(value: Any, go_type: str | None = None) -> Any:
    """``value`` (stored JSON) reshaped as Go's ``json.Marshal`` of the typed struct writes it."""
    if go_type is not None and go_type.startswith("["):
        return None if value is None else [go_encode(v, go_type[1:]) for v in value]
    if go_type == "Q":  # ResourceList: sorted keys, quantities as strings
        return {k: str(v) for k, v in sorted((value or {}).items())}
    if go_type in _GO_FIELDS and isinstance(value, dict):
        out: dict[str, Any] = {}
        fields = _GO_FIELDS[go_type]
        for name, ftype, always in fields:
            v = value.get(name)
            if v is not None and (always or not (_empty(v) or ((go_type, name) in _ZERO_DROPPED and not v))):
                out[name] = go_encode(v, ftype)
            elif always:
                out[name] = _zero(ftype, name)
        known = {f[0] for f in fields}
        for name in sorted(set(value) - known):
            out[name] = go_encode(value[name])
        return out
    if isinstance(value, dict):
        return {k: go_encode(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [go_encode(v) for v in value]
    return value


def revision(roles: list[dict]) -> str:
    """``ComputeRevision``: every role's leaderWorkerTemplate together, so one role's change rolls all roles
    (replicas, rollout strategy and scaling are not part of it)."""
    data = [{"name": r.get("name"), "template": go_encode(((r.get("spec") or {}).get("leaderWorkerTemplate")
                                                            or {}), "LeaderWorkerTemplate")} for r in roles]
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(raw).hexdigest()[:REVISION_LENGTH]


# ------------------------------------------------------------------------------------- names, labels
def child_name(ds: str, slice_: int, rev: str, role: str) -> str:
    """``<ds>-<slice>-<rev8>-<role>`` (v0.10; sets made by v0.9 used ``<ds>-<rev8>-<role>``)."""
    return f"{ds}-{slice_}-{rev}-{role}"


def child_labels(ds: str, slice_: int, rev: str, role: str) -> dict[str, str]:
    """On the LWS and both pod templates (so StatefulSets and pods carry them too)."""
    return {"app": f"{ds}-{slice_}-{role}", _k.DS_ROLE_LABEL: role, _k.DS_SLICE_LABEL: str(slice_),
            _k.DS_NAME_LABEL: ds, _k.DS_REVISION_LABEL: rev}


def service_labels(ds: str, slice_: int, rev: str, role: str) -> dict[str, str]:
    """Labels and selector of the ``-prv`` Service: the four DS labels (no ``app``)."""
    return {_k.DS_NAME_LABEL: ds, _k.DS_SLICE_LABEL: str(slice_), _k.DS_ROLE_LABEL: role,
            _k.DS_REVISION_LABEL: rev}


def placement_affinity(pod_spec: dict, ds: str, slice_: int, policy: dict | None) -> None:
    """``SetPlacementAffinities``: ExclusiveSlice co-locates a slice's roles in one topology domain and keeps
    the set's other slices out of it; ExclusiveTopology also keeps other sets' slices out."""
    if not isinstance(policy, dict) or policy.get("type") in (None, "", "None") or not policy.get("topology"):
        return
    topo, s = policy["topology"], str(slice_)
    aff = pod_spec.setdefault("affinity", {})
    pa = aff.setdefault("podAffinity", {}).setdefault("requiredDuringSchedulingIgnoredDuringExecution", [])
    paa = aff.setdefault("podAntiAffinity", {}).setdefault("requiredDuringSchedulingIgnoredDuringExecution", [])

    def expr(key: str, op: str, *values: str) -> dict:
        return {"key": key, "operator": op, **({"values": list(values)} if values else {})}
    pa.append({"labelSelector": {"matchExpressions": [expr(_k.DS_NAME_LABEL, "In", ds),
                                                      expr(_k.DS_SLICE_LABEL, "In", s)]}, "topologyKey": topo})
    spread = [expr(_k.DS_NAME_LABEL, "In", ds)]
    if slice_ == 0:
        spread.append(expr(_k.DS_SLICE_LABEL, "Exists"))
    spread.append(expr(_k.DS_SLICE_LABEL, "NotIn", s))
    paa.append({"labelSelector": {"matchExpressions": spread}, "topologyKey": topo})
    if policy["type"] == "ExclusiveTopology":
        paa.append({"labelSelector": {"matchExpressions": [
            expr(_k.DS_NAME_LABEL, "Exists"), expr(_k.DS_NAME_LABEL, "NotIn", ds),
            expr(_k.DS_SLICE_LABEL, "Exists")]}, "topologyKey": topo})


# --------------------------------------------------------------------------------------------- planner
@dataclass(frozen=True)
class Budget:
    """One role's rolling-update limits, resolved against its target replicas."""
    max_surge: int = 1
    max_unavailable: int = 0


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def total_steps(source: list[int], target: list[int], budgets: list[Budget]) -> int:
    """Steps of the slowest role: ceil(max(source, target) / batch), batch = maxSurge or else maxUnavailable."""
    steps = 0
    for src, tgt, b in zip(source, target, budgets):
        batch = b.max_surge if b.max_surge > 0 else max(1, b.max_unavailable)
        steps = max(steps, _ceil_div(max(src, tgt, 0), batch))
    return steps


def _next_new(target: list[int], cur: list[int], steps: int) -> list[int]:
    """New side one step past its least advanced role: ceil(step * target / steps), never below current."""
    at = min((c * steps // t if t else steps) for c, t in zip(cur, target)) if target else steps
    nxt = at + 1
    return [max(min(_ceil_div(nxt * t, steps), t), c) for t, c in zip(target, cur)]


def _next_old(source: list[int], cur: list[int], steps: int) -> list[int]:
    """Old side one step past its most advanced role: source - floor(step * source / steps)."""
    at = max([(s - c) * steps // s for s, c in zip(source, cur) if s] or [0])
    nxt = at + 1
    return [min(max(0, s - nxt * s // steps), c) for s, c in zip(source, cur)]


def _orphan_guard(old: list[int], new: list[int], source: list[int], target: list[int],
                  budgets: list[Budget]) -> None:
    """If some roles of the old revision would reach 0 and others not, either all go to 0 together (when the
    new revision already covers availability) or none does (they hold at 1)."""
    live = [i for i, s in enumerate(source) if s]
    zero = [i for i in live if old[i] == 0]
    if not zero or len(zero) == len(live):
        return
    covered = all(new[i] >= target[i] - b.max_unavailable for i, b in enumerate(budgets) if source[i] >= target[i])
    for i in live:
        old[i] = 0 if covered else max(old[i], 1)


def plan_step(source: list[int], cur_old: list[int], cur_new: list[int], target: list[int],
              budgets: list[Budget]) -> tuple[list[int], list[int]] | None:
    """The next (old, new) replicas per role, or None when the rollout is complete.

    One step changes the old revision or the new one: scale the new side up one step while every role keeps
    old + new <= target + maxSurge; else drain the old side proportionally, keeping old + new >= target -
    maxUnavailable; else force the drain the new side's next step needs (then both may move)."""
    n = len(source)
    if all(cur_old[i] == 0 and cur_new[i] >= target[i] for i in range(n)):
        return None
    steps = total_steps(source, target, budgets)
    if steps == 0:
        return None
    if any(cur_old[i] > source[i] for i in range(n)):  # someone scaled an old LWS up: back to its baseline
        return [min(source[i], cur_old[i]) for i in range(n)], list(cur_new)
    if all(cur_new[i] >= target[i] for i in range(n)):
        return [0] * n, list(cur_new)
    nxt_new = _next_new(target, cur_new, steps)
    if nxt_new != cur_new and all(not target[i] or cur_old[i] + nxt_new[i] <= target[i] + budgets[i].max_surge
                                  for i in range(n)):
        return list(cur_old), nxt_new
    floor = [max(0, target[i] - budgets[i].max_unavailable - cur_new[i]) if source[i] >= target[i] else 0
             for i in range(n)]
    nxt_old = [max(o, f) for o, f in zip(_next_old(source, cur_old, steps), floor)]
    _orphan_guard(nxt_old, cur_new, source, target, budgets)
    if any(nxt_old[i] < cur_old[i] for i in range(n)):
        return nxt_old, list(cur_new)
    forced = []
    for i in range(n):
        keep = max(0, min(cur_old[i], target[i] + budgets[i].max_surge - nxt_new[i]))
        if source[i] >= target[i]:
            keep = max(keep, target[i] - budgets[i].max_unavailable - nxt_new[i])
        forced.append(keep)
    if not any(forced[i] < cur_old[i] for i in range(n)):
        return None
    _orphan_guard(forced, nxt_new, source, target, budgets)
    return forced, nxt_new


def drain_plan(revisions: list[dict[str, tuple[str, int]]], roles: list[str], current: list[int],
               target: list[int]) -> list[tuple[str, str, int, int]]:
    """Spread each role's drain (current - target) over the old revisions, newest first, as
    (lws name, role, from, to). When a revision's role would reach 0, all its roles go to 0 in that step."""
    budget = [c - t for c, t in zip(current, target)]
    out: list[tuple[str, str, int, int]] = []
    for rev in revisions:  # role -> (lws name, spec replicas)
        if all(b <= 0 for b in budget):
            break
        planned: dict[str, int] = {}
        left: dict[str, int] = {}
        for i, role in enumerate(roles):
            if role in rev:
                planned[role] = min(budget[i], rev[role][1])
                left[role] = rev[role][1] - planned[role]
        triggered = {role for role, v in left.items() if v == 0}
        if triggered:
            left = {role: 0 for role in left}
        for i, role in enumerate(roles):
            if role not in rev or rev[role][1] <= left[role]:
                continue
            out.append((rev[role][0], role, rev[role][1], left[role]))
            if role in triggered or not triggered:
                budget[i] -= planned[role]
    return out


__all__ = ["revision", "go_encode", "child_name", "child_labels", "service_labels", "placement_affinity",
           "Budget", "plan_step", "total_steps", "drain_plan"]
