"""Simulated serving stacks (vLLM on Ray) for ``verify runtime --live``: a stand-in ``ray`` on the
container's PATH and a stand-in OpenAI-compatible server in the leader's network namespace.

The sandbox runs no container processes, so what a real ``ray status`` or ``GET /v1/models`` would
answer comes from the pods and one scenario knob, annotation ``sandbox.kubectl-lws.dev/stack`` on the
pod template (JSON)::

    {"ray": true,                  # the pods run Ray: the leader is the head, workers join it
     "neverJoin": true | [2, 3],   # (worker template) these workers (all when true) never join
     "rayList": false,             # `ray list nodes` unavailable (no ray[default]): only `ray status` works
     "hang": ["ray", "serve"],     # that program accepts the call and never answers (timeouts)
     "serve": {"port": 8080, "model": "meta-llama/...", "health": 200 | 503, "down": true}}

A worker also stays out of the Ray cluster while it is not Running or its network is cut (the
``cut-network`` fault, or ``cut-pair`` with its leader). The stand-ins print what the real programs print
(formats and sources: tests/verify/data/README.md). The server starts on the first exec into the
leader (so thousands of idle pods cost nothing) and ends with the pod or the sandbox.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from typing import Any

STACK_ANNOTATION = "sandbox.kubectl-lws.dev/stack"
STANDINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standins")
_NAME = "leaderworkerset.sigs.k8s.io/name"
_GROUP = "leaderworkerset.sigs.k8s.io/group-index"
_WORKER = "leaderworkerset.sigs.k8s.io/worker-index"


def stack_spec(pod: dict) -> dict | None:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(STACK_ANNOTATION)
    if not raw:
        return None
    try:
        spec = json.loads(raw)
    except ValueError:
        return None
    return spec if isinstance(spec, dict) else None


def _quantity(value: Any) -> float:
    text = str(value).strip()
    units = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}
    for unit, mult in units.items():
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * mult
            except ValueError:
                return 0.0
    try:
        return float(text)
    except ValueError:
        return 0.0


def _resources(pod: dict) -> dict[str, float]:
    """What Ray would detect on the pod: GPUs/TPUs from the accelerator requests, CPU, memory."""
    out = {"CPU": 0.0, "GPU": 0.0, "TPU": 0.0, "memory": 0.0}
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        merged = {**(res.get("requests") or {}), **(res.get("limits") or {})}
        for name, value in merged.items():
            if name.endswith("/gpu"):
                out["GPU"] += _quantity(value)
            elif name == "google.com/tpu":
                out["TPU"] += _quantity(value)
            elif name == "cpu":
                out["CPU"] += _quantity(value)
            elif name == "memory":
                out["memory"] += _quantity(value)
    out["CPU"] = out["CPU"] or 1.0
    out["memory"] = out["memory"] or 8 * 2 ** 30
    return {k: v for k, v in out.items() if v or k in ("CPU", "memory")}


class Stack:
    """Per-sandbox state: stand-in bin dirs, Ray state files, running stand-in servers."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.dir = os.path.join(runtime._scratch, "stack")
        self._servers: dict[str, asyncio.subprocess.Process] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- the Ray cluster a leader sees ----------------------------------------------------------------
    def _group_pods(self, pod: dict) -> list[dict]:
        meta = pod.get("metadata") or {}
        lab = meta.get("labels") or {}
        out = [p for p in self.rt.sandbox.store.list("pods", meta.get("namespace"))
               if (p.get("metadata") or {}).get("labels", {}).get(_NAME) == lab.get(_NAME)
               and (p.get("metadata") or {}).get("labels", {}).get(_GROUP) == lab.get(_GROUP)
               and not (p.get("metadata") or {}).get("deletionTimestamp")]
        return sorted(out, key=lambda p: int((p.get("metadata") or {}).get("labels", {}).get(_WORKER, "0") or 0))

    def _joined(self, pod: dict, leader: dict) -> bool:
        spec = stack_spec(pod) or {}
        if not spec.get("ray"):
            return False
        wi = int(((pod.get("metadata") or {}).get("labels") or {}).get(_WORKER, "0") or 0)
        never = spec.get("neverJoin")
        if wi and (never is True or (isinstance(never, list) and wi in never)):
            return False
        if (pod.get("status") or {}).get("phase") != "Running":
            return False
        cuts = getattr(self.rt.network, "_cuts", set())
        uid, luid = (pod.get("metadata") or {}).get("uid"), (leader.get("metadata") or {}).get("uid")
        if wi and ((uid,) in cuts or (luid,) in cuts or tuple(sorted((uid, luid))) in cuts):
            return False
        return True

    def ray_state(self, pod: dict) -> dict:
        """What ``ray`` in this pod reports: the group's nodes (its leader's Ray cluster)."""
        spec = stack_spec(pod) or {}
        pods = self._group_pods(pod)
        leader = next((p for p in pods if (p.get("metadata") or {}).get("labels", {}).get(_WORKER) == "0"), None)
        nodes = []
        head_up = leader is not None and self._joined(leader, leader)
        serving = False
        if head_up:
            lspec = stack_spec(leader) or {}
            serve = lspec.get("serve") or {}
            serving = bool(serve) and not serve.get("down")
            for p in pods:
                if not self._joined(p, leader):
                    continue
                ip = self.rt.network.ip_of(p) or (p.get("status") or {}).get("podIP") or ""
                uid = (p.get("metadata") or {}).get("uid", "")
                node_id = hashlib.sha256(uid.encode()).hexdigest()[:56]
                head = p is leader
                res = _resources(p)
                res[f"node:{ip}"] = 1.0
                if head:
                    res["node:__internal_head__"] = 1.0
                res["object_store_memory"] = round(res["memory"] * 0.3)
                nodes.append({"node_id": node_id, "node_ip": ip, "is_head_node": head, "state": "ALIVE",
                              "state_message": None, "node_name": ip, "resources_total": res,
                              "labels": {"ray.io/node_id": node_id}})
        return {"head": head_up, "nodes": nodes, "list": spec.get("rayList", True) is not False,
                "hang": "ray" in (spec.get("hang") or []), "placed": serving}

    # -- exec hook ------------------------------------------------------------------------------------
    async def prepare(self, pod: dict, container: str, env: dict[str, str], prefix: list[str]) -> dict[str, str]:
        """Before an exec: put the stand-ins on PATH (with a fresh Ray view) and start the leader's server."""
        spec = stack_spec(pod)
        if spec is None:
            return env
        meta = pod.get("metadata") or {}
        uid = meta.get("uid") or meta.get("name", "pod")
        pod_dir = os.path.join(self.dir, uid)
        bin_dir = os.path.join(pod_dir, "bin")
        os.makedirs(bin_dir, exist_ok=True)
        state_file = os.path.join(pod_dir, "ray.json")
        if spec.get("ray"):
            tmp = state_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.ray_state(pod), f)
            os.replace(tmp, state_file)
            ray = os.path.join(bin_dir, "ray")
            if not os.path.exists(ray):
                with open(ray + ".tmp", "w") as f:
                    f.write(f"#!/bin/sh\nexec {sys.executable} -I -S {os.path.join(STANDINS, 'ray.py')} "
                            f"{state_file} \"$@\"\n")
                os.chmod(ray + ".tmp", 0o755)
                os.replace(ray + ".tmp", ray)
        env = {**env, "PATH": f"{bin_dir}:{env.get('PATH', '')}"}
        from .serving import serve_spec, started_at  # noqa: PLC0415 (serving imports this module)

        serve = serve_spec(pod)  # with the pod's group overrides
        is_leader = (meta.get("labels") or {}).get(_WORKER, "0") == "0"
        loading = time.time() - started_at(pod) < float((serve or {}).get("readyAfter", 0) or 0)
        # only inside the pod's own network namespace: in the host's, all leaders would share one port
        if serve and is_leader and not serve.get("down") and not loading and prefix:
            await self._ensure_server(uid, serve, "serve" in (spec.get("hang") or []), prefix)
        return env

    async def _ensure_server(self, uid: str, serve: dict, hang: bool, prefix: list[str]) -> None:
        lock = self._locks.setdefault(uid, asyncio.Lock())
        async with lock:
            proc = self._servers.get(uid)
            if proc is not None and proc.returncode is None:
                return
            argv = [*prefix, sys.executable, "-I", "-S", os.path.join(STANDINS, "server.py"),
                    "--port", str(int(serve.get("port", 8000))), "--model", str(serve.get("model", "model")),
                    "--health", str(int(serve.get("health", 200))), *(["--hang"] if hang else [])]
            proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
            self._servers[uid] = proc
            self.rt._procs.add(proc)
            self.rt._sessions.setdefault(uid, set()).add(proc.pid)  # ends with the pod, as its main process would
            try:
                await asyncio.wait_for(proc.stdout.readline(), 10)  # "ready" once it listens
            except asyncio.TimeoutError:
                pass
