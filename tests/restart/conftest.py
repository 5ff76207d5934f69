"""Fixtures for restart/scale end-to-end tests: small LWSs in their own namespaces, and the
sandbox's watch history read back to measure how many groups were down at any moment."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Callable

import pytest
import yaml
from cliutil import sandbox_http as http
from golden import GOLDEN, basic_lws_manifest

LWS_API = "/apis/leaderworkerset.x-k8s.io/v1"
_counter = itertools.count()


@dataclass
class Lws:
    sb: object
    namespace: str
    name: str
    replicas: int
    size: int
    kubeconfig: str

    def http(self, method: str, path: str, body: object | None = None,
             content_type: str = "application/merge-patch+json") -> dict:
        return http(self.sb, method, path, body, content_type)

    def pods(self) -> list[dict]:
        sel = f"leaderworkerset.sigs.k8s.io/name={self.name}"
        return self.sb.call(lambda: copy.deepcopy(self.sb.store.list("pods", self.namespace, sel)))

    def uids_by_group(self) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for pod in self.pods():
            gi = int(pod["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/group-index"])
            out.setdefault(gi, set()).add(pod["metadata"]["uid"])
        return out

    def get(self) -> dict:
        return self.sb.get("leaderworkersets.leaderworkerset.x-k8s.io", self.namespace, self.name)

    def mark(self) -> tuple[int, dict[str, dict]]:
        """The store's resourceVersion and the pods at that instant (start of a history replay)."""
        def snap() -> tuple[int, dict[str, dict]]:
            sel = f"leaderworkerset.sigs.k8s.io/name={self.name}"
            pods = {p["metadata"]["uid"]: copy.deepcopy(p) for p in self.sb.store.list("pods", self.namespace, sel)}
            return self.sb.store.resource_version, pods
        return self.sb.call(snap)

    def max_groups_down(self, mark: tuple[int, dict[str, dict]]) -> tuple[int, list[str]]:
        """Replay every pod event since ``mark``: the most groups (0..replicas-1) not fully Ready at once."""
        rv, pods = mark[0], dict(mark[1])
        events = self.sb.call(lambda: list(self.sb.store.events_since(rv)))
        worst, timeline = self._down(pods), []
        for ev in events:
            if ev.resource != "pods" or ev.namespace != self.namespace:
                continue
            labels = ev.obj["metadata"].get("labels") or {}
            if labels.get("leaderworkerset.sigs.k8s.io/name") != self.name:
                continue
            uid = ev.obj["metadata"]["uid"]
            if ev.type == "DELETED":
                pods.pop(uid, None)
            else:
                pods[uid] = ev.obj
            down = self._down(pods)
            timeline.append(f"{ev.type} {ev.obj['metadata']['name']}: down={down}")
            worst = max(worst, down)
        return worst, timeline

    def pod_events(self, mark: tuple[int, dict[str, dict]]) -> list[tuple[str, str, bool]]:
        """(type, pod name, terminating) of this LWS's pod events since ``mark``."""
        rv = mark[0]
        events = self.sb.call(lambda: list(self.sb.store.events_since(rv)))
        return [(ev.type, ev.obj["metadata"]["name"], bool(ev.obj["metadata"].get("deletionTimestamp")))
                for ev in events if ev.resource == "pods" and ev.namespace == self.namespace
                and (ev.obj["metadata"].get("labels") or {}).get("leaderworkerset.sigs.k8s.io/name") == self.name]

    def _down(self, pods: dict[str, dict]) -> int:
        down = 0
        for gi in range(self.replicas):
            members = [p for p in pods.values()
                       if p["metadata"]["labels"].get("leaderworkerset.sigs.k8s.io/group-index") == str(gi)
                       and not p["metadata"].get("deletionTimestamp")]
            ready = [p for p in members if p.get("status", {}).get("phase") == "Running" and any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in p["status"].get("conditions") or [])]
            if len(ready) < self.size:
                down += 1
        return down


@pytest.fixture
def make_lws(sandbox, write_kubeconfig) -> Callable[..., Lws]:
    """``make_lws(replicas=3, size=2, **spec)``: a fresh LWS in a fresh namespace, settled."""
    nodes_done = getattr(sandbox, "_restart_tests_nodes", False)
    if not nodes_done:
        for node in yaml.safe_load_all((GOLDEN / "inputs" / "nodes.yaml").read_text()):
            if node:
                sandbox.create("nodes", node)
        sandbox._restart_tests_nodes = True

    def make(replicas: int = 3, size: int = 2, restart_policy: str | None = None, gpus: int = 0,
             name: str = "svc") -> Lws:
        ns = f"rs-{next(_counter)}"
        sandbox.ensure_namespace(ns)
        obj = basic_lws_manifest(name, ns, replicas=replicas, size=size, restart_policy=restart_policy,
                                 gpus=gpus)
        http(sandbox, "POST", f"{LWS_API}/namespaces/{ns}/leaderworkersets", obj)
        sandbox.wait_settled(30)
        return Lws(sandbox, ns, name, replicas, size, write_kubeconfig(sandbox, namespace=ns))

    return make
