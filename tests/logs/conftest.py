"""Fixtures for logs end-to-end tests: LWSs whose pods log through the sandbox runtime's annotation,
each in its own namespace of the module's sandbox, plus a helper to run the real CLI as a process
(for -f, Ctrl-C and deletion tests, where the command must run while the test acts on the cluster)."""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

import pytest
import yaml
from cliutil import sandbox_http as http
from golden import GOLDEN, basic_lws_manifest

from kubectl_lws.sandbox.runtime.logs import LOGS_ANNOTATION

LWS_API = "/apis/leaderworkerset.x-k8s.io/v1"
_counter = itertools.count()


@dataclass
class Lws:
    sb: object
    namespace: str
    name: str
    kubeconfig: str

    def pods(self) -> list[dict]:
        sel = f"leaderworkerset.sigs.k8s.io/name={self.name}"
        return self.sb.call(lambda: copy.deepcopy(self.sb.store.list("pods", self.namespace, sel)))

    def pod(self, name: str) -> dict:
        return next(p for p in self.pods() if p["metadata"]["name"] == name)

    def delete_pod(self, name: str) -> None:
        http(self.sb, "DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{name}")

    def scale(self, replicas: int) -> None:
        http(self.sb, "PATCH", f"{LWS_API}/namespaces/{self.namespace}/leaderworkersets/{self.name}/scale",
             {"spec": {"replicas": replicas}}, "application/merge-patch+json")

    def delete(self) -> None:
        http(self.sb, "DELETE", f"{LWS_API}/namespaces/{self.namespace}/leaderworkersets/{self.name}")

    def wait(self, predicate: Callable[[list[dict]], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.pods()):
            if time.monotonic() > deadline:
                raise TimeoutError("pods did not reach the expected state")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def make_lws(sandbox, tmp_path_factory) -> Callable[..., Lws]:
    """``make_lws(replicas, size, logs={...}, restart_policy=None, sidecar=False)``: a settled LWS in a
    fresh namespace; ``sidecar`` adds a second container named "sidecar" to every pod."""
    for node in yaml.safe_load_all((GOLDEN / "inputs" / "nodes.yaml").read_text()):
        if node:
            sandbox.create("nodes", node)
    tmp = tmp_path_factory.mktemp("logs")

    def make(replicas: int = 3, size: int = 2, logs: dict | None = None, restart_policy: str | None = None,
             name: str = "basic", gpus: int = 0, sidecar: bool = False) -> Lws:
        ns = f"lg-{next(_counter)}"
        sandbox.ensure_namespace(ns)
        obj = basic_lws_manifest(name, ns, replicas=replicas, size=size, restart_policy=restart_policy,
                                 gpus=gpus, sidecar=sidecar)
        lwt = obj["spec"]["leaderWorkerTemplate"]
        if logs is not None:
            for tmpl in ("leaderTemplate", "workerTemplate"):
                meta = lwt[tmpl].setdefault("metadata", {})
                meta.setdefault("annotations", {})[LOGS_ANNOTATION] = json.dumps(logs)
        http(sandbox, "POST", f"{LWS_API}/namespaces/{ns}/leaderworkersets", obj)
        sandbox.wait_settled(30)
        kc = sandbox.write_kubeconfig(tmp / f"kc-{ns}.yaml", namespace=ns)
        return Lws(sandbox, ns, name, kc)

    return make


class Proc:
    """``kubectl lws ARGS`` as a child process, stdout/stderr collected to files."""

    def __init__(self, args: list[str], kubeconfig: str, tmpdir) -> None:
        self.out_path = tmpdir / f"out-{next(_counter)}.txt"
        self.err_path = tmpdir / f"err-{next(_counter)}.txt"
        env = {**os.environ, "KUBECONFIG": kubeconfig, "NO_COLOR": "1"}
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", *args], stdout=self._out,
                                     stderr=self._err, env=env)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_for(self, text: str, *, stream: str = "stderr", timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in (self.stderr if stream == "stderr" else self.stdout):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not seen (rc={self.proc.poll()}); stderr:\n{self.stderr}")
            time.sleep(0.05)

    def finish(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            self._out.close()
            self._err.close()


@pytest.fixture
def spawn(tmp_path) -> Callable[..., Proc]:
    procs: list[Proc] = []

    def start(args: list[str], kubeconfig: str) -> Proc:
        proc = Proc(args, kubeconfig, tmp_path)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.proc.poll() is None:
            proc.proc.kill()
        proc.finish(5)


class CuttableProxy:
    """A loopback TCP proxy in front of the sandbox whose open connections can be cut at once
    (a network blip for the client: its watches and log streams break mid-response)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket

        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._conns: list = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._spawn(self._accept)

    def _spawn(self, fn, *args) -> None:
        thread = threading.Thread(target=fn, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        import socket

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._closed:  # accepted while closing: nothing may get through any more
                client.close()
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._conns += [client, upstream]
            self._spawn(self._pipe, client, upstream)
            self._spawn(self._pipe, upstream, client)

    @staticmethod
    def _pipe(src, dst) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.close()
            except OSError:
                pass

    def cut(self) -> None:
        import socket

        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        import socket

        self._closed = True
        try:  # wakes the accept() thread: on Linux close() alone leaves it listening, and the next
            self._listener.shutdown(socket.SHUT_RDWR)  # connection would be proxied, uncut, for ever
        except OSError:
            pass
        self._listener.close()
        self.cut()
        for thread in self._threads:
            thread.join(2)


@pytest.fixture
def cuttable_proxy():
    proxies: list[CuttableProxy] = []

    def make(lws: Lws, tmpdir) -> str:
        """A kubeconfig for ``lws`` that goes through a new proxy; returns its path (proxy in .proxy)."""
        from urllib.parse import urlparse

        url = urlparse(lws.sb.url)
        proxy = CuttableProxy(url.hostname, url.port)
        proxies.append(proxy)
        cfg = yaml.safe_load(open(lws.kubeconfig).read())
        cfg["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{proxy.port}"
        path = tmpdir / f"kc-proxy-{proxy.port}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        make.proxy = proxy
        return str(path)

    yield make
    for proxy in proxies:
        proxy.close()
