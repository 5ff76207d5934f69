"""The fixed probe programs, run as local processes on loopback (no cluster needed)."""
from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from kubectl_lws import probe


def start_listener(**extra):
    params = {"mode": "listen", "port": 0, "expect": 1, "lifetime": 3, "nonce": "n1", "dns": False, **extra}
    proc = subprocess.Popen(probe.python_argv(params), stdout=subprocess.PIPE, text=True)
    info = json.loads(proc.stdout.readline())
    listening = json.loads(proc.stdout.readline())
    assert info["t"] == "info" and listening["t"] == "listening"
    return proc, listening["port"]


def records(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("tool", ["python3", "bash"])
def test_connect_ok_and_refused(tool):
    if not shutil.which(tool):
        pytest.skip(f"{tool} missing")
    proc, port = start_listener()
    params = {"mode": "connect", "targets": [["leader", "127.0.0.1", port], ["closed", "127.0.0.1", 1]],
              "timeout": 2, "nonce": "n1", "me": "w1", "lifetime": 5, "leader": "127.0.0.1"}
    argv = probe.python_argv(params) if tool == "python3" else probe.bash_argv(params)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    res = {r["label"]: r for r in records(out) if r["t"] == "connect"}
    assert res["leader"]["result"] == "ok" and res["closed"]["result"] == "refused"
    rest = proc.stdout.read()
    proc.wait(5)
    accepted = [r for r in records(rest) if r["t"] == "accepted"][0]
    assert [p["label"] for p in accepted["peers"]] == ["w1"]  # the listener saw exactly that worker


def test_listener_dies_after_its_lifetime_even_if_nobody_reads():
    params = {"mode": "listen", "port": 0, "expect": 5, "lifetime": 1, "nonce": "x", "dns": False}
    proc = subprocess.Popen(probe.python_argv(params), stdout=subprocess.DEVNULL)
    started = time.monotonic()
    assert proc.wait(10) is not None
    assert time.monotonic() - started < 4


def test_parameters_are_never_code():
    """A hostile name travels as data: no shell, no interpolation into the program text."""
    evil = "x; touch /tmp/kls-pwned-$$ `id` $(id)"
    params = {"mode": "connect", "targets": [[evil, evil, 1]], "timeout": 1, "lifetime": 3, "leader": evil}
    for argv in (probe.python_argv(params), probe.bash_argv(params)):
        assert evil not in argv[argv.index(probe.MARKER) - 1]  # the program text is constant
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
        recs = records(out)
        assert recs[0]["t"] == "info"
        assert all(r.get("result") != "ok" for r in recs if r["t"] == "connect")


def test_env_readers():
    env = {"PATH": "/usr/bin:/bin", "LWS_WORKER_INDEX": "2", "ODD": "a=b"}
    for tool, argv in probe.env_argvs():
        if not shutil.which(argv[0]):
            continue
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=10).stdout
        source, got = probe.parse_env_output(tool, out)
        if source == "pid1":  # we share PID 1's namespaces (a container): its env is the one to read
            with open("/proc/1/environ", "rb") as f:
                assert got == dict(p.split("=", 1) for p in f.read().decode().split("\0") if "=" in p)
        else:
            assert got["LWS_WORKER_INDEX"] == "2" and got["ODD"] == "a=b", tool
