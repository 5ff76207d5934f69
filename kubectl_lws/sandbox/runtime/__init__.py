"""The sandbox's container runtime: pod logs, exec over WebSocket, pod networking and network faults.

Knobs a scenario can set on a pod (template) — see logs.py / exec.py for details:

* ``sandbox.kubectl-lws.dev/logs``: JSON log generator (rate, startup/lines/crash templates, per-container
  overrides); ``logs_annotation(rate=500)`` builds it for benchmarks that need fast writers.
* ``sandbox.kubectl-lws.dev/binaries``: ``"sh,bash"`` (or ``{"<container>": "..."}``): the only programs
  the container's "image" has; default is the host's standard PATH.
* ``sandbox.kubectl-lws.dev/stack``: a simulated serving stack (stand-in ``ray`` and server, stack.py).

``install(sandbox)`` sets ``sandbox.runtime`` (a :class:`Runtime`: the API server hands pods/log and
pods/exec requests to ``handle_log`` / ``handle_exec`` after auth and 404/400 checks) and
``sandbox.network`` (a :class:`~kubectl_lws.sandbox.runtime.netns.Network`: the kubelet emulation calls
``attach(pod) -> ip`` when a pod starts and ``detach(pod)`` when it is removed), and registers the
``cut-network`` and ``cut-pair`` faults. Everything is undone by ``sandbox.stop()``.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal
import tempfile
import time
from typing import Any

from aiohttp import web

from .exec import allowed_binaries, build_bin_dir, container_env, DEFAULT_PATH, serve_exec
from .logs import (LOGS_ANNOTATION, Instance, LogError, LogQuery, format_line, initial_range, logs_annotation,
                   parse_time, select_instance, _from_terminated, log_spec)
from .netns import Network

__all__ = ["install", "Runtime", "Network", "LOGS_ANNOTATION", "logs_annotation"]

_CHUNK = 64 * 1024


def _status_response(code: int, reason: str | None, message: str) -> web.Response:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message}
    if reason:
        body["reason"] = reason
    body["code"] = code
    return web.Response(status=code, body=json.dumps(body, separators=(",", ":")).encode(),
                        content_type="application/json")


def _bool(v: str | None) -> bool:
    return (v or "").lower() in ("true", "1")


class Runtime:
    """Per-sandbox runtime state: follow waiters, running exec processes, scratch dirs."""

    def __init__(self, sandbox: Any, network: Network, *, exec_timeout: float = 300.0):
        self.sandbox = sandbox
        self.network = network
        self.exec_timeout = exec_timeout
        self.follow_min_interval = 0.05  # batch lines of fast writers instead of waking per line
        self._waiters: dict[tuple[str, str], set[asyncio.Event]] = {}
        self._procs: set[asyncio.subprocess.Process] = set()
        # pod uid -> session ids of its execs: what they leave running in the background dies with the pod
        self._sessions: dict[str, set[int]] = {}
        self._scratch = tempfile.mkdtemp(prefix="kls-runtime-")
        self._unsubscribe = None
        from .stack import Stack
        self.stack: Stack | None = Stack(self)
        store = getattr(sandbox, "store", None)
        if store is not None and hasattr(store, "subscribe"):
            self._unsubscribe = store.subscribe(self._on_event)

    # -- store events ---------------------------------------------------------------------------------
    def _on_event(self, event_type: str, resource: str, obj: dict, old: dict | None) -> None:
        if resource != "pods":
            return
        meta = obj.get("metadata") or {}
        if event_type == "DELETED" and meta.get("uid") in self._sessions:
            kill_sessions(self._sessions.pop(meta["uid"]))  # a real pod's processes end with it
        if not self._waiters:
            return
        for ev in self._waiters.get((meta.get("namespace", ""), meta.get("name", "")), ()):
            ev.set()

    def _current_pod(self, pod: dict) -> dict | None:
        meta = pod.get("metadata") or {}
        cur = self.sandbox.store.get("pods", meta.get("namespace"), meta.get("name"))
        if cur is None or (cur.get("metadata") or {}).get("uid") != meta.get("uid"):
            return None
        return cur

    # -- pods/log -------------------------------------------------------------------------------------
    async def handle_log(self, request: web.Request, pod: dict, container: str) -> web.StreamResponse:
        """Serve pods/log: 200 text/plain chunked, or a kubelet-style 400."""
        qs = request.query
        try:
            now = time.time()
            since = None
            if qs.get("sinceSeconds"):
                since = now - int(qs["sinceSeconds"])
            elif qs.get("sinceTime"):
                since = parse_time(qs["sinceTime"])
            q = LogQuery(tail_lines=int(qs["tailLines"]) if qs.get("tailLines") else None, since=since,
                         timestamps=_bool(qs.get("timestamps")),
                         limit_bytes=int(qs["limitBytes"]) if qs.get("limitBytes") else None,
                         follow=_bool(qs.get("follow")), previous=_bool(qs.get("previous")))
        except ValueError as e:
            return _status_response(400, "BadRequest", f"invalid log options: {e}")
        try:
            inst = select_instance(pod, container, q.previous)
        except LogError as e:
            return _status_response(400, "BadRequest", str(e))
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain",
                                                       "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        budget = [q.limit_bytes if q.limit_bytes is not None else math.inf]
        try:
            start, end = initial_range(inst, q, now)
            if not await self._write_lines(resp, inst, start, end, q.timestamps, budget):
                return resp
            if q.follow and not q.previous and inst.finished is None:
                await self._follow(resp, pod, container, inst, end, q.timestamps, budget)
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            pass
        return resp

    async def _write_lines(self, resp: web.StreamResponse, inst: Instance, start: int, end: int,
                           timestamps: bool, budget: list[float]) -> bool:
        """Write lines [start, end); False once limitBytes is used up (the stream then ends)."""
        buf: list[bytes] = []
        size = 0
        for ts, text in inst.lines_between(start, end):
            b = format_line(ts, text, timestamps)
            if len(b) >= budget[0]:
                buf.append(b[:int(budget[0])])
                budget[0] = 0
                break
            budget[0] -= len(b)
            buf.append(b)
            size += len(b)
            if size >= _CHUNK:
                await resp.write(b"".join(buf))
                buf, size = [], 0
        if buf:
            await resp.write(b"".join(buf))
        if budget[0] <= 0:
            await resp.write_eof()
            return False
        return True

    async def _follow(self, resp: web.StreamResponse, pod: dict, container: str, inst: Instance, cursor: int,
                      timestamps: bool, budget: list[float]) -> None:
        """Stream new lines as time passes; end when the container stops or the pod goes away."""
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        ev = asyncio.Event()
        self._waiters.setdefault(key, set()).add(ev)
        try:
            while True:
                now = time.time()
                end = inst.total(now)
                if end > cursor:
                    if not await self._write_lines(resp, inst, cursor, end, timestamps, budget):
                        return
                    cursor = end
                nxt = inst.time_of(cursor)
                delay = min(max(nxt - time.time(), self.follow_min_interval), 1.0) if math.isfinite(nxt) else 1.0
                try:
                    await asyncio.wait_for(ev.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                if not ev.is_set():
                    continue
                ev.clear()
                cur = self._current_pod(pod)
                if cur is None:
                    return  # pod deleted (or replaced by a namesake)
                ended = self._ended_instance(cur, container, inst)
                if ended is not None:
                    # the container stopped: flush its last lines (the crash explanation), then end
                    normal_end = ended.total(math.inf) - len(ended.spec.crash)
                    if cursor < normal_end and not await self._write_lines(resp, ended, cursor, normal_end,
                                                                           timestamps, budget):
                        return
                    # finishedAt has second precision, so lines already streamed may lie past it: the crash
                    # lines still come last
                    await self._write_lines(resp, ended, normal_end, ended.total(math.inf), timestamps, budget)
                    return
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(ev)
                if not waiters:
                    self._waiters.pop(key, None)

    @staticmethod
    def _ended_instance(cur: dict, container: str, inst: Instance) -> Instance | None:
        """If the followed instance has stopped, the same instance with its finish time; else None."""
        from .logs import container_status
        cs = container_status(cur, container) or {}
        restarts = int(cs.get("restartCount") or 0)
        state = cs.get("state") or {}
        if restarts == inst.number and "running" in state:
            return None
        term = None
        if restarts == inst.number and "terminated" in state:
            term = state["terminated"]
        elif restarts > inst.number:
            term = (cs.get("lastState") or {}).get("terminated")
        if not term:
            return Instance(inst.pod, container, inst.number, inst.started, time.time(), None, inst.spec) \
                if "running" not in state else None
        done = _from_terminated(cur, container, inst.number, term, log_spec(cur, container))
        done.started = inst.started
        return done

    # -- pods/exec ------------------------------------------------------------------------------------
    async def handle_exec(self, request: web.Request, pod: dict, container: str,
                          command: list[str]) -> web.StreamResponse:
        """Run ``command`` in the pod's container over a channel.k8s.io WebSocket."""
        from .logs import container_status
        cs = container_status(pod, container)
        if cs is not None and "running" not in (cs.get("state") or {}):
            return _status_response(400, "BadRequest", f'unable to upgrade connection: container not found '
                                                       f'("{container}")')
        meta = pod.get("metadata") or {}
        uid = meta.get("uid") or meta.get("name", "pod")
        path = DEFAULT_PATH
        binaries = allowed_binaries(pod, container)
        if binaries is not None:
            path = build_bin_dir(os.path.join(self._scratch, "bin", f"{uid}-{container}"), binaries)
        store = self.sandbox.store
        env = container_env(pod, container, path, lambda resource, ns, name: store.get(resource, ns, name))
        netns = None
        if self.network.real:
            loop = asyncio.get_running_loop()
            try:
                netns = await loop.run_in_executor(None, self.network.netns_of, pod)
            except Exception:  # noqa: BLE001 - netns creation failed: run in the host namespace
                netns = None
        cwd = os.path.join(self._scratch, "pods", uid)
        os.makedirs(cwd, exist_ok=True)
        prefix = self.network.exec_prefix(netns)
        if self.stack is not None:  # simulated serving stacks: stand-in ray/server (runtime/stack.py)
            env = await self.stack.prepare(pod, container, env, prefix)

        started: list[asyncio.subprocess.Process] = []

        def track(proc: asyncio.subprocess.Process | None) -> None:
            """Remember the process so stop() can kill it; forget it once the exec is over."""
            if proc is not None:
                started.append(proc)
                self._procs.add(proc)
                self._sessions.setdefault(uid, set()).add(proc.pid)  # start_new_session: sid == pid
            else:
                for p in started:
                    self._procs.discard(p)

        return await serve_exec(request, command, env, cwd=cwd, wrap=lambda argv: prefix + argv,
                                timeout=self.exec_timeout, on_process=track)

    # -- faults ---------------------------------------------------------------------------------------
    def find_pod(self, pod: Any, namespace: str | None = None) -> dict:
        """A pod from a dict, ``ns/name`` or a name (+ namespace; unique name across namespaces otherwise)."""
        if isinstance(pod, dict):
            meta = pod.get("metadata") or {}
            pod, namespace = meta.get("name"), meta.get("namespace")
        pod = str(pod)
        if "/" in pod:
            namespace, pod = pod.split("/", 1)
        store = self.sandbox.store
        if namespace:
            found = store.get("pods", namespace, pod)
            if found is None:
                raise KeyError(f'pods "{pod}" not found in namespace {namespace}')
            return found
        matches = [p for p in store.list("pods") if (p.get("metadata") or {}).get("name") == pod]
        if len(matches) != 1:
            raise KeyError(f'pod "{pod}": {len(matches)} matches; give namespace')
        return matches[0]

    def fault_cut_network(self, pod: Any, namespace: str | None = None, on: Any = True) -> dict:
        p = self.find_pod(pod, namespace)
        self.network.cut_network(p, on=_truthy(on))
        return {"pod": p["metadata"]["name"], "cut": _truthy(on), "mechanism": "dead-gateway route"}

    def fault_cut_pair(self, pod_a: Any, pod_b: Any, namespace: str | None = None, on: Any = True) -> dict:
        a, b = self.find_pod(pod_a, namespace), self.find_pod(pod_b, namespace)
        self.network.cut_pair(a, b, on=_truthy(on))
        return {"pods": [a["metadata"]["name"], b["metadata"]["name"]], "cut": _truthy(on),
                "mechanism": "dead-gateway host routes"}

    # -- shutdown -------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Kill exec processes, tear down namespaces, remove scratch files."""
        if self._unsubscribe is not None:
            try:
                self._unsubscribe()
            except Exception:  # noqa: BLE001
                pass
            self._unsubscribe = None
        for proc in list(self._procs):
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self._procs.clear()
        # e.g. `sh -c 'server &'`: the exec ended, its child still runs
        kill_sessions({sid for sids in self._sessions.values() for sid in sids})
        self._sessions.clear()
        for ev in [e for s in self._waiters.values() for e in s]:
            ev.set()
        self.network.close()
        shutil.rmtree(self._scratch, ignore_errors=True)


def kill_sessions(sessions: set[int]) -> list[int]:
    """SIGKILL every process whose session id is in ``sessions`` (one pass over /proc); returns the pids.

    Each exec runs in its own session, so this finds what an exec left running in the background,
    whichever network namespace it is in, without touching any other process."""
    if not sessions:
        return []
    killed: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            session = int(stat.rsplit(b")", 1)[1].split()[3])  # fields after "(comm)": state ppid pgrp session
        except (OSError, ValueError, IndexError):
            continue
        if session in sessions and int(entry) != os.getpid():
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.lower() in ("true", "1", "yes", "on")
    return bool(v)


def install(sandbox: Any, *, network: str | None = None, max_netns: int = 256) -> Runtime:
    """Attach the runtime to ``sandbox``: sets ``sandbox.runtime`` and ``sandbox.network``."""
    mode = network
    if mode is None:
        current = getattr(sandbox, "network", None)
        mode = current if isinstance(current, str) else getattr(sandbox, "network_mode", "auto")
    net = Network(mode or "auto", max_netns=max_netns)
    rt = Runtime(sandbox, net)
    sandbox.runtime = rt
    sandbox.network = net
    if hasattr(sandbox, "register_fault"):
        sandbox.register_fault("cut-network", rt.fault_cut_network)
        sandbox.register_fault("cut-pair", rt.fault_cut_pair)
    if hasattr(sandbox, "on_stop"):
        sandbox.on_stop(rt.stop)
    return rt
