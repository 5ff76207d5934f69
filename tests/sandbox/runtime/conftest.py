"""Runtime test harness: the real Store and the real runtime behind a tiny aiohttp app that routes
pods/log and pods/exec the way core's API server does (auth and 404/400 checks are core's, tested there).
Once core's Sandbox is importable, the end-to-end tests in test_e2e_sandbox.py drive it instead."""
from __future__ import annotations

import asyncio
import copy
import threading
import time
import types
from typing import Any, Callable

import pytest
from aiohttp import web

from kubectl_lws.sandbox.runtime import install
from kubectl_lws.sandbox.store import Store


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def make_pod(name: str, *, ns: str = "golden", container: str = "leader", started: float | None = None,
             restarts: int = 0, last_finished: float | None = None, annotations: dict | None = None,
             labels: dict | None = None, env: list | None = None, subdomain: str = "basic") -> dict:
    started = time.time() - 5 if started is None else started
    cs: dict[str, Any] = {"name": container, "ready": True, "restartCount": restarts, "image": "x",
                          "state": {"running": {"startedAt": iso(started)}}}
    if last_finished is not None:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": iso(last_finished - 30),
                                          "finishedAt": iso(last_finished)}}
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}, "annotations": annotations or {}},
            "spec": {"nodeName": "node-1", "hostname": name, "subdomain": subdomain,
                     "containers": [{"name": container, "image": "x", "env": env or []}]},
            "status": {"phase": "Running", "podIP": "", "containerStatuses": [cs]}}


class Harness:
    """A loop thread with a Store, the runtime, and an HTTP server routing log/exec to it."""

    def __init__(self, network: str = "off") -> None:
        self.loop = asyncio.new_event_loop()
        self.store = Store()
        self._faults: dict[str, Callable] = {}
        self._stops: list[Callable] = []
        self.sb = types.SimpleNamespace(store=self.store, loop=self.loop, speed=1.0,
                                        register_fault=self._faults.__setitem__, on_stop=self._stops.append)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runtime = self.call(lambda: install(self.sb, network=network))
        self.network = self.sb.network
        self.url = self.run(self._serve())

    def call(self, fn: Callable, *a: Any, **kw: Any) -> Any:
        async def wrap() -> Any:
            return fn(*a, **kw)
        return self.run(wrap())

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def fault(self, name: str, **params: Any) -> Any:
        return self.call(self._faults[name], **params)

    async def _serve(self) -> str:
        app = web.Application()

        async def route(request: web.Request) -> web.StreamResponse:
            ns, name, sub = request.match_info["ns"], request.match_info["name"], request.match_info["sub"]
            pod = self.store.get("pods", ns, name)
            if pod is None:
                return web.json_response({"code": 404}, status=404)
            container = request.query.get("container") or pod["spec"]["containers"][0]["name"]
            if sub == "log":
                return await self.runtime.handle_log(request, pod, container)
            return await self.runtime.handle_exec(request, pod, container, request.query.getall("command", []))

        app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/{sub:log|exec}", route)
        self.app_runner = web.AppRunner(app)
        await self.app_runner.setup()
        site = web.TCPSite(self.app_runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    def add_pod(self, pod: dict) -> dict:
        def create() -> dict:
            created = self.store.create("pods", pod)
            ip = self.network.attach(created)
            new = copy.deepcopy(created)
            new["status"]["podIP"] = ip
            return self.store.update("pods", new, subresource="status")
        return self.call(create)

    def delete_pod(self, ns: str, name: str) -> None:
        def rm() -> None:
            pod = self.store.get("pods", ns, name)
            self.network.detach(pod)
            self.store.remove("pods", ns, name)
        self.call(rm)

    def close(self) -> None:
        for fn in self._stops:
            self.call(fn)
        self.run(self.app_runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def harness():
    h = Harness()
    yield h
    h.close()


@pytest.fixture(scope="session")
def pod_factory():
    return make_pod


@pytest.fixture(scope="session")
def harness_class():
    """For modules that need their own harness (e.g. with real network namespaces)."""
    return Harness
