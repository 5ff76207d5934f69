"""Shared fixtures: a running sandbox cluster (module scope) and kubeconfig helpers.

Other test modules reuse these: ``sandbox`` starts a :class:`~kubectl_lws.sandbox.sandbox.Sandbox` at
speed 20 with controllers/runtime if installed; ``kubeconfig`` writes a kubeconfig for it in tmp_path;
``golden_http`` parses a recorded exchange (see tests/golden.py).
"""
from __future__ import annotations

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
    """Parse ``shared/golden/<relpath>`` (a ``.http`` capture)."""
    return read_http


__all__ = ["GOLDEN", "HttpExchange", "read_http", "start_sandbox", "SANDBOX_SPEED"]
