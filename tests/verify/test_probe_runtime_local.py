"""The fixed HTTP probe of verify runtime (python3 and bash), run locally against the sandbox's stand-in
vLLM server on loopback (no cluster needed): up, engine dead, hanging, nothing listening."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubectl_lws import probe_runtime
from kubectl_lws.model import runtimecheck as rc

SERVER = Path(__file__).resolve().parents[2] / "kubectl_lws" / "sandbox" / "runtime" / "standins" / "server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    procs = []

    def start(*extra: str) -> int:
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port), "--model", "org/model", *extra],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        procs.append(proc)
        return port

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def run(tool: str, port: int, timeout: float = 2.0) -> list[dict]:
    if not shutil.which(tool):
        pytest.skip(f"{tool} missing")
    argv = dict(probe_runtime.http_argvs("127.0.0.1", port, ["/health", "/v1/models"], timeout))[tool]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * 4 + 10)
    return probe_runtime.parse_http_output(out.stdout)


@pytest.mark.parametrize("tool", ["python3", "bash"])
def test_up_lists_the_model(tool, server):
    findings = rc.check_http_live(0, "l", 1, run(tool, server()), "org/model")
    assert [(f.check, f.status, f.actual) for f in findings] == [("health", "PASS", "200"),
                                                                 ("models", "PASS", "org/model")]


@pytest.mark.parametrize("tool", ["python3", "bash"])
def test_engine_dead_and_nothing_listening(tool, server):
    dead = rc.check_http_live(0, "l", 1, run(tool, server("--health", "503")), "org/model")
    assert dead[0].status == "FAIL" and "engine dead" in dead[0].message
    down = rc.check_http_live(0, "l", 1, run(tool, free_port()), None)
    assert [f.actual for f in down] == ["connection refused", "connection refused"]


@pytest.mark.parametrize("tool", ["python3", "bash"])
def test_hanging_server_times_out(tool, server):
    started = time.monotonic()
    records = run(tool, server("--hang"), timeout=1.0)
    assert time.monotonic() - started < 8
    assert [r.get("error") for r in records] == ["timeout", "timeout"]
