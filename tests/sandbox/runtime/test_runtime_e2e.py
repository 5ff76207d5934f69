"""/usr/bin/kubectl logs / exec against the real Sandbox (core API server + controllers + this runtime)."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cliutil import wait_for
from golden import GOLDEN

from kubectl_lws.sandbox.runtime.logs import LOGS_ANNOTATION

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed")
GOLDEN_ENV = [{"name": "LWS_LEADER_ADDRESS", "value": "basic-0.basic.golden"}, {"name": "LWS_GROUP_SIZE", "value": "4"},
              {"name": "LWS_WORKER_INDEX", "valueFrom": {"fieldRef": {
                  "fieldPath": "metadata.labels['leaderworkerset.sigs.k8s.io/worker-index']"}}},
              {"name": "NCCL_DEBUG", "value": "INFO"}, {"name": "NCCL_SOCKET_IFNAME", "value": "eth0"},
              {"name": "NCCL_IB_DISABLE", "value": "1"}, {"name": "HF_TOKEN", "value": "hf_goldenFAKEtoken1234567890abcdef"}]


def pod_manifest(name: str, container: str = "leader", worker_index: str = "0", annotations: dict | None = None) -> dict:
    return {"metadata": {"name": name, "namespace": "golden",
                         "labels": {"leaderworkerset.sigs.k8s.io/worker-index": worker_index},
                         "annotations": annotations or {}},
            "spec": {"nodeName": "node-1", "hostname": name, "subdomain": "basic",
                     "containers": [{"name": container, "image": "vllm", "env": GOLDEN_ENV}]}}


def wait_running(sb, name: str, timeout: float = 10) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        pod = sb.call(sb.store.get, "pods", "golden", name)
        cs = ((pod or {}).get("status") or {}).get("containerStatuses") or []
        if cs and "running" in (cs[0].get("state") or {}) and pod["status"].get("podIP"):
            return pod
        time.sleep(0.05)
    raise AssertionError(f"pod {name} did not start (is the kubelet emulation installed?)")


@pytest.fixture(scope="module")
def sb(sandbox):
    assert sandbox.runtime is not None, "runtime not installed by Sandbox.start()"
    sandbox.call(sandbox.store.create, "namespaces", {"metadata": {"name": "golden"}})
    for name, c, wi in (("basic-0", "leader", "0"), ("basic-0-1", "worker", "1")):
        sandbox.call(sandbox.store.create, "pods", pod_manifest(name, c, wi))
    for name in ("basic-0", "basic-0-1"):
        wait_running(sandbox, name)
    return sandbox


def kubectl(kubeconfig: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "-n", "golden", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_kubectl_exec_printenv_matches_golden(sb, kubeconfig):
    r = kubectl(kubeconfig, "exec", "basic-0", "--", "printenv")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (GOLDEN / "kubectl/exec-printenv-v8.stdout").read_text()


def test_kubectl_exec_exit_code(sb, kubeconfig):
    r = kubectl(kubeconfig, "exec", "basic-0-1", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout) == (3, "out\n")
    assert r.stderr == "err\ncommand terminated with exit code 3\n"


def test_kubectl_exec_stdin(sb, kubeconfig):
    r = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "-n", "golden", "exec", "-i", "basic-0", "--", "wc", "-c"],
                       input="hello from stdin", capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout.strip()) == (0, "16"), r.stderr


def test_kubectl_logs_tail_and_previous(sb, kubeconfig):
    # the simulated server writes its start-up lines over its first seconds: wait for more than 3
    wait_for(lambda: len(kubectl(kubeconfig, "logs", "basic-0").stdout.splitlines()) > 3)
    r = kubectl(kubeconfig, "logs", "basic-0", "--tail=3")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3
    r = kubectl(kubeconfig, "logs", "basic-0-1", "--previous")
    assert r.returncode == 1
    assert r.stderr.strip() == ('Error from server (BadRequest): previous terminated container "worker" in pod '
                                '"basic-0-1" not found')


def test_kubectl_logs_previous_after_crash(sb, kubeconfig):
    if "crash" not in sb.faults:
        pytest.skip("the controllers' crash fault is not registered")
    sb.fault("crash", pod="basic-0-1", namespace="golden", container="worker", once=True, exit_code=5)
    deadline = time.time() + 10
    while time.time() < deadline:
        pod = sb.call(sb.store.get, "pods", "golden", "basic-0-1")
        if pod["status"]["containerStatuses"][0].get("restartCount", 0) >= 1:
            break
        time.sleep(0.05)
    r = kubectl(kubeconfig, "logs", "basic-0-1", "--previous")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].endswith("engine process exited (exitcode 5)")


def test_kubectl_logs_follow_ends_when_pod_deleted(sb, kubeconfig):
    sb.call(sb.store.create, "pods", pod_manifest("follow-0", annotations={LOGS_ANNOTATION: json.dumps({"rate": 20, "startup": []})}))
    wait_running(sb, "follow-0")
    p = subprocess.Popen([KUBECTL, "--kubeconfig", kubeconfig, "-n", "golden", "logs", "-f", "--tail=2", "follow-0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert p.poll() is None
        sb.call(sb.store.delete, "pods", "golden", "follow-0", grace_seconds=0)
        out, _ = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    assert len(out.splitlines()) >= 2 + 10  # tail 2 + ~20 lines/s while following


def test_pod_dns_inside_netns(sb, kubeconfig):
    if not sb.network.real:
        pytest.skip(f"no real pod network here: {sb.network.why_not_real}")
    ip = sb.call(sb.store.get, "pods", "golden", "basic-0")["status"]["podIP"]
    r = kubectl(kubeconfig, "exec", "basic-0-1", "--", "getent", "hosts", "basic-0.basic.golden.svc.cluster.local")
    assert r.returncode == 0 and r.stdout.split()[0] == ip, r.stderr


LISTEN = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
          "s.bind(('0.0.0.0',7000));s.listen(16);print('listening',flush=True)\n"
          "while True:\n  c,_=s.accept();c.sendall(b'hi');c.close()\n")
CONNECT = ("import socket,sys\ntry:\n  c=socket.create_connection((sys.argv[1],7000),timeout=1.0);print(c.recv(2).decode())\n"
           "except Exception as e:\n  print(type(e).__name__)\n")


def test_tcp_between_pods_and_cut_faults_through_kubectl(sb, kubeconfig):
    assert {"cut-network", "cut-pair"} <= set(sb.faults)
    if not sb.network.real:
        pytest.skip(f"no real pod network here: {sb.network.why_not_real}")
    server = subprocess.Popen([KUBECTL, "--kubeconfig", kubeconfig, "-n", "golden", "exec", "basic-0", "--",
                               "python3", "-c", LISTEN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening"

        def probe() -> str:
            r = kubectl(kubeconfig, "exec", "basic-0-1", "--", "python3", "-c", CONNECT, "basic-0.basic.golden")
            return r.stdout.strip()
        assert probe() == "hi"
        sb.fault("cut-network", pod="basic-0", namespace="golden", on=True)
        assert probe() == "TimeoutError"
        sb.fault("cut-network", pod="basic-0", namespace="golden", on=False)
        sb.fault("cut-pair", pod_a="golden/basic-0", pod_b="golden/basic-0-1", on=True)
        assert probe() == "TimeoutError"
        sb.fault("cut-pair", pod_a="golden/basic-0", pod_b="golden/basic-0-1", on=False)
        assert probe() == "hi"
    finally:
        server.kill()
        server.wait(5)
    # closing kubectl's WebSocket killed the listener inside the pod
    deadline = time.time() + 5
    while sb.runtime._procs and time.time() < deadline:
        time.sleep(0.05)
    assert not sb.runtime._procs


def test_kubectl_logs_by_label_with_prefix(sb, kubeconfig):
    # golden kubectl/logs-all-containers-label-selector: `kubectl logs -l ... --prefix --tail=2`
    r = kubectl(kubeconfig, "logs", "-l", "leaderworkerset.sigs.k8s.io/worker-index=1", "--prefix", "--tail=2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("[pod/basic-0-1/worker] ") for line in lines)
