"""verify runtime model for wide expert-parallel serving (vLLM data/expert parallel, SGLang DP attention) and
for NVIDIA NIM multi-node and TensorRT-LLM: the correct layouts pass, each mistake fails on its own with its
message (fixtures: tests/verify/data/wide_ep, written in the shapes of llm-d's, SGLang's and NVIDIA's)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from kubectl_lws.model import keys, runtimecheck as rc
from runtime_fixtures import build_pods, groups, sample

DATA = Path(__file__).parent / "data" / "wide_ep"


def load(name: str) -> tuple[dict, list[dict]]:
    docs = [d for d in yaml.safe_load_all((DATA / name).read_text()) if d]
    for d in docs:
        d.setdefault("metadata", {}).setdefault("namespace", "default")
    return next(d for d in docs if d["kind"] == "LeaderWorkerSet"), [d for d in docs if d["kind"] == "Service"]


def check(lws: dict, svcs: list[dict] | None = None, group: int = 0) -> list[rc.Finding]:
    view, gs = groups(lws)
    return rc.check_group_static(view, gs[group], svcs or [])


def bad(findings):
    return [f for f in findings if f.status in (rc.WARN, rc.FAIL)]


def edit(lws: dict, old: str, new: str, role: str = "workerTemplate") -> dict:
    """A copy with ``old`` replaced in the main container's script (args, else command)."""
    lws = copy.deepcopy(lws)
    c = lws["spec"]["leaderWorkerTemplate"][role]["spec"]["containers"][0]
    key = "args" if c.get("args") else "command"
    text = c[key][-1]
    assert old in text, old
    c[key][-1] = text.replace(old, new)
    return lws


def split_templates(lws: dict) -> dict:
    """Give the leader its own copy of the worker template (to break one of them)."""
    lws = copy.deepcopy(lws)
    lwt = lws["spec"]["leaderWorkerTemplate"]
    lwt["leaderTemplate"] = copy.deepcopy(lwt["workerTemplate"])
    return lws


def set_env(lws: dict, name: str, value: str | dict, role: str = "workerTemplate") -> dict:
    lws = copy.deepcopy(lws)
    c = lws["spec"]["leaderWorkerTemplate"][role]["spec"]["containers"][0]
    c["env"] = [e for e in c.get("env") or [] if e["name"] != name]
    c["env"].append({"name": name, **({"value": value} if isinstance(value, str) else {"valueFrom": value})})
    return lws


def problems_of(findings, *checks: str) -> list[rc.Finding]:
    """The problems, asserting they are exactly of ``checks`` (each mistake is found on its own)."""
    found = bad(findings)
    assert {f.check for f in found} == set(checks), [(f.check, f.status, f.message) for f in found]
    return found


# ---- vLLM data + expert parallel -------------------------------------------------------------------------

def test_wide_ep_vllm_layout_passes_with_a_row_for_every_check():
    lws, _ = load("vllm-decode.yaml")
    findings = check(lws)
    assert not bad(findings), [(f.check, f.message) for f in bad(findings)]
    checks = [f.check for f in findings]
    for name in ("tp-pp", "dp-size", "dp-mode", "dp-local-gpus", "dp-ranks", "dp-address", "dp-rpc-port",
                 "expert-parallel", "headless", "serving-port", "service"):
        assert name in checks, name
    [tp] = [f for f in findings if f.check == "tp-pp"]
    assert tp.actual == "1 (written $TP_SIZE) x 1 x 16 (written $((LWS_GROUP_SIZE * DP_SIZE_LOCAL))) = 16"
    [ranks] = [f for f in findings if f.check == "dp-ranks"]
    assert ranks.message == "ranks 0-15 partitioned: wide-decode-0 0-7, wide-decode-0-1 8-15"


def test_dp_size_smaller_than_the_ranks_the_pods_claim():  # issue 27, mistake (a)
    lws, _ = load("vllm-decode.yaml")
    lws = edit(lws, "--data-parallel-size $((LWS_GROUP_SIZE * DP_SIZE_LOCAL))", "--data-parallel-size 8")
    found = problems_of(check(lws), "dp-ranks", "tp-pp")
    [ranks] = [f for f in found if f.check == "dp-ranks"]
    assert ranks.status == rc.FAIL and ranks.pod == "wide-decode-0-1"
    assert ranks.message == "pod wide-decode-0-1 claims DP ranks 8-15, --data-parallel-size is 8"
    [tp] = [f for f in found if f.check == "tp-pp"]
    assert tp.status == rc.WARN and "uses 8 of the group's 16 GPUs" in tp.message


def test_no_start_rank_makes_both_pods_claim_the_same_ranks():  # mistake (b)
    lws, _ = load("vllm-decode.yaml")
    lws = edit(lws, "--data-parallel-start-rank $START_RANK", "--trust-remote-code")
    found = problems_of(check(lws), "dp-ranks")
    messages = [f.message for f in found]
    assert "wide-decode-0 and wide-decode-0-1 both claim ranks 0-7 (no --data-parallel-start-rank)" in messages
    assert "DP ranks 8-15 are claimed by no pod: the engines wait for them forever" in messages


def test_dp_local_times_tp_more_than_the_pod_has():  # mistake (c)
    lws, _ = load("vllm-decode.yaml")
    lws = set_env(lws, "TP_SIZE", "2")
    found = problems_of(check(lws), "dp-local-gpus", "tp-pp")
    local = [f for f in found if f.check == "dp-local-gpus"]
    assert {f.pod for f in local} == {"wide-decode-0", "wide-decode-0-1"}
    assert local[0].message == "pod wide-decode-0 runs 8 DP ranks x TP 2 = 16 GPUs, it has 8"
    assert [f.status for f in found if f.check == "tp-pp"] == [rc.FAIL]


def test_rpc_port_address_and_expert_parallel_must_agree():
    lws, _ = load("vllm-decode.yaml")
    broken = edit(split_templates(lws), "--data-parallel-rpc-port 5555", "--data-parallel-rpc-port 5556")
    [f] = problems_of(check(broken), "dp-rpc-port")
    assert "wide-decode-0: 5555" in f.message and "wide-decode-0-1: 5556" in f.message
    broken = edit(split_templates(lws), "--enable-expert-parallel \\\n", "")
    [f] = problems_of(check(broken), "expert-parallel")
    assert f.pod == "wide-decode-0-1" and "not on wide-decode-0-1" in f.message
    broken = edit(split_templates(lws), "${LWS_LEADER_ADDRESS}", "wide-decode-1.wide-decode.default")
    [f] = problems_of(check(broken), "dp-address")
    assert f.pod == "wide-decode-0-1" and f.expected == "wide-decode-0.wide-decode.default"
    broken = edit(lws, "--data-parallel-address ${LWS_LEADER_ADDRESS} \\\n", "")
    found = problems_of(check(broken), "dp-address")
    assert len(found) == 2 and "vLLM uses 127.0.0.1" in found[0].message


def test_internal_load_balancing_needs_headless_workers():
    lws, _ = load("vllm-decode.yaml")
    internal = edit(lws, "--data-parallel-hybrid-lb \\\n", "")
    internal = edit(split_templates(internal), "--trust-remote-code", "--trust-remote-code --headless")
    assert not bad(check(internal)), [(f.check, f.message) for f in bad(check(internal))]
    modes = [f for f in check(internal) if f.check == "dp-mode"]
    assert modes[0].actual == "internal"
    no_headless = edit(lws, "--data-parallel-hybrid-lb \\\n", "")
    found = problems_of(check(no_headless), "dp-mode")  # leader internal (start 0), worker inferred hybrid
    assert "different load-balancing modes" in found[0].message
    both = edit(lws, "--trust-remote-code", "--trust-remote-code --headless")
    found = problems_of(check(both), "dp-mode", "headless")
    assert any("refuses the pair" in f.message for f in found)
    assert any(f.message.startswith("the leader is --headless") for f in found)


def test_value_that_cannot_be_evaluated_is_info_and_the_rest_still_runs():
    lws, _ = load("vllm-decode.yaml")
    lws = set_env(lws, "DP_SIZE_LOCAL", {"configMapKeyRef": {"name": "layout", "key": "dp-local"}})
    findings = check(lws)
    assert not bad(findings)
    info = [f for f in findings if f.status == rc.INFO and f.check in ("tp-pp", "dp-ranks", "dp-size")]
    assert info and all("$((LWS_GROUP_SIZE * DP_SIZE_LOCAL))" in f.message or "DP_SIZE_LOCAL" in f.message
                        for f in info)
    assert "configMapKeyRef layout/dp-local" in info[0].message
    assert {"dp-address", "dp-rpc-port", "expert-parallel"} <= {f.check for f in findings if f.status == rc.PASS}


def test_unknown_dp_flag_is_info_and_ray_backend_is_not_rank_checked():
    lws, _ = load("vllm-decode.yaml")
    odd = edit(lws, "--data-parallel-rpc-port 5555", "--data-parallel-rpc-port 5555 --data-parallel-new-thing 3")
    [info] = [f for f in check(odd) if f.check == "dp-flags"]
    assert info.status == rc.INFO and "--data-parallel-new-thing" in info.message


def test_native_multi_node_flags_with_data_parallel():
    lws, _ = load("vllm-decode.yaml")
    native = edit(lws, "--data-parallel-start-rank $START_RANK", "--nnodes $LWS_GROUP_SIZE --node-rank "
                  "$LWS_WORKER_INDEX --master-addr $LWS_LEADER_ADDRESS")
    findings = check(native)
    assert not bad(findings), [(f.check, f.message) for f in bad(findings)]
    assert {"nnodes", "node-rank", "dist-init-addr"} <= {f.check for f in findings}
    wrong = edit(native, "--node-rank $LWS_WORKER_INDEX", "--node-rank 0")
    assert {f.check for f in bad(check(wrong))} >= {"node-rank", "dp-ranks"}


# ---- SGLang DP attention / expert parallel ---------------------------------------------------------------

def test_sglang_wide_ep_passes():
    lws, _ = load("sglang-decode.yaml")
    findings = check(lws)
    assert not bad(findings), [(f.check, f.message) for f in bad(findings)]
    assert {"tp-pp", "dp-attention", "expert-parallel", "nnodes", "node-rank", "dist-init-addr"} <= \
        {f.check for f in findings}


@pytest.mark.parametrize("old,new,check_name,status,words", [
    ("--dp-size $((LWS_GROUP_SIZE * GPUS_PER_POD))", "--dp-size 6", "dp-attention", rc.FAIL,
     "--tp-size 16 is not a multiple of --dp-size 6"),
    ("--dp-size $((LWS_GROUP_SIZE * GPUS_PER_POD))", "--dp-size 1", "dp-attention", rc.WARN, "turns DP attention off"),
    ("--ep-size $((LWS_GROUP_SIZE * GPUS_PER_POD))", "--ep-size 3", "expert-parallel", rc.FAIL,
     "--ep-size 3 does not divide --tp-size 16"),
    ("--tp-size $((LWS_GROUP_SIZE * GPUS_PER_POD))", "--tp-size 32", "tp-pp", rc.FAIL, "needs 32 GPUs"),
])
def test_sglang_mistakes(old, new, check_name, status, words):
    lws, _ = load("sglang-decode.yaml")
    found = problems_of(check(edit(lws, old, new)), check_name)
    [f] = [f for f in found if f.check == check_name]
    assert f.status == status and words in f.message


def test_sglang_pods_must_agree_on_the_layout():
    lws, _ = load("sglang-decode.yaml")
    broken = edit(split_templates(lws), "--enable-dp-attention \\\n", "")
    found = problems_of(check(broken), "tp-pp")
    assert "disagree on the parallel layout" in found[0].message


# ---- NVIDIA NIM multi-node -------------------------------------------------------------------------------

def test_nim_operator_shape_passes_and_is_recognised_from_its_env():
    lws, svcs = load("nim-operator.yaml")
    findings = check(lws, svcs)
    assert not bad(findings), [(f.check, f.message) for f in bad(findings)]
    assert not [f for f in findings if f.check == "recognise"]
    assert {"nim-role", "nim-nodes", "nim-node-rank", "tp-pp", "nim-gpus-per-node", "nim-env", "mpi",
            "serving-port", "service"} <= {f.check for f in findings}


def test_nim_mistakes():
    lws, svcs = load("nim-operator.yaml")
    found = problems_of(check(set_env(lws, "NIM_LEADER_ROLE", "1"), svcs), "nim-role")
    assert found[0].pod == "nim-llm-0-1" and found[0].expected == "0"
    found = problems_of(check(set_env(lws, "NIM_NUM_COMPUTE_NODES", "3"), svcs), "nim-nodes", "nim-env")
    assert [f.pod for f in found if f.check == "nim-nodes"] == ["nim-llm-0-1"]
    broken = set_env(set_env(lws, "NIM_TENSOR_PARALLEL_SIZE", "16", "leaderTemplate"), "NIM_TENSOR_PARALLEL_SIZE", "16")
    [f] = problems_of(check(broken, svcs), "tp-pp")
    assert f.status == rc.FAIL and f.actual == "16 x 2 = 32"
    found = problems_of(check(set_env(lws, "GPUS_PER_NODE", "4", "leaderTemplate"), svcs), "nim-gpus-per-node")
    assert found[0].pod == "nim-llm-0"


def test_nim_helm_mpi_shape():
    lws, _ = load("nim-mpi.yaml")
    findings = check(lws)
    assert not bad(findings), [(f.check, f.message) for f in bad(findings)]
    [mpi] = [f for f in findings if f.check == "mpi"]
    assert "hostfile-0 (written /etc/mpi/hostfile-${GROUP_INDEX})" in mpi.message
    wrong = edit(lws, "--hostfile /etc/mpi/hostfile-${GROUP_INDEX}", "--hostfile /etc/mpi/hostfile-1", "leaderTemplate")
    found = problems_of(check(wrong), "mpi")
    assert "another group's hostfile" in found[0].message
    wrong = edit(lws, "/usr/sbin/sshd -De", "sleep infinity; echo", "workerTemplate")
    found = problems_of(check(wrong), "mpi")
    assert found[0].pod == "nim-mpi-0-1" and "runs no sshd" in found[0].message
    wrong = edit(lws, '-n "16"', '-n "24"', "leaderTemplate")
    assert problems_of(check(wrong), "tp-pp")[0].message.startswith("needs 24 GPUs")


# ---- TensorRT-LLM ----------------------------------------------------------------------------------------

def trt() -> tuple[dict, list[dict]]:
    return sample("tensorrt-llm/lws.yaml")


def test_tensorrt_llm_example_of_lws_passes():
    lws, svcs = trt()
    findings = check(lws, svcs)
    assert not bad(findings), [(f.check, f.message) for f in bad(findings)]
    assert not [f for f in findings if f.check == "recognise"]
    [key] = [f for f in findings if f.check == "trtllm-group-key"]
    assert key.status == rc.PASS and "(written ${GROUP_KEY})" in key.actual


@pytest.mark.parametrize("old,new,checks,words", [
    ("--gpu_per_node=8", "--gpu_per_node=4", {"trtllm-gpus-per-node", "trtllm-world"}, "the leader waits for 4 pods"),
    ("--pp=8", "--pp=4", {"tp-pp", "trtllm-world"}, "the leader waits for 1 pods"),
    (" --stateful_set_group_key=${GROUP_KEY}", "", {"trtllm-group-key"}, "needs --stateful_set_group_key"),
    ("--stateful_set_group_key=${GROUP_KEY}", "--stateful_set_group_key=abc", {"trtllm-group-key"}, "waits for pods"),
    ("server.py leader", "server.py leader --namespace prod", {"trtllm-namespace"}, "namespace prod"),
])
def test_tensorrt_llm_mistakes(old, new, checks, words):
    lws, svcs = trt()
    found = problems_of(check(edit(lws, old, new, "leaderTemplate"), svcs), *checks)
    assert any(words in f.message for f in found), [f.message for f in found]


def test_tensorrt_llm_worker_must_run_server_py_worker():
    lws, svcs = trt()
    found = problems_of(check(edit(lws, "server.py worker", "server.py leader --gpu_per_node=8", "workerTemplate"),
                              svcs), "trtllm-role")
    assert found[0].pod == "tensorrt-0-1"


def test_trtllm_serve_under_mpirun():
    lws, svcs = trt()
    lt = lws["spec"]["leaderWorkerTemplate"]
    lt["leaderTemplate"]["spec"]["containers"][0]["command"] = [
        "bash", "-c", "mpirun -n 16 --hostfile /etc/hosts.$(LWS_GROUP_SIZE) trtllm-llmapi-launch trtllm-serve "
                      "org/model --tp_size 16 --ep_size 8 --host 0.0.0.0 --port 8000"]
    lt["workerTemplate"]["spec"]["containers"][0]["command"] = ["bash", "-c", "sleep infinity"]
    findings = check(lws, svcs)
    assert not bad(findings), [(f.check, f.message) for f in bad(findings)]
    bad_ep = copy.deepcopy(lws)
    c = bad_ep["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
    c["command"][-1] = c["command"][-1].replace("--ep_size 8", "--ep_size 6").replace(" --host 0.0.0.0", "")
    assert {f.check for f in bad(check(bad_ep, svcs))} == {"expert-parallel", "serving-host"}


def test_group_key_label_is_read_statically_from_the_pod():
    lws, _ = trt()
    view, gs = groups(lws)
    leader = gs[0].leader
    assert leader["metadata"]["labels"][keys.GROUP_KEY_LABEL]
    stack = rc.pod_stack(leader)
    assert stack.env["GROUP_KEY"] == leader["metadata"]["labels"][keys.GROUP_KEY_LABEL]
    assert build_pods(lws)  # the fixture builder gives every pod its group-key label
