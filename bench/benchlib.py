"""Shared pieces of the benchmarks: real-size objects, a measured child process, peak RSS.

Real-size pods come from the golden pod of a 512 x 8 LWS on a real API server
(``tests/data/golden/objects/pod-big-17-3-real-4096-pod-lws.json``, 7.3 KB as served, 3.2 KB of it
``managedFields``): each copy gets its own name, uid, labels, IPs and node so that nothing is
shared between pods and bodies are the size a real cluster serves.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")

# Measure what an installed plugin costs: pip writes bytecode at install, so compile ours once
# here (an environment with PYTHONDONTWRITEBYTECODE would otherwise recompile every module on
# every run and charge that to us).
import compileall  # noqa: E402

compileall.compile_dir(str(ROOT / "kubectl_lws"), quiet=1)
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
P = "leaderworkerset.sigs.k8s.io/"


def golden_dir() -> Path:
    """The recordings the tests use too (``tests/data/golden``, copies of ``shared/golden``)."""
    return ROOT / "tests" / "data" / "golden"


def _load(name: str) -> dict:
    return json.loads((golden_dir() / "objects" / name).read_text())


GOLDEN_POD = None
GOLDEN_LWS = None


def real_lws(name: str, ns: str, replicas: int, size: int) -> dict:
    """The golden 512 x 8 LWS renamed and resized (no status: the store keeps what we give it)."""
    global GOLDEN_LWS
    if GOLDEN_LWS is None:
        GOLDEN_LWS = _load("lws-big-512x8.json")
    obj = copy.deepcopy(GOLDEN_LWS)
    meta = obj["metadata"]
    for k in ("uid", "resourceVersion", "generation", "managedFields"):
        meta.pop(k, None)
    meta["name"], meta["namespace"] = name, ns
    obj["spec"]["replicas"] = replicas
    obj["spec"]["leaderWorkerTemplate"]["size"] = size
    st = obj.setdefault("status", {})
    st.update({"replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas,
               "hpaPodSelector": f"{P}name={name},{P}worker-index=0"})
    # Available since now, like its pods (the store stamps them now): settled a moment ago, so `list`
    # judges it from its pods; the sandbox's `age` fault makes it older
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for cond in st.get("conditions") or []:
        cond["lastTransitionTime"] = now
    return obj


def real_pod(lws: str, ns: str, group: int, worker: int, size: int, *, nodes: int = 64,
             rev: str = "6b68c77bfc") -> dict:
    """A 7.3 KB pod as a real API server serves it, varied: names, uids, IPs, node, labels."""
    global GOLDEN_POD
    if GOLDEN_POD is None:
        GOLDEN_POD = _load("pod-big-17-3-real-4096-pod-lws.json")
    text = json.dumps(GOLDEN_POD)
    sts = f"{lws}-{group}" if worker else lws
    name = f"{lws}-{group}-{worker}" if worker else f"{lws}-{group}"
    # Rename every occurrence (env, hostname, labels, managedFields keys) through placeholders, so that a
    # new name that itself starts with "big-17" (group 172 of "big") is not renamed again.
    text = text.replace("big-17-3", "@@POD@@").replace("big-17", "@@GROUP@@").replace('"big"', f'"{lws}"')
    text = text.replace("@@POD@@", name).replace("@@GROUP@@", f"{lws}-{group}")
    pod = json.loads(text)
    meta = pod["metadata"]
    meta["namespace"] = ns
    meta["uid"] = str(uuid.uuid4())
    meta.pop("resourceVersion", None)
    meta["generateName"] = f"{sts}-"
    labels = meta["labels"]
    labels[P + "group-index"] = str(group)
    labels[P + "worker-index"] = str(worker)
    labels[P + "name"] = lws
    labels[P + "template-revision-hash"] = rev
    labels[P + "group-key"] = uuid.uuid5(uuid.NAMESPACE_DNS, f"{ns}/{lws}/{group}").hex + "00000000"
    labels["apps.kubernetes.io/pod-index"] = str(worker)
    labels["statefulset.kubernetes.io/pod-name"] = name
    meta["annotations"][P + "size"] = str(size)
    meta["annotations"][P + "leader-name"] = f"{lws}-{group}"
    meta["ownerReferences"][0]["name"] = sts
    meta["ownerReferences"][0]["uid"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{ns}/{sts}"))
    spec = pod["spec"]
    spec["hostname"] = name
    spec["nodeName"] = f"node-{(group * size + worker) // 8 % nodes:03d}"
    st = pod["status"]
    n = group * size + worker
    ip = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    st["podIP"] = ip
    st["podIPs"] = [{"ip": ip}]
    st["hostIP"] = f"10.200.{(n // 8) // 256 % 256}.{(n // 8) % 256}"
    st["hostIPs"] = [{"ip": st["hostIP"]}]
    return pod


def node(i: int) -> dict:
    name = f"node-{i:03d}"
    t0 = "2026-11-22T10:26:07Z"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "topology.kubernetes.io/zone": f"z{i % 4}",
                                                  "example.com/rack": f"rack-{i // 8}",
                                                  "node.kubernetes.io/instance-type": "a3-highgpu-8g"}},
            "spec": {},
            "status": {"capacity": {"cpu": "208", "memory": "1872Gi", "nvidia.com/gpu": "8", "pods": "110"},
                       "allocatable": {"cpu": "208", "memory": "1872Gi", "nvidia.com/gpu": "8", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "lastHeartbeatTime": t0, "lastTransitionTime": t0}],
                       "addresses": [{"type": "InternalIP", "address": f"10.1.{i // 256}.{i % 256}"}]}}


def populate(sb, ns: str, name: str, replicas: int, size: int, *, nodes: int = 0) -> None:
    """Write one LWS and its pods (and nodes) straight into the sandbox's store (no controllers)."""
    sb.ensure_namespace(ns)
    if nodes:
        sb.call(lambda: [sb.store.create("nodes", node(i)) for i in range(nodes)
                         if sb.store.get("nodes", None, f"node-{i:03d}") is None], timeout=120)
    sb.call(lambda: sb.store.create("leaderworkersets.leaderworkerset.x-k8s.io", real_lws(name, ns, replicas, size)),
            timeout=60)
    pods = [real_pod(name, ns, g, w, size, nodes=max(nodes, 1)) for g in range(replicas) for w in range(size)]
    for start in range(0, len(pods), 512):
        chunk = pods[start:start + 512]
        sb.call(lambda c=chunk: [sb.store.create("pods", p) for p in c], timeout=300)


def rss_kb(pid: int) -> int:
    """Resident memory of a process now, in KB (0 when it is gone)."""
    return _status_kb(pid, "VmRSS")


def recreate_group(sb, ns: str, name: str, group: int, size: int, churn: int) -> None:
    """Re-create one group as the controller would: its pods deleted and created again as a new incarnation
    (new uids, IPs, nodes, start time; ``churn`` counts the churns so each one differs)."""
    fresh = [real_pod(name, ns, group, w, size) for w in range(size)]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for w, pod in enumerate(fresh):
        pod["metadata"]["creationTimestamp"] = stamp
        pod["status"]["podIP"] = f"10.250.{churn % 250}.{w + 1}"
        pod["spec"]["nodeName"] = f"node-{(group + churn + 1) % 64:03d}"

    def churn_now() -> None:
        for w in range(size):
            sb.store.remove("pods", ns, f"{name}-{group}-{w}" if w else f"{name}-{group}")
        for pod in fresh:
            sb.store.create("pods", pod)

    sb.call(churn_now, timeout=30)


def _hwm_kb(pid: int) -> int:
    return _status_kb(pid, "VmHWM")


def _status_kb(pid: int, field: str) -> int:
    """A memory figure of /proc/PID/status (VmRSS now, VmHWM the peak), in KB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(argv: Sequence[str], *, env: dict | None = None) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in KB (VmHWM sampled every 5 ms) and exit code of one child.

    Not wait4's ru_maxrss: after fork+exec it starts at the parent's RSS, and the parent here holds
    the whole sandbox.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    peak = 0
    while True:
        try:
            proc.wait(timeout=0.005)
            break
        except subprocess.TimeoutExpired:
            peak = max(peak, _hwm_kb(proc.pid))
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 3):
        print(f"command failed ({proc.returncode}): {' '.join(argv)}\n{err}", file=sys.stderr)
    return wall, peak, proc.returncode


def measure_pair(ours: Sequence[str], theirs: Sequence[str], runs: int) -> tuple[float, int, float, int]:
    """Median wall and max peak RSS of ours and theirs, interleaved so both see the same load."""
    a: list[tuple[float, int, int]] = []
    b: list[tuple[float, int, int]] = []
    run(ours), run(theirs)  # warm caches for both
    for _ in range(runs):
        a.append(run(ours))
        b.append(run(theirs))
    return (statistics.median(s[0] for s in a), max(s[1] for s in a),
            statistics.median(s[0] for s in b), max(s[1] for s in b))


def lws_cmd(kubeconfig: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "kubectl_lws", "--kubeconfig", kubeconfig, *args]


def verdict(rows: list[tuple[str, bool]]) -> int:
    missed = [name for name, ok in rows if not ok]
    print("overall: " + ("OK" if not missed else "MISSED: " + ", ".join(missed)))
    return 0 if not missed else 1


def machine() -> str:
    import platform

    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores {cpu}, Python {platform.python_version()}"


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
