"""The :class:`Sandbox`: one simulated cluster (store + API server + plug-ins) on its own asyncio thread.

Tests and the ``kubectl lws sandbox`` CLI drive it from ordinary threads; everything that touches the
store is marshalled onto the loop thread with :meth:`Sandbox.call` / :meth:`Sandbox.run_coro`.
"""
from __future__ import annotations

import asyncio
import importlib
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import yaml
from aiohttp import web

from .apiserver import ApiServer, RequestLog
from .store import Store

ADMIN_USER = "kubernetes-admin"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Sandbox:
    """A simulated Kubernetes cluster served over real HTTP on loopback."""

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1", tls: bool = False, speed: float = 1.0,
                 network: str = "auto", tokens: dict[str, dict] | None = None, history_size: int = 10_000,
                 plugins: tuple[str, ...] = ("controllers", "runtime", "lwssystem")):
        if not host.startswith("127.") and host != "localhost":
            raise ValueError("the sandbox only listens on loopback (127.0.0.0/8)")
        self.host = host
        self.plugins = tuple(plugins)  # which optional modules start() installs; () = a bare API server
        self.port = port
        self.tls = tls
        self.speed = float(speed) if speed and speed > 0 else 1.0
        self.network: Any = network        # the runtime replaces this with its Network object
        self.network_mode = network
        self.store = Store(history_size=history_size)
        self.request_log = RequestLog()
        self.admin_token = "sandbox-admin-" + secrets.token_hex(12)
        self.tokens: dict[str, dict] = {self.admin_token: {"user": ADMIN_USER, "rules": None}}
        for tok, entry in (tokens or {}).items():
            self.tokens[tok] = {"user": entry.get("user", tok), "rules": entry.get("rules")}
        # Requests without credentials: kubectl never sends a bearer token over plain HTTP, so a plain-HTTP
        # sandbox grants them admin rights (kube's old insecure port); with TLS they get 401.
        self.anonymous: dict | None = None if tls else {"user": "system:admin-insecure", "rules": None}
        self.faults: dict[str, Callable[..., Any]] = {}
        self.settle_checks: list[Callable[[], bool]] = []
        # Optional APIs and their controllers (resources.ADDONS), installed by a scenario's ``addons``
        self.addons: set[str] = set()
        self.addon_config: dict[str, Any] = {}
        # Admission the add-ons bring (Kueue's LWS and pod webhooks): (operation, resource, obj, old) -> obj
        self.admission_plugins: list[Callable[[str, str, dict, dict | None], dict]] = []
        self.runtime: Any = None
        self.controllers: Any = None
        self.loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()
        self.url = ""
        self.ca_file: str | None = None
        self._tmpdir: str | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._ssl_ctx: ssl.SSLContext | None = None
        self._cleanups: list[Callable[[], Any]] = []
        self._started = False
        self._stopped = False
        self.apiserver = ApiServer(self)
        self.register_fault("fail-requests", self._fault_fail_requests)
        self.register_fault("stall-requests", self._fault_stall_requests)
        self.register_fault("break-streams", self._fault_break_streams)
        self.register_fault("stall-exec", self._fault_stall_exec)
        self.register_fault("restart-apiserver", self._fault_restart_apiserver)
        self.register_fault("delay-responses", self._fault_delay_responses)
        self.register_fault("compact", self._fault_compact)
        self.register_fault("age", self._fault_age)

    # --------------------------------------------------------------------------------- lifecycle
    def start(self) -> "Sandbox":
        """Start the loop thread and the HTTP server, create default namespaces, install plug-ins."""
        if self._started:
            return self
        self._started = True
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run_loop, args=(ready,), name="kubectl-lws-sandbox",
                                        daemon=True)
        self._thread.start()
        ready.wait(10)
        try:
            self.run_coro(self._start_server(), timeout=30)
            self.call(self._bootstrap)
            self._install_plugins()
        except BaseException:
            self.stop()
            raise
        return self

    def _run_loop(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    async def _start_server(self) -> None:
        ssl_ctx = self._ssl_context() if self.tls else None
        self._runner = web.AppRunner(self.apiserver.app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ssl_ctx)
        await site.start()
        self._site, self._ssl_ctx = site, ssl_ctx
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def _ssl_context(self) -> ssl.SSLContext:
        """Self-signed serving certificate made with the ``openssl`` CLI (no extra Python package needed)."""
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("tls=True needs the openssl command")
        self._tmpdir = self._tmpdir or tempfile.mkdtemp(prefix="kubectl-lws-sandbox-")
        cert, key = os.path.join(self._tmpdir, "tls.crt"), os.path.join(self._tmpdir, "tls.key")
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=kubectl-lws-sandbox", "-addext", f"subjectAltName=IP:{self.host},DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.ca_file = cert
        return ctx

    def _bootstrap(self) -> None:
        for ns in DEFAULT_NAMESPACES:
            if self.store.get("namespaces", None, ns) is None:
                self.store.create("namespaces", {"metadata": {"name": ns, "labels": {
                    "kubernetes.io/metadata.name": ns}}, "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"}})

    def _install_plugins(self) -> None:
        """Controllers and runtime are optional plug-ins from the other sandbox modules."""
        for modname in (f"kubectl_lws.sandbox.{p}" for p in self.plugins):
            try:
                mod = importlib.import_module(modname)
            except ImportError as e:
                if e.name and modname.startswith(e.name):
                    continue
                raise
            install = getattr(mod, "install", None)
            if install is not None:
                self.call(install, self)

    def stop(self) -> None:
        """Stop plug-ins (registered cleanups, newest first), the server and the loop. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None and self._thread.is_alive():
            for fn in reversed(self._cleanups):
                try:
                    res = self.call(fn, timeout=15)
                    if asyncio.iscoroutine(res):
                        self.run_coro(res, timeout=15)
                except Exception as e:  # noqa: BLE001 - keep cleaning up the rest
                    print(f"sandbox: cleanup {fn!r} failed: {e}")
            try:
                self.run_coro(self._shutdown(), timeout=15)
            except Exception:  # noqa: BLE001
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        else:
            for fn in reversed(self._cleanups):
                try:
                    fn()
                except Exception:  # noqa: BLE001
                    pass
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks(self.loop) if t is not current]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def on_stop(self, fn: Callable[[], Any]) -> None:
        """Register a cleanup; it runs on the loop thread at stop(), newest first."""
        self._cleanups.append(fn)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ thread bridge
    def _on_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 60, **kw: Any) -> Any:
        """Run ``fn(*args, **kw)`` on the loop thread and return its result (exceptions propagate).

        ``timeout`` (seconds) bounds the wait and is not passed to ``fn``; on the loop thread itself
        ``fn`` runs directly."""
        if self._on_loop_thread():
            return fn(*args, **kw)

        async def runner() -> Any:
            return fn(*args, **kw)
        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(timeout)

    def run_coro(self, coro: Any, timeout: float | None = 60) -> Any:
        """Run a coroutine on the loop from another thread and wait for its result."""
        if self._on_loop_thread():
            raise RuntimeError("run_coro() would deadlock on the loop thread; await the coroutine instead")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # ------------------------------------------------------------------------------------ faults
    def register_fault(self, name: str, fn: Callable[..., Any]) -> None:
        """``fn(**params)`` runs on the loop thread when the fault is applied (Python or admin HTTP API)."""
        self.faults[name] = fn

    def fault(self, name: str, **params: Any) -> Any:
        if name not in self.faults:
            raise KeyError(f"unknown fault {name!r}; known: {sorted(self.faults)}")
        result = self.call(self.faults[name], **params)
        if asyncio.iscoroutine(result):
            result = self.run_coro(result)
        return result

    def _fault_fail_requests(self, path: str = "/", status: int = 500, count: int = 1,
                             message: str | None = None, method: str | None = None,
                             retry_after: int | None = None) -> dict:
        """The next ``count`` requests whose path starts with ``path`` fail with ``status`` (with
        ``retry_after``: a ``Retry-After`` header, e.g. status=429 retry_after=2)."""
        return self.apiserver.add_fail_rule(path, int(status), int(count), message, method, retry_after)

    def _fault_break_streams(self, kind: str = "all", mode: str = "reset") -> dict:
        """Cut the running watch/log/exec streams (``reset``), or end watches with a 410 (``expire``)."""
        return self.apiserver.break_streams(kind, mode)

    def _fault_stall_exec(self, pod: str, namespace: str | None = None, on: bool = True) -> dict:
        """Exec streams into ``pod`` open and then stay silent (no output, no exit status) until closed."""
        ns, name = pod.split("/", 1) if "/" in pod else (namespace or "default", pod)
        if self.store.get("pods", ns, name) is None:
            raise KeyError(f'pod "{ns}/{name}" not found')
        key = (ns, name)
        if on in (True, "true", 1):
            self.apiserver.stalled_exec.add(key)
        else:
            self.apiserver.stalled_exec.discard(key)
        return {"pod": f"{ns}/{name}", "stalled": key in self.apiserver.stalled_exec}

    async def _fault_restart_apiserver(self, down: float = 1.0) -> dict:
        """The API server goes away (listener closed, every connection cut) and comes back after ``down``
        seconds on the same address with the same tokens and objects, like a kube-apiserver restart.
        ``down`` may be long (e.g. 600) to leave a client without any server."""
        down = float(down)
        site = self._site
        if site is not None:
            await site.stop()
        server = self._runner.server if self._runner is not None else None

        async def back() -> None:
            # a moment for the answer to an admin-API caller, then every open connection goes
            await asyncio.sleep(0.05)
            for handler in list(getattr(server, "connections", []) or []):
                transport = getattr(handler, "transport", None)
                if transport is not None:
                    transport.abort()
            await asyncio.sleep(down)
            if self._stopped or self._runner is None:
                return
            new = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl_ctx)
            await new.start()
            self._site = new
        self.loop.create_task(back())
        return {"down": down, "url": self.url}

    def _fault_delay_responses(self, path: str = "/", seconds: float = 1.0, count: int = 1,
                               method: str | None = None) -> dict:
        """The next ``count`` requests whose path starts with ``path`` take effect at once but are
        answered ``seconds`` late (races between a change and what the client sees next)."""
        return self.apiserver.add_delay_rule(path, float(seconds), int(count), method)

    def _fault_compact(self) -> dict:
        """Forget the watch history, as an etcd compaction does: watches and continue tokens from
        before the latest write get 410 Expired and must list again."""
        self.store.history.clear()
        return {"compacted_to": self.store.resource_version}

    def _fault_age(self, namespace: str, seconds: float = 3600.0) -> dict:
        """Make what a namespace holds ``seconds`` older, as if that much time had passed since it settled:
        the creation times of its LWS and pods, their condition transitions and container starts (a
        settled fleet is hours old; a test cannot wait for it). Events keep their times."""
        from datetime import timedelta

        from kubectl_lws.model.timeutil import parse_time

        delta = timedelta(seconds=float(seconds))

        def older(text: Any) -> Any:
            when = parse_time(text) if isinstance(text, str) else None
            return (when - delta).strftime("%Y-%m-%dT%H:%M:%SZ") if when else text

        def edit(obj: dict) -> None:
            meta = obj["metadata"]
            meta["creationTimestamp"] = older(meta.get("creationTimestamp"))
            status = obj.get("status") or {}
            for cond in status.get("conditions") or []:
                if "lastTransitionTime" in cond:
                    cond["lastTransitionTime"] = older(cond["lastTransitionTime"])
            for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
                for state in ((cs.get("state") or {}).get("running"), (cs.get("state") or {}).get("terminated"),
                              (cs.get("lastState") or {}).get("terminated")):
                    for key in ("startedAt", "finishedAt"):
                        if state and key in state:
                            state[key] = older(state[key])
            if "startTime" in status:
                status["startTime"] = older(status["startTime"])

        aged = 0
        for resource in ("leaderworkersets.leaderworkerset.x-k8s.io", "pods"):
            for obj in self.store.list(resource, namespace):
                self.store.rewrite(resource, namespace, obj["metadata"]["name"], edit)
                aged += 1
        return {"namespace": namespace, "objects": aged, "seconds": float(seconds)}

    def _fault_stall_requests(self, path: str = "/", seconds: float = 3600.0, count: int = 1,
                              after_headers: Any = False, method: str | None = None) -> dict:
        """The next ``count`` requests under ``path`` are held ``seconds`` (latency, or a server that
        accepts and never answers); ``after_headers=true`` stalls after the headers and part of the body."""
        flag = str(after_headers).lower() in ("1", "true", "yes", "on")
        return self.apiserver.add_stall_rule(path, float(seconds), int(count), flag, method)

    # --------------------------------------------------------------------------------- helpers
    @property
    def admin_user(self) -> str:
        return ADMIN_USER

    def add_token(self, token: str, user: str, rules: list[dict] | None) -> None:
        """Add a bearer token; ``rules=None`` means all rights."""
        self.tokens[token] = {"user": user, "rules": rules}

    def write_kubeconfig(self, path: str | os.PathLike, *, context: str = "kubectl-lws-sandbox",
                         namespace: str = "default", token: str | None = None) -> str:
        """Write a kubeconfig for this sandbox (mode 0600) and return its path."""
        cluster: dict[str, Any] = {"server": self.url}
        if self.tls and self.ca_file:
            cluster["certificate-authority"] = self.ca_file
        cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {},
               "clusters": [{"name": context, "cluster": cluster}],
               "users": [{"name": context, "user": {"token": token or self.admin_token}}],
               "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                          "namespace": namespace}}],
               "current-context": context}
        p = Path(path).expanduser()
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(cfg, fh, sort_keys=False)
        return str(p)

    def wait_settled(self, timeout: float = 30) -> None:
        """Block until every registered settle check passes (two polls in a row), or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        streak = 0
        while True:
            ok = all(self.call(check) for check in list(self.settle_checks))
            streak = streak + 1 if ok else 0
            if streak >= 2 or (ok and not self.settle_checks):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"sandbox did not settle within {timeout}s")
            time.sleep(0.05)

    def install_addons(self, names: Any, config: dict | None = None) -> None:
        """Serve the add-ons' APIs and start their controllers (on the loop thread; idempotent)."""
        from .resources import ADDONS

        wanted = [names] if isinstance(names, str) else list(names or [])
        unknown = [n for n in wanted if n not in ADDONS]
        if unknown:
            raise ValueError(f"unknown add-on {', '.join(map(str, unknown))} (known: {', '.join(ADDONS)})")
        self.addon_config.update(config or {})
        for name in wanted:
            if name in self.addons:
                continue
            self.addons.add(name)
            install = getattr(self.controllers, "install_addon", None)
            if install is not None:
                install(name, self.addon_config.get(name) or {})

    def load_scenario(self, name_or_path: str | os.PathLike | dict) -> None:
        """Load a scenario (a built-in name, a YAML path, or parsed data) through the scenario module."""
        from . import scenario  # noqa: PLC0415 - the controllers dev's module
        if isinstance(name_or_path, dict):
            data = name_or_path
        else:
            p = Path(name_or_path)
            if not p.exists():
                p = Path(__file__).parent / "scenarios" / f"{name_or_path}.yaml"
            if not p.exists():
                raise FileNotFoundError(f"no scenario named or at {name_or_path!r}")
            data = yaml.safe_load(p.read_text())
        res = self.call(scenario.load, self, data)
        if asyncio.iscoroutine(res):
            self.run_coro(res)

    # Convenience for tests: store access from any thread ------------------------------------------
    def create(self, resource: str, obj: dict) -> dict:
        return self.call(self.store.create, resource, obj)

    def get(self, resource: str, namespace: str | None, name: str) -> dict | None:
        import copy
        return self.call(lambda: copy.deepcopy(self.store.get(resource, namespace, name)))

    def ensure_namespace(self, name: str) -> None:
        def mk() -> None:
            if self.store.get("namespaces", None, name) is None:
                self.store.create("namespaces", {"metadata": {"name": name, "labels": {
                    "kubernetes.io/metadata.name": name}}, "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"}})
        self.call(mk)
