"""Issue 16 item 12: every long-running command is gone within 3 s of SIGINT or SIGTERM, and SIGTERM
ends like Ctrl-C (the command's summary, then exit 143). The real CLI as a process, real sandbox."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from cliutil import sandbox_http, signal_and_wait
from conftest import start_sandbox
from golden import GOLDEN, basic_lws_manifest

NS = "sig"
LWS_API = f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{NS}/leaderworkersets"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    sb = start_sandbox()
    try:
        for node in yaml.safe_load_all((GOLDEN / "inputs" / "nodes.yaml").read_text()):
            if node:
                sb.create("nodes", node)
        sb.ensure_namespace(NS)
        for name in ("steady", "held"):
            sandbox_http(sb, "POST", LWS_API, basic_lws_manifest(name, NS, replicas=2, size=2))
        sb.wait_settled(30)
        kc = sb.write_kubeconfig(tmp_path_factory.mktemp("sig") / "kc", namespace=NS)
        yield sb, kc
    finally:
        sb.stop()


def _start(kc: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kubectl_lws", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "KUBECONFIG": kc, "NO_COLOR": "1"})




@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
@pytest.mark.parametrize("args", [["logs", "steady", "-f", "--workers"], ["status", "steady", "-w"],
                                  ["rollout", "status", "steady", "--timeout", "0"]])
def test_long_running_commands_end_within_3s(env, args, sig, code, word):
    sb, kc = env
    if args[0] == "rollout":  # a rollout that cannot progress: the controller never observes it
        sb.fault("pause-controller", on=True)
        sandbox_http(sb, "PATCH", f"{LWS_API}/steady", {"spec": {"leaderWorkerTemplate": {"workerTemplate": {
            "metadata": {"annotations": {"x": str(time.time())}}}}}}, "application/merge-patch+json")
    try:
        proc = _start(kc, *args)
        rc, err, took = signal_and_wait(proc, sig, settle=1.5)
    finally:
        sb.fault("pause-controller", on=False)
    assert rc == code, err
    assert err.strip().splitlines()[-1] == word and "Traceback" not in err
    assert took < 3.0, took


def test_sigterm_during_a_rolling_restart_prints_the_summary_then_143(env):
    sb, kc = env
    sb.fault("pause-controller", controller="kubelet", on=True)  # the re-created group never gets Ready
    try:
        proc = _start(kc, "restart", "held", "--all", "--rolling", "-y", "--timeout", "60s")
        rc, err, took = signal_and_wait(proc, signal.SIGTERM, settle=2.0)
    finally:
        sb.fault("pause-controller", controller="kubelet", on=False)
    assert rc == 143, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[-1] == "terminated"
    assert lines[-2].startswith("terminated: restarted and Ready: none; in progress: 1; untouched: 0"), err
    assert took < 3.0, took
