"""``kubectl lws list`` / ``status`` end to end: the real CLI against the sandbox over HTTP.

The ``demo`` scenario gives one LWS per state (healthy, crash loop, canary, leader-only, an
unschedulable exclusive group); tests that change things use their own small LWS and namespace.
"""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import unquote_plus

import pytest

from cliutil import requests_made, run_cli, sandbox_http, wait_for

LWS_API = "/apis/leaderworkerset.x-k8s.io/v1"


http = sandbox_http  # test set-up only


def small_lws(name: str, ns: str, replicas: int = 2, size: int = 2, **spec) -> dict:
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": size, "workerTemplate": {"spec": {
                "containers": [{"name": "main", "image": "ghcr.io/example/app:1",
                                "resources": {"requests": {"cpu": "100m"}}}]}}}, **spec}}


@pytest.fixture(scope="module")
def demo(sandbox, tmp_path_factory):
    sandbox.load_scenario("demo")
    sandbox.wait_settled(60)
    path = tmp_path_factory.mktemp("kc") / "kubeconfig.yaml"
    return sandbox.write_kubeconfig(path, namespace="demo")






def state_of(kc: str, name: str, *extra: str) -> dict:
    r = run_cli(["status", name, "-o", "json", *extra], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


# ---- list ------------------------------------------------------------------------------------------

def test_list_states_and_what_it_reads(sandbox, demo):
    r, reqs = requests_made(sandbox, lambda: run_cli(["list"], kubeconfig=demo))
    assert r.exit_code == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert r.stdout.splitlines()[0].split()[:3] == ["NAME", "GROUPS", "SIZE"]
    assert rows["healthy"][1] == "3/3" and "Healthy" in rows["healthy"]
    assert rows["crashy"][1] == "1/2" and "Degraded" in rows["crashy"]
    assert rows["canary"][3] == "1/3" and "Canary" in rows["canary"]
    assert "Healthy" in rows["solo"]
    # every LWS is minutes old, so none is settled by its status: all their pods (one LIST), the
    # nodes those run on, and the events status would read (groups young or not Ready)
    assert [p for _, p, _ in reqs] == [f"{LWS_API}/namespaces/demo/leaderworkersets", "/api/v1/namespaces/demo/pods",
                                       "/api/v1/nodes", "/api/v1/namespaces/demo/events"]
    assert "labelSelector=leaderworkerset.sigs.k8s.io/name&" in unquote_plus(reqs[1][2])
    assert "labelSelector=kubernetes.io/hostname in (gpu-" in unquote_plus(reqs[2][2])
    assert "reason!=Scheduled" in unquote_plus(reqs[3][2])


def test_list_trusts_a_settled_status_and_reads_only_the_others(sandbox, demo):
    ns = "st-fleet"
    sandbox.ensure_namespace(ns)
    for name in ("calm", "calm-2", "sick"):
        http(sandbox, "POST", f"{LWS_API}/namespaces/{ns}/leaderworkersets", small_lws(name, ns, 2, 2))
    wait_for(lambda: all(state_of(demo, n, "-n", ns)["state"] == "Healthy" for n in ("calm", "calm-2", "sick")), 30)
    sandbox.fault("age", namespace=ns, seconds=3600)  # settled for an hour
    r, reqs = requests_made(sandbox, lambda: run_cli(["list", "-n", ns, "-o", "json"], kubeconfig=demo))
    assert r.exit_code == 0 and len(reqs) == 1, reqs  # the LWS LIST: their status says enough
    items = {i["name"]: i for i in json.loads(r.stdout)["items"]}
    assert {i["state"] for i in items.values()} == {"Healthy"} and {i["source"] for i in items.values()} == {"lws-status"}
    assert items["calm"]["reason"] == state_of(demo, "calm", "-n", ns)["reason"] == "2/2 groups ready"
    assert items["calm"]["recreationLoops"] is None  # events not read: not known, not zero
    sandbox.fault("crash", pod=f"{ns}/sick-1-1")
    wait_for(lambda: state_of(demo, "sick", "-n", ns)["state"] != "Healthy", 30)
    wait_for(lambda: sandbox.store.get("leaderworkersets.leaderworkerset.x-k8s.io", ns, "sick")["status"]
             .get("readyReplicas") != 2, 30)
    # a crash loop flips the pod between Ready and not: hold the kubelet so list and status see one picture
    sandbox.fault("pause-controller", on=True, controller="kubelet")
    try:
        r, reqs = requests_made(sandbox, lambda: run_cli(["list", "-n", ns, "-o", "json"], kubeconfig=demo))
        sick_by_status = state_of(demo, "sick", "-n", ns)["state"]
    finally:
        sandbox.fault("pause-controller", on=False, controller="kubelet")
    assert r.exit_code == 0, r.stderr
    items = {i["name"]: i for i in json.loads(r.stdout)["items"]}
    assert items["sick"]["source"] == "pods" and items["calm"]["source"] == "lws-status"
    assert items["sick"]["state"] == sick_by_status != "Healthy"
    paths = [(p, q) for _, p, q in reqs]
    assert paths[1][0] == f"/api/v1/namespaces/{ns}/pods"  # the sick one's pods only, by name
    assert "leaderworkerset.sigs.k8s.io/name in (sick)" in unquote_plus(paths[1][1])
    sandbox.fault("stop-crash", pod=f"{ns}/sick-1-1")


def test_list_all_namespaces_json_and_name(sandbox, demo):
    r, reqs = requests_made(sandbox, lambda: run_cli(["list", "-A", "-o", "json"], kubeconfig=demo))
    assert r.exit_code == 0, r.stderr
    kinds = [p.rsplit("/", 1)[-1] for _, p, _ in reqs]
    assert reqs[0][1] == f"{LWS_API}/leaderworkersets"
    # pods of the LWS not settled (by name, per namespace), their nodes, the events of their namespaces
    assert kinds[1:] == sorted(kinds[1:], key=["pods", "nodes", "events"].index) and "nodes" in kinds
    assert all("leaderworkerset.sigs.k8s.io/name" in unquote_plus(q) for _, p, q in reqs if p.endswith("/pods"))
    items = {(i["namespace"], i["name"]): i for i in json.loads(r.stdout)["items"]}
    assert items[("default", "pinned")]["state"] == "Degraded"
    assert items[("demo", "canary")]["groups"] == {"desired": 3, "ready": 3, "updated": 1, "current": 3,
                                                   "surge": 0}
    r = run_cli(["list", "-o", "name"], kubeconfig=demo)
    assert "leaderworkerset.leaderworkerset.x-k8s.io/healthy" in r.stdout.splitlines()
    r = run_cli(["list", "-A"], kubeconfig=demo)
    assert r.stdout.splitlines()[0].split()[0] == "NAMESPACE"


def test_list_empty_namespace(demo):
    r = run_cli(["list", "-n", "nothing-here"], kubeconfig=demo)
    assert (r.exit_code, r.stdout) == (0, "")
    assert r.stderr.strip() == "No resources found in nothing-here namespace."


# ---- status ----------------------------------------------------------------------------------------

def test_status_healthy_table_and_request_budget(sandbox, demo):
    r, reqs = requests_made(sandbox, lambda: run_cli(["status", "healthy", "--exit-code"], kubeconfig=demo))
    assert r.exit_code == 0, r.stderr
    assert "State:" in r.stdout and "Healthy: 3/3 groups ready" in r.stdout
    lines = r.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("GROUP"))
    # leaders minutes old: a re-creation loop is possible, so events are read (RECREATED column)
    assert lines[head].split() == ["GROUP", "READY", "REVISION", "LEADER", "NODES", "RESTARTS", "RECREATED", "AGE",
                                   "STATE"]
    assert [line.split()[0] for line in lines[head + 1:head + 4]] == ["0", "1", "2"]
    assert all("Ready" in line for line in lines[head + 1:head + 4])
    assert [(m, p) for m, p, _ in reqs] == [("GET", f"{LWS_API}/namespaces/demo/leaderworkersets/healthy"),
                                            ("GET", "/api/v1/namespaces/demo/pods"),
                                            ("GET", "/api/v1/nodes"),
                                            ("GET", "/api/v1/namespaces/demo/events")]
    # the nodes its pods run on, not the cluster's
    assert unquote_plus(reqs[2][2]).startswith("labelSelector=kubernetes.io/hostname in (gpu-")
    _, reqs = requests_made(sandbox, lambda: run_cli(["status", "healthy", "--no-placement", "--no-events"],
                                                     kubeconfig=demo))
    assert len(reqs) == 2


def test_status_crash_loop_is_degraded_and_exit_code(demo):
    # The scenario settles before the worker's first crash; between crashes the kubelet restarts it
    # and it is Ready for a moment. Wait for the loop to show (a status fast enough once saw that moment).
    wait_for(lambda: state_of(demo, "crashy")["groups"][1]["state"] == "Degraded", timeout=30)
    r = run_cli(["status", "crashy", "--exit-code"], kubeconfig=demo)
    assert r.exit_code == 3
    assert "Degraded: w2 CrashLoopBackOff" in r.stdout
    doc = state_of(demo, "crashy")
    g1 = doc["groups"][1]
    assert g1["state"] == "Degraded" and g1["restarts"] >= 1
    w2 = next(p for p in g1["pods"] if p["workerIndex"] == 2)
    assert w2["ready"] is False and w2["name"] == "crashy-1-2"
    r = run_cli(["status", "crashy", "--exit-code", "-g", "0"], kubeconfig=demo)
    assert r.exit_code == 0


def test_status_canary_marks_stable_and_canary(demo):
    doc = state_of(demo, "canary")
    assert doc["state"] == "Canary" and doc["partition"] == 2
    assert [g["revisionRole"] for g in doc["groups"]] == ["stable", "stable", "canary"]
    assert doc["images"]["current"]["worker"] == ["ghcr.io/example/inference:1.1"]
    assert doc["images"]["stable"]["worker"] == ["ghcr.io/example/inference:1.0"]
    r = run_cli(["status", "canary"], kubeconfig=demo)
    assert "inference:1.0 (stable) -> ghcr.io/example/inference:1.1 (canary)" in r.stdout
    assert " stable " in r.stdout and " canary " in r.stdout


def test_status_pods_tree(demo):
    r = run_cli(["status", "healthy", "--pods", "-g", "1"], kubeconfig=demo)
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("GROUP/POD"))
    body = lines[head + 1:]
    assert body[0].startswith("group 1")
    assert [b.split()[1] for b in body[1:5]] == ["healthy-1", "healthy-1-1", "healthy-1-2", "healthy-1-3"]
    assert body[1].startswith("├─") and body[4].startswith("└─")
    assert "group 0" not in r.stdout


def test_status_unschedulable_exclusive_group(demo):
    doc = state_of(demo, "pinned", "-n", "default")
    g2 = doc["groups"][2]
    assert g2["state"] == "Pending" and g2["reason"].startswith("leader unschedulable (0/8 nodes:")
    assert doc["groups"][0]["domains"]["example.com/rack"] == ["rack-1"]
    assert doc["groups"][1]["domains"]["example.com/rack"] == ["rack-2"]
    assert doc["topology"]["keys"][-1] == "example.com/rack"
    assert [(v["group"], v["key"]) for v in doc["topology"]["violations"]] == [(2, "example.com/rack")]
    r = run_cli(["status", "pinned", "-n", "default"], kubeconfig=demo)
    assert "RACK" in r.stdout.split("\n\n")[1].splitlines()[0]
    assert "Placement violations:" in r.stdout and "pinned-2 cannot be placed" in r.stdout


def test_status_bad_input(demo):
    r = run_cli(["status"], kubeconfig=demo)
    assert r.exit_code == 2 and "NAME is required" in r.stderr
    r = run_cli(["status", "helthy"], kubeconfig=demo)
    assert r.exit_code == 1
    assert 'leaderworkerset "helthy" not found' in r.stderr and '"healthy"' in r.stderr
    assert "kubectl lws list" in r.stderr
    r = run_cli(["status", "healthy", "-g", "5"], kubeconfig=demo)
    assert r.exit_code == 2 and "group 5 does not exist: healthy has groups 0-2" in r.stderr


def test_status_topology_key_and_yaml(demo):
    r = run_cli(["status", "healthy", "--topology-key", "cloud.google.com/gke-nodepool", "-o", "yaml"],
                kubeconfig=demo)
    assert r.exit_code == 0
    import yaml

    doc = yaml.safe_load(r.stdout)
    assert "cloud.google.com/gke-nodepool" in doc["topology"]["keys"]
    assert all(set(g["domains"]["cloud.google.com/gke-nodepool"]) <= {"pool-a", "pool-b"} for g in doc["groups"])


# ---- changes (own LWS objects) --------------------------------------------------------------------

def test_node_not_ready(sandbox, demo):
    sandbox.ensure_namespace("st-node")
    http(sandbox, "POST", f"{LWS_API}/namespaces/st-node/leaderworkersets", small_lws("nn", "st-node", 1, 2))
    sandbox.wait_settled(30)
    doc = wait_for(lambda: (d := state_of(demo, "nn", "-n", "st-node"))["state"] == "Healthy" and d)
    node = doc["groups"][0]["pods"][0]["node"]
    sandbox.fault("node-not-ready", node=node)
    try:
        doc = state_of(demo, "nn", "-n", "st-node")
        assert doc["groups"][0]["state"] == "NodeNotReady"
        assert doc["groups"][0]["reason"].startswith(node)
        assert any(f"NotReady node {node}" in v["message"] for v in doc["topology"]["violations"])
        r = run_cli(["status", "nn", "-n", "st-node", "--exit-code"], kubeconfig=demo)
        assert r.exit_code == 3 and f"NodeNotReady: {node}" in r.stdout
    finally:
        sandbox.fault("node-not-ready", node=node, on=False)


def test_rollout_in_progress(sandbox, demo):
    sandbox.ensure_namespace("st-roll")
    http(sandbox, "POST", f"{LWS_API}/namespaces/st-roll/leaderworkersets", small_lws("roll", "st-roll", 3, 2))
    sandbox.wait_settled(30)
    sandbox.fault("slow-controller", factor=40)
    try:
        patch = {"spec": {"leaderWorkerTemplate": {"workerTemplate": {"spec": {"containers": [
            {"name": "main", "image": "ghcr.io/example/app:2", "resources": {"requests": {"cpu": "100m"}}}]}}}}}
        http(sandbox, "PATCH", f"{LWS_API}/namespaces/st-roll/leaderworkersets/roll", patch,
             "application/merge-patch+json")
        doc = wait_for(lambda: (d := state_of(demo, "roll", "-n", "st-roll"))["state"] == "Progressing" and d)
        assert doc["reason"].startswith("rolling out")
    finally:
        sandbox.fault("slow-controller", factor=1)
    doc = wait_for(lambda: (d := state_of(demo, "roll", "-n", "st-roll"))["state"] == "Healthy" and d, 30)
    assert doc["images"]["current"]["worker"] == ["ghcr.io/example/app:2"]
    assert all(g["updated"] for g in doc["groups"])


def test_watch_sees_group_recreated(sandbox, demo):
    sandbox.ensure_namespace("st-watch")
    http(sandbox, "POST", f"{LWS_API}/namespaces/st-watch/leaderworkersets", small_lws("wl", "st-watch", 2, 2))
    sandbox.wait_settled(30)
    wait_for(lambda: state_of(demo, "wl", "-n", "st-watch")["state"] == "Healthy")

    def delete_leader() -> None:
        # only once the watch has listed everything (its LISTs are in the request log)
        wanted = {"/api/v1/namespaces/st-watch/pods", f"{LWS_API}/namespaces/st-watch/leaderworkersets",
                  "/api/v1/nodes"}
        wait_for(lambda: wanted <= {p for _, p, *_ in list(sandbox.request_log.entries)}, 15, 0.05)
        time.sleep(0.5)
        http(sandbox, "DELETE", "/api/v1/namespaces/st-watch/pods/wl-1")

    sandbox.request_log.clear()
    t = threading.Thread(target=delete_leader)
    t.start()
    r = run_cli(["status", "wl", "-n", "st-watch", "-w", "--timeout", "6s"], kubeconfig=demo)
    t.join()
    assert r.exit_code == 0, r.stderr
    changes = [line for line in r.stdout.splitlines() if "  wl  group 1" in line]
    assert changes, r.stdout
    assert any("Recreating" in line for line in changes)
    assert sum("(re-created: new leader pod)" in line for line in changes) == 1, changes
    assert "Ready" in changes[-1]
    # streams, not polling: the GET, then one LIST per stream (LWS, pods, events, nodes), nothing
    # repeated; the watches themselves are logged by the sandbox only when they end.
    plain = [(m, p) for m, p, q, *_ in sandbox.request_log.entries if "watch=true" not in q and m == "GET"]
    assert sorted(plain) == sorted([("GET", f"{LWS_API}/namespaces/st-watch/leaderworkersets/wl"),
                                    ("GET", f"{LWS_API}/namespaces/st-watch/leaderworkersets"),
                                    ("GET", "/api/v1/namespaces/st-watch/pods"),
                                    ("GET", "/api/v1/namespaces/st-watch/events"),
                                    ("GET", "/api/v1/nodes")])


def test_watch_json_lines(sandbox, demo):
    r = run_cli(["status", "healthy", "-w", "--timeout", "1s", "-o", "json"], kubeconfig=demo)
    assert r.exit_code == 0, r.stderr
    docs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert docs and all(d["kind"] == "LeaderWorkerSetStatus" for d in docs)


def test_nodes_forbidden_degrades_to_node_names(sandbox, demo, tmp_path):
    """Namespace users often cannot list nodes: status still works, says so once, exit 0."""
    sandbox.add_token("st-viewer", "viewer", [
        {"verbs": ["get", "list", "watch"], "resources": ["leaderworkersets", "pods"]}])
    kc = sandbox.write_kubeconfig(tmp_path / "viewer", namespace="demo", token="st-viewer")
    r = run_cli(["status", "healthy"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    assert "cannot list nodes (forbidden)" in r.stderr
    assert "Healthy" in r.stdout and "NODES" in r.stdout
    doc = json.loads(run_cli(["status", "healthy", "-o", "json"], kubeconfig=kc).stdout)
    assert doc["groups"][0]["domains"]["topology.kubernetes.io/zone"] == []
    assert doc["groups"][0]["domains"]["kubernetes.io/hostname"]


def test_watch_rejects_unknown_group(demo):
    r = run_cli(["status", "healthy", "-w", "-g", "9", "--timeout", "5s"], kubeconfig=demo)
    assert r.exit_code == 2 and "group 9 does not exist" in r.stderr


def test_color_always_survives_a_pipe_and_never_by_default(demo):
    """--color always must colour even off a TTY (click.echo strips ANSI there unless told)."""
    for args in (["list"], ["status", "crashy"]):
        r = run_cli([*args, "--color", "always"], kubeconfig=demo)
        assert r.exit_code == 0, r.stderr
        assert "\x1b[" in r.stdout, args
        plain = run_cli(args, kubeconfig=demo)
        assert "\x1b[" not in plain.stdout, args


def test_watch_yaml_is_yaml_documents(demo):
    import yaml

    r = run_cli(["status", "healthy", "-w", "--timeout", "1s", "-o", "yaml"], kubeconfig=demo)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("---\n")
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert docs and all(d["kind"] == "LeaderWorkerSetStatus" for d in docs)
    assert docs[0]["name"] == "healthy" and docs[0]["groups"]


def test_timeout_without_watch_is_a_usage_error(demo):
    r = run_cli(["status", "healthy", "--timeout", "5s"], kubeconfig=demo)
    assert r.exit_code == 2 and "--timeout only applies with --watch" in r.stderr
    assert r.stdout == ""


def test_server_flag_wins_over_the_kubeconfig(sandbox, demo, tmp_path):
    """-s/--server must beat the kubeconfig's server even though the kubeconfig's token hook
    re-copies the kubeconfig's host before every request (kubernetes client behaviour)."""
    import yaml

    conf = yaml.safe_load(open(demo))
    conf["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:1"
    bad = tmp_path / "kubeconfig-bad-server.yaml"
    bad.write_text(yaml.safe_dump(conf))
    assert run_cli(["list", "--request-timeout", "2s"], kubeconfig=str(bad)).exit_code == 1
    r = run_cli(["list", "--server", sandbox.url], kubeconfig=str(bad))
    assert r.exit_code == 0, r.stderr
    assert "healthy" in r.stdout


def test_watch_without_node_access_warns_once_and_keeps_watching(sandbox, demo, tmp_path):
    sandbox.add_token("st-viewer-w", "viewer-w", [
        {"verbs": ["get", "list", "watch"], "resources": ["leaderworkersets", "pods"]}])
    kc = sandbox.write_kubeconfig(tmp_path / "viewer-w", namespace="demo", token="st-viewer-w")
    r = run_cli(["status", "healthy", "-w", "--timeout", "1s"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("cannot list nodes (forbidden)") == 1
    assert "Healthy" in r.stdout and "NODES" in r.stdout


def test_status_reads_the_nodes_of_its_pods_and_tells_a_gone_one(tmp_path):
    """The node LIST is selected by the pods' hostnames (its cost does not grow with the cluster); a
    node it does not find is looked for in one full LIST before it is called gone."""
    from conftest import load_golden_objects, start_sandbox
    from golden import golden_nodes

    sb = start_sandbox(plugins=())  # nothing moves
    try:
        load_golden_objects(sb, ("basic",))
        nodes = {n["metadata"]["name"]: n for n in golden_nodes()}
        for name, node in nodes.items():
            if name != "gpu-c1":
                sb.create("nodes", node)
        kc = sb.write_kubeconfig(tmp_path / "kc.yaml", namespace="golden")
        r, reqs = requests_made(sb, lambda: run_cli(["status", "basic", "-o", "json"], kubeconfig=kc))
        assert r.exit_code == 0, r.stderr
        node_reads = [unquote_plus(q) for _, p, q in reqs if p == "/api/v1/nodes"]
        assert node_reads[0].startswith("labelSelector=kubernetes.io/hostname in (gpu-c1,kwok-node-0)")
        assert len(node_reads) == 2 and "labelSelector" not in node_reads[1]  # then every node, once
        group = next(g for g in json.loads(r.stdout)["groups"] if any(p["node"] == "gpu-c1" for p in g["pods"]))
        assert group["state"] == "NodeNotReady" and group["reason"] == "gpu-c1 (node gone)"
        sb.create("nodes", nodes["gpu-c1"])
        r, reqs = requests_made(sb, lambda: run_cli(["status", "basic", "-o", "json"], kubeconfig=kc))
        assert [p for _, p, _ in reqs].count("/api/v1/nodes") == 1
        assert json.loads(r.stdout)["state"] == "Healthy"
    finally:
        sb.stop()
