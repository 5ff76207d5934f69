"""Small hand-made nodes, LWS and pods for the placement map's tests (model, renderers, browser)."""

from __future__ import annotations


def node(name: str, gpus: int = 8, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
            "spec": {}, "status": {"allocatable": {"nvidia.com/gpu": str(gpus)},
                                   "conditions": [{"type": "Ready", "status": "True"}]}}


def lws(name: str, replicas: int, size: int, ns: str = "ns", **annotations: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "annotations": annotations},
            "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": size}}, "status": {}}


def pod(lws_name: str, group: int, worker: int, node_name: str | None, gpus: int = 0, ns: str = "ns",
        *, limit_only: bool = False) -> dict:
    name = f"{lws_name}-{group}" + (f"-{worker}" if worker else "")
    res = {"limits": {"nvidia.com/gpu": str(gpus)}} if limit_only else {"requests": {"nvidia.com/gpu": str(gpus)}}
    return {"metadata": {"name": name, "namespace": ns, "uid": f"u-{name}",
                         "labels": {"leaderworkerset.sigs.k8s.io/name": lws_name,
                                    "leaderworkerset.sigs.k8s.io/group-index": str(group),
                                    "leaderworkerset.sigs.k8s.io/worker-index": str(worker)}},
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "resources": res}]},
            "status": {"phase": "Running" if node_name else "Pending",
                       "conditions": [{"type": "Ready", "status": "True" if node_name else "False"}]}}
