"""Wide expert-parallel serving end to end: the real CLI against the sandbox. `verify runtime` passes the
layouts of the correct vLLM, SGLang, NIM and TensorRT-LLM LWS and fails each mistake with its message (exit
3); `verify env` does not fail SGLang's prefill/decode example; `verify env --live` reads the env of a native
sidecar (the llm-d routing proxy), which the sandbox's kubelet keeps running."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import yaml

from cliutil import run_cli
from conftest import netns_scenario_sandbox
from runtime_fixtures import SAMPLES

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pod network namespaces need root")

NS = "wide"
DATA = Path(__file__).parent / "data" / "wide_ep"


def docs(path: Path) -> list[dict]:
    out = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for d in out:
        d.setdefault("metadata", {})["namespace"] = NS
    return out


def variant(lws: dict, name: str, old: str, new: str) -> dict:
    """A copy of an LWS under another name with one mistake in its script."""
    lws = copy.deepcopy(lws)
    lws["metadata"]["name"] = name
    c = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
    assert old in c["args"][0]
    c["args"][0] = c["args"][0].replace(old, new)
    return lws


def scenario() -> dict:
    vllm = docs(DATA / "vllm-decode.yaml")[0]
    objects = [vllm,
               variant(vllm, "dp-too-small", "--data-parallel-size $((LWS_GROUP_SIZE * DP_SIZE_LOCAL))",
                       "--data-parallel-size 8"),
               variant(vllm, "no-start-rank", "--data-parallel-start-rank $START_RANK", "--disable-log-stats"),
               variant(vllm, "tp-too-big", "--tensor-parallel-size $TP_SIZE", "--tensor-parallel-size 2")]
    for name in ("sglang-decode.yaml", "sglang-pd-prefill.yaml", "nim-operator.yaml", "nim-mpi.yaml"):
        objects += docs(DATA / name)
    objects += docs(SAMPLES / "tensorrt-llm" / "lws.yaml")  # in "wide": server.py looks in "default"
    for d in docs(SAMPLES / "tensorrt-llm" / "lws.yaml"):  # as the example runs it: in "default"
        d["metadata"]["namespace"] = "default"
        objects.append(d)
    nodes = [{"name": f"gpu-{i}", "capacity": {"cpu": "128", "memory": "2Ti", "nvidia.com/gpu": "8", "pods": "110"}}
             for i in range(24)]
    return {"nodes": nodes, "namespaces": [NS, "default"], "objects": objects}


@pytest.fixture(scope="module")
def kc(tmp_path_factory) -> str:
    with netns_scenario_sandbox(scenario()) as sb:
        yield sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config", namespace=NS)


def runtime(kc: str, name: str, *args: str) -> tuple[int, dict]:
    res = run_cli(["verify", "runtime", name, "-o", "json", *args], kubeconfig=kc)
    assert res.stdout.strip(), res.stderr
    return res.exit_code, json.loads(res.stdout)


def findings(rep: dict, status: str | None = None) -> list[dict]:
    return [f for g in rep["groups"] for f in g["findings"] if status is None or f["status"] == status]


@pytest.mark.parametrize("name,checks", [
    ("wide-decode", {"tp-pp", "dp-size", "dp-mode", "dp-local-gpus", "dp-ranks", "dp-address", "dp-rpc-port",
                     "expert-parallel", "headless", "serving-port"}),
    ("sgl-decode", {"tp-pp", "dp-attention", "expert-parallel", "nnodes", "node-rank", "dist-init-addr"}),
    ("pd-prefill", {"tp-pp", "dp-attention", "expert-parallel", "nnodes", "node-rank", "dist-init-addr"}),
    ("nim-llm", {"nim-role", "nim-nodes", "nim-node-rank", "tp-pp", "nim-gpus-per-node", "nim-env", "service"}),
    ("nim-mpi", {"nim-nodes", "tp-pp", "mpi", "serving-port"}),
    ("-n default tensorrt", {"tp-pp", "trtllm-gpus-per-node", "trtllm-world", "trtllm-group-key",
                             "trtllm-namespace", "trtllm-role", "trtllm-model-repo", "service"}),
])
def test_correct_layouts_pass_with_a_row_per_check(kc, name, checks):
    *args, lws = name.split()
    code, rep = runtime(kc, lws, *args)
    assert code == 0, [(f["check"], f["status"], f["message"]) for f in findings(rep) if f["status"] != "PASS"]
    passed = {f["check"] for f in findings(rep, "PASS")}
    assert checks <= passed, checks - passed
    assert not [f for f in findings(rep) if f["check"] == "recognise"]


@pytest.mark.parametrize("name,check,message", [
    ("dp-too-small", "dp-ranks", "pod dp-too-small-0-1 claims DP ranks 8-15, --data-parallel-size is 8"),
    ("no-start-rank", "dp-ranks", "no-start-rank-0 and no-start-rank-0-1 both claim ranks 0-7 "
                                  "(no --data-parallel-start-rank)"),
    ("tp-too-big", "dp-local-gpus", "pod tp-too-big-0 runs 8 DP ranks x TP 2 = 16 GPUs, it has 8"),
    ("tensorrt", "trtllm-namespace", "the leader lists its workers in namespace default, the pods are in wide"),
])
def test_each_mistake_fails_with_its_message(kc, name, check, message):
    code, rep = runtime(kc, name)
    assert code == 3
    assert any(f["check"] == check and f["status"] == "FAIL" and f["message"].startswith(message)
               for f in findings(rep)), [(f["check"], f["message"]) for f in findings(rep, "FAIL")]
    table = run_cli(["verify", "runtime", name], kubeconfig=kc)
    assert table.exit_code == 3 and check in table.stdout and "FAIL" in table.stdout


def test_verify_env_warns_about_per_rank_knobs_and_passes(kc):
    res = run_cli(["verify", "env", "pd-prefill", "-o", "json"], kubeconfig=kc)
    assert res.exit_code == 0, res.stdout
    rep = json.loads(res.stdout)
    warned = {f.get("variable") for f in findings(rep, "WARN") if f["check"] == "runtime-env"}
    assert warned == {"SGLANG_MOONCAKE_TRANS_THREAD", "SGLANG_CHUNKED_PREFIX_CACHE_THRESHOLD"}
    assert not findings(rep, "FAIL")


def test_verify_env_live_reads_the_native_sidecar(kc):
    res = run_cli(["verify", "env", "wide-decode", "--live", "-o", "json"], kubeconfig=kc)
    rep = json.loads(res.stdout)
    live = [f for f in findings(rep) if f["check"] == "live-env" and f.get("container") == "routing-proxy"]
    assert {f["pod"] for f in live} == {"wide-decode-0", "wide-decode-0-1"}, live
    assert all(f["status"] == "PASS" for f in live), live
    assert not [f for f in findings(rep) if "is finished" in f["message"]]
    assert res.exit_code == 0, [(f["check"], f["message"]) for f in findings(rep, "FAIL")]
