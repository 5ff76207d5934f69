"""Scenarios: nodes, namespaces, objects and faults for a sandbox, from YAML or generated.

Format::

    nodes:      [{name, labels: {...}, capacity: {cpu, memory, nvidia.com/gpu, pods}, ready: true}, ...]
                (a full Node object with ``metadata`` is taken as is)
    namespaces: [demo, ...]
    addons:     [kueue, kueue-visibility, volcano]   # APIs + controllers of admission/gang layers
    kueue:      {waitForPodsReady: {timeout: 30s, backoffLimitCount: 1, backoffBaseSeconds: 5}}
    objects:    [<any manifest: LeaderWorkerSet, HorizontalPodAutoscaler, ...>, {settle: true}, ...]
                ({settle: true} waits for the sandbox to settle before creating the next objects)
    updates:    [{kind: LeaderWorkerSet, namespace, name, patch: {<merge patch>}}]  # after the first settle
    dsStatus:   empty | written   # DisaggregatedSet .status as LWS v0.10.0 (never written) or LWS main
    faults:     [{name: crash, pod: demo/x-1-2, loop: true}, ...]   # applied once the sandbox settles again

``load`` runs on the sandbox loop thread (``Sandbox.load_scenario`` marshals it there) and never blocks:
faults are applied by a task that waits for the settle checks.
"""
from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import yaml

from . import webhooks
from .resources import RESOURCES
from .store import now_iso

SCENARIO_DIR = Path(__file__).parent / "scenarios"


def node_object(spec: dict) -> dict:
    """A kwok-like Node from the short scenario form (or a full Node object, defaulted)."""
    if "metadata" in spec:
        node = copy.deepcopy(spec)
        node.setdefault("apiVersion", "v1")
        node.setdefault("kind", "Node")
        st = node.setdefault("status", {})
        if "capacity" in st and "allocatable" not in st:
            st["allocatable"] = dict(st["capacity"])
        if not any(c.get("type") == "Ready" for c in st.get("conditions") or []):
            st.setdefault("conditions", []).append(_ready_condition(True))
        st.setdefault("addresses", [{"type": "InternalIP", "address": "127.0.0.1"}])
        return node
    name = spec["name"]
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "sandbox"}
    labels.update({k: str(v) for k, v in (spec.get("labels") or {}).items()})
    cap = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    cap.update({k: str(v) for k, v in (spec.get("capacity") or {}).items()})
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"unschedulable": True} if spec.get("unschedulable") else {},
            "status": {"capacity": cap, "allocatable": dict(cap), "phase": "Running",
                       "conditions": [_ready_condition(spec.get("ready", True) is not False)],
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                     {"type": "Hostname", "address": name}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                    "kubeletVersion": "v1.36.2-sandbox", "containerRuntimeVersion": "sandbox://0.1",
                                    "kernelVersion": "", "osImage": "", "machineID": "", "systemUUID": "",
                                    "bootID": "", "kubeProxyVersion": ""}}}


def _ready_condition(ready: bool) -> dict:
    t = now_iso()
    if ready:
        return {"type": "Ready", "status": "True", "lastHeartbeatTime": t, "lastTransitionTime": t,
                "reason": "KubeletReady", "message": "kubelet is posting ready status"}
    return {"type": "Ready", "status": "False", "lastHeartbeatTime": t, "lastTransitionTime": t,
            "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}


def resource_for(obj: dict) -> str:
    """Store key for a manifest's apiVersion/kind (without an apiVersion: the first resource of that kind)."""
    api = obj.get("apiVersion")
    group = (api.split("/")[0] if "/" in api else "") if api else None
    for key, rt in RESOURCES.items():
        if rt.kind == obj.get("kind") and group in (None, rt.group):
            return key
    raise ValueError(f"unsupported kind {obj.get('kind')} ({api or 'any apiVersion'})")


def _ensure_namespace(store: Any, name: str, labels: dict | None = None) -> None:
    if store.get("namespaces", None, name) is None:
        store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": name, "labels": {**(labels or {}),
                                                                          "kubernetes.io/metadata.name": name}},
                                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})


def load(sandbox: Any, data: dict) -> None:
    """Create the scenario's nodes, namespaces and objects; schedule its faults for after settling."""
    store = sandbox.store
    if data.get("dsStatus"):  # how the DisaggregatedSet controller treats .status: empty (v0.10.0) or written
        sandbox.faults["ds-status"](mode=data["dsStatus"])
    for n in data.get("nodes") or []:
        node = node_object(n)
        if store.get("nodes", None, node["metadata"]["name"]) is None:
            store.create("nodes", node)
    if data.get("addons"):
        sandbox.install_addons(data["addons"], {k: data[k] for k in ("kueue", "volcano") if k in data})
    for ns in data.get("namespaces") or []:
        if isinstance(ns, dict):  # {name, labels}: a managed namespace (Kueue's namespaceSelector)
            _ensure_namespace(store, ns["name"], ns.get("labels"))
        else:
            _ensure_namespace(store, ns)
    objects = list(data.get("objects") or [])
    cut = next((i for i, o in enumerate(objects) if isinstance(o, dict) and o.get("settle")), len(objects))
    _create_objects(sandbox, objects[:cut])
    later = objects[cut + 1:]
    faults = list(data.get("faults") or [])
    updates = list(data.get("updates") or [])
    if faults or updates or later:
        sandbox.scenario_pending = True
        if not getattr(sandbox, "_scenario_check", None):
            # wait_settled() must also wait for the post-settle objects, updates and faults
            sandbox._scenario_check = lambda: not getattr(sandbox, "scenario_pending", False)
            sandbox.settle_checks.append(sandbox._scenario_check)
        asyncio.ensure_future(_after_settle(sandbox, later, updates, faults,
                                            float(data.get("settle_timeout", 60))))


def _create_objects(sandbox: Any, objects: list[dict]) -> None:
    store = sandbox.store
    for obj in objects:
        obj = copy.deepcopy(obj)
        resource = resource_for(obj)
        if RESOURCES[resource].namespaced:
            obj.setdefault("metadata", {}).setdefault("namespace", "default")
            _ensure_namespace(store, obj["metadata"]["namespace"])
        obj = webhooks.admit(sandbox, "CREATE", resource, obj, None)
        store.create(resource, obj)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


async def _settle(sandbox: Any, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    streak = 0
    while loop.time() < deadline and streak < 2:
        own = getattr(sandbox, "_scenario_check", None)
        streak = streak + 1 if all(c() for c in list(sandbox.settle_checks) if c is not own) else 0
        await asyncio.sleep(0.05)


async def _after_settle(sandbox: Any, objects: list[dict], updates: list[dict], faults: list[dict],
                       timeout: float) -> None:
    try:
        await _settle(sandbox, timeout)
        while objects:
            cut = next((i for i, o in enumerate(objects) if isinstance(o, dict) and o.get("settle")), len(objects))
            _create_objects(sandbox, objects[:cut])
            objects = objects[cut + 1:]
            await asyncio.sleep(0.05)
            await _settle(sandbox, timeout)
        store = sandbox.store
        for u in updates:
            resource = resource_for({**({"apiVersion": u["apiVersion"]} if u.get("apiVersion") else {}),
                                     "kind": u.get("kind", "LeaderWorkerSet")})
            old = store.get(resource, u.get("namespace", "default"), u["name"])
            if old is None:
                print(f"sandbox scenario: update target {u['name']} not found")
                continue
            new = merge_patch(old, u.get("patch") or {})
            new = webhooks.admit(sandbox, "UPDATE", resource, new, old)
            store.update(resource, new)
        if updates and faults:
            await asyncio.sleep(0.05)
            await _settle(sandbox, timeout)
        await _apply_faults(sandbox, faults)
    finally:
        sandbox.scenario_pending = False


async def _apply_faults(sandbox: Any, faults: list[dict]) -> None:
    for f in faults:
        params = dict(f)
        name = params.pop("name", None) or params.pop("fault")
        try:
            res = sandbox.faults[name](**params)
            if asyncio.iscoroutine(res):
                await res
        except Exception as e:  # noqa: BLE001 - a bad fault must not kill the sandbox
            print(f"sandbox scenario: fault {name} {params} failed: {e}")


def load_named(sandbox: Any, name_or_path: str) -> None:
    """Load ``scenarios/<name>.yaml`` or a YAML file path (from the loop thread)."""
    p = Path(name_or_path)
    if not p.exists():
        p = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not p.exists():
        raise FileNotFoundError(f"no scenario named or at {name_or_path!r}")
    load(sandbox, yaml.safe_load(p.read_text()))


def big(groups: int = 512, size: int = 8, namespace: str = "bench", name: str = "big") -> dict:
    """A benchmark scenario: one LWS of ``groups`` x ``size`` pods on enough 8-GPU nodes (1 GPU per pod)."""
    pods = groups * size
    per_node = 110
    n_nodes = max(8, -(-pods // 100))
    nodes = [{"name": f"node-{i:03d}", "labels": {"topology.kubernetes.io/zone": f"z{i % 4}",
                                                  "example.com/rack": f"rack-{i // 8}",
                                                  "cloud.google.com/gke-nodepool": "pool-bench"},
              "capacity": {"cpu": "256", "memory": "2Ti", "nvidia.com/gpu": str(per_node), "pods": str(per_node)}}
             for i in range(n_nodes)]
    container = {"name": "main", "image": "registry.k8s.io/pause:3.10",
                 "resources": {"requests": {"cpu": "10m", "nvidia.com/gpu": "1"},
                               "limits": {"nvidia.com/gpu": "1"}}}
    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"replicas": groups, "leaderWorkerTemplate": {
               "size": size, "workerTemplate": {"spec": {"containers": [container]}}}}}
    return {"nodes": nodes, "namespaces": [namespace], "objects": [lws]}


__all__ = ["load", "load_named", "big", "node_object", "resource_for"]
