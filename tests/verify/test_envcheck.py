"""verify env model on the golden pod dumps (real LWS webhook output) and on tampered copies."""
from __future__ import annotations

import copy
import json

import pytest

from golden import GOLDEN
from kubectl_lws.model import envcheck, keys
from kubectl_lws.model.groups import group_pods, lws_view


def load(name: str) -> tuple:
    lws = json.loads((GOLDEN / "objects" / name / "leaderworkerset.json").read_text())
    pods = json.loads((GOLDEN / "objects" / name / "pods.json").read_text())["items"]
    return lws_view(lws), pods


def groups_of(view, pods):
    return group_pods(pods, view.replicas)


def statuses(findings, check=None):
    return {f.status for f in findings if check is None or f.check == check}


@pytest.mark.parametrize("name", ["basic", "uniq", "subg", "single", "excl"])
def test_golden_groups_pass(name):
    view, pods = load(name)
    for group in groups_of(view, pods):
        findings = envcheck.check_group(view, group)
        assert envcheck.worst(findings) == envcheck.PASS, [f for f in findings if f.status != "PASS"]


def test_unique_per_replica_address_uses_group_subdomain():
    view, pods = load("uniq")
    group = groups_of(view, pods)[1]
    addr = [f for f in envcheck.check_group(view, group) if f.check == "leader-address"]
    assert {f.expected for f in addr} == {"uniq-1.uniq-1.golden"}
    # A pod whose address uses the Shared form fails under UniquePerReplica.
    pods2 = copy.deepcopy(pods)
    worker = next(p for p in pods2 if p["metadata"]["name"] == "uniq-1-1")
    worker["spec"]["containers"][0]["env"][0]["value"] = "uniq-1.uniq.golden"
    bad = [f for f in envcheck.check_group(view, groups_of(view, pods2)[1]) if f.status == "FAIL"]
    assert [(f.check, f.pod, f.actual) for f in bad] == [("leader-address", "uniq-1-1", "uniq-1.uniq.golden")]


def test_wrong_worker_index_and_missing_size_fail_with_pod_and_container():
    view, pods = load("basic")
    pods = copy.deepcopy(pods)
    pod = next(p for p in pods if p["metadata"]["name"] == "basic-2-3")
    env = pod["spec"]["containers"][0]["env"]
    next(e for e in env if e["name"] == keys.ENV_WORKER_INDEX)["value"] = "1"
    env[:] = [e for e in env if e["name"] != keys.ENV_GROUP_SIZE]
    findings = envcheck.check_group(view, groups_of(view, pods)[2])
    bad = {(f.check, f.pod, f.container, f.expected, f.actual) for f in findings if f.status == "FAIL"}
    assert bad == {("worker-index", "basic-2-3", "worker", "3", "1"),
                   ("group-size", "basic-2-3", "worker", "4", "<missing>")}


def test_mixed_revisions_and_group_keys_flag_the_odd_pod():
    view, pods = load("basic")
    pods = copy.deepcopy(pods)
    pod = next(p for p in pods if p["metadata"]["name"] == "basic-0-2")
    pod["metadata"]["labels"][keys.REVISION_LABEL] = "deadbeef99"
    pod["metadata"]["labels"][keys.GROUP_KEY_LABEL] = "0" * 40
    findings = envcheck.check_group(view, groups_of(view, pods)[0])
    rev = [f for f in findings if f.check == "revision"]
    assert [(f.status, f.pod, f.actual) for f in rev] == [("FAIL", "basic-0-2", "deadbeef99")]
    assert any(f.check == "group-key" and f.status == "FAIL" and f.pod == "basic-0-2" for f in findings)


def test_golden_group_key_is_sha1_of_namespace_and_leader():
    view, pods = load("basic")
    leader = next(p for p in pods if p["metadata"]["name"] == "basic-1")
    assert leader["metadata"]["labels"][keys.GROUP_KEY_LABEL] == envcheck.expected_group_key("golden", "basic-1")


def test_runtime_env_difference_names_pods_and_masks_secrets():
    view, pods = load("basic")
    pods = copy.deepcopy(pods)
    pod = next(p for p in pods if p["metadata"]["name"] == "basic-1-1")
    for e in pod["spec"]["containers"][0]["env"]:
        if e["name"] == "NCCL_SOCKET_IFNAME":
            e["value"] = "ens5"
    pod["spec"]["containers"][0]["env"].append({"name": "MASTER_TOKEN", "value": "s3cr3t-value"})
    findings = envcheck.check_group(view, groups_of(view, pods)[1])
    bad = {f.variable: f for f in findings if f.check == "runtime-env" and f.status == "FAIL"}
    warn = {f.variable: f for f in findings if f.check == "runtime-env" and f.status == "WARN"}
    assert set(bad) == {"NCCL_SOCKET_IFNAME"} and set(warn) == {"MASTER_TOKEN"}  # only the interface must agree
    assert "It must agree: the interface NCCL bootstraps" in bad["NCCL_SOCKET_IFNAME"].message
    assert "basic-1-1: <missing>" not in warn["MASTER_TOKEN"].message and "***" in warn["MASTER_TOKEN"].message
    assert bad["NCCL_SOCKET_IFNAME"].pod == "basic-1-1"
    assert bad["NCCL_SOCKET_IFNAME"].to_dict()["actual"] == "ens5"
    masked = json.dumps([f.to_dict() for f in findings])
    assert "s3cr3t-value" not in masked
    assert "s3cr3t-value" in json.dumps([f.to_dict(show_values=True) for f in findings])


def test_also_prefix_and_valuefrom_compare_by_reference():
    view, pods = load("basic")
    pods = copy.deepcopy(pods)
    for p in pods:
        if p["metadata"]["labels"][keys.GROUP_INDEX_LABEL] == "0":
            p["spec"]["containers"][0]["env"].append(
                {"name": "VLLM_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    group = groups_of(view, pods)[0]
    assert envcheck.worst(envcheck.check_group(view, group)) == "PASS"
    # HF_TOKEN is identical everywhere; --also HF_ includes it and still passes, values masked
    findings = envcheck.check_group(view, group, also_prefixes=("HF_",))
    assert envcheck.worst(findings) == "PASS"
    assert "hf_golden" not in json.dumps([f.to_dict() for f in findings])


def test_secret_names():
    for name in ("HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "X_PASSWD", "GCP_CREDENTIALS", "AUTH_HEADER"):
        assert envcheck.is_secret_name(name)
    assert not envcheck.is_secret_name("NCCL_SOCKET_IFNAME")
    env = envcheck.spec_env({"env": [{"name": "PLAIN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]})
    assert env["PLAIN"].secret and env["PLAIN"].canonical == "<secretKeyRef:s/k>"


# ---- TPU -------------------------------------------------------------------------------------------

def tpu_pod(name, wi, *, subdomain="tpu", containers=1, leader_tpu=True, annotations=None, labels=None):
    conts = [{"name": f"c{i}", "resources": {"limits": {"google.com/tpu": "4"}}, "env": []} for i in range(containers)]
    ann = {keys.SIZE_ANNOTATION: "3", **(annotations or {})}
    if wi and leader_tpu:
        ann[keys.LEADER_REQUESTS_TPUS_ANNOTATION] = "true"
    return {"metadata": {"name": name, "namespace": "ns", "annotations": ann,
                         "labels": {keys.GROUP_INDEX_LABEL: "0", keys.WORKER_INDEX_LABEL: str(wi), **(labels or {})}},
            "spec": {"subdomain": subdomain, "containers": conts}}


def tpu_view():
    return lws_view({"metadata": {"name": "tpu", "namespace": "ns"},
                     "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 3, "workerTemplate": {}}}})


def test_tpu_expectations_follow_lws():
    view = tpu_view()
    env = envcheck.expected_tpu_env(tpu_pod("tpu-0-2", 2), view, True)["c0"]
    assert env == {"TPU_WORKER_HOSTNAMES": "tpu-0.tpu,tpu-0-1.tpu,tpu-0-2.tpu", "TPU_WORKER_ID": "2",
                   "TPU_NAME": "tpu-0",
                   "TPU_PROCESS_ADDRESSES": "tpu-0.tpu:8476,tpu-0-1.tpu:8476,tpu-0-2.tpu:8476",
                   "TPU_PROCESS_PORT": "8476"}
    # leader without TPUs: hosts are workers only, ids shift by one
    env = envcheck.expected_tpu_env(tpu_pod("tpu-0-1", 1, leader_tpu=False), view, False)["c0"]
    assert env["TPU_WORKER_HOSTNAMES"] == "tpu-0-1.tpu,tpu-0-2.tpu" and env["TPU_WORKER_ID"] == "0"
    # two TPU containers: hosts repeated, ids interleaved, one port per container
    two = envcheck.expected_tpu_env(tpu_pod("tpu-0-1", 1, containers=2), view, True)
    assert two["c1"]["TPU_WORKER_ID"] == "3"
    assert two["c0"]["TPU_WORKER_HOSTNAMES"].split(",")[:2] == ["tpu-0.tpu", "tpu-0.tpu"]
    assert two["c1"]["TPU_PROCESS_ADDRESSES"].split(",")[:2] == ["tpu-0.tpu:8476", "tpu-0.tpu:8477"]
    assert two["c1"]["TPU_PROCESS_PORT"] == "8477"


def test_tpu_subgroup_scope():
    view = tpu_view()
    sub = {keys.SUBGROUP_SIZE_ANNOTATION: "2"}
    pod = tpu_pod("tpu-0-2", 2, annotations=sub, labels={keys.SUBGROUP_INDEX_LABEL: "1"})
    env = envcheck.expected_tpu_env(pod, view, True)["c0"]
    assert env["TPU_WORKER_HOSTNAMES"] == "tpu-0-2.tpu,tpu-0-3.tpu" and env["TPU_WORKER_ID"] == "0"


def test_tpu_check_flags_wrong_id():
    from kubectl_lws.model.groups import Group
    view = tpu_view()
    pods = []
    for wi, name in enumerate(["tpu-0", "tpu-0-1", "tpu-0-2"]):
        pod = tpu_pod(name, wi)
        for cname, env in envcheck.expected_tpu_env(pod, view, True).items():
            pod["spec"]["containers"][0]["env"] = [{"name": k, "value": v} for k, v in env.items()]
        pods.append(pod)
    group = Group(0, pods)
    assert envcheck.worst(envcheck.check_tpu(view, group)) == "PASS"
    next(e for e in pods[2]["spec"]["containers"][0]["env"] if e["name"] == "TPU_WORKER_ID")["value"] = "1"
    bad = [f for f in envcheck.check_tpu(view, group) if f.status == "FAIL"]
    assert [(f.pod, f.variable, f.expected, f.actual) for f in bad] == [("tpu-0-2", "TPU_WORKER_ID", "2", "1")]


# ---- live ------------------------------------------------------------------------------------------

def test_live_env_comparison():
    view, pods = load("basic")
    pod = next(p for p in pods if p["metadata"]["name"] == "basic-0-1")
    container = pod["spec"]["containers"][0]
    live = {"LWS_LEADER_ADDRESS": "basic-0.basic.golden", "LWS_GROUP_SIZE": "4", "LWS_WORKER_INDEX": "1",
            "NCCL_DEBUG": "INFO", "NCCL_SOCKET_IFNAME": "eth0", "NCCL_IB_DISABLE": "1",
            "HF_TOKEN": "hf_goldenFAKEtoken1234567890abcdef"}
    ok = envcheck.check_live_container(view, pod, container, live, 0, "exec")
    assert envcheck.worst(ok) == "PASS"
    live2 = {**live, "LWS_WORKER_INDEX": "7", "HF_TOKEN": "changed-by-entrypoint"}
    del live2["NCCL_SOCKET_IFNAME"]
    bad = {f.variable: f for f in envcheck.check_live_container(view, pod, container, live2, 0, "pid1")}
    assert set(bad) == {"LWS_WORKER_INDEX", "NCCL_SOCKET_IFNAME", "HF_TOKEN"}
    assert bad["HF_TOKEN"].to_dict()["actual"] == "***"
    assert envcheck.parse_environ("A=1\0B=x=y\0") == {"A": "1", "B": "x=y"}


def test_per_rank_knobs_warn_and_only_collective_settings_fail():
    """SGLang's prefill/decode LWS example sets two per-rank knobs on the workers only: WARN, not FAIL."""
    from pathlib import Path

    import yaml

    from runtime_fixtures import groups as build_groups

    lws = yaml.safe_load((Path(__file__).parent / "data" / "wide_ep" / "sglang-pd-prefill.yaml").read_text())
    lws["metadata"]["namespace"] = "default"
    view, gs = build_groups(lws)
    findings = [f for f in envcheck.check_group(view, gs[0]) if f.check == "runtime-env"]
    assert envcheck.worst(findings) == "WARN", [(f.check, f.status, f.message) for f in findings if f.status != "PASS"]
    warned = {f.variable: f for f in findings if f.status == "WARN"}
    assert set(warned) == {"SGLANG_MOONCAKE_TRANS_THREAD", "SGLANG_CHUNKED_PREFIX_CACHE_THRESHOLD"}
    assert "pd-prefill-0: <missing>; pd-prefill-0-1: 8" in warned["SGLANG_MOONCAKE_TRANS_THREAD"].message
    # what must agree for the collectives to form fails, with the reason
    for name in ("MASTER_ADDR", "NCCL_SOCKET_IFNAME", "VLLM_ALL2ALL_BACKEND", "NVSHMEM_REMOTE_TRANSPORT"):
        assert envcheck.MUST_AGREE[name]
    pods = copy.deepcopy(gs[0].pods)
    pods[1]["spec"]["containers"][0]["env"].append({"name": "NVSHMEM_REMOTE_TRANSPORT", "value": "ibrc"})
    pods[0]["spec"]["containers"][0]["env"].append({"name": "NVSHMEM_REMOTE_TRANSPORT", "value": "ibgda"})
    [f] = [f for f in envcheck.check_group(view, groups_of(view, pods)[0])
           if f.status == "FAIL" and f.check == "runtime-env"]
    assert f.variable == "NVSHMEM_REMOTE_TRANSPORT" and "DeepEP" in f.message
    # --also PREFIX asks for equality: a difference there fails
    findings = envcheck.check_group(view, gs[0], also_prefixes=("SGLANG_MOONCAKE",))
    assert {f.variable for f in findings if f.status == "FAIL" and f.check == "runtime-env"} == \
        {"SGLANG_MOONCAKE_TRANS_THREAD"}


def test_every_check_has_its_row():
    view, pods = load("basic")
    checks = {f.check for f in envcheck.check_group(view, groups_of(view, pods)[0])}
    assert checks == {"leader-address", "subdomain", "group-size", "worker-index", "group-index", "group-key",
                      "revision", "pods", "tpu", "runtime-env"}
