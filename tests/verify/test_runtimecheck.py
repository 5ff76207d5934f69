"""verify runtime model: command-line recognition and every static check on the real LWS samples
(vllm GPU/TPU, sglang) and on copies with one thing broken; the live parsers on real output formats."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from kubectl_lws.model import cmdline, runtimecheck as rc
from runtime_fixtures import build_pods, groups, sample, set_command

DATA = Path(__file__).parent / "data"
LEADER_SH = ("bash /vllm-workspace/examples/online_serving/multi-node-serving.sh leader "
             "--ray_cluster_size=$(LWS_GROUP_SIZE); python3 -m vllm.entrypoints.openai.api_server --port 8080 "
             "--model meta-llama/Llama-3.1-405B-Instruct --tensor-parallel-size 8 --pipeline_parallel_size 2")


def check(lws, services=None, group=0):
    view, gs = groups(lws)
    return rc.check_group_static(view, gs[group], services)


def bad(findings, check_name=None):
    return [f for f in findings if f.status in (rc.WARN, rc.FAIL) and (check_name is None or f.check == check_name)]


def only(findings, check_name):
    """The problems: exactly the ones of ``check_name`` (each misconfiguration is found on its own)."""
    problems = bad(findings)
    assert problems and {f.check for f in problems} == {check_name}, [(f.check, f.message) for f in problems]
    return problems


# ---- the samples are right --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["vllm/GPU/lws.yaml", "vllm/TPU/lws.yaml", "sglang/lws.yaml"])
def test_samples_pass(path):
    lws, svcs = sample(path)
    view, gs = groups(lws)
    for g in gs:
        findings = rc.check_group_static(view, g, svcs)
        assert rc.worst(findings) == rc.PASS, [(f.check, f.message) for f in bad(findings)]
        assert {f.check for f in findings} >= {"tp-pp", "serving-port", "service"}


def test_unrecognised_command_is_info_only():
    lws, _ = sample("sample/lws.yaml")
    findings = check(lws)
    assert findings and {f.status for f in findings} == {rc.INFO}
    assert rc.worst(findings) == rc.PASS
    assert {f.template for f in findings} == {"leader", "worker"}
    assert all(rc.NOT_RECOGNISED in f.message for f in findings)


# ---- vLLM + Ray: each misconfiguration on its own ---------------------------------------------------

def vllm_gpu():
    return sample("vllm/GPU/lws.yaml")


def test_wrong_tp_fails_naming_template_flag_and_expected():
    lws, svcs = vllm_gpu()
    set_command(lws, "leader", ["sh", "-c", LEADER_SH.replace("--tensor-parallel-size 8", "--tensor-parallel-size 16")])
    [f] = only(check(lws, svcs), "tp-pp")
    assert f.status == rc.FAIL and f.template == "leader" and f.pod == "vllm-0"
    assert "--tensor-parallel-size" in f.flag and "--pipeline_parallel_size" in f.flag
    assert f.expected == "16 (8 per pod x 2 pods)" and f.actual == "16 x 2 = 32"


def test_fewer_gpus_than_the_group_is_a_warning():
    lws, svcs = vllm_gpu()
    set_command(lws, "leader", ["sh", "-c", LEADER_SH.replace(" --pipeline_parallel_size 2", "")])
    [f] = only(check(lws, svcs), "tp-pp")
    assert f.status == rc.WARN and "idle" in f.message


def test_tpu_and_amd_chips_count():
    lws, svcs = sample("vllm/TPU/lws.yaml")
    lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["command"][2] = \
        lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["command"][2].replace(
            "--tensor-parallel-size=16", "--tensor-parallel-size=8")
    [f] = only(check(lws, svcs), "tp-pp")
    assert f.expected == "16 (4 per pod x 4 pods)" and f.status == rc.WARN
    lws, svcs = vllm_gpu()
    for role in ("leaderTemplate", "workerTemplate"):
        res = lws["spec"]["leaderWorkerTemplate"][role]["spec"]["containers"][0]["resources"]["limits"]
        res["amd.com/gpu"] = res.pop("nvidia.com/gpu")
    assert not bad(check(lws, svcs))


def test_ray_cluster_size_not_the_lws_size():
    lws, svcs = vllm_gpu()
    set_command(lws, "leader", ["sh", "-c", LEADER_SH.replace("$(LWS_GROUP_SIZE)", "3")])
    [f] = only(check(lws, svcs), "ray-cluster-size")
    assert (f.status, f.flag, f.expected, f.actual, f.template) == (rc.FAIL, "--ray_cluster_size", "2", "3", "leader")


def test_script_flag_with_a_space_is_not_read_by_the_script():
    lws, svcs = vllm_gpu()
    set_command(lws, "leader", ["sh", "-c", LEADER_SH.replace("--ray_cluster_size=$(LWS_GROUP_SIZE)",
                                                                "--ray_cluster_size $(LWS_GROUP_SIZE)")])
    [f] = only(check(lws, svcs), "script-flags")
    assert f.expected == "--ray_cluster_size=2" and f.status == rc.FAIL


def test_worker_ray_address_hardcoded_to_group_zero():
    lws, svcs = vllm_gpu()
    set_command(lws, "worker", ["sh", "-c", "bash /vllm-workspace/examples/online_serving/multi-node-serving.sh "
                                            "worker --ray_address=vllm-0.vllm.default"])
    [f] = only(check(lws, svcs, group=1), "ray-address")
    assert (f.status, f.template, f.flag, f.expected, f.actual) == (
        rc.FAIL, "worker", "--ray_address", "vllm-1.vllm.default", "vllm-0.vllm.default")
    [w] = only(check(lws, svcs, group=0), "ray-address")  # right by luck in group 0: still a literal
    assert w.status == rc.WARN and "LWS_LEADER_ADDRESS" in w.message


def test_worker_ray_address_with_a_port_for_the_script():
    lws, svcs = vllm_gpu()
    set_command(lws, "worker", ["sh", "-c", "bash multi-node-serving.sh worker --ray_address=$(LWS_LEADER_ADDRESS):6379"])
    [f] = only(check(lws, svcs), "ray-address")
    assert "6379:6379" in f.message


def test_plain_ray_start_worker_port_and_missing_worker():
    lws, svcs = vllm_gpu()
    set_command(lws, "leader", ["sh", "-c", "ray start --head --port=6380 && vllm serve meta-llama/Llama-3.1-405B-Instruct "
                                            "--port 8080 -tp 8 -pp 2"])
    set_command(lws, "worker", ["sh", "-c", "ray start --address=$LWS_LEADER_ADDRESS:6379 --block"])
    [f] = only(check(lws, svcs), "ray-port")
    assert (f.expected, f.actual, f.template) == ("6380", "6379", "worker")
    set_command(lws, "worker", ["sleep", "infinity"])
    problems = bad(check(lws, svcs))
    assert [p.check for p in problems] == ["ray-address"] and "never joins" in problems[0].message


def test_executor_backend_mp_cannot_span_pods():
    lws, svcs = vllm_gpu()
    set_command(lws, "leader", ["sh", "-c", LEADER_SH + " --distributed-executor-backend=mp"])
    [f] = only(check(lws, svcs), "executor-backend")
    assert (f.expected, f.actual, f.flag) == ("ray", "mp", "--distributed-executor-backend")


def test_vllm_without_ray_over_several_pods():
    lws, svcs = vllm_gpu()
    set_command(lws, "leader", ["vllm", "serve", "m", "--port", "8080", "--tensor-parallel-size", "8", "-pp", "2"])
    set_command(lws, "worker", ["sleep", "infinity"])
    problems = bad(check(lws, svcs))
    assert [p.check for p in problems] == ["executor-backend"]


# ---- sh -c, $(VAR), flag spellings ---------------------------------------------------------------------

def test_var_expansion_forms():
    lws, svcs = vllm_gpu()
    c = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
    c["env"] = [{"name": "TP", "value": "8"}, {"name": "PP", "value": "2"},
                {"name": "ARGS", "value": "--pipeline_parallel_size=$(PP) --port 8080"}]
    # kubelet $(VAR) in exec form: ARGS is one argv item there (no shell); in sh -c it splits
    set_command(lws, "leader", ["bash", "-c", "bash multi-node-serving.sh leader --ray_cluster_size=$(LWS_GROUP_SIZE) "
                                              "&& export PORTX=8080; vllm serve $MODEL --tensor_parallel_size=${TP} "
                                              "$(ARGS)"])
    c["env"].append({"name": "MODEL", "value": "meta-llama/Llama-3.1-405B-Instruct"})
    findings = check(lws, svcs)
    assert not bad(findings), [(f.check, f.message) for f in bad(findings)]
    tp = [f for f in findings if f.check == "tp-pp"][0]
    assert tp.actual == "8 (written ${TP}) x 2 = 16"


def test_unresolved_variable_is_info_naming_the_expression_not_a_guess():
    lws, svcs = vllm_gpu()
    set_command(lws, "leader", ["sh", "-c", LEADER_SH.replace("--tensor-parallel-size 8", "--tensor-parallel-size $TP")])
    findings = check(lws, svcs)
    [f] = [f for f in findings if f.check == "tp-pp"]
    assert f.status == rc.INFO and "$TP" in f.message and "TP is not set in the pod spec" in f.message
    assert not bad(findings) and rc.worst(findings) == rc.PASS  # every other check still runs
    assert {"ray-head", "ray-address", "serving-port", "service"} <= {f.check for f in findings}


def test_image_entrypoint_with_args_only():
    lws, svcs = vllm_gpu()
    c = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
    del c["command"]
    c["args"] = ["meta-llama/x", "--port", "8080", "--tensor-parallel-size", "16"]
    findings = check(lws, svcs)
    assert any(f.check == "tp-pp" and f.status == rc.PASS for f in findings)
    assert any(f.check == "ray-head" and f.status == rc.FAIL for f in findings)  # no Ray head any more


# ---- SGLang -----------------------------------------------------------------------------------------

def sglang_with(role, old, new):
    lws, svcs = sample("sglang/lws.yaml")
    tpl = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate" if role == "leader" else "workerTemplate"]
    cmd = tpl["spec"]["containers"][0]["command"]
    i = cmd.index(old[0])
    if new is None:
        del cmd[i:i + 2]
    else:
        cmd[i:i + 2] = new
    return lws, svcs


def test_sglang_nnodes_not_the_size():
    lws, svcs = sglang_with("worker", ["--nnodes"], ["--nnodes", "3"])
    [f] = only(check(lws, svcs), "nnodes")
    assert (f.template, f.expected, f.actual, f.flag) == ("worker", "2", "3", "--nnodes")


def test_sglang_node_rank_literal_and_missing():
    lws, svcs = sglang_with("worker", ["--node-rank"], ["--node_rank=1"])
    [f] = only(check(lws, svcs), "node-rank")
    assert f.status == rc.WARN and f.template == "worker" and f.flag == "--node_rank"
    lws, svcs = sglang_with("worker", ["--node-rank"], None)
    [f] = only(check(lws, svcs), "node-rank")
    assert f.status == rc.FAIL and f.expected == "1"


def test_sglang_dist_init_addr_not_the_leader():
    lws, svcs = sglang_with("worker", ["--dist-init-addr"], ["--dist-init-addr", "sglang-0.sglang:20000"])
    [f] = only(check(lws, svcs, group=1), "dist-init-addr")
    assert (f.expected, f.template) == ("sglang-1.sglang.default", "worker")
    lws, svcs = sglang_with("worker", ["--dist-init-addr"], ["--dist-init-addr", "$(LWS_LEADER_ADDRESS):20001"])
    [f] = only(check(lws, svcs), "dist-init-addr")
    assert "different rendezvous ports" in f.message


def test_sglang_tp_not_the_gpus():
    lws, svcs = sglang_with("leader", ["--tp"], ["--tp-size", "4"])
    problems = bad(check(lws, svcs))
    assert {p.check for p in problems} == {"tp-pp"}
    assert any(p.flag.startswith("--tp-size") and p.expected == "2 (1 per pod x 2 pods)" for p in problems)


# ---- serving port and Services ---------------------------------------------------------------------

def test_serving_port_not_declared_and_service_target_wrong():
    lws, svcs = vllm_gpu()
    lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8000}]
    [f] = only(check(lws, svcs), "serving-port")
    assert f.status == rc.WARN and f.expected == "8080"
    lws, svcs = vllm_gpu()
    svcs[0]["spec"]["ports"][0]["targetPort"] = 8000
    [f] = only(check(lws, svcs), "service")
    assert f.status == rc.FAIL and "vllm-leader" in f.message and f.actual == "8000"


def test_named_target_port_and_service_selecting_workers():
    lws, svcs = vllm_gpu()
    lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": 8080, "name": "http"}]
    svcs[0]["spec"]["ports"][0]["targetPort"] = "http"
    assert not bad(check(lws, svcs))
    del svcs[0]["spec"]["selector"]["role"]
    [f] = only(check(lws, svcs), "service")
    assert f.status == rc.WARN and f.template == "worker"


# ---- the lexer -----------------------------------------------------------------------------------------

def test_lexer_quotes_comments_separators():
    env = {"A": "x y", "B": None}
    cmds = cmdline.split_script("# start\nFOO=1 echo 'a b' \"c $A\" $A ${C:-dflt} \\\n d && ray start --head # c\n"
                                "exec vllm serve m|| true", env)
    assert [w.value for w in cmds[0]] == ["echo", "a b", "c x y", "x", "y", "dflt", "d"]
    [[echo, b]] = cmdline.split_script("echo ${B:-dflt}", env)  # B has a value at run time: not the default
    assert b.unresolved and b.value == "${B:-dflt}" and "B has no value in the spec" in b.why
    assert [w.value for w in cmds[1]] == ["ray", "start", "--head"]
    assert [w.value for w in cmds[2]] == ["exec", "vllm", "serve", "m"]
    flags, pos = cmdline.parse_flags([cmdline.Word(v, v) for v in
                                      ["--a=1", "--b", "2", "--head", "--c", "-3", "-tp", "4", "pos"]])
    assert {k: f.value for k, f in flags.items()} == {"a": "1", "b": "2", "head": None, "c": "-3", "tp": "4"}
    assert [w.value for w in pos] == ["pos"]
    assert cmdline.split_host_port("[fd00::1]:6379") == ("fd00::1", 6379)


def test_nested_shells_and_wrappers():
    c = {"command": ["/bin/bash", "-lc", "env A=1 nohup bash -c 'ray start --address=$(LWS_LEADER_ADDRESS):6379'"]}
    [cmd] = cmdline.container_commands(c, {"LWS_LEADER_ADDRESS": "x-0.x.ns"})
    launch = rc.recognise(cmd)
    assert launch.kind == "ray-worker" and launch.flags["address"].value == "x-0.x.ns:6379"


# ---- live parsers on the real formats ----------------------------------------------------------------

def test_parse_ray_status_formats():
    v1 = rc.parse_ray_status((DATA / "ray_status_v1.txt").read_text())
    assert (v1.alive, v1.gpus, v1.ips) == (2, 16.0, None)
    v2 = rc.parse_ray_status((DATA / "ray_status_v2.txt").read_text())
    assert (v2.alive, v2.gpus, v2.pending) == (3, 4.0, 2)
    old = rc.parse_ray_status((DATA / "ray_status_legacy.txt").read_text())
    assert (old.alive, old.gpus) == (3, 0.0)
    assert rc.parse_ray_status("ConnectionError: Could not find any running Ray instance.") is None


def test_parse_ray_list_nodes():
    view = rc.parse_ray_list_nodes("2025-11-25 10:00:00,000 WARNING ...\n" + (DATA / "ray_list_nodes.json").read_text())
    assert (view.alive, view.gpus, view.head_ip) == (2, 16.0, "10.244.1.2")
    assert view.ips == ["10.244.1.2", "10.244.1.3"] and view.dead_ips == ["10.244.1.9"]


def live_setup():
    lws, svcs = vllm_gpu()
    lws["spec"]["leaderWorkerTemplate"]["size"] = 3
    view, gs = groups(lws)
    return view, gs[1], rc.group_shape(view, gs[1])


def test_ray_live_names_the_missing_worker():
    view, group, shape = live_setup()
    nodes = [{"node_ip": "10.244.1.2", "state": "ALIVE", "is_head_node": True, "resources_total": {"GPU": 8.0}},
             {"node_ip": "10.244.1.4", "state": "ALIVE", "resources_total": {"GPU": 8.0}},
             {"node_ip": "10.244.1.3", "state": "DEAD", "resources_total": {"GPU": 8.0}}]
    findings = rc.check_ray_live(view, group, shape, rc.parse_ray_list_nodes(json.dumps(nodes)), leader="vllm-1")
    nodes_f = [f for f in findings if f.check == "ray-nodes"][0]
    assert nodes_f.status == rc.FAIL and nodes_f.pod == "vllm-1-1" and nodes_f.template == "worker"
    assert "2/3 nodes alive" in nodes_f.message and "joined, then died: vllm-1-1" in nodes_f.message
    gpus = [f for f in findings if f.check == "ray-gpus"][0]
    assert (gpus.status, gpus.expected, gpus.actual) == (rc.FAIL, "24", "16")


def test_ray_live_with_ray_status_counts_only():
    view, group, shape = live_setup()
    text = (DATA / "ray_status_v1.txt").read_text()
    [f, g] = rc.check_ray_live(view, group, shape, rc.parse_ray_status(text), leader="vllm-1")
    assert f.status == rc.FAIL and "which worker is missing is unknown" in f.message
    assert g.status == rc.FAIL  # 16 of 24
    assert rc.check_ray_live(view, group, shape, None, "timed out", "vllm-1")[0].status == rc.FAIL


def test_http_live_results():
    body = (DATA / "vllm_models.json").read_text()
    ok = rc.check_http_live(0, "l", 8080, [{"path": "/health", "status": 200, "body": "", "ms": 3.2},
                                           {"path": "/v1/models", "status": 200, "body": body, "ms": 5}],
                            "meta-llama/Llama-3.1-405B-Instruct")
    assert [f.status for f in ok] == [rc.PASS, rc.PASS] and "serves meta-llama/Llama-3.1-405B-Instruct" in ok[1].message
    down = rc.check_http_live(0, "l", 8080, [{"path": "/health", "error": "connection refused"},
                                             {"path": "/v1/models", "error": "connection refused"}], None)
    assert {f.status for f in down} == {rc.FAIL} and "nothing listens" in down[0].message
    dead = rc.check_http_live(0, "l", 8080, [{"path": "/health", "status": 503}, {"path": "/v1/models", "status": 200,
                                                                                  "body": body}], "other/model")
    assert dead[0].status == rc.FAIL and "engine dead" in dead[0].message and dead[1].status == rc.WARN


def test_headless_service_of_the_lws_is_not_a_traffic_path():
    lws, svcs = vllm_gpu()
    headless = {"kind": "Service", "metadata": {"name": "vllm", "namespace": "default"},
                "spec": {"clusterIP": "None", "selector": {"leaderworkerset.sigs.k8s.io/name": "vllm"}}}
    assert not bad(check(lws, svcs + [headless]))


def test_vllm_data_parallel_over_pods():
    lws, svcs = vllm_gpu()
    common = ("--port 8080 -tp 8 --data-parallel-size 2 --data-parallel-size-local 1 --data-parallel-rpc-port 13345 "
              "--data-parallel-address")
    set_command(lws, "leader", ["sh", "-c", f"vllm serve m {common} $(LWS_LEADER_ADDRESS)"])
    set_command(lws, "worker", ["sh", "-c", f"vllm serve m {common} $(LWS_LEADER_ADDRESS) --data-parallel-start-rank "
                                            "$(LWS_WORKER_INDEX) --headless"])
    findings = check(lws, svcs)
    assert not bad(findings), [(f.check, f.message) for f in bad(findings)]
    set_command(lws, "worker", ["sh", "-c", f"vllm serve m {common} vllm-9.vllm --data-parallel-start-rank 1 --headless"])
    [f] = only(check(lws, svcs), "dp-address")
    assert f.template == "worker" and f.expected == "vllm-0.vllm.default"


def test_unrecognised_names_what_runs():
    lws, _ = sample("sample/lws.yaml")
    f = check(lws)[0]
    assert f.flag == "command" and f.actual and "vllm serve" in f.expected


def test_ray_live_foreign_node_from_another_group():
    view, group, shape = live_setup()
    nodes = [{"node_ip": ip, "state": "ALIVE", "resources_total": {"GPU": 8.0}}
             for ip in ("10.244.1.2", "10.244.1.3", "10.244.1.4", "10.244.2.3")]
    [f, g] = rc.check_ray_live(view, group, shape, rc.parse_ray_list_nodes(json.dumps(nodes)), leader="vllm-1")
    assert f.status == rc.FAIL and "4/3 nodes alive" in f.message and "10.244.2.3" in f.message
    assert g.status == rc.FAIL and g.actual == "32"


def test_fast_table_layout_is_the_kubectl_table():
    import click

    from kubectl_lws.render.output import table
    from kubectl_lws.render.runtime import HEADERS, _layout
    rows = [["tp-pp", click.style("FAIL", fg="red"), "leader", "vllm-0", "--tp", "16 (8 per pod x 2 pods)", "8", "m"],
            ["ray-address", "PASS", "worker", "", "", "", "", "2/2 ok"]]
    assert _layout(HEADERS, rows) == table(HEADERS, rows).splitlines()


def test_literal_rank_zero_in_a_leader_template_is_right():
    lws, svcs = sglang_with("leader", ["--node-rank"], ["--node-rank", "0"])
    assert not bad(check(lws, svcs))
    # without a leaderTemplate the workers share it: a literal rank is wrong for all but one pod
    lws, svcs = sample("sglang/lws.yaml")
    lwt = lws["spec"]["leaderWorkerTemplate"]
    lwt["workerTemplate"] = lwt.pop("leaderTemplate")
    cmd = lwt["workerTemplate"]["spec"]["containers"][0]["command"]
    cmd[cmd.index("--node-rank") + 1] = "0"
    problems = bad(check(lws, svcs))
    assert [(p.check, p.status, p.template) for p in problems if p.check == "node-rank"] == [
        ("node-rank", rc.WARN, "leader"), ("node-rank", rc.FAIL, "worker")]


def test_every_documented_check_of_the_stack_prints_its_row():
    """vLLM on Ray (the LWS example): each row of docs/verify.md's table for that stack, PASS included."""
    lws, svcs = vllm_gpu()
    findings = check(lws, svcs)
    assert {f.check for f in findings} == {"vllm", "tp-pp", "ray-head", "ray-cluster-size", "ray-address",
                                           "ray-port", "script-flags", "executor-backend", "serving-port", "service"}
    assert {f.status for f in findings} == {rc.PASS}
    lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["command"] = [
        "sh", "-c", "ray start --head --port=6379; vllm serve m --tensor-parallel-size 8 --pipeline-parallel-size 2"]
    lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["command"] = [
        "sh", "-c", "ray start --address=$(LWS_LEADER_ADDRESS):6379 --block"]
    findings = check(lws, [])
    info = {f.check: f.message for f in findings if f.status == rc.INFO}
    assert set(info) == {"ray-cluster-size", "script-flags", "service"}  # not applicable / nothing to check
    assert info["service"] == "not checked: no Service selects the leaders"
    assert [f.status for f in findings if f.check == "ray-port"] == [rc.PASS]
