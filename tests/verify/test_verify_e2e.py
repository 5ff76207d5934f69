"""verify env / verify nccl end to end: the real CLI against the sandbox, with real sockets between
simulated pods (one network namespace per pod; needs root, like the sandbox's own network tests)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cliutil import run_cli, running_processes, signal_and_wait
from conftest import netns_scenario_sandbox
from kubectl_lws import probe
from kubectl_lws.model import keys

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pod network namespaces need root")

NS = "v"
SECRET = "hf_supersecretvalue123"
BINARIES = "sandbox.kubectl-lws.dev/binaries"


def lws(name: str, replicas: int, size: int, *, ifname: str = "eth0", annotations: dict | None = None) -> dict:
    env = [{"name": "NCCL_SOCKET_IFNAME", "value": ifname}, {"name": "NCCL_DEBUG", "value": "INFO"},
           {"name": "HF_TOKEN", "value": SECRET}]
    container = {"name": "main", "image": "example/infer:1", "env": env,
                 "resources": {"limits": {"nvidia.com/gpu": "1"}},
                 "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}]}
    template = {"metadata": {"annotations": annotations or {}},
                "spec": {"containers": [container],
                         "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}]}}
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": size, "workerTemplate": template}}}


SCENARIO = {
    "nodes": [{"name": "n1", "capacity": {"nvidia.com/gpu": "64", "cpu": "64", "pods": "300"}}],
    "namespaces": [NS],
    "objects": [lws("ok", 2, 3), lws("nopy", 1, 2, annotations={BINARIES: "bash,getent"}),
                lws("bare", 1, 2, annotations={BINARIES: "sh"}), lws("badif", 1, 2, ifname="ens9"),
                lws("excl", 1, 2, ifname="^lo,docker"), lws("mixed", 1, 3), lws("cut", 1, 3),
                lws("ctrlc", 1, 3)],
}


@pytest.fixture(scope="module")
def sb():
    with netns_scenario_sandbox(SCENARIO) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def kc(sb, tmp_path_factory) -> str:
    return sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config", namespace=NS)


def cli(kc: str, *args: str):
    return run_cli(list(args), kubeconfig=kc)


def report(kc: str, *args: str) -> tuple[int, dict]:
    res = cli(kc, *args, "-o", "json")
    assert res.stdout.strip(), res.stderr
    return res.exit_code, json.loads(res.stdout)


def findings(rep: dict, *, status: str | None = None, check: str | None = None) -> list[dict]:
    return [f for g in rep["groups"] for f in g["findings"]
            if (status is None or f["status"] == status) and (check is None or f["check"] == check)]


def probe_processes(sb, pods: list[str]) -> list[str]:
    """Probe processes running inside these pods' network namespaces (other test runs may probe too)."""
    inodes = set()
    for name in pods:
        netns = sb.network.netns_of(sb.get("pods", NS, name))
        if netns:
            inodes.add(os.stat(f"/var/run/netns/{netns}").st_ino)
    out = []
    for pid, cmd in running_processes():
        try:
            if probe.MARKER.encode() in cmd and os.stat(f"/proc/{pid}/ns/net").st_ino in inodes:
                out.append(cmd[-1].decode("utf-8", "replace"))
        except OSError:
            continue
    return out


# ---- healthy ----------------------------------------------------------------------------------------

def test_healthy_group_passes_env_static_and_live(kc):
    code, rep = report(kc, "verify", "env", "ok", "--live")
    assert code == 0, findings(rep, status="FAIL")
    assert [g["status"] for g in rep["groups"]] == ["PASS", "PASS"]
    assert len(findings(rep, check="live-env")) == 6  # one per container
    assert rep["summary"]["execs"] == 6


def test_healthy_group_passes_nccl_and_table_output(kc):
    res = cli(kc, "verify", "nccl", "ok")
    assert res.exit_code == 0, res.stdout
    # the summary view: a row per check, every group passing, no per-group table
    assert "GROUP 0" not in res.stdout and any(line.split() == ["connect", "2", "0", "0", "-"]
                                             for line in res.stdout.splitlines())
    assert res.stdout.strip().splitlines()[-1].startswith("PASS: verify nccl v/ok: 2 group(s)")
    res = cli(kc, "verify", "nccl", "ok", "--details")
    assert "GROUP 0  PASS  dns 3/3  interface 3/3  reachability 2/2" in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("PASS: verify nccl v/ok: 2 group(s)")
    code, rep = report(kc, "verify", "nccl", "ok", "--mesh", "-g", "1")
    assert code == 0
    group = rep["groups"][0]
    assert group["reachability"] == {"ok": 6, "total": 6}
    assert group["matrix"]["ok-1-2"] == {"ok-1": "ok", "ok-1-1": "ok", "ok-1-2": "-"}


def test_secret_values_are_masked_unless_asked(kc, sb):
    sb.fault("set-env", pod=f"{NS}/ok-1-1", var="HF_TOKEN", value="hf_otherSECRETvalue")
    try:
        res = cli(kc, "verify", "env", "ok", "--also", "HF_", "--live", "-o", "json")
        assert res.exit_code == 3
        assert SECRET not in res.stdout and "hf_otherSECRETvalue" not in res.stdout
        assert SECRET not in res.stderr and "***" in res.stdout
        table = cli(kc, "verify", "env", "ok", "--also", "HF_")
        assert SECRET not in table.stdout and "hf_otherSECRETvalue" not in table.stdout
        shown = cli(kc, "verify", "env", "ok", "--also", "HF_", "--show-values", "-o", "json")
        assert "hf_otherSECRETvalue" in shown.stdout
    finally:
        sb.fault("set-env", pod=f"{NS}/ok-1-1", var="HF_TOKEN", value=SECRET)


# ---- env failures -----------------------------------------------------------------------------------

def test_mismatched_worker_index_and_mixed_revision_fail(kc, sb):
    sb.fault("set-env", pod=f"{NS}/mixed-0-2", var="LWS_WORKER_INDEX", value="1")
    code, rep = report(kc, "verify", "env", "mixed")
    assert code == 3
    bad = findings(rep, status="FAIL")
    assert [(f["check"], f["pod"], f["expected"], f["actual"]) for f in bad] == \
        [("worker-index", "mixed-0-2", "2", "1")]
    from kubectl_lws.cluster import Cluster
    from kubectl_lws.kubeconfig import ConnectionSettings
    Cluster(ConnectionSettings(kubeconfig=kc)).patch(
        "pods", "mixed-0-1", {"metadata": {"labels": {keys.REVISION_LABEL: "0ther0ne"}}}, namespace=NS)
    code, rep = report(kc, "verify", "env", "mixed")
    rev = findings(rep, check="revision")
    assert code == 3 and rev[0]["status"] == "FAIL" and rev[0]["pod"] == "mixed-0-1"
    assert rev[0]["actual"] == "0ther0ne"


# ---- nccl failures and fallbacks ---------------------------------------------------------------------

def test_wrong_ifname_fails_and_exclusion_syntax_works(kc):
    code, rep = report(kc, "verify", "nccl", "badif")
    assert code == 3
    iface = findings(rep, check="interface")
    assert {f["status"] for f in iface} == {"FAIL"} and len(iface) == 2
    assert "ens9" in iface[0]["message"] and "eth0" in iface[0]["actual"]
    code, rep = report(kc, "verify", "nccl", "excl")
    assert code == 0
    assert {f["actual"].split()[0] for f in findings(rep, check="interface")} == {"eth0"}


def test_cut_worker_times_out_on_exactly_its_pairs(kc, sb):
    sb.fault("cut-network", pod=f"{NS}/cut-0-2")
    try:
        code, rep = report(kc, "verify", "nccl", "cut", "--timeout", "1s")
        assert code == 3
        pairs = {(p["from"], p["to"]): p["result"] for p in rep["groups"][0]["pairs"]}
        assert pairs == {("cut-0-1", "cut-0"): "ok", ("cut-0-2", "cut-0"): "timeout"}
        code, rep = report(kc, "verify", "nccl", "cut", "--timeout", "1s", "--mesh")
        matrix = rep["groups"][0]["matrix"]
        for a in matrix:
            for b in matrix:
                if a != b:
                    want = "timeout" if "cut-0-2" in (a, b) else "ok"
                    assert matrix[a][b] == want, (a, b, matrix)
    finally:
        sb.fault("cut-network", pod=f"{NS}/cut-0-2", on=False)


def test_no_python_falls_back_to_bash_or_says_it_cannot_probe(kc):
    code, rep = report(kc, "verify", "nccl", "nopy", "--no-listener", "--port", "1")
    info = findings(rep, check="probe")
    assert all("bash" in f["message"] for f in info) and len(info) == 2
    assert [(p["from"], p["result"]) for p in rep["groups"][0]["pairs"]] == [("nopy-0-1", "refused")]
    assert {f["status"] for f in findings(rep, check="dns")} == {"PASS"}
    code, rep = report(kc, "verify", "nccl", "nopy")
    assert any(f["check"] == "listener" and f["status"] == "WARN" for f in findings(rep))
    code, rep = report(kc, "verify", "nccl", "bare")
    assert code == 3
    msgs = {f["pod"]: f["message"] for f in findings(rep, check="probe")}
    assert msgs == {"bare-0": "cannot probe: the container has neither python3 nor bash",
                    "bare-0-1": "cannot probe: the container has neither python3 nor bash"}
    res = cli(kc, "verify", "env", "bare", "--live")
    assert "neither python3, bash nor env" in res.stdout


def test_static_only_makes_no_exec_and_mesh_table_keeps_pod_names(kc):
    code, rep = report(kc, "verify", "nccl", "ok", "--static")
    assert code == 0 and rep["summary"]["execs"] == 0
    assert not findings(rep, check="connect")
    res = cli(kc, "verify", "nccl", "ok", "--mesh", "-g", "0")
    assert any(line.split() == ["FROM", "\\", "TO", "ok-0", "ok-0-1", "ok-0-2"] for line in res.stdout.splitlines())


def test_usage_errors(kc):
    res = cli(kc, "verify", "nccl", "ok", "--no-listener")
    assert res.exit_code == 2 and "--port" in res.stderr
    res = cli(kc, "verify", "env", "ok", "-g", "7")
    assert res.exit_code == 2 and "no group 7" in res.stderr
    res = cli(kc, "verify", "env", "nosuch")
    assert res.exit_code == 1 and 'leaderworkerset "nosuch" not found' in res.stderr


def test_ctrl_c_during_a_probe_leaves_no_listener(kc, sb):
    sb.fault("cut-network", pod=f"{NS}/ctrlc-0-2")  # the listener then waits for a worker that never comes
    pods = ["ctrlc-0", "ctrlc-0-1", "ctrlc-0-2"]
    try:
        proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "verify", "nccl", "ctrlc", "--timeout", "20s",
                                 "--kubeconfig", kc], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any('"listen"' in p for p in probe_processes(sb, pods)):
            time.sleep(0.05)
        assert any('"listen"' in p for p in probe_processes(sb, pods)), \
            ("the listener never started", proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=5)  # promptly: every exec session is closed, no thread waits
        assert proc.returncode == 130, (proc.returncode, err)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and probe_processes(sb, pods):
            time.sleep(0.05)
        assert probe_processes(sb, pods) == []
    finally:
        sb.fault("cut-network", pod=f"{NS}/ctrlc-0-2", on=False)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("delay", [0.4, 1.2, 2.5])
def test_signal_at_any_moment_ends_within_3s_and_leaves_nothing_in_the_pods(kc, sb, sig, code, delay):
    """Issue 16 item 12: a cut network, then SIGINT/SIGTERM while exec sessions open, probe or wait."""
    sb.fault("cut-network", pod=f"{NS}/ctrlc-0-2")
    pods = ["ctrlc-0", "ctrlc-0-1", "ctrlc-0-2"]
    try:
        proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "verify", "nccl", "ctrlc", "--timeout", "20s",
                                 "--kubeconfig", kc], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err, took = signal_and_wait(proc, sig, settle=delay)
        assert proc.returncode == code, (proc.returncode, err)
        assert took < 3.0, took
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and probe_processes(sb, pods):
            time.sleep(0.05)
        assert probe_processes(sb, pods) == []
    finally:
        sb.fault("cut-network", pod=f"{NS}/ctrlc-0-2", on=False)
