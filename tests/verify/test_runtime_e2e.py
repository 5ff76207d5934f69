"""verify runtime end to end: the real CLI against the sandbox's `runtime` scenario (vLLM on Ray shaped like
the LWS example) plus a few extra LWS; live checks exec the stand-in `ray` and query the stand-in server
inside each leader's own network namespace (needs root, like the other verify e2e tests)."""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from cliutil import run_cli, running_processes
from conftest import netns_scenario_sandbox
from kubectl_lws import probe
from kubectl_lws.sandbox.scenario import SCENARIO_DIR

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pod network namespaces need root")

NS = "serve"
STACK = "sandbox.kubectl-lws.dev/stack"


def variant(base: dict, name: str, *, leader: dict | None = None, worker: dict | None = None,
            leader_annotations: dict | None = None, command: list[str] | None = None) -> list[dict]:
    """A copy of a scenario LWS (and its Service) under another name with other stand-in knobs."""
    lws = copy.deepcopy(base)
    lws["metadata"]["name"] = name
    lwt = lws["spec"]["leaderWorkerTemplate"]
    lwt["leaderTemplate"]["metadata"]["annotations"][STACK] = json.dumps(leader) if leader else \
        lwt["leaderTemplate"]["metadata"]["annotations"][STACK]
    if worker:
        lwt["workerTemplate"]["metadata"]["annotations"][STACK] = json.dumps(worker)
    lwt["leaderTemplate"]["metadata"]["annotations"].update(leader_annotations or {})
    if command:
        for role in ("leaderTemplate", "workerTemplate"):
            lwt[role]["spec"]["containers"][0]["command"] = command
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-leader", "namespace": NS},
           "spec": {"ports": [{"port": 8080, "targetPort": 8080}],
                    "selector": {"leaderworkerset.sigs.k8s.io/name": name, "role": "leader"}}}
    return [lws, svc]


def scenario() -> dict:
    data = yaml.safe_load((SCENARIO_DIR / "runtime.yaml").read_text())
    good = next(o for o in data["objects"] if o["kind"] == "LeaderWorkerSet" and o["metadata"]["name"] == "good")
    serve = {"port": 8080, "model": "meta-llama/Llama-3.1-8B-Instruct"}
    data["objects"] += variant(good, "slow", leader={"ray": True, "serve": serve, "hang": ["ray", "serve"]},
                               worker={"ray": True, "hang": ["ray"]})
    data["objects"] += variant(good, "ctrlc", leader={"ray": True, "serve": serve, "hang": ["ray", "serve"]})
    data["objects"] += variant(good, "statusonly", leader={"ray": True, "serve": serve, "rayList": False},
                               worker={"ray": True, "neverJoin": True})
    data["objects"] += variant(good, "nopy", leader_annotations={"sandbox.kubectl-lws.dev/binaries": "bash,sh"})
    data["objects"] += variant(good, "plain", command=["sleep", "infinity"])
    data["nodes"] += [{"name": f"extra-{i}", "capacity": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8",
                                                         "pods": "110"}} for i in range(4)]
    return data


@pytest.fixture(scope="module")
def sb():
    with netns_scenario_sandbox(scenario()) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def kc(sb, tmp_path_factory) -> str:
    return sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config", namespace=NS)


def report(kc: str, *args: str) -> tuple[int, dict]:
    res = run_cli(["verify", "runtime", *args, "-o", "json"], kubeconfig=kc)
    assert res.stdout.strip(), res.stderr
    return res.exit_code, json.loads(res.stdout)


def problems(rep: dict) -> list[dict]:
    return [f for g in rep["groups"] for f in g["findings"] if f["status"] in ("WARN", "FAIL")]


def by_check(rep: dict, check: str) -> list[dict]:
    return [f for g in rep["groups"] for f in g["findings"] if f["check"] == check]


# ---- static ----------------------------------------------------------------------------------------

def test_correct_lws_passes_statically_without_exec(kc):
    code, rep = report(kc, "good")
    assert code == 0, problems(rep)
    assert rep["kind"] == "VerifyRuntimeReport" and rep["summary"]["execs"] == 0
    assert [g["status"] for g in rep["groups"]] == ["PASS", "PASS"]
    # sh -c strings with $(VAR) from the injected env: the value, and what was written
    [size] = by_check(rep, "ray-cluster-size")[:1]
    assert size["actual"] == "2 (written $(LWS_GROUP_SIZE))" and size["template"] == "leader"
    addr = by_check(rep, "ray-address")[0]
    assert addr["actual"] == "good-0.good.serve (written $(LWS_LEADER_ADDRESS))" and addr["template"] == "worker"


def test_wrong_tp_fails_statically_on_its_own(kc):
    code, rep = report(kc, "wrongtp")
    assert code == 3
    [f] = problems(rep)
    assert (f["check"], f["template"], f["pod"], f["expected"], f["actual"]) == (
        "tp-pp", "leader", "wrongtp-0", "4 (2 per pod x 2 pods)", "4 x 2 = 8")
    assert f["flag"] == "--tensor-parallel-size x --pipeline_parallel_size"


def test_unrecognised_command_is_info_and_exit_0(kc):
    res = run_cli(["verify", "runtime", "plain"], kubeconfig=kc)
    assert res.exit_code == 0, res.stdout
    assert "not recognised: only static env checks apply" in res.stdout and "INFO" in res.stdout
    assert "2 pods" in res.stdout  # one folded INFO row per group
    res = run_cli(["verify", "runtime", "plain", "-o", "yaml"], kubeconfig=kc)
    assert res.exit_code == 0 and yaml.safe_load(res.stdout)["kind"] == "VerifyRuntimeReport"
    code, rep = report(kc, "plain", "--live")
    assert code == 0 and rep["summary"]["info"] >= 2


def test_usage_errors(kc):
    res = run_cli(["verify", "runtime", "good", "-g", "9"], kubeconfig=kc)
    assert res.exit_code == 2 and "no group 9" in res.stderr
    res = run_cli(["verify", "runtime", "nosuch"], kubeconfig=kc)
    assert res.exit_code == 1 and "not found" in res.stderr


# ---- live ------------------------------------------------------------------------------------------

def test_live_correct_lws(kc):
    code, rep = report(kc, "good", "--live")
    assert code == 0, problems(rep)
    assert rep["summary"]["execs"] == 4  # ray list nodes + one HTTP probe per leader
    [n0, n1] = by_check(rep, "ray-nodes")
    assert n0["status"] == "PASS" and "2/2 nodes alive (ray list nodes)" in n0["message"]
    models = by_check(rep, "models")
    assert all("serves meta-llama/Llama-3.1-8B-Instruct" in m["message"] for m in models)
    assert all(f["status"] == "PASS" for f in by_check(rep, "health"))


def test_live_as_a_user_who_may_not_exec_stops_with_the_403(kc, sb):
    """Issue 25 class 1: the leader exec carries --as; the sandbox refuses pods/exec to a reader."""
    sb.add_token("runtime-reader-token", "runtime-reader",
                 [{"verbs": ["get", "list", "watch"], "resources": ["*"], "apiGroups": ["*"]}])
    res = run_cli(["verify", "runtime", "good", "--live", "--as", "runtime-reader"], kubeconfig=kc)
    assert res.exit_code == 1, res.stdout
    assert 'User "runtime-reader" cannot create resource "pods/exec"' in res.stderr


def test_live_join_failure_names_the_missing_worker(kc):
    code, rep = report(kc, "nojoin", "--live")
    assert code == 3
    [f] = [p for p in problems(rep) if p["check"] == "ray-nodes"]
    assert f["pod"] == "nojoin-0-2" and f["template"] == "worker" and "2/3 nodes alive" in f["message"]
    assert {p["check"] for p in problems(rep)} == {"ray-nodes", "ray-gpus"}  # static checks all pass


def test_live_endpoint_down(kc):
    code, rep = report(kc, "down", "--live")
    assert code == 3
    assert {p["check"] for p in problems(rep)} == {"health", "models"}
    assert all("connection refused" in p["message"] for p in problems(rep))


def test_live_ray_status_fallback_and_bash_http_probe(kc):
    code, rep = report(kc, "statusonly", "--live", "-g", "0")
    [f] = [p for p in problems(rep) if p["check"] == "ray-nodes"]
    assert "1/2 nodes alive (ray status)" in f["message"] and "unknown" in f["message"]
    code, rep = report(kc, "nopy", "--live")  # no python3 in the leader: HTTP over bash /dev/tcp
    assert code == 0, problems(rep)
    assert by_check(rep, "models")[0]["actual"] == "meta-llama/Llama-3.1-8B-Instruct"


def test_live_timeouts(kc):
    started = time.monotonic()
    code, rep = report(kc, "slow", "--live", "--timeout", "2s", "-g", "1")
    took = time.monotonic() - started
    assert code == 3
    [ray] = by_check(rep, "ray-nodes")
    assert ray["status"] == "FAIL" and "did not answer in 2s" in ray["message"]
    assert all(f["status"] == "FAIL" and "timeout" in f["message"] for f in by_check(rep, "health"))
    assert took < 20, took


def standin_processes() -> list[str]:
    """Command lines of running stand-in `ray` calls (they name the pod's state file, so its uid) and of
    our HTTP probes."""
    texts = (b" ".join(cmd).decode("utf-8", "replace") for _, cmd in running_processes())
    return [text for text in texts if "standins/ray.py" in text or probe.MARKER in text]


def test_ctrl_c_leaves_nothing_running(kc, sb):
    uid = sb.get("pods", NS, "ctrlc-0")["metadata"]["uid"]
    before = [p for p in standin_processes() if uid in p]
    assert before == []
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "verify", "runtime", "ctrlc", "--live",
                             "--timeout", "30s", "--kubeconfig", kc], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not [p for p in standin_processes() if uid in p]:
        time.sleep(0.05)
    assert [p for p in standin_processes() if uid in p], ("the ray probe never started", proc.poll())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 130, (proc.returncode, err)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and [p for p in standin_processes() if uid in p]:
        time.sleep(0.05)
    assert [p for p in standin_processes() if uid in p] == []


def test_port_override_probes_an_unrecognised_server(kc):
    # `plain` runs `sleep infinity` (not recognised), but its leader does serve on 8080
    code, rep = report(kc, "plain", "--live", "--port", "8080", "-g", "0")
    assert code == 0, problems(rep)
    assert [f["status"] for f in by_check(rep, "health")] == ["PASS"]
    assert by_check(rep, "models")[0]["actual"] == "meta-llama/Llama-3.1-8B-Instruct"
