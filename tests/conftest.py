"""Shared fixtures: a running sandbox cluster (module scope) and kubeconfig helpers.

Other test modules reuse these: ``sandbox`` starts a :class:`~kubectl_lws.sandbox.sandbox.Sandbox` at
speed 20 with controllers/runtime if installed; ``kubeconfig`` writes a kubeconfig for it in tmp_path;
``golden_http`` parses a recorded exchange (see tests/golden.py); ``load_golden_objects`` fills a bare
sandbox with the recorded LWS and pods.
"""
from __future__ import annotations

import contextlib

import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from golden import GOLDEN, HttpExchange, read_http  # noqa: E402

SANDBOX_SPEED = 20.0


def start_sandbox(**kw) -> "object":
    """Start a sandbox with test defaults (speed 20); the caller stops it."""
    from kubectl_lws.sandbox.sandbox import Sandbox
    kw.setdefault("speed", SANDBOX_SPEED)
    return Sandbox(**kw).start()


@contextlib.contextmanager
def scenario_sandbox(scenario: str | dict, *, speed: float = 50.0) -> Iterator["object"]:
    """A started sandbox with ``scenario`` loaded and settled; stopped (with its cleanups) on exit."""
    sb = start_sandbox(speed=speed)
    try:
        sb.load_scenario(scenario)
        sb.wait_settled(60)
        yield sb
    finally:
        sb.stop()


@contextlib.contextmanager
def netns_scenario_sandbox(scenario: str | dict, *, speed: float = SANDBOX_SPEED) -> Iterator["object"]:
    """Like :func:`scenario_sandbox`, for tests that open real sockets between pods: the test is
    skipped (with the reason) where the sandbox cannot make pod network namespaces."""
    sb = start_sandbox(speed=speed)
    try:
        if not getattr(sb.network, "real", False):
            pytest.skip(f"no pod network namespaces: {getattr(sb.network, 'why_not_real', '')}")
        sb.load_scenario(scenario)
        sb.wait_settled(60)
        yield sb
    finally:
        sb.stop()


def load_golden_objects(sb, pods_of: tuple[str, ...], *, managed_fields: bool = True) -> None:
    """Store, as recorded, every golden LWS of namespace ``golden`` and the pods of the LWS named in
    ``pods_of`` (for bare API-server tests: without controllers nothing changes them)."""
    import json

    def items(relpath: str) -> list[dict]:
        return json.loads((GOLDEN / relpath).read_text())["items"]

    def load() -> None:
        for lws in items("objects/leaderworkersets-list.json"):
            if not managed_fields:
                lws["metadata"].pop("managedFields", None)
            sb.store.create("leaderworkersets.leaderworkerset.x-k8s.io", lws)
        for name in pods_of:
            for pod in items(f"objects/{name}/pods.json"):
                sb.store.create("pods", pod)
    sb.ensure_namespace("golden")
    sb.call(load)


@pytest.fixture(scope="module")
def sandbox() -> Iterator["object"]:
    """A running sandbox shared by one test module; stopped (with every cleanup) afterwards."""
    sb = start_sandbox()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def kubeconfig(sandbox, tmp_path: Path) -> str:
    """Path of an admin kubeconfig for the module's sandbox."""
    return sandbox.write_kubeconfig(tmp_path / "kubeconfig.yaml")


@pytest.fixture
def write_kubeconfig(tmp_path: Path) -> Callable[..., str]:
    """``write_kubeconfig(sandbox, token=None, namespace='default')`` -> path in tmp_path."""
    counter = iter(range(1_000_000))

    def write(sb, token: str | None = None, namespace: str = "default") -> str:
        return sb.write_kubeconfig(tmp_path / f"kubeconfig-{next(counter)}.yaml", token=token, namespace=namespace)
    return write


@pytest.fixture
def golden_http() -> Callable[[str], HttpExchange]:
    """Parse ``tests/data/golden/<relpath>`` (a ``.http`` capture)."""
    return read_http


__all__ = ["GOLDEN", "HttpExchange", "read_http", "start_sandbox", "load_golden_objects", "SANDBOX_SPEED"]
